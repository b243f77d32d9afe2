// Memory a client can pin through its connections (issue 11): idle connections hold no buffers
// (the worker's read buffer and reply storage are lent only while there is input or output), and
// a client that pipelines gets without reading its replies stops being read, so its output does
// not grow the server. Both measured on the server's RSS by idle_connections.py.
import Foundation
import Testing
import TestSupport

@Suite("connection memory")
struct ConnectionMemoryTests {
    @Test("2,000 idle connections (each sent `version` and read the reply) cost under 4 KB of RSS each",
          .hangGuard)
    func idleConnections() async throws {
        let python = try await IntegrationPaths.python()
        let script = try IntegrationPaths.script("idle_connections.py")
        try await withServer(["-c", "3000", "-t", "2"]) { server in
            let r = try await ToolRunner.run(
                python,
                [script, "idle", "--port", String(server.port), "--pid", String(server.pid),
                 "--conns", "2000", "--seconds", "20", "--max-bytes-per-conn", "4096"],
                timeout: .seconds(40))
            #expect(r.succeeded, "idle_connections.py idle failed:\n\(r.report)\nserver log:\n\(server.log)")
            #expect(r.output.contains("IDLE CONNECTIONS CHECK PASSED"), "no success line:\n\(r.report)")
            #expect(server.isRunning)
        }
    }

    @Test("a client pipelining gets without reading the replies does not grow the server's RSS",
          .hangGuard)
    func pipelinedGetsNeverRead() async throws {
        let python = try await IntegrationPaths.python()
        let script = try IntegrationPaths.script("idle_connections.py")
        try await withServer(["-t", "2"]) { server in
            let r = try await ToolRunner.run(
                python,
                [script, "noread", "--port", String(server.port), "--pid", String(server.pid),
                 "--seconds", "8", "--value-size", "4096", "--max-growth-mb", "16"],
                timeout: .seconds(40))
            #expect(r.succeeded, "idle_connections.py noread failed:\n\(r.report)\nserver log:\n\(server.log)")
            #expect(r.output.contains("NOREAD CHECK PASSED"), "no success line:\n\(r.report)")
            #expect(server.isRunning)
        }
    }
}
