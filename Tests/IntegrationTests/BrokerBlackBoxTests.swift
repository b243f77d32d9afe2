// Black-box tests of broker mode (--broker-port): start the built `swiftcached` binary and drive
// its queue listener with the Python scripts in ./Scripts.
//
//   broker_pymemcache.py  every verb with exact replies (pymemcache 4.0.0 + raw sockets); with
//                         --prefetch/--visibility-timeout, the checks of those two settings
//   broker_binary.py      the binary protocol on the broker port (pylibmc binary=True, php-memcached
//                         binary, Dalli, raw frames; flush and flushq)
//   broker_logs.py        topics: declaration, keyed and unkeyed appends, two groups, seeks,
//                         stats logs; then a restart on the same --data-dir
//   broker_log_groups.py  topic groups: produce, membership and rebalance, reliable reads, kill -9
//   broker_log_compaction.py  cleanup=compact: keyless refusals, newest per key, gaps, tombstones, restart
//   broker_logs_crash.py  a topic's pipelined producer SIGKILLed with --fsync=always, restart, read
//   broker_log_larger_than_memory.py  a topic 3x --broker-memory read from offset 0 while produced to;
//                         with --memory-only, 3.5x -m without a data directory: its own oldest
//                         segments dropped, never an append refused, read dense from the log start
//   broker_log_compaction_crash.py  SIGKILL during compaction, six rounds: newest per key, no temporary file
//   broker_log_sessions.py  session_timeout_ms, requests as heartbeats, revocation of open reads on rebalance
//   broker_crash.py       SIGKILL mid-run with --data-dir and --fsync=always, restart, drain;
//                         the script starts (and always kills) its own servers
//
// They share broker_common.py (servers they start, replies read, stats) over rawconn.py, imported
// from their own directory.
//
// and, through raw sockets (issue 11's recovery): a journal damaged between two runs is read past,
// and a restart with a smaller -I is refused without touching the journal.
//
// Missing prerequisites (swiftcached binary, python3 with pymemcache) make the tests FAIL with a
// message; they are never skipped. SWIFTCACHED_BIN and SWIFTCACHED_PYTHON override the binary
// and the interpreter, as for BlackBoxTests.

import Foundation
import Testing
import TestSupport

@Suite("swiftcached broker black-box")
struct BrokerBlackBoxTests {

    private func expectServerAlive(_ server: ServerProcess, _ what: String) {
        #expect(server.isRunning, "swiftcached died during \(what); server log:\n\(server.log)")
    }

    /// Runs `body` with a server whose broker listener is on a fresh free port (given to `body`).
    private func withBrokerServer<T>(_ extraArguments: [String] = [],
                                     _ body: (ServerProcess, UInt16) async throws -> T) async throws -> T {
        try await withSecondListener("--broker-port", extraArguments, body)
    }

    @Test("broker verbs through pymemcache and raw sockets (and a redelivered gets through python-memcached and Cache::Memcached::Fast)", .hangGuard)
    func brokerPymemcache() async throws {
        let python = try await IntegrationPaths.python(requiring: ["pymemcache", "memcache"])
        let script = try IntegrationPaths.script("broker_pymemcache.py")
        try await withBrokerServer(["-t", "2"]) { server, brokerPort in
            let r = try await ToolRunner.run(python, [script, String(brokerPort)], timeout: .seconds(90))
            #expect(r.succeeded, "broker_pymemcache.py failed:\n\(r.report)\nserver log:\n\(server.log)")
            #expect(r.output.contains("BROKER CHECKS PASSED"), "no success line:\n\(r.report)")
            expectServerAlive(server, "broker_pymemcache.py")
        }
    }

    @Test("broker port in the binary protocol: pylibmc binary=True, php-memcached binary and Dalli enqueue and dequeue; flush and flushq empty the queues; unknown opcodes and malformed headers are answered, never left hanging",
          .hangGuard)
    func brokerBinaryProtocol() async throws {
        let python = try await IntegrationPaths.python(requiring: ["pylibmc"])
        let script = try IntegrationPaths.script("broker_binary.py")
        try await withBrokerServer(["-t", "2"]) { server, brokerPort in
            let r = try await ToolRunner.run(python, [script, "--port", String(brokerPort)], timeout: .seconds(50))
            #expect(r.succeeded, "broker_binary.py failed:\n\(r.report)\nserver log:\n\(server.log)")
            #expect(r.output.contains("BROKER BINARY CHECKS PASSED"), "no success line:\n\(r.report)")
            expectServerAlive(server, "broker_binary.py")
        }
    }

    @Test("broker --prefetch=3 --visibility-timeout=800: several open reads, reads timing out",
          .hangGuard)
    func brokerPrefetchVisibility() async throws {
        let python = try await IntegrationPaths.python(requiring: ["pymemcache"])
        let script = try IntegrationPaths.script("broker_pymemcache.py")
        try await withBrokerServer(["-t", "2", "--prefetch=3", "--visibility-timeout=800"]) { server, brokerPort in
            let r = try await ToolRunner.run(
                python, [script, String(brokerPort), "--prefetch", "3", "--visibility-timeout", "800"],
                timeout: .seconds(90))
            #expect(r.succeeded, "broker_pymemcache.py --prefetch 3 failed:\n\(r.report)\nserver log:\n\(server.log)")
            #expect(r.output.contains("BROKER CHECKS PASSED"), "no success line:\n\(r.report)")
            expectServerAlive(server, "broker_pymemcache.py --prefetch 3 --visibility-timeout 800")
        }
    }

    @Test("broker journals survive SIGKILL mid-run (--fsync=always)", .hangGuard)
    func brokerCrash() async throws {
        let python = try await IntegrationPaths.python()
        let script = try IntegrationPaths.script("broker_crash.py")
        let binary = try IntegrationPaths.serverBinary()
        let fm = FileManager.default
        // The script makes the data directory the server's user's (nobody when run as root).
        let dir = try IntegrationPaths.serverWritableDirectory("swiftcached-broker-crash")
        defer { try? fm.removeItem(at: dir) }
        let port = try Loopback.freePort()
        // The script bounds itself (watchdog at 55 s) and kills the servers it started on
        // every exit path; they also die with it (PR_SET_PDEATHSIG) if it is killed.
        let r = try await ToolRunner.run(
            python,
            [script, "--binary", binary, "--port", String(port),
             "--data-dir", dir.appendingPathComponent("data").path],
            timeout: .seconds(90))
        #expect(r.succeeded, "broker_crash.py failed:\n\(r.report)")
        #expect(r.output.contains("BROKER CRASH CHECKS PASSED"), "no success line:\n\(r.report)")
    }

    @Test("topics through pymemcache: producer, two groups, replay by seek, and a restart with --data-dir keeps records and committed offsets",
          .hangGuard)
    func brokerLogs() async throws {
        let python = try await IntegrationPaths.python(requiring: ["pymemcache"])
        let script = try IntegrationPaths.script("broker_logs.py")
        let fm = FileManager.default
        let dir = try IntegrationPaths.serverWritableDirectory("swiftcached-logs")
        defer { try? fm.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data").path
        for phase in ["produce", "restart"] {
            try await withBrokerServer(["-t", "2", "--data-dir=\(data)"]) { server, brokerPort in
                let r = try await ToolRunner.run(python, [script, String(brokerPort), phase], timeout: .seconds(60))
                #expect(r.succeeded, "broker_logs.py \(phase) failed:\n\(r.report)\nserver log:\n\(server.log)")
                #expect(r.output.contains("CHECKS PASSED"), "no success line:\n\(r.report)")
                expectServerAlive(server, "broker_logs.py \(phase)")
                server.stop()
            }
        }
    }

    @Test("log compaction through pymemcache: keyless records refused, newest per key kept, gaps read across, tombstones expire, a restart with --data-dir reads the same",
          .hangGuard)
    func brokerLogCompaction() async throws {
        let python = try await IntegrationPaths.python(requiring: ["pymemcache"])
        let script = try IntegrationPaths.script("broker_log_compaction.py")
        let fm = FileManager.default
        let dir = try IntegrationPaths.serverWritableDirectory("swiftcached-log-compaction")
        defer { try? fm.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data").path
        let state = dir.appendingPathComponent("state.json").path
        for phase in ["compact", "restart"] {
            try await withBrokerServer(["-t", "2", "--data-dir=\(data)"]) { server, brokerPort in
                let r = try await ToolRunner.run(python, [script, String(brokerPort), phase, state], timeout: .seconds(60))
                #expect(r.succeeded, "broker_log_compaction.py \(phase) failed:\n\(r.report)\nserver log:\n\(server.log)")
                #expect(r.output.contains("CHECKS PASSED"), "no success line:\n\(r.report)")
                expectServerAlive(server, "broker_log_compaction.py \(phase)")
                server.stop()
            }
        }
    }

    @Test("a topic survives SIGKILL under a pipelined producer (--fsync=always): every acknowledged record, in order, offsets dense",
          .hangGuard)
    func brokerLogsCrash() async throws {
        let python = try await IntegrationPaths.python()
        let script = try IntegrationPaths.script("broker_logs_crash.py")
        let binary = try IntegrationPaths.serverBinary()
        let fm = FileManager.default
        let dir = try IntegrationPaths.serverWritableDirectory("swiftcached-logs-crash")
        defer { try? fm.removeItem(at: dir) }
        let port = try Loopback.freePort()
        // The script bounds itself (watchdog at 55 s) and kills the servers it started.
        let r = try await ToolRunner.run(
            python, [script, "--binary", binary, "--port", String(port), "--data-dir", dir.appendingPathComponent("data").path],
            timeout: .seconds(90))
        #expect(r.succeeded, "broker_logs_crash.py failed:\n\(r.report)")
        #expect(r.output.contains("LOG CRASH CHECKS PASSED"), "no success line:\n\(r.report)")
    }

    @Test("a topic three times larger than --broker-memory (--data-dir) is read from offset 0 by a new group while a producer appends: every record in order, no append refused, log memory within the bound",
          .hangGuard)
    func brokerLogLargerThanMemory() async throws {
        let python = try await IntegrationPaths.python()
        let script = try IntegrationPaths.script("broker_log_larger_than_memory.py")
        let fm = FileManager.default
        let dir = try IntegrationPaths.serverWritableDirectory("swiftcached-log-larger")
        defer { try? fm.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data").path
        try await withBrokerServer(["-t", "2", "--data-dir=\(data)", "--broker-memory=4"]) { server, brokerPort in
            let r = try await ToolRunner.run(python, [script, "--port", String(brokerPort), "--memory-mb", "4"], timeout: .seconds(90))
            #expect(r.succeeded, "broker_log_larger_than_memory.py failed:\n\(r.report)\nserver log:\n\(server.log)")
            #expect(r.output.contains("LOG LARGER THAN MEMORY CHECKS PASSED"), "no success line:\n\(r.report)")
            let line = r.output.split(separator: "\n").last.map(String.init) ?? ""
            let facts = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "output: \(r.output)")
            let limit = 4 << 20
            #expect((facts["max_log_memory_bytes"] as? Int ?? .max) <= limit, "log memory past --broker-memory")
            #expect((facts["partition_bytes"] as? Int ?? 0) >= 3 * limit)
            #expect(facts["read"] as? Int == facts["produced"] as? Int)
            #expect(facts["out_of_order"] as? Int == 0)
            #expect(facts["log_appends_refused"] as? Int == 0)
            expectServerAlive(server, "broker_log_larger_than_memory.py")
        }
    }

    @Test("a memory-only topic 3.5 times -m (-m 4 --broker-memory 4, no --data-dir): the engine out of log chunks drops the partition's oldest segments, no append refused, a new group reads dense from the log start",
          .hangGuard)
    func brokerLogMemoryOnly() async throws {
        let python = try await IntegrationPaths.python()
        let script = try IntegrationPaths.script("broker_log_larger_than_memory.py")
        try await withBrokerServer(["-t", "2", "-m", "4", "--broker-memory=4"]) { server, brokerPort in
            let r = try await ToolRunner.run(python, [script, "--port", String(brokerPort), "--memory-mb", "4", "--memory-only"],
                                             timeout: .seconds(90))
            #expect(r.succeeded, "broker_log_larger_than_memory.py --memory-only failed:\n\(r.report)\nserver log:\n\(server.log)")
            #expect(r.output.contains("LOG MEMORY ONLY CHECKS PASSED"), "no success line:\n\(r.report)")
            expectServerAlive(server, "broker_log_larger_than_memory.py --memory-only")
        }
    }

    @Test("kill -9 during log compaction (cleanup=compact, --data-dir, --fsync=always), six rounds: after each restart every key's newest acknowledged record is there, offsets rise with none twice, no temporary or orphaned index file is left",
          .hangGuard)
    func brokerLogCompactionCrash() async throws {
        let python = try await IntegrationPaths.python()
        let script = try IntegrationPaths.script("broker_log_compaction_crash.py")
        let binary = try IntegrationPaths.serverBinary()
        let fm = FileManager.default
        let dir = try IntegrationPaths.serverWritableDirectory("swiftcached-log-compaction-crash")
        defer { try? fm.removeItem(at: dir) }
        let port = try Loopback.freePort()
        // The script bounds itself (watchdog at 80 s) and kills the servers it started.
        let r = try await ToolRunner.run(
            python, [script, "--binary", binary, "--port", String(port), "--data-dir", dir.appendingPathComponent("data").path],
            timeout: .seconds(100))
        #expect(r.succeeded, "broker_log_compaction_crash.py failed:\n\(r.report)")
        #expect(r.output.contains("LOG COMPACTION CRASH CHECKS PASSED"), "no success line:\n\(r.report)")
    }

    @Test("group members on the broker port: session_timeout_ms declared on the topic, any request is a heartbeat, a silent member leaves; a rebalance revokes the open reads of the partitions a member loses",
          .hangGuard)
    func brokerLogSessions() async throws {
        let python = try await IntegrationPaths.python()
        let script = try IntegrationPaths.script("broker_log_sessions.py")
        try await withBrokerServer(["-t", "2"]) { server, brokerPort in
            let r = try await ToolRunner.run(python, [script, "--port", String(brokerPort)], timeout: .seconds(40))
            #expect(r.succeeded, "broker_log_sessions.py failed:\n\(r.report)\nserver log:\n\(server.log)")
            #expect(r.output.contains("LOG SESSION CHECKS PASSED"), "no success line:\n\(r.report)")
            expectServerAlive(server, "broker_log_sessions.py")
        }
    }

    @Test("topic groups: produce batches, range assignment and rebalance on disconnect, reliable reads (open/close/abort, disconnect, visibility timeout), committed offsets across kill -9 (--fsync=always)",
          .hangGuard)
    func brokerLogGroups() async throws {
        let python = try await IntegrationPaths.python(requiring: ["pymemcache"])
        let script = try IntegrationPaths.script("broker_log_groups.py")
        let binary = try IntegrationPaths.serverBinary()
        let fm = FileManager.default
        let dir = try IntegrationPaths.serverWritableDirectory("swiftcached-log-groups")
        defer { try? fm.removeItem(at: dir) }
        let port = try Loopback.freePort()
        // The script bounds itself (watchdog at 55 s) and kills the servers it started.
        let r = try await ToolRunner.run(
            python, [script, "--binary", binary, "--port", String(port), "--data-dir", dir.appendingPathComponent("data").path],
            timeout: .seconds(90))
        #expect(r.succeeded, "broker_log_groups.py failed:\n\(r.report)")
        #expect(r.output.contains("LOG GROUP CHECKS PASSED"), "no success line:\n\(r.report)")
    }

    @Test("--fsync=always: 4,000 pipelined sets, to a topic and to a queue, are acknowledged in far fewer fsyncs than one per -R (20) requests",
          .hangGuard)
    func groupCommitCoversThePipeline() async throws {
        let fm = FileManager.default
        let dir = try IntegrationPaths.serverWritableDirectory("swiftcached-group-commit")
        defer { try? fm.removeItem(at: dir) }
        try await withBrokerServer(["--data-dir=\(dir.appendingPathComponent("data").path)", "--fsync=always"]) { server, brokerPort in
            let c = try RawConnection(port: brokerPort)
            c.send("log t partitions=1\r\n")
            #expect(c.receive(until: "\r\n") == "OK\r\n")
            let n = 4_000
            let body = String(repeating: "v", count: 100)
            for target in ["t", "q"] {
                let before = c.stat("broker_fsyncs") ?? 0
                c.send(String(repeating: "set \(target) 0 0 100\r\n\(body)\r\n", count: n))
                var stored = 0
                while stored < n {
                    let more = c.receive(until: "STORED\r\n")
                    if more.isEmpty { break }
                    stored += more.components(separatedBy: "\r\n").filter { $0 == "STORED" }.count
                }
                #expect(stored == n, "\(target): \(stored) STORED of \(n)")
                let fsyncs = (c.stat("broker_fsyncs") ?? 0) - before
                // Records share fsyncs. How many share one depends on how the flusher and the
                // worker are scheduled: alone, 200-4,000 (BENCHMARKS.md has the figures); under the
                // full suite on 2 cores it was once 12.6, below the 20 a connection reached before
                // it went on processing while parked. So the test asserts grouping, not a rate.
                #expect(fsyncs > 0 && n / fsyncs >= 2, "\(target): \(fsyncs) fsyncs for \(n) records\nlog:\n\(server.log)")
            }
            #expect(server.isRunning)
        }
    }

    // MARK: recovery (issue 11)

    /// Stores `bodies` in queue `q` through the broker port (each acknowledged once on disk).
    private func store(_ bodies: [String], port: UInt16) throws {
        let c = try RawConnection(port: port)
        for b in bodies {
            c.send("set q 0 0 \(b.utf8.count)\r\n\(b)\r\n")
            #expect(c.receive(until: "\r\n") == "STORED\r\n")
        }
    }

    /// Every message of queue `q`, read one `get` at a time until it answers END.
    private func drain(port: UInt16) throws -> [String] {
        let c = try RawConnection(port: port)
        var out: [String] = []
        while true {
            c.send("get q\r\n")
            let reply = c.receive(until: "END\r\n")
            guard reply.hasPrefix("VALUE q 0 "), let header = reply.range(of: "\r\n") else { break }
            let body = reply[header.upperBound...].dropLast("\r\nEND\r\n".count)
            out.append(String(body))
        }
        return out
    }

    /// Where each record of a journal starts (and its size, last).
    private func frames(_ bytes: [UInt8]) -> [Int] {
        var offsets = [0]
        while offsets.last! + 8 <= bytes.count {
            let at = offsets.last!
            offsets.append(at + 8 + (Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24))
        }
        return offsets
    }

    @Test("a journal with a damaged record in the middle: after a restart every other message is read back, the damaged bytes are kept and counted",
          .hangGuard)
    func corruptJournalRecovers() async throws {
        let fm = FileManager.default
        let dir = try IntegrationPaths.serverWritableDirectory("swiftcached-corrupt")
        defer { try? fm.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data").path
        let journal = data + "/q.journal"
        let bodies = (0..<200).map { "message-\($0)-" + String(repeating: "p", count: $0 % 40) }
        try await withBrokerServer(["--data-dir=\(data)", "--fsync=always"]) { server, brokerPort in
            try store(bodies, port: brokerPort)
            server.stop()
        }
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: journal)))
        let offsets = frames(bytes)
        #expect(offsets.count == 201 && offsets.last == bytes.count)
        // Record 3 (a payload bit) and record 120 (its length field).
        bytes[offsets[2] + 8 + 44] ^= 0x10
        bytes[offsets[119] + 1] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: journal))
        try await withBrokerServer(["--data-dir=\(data)", "--fsync=always"]) { server, brokerPort in
            let c = try RawConnection(port: brokerPort)
            #expect(c.stat("broker_recovery_corrupt_records") == 2, "log:\n\(server.log)")
            #expect(c.stat("broker_recovery_corrupt_bytes") == (offsets[3] - offsets[2]) + (offsets[120] - offsets[119]))
            #expect(c.stat("broker_recovery_torn_bytes") == 0)
            var expected = bodies
            expected.remove(at: 119)
            expected.remove(at: 2)
            let got = try drain(port: brokerPort)
            #expect(got == expected)
            #expect(server.isRunning)
        }
        let copy1 = try Data(contentsOf: URL(fileURLWithPath: journal + ".corrupt-1"))
        let copy2 = try Data(contentsOf: URL(fileURLWithPath: journal + ".corrupt-2"))
        #expect([UInt8](copy1) == Array(bytes[offsets[2]..<offsets[3]]))
        #expect([UInt8](copy2) == Array(bytes[offsets[119]..<offsets[120]]))
    }

    @Test("a restart with a smaller -I is refused with the -I it needs, the journal untouched; the original -I has every message",
          .hangGuard)
    func smallerItemSizeIsRefused() async throws {
        let fm = FileManager.default
        let dir = try IntegrationPaths.serverWritableDirectory("swiftcached-item-size")
        defer { try? fm.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data").path
        let journal = data + "/q.journal"
        let bodies = ["small"] + (0..<3).map { "\($0)" + String(repeating: "L", count: 600_000) } + ["last"]
        try await withBrokerServer(["--data-dir=\(data)", "--fsync=always"]) { server, brokerPort in
            try store(bodies, port: brokerPort)
            server.stop()
        }
        let before = try Data(contentsOf: URL(fileURLWithPath: journal))
        let binary = try IntegrationPaths.serverBinary()
        let r = try await ToolRunner.run(
            binary, ["-p", String(try Loopback.freePort()), "-l", "127.0.0.1", "-U", "0", "-I", "512k",
                     "--broker-port=\(try Loopback.freePort())", "--data-dir=\(data)"] + IntegrationPaths.privilegeArguments,
            timeout: .seconds(20))
        #expect(!r.timedOut && !r.terminatedBySignal && r.status != 0, "\(r.report)")
        #expect(r.output.contains("-I (item_size_max) is too small for the stored messages: 3 messages in queue q"), "\(r.report)")
        #expect(r.output.contains("and -I is 524288; start with -I 586k or more"), "\(r.report)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: journal)) == before)
        #expect(!fm.fileExists(atPath: journal + ".corrupt-1"))
        try await withBrokerServer(["--data-dir=\(data)"]) { server, brokerPort in
            let got = try drain(port: brokerPort)
            #expect(got == bodies, "log:\n\(server.log)")
        }
    }

    // Issue 12's review: the broker port's `stats` prints the server's connection lines, counted as
    // memcached counts them over all its listeners (each listener once, every connection on any
    // port): the same figures as memcached listening on two ports, asked on each in turn.
    @Test("the broker port's total_connections, curr_connections and connection_structures count as memcached's over two listeners",
          .hangGuard)
    func brokerConnectionLinesAsMemcached() async throws {
        let python = try await IntegrationPaths.python()
        let script = try IntegrationPaths.script("connection_lines.py")
        let memcached = try #require(IntegrationPaths.findExecutable("memcached", extraDirectories: ["/usr/bin", "/usr/local/bin"]),
                                     "memcached not found (Tools/deps.sh test installs it)")
        let ours = try await withBrokerServer { server, brokerPort in
            let r = try await ToolRunner.run(python, [script, "--first", String(server.port), "--second", String(brokerPort)], timeout: .seconds(20))
            #expect(r.succeeded, "connection_lines.py failed:\n\(r.report)")
            return r.output
        }
        let second = try Loopback.freePort()
        let theirs = try await withServer(["-l", "127.0.0.1:\(second)"], binary: memcached) { server in
            let r = try await ToolRunner.run(python, [script, "--first", String(server.port), "--second", String(second)], timeout: .seconds(20))
            #expect(r.succeeded, "connection_lines.py against memcached failed:\n\(r.report)")
            return r.output
        }
        #expect(ours.split(separator: "\n").count == 3)
        #expect(ours == theirs)
    }
}
