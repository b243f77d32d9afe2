// Black-box tests of Redis lists (--redis-port): the transcript of Scripts/resp_lists.py (list
// commands with their edge errors, WRONGTYPE, large elements, blocking pops woken by a push from a
// connection on the other worker, FIFO service, timeouts, a blocked client that closes) against
// swiftcached with -t 2 and against redis-server 7.0, compared line by line; a BLPOP timeout's
// duration; and redis-benchmark's string and list tests (issue 13's CI smoke) finishing without an error.
//
// redis-server and redis-benchmark are prerequisites (Tools/deps.sh test installs them): without
// them the tests fail with a message, they are never skipped.

import Foundation
import Testing
import TestSupport

@Suite("swiftcached Redis lists black-box")
struct RESPListBlackBoxTests {
    @Test("list transcript equals redis-server 7.0's (blocking across workers included)", .hangGuard)
    func listTranscriptMatchesRedis() async throws {
        try await expectTranscriptMatchesRedis("resp_lists.py", marker: "LIST CHECKS PASSED", minimumLines: 21)
    }

    @Test("BLPOP with a 0.5 s timeout answers a null array after about 0.5 s", .hangGuard)
    func blockingPopTimeout() async throws {
        try await withSecondListener("--redis-port", ["-t", "2"]) { server, port in
            let c = try RESPRawConnection(port: port)
            let started = ContinuousClock.now
            let reply = try c.request("*3\r\n$5\r\nBLPOP\r\n$7\r\nbt_none\r\n$3\r\n0.5\r\n", until: 5)
            let took = ContinuousClock.now - started
            #expect(reply == "*-1\r\n")
            #expect(took >= .milliseconds(450) && took < .seconds(3), "BLPOP 0.5 took \(took)")
            // Timeouts of a millisecond or less round up to 1 ms, as redis's ceill (they once
            // truncated to 0, "forever").
            for t in ["0.001", "0.0001"] {
                let r = try c.request("*3\r\n$5\r\nBLPOP\r\n$7\r\nbt_none\r\n$\(t.count)\r\n\(t)\r\n", until: 5)
                #expect(r == "*-1\r\n", "BLPOP \(t)")
            }
            // Answered, the connection takes the next command.
            #expect(try c.request("*1\r\n$4\r\nPING\r\n", until: 7) == "+PONG\r\n")
            #expect(server.isRunning)
        }
    }

    @Test("redis-benchmark -t ping,set,get,incr,lpush,rpush,lpop,rpop,mset -n 100000 and -t lrange -n 10000 finish without errors",
          .hangGuard)
    func redisBenchmarkSmoke() async throws {
        guard let benchmark = IntegrationPaths.findExecutable("redis-benchmark", extraDirectories: ["/usr/bin", "/usr/local/bin"]) else {
            throw IntegrationSetupError("redis-benchmark not found (Tools/deps.sh test installs it)")
        }
        try await withSecondListener("--redis-port", ["-t", "2"]) { server, port in
            let runs: [(tests: String, requests: String, expected: [String])] = [
                ("ping,set,get,incr,lpush,rpush,lpop,rpop,mset", "100000",
                 ["PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "LPUSH", "RPUSH", "LPOP", "RPOP", "MSET (10 keys)"]),
                ("lrange", "10000", ["LRANGE_100", "LRANGE_300", "LRANGE_500", "LRANGE_600"]),
            ]
            for run in runs {
                let r = try await ToolRunner.run(benchmark, ["-p", String(port), "-t", run.tests, "-n", run.requests, "-q"],
                                                 timeout: .seconds(240))
                #expect(r.succeeded, "redis-benchmark failed:\n\(r.report)")
                #expect(!r.output.lowercased().contains("error"), "redis-benchmark reported errors:\n\(r.report)")
                // -q's final line per test: "NAME: N requests per second" or "NAME (what): N ...".
                let results = r.output.split(whereSeparator: { $0 == "\r" || $0 == "\n" })
                    .map { $0.drop(while: { $0 == " " }) }.filter { $0.contains("requests per second") }
                for test in run.expected {
                    #expect(results.contains { $0.hasPrefix(test + ":") || $0.hasPrefix(test + " (") }, "no \(test) result:\n\(r.report)")
                }
            }
            #expect(server.isRunning, "swiftcached died during redis-benchmark; log:\n\(server.log)")
        }
    }
}
