// Black-box tests of broker mode (--broker-port): start the built `swiftcached` binary and drive
// its queue listener with the Python scripts in ./Scripts.
//
//   broker_pymemcache.py  every verb with exact replies (pymemcache 4.0.0 + raw sockets); with
//                         --prefetch/--visibility-timeout, the checks of those two settings
//   broker_crash.py       SIGKILL mid-run with --data-dir and --fsync=always, restart, drain;
//                         the script starts (and always kills) its own servers
//
// Missing prerequisites (swiftcached binary, python3 with pymemcache) make the tests FAIL with a
// message; they are never skipped. SWIFTCACHED_BIN and SWIFTCACHED_PYTHON override the binary
// and the interpreter, as for BlackBoxTests.

import Foundation
import Testing

@Suite("swiftcached broker black-box")
struct BrokerBlackBoxTests {

    private func expectServerAlive(_ server: ServerProcess, _ what: String) {
        #expect(server.isRunning, "swiftcached died during \(what); server log:\n\(server.log)")
    }

    /// Runs `body` with a server whose broker listener is on a fresh free port (given to
    /// `body`), stopping it on every exit path. `ServerProcess.start` only retries the cache
    /// port, so a broker port taken meanwhile is retried here with another one.
    private func withBrokerServer<T>(_ extraArguments: [String] = [],
                                     _ body: (ServerProcess, UInt16) async throws -> T) async throws -> T {
        var failures: [String] = []
        for _ in 0..<3 {
            let brokerPort = try Loopback.freePort()
            let server: ServerProcess
            do {
                server = try await ServerProcess.start(["--broker-port=\(brokerPort)"] + extraArguments)
            } catch let error as IntegrationSetupError {
                failures.append(error.description)
                continue
            }
            defer { server.stop() }
            return try await body(server, brokerPort)
        }
        throw IntegrationSetupError("swiftcached with --broker-port failed to start 3 times:\n"
            + failures.joined(separator: "\n"))
    }

    @Test("broker verbs through pymemcache and raw sockets", .timeLimit(.minutes(2)))
    func brokerPymemcache() async throws {
        let python = try await IntegrationPaths.python(requiring: ["pymemcache"])
        let script = try IntegrationPaths.script("broker_pymemcache.py")
        try await withBrokerServer(["-t", "2"]) { server, brokerPort in
            let r = try await ToolRunner.run(python, [script, String(brokerPort)], timeout: .seconds(90))
            #expect(r.succeeded, "broker_pymemcache.py failed:\n\(r.report)\nserver log:\n\(server.log)")
            #expect(r.output.contains("BROKER CHECKS PASSED"), "no success line:\n\(r.report)")
            expectServerAlive(server, "broker_pymemcache.py")
        }
    }

    @Test("broker --prefetch=3 --visibility-timeout=800: several open reads, reads timing out",
          .timeLimit(.minutes(2)))
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

    @Test("broker journals survive SIGKILL mid-run (--fsync=always)", .timeLimit(.minutes(2)))
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
}
