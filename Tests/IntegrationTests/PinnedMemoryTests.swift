// Memory a client can pin (issue 11), reproduced black-box against the built server by
// Scripts/pinned_memory.py: binary headers declaring 1 MB bodies, `lru_crawler metadump` clients
// that never read, and idle_timeout on such a dump. RSS is read from /proc/<pid>/status.
import Foundation
import Testing
import TestSupport

@Suite("pinned memory")
struct PinnedMemoryTests {
    private func run(_ mode: String, _ extraArguments: [String] = [], _ scriptArguments: [String] = []) async throws {
        let python = try await IntegrationPaths.python()
        let script = try IntegrationPaths.script("pinned_memory.py")
        try await withServer(extraArguments) { server in
            let r = try await ToolRunner.run(
                python, [script, mode, "--port", String(server.port), "--pid", String(server.pid)] + scriptArguments,
                // Alone each mode takes 10-21 s; the whole suite on 2 cores can double that.
                timeout: .seconds(100))
            #expect(r.succeeded, "pinned_memory.py \(mode) failed:\n\(r.report)\nserver log:\n\(server.log)")
            #expect(r.output.contains("PINNED MEMORY CHECK PASSED"), "no success line:\n\(r.report)")
            #expect(server.isRunning, "swiftcached died during pinned_memory.py \(mode); log:\n\(server.log)")
        }
    }

    @Test("binary: 300 headers declaring 1 MB GET bodies are refused from the header, RSS bounded; issue 12's binary rows",
          .hangGuard)
    func binaryHeaders() async throws {
        try await run("binary", [], ["--max-growth-mb", "32"])
    }

    @Test("metadump: 10 clients that never read on 100k items, one dump at a time (BUSY), RSS bounded, slot freed",
          .hangGuard)
    func unreadMetadumps() async throws {
        try await run("metadump", [], ["--items", "100000", "--max-growth-mb", "16"])
    }

    @Test("metadump: idle_timeout closes a dump whose client never reads and frees the slot", .hangGuard)
    func idleMetadump() async throws {
        try await run("idle", ["-o", "idle_timeout=2"], ["--items", "50000"])
    }
}
