// CONFIG's value and pattern rules as redis 7.0 reads them: memtoll's units, stringmatchlen's
// globs (case-insensitive for CONFIG GET), and INFO's human-readable byte counts.
import CacheEngine
import Platform
@testable import RESP
import Testing

@Suite("RESP CONFIG values and patterns")
struct RESPConfigTests {
    @Test func memoryValuesWithRedisUnits() {
        #expect(memoryValue(Array("100".utf8)) == 100)
        #expect(memoryValue(Array("1k".utf8)) == 1000)
        #expect(memoryValue(Array("1KB".utf8)) == 1024)
        #expect(memoryValue(Array("2mb".utf8)) == 2 << 20)
        #expect(memoryValue(Array("3M".utf8)) == 3_000_000)
        #expect(memoryValue(Array("1gb".utf8)) == 1 << 30)
        #expect(memoryValue(Array("5b".utf8)) == 5)
        for bad in ["", "abc", "1xb", "-1", "1.5mb", "99999999999999999999", "9223372036854775807gb"] {
            #expect(memoryValue(Array(bad.utf8)) == nil, "\(bad)")
        }
    }

    @Test func globsAsStringmatchlen() {
        func m(_ p: String, _ t: String) -> Bool {
            Array(p.utf8).withUnsafeBytes { pb in Array(t.utf8).withUnsafeBytes { globMatches(pb, $0) } }
        }
        #expect(m("*", "maxmemory"))
        #expect(m("max*", "maxmemory-policy"))
        #expect(m("*policy", "maxmemory-policy"))
        #expect(!m("max*", "timeout"))
        #expect(m("MAXMEMORY", "maxmemory"))
        #expect(m("max?emory", "maxmemory"))
        #expect(!m("max?emory", "maxmmemory"))
        #expect(m("zset-max-l[a-i]stpack-*", "zset-max-listpack-value"))
        #expect(!m("zset-max-l[^i]stpack-*", "zset-max-listpack-value"))
        #expect(m("a\\*b", "a*b"))
        #expect(!m("a\\*b", "axb"))
        #expect(m("**x", "x"))
        #expect(!m("", "x"))
        #expect(m("", ""))
    }

    @Test func humanByteCounts() {
        #expect(humanBytes(0) == "0B")
        #expect(humanBytes(1023) == "1023B")
        #expect(humanBytes(1024) == "1.00K")
        #expect(humanBytes(64 << 20) == "64.00M")
        #expect(humanBytes(3 << 30 + 512 << 20) == "3.50G")
    }

    @Test("CONFIG SET maxmemory-policy sets the whole cache's policy (both ports); unknown policies refused in redis's words")
    func maxmemoryPolicy() throws {
        var settings = EngineSettings()
        settings.hashPowerInit = 12
        settings.memoryLimit = 16 * 1024 * 1024
        let engine = try #require(CacheEngine(settings: settings, clock: ProcessClock(unixNow: 1_700_000_000)))
        let service = RESPService(engine: engine, settings: RESPSettings(), workers: 1)
        let output = OutputBuffer()
        let c = service.makeHandler(workerIndex: 0, fd: -1, output: output, waker: ConnectionWaker {})
        defer { c.connectionClosed(); output.reset() }
        func send(_ words: String...) -> String {
            _ = multibulk(words).withUnsafeBytes { c.process($0, output: output) }
            var reply: [UInt8] = []
            output.drain { reply.append(contentsOf: $0) }
            return String(decoding: reply, as: UTF8.self)
        }
        #expect(send("CONFIG", "GET", "maxmemory-policy") == "*2\r\n$16\r\nmaxmemory-policy\r\n$11\r\nallkeys-lru\r\n")
        #expect(send("CONFIG", "SET", "maxmemory-policy", "NOEVICTION") == "+OK\r\n")
        #expect(!engine.tuning.evictsToFree)
        #expect(send("CONFIG", "GET", "maxmemory-policy") == "*2\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n")
        #expect(send("INFO", "memory").contains("maxmemory_policy:noeviction\r\n"))
        #expect(send("CONFIG", "SET", "maxmemory-policy", "allkeys-mru") == "-ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction\r\n")
        #expect(!engine.tuning.evictsToFree)
        #expect(send("CONFIG", "SET", "maxmemory-policy", "volatile-ttl") == "+OK\r\n")
        #expect(engine.tuning.policy == .volatileTTL)
        #expect(send("INFO", "memory").contains("maxmemory_policy:volatile-ttl\r\n"))
        #expect(send("CONFIG", "SET", "maxmemory-policy", "allkeys-lru") == "+OK\r\n")
        #expect(engine.tuning.policy == .segmentedLRU)
        #expect(send("CONFIG", "SET", "maxmemory-samples", "9") == "+OK\r\n")
        #expect(engine.tuning.samples == 9)
        #expect(send("CONFIG", "SET", "lfu-log-factor", "3") == "+OK\r\n" && engine.tuning.lfuLogFactor == 3)
        #expect(send("CONFIG", "SET", "lfu-decay-time", "0") == "+OK\r\n" && engine.tuning.lfuDecayMinutes == 0)
    }
}
