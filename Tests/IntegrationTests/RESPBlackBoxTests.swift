// Black-box tests of Redis mode (--redis-port): the same RESP transcript (Scripts/resp_compare.py:
// raw requests, whole, pipelined and split, protocol errors) against swiftcached and against
// Debian's redis-server 7.0 started here with persistence off, compared line by line; and the
// memcached port and the RESP port reading each other's strings.
//
// redis-server is a prerequisite (Tools/deps.sh test installs it): without it the comparison
// FAILS with a message, it is never skipped.

import Foundation
import Synchronization
import Testing
import TestSupport

@Suite("swiftcached Redis mode black-box")
struct RESPBlackBoxTests {
    @Test("RESP replies equal redis-server 7.0's; the memcached and RESP ports share keys", .hangGuard)
    func transcriptMatchesRedis() async throws {
        let python = try await IntegrationPaths.python()
        let script = try IntegrationPaths.script("resp_compare.py")
        let ours = try await withSecondListener("--redis-port", ["-t", "2"]) { server, redisPort in
            let r = try await ToolRunner.run(python, [script, "--port", String(redisPort), "--memcached-port", String(server.port)],
                                             timeout: .seconds(60))
            #expect(r.succeeded, "resp_compare.py against swiftcached failed:\n\(r.report)\nserver log:\n\(server.log)")
            #expect(r.output.contains("SHARED KEYSPACE CHECKS PASSED"), "no shared-keyspace line:\n\(r.report)")
            #expect(server.isRunning, "swiftcached died during resp_compare.py; log:\n\(server.log)")
            return r.output
        }
        let theirs = try await withRedisServer(extraArguments: ["--enable-debug-command", "yes"]) { port in
            let r = try await ToolRunner.run(python, [script, "--port", String(port)], timeout: .seconds(60))
            #expect(r.succeeded, "resp_compare.py against redis-server failed:\n\(r.report)")
            return r.output
        }
        let transcript = { (text: String) in
            text.split(separator: "\n").filter { !$0.hasSuffix("CHECKS PASSED") }.map(String.init)
        }
        let a = transcript(ours), b = transcript(theirs)
        #expect(a.count == b.count && a.count > 40, "transcripts of \(a.count) and \(b.count) lines")
        for (x, y) in zip(a, b) {
            #expect(x == y, "swiftcached and redis-server differ")
        }
    }

    // Issue 12's leftovers: MEMORY DOCTOR/MALLOC-STATS/PURGE/STATS, CLIENT TRACKINGINFO/CACHING,
    // DEBUG HELP, RESP2 and RESP3, their arity errors and commandstats (Scripts/resp_memory_commands.py).
    @Test("MEMORY, CLIENT TRACKINGINFO/CACHING and DEBUG HELP subcommands answer as redis-server 7.0's", .hangGuard)
    func memoryAndClientSubcommandsMatchRedis() async throws {
        try await expectTranscriptMatchesRedis("resp_memory_commands.py", marker: "MEMORY COMMANDS CHECKS PASSED", minimumLines: 40,
                                               redisArguments: ["--enable-debug-command", "yes"])
    }

    @Test("--requirepass: NOAUTH before AUTH, WRONGPASS counted in resp_auth_failures (AUTH and HELLO 3 AUTH)", .hangGuard)
    func requirePassword() async throws {
        try await withSecondListener("--redis-port", ["--requirepass=s3cret"]) { server, port in
            let c = try RESPRawConnection(port: port)
            #expect(try c.request("*1\r\n$4\r\nPING\r\n") == "-NOAUTH Authentication required.\r\n")
            #expect(try c.request("*2\r\n$4\r\nAUTH\r\n$5\r\nwrong\r\n") == "-WRONGPASS invalid username-password pair or user is disabled.\r\n")
            #expect(try c.request("*2\r\n$4\r\nAUTH\r\n$6\r\ns3cret\r\n") == "+OK\r\n")
            #expect(try c.request("*1\r\n$4\r\nPING\r\n") == "+PONG\r\n")
            let d = try RESPRawConnection(port: port)
            // Before AUTH, at most 10 arguments (redis's unauthenticated multibulk bound).
            #expect(try d.request("*11\r\n") == "-ERR Protocol error: unauthenticated multibulk length\r\n")
            let e = try RESPRawConnection(port: port)
            let hello = try e.request("*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$6\r\ns3cret\r\n")
            #expect(hello.hasPrefix("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"), "HELLO 3 AUTH: \(hello)")
            // Failures counted in INFO's resp_auth_failures: one so far (the wrong AUTH above; NOAUTH
            // is not an attempt), then a wrong HELLO 3 AUTH, a wrong user and a wrong password.
            #expect(try respAuthFailures(c) == 1)
            let f = try RESPRawConnection(port: port)
            #expect(try f.request("*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$5\r\nwrong\r\n")
                    == "-WRONGPASS invalid username-password pair or user is disabled.\r\n")
            #expect(try respAuthFailures(c) == 2)
            #expect(try f.request("*3\r\n$4\r\nAUTH\r\n$6\r\nnobody\r\n$6\r\ns3cret\r\n")
                    == "-WRONGPASS invalid username-password pair or user is disabled.\r\n")
            #expect(try f.request("*3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$6\r\ns3creT\r\n")
                    == "-WRONGPASS invalid username-password pair or user is disabled.\r\n")
            #expect(try respAuthFailures(c) == 4)
            // Still refused until a right one; a right one counts nothing.
            #expect(try f.request("*1\r\n$4\r\nPING\r\n") == "-NOAUTH Authentication required.\r\n")
            #expect(try f.request("*2\r\n$4\r\nAUTH\r\n$6\r\ns3cret\r\n") == "+OK\r\n")
            #expect(try respAuthFailures(f) == 4)
            #expect(server.isRunning)
        }
    }

    /// INFO stats' resp_auth_failures, read on an authenticated connection.
    private func respAuthFailures(_ c: RESPRawConnection) throws -> Int? {
        let info = try c.request("*2\r\n$4\r\nINFO\r\n$5\r\nstats\r\n")
        for line in info.split(separator: "\r\n") where line.hasPrefix("resp_auth_failures:") {
            return Int(line.dropFirst("resp_auth_failures:".count))
        }
        return nil
    }

    @Test("INFO reports this port's counters and the shared engine; CONFIG SET maxmemory is the cache's limit", .hangGuard)
    func infoAndConfig() async throws {
        try await withSecondListener("--redis-port", ["-m", "64"]) { server, port in
            let c = try RESPRawConnection(port: port)
            #expect(try c.request("*3\r\n$3\r\nSET\r\n$5\r\ninfo1\r\n$1\r\nv\r\n") == "+OK\r\n")
            #expect(try c.request("*2\r\n$3\r\nGET\r\n$5\r\ninfo1\r\n") == "$1\r\nv\r\n")
            #expect(try c.request("*2\r\n$3\r\nGET\r\n$5\r\ninfo2\r\n") == "$-1\r\n")
            #expect(try c.request("*1\r\n$3\r\nGET\r\n").hasPrefix("-ERR wrong number"))
            #expect(try c.request("*1\r\n$6\r\nDBSIZE\r\n") == ":1\r\n")
            let info = try c.request("*2\r\n$4\r\nINFO\r\n$10\r\neverything\r\n")
            let fields = Dictionary(info.split(separator: "\r\n").compactMap { line -> (String, String)? in
                guard !line.hasPrefix("#"), let colon = line.firstIndex(of: ":") else { return nil }
                return (String(line[..<colon]), String(line[line.index(after: colon)...]))
            }, uniquingKeysWith: { a, _ in a })
            #expect(fields["tcp_port"] == String(port))
            #expect(fields["connected_clients"] == "1")
            #expect(fields["keyspace_hits"] == "1" && fields["keyspace_misses"] == "1", "\(info)")
            #expect(fields["maxmemory"] == String(64 << 20))
            #expect(fields["db0"] == "keys=1,expires=0,avg_ttl=0")
            #expect(fields["errorstat_ERR"] == "count=1")
            #expect(fields["cmdstat_get"]?.hasPrefix("calls=2,") == true && fields["cmdstat_get"]?.hasSuffix(",rejected_calls=1,failed_calls=0") == true,
                    "\(fields["cmdstat_get"] ?? "no cmdstat_get")")
            #expect(fields["cmdstat_set"]?.hasPrefix("calls=1,") == true)
            for section in ["Server", "Clients", "Memory", "Persistence", "Stats", "Replication", "CPU", "Commandstats", "Errorstats", "Keyspace"] {
                #expect(info.contains("# \(section)\r\n"), "no \(section) section")
            }
            // One engine: the Redis port's maxmemory is the memcached port's limit_maxbytes.
            #expect(try c.request("*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$9\r\nmaxmemory\r\n$5\r\n100mb\r\n") == "+OK\r\n")
            #expect(try RawConnection(port: server.port).stat("limit_maxbytes") == 100 << 20)
            #expect(try c.request("*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$9\r\nmaxmemory\r\n$2\r\n1k\r\n")
                    == "-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - the cache's memory limit must be at least 8mb\r\n")
            // requirepass set at run time: new connections must AUTH, this one stays authenticated.
            #expect(try c.request("*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$11\r\nrequirepass\r\n$2\r\npw\r\n") == "+OK\r\n")
            let d = try RESPRawConnection(port: port)
            #expect(try d.request("*1\r\n$4\r\nPING\r\n") == "-NOAUTH Authentication required.\r\n")
            #expect(try d.request("*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n") == "+OK\r\n")
            #expect(try c.request("*1\r\n$4\r\nPING\r\n") == "+PONG\r\n")
            // SLOWLOG: every command once the threshold is 0, newest first, arguments cut at 128 bytes.
            #expect(try c.request("*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$23\r\nslowlog-log-slower-than\r\n$1\r\n0\r\n") == "+OK\r\n")
            #expect(try c.request("*2\r\n$7\r\nSLOWLOG\r\n$5\r\nRESET\r\n") == "+OK\r\n")
            let long = String(repeating: "y", count: 130)
            #expect(try c.request("*2\r\n$4\r\nECHO\r\n$130\r\n\(long)\r\n") == "$130\r\n\(long)\r\n")
            let slow = try c.request("*3\r\n$7\r\nSLOWLOG\r\n$3\r\nGET\r\n$1\r\n1\r\n")
            #expect(slow.hasPrefix("*1\r\n*6\r\n:2\r\n:"), "\(slow)")  // 0: CONFIG SET, 1: SLOWLOG RESET itself
            #expect(slow.contains("*2\r\n$4\r\nECHO\r\n$146\r\n\(String(repeating: "y", count: 128))... (2 more bytes)\r\n$15\r\n127.0.0.1:"), "\(slow)")
            #expect(try c.request("*2\r\n$7\r\nSLOWLOG\r\n$3\r\nLEN\r\n") == ":3\r\n")
            // CONFIG RESETSTAT zeroes the port's counters.
            #expect(try c.request("*2\r\n$6\r\nCONFIG\r\n$9\r\nRESETSTAT\r\n") == "+OK\r\n")
            let after = try c.request("*2\r\n$4\r\nINFO\r\n$5\r\nstats\r\n")
            #expect(after.contains("keyspace_hits:0\r\n") && after.contains("total_error_replies:0\r\n"), "\(after)")
            #expect(server.isRunning)
        }
    }

    @Test("pub/sub across workers: messages in order; a subscriber that never reads is cut off at 32 MB, the publisher goes on",
          .hangGuard)
    func pubsubAcrossWorkersAndSlowSubscriber() async throws {
        try await withSecondListener("--redis-port", ["-t", "4"]) { server, port in
            // A reader and a subscriber that never reads, then a publisher: with -t 4 the
            // connections land on different workers.
            let reader = try RESPRawConnection(port: port)
            #expect(try reader.request("*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n") == "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n")
            let sleeper = try RESPRawConnection(port: port)
            #expect(try sleeper.request("*2\r\n$9\r\nSUBSCRIBE\r\n$5\r\nflood\r\n") == "*3\r\n$9\r\nsubscribe\r\n$5\r\nflood\r\n:1\r\n")
            let publisher = try RESPRawConnection(port: port)
            var batch = ""
            for i in 0..<500 { batch += "*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$\(String(i).count)\r\n\(i)\r\n" }
            #expect(try publisher.request(batch, until: 500 * 4) == String(repeating: ":1\r\n", count: 500))
            let messages = try reader.receive(atLeast: (0..<500).reduce(0) { $0 + 34 + String($1).count + String(String($1).count).count })
            let expected = (0..<500).map { "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$\(String($0).count)\r\n\($0)\r\n" }.joined()
            #expect(messages == expected, "messages out of order or missing")

            // 64 KB messages to the sleeper: its queue passes 32 MB and it is disconnected; every
            // PUBLISH is answered, with 0 receivers once it is gone.
            let payload = String(repeating: "x", count: 64 * 1024)
            let publish = "*3\r\n$7\r\nPUBLISH\r\n$5\r\nflood\r\n$\(payload.utf8.count)\r\n\(payload)\r\n"
            var receivers: [Int] = []
            for _ in 0..<100 {
                let replies = try publisher.request(String(repeating: publish, count: 16), until: 16 * 4)
                receivers += replies.split(separator: "\r\n").compactMap { Int($0.dropFirst()) }
            }
            #expect(receivers.count == 1600)
            #expect(receivers.first == 1 && receivers.last == 0, "the sleeper was never cut off")
            let info = try publisher.request("*2\r\n$4\r\nINFO\r\n$5\r\nstats\r\n")
            #expect(info.contains("client_output_buffer_limit_disconnections:1\r\n"), "\(info)")
            let status = try String(contentsOfFile: "/proc/\(server.pid)/status", encoding: .utf8)
            let rssKB = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
                .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true)[1]) } ?? 0
            // 100 MB were published; what one subscriber may hold is 32 MB queued plus the piece
            // being written.
            #expect(rssKB < 160 * 1024, "RSS \(rssKB) KB")
            #expect(try sleeper.drainUntilClosed(), "the sleeper's connection was not closed")
            #expect(server.isRunning)
        }
    }

    @Test("the broker port's publish to an exchange reaches RESP subscribers of its name; the pubsub soft output limit cuts off a subscriber that stays past it",
          .hangGuard)
    func brokerPublishAndSoftOutputLimit() async throws {
        let brokerPort = try Loopback.freePort()
        try await withSecondListener("--redis-port", ["-t", "2", "--broker-port=\(brokerPort)"]) { server, port in
            let subscriber = try RESPRawConnection(port: port)
            #expect(try subscriber.request("*2\r\n$9\r\nSUBSCRIBE\r\n$6\r\norders\r\n") == "*3\r\n$9\r\nsubscribe\r\n$6\r\norders\r\n:1\r\n")
            let broker = try RawConnection(port: brokerPort)
            broker.send("exchange orders fanout\r\n")
            #expect(broker.receive(until: "\r\n") == "OK\r\n")
            broker.send("publish orders any 0 0 5\r\nhello\r\n")
            #expect(broker.receive(until: "\r\n") == "ROUTED 0\r\n")
            #expect(try subscriber.receive(atLeast: 42) == "*3\r\n$7\r\nmessage\r\n$6\r\norders\r\n$5\r\nhello\r\n")
            // No exchange of that name: NOT_FOUND, and nothing for the subscribers.
            broker.send("publish nosuch any 0 0 1\r\nx\r\n")
            #expect(broker.receive(until: "\r\n") == "NOT_FOUND\r\n")

            // CONFIG SET client-output-buffer-limit: redis's words for a bad value, the new
            // limits reported back.
            let c = try RESPRawConnection(port: port)
            #expect(try c.request("*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$26\r\nclient-output-buffer-limit\r\n$9\r\npubsub 1 2\r\n")
                    == "-ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - Wrong number of arguments in buffer limit configuration.\r\n")
            #expect(try c.request("*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$26\r\nclient-output-buffer-limit\r\n$15\r\npubsub 0 64kb 1\r\n") == "+OK\r\n")
            let limits = try c.request("*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$26\r\nclient-output-buffer-limit\r\n")
            #expect(limits.contains("normal 0 0 0 slave 268435456 67108864 60 pubsub 0 65536 1\r\n"), "\(limits)")
            // A subscriber that stops reading stays past 64 KB for more than a second: cut off,
            // while a hard limit of 0 (none) alone would have kept it.
            let sleeper = try RESPRawConnection(port: port)
            #expect(try sleeper.request("*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nslow\r\n") == "*3\r\n$9\r\nsubscribe\r\n$4\r\nslow\r\n:1\r\n")
            let payload = String(repeating: "x", count: 16 * 1024)
            let publish = "*3\r\n$7\r\nPUBLISH\r\n$4\r\nslow\r\n$\(payload.utf8.count)\r\n\(payload)\r\n"
            var last = -1
            for _ in 0..<40 {
                let replies = try c.request(String(repeating: publish, count: 64), until: 64 * 4)
                last = replies.split(separator: "\r\n").compactMap { Int($0.dropFirst()) }.last ?? -1
                if last == 0 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(last == 0, "the subscriber past the soft limit was not cut off")
            let info = try c.request("*2\r\n$4\r\nINFO\r\n$5\r\nstats\r\n")
            #expect(info.contains("client_output_buffer_limit_disconnections:1\r\n"), "\(info)")
            #expect(server.isRunning)
        }
    }

    @Test("client-query-buffer-limit: a request left unfinished past it closes the connection, counted; others go on",
          .hangGuard)
    func queryBufferLimit() async throws {
        try await withSecondListener("--redis-port") { server, port in
            let c = try RESPRawConnection(port: port)
            #expect(try c.request("*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$25\r\nclient-query-buffer-limit\r\n$3\r\n2mb\r\n") == "+OK\r\n")
            let greedy = try RESPRawConnection(port: port)
            // A 3 MB argument of which 2.5 MB arrive: past the limit, not yet a whole request.
            let reply = try greedy.request("*2\r\n$4\r\nECHO\r\n$3000000\r\n" + String(repeating: "x", count: 2_500_000))
            #expect(reply == "", "a reply instead of the close: \(reply.prefix(80))")
            #expect(try greedy.drainUntilClosed(), "the connection was not closed")
            // Within the limit a large request is served.
            let big = String(repeating: "y", count: 1_500_000)
            #expect(try c.request("*2\r\n$4\r\nECHO\r\n$1500000\r\n\(big)\r\n", until: 1_500_000 + 13) == "$1500000\r\n\(big)\r\n")
            let info = try c.request("*2\r\n$4\r\nINFO\r\n$5\r\nstats\r\n")
            #expect(info.contains("client_query_buffer_limit_disconnections:1\r\n"), "\(info)")
            #expect(server.isRunning)
        }
    }

    @Test("EXEC runs with no other client's command in between: readers on other workers see only multiples of 1,000",
          .hangGuard)
    func execIsAtomicAcrossWorkers() async throws {
        try await withSecondListener("--redis-port", ["-t", "4"]) { server, port in
            let seen = GateObservations()
            let finished = DispatchSemaphore(value: 0)
            let readers = 2
            // Readers on their own threads and connections (with -t 4, on other workers than the
            // writer's), each a GET at a time until the writer is done.
            for _ in 0..<readers {
                Thread.detachNewThread {
                    defer { finished.signal() }
                    do {
                        let c = try RESPRawConnection(port: port)
                        while !seen.done.load(ordering: .acquiring) {
                            seen.record(try c.getInteger("gate"))
                        }
                    } catch {
                        seen.record(-1)
                    }
                }
            }
            let writer = try RESPRawConnection(port: port)
            let transaction = "*1\r\n$5\r\nMULTI\r\n" + String(repeating: "*2\r\n$4\r\nINCR\r\n$4\r\ngate\r\n", count: 1000) + "*1\r\n$4\r\nEXEC\r\n"
            for round in 0..<50 {
                var expected = "+OK\r\n" + String(repeating: "+QUEUED\r\n", count: 1000) + "*1000\r\n"
                for i in 1...1000 { expected += ":\(round * 1000 + i)\r\n" }
                let reply = try writer.request(transaction, until: expected.utf8.count)
                #expect(reply == expected, "round \(round)")
                if reply != expected { break }
            }
            seen.done.store(true, ordering: .releasing)
            for _ in 0..<readers { finished.wait() }
            let (reads, bad) = seen.result
            #expect(bad.isEmpty, "values read between an EXEC's commands (or -1 for a failed read): \(bad.prefix(10))")
            #expect(reads > 0)
            #expect(try writer.request("*2\r\n$3\r\nGET\r\n$4\r\ngate\r\n") == "$5\r\n50000\r\n")
            #expect(server.isRunning)
        }
    }

    @Test("EXPIRE family: TTL and PTTL count down to the engine's second; an expired key is gone through both ports",
          .hangGuard)
    func expiryTimes() async throws {
        try await withSecondListener("--redis-port") { server, port in
            let c = try RESPRawConnection(port: port)
            func integer(_ request: String) throws -> Int {
                let r = try c.request(request)
                guard r.hasPrefix(":"), r.hasSuffix("\r\n"), let n = Int(r.dropFirst().dropLast()) else { throw IntegrationSetupError("not an integer: \(r)") }
                return n
            }
            #expect(try c.request("*3\r\n$3\r\nSET\r\n$2\r\nk1\r\n$1\r\nv\r\n") == "+OK\r\n")
            #expect(try integer("*3\r\n$6\r\nEXPIRE\r\n$2\r\nk1\r\n$3\r\n100\r\n") == 1)
            let ttl = try integer("*2\r\n$3\r\nTTL\r\n$2\r\nk1\r\n")
            #expect((99...101).contains(ttl), "TTL \(ttl)")
            let pttl = try integer("*2\r\n$4\r\nPTTL\r\n$2\r\nk1\r\n")
            #expect((98_000...101_000).contains(pttl), "PTTL \(pttl)")
            let now = Int(Date().timeIntervalSince1970 * 1000)
            let at = now + 5_000
            #expect(try integer("*3\r\n$9\r\nPEXPIREAT\r\n$2\r\nk1\r\n$\(String(at).count)\r\n\(at)\r\n") == 1)
            let expireTime = try integer("*2\r\n$11\r\nPEXPIRETIME\r\n$2\r\nk1\r\n")
            #expect(expireTime >= at && expireTime < at + 1000, "PEXPIRETIME \(expireTime) for \(at)")
            #expect(try integer("*2\r\n$10\r\nEXPIRETIME\r\n$2\r\nk1\r\n") == expireTime / 1000)
            // Expired through the RESP port: the memcached port misses it too.
            #expect(try integer("*3\r\n$7\r\nPEXPIRE\r\n$2\r\nk1\r\n$3\r\n900\r\n") == 1)
            let m = try RawConnection(port: server.port)
            m.send("get k1\r\n")
            #expect(m.receive(until: "END\r\n") == "VALUE k1 0 1\r\nv\r\nEND\r\n")
            try await Task.sleep(for: .milliseconds(2_500))
            m.send("get k1\r\n")
            #expect(m.receive(until: "END\r\n") == "END\r\n")
            #expect(try integer("*2\r\n$3\r\nTTL\r\n$2\r\nk1\r\n") == -2)
            #expect(server.isRunning)
        }
    }

    @Test("CLIENT LIST, INFO and KILL across two workers: every connection listed; killed by ID or address from another connection, the victim is closed",
          .hangGuard)
    func clientsAcrossWorkers() async throws {
        try await withSecondListener("--redis-port", ["-t", "2"]) { server, port in
            func words(_ w: String...) -> String { "*\(w.count)\r\n" + w.map { "$\($0.utf8.count)\r\n\($0)\r\n" }.joined() }
            // Connections are handed to the two workers in turn: neighbours live on different workers.
            let conns = try (0..<4).map { _ in try RESPRawConnection(port: port) }
            var ids: [Int] = []
            for (i, c) in conns.enumerated() {
                #expect(try c.request(words("CLIENT", "SETNAME", "c\(i)")) == "+OK\r\n")
                let r = try c.request(words("CLIENT", "ID"))
                ids.append(try #require(Int(r.dropFirst().dropLast(1)), "CLIENT ID: \(r)"))
            }
            #expect(try conns[3].request(words("SUBSCRIBE", "news")).hasPrefix("*3\r\n$9\r\nsubscribe\r\n"))
            // Every line: redis 7.0.15's fields in its order, this connection's own values.
            func lines(_ reply: String) -> [[String: String]] {
                reply.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }).dropFirst().filter { $0.hasPrefix("id=") }.map { line in
                    Dictionary(line.split(separator: " ").map { f in
                        let kv = f.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                        return (String(kv[0]), kv.count > 1 ? String(kv[1]) : "")
                    }, uniquingKeysWith: { a, _ in a })
                }
            }
            let list = try conns[0].request(words("CLIENT", "LIST"))
            let entries = lines(list)
            // Oldest first: in id order (ids are handed out as each worker takes its connection).
            let byID = ids.indices.sorted { ids[$0] < ids[$1] }
            #expect(entries.map { $0["name"] ?? "" } == byID.map { "c\($0)" }, "\(list)")
            #expect(entries.map { Int($0["id"] ?? "") ?? 0 } == ids.sorted())
            let byName = Dictionary(entries.map { ($0["name"] ?? "", $0) }, uniquingKeysWith: { a, _ in a })
            let fieldOrder = "id addr laddr fd name age idle flags db sub psub ssub multi qbuf qbuf-free argv-mem multi-mem rbs rbp obl oll omem tot-mem events cmd user redir resp"
            let firstLine = list.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }).dropFirst().first.map(String.init) ?? ""
            #expect(firstLine.split(separator: " ").map { String($0.split(separator: "=")[0]) }.joined(separator: " ") == fieldOrder, "\(firstLine)")
            #expect(entries.allSatisfy { $0["laddr"] == "127.0.0.1:\(port)" && $0["addr"]?.hasPrefix("127.0.0.1:") == true })
            #expect(Set(entries.compactMap { $0["fd"] }).count == 4)
            #expect(byName["c0"]?["cmd"] == "client|list" && byName["c1"]?["cmd"] == "client|id" && byName["c3"]?["cmd"] == "subscribe")
            #expect(byName["c3"]?["flags"] == "P" && byName["c3"]?["sub"] == "1" && byName["c0"]?["flags"] == "N")
            let pubsub = lines(try conns[1].request(words("CLIENT", "LIST", "TYPE", "pubsub")))
            #expect(pubsub.map { $0["name"] ?? "" } == ["c3"])
            let info = lines(try conns[2].request(words("CLIENT", "INFO")))
            #expect(info.count == 1 && info.first?["name"] == "c2" && info.first?["cmd"] == "client|info")
            #expect(Int(info.first?["age"] ?? "x") != nil && Int(info.first?["idle"] ?? "x") != nil)

            // c1 killed by ID from c0, c2 by its old-form address from c3 (with two workers, at
            // least one of the two kills crosses workers).
            #expect(try conns[0].request(words("CLIENT", "KILL", "ID", String(ids[1]))) == ":1\r\n")
            #expect(try conns[1].drainUntilClosed(), "the killed connection was not closed")
            let address = try #require(byName["c2"]?["addr"])
            #expect(try conns[3].request(words("UNSUBSCRIBE")).contains("unsubscribe"))
            #expect(try conns[3].request(words("CLIENT", "KILL", address)) == "+OK\r\n")
            #expect(try conns[2].drainUntilClosed(), "the connection killed by address was not closed")
            #expect(try conns[0].request(words("CLIENT", "KILL", "ID", String(ids[1]))) == ":0\r\n")
            let after = lines(try conns[0].request(words("CLIENT", "LIST")))
            // Still in id order, which need not be c0's before c3's.
            #expect(after.map { $0["name"] ?? "" } == byID.filter { $0 == 0 || $0 == 3 }.map { "c\($0)" }, "\(after)")
            let stats = try conns[0].request(words("INFO", "stats"))
            #expect(stats.contains("resp_clients_killed:2\r\n"), "\(stats)")
            // DEBUG OBJECT, as redis formats it.
            #expect(try conns[0].request(words("SET", "dbg", "hello")) == "+OK\r\n")
            let object = try conns[0].request(words("DEBUG", "OBJECT", "dbg"))
            #expect(object.range(of: #"^\+Value at:0x[0-9a-f]+ refcount:1 encoding:embstr serializedlength:6 lru:[0-9]+ lru_seconds_idle:[0-9]+\r\n$"#,
                                 options: .regularExpression) != nil, "\(object)")
            #expect(server.isRunning)
        }
    }
}

/// A blocking loopback connection with a receive timeout, for short exact exchanges (also the
/// list black-box tests').
final class RESPRawConnection {
    let fd: Int32

    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw IntegrationSetupError("connect to 127.0.0.1:\(port) failed")
        }
    }

    deinit { close(fd) }

    /// Sends `text` and returns what arrives within the timeout until a pause of 100 ms after the
    /// first bytes (the replies here are one short line or one small map), or, with `until`,
    /// once that many bytes have arrived.
    func request(_ text: String, until expected: Int? = nil) throws -> String {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw IntegrationSetupError("send failed") }
            sent += n
        }
        if let expected { return try receive(atLeast: expected) }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            reply += buffer[0..<n]
            var short = timeval(tv_sec: 0, tv_usec: 100_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &short, socklen_t(MemoryLayout<timeval>.size))
        }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return String(decoding: reply, as: UTF8.self)
    }

    /// Reads until `count` bytes have arrived (or the 5 s timeout passes).
    func receive(atLeast count: Int) throws -> String {
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while reply.count < count {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            reply += buffer[0..<n]
        }
        return String(decoding: reply, as: UTF8.self)
    }

    /// GET `key` as an integer, nil for a missing key (one request, its whole reply read).
    func getInteger(_ key: String) throws -> Int? {
        let request = Array("*2\r\n$3\r\nGET\r\n$\(key.utf8.count)\r\n\(key)\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else {
            throw IntegrationSetupError("send failed")
        }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            if let cr = reply.firstIndex(of: 0x0D), cr + 1 < reply.count {
                let header = String(decoding: reply[1..<cr], as: UTF8.self)
                guard reply.first == UInt8(ascii: "$"), let length = Int(header) else {
                    throw IntegrationSetupError("unexpected reply \(String(decoding: reply, as: UTF8.self))")
                }
                if length < 0 { return nil }
                if reply.count >= cr + 2 + length + 2 {
                    return Int(String(decoding: reply[(cr + 2)..<(cr + 2 + length)], as: UTF8.self))
                }
            }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw IntegrationSetupError("connection closed") }
            reply += buffer[0..<n]
        }
    }

    /// Reads everything until the peer closes; false if it did not close within the timeout.
    func drainUntilClosed() throws -> Bool {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }
}

/// What the readers of `execIsAtomicAcrossWorkers` saw.
private final class GateObservations: Sendable {
    let done = Atomic<Bool>(false)
    private let state = Mutex<(reads: Int, bad: [Int])>((0, []))

    /// A value read (nil: not created yet); one that is not a multiple of 1,000 is kept.
    func record(_ value: Int?) {
        state.withLock {
            $0.reads += 1
            if let value, value % 1000 != 0 || value < 0 { $0.bad.append(value) }
        }
    }

    var result: (Int, [Int]) { state.withLock { ($0.reads, $0.bad) } }
}
