// MULTI/EXEC/DISCARD/WATCH on one in-process connection, replies compared with redis-server 7.0's
// (taken from a running 7.0.15), and the command gate's exclusion between threads.
import Broker
import CacheEngine
import Platform
@testable import RESP
import Synchronization
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("RESP transactions")
struct TransactionTests {
    /// One connection on a fresh engine; `send` runs requests and returns the reply bytes.
    final class Client {
        let engine: CacheEngine
        let service: RESPService
        let output = OutputBuffer()
        let handler: ConnectionHandler

        /// `streams`: the streams' store (nil: the service's own, a share of half the engine's -m).
        init(settings: RESPSettings = RESPSettings(), engine: CacheEngine? = nil, streams: StreamStore? = nil) throws {
            var s = EngineSettings()
            s.hashPowerInit = 12
            s.memoryLimit = 16 * 1024 * 1024
            let e: CacheEngine
            if let engine { e = engine } else { e = try #require(CacheEngine(settings: s, clock: ProcessClock(unixNow: 1_700_000_000))) }
            self.engine = e
            service = RESPService(engine: e, settings: settings, workers: 1, streams: streams)
            handler = service.makeHandler(workerIndex: 0, fd: -1, output: output, waker: ConnectionWaker {})
        }

        /// Another connection on the same service (same worker slot).
        func peer() -> ConnectionHandler {
            service.makeHandler(workerIndex: 0, fd: -1, output: output, waker: ConnectionWaker {})
        }

        deinit {
            handler.connectionClosed()
            output.reset()
        }

        @discardableResult
        func send(_ commands: [String]..., on h: ConnectionHandler? = nil) -> String {
            var bytes: [UInt8] = []
            for words in commands {
                bytes += Array("*\(words.count)\r\n".utf8)
                for w in words { bytes += Array("$\(w.utf8.count)\r\n\(w)\r\n".utf8) }
            }
            let (consumed, _) = bytes.withUnsafeBytes { (h ?? handler).process($0, output: output) }
            #expect(consumed == bytes.count)
            return drain()
        }

        func drain() -> String { drainText(output) }

        func info(_ section: String) -> String { send(["INFO", section]) }
    }

    @Test("queued commands answer QUEUED; EXEC returns their replies, a runtime error as its element")
    func queueAndExec() throws {
        let c = try Client()
        #expect(c.send(["SET", "s", "abc"]) == "+OK\r\n")
        #expect(c.send(["MULTI"], ["SET", "k", "1"], ["INCR", "k"], ["INCR", "s"], ["GET", "k"], ["EXEC"])
            == "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*4\r\n+OK\r\n:2\r\n-ERR value is not an integer or out of range\r\n$1\r\n2\r\n")
        #expect(c.send(["MULTI"], ["EXEC"]) == "+OK\r\n*0\r\n")
        // Inline requests are queued as they came and parsed again by EXEC.
        let inline = Array("MULTI\r\nSET il 1\r\nGET il\r\nEXEC\r\n".utf8)
        _ = inline.withUnsafeBytes { c.handler.process($0, output: c.output) }
        #expect(c.drain() == "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n$1\r\n1\r\n")
        // Nothing ran before EXEC, and DISCARD drops the queue.
        #expect(c.send(["MULTI"], ["SET", "d", "1"], ["DISCARD"], ["GET", "d"], ["DISCARD"])
            == "+OK\r\n+QUEUED\r\n+OK\r\n$-1\r\n-ERR DISCARD without MULTI\r\n")
    }

    @Test("EXECABORT after a refused command; nested MULTI and WATCH inside MULTI do not fail the transaction")
    func errorsWhileQueueing() throws {
        let c = try Client()
        #expect(c.send(["MULTI"], ["FOO", "x"], ["SET", "k", "v"], ["EXEC"], ["EXEC"])
            == "+OK\r\n-ERR unknown command 'FOO', with args beginning with: 'x' \r\n+QUEUED\r\n-EXECABORT Transaction discarded because of previous errors.\r\n-ERR EXEC without MULTI\r\n")
        #expect(c.send(["EXISTS", "k"]) == ":0\r\n")
        #expect(c.send(["MULTI"], ["GET"], ["EXEC"])
            == "+OK\r\n-ERR wrong number of arguments for 'get' command\r\n-EXECABORT Transaction discarded because of previous errors.\r\n")
        #expect(c.send(["MULTI"], ["SAVE"], ["EXEC"])
            == "+OK\r\n-ERR Command not allowed inside a transaction\r\n-EXECABORT Transaction discarded because of previous errors.\r\n")
        #expect(c.send(["MULTI"], ["MULTI"], ["WATCH", "k"], ["PING"], ["EXEC"])
            == "+OK\r\n-ERR MULTI calls can not be nested\r\n-ERR WATCH inside MULTI is not allowed\r\n+QUEUED\r\n*1\r\n+PONG\r\n")
        #expect(c.send(["EXEC"], ["DISCARD"]) == "-ERR EXEC without MULTI\r\n-ERR DISCARD without MULTI\r\n")
        // EXEC refused by its arity discards the transaction with EXECABORT, in or out of MULTI.
        #expect(c.send(["MULTI"], ["EXEC", "x"], ["EXEC"])
            == "+OK\r\n-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n-ERR EXEC without MULTI\r\n")
        // QUIT is not queued; RESET ends the transaction.
        #expect(c.send(["MULTI"], ["SET", "q", "1"], ["RESET"], ["EXEC"]) == "+OK\r\n+QUEUED\r\n+RESET\r\n-ERR EXEC without MULTI\r\n")
    }

    @Test("WATCH: a change, a delete, an expiry change or a creation aborts EXEC (null array); UNWATCH, EXEC and DISCARD clear")
    func watch() throws {
        let c = try Client()
        #expect(c.send(["WATCH", "w"], ["SET", "w", "1"], ["MULTI"], ["GET", "w"], ["EXEC"])
            == "+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*-1\r\n")
        #expect(c.send(["WATCH", "w"], ["MULTI"], ["GET", "w"], ["EXEC"]) == "+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n$1\r\n1\r\n")
        #expect(c.send(["WATCH", "w"], ["SET", "w", "1"], ["UNWATCH"], ["MULTI"], ["GET", "w"], ["EXEC"])
            == "+OK\r\n+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n$1\r\n1\r\n")
        #expect(c.send(["WATCH", "w"], ["EXPIRE", "w", "100"], ["MULTI"], ["PING"], ["EXEC"]) == "+OK\r\n:1\r\n+OK\r\n+QUEUED\r\n*-1\r\n")
        // PERSIST of a key with an expiry changes it; of one without, nothing.
        #expect(c.send(["SET", "p", "1"], ["WATCH", "p"], ["PERSIST", "p"], ["MULTI"], ["PING"], ["EXEC"])
            == "+OK\r\n+OK\r\n:0\r\n+OK\r\n+QUEUED\r\n*1\r\n+PONG\r\n")
        #expect(c.send(["WATCH", "w"], ["DEL", "w"], ["MULTI"], ["PING"], ["EXEC"]) == "+OK\r\n:1\r\n+OK\r\n+QUEUED\r\n*-1\r\n")
        // Absent then still absent: no abort; absent then created by another client: abort.
        #expect(c.send(["WATCH", "w"], ["DEL", "w"], ["MULTI"], ["PING"], ["EXEC"]) == "+OK\r\n:0\r\n+OK\r\n+QUEUED\r\n*1\r\n+PONG\r\n")
        let other = c.peer()
        defer { other.connectionClosed() }
        #expect(c.send(["WATCH", "w", "x"], ["MULTI"], ["PING"]) == "+OK\r\n+OK\r\n+QUEUED\r\n")
        #expect(c.send(["SET", "w", "other"], on: other) == "+OK\r\n")
        #expect(c.send(["EXEC"]) == "*-1\r\n")
        // A failed SETNX changes nothing; a watched key DISCARD cleared cannot abort.
        #expect(c.send(["WATCH", "w"], ["SETNX", "w", "2"], ["MULTI"], ["PING"], ["EXEC"]) == "+OK\r\n:0\r\n+OK\r\n+QUEUED\r\n*1\r\n+PONG\r\n")
        #expect(c.send(["WATCH", "w"], ["MULTI"], ["DISCARD"], ["SET", "w", "3"], ["MULTI"], ["PING"], ["EXEC"])
            == "+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n+PONG\r\n")
        // RESP3: the aborted EXEC is a null.
        #expect(c.send(["HELLO", "3"]).hasPrefix("%7\r\n"))
        #expect(c.send(["WATCH", "w"], ["INCR", "w"], ["MULTI"], ["GET", "w"], ["EXEC"]) == "+OK\r\n:4\r\n+OK\r\n+QUEUED\r\n_\r\n")
        #expect(c.send(["MULTI"], ["GET", "none"], ["EXEC"]) == "+OK\r\n+QUEUED\r\n*1\r\n_\r\n")
    }

    @Test("a stream write renews its key's CAS unique only while some connection watches, and every way a watch ends uncounts it")
    func watchingClientsCount() throws {
        let c = try Client()
        let count = { c.service.watchingClients.load(ordering: .relaxed) }
        let cas = { Array("s".utf8).withUnsafeBytes { c.engine.inspect($0, hash: CacheEngine.hash($0), anyType: true)?.cas } }
        _ = c.send(["XADD", "s", "1-1", "a", "b"])
        let cas0 = try #require(cas())
        _ = c.send(["XADD", "s", "2-1", "a", "b"])
        // Nobody watches: the root keeps its unique.
        #expect(cas() == cas0)
        #expect(c.send(["WATCH", "s", "t"]) == "+OK\r\n")
        #expect(c.send(["WATCH", "u"]) == "+OK\r\n")
        #expect(count() == 1)
        let peer = c.peer()
        #expect(c.send(["WATCH", "s"], on: peer) == "+OK\r\n")
        #expect(count() == 2)
        _ = c.send(["XADD", "s", "3-1", "a", "b"], on: peer)
        #expect(cas() != cas0)
        #expect(c.send(["MULTI"], ["PING"], ["EXEC"]) == "+OK\r\n+QUEUED\r\n*-1\r\n")
        #expect(count() == 1)
        #expect(c.send(["UNWATCH"], on: peer) == "+OK\r\n")
        #expect(count() == 0)
        _ = c.send(["WATCH", "s"], ["MULTI"], ["DISCARD"])
        _ = c.send(["WATCH", "s"], on: peer)
        #expect(count() == 1)
        peer.connectionClosed()
        #expect(count() == 0)
        _ = c.send(["WATCH", "s"], ["RESET"])
        #expect(count() == 0)
    }

    @Test("WATCH and expiry as redis 7.0: a key stored with a TTL after WATCH and expired by EXEC aborts it (the store marked it); a key WATCH saw expired and nothing stored since does not")
    func watchExpiredStore() throws {
        var s = EngineSettings()
        s.hashPowerInit = 12
        s.memoryLimit = 16 * 1024 * 1024
        let clock = ProcessClock(unixNow: 1_700_000_000)
        let c = try Client(engine: try #require(CacheEngine(settings: s, clock: clock)))
        let other = c.peer()
        defer { other.connectionClosed() }
        clock.setMilliseconds((UInt64(clock.processStarted) + UInt64(clock.current)) * 1000 + 100)
        #expect(c.send(["WATCH", "k"]) == "+OK\r\n")
        #expect(c.send(["SET", "k", "v", "PX", "50"], on: other) == "+OK\r\n")
        clock.advanceMilliseconds(60)
        #expect(c.send(["MULTI"], ["GET", "k"], ["EXEC"]) == "+OK\r\n+QUEUED\r\n*-1\r\n")
        // Expired before WATCH and left so: EXEC runs (redis's watchedKey.expired).
        #expect(c.send(["SET", "j", "v", "PX", "50"]) == "+OK\r\n")
        clock.advanceMilliseconds(60)
        #expect(c.send(["WATCH", "j"], ["MULTI"], ["GET", "j"], ["EXEC"]) == "+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n$-1\r\n")
        // Expired before WATCH, stored and expired again since: aborted.
        #expect(c.send(["SET", "e", "v", "PX", "50"]) == "+OK\r\n")
        clock.advanceMilliseconds(60)
        #expect(c.send(["WATCH", "e"]) == "+OK\r\n")
        #expect(c.send(["SET", "e", "w", "PX", "50"], on: other) == "+OK\r\n")
        clock.advanceMilliseconds(60)
        #expect(c.send(["MULTI"], ["PING"], ["EXEC"]) == "+OK\r\n+QUEUED\r\n*-1\r\n")
        // Live at WATCH, expired by EXEC: aborted.
        #expect(c.send(["SET", "l", "v", "PX", "50"], ["WATCH", "l"]) == "+OK\r\n+OK\r\n")
        clock.advanceMilliseconds(60)
        #expect(c.send(["MULTI"], ["PING"], ["EXEC"]) == "+OK\r\n+QUEUED\r\n*-1\r\n")
    }

    @Test("before AUTH: MULTI and WATCH answer NOAUTH, EXEC answers EXECABORT with NOAUTH as its reason (redis 7.0)")
    func beforeAuth() throws {
        var settings = RESPSettings()
        settings.requirePassword = Array("pw".utf8)
        let c = try Client(settings: settings)
        #expect(c.send(["MULTI"], ["EXEC"], ["EXEC", "x"], ["DISCARD"], ["WATCH", "k"])
            == "-NOAUTH Authentication required.\r\n-EXECABORT Transaction discarded because of: NOAUTH Authentication required.\r\n"
            + "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n"
            + "-NOAUTH Authentication required.\r\n-NOAUTH Authentication required.\r\n")
        #expect(c.send(["AUTH", "pw"], ["MULTI"], ["GET", "k"], ["EXEC"]) == "+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n$-1\r\n")
    }

    @Test("bounds: a queue past its limit fails the transaction; WATCH past its key limit is refused; both counted")
    func bounds() throws {
        var settings = RESPSettings()
        settings.transactionQueueLimit = 100
        settings.watchedKeysLimit = 3
        let c = try Client(settings: settings)
        #expect(c.send(["MULTI"], ["SET", "a", String(repeating: "x", count: 60)]) == "+OK\r\n+QUEUED\r\n")
        #expect(c.send(["SET", "b", String(repeating: "y", count: 60)]) == "-ERR transaction queue past swiftcached's limit of 100 bytes\r\n")
        #expect(c.send(["PING"], ["EXEC"]) == "+QUEUED\r\n-EXECABORT Transaction discarded because of previous errors.\r\n")
        #expect(c.service.total(.transactionQueueRefusals) == 1)
        #expect(c.send(["WATCH", "a", "b"], ["WATCH", "a", "c"]) == "+OK\r\n+OK\r\n")
        #expect(c.send(["WATCH", "d", "e"]) == "-ERR too many watched keys (swiftcached's limit is 3)\r\n")
        #expect(c.service.total(.watchRefusals) == 1)
        #expect(c.info("stats").contains("resp_multi_queue_refusals:1\r\nresp_watch_refusals:1\r\n"))
    }

    @Test("commandstats count MULTI and EXEC, and queued commands when EXEC runs them, as redis 7.0")
    func commandStats() throws {
        let c = try Client()
        c.send(["MULTI"], ["SET", "k", "1"], ["FOO"], ["GET"], ["EXEC"],
               ["MULTI"], ["INCR", "k"], ["EXEC"], ["MULTI"], ["DISCARD"], ["WATCH", "k"], ["UNWATCH"], ["EXEC"],
               ["MULTI"], ["MULTI"], ["SET", "k", "x"], ["INCR", "k"], ["EXEC"])
        let stats = c.info("commandstats")
        func line(_ name: String) -> String? {
            stats.split(separator: "\r\n").first { $0.hasPrefix("cmdstat_\(name):") }.map(String.init)
        }
        func counts(_ name: String) -> String? {
            // calls, rejected_calls, failed_calls (usec varies).
            guard let l = line(name) else { return nil }
            let fields = l.split(separator: ",")
            return [fields[0], fields[3], fields[4]].joined(separator: ",")
        }
        #expect(counts("multi") == "cmdstat_multi:calls=5,rejected_calls=0,failed_calls=1")
        #expect(counts("exec") == "cmdstat_exec:calls=4,rejected_calls=0,failed_calls=2")
        #expect(counts("get") == "cmdstat_get:calls=0,rejected_calls=1,failed_calls=0")
        #expect(counts("set") == "cmdstat_set:calls=1,rejected_calls=0,failed_calls=0")
        #expect(counts("incr") == "cmdstat_incr:calls=2,rejected_calls=0,failed_calls=1")
        #expect(counts("discard") == "cmdstat_discard:calls=1,rejected_calls=0,failed_calls=0")
        #expect(counts("watch") == "cmdstat_watch:calls=1,rejected_calls=0,failed_calls=0")
        #expect(counts("unwatch") == "cmdstat_unwatch:calls=1,rejected_calls=0,failed_calls=0")
        #expect(c.info("errorstats") == "$66\r\n# Errorstats\r\nerrorstat_ERR:count=5\r\nerrorstat_EXECABORT:count=1\r\n\r\n")
    }

    @Test("a large MGET inside EXEC is written whole, not streamed")
    func mgetInExec() throws {
        let c = try Client()
        var mget = ["MGET"]
        for i in 0..<1500 { mget.append("m\(i)") }
        let reply = c.send(["MULTI"], mget, ["EXEC"])
        #expect(reply == "+OK\r\n+QUEUED\r\n*1\r\n*1500\r\n" + String(repeating: "$-1\r\n", count: 1500))
        #expect(c.service.total(.mgetsStreamed) == 0)
    }

    @Test("the gate: EXEC waits for a running command to leave, and a command waits for EXEC", .hangGuard)
    func gateExcludes() async throws {
        let gate = CommandGate(workers: 2)
        let box = Phase()
        // Slot 0's command is running.
        gate.enter(0)
        let holder = BackgroundThread(name: "exec") {
            gate.exclusively(1) {
                // Only after slot 0 left.
                box.value.store(box.value.load(ordering: .relaxed) == 1 ? 2 : -100, ordering: .sequentiallyConsistent)
                usleep(100_000)
                box.value.store(3, ordering: .sequentiallyConsistent)
            }
        }
        usleep(50_000)
        #expect(box.value.load(ordering: .sequentiallyConsistent) == 0, "EXEC ran while another slot's command was running")
        box.value.store(1, ordering: .sequentiallyConsistent)
        gate.leave(0)
        while box.value.load(ordering: .sequentiallyConsistent) < 2 {
            #expect(box.value.load(ordering: .sequentiallyConsistent) >= 0)
            usleep(1000)
        }
        // The EXEC holds the gate: a new command on slot 0 waits until it ends.
        gate.enter(0)
        #expect(box.value.load(ordering: .sequentiallyConsistent) == 3, "a command ran inside EXEC's window")
        gate.leave(0)
        holder.join()
        #expect(!gate.isHeld)
    }

    final class Phase: Sendable {
        let value = Atomic<Int>(0)
    }
}
