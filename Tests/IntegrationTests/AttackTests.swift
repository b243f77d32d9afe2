// Attack tests (issue 11), black-box against the built server through Scripts/attack.py, each
// bounded in connections and time, only against 127.0.0.1, each asserting its bound: slowloris
// against a victim's p99, 5,000 idle connections on every port, clients that never read on every
// port, connection churn, and journals damaged at random offsets. The bounds are the script's
// arguments here; the figures they were set from are in the commit that added them.
import Foundation
import Testing
import TestSupport

@Suite("attacks", .serialized)
struct AttackTests {
    /// Runs attack.py `mode` against `server` and expects its success line.
    private func attack(_ mode: String, _ server: ServerProcess?, _ arguments: [String],
                        timeout: Duration = .seconds(50)) async throws {
        let python = try await IntegrationPaths.python()
        let script = try IntegrationPaths.script("attack.py")
        var args = [script, mode] + arguments
        if let server { args += ["--port", String(server.port), "--pid", String(server.pid)] }
        let r = try await ToolRunner.run(python, args, timeout: timeout)
        let log = server?.log ?? ""
        #expect(r.succeeded, "attack.py \(mode) failed:\n\(r.report)\nserver log:\n\(log)")
        #expect(r.output.contains("ATTACK \(mode.uppercased()) CHECK PASSED"), "no success line:\n\(r.report)")
        if let server {
            #expect(server.isRunning, "swiftcached died during attack.py \(mode); log:\n\(log)")
        }
    }

    /// A server listening on the cache, broker and Redis ports (fresh free ones, retried if one
    /// was taken meanwhile), stopped on every exit path.
    private func withEveryPort(_ extra: [String], _ body: (ServerProcess, UInt16, UInt16) async throws -> Void) async throws {
        var failures: [String] = []
        for _ in 0..<3 {
            let broker = try Loopback.freePort()
            let redis = try Loopback.freePort()
            let server: ServerProcess
            do {
                server = try await ServerProcess.start(["--broker-port=\(broker)", "--redis-port=\(redis)"] + extra)
            } catch let error as IntegrationSetupError {
                failures.append(error.description)
                continue
            }
            defer { server.stop() }
            try await body(server, broker, redis)
            return
        }
        throw IntegrationSetupError("swiftcached with every port failed to start 3 times:\n" + failures.joined(separator: "\n"))
    }

    @Test("slowloris: 500 connections trickling a byte every 300 ms; a victim's p99 stays under max(10x its baseline, 50 ms); curr_connections counts them",
          .hangGuard)
    func slowloris() async throws {
        try await withServer(["-c", "1024", "-t", "2"]) { server in
            try await attack("slowloris", server, ["--conns", "500", "--interval", "0.3", "--seconds", "3",
                                                   "--max-factor", "10", "--floor-ms", "50"])
        }
    }

    @Test("5,000 idle connections on each of the cache, broker and Redis ports (15,000 at once): under 4 KB of RSS each, every port still answers",
          .hangGuard)
    func idleConnections() async throws {
        try await withEveryPort(["-c", "15500", "-t", "2"]) { server, broker, redis in
            try await attack("idle", server, ["--broker-port", String(broker), "--redis-port", String(redis),
                                              "--conns", "5000", "--seconds", "25", "--max-bytes-per-conn", "4096"])
        }
    }

    @Test("clients that never read, on every port (pipelined gets, 59,999-key multi-gets, broker peeks, Redis GETs and 50,000-key MGETs): RSS bounded, the stall counted, others served",
          .hangGuard)
    func neverReading() async throws {
        try await withEveryPort(["-t", "2"]) { server, broker, redis in
            try await attack("noread", server, ["--broker-port", String(broker), "--redis-port", String(redis),
                                                "--clients", "5", "--seconds", "4", "--max-growth-mb", "32"])
        }
    }

    @Test("churn: 20,000 connect/send/close cycles from 4 threads; no descriptor leaked, curr_connections back, total_connections counts them",
          .hangGuard)
    func churn() async throws {
        try await withServer(["-t", "2"]) { server in
            try await attack("churn", server, ["--cycles", "20000", "--threads", "4", "--rate", "4000", "--seconds", "40"])
        }
    }

    @Test("100 journals damaged at random offsets (seeded, the seed printed), 4 restarts: every untouched acknowledged message delivered, damage copied and counted",
          .hangGuard)
    func corruptedJournals() async throws {
        let dir = try IntegrationPaths.serverWritableDirectory("swiftcached-attack-journal")
        defer { try? FileManager.default.removeItem(at: dir) }
        try await attack("journal", nil, ["--binary", try IntegrationPaths.serverBinary(), "--work-dir", dir.path,
                                          "--cases", "100", "--rounds", "4", "--messages", "20"])
    }
}
