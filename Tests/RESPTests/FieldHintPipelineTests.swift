// Key and field hints through a connection (RESPConnection+KeyHints.swift): the same requests
// sent as one pipelined read (every request hinted with the next two's keys and fields) and one
// request per read (never hinted) to two servers answer byte for byte the same: hash, set and
// sorted-set writes and reads on one key while its field index grows and shrinks, keys deleted
// and retyped between the peek and the command (WRONGTYPE), other commands between, and reads
// cut at any byte (a request cut at a read's end is peeked as nothing, parsed with the next).
import CacheEngine
import Platform
@testable import RESP
import TestSupport
import Testing

@Suite("RESP field hints")
struct FieldHintPipelineTests {
    private final class Server {
        let engine: CacheEngine
        let output = OutputBuffer()
        let handler: ConnectionHandler

        init() throws {
            var settings = EngineSettings()
            settings.memoryLimit = 64 * 1024 * 1024
            engine = try #require(CacheEngine(settings: settings, clock: ProcessClock(unixNow: 1_700_000_000)))
            let service = RESPService(engine: engine, settings: RESPSettings(), workers: 1)
            handler = service.makeHandler(workerIndex: 0, fd: 99, output: output, waker: ConnectionWaker {})
        }

        /// `bytes` fed as reads of the whole rest (a yield leaves a rest for the next read);
        /// the replies and what a cut request left unread.
        func run(_ bytes: [UInt8]) -> (reply: [UInt8], rest: [UInt8]) {
            var rest = bytes[...]
            var reply: [UInt8] = []
            while !rest.isEmpty {
                let (consumed, action) = Array(rest).withUnsafeBytes { handler.process($0, output: output) }
                reply += drainBytes(output)
                if consumed == 0 || action == .close || action == .closeNow { break }
                rest = rest.dropFirst(consumed)
            }
            return (reply, Array(rest))
        }

        func reply(_ bytes: [UInt8]) -> [UInt8] { run(bytes).reply }

        func close() {
            handler.connectionClosed()
            output.reset()
        }
    }

    @Test("pipelined (hinted) and one by one (unhinted): the same replies, across index growth, shrink and retyped keys")
    func sameReplies() throws {
        let hinted = try Server()
        let plain = try Server()
        defer { hinted.close(); plain.close() }
        var rng = SplitMix64(seed: 0x5eed)
        func field(_ i: Int) -> String { "element:\(i)" + (i % 11 == 0 ? String(repeating: "y", count: 80) : "") }
        var requests: [[String]] = []
        // Grow each key to 3,000 fields, then delete most (the index halves), with other
        // commands and retyped keys among them.
        for phase in 0..<2 {
            for _ in 0..<(phase == 0 ? 9000 : 12_000) {
                let f = field(Int.random(in: 0..<3000, using: &rng))
                let remove = phase == 1 && Int.random(in: 0..<10, using: &rng) < 8
                let r = Int.random(in: 0..<200, using: &rng)
                switch r {
                case 0: requests.append(["DEL", ["myhash", "myset", "myzset"][Int.random(in: 0..<3, using: &rng)]])
                case 1: requests.append(["SET", ["myhash", "myset", "myzset"][Int.random(in: 0..<3, using: &rng)], "now a string"])
                case 2: requests.append(["GET", "myhash"])
                case 3: requests.append(["HLEN", "myhash"])
                case 4: requests.append(["ZADD", "myzset", "NX", "7", f])
                case 5: requests.append(["HMGET", "myhash", f, field(1)])
                default:
                    switch r % 3 {
                    case 0:
                        if remove { requests.append(["HDEL", "myhash", f]) }
                        else if r % 2 == 0 { requests.append(["HSET", "myhash", f, "v\(r)"]) }
                        else { requests.append([["HGET", "HEXISTS", "HSTRLEN"][r % 9 / 3], "myhash", f]) }
                    case 1:
                        if remove { requests.append(["SREM", "myset", f]) }
                        else if r % 2 == 0 { requests.append(["SADD", "myset", f]) }
                        else { requests.append(["SISMEMBER", "myset", f]) }
                    default:
                        if remove { requests.append(["ZREM", "myzset", f]) }
                        else if r % 2 == 0 { requests.append(["ZADD", "myzset", "\(Int.random(in: 0..<100, using: &rng))", f]) }
                        else if r % 5 == 0 { requests.append(["ZINCRBY", "myzset", "1", f]) }
                        else { requests.append([["ZSCORE", "ZRANK"][r % 2], "myzset", f]) }
                    }
                }
            }
        }
        // One request a read to one server; to the other, the whole stream in reads cut at
        // random bytes (a read holds up to about 40 requests; a cut request waits for the next).
        var expected: [UInt8] = []
        var stream: [UInt8] = []
        for r in requests {
            let bytes = multibulk(r)
            stream += bytes
            expected += plain.reply(bytes)
        }
        var got: [UInt8] = []
        var at = 0
        var unread: [UInt8] = []
        while at < stream.count {
            let n = min(Int.random(in: 1...1200, using: &rng), stream.count - at)
            let (reply, rest) = hinted.run(unread + stream[at..<at + n])
            got += reply
            unread = rest
            at += n
        }
        #expect(unread.isEmpty)
        #expect(got.count == expected.count)
        #expect(got == expected)
        for key in ["myhash", "myset", "myzset"] {
            #expect(hinted.reply(multibulk(["TYPE", key])) == plain.reply(multibulk(["TYPE", key])))
        }
        #expect(hinted.reply(multibulk(["HGETALL", "myhash"])) == plain.reply(multibulk(["HGETALL", "myhash"])))
        let range = multibulk(["ZRANGE", "myzset", "0", "-1", "WITHSCORES"])
        #expect(hinted.reply(range) == plain.reply(range))
    }
}
