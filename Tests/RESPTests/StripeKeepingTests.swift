// A read's pipelined requests on one key keep its item-lock stripe from one to the next
// (RESPConnection.process, CStripeLock): the stripe is given back when the read's requests are
// done, and two workers driving pipelines on one key, with MULTI/EXEC (the command gate) and
// other keys in between, neither deadlock nor lose an update.
import CacheEngine
import Platform
@testable import RESP
import Synchronization
import TestSupport
import Testing

@Suite("RESP stripe keeping")
struct StripeKeepingTests {
    private static func engine() throws -> CacheEngine {
        var s = EngineSettings()
        s.hashPowerInit = 12
        s.memoryLimit = 32 * 1024 * 1024
        return try #require(CacheEngine(settings: s, clock: ProcessClock(unixNow: 1_700_000_000)))
    }

    private static func request(_ commands: [[String]]) -> [UInt8] {
        var bytes: [UInt8] = []
        for words in commands {
            bytes += Array("*\(words.count)\r\n".utf8)
            for w in words { bytes += Array("$\(w.utf8.count)\r\n\(w)\r\n".utf8) }
        }
        return bytes
    }

    @Test("the one-key hash, set and sorted-set commands keep; blocking, multi-key, stream, string and transaction commands do not")
    func whichCommandsKeep() throws {
        let service = RESPService(engine: try Self.engine(), settings: RESPSettings(), workers: 1)
        func keeps(_ name: String) -> Bool? {
            Array(name.utf8).withUnsafeBytes { service.table.find($0)?.keepsStripe }
        }
        for name in ["hset", "HINCRBY", "sadd", "spop", "zadd", "ZINCRBY", "zpopmin", "zscore"] {
            #expect(keeps(name) == true, "\(name)")
        }
        for name in ["set", "get", "incr", "lpush", "bzpopmin", "blpop", "xadd", "xrange", "zunionstore", "smove",
                     "exec", "multi", "del", "publish"] {
            #expect(keeps(name) == false, "\(name)")
        }
    }

    @Test("after a read of pipelined ZADDs another thread takes the key at once", .hangGuard)
    func givenBackAfterTheRead() throws {
        let e = try Self.engine()
        let service = RESPService(engine: e, settings: RESPSettings(), workers: 2)
        let output = OutputBuffer()
        let h = service.makeHandler(workerIndex: 0, fd: -1, output: output, waker: ConnectionWaker {})
        defer { h.connectionClosed() }
        let bytes = Self.request((0..<16).map { ["ZADD", "z", "\($0)", "m\($0 % 5)"] } + [["ZCARD", "z"]])
        let (consumed, _) = bytes.withUnsafeBytes { h.process($0, output: output) }
        #expect(consumed == bytes.count)
        #expect(drainText(output).hasSuffix(":5\r\n"))
        // Another thread's write on the key (its stripe) must not wait for this thread.
        let key = Array("z".utf8)
        let t = BackgroundThread(name: "other") {
            key.withUnsafeBytes { k in
                _ = e.zsetAdd(k, hash: CacheEngine.hash(k), database: 0, flags: [], count: 1,
                              element: { _ in (99, UnsafeRawBufferPointer(start: k.baseAddress, count: 1)) }, result: { _, _ in })
            }
        }
        t.join()
        #expect(sendRESP(h, output, ["ZSCORE", "z", "z"]) == "$2\r\n99\r\n")
    }

    /// Connections made on the test's thread and handed to worker threads, each used by one
    /// thread at a time (its worker's, then the test's after the join): safe to share so.
    final class Connections: @unchecked Sendable {
        let items: [(OutputBuffer, ConnectionHandler)]
        init(_ items: [(OutputBuffer, ConnectionHandler)]) { self.items = items }
    }

    @Test("two workers pipelining ZINCRBY on one key, with EXEC and other keys between, count every increment", .hangGuard)
    func twoWorkersOneKey() throws {
        let e = try Self.engine()
        let service = RESPService(engine: e, settings: RESPSettings(), workers: 2)
        let rounds = 400
        // The connections are made and closed on this thread (the workers only run commands).
        let connections = Connections((0..<2).map { w in
            let output = OutputBuffer()
            return (output, service.makeHandler(workerIndex: w, fd: -1, output: output, waker: ConnectionWaker {}))
        })
        let threads = (0..<2).map { w in
            BackgroundThread(name: "worker \(w)") {
                let (output, h) = connections.items[w]
                for r in 0..<rounds {
                    var commands: [[String]] = (0..<12).map { i in ["ZINCRBY", "z", "1", "m\((r + i) % 7)"] }
                    // A non-keeping command, another key's keeper, and a transaction in the same read.
                    commands.insert(["SET", "s\(w)", "\(r)"], at: 3)
                    commands.insert(["HSET", "h\(r % 5)", "f\(w)", "\(r)"], at: 6)
                    if r % 4 == 0 { commands += [["MULTI"], ["ZINCRBY", "z", "1", "tx"], ["HINCRBY", "hx", "n", "1"], ["EXEC"]] }
                    commands.append(["ZSCORE", "z", "m0"])
                    let bytes = Self.request(commands)
                    _ = bytes.withUnsafeBytes { h.process($0, output: output) }
                    _ = drainText(output)
                }
            }
        }
        for t in threads { t.join() }
        for (_, h) in connections.items { h.connectionClosed() }
        let output = OutputBuffer()
        let h = service.makeHandler(workerIndex: 2, fd: -1, output: output, waker: ConnectionWaker {})
        defer { h.connectionClosed() }
        var total = 0.0
        for m in 0..<7 {
            let reply = sendRESP(h, output, ["ZSCORE", "z", "m\(m)"])
            total += Double(reply.split(separator: "\r\n").last.map(String.init) ?? "") ?? -1e9
        }
        #expect(total == Double(2 * rounds * 12))
        #expect(sendRESP(h, output, ["ZSCORE", "z", "tx"]) == "$3\r\n200\r\n")
        #expect(sendRESP(h, output, ["HGET", "hx", "n"]) == "$3\r\n200\r\n")
    }
}
