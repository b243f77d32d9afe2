// Warm restart (-e) end to end: a server with a memory file is filled, stopped with SIGUSR1, and
// started again on the same file. Items come back with value, flags, CAS and TTL; changed layout
// settings, a damaged metadata file and a truncated memory file start empty with the reason on
// stderr; a memory file with bytes overwritten restores only intact items (never a wrong value).
// Each test uses its own directory and stops every server it starts.
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite("warm restart (-e)", .serialized)
struct WarmRestartTests {
    /// Fills `n` items on a server started with `args`, stops it with SIGUSR1 (exit status 0,
    /// metadata written). Returns the state file the check reads.
    private func fillAndStop(_ args: [String], n: Int, dir: URL, python: String) async throws -> String {
        let state = dir.appendingPathComponent("state.json").path
        let server = try await ServerProcess.start(args)
        defer { server.stop() }
        let fill = try await ToolRunner.run(python, [try IntegrationPaths.script("warm_restart.py"), "fill", String(server.port), String(n), state],
                                            timeout: .seconds(120))
        try #require(fill.succeeded, "fill failed:\n\(fill.report)\nserver log:\n\(server.log)")
        let status = server.signalAndWait(SIGUSR1, upTo: .seconds(30))
        #expect(status == 0, "SIGUSR1: exit status \(String(describing: status)); log:\n\(server.log)")
        #expect(server.log.contains("[restart] saved"), "no save line:\n\(server.log)")
        let meta = dir.appendingPathComponent("cache.mem.meta").path
        #expect(FileManager.default.fileExists(atPath: meta), "no \(meta) after SIGUSR1")
        return state
    }

    private func run(_ python: String, _ mode: String, _ server: ServerProcess, _ n: Int, _ state: String? = nil) async throws -> ToolResult {
        try await ToolRunner.run(python, [try IntegrationPaths.script("warm_restart.py"), mode, String(server.port), String(n)] + (state.map { [$0] } ?? []),
                                 timeout: .seconds(120))
    }

    @Test("100k items with CAS and TTLs survive a SIGUSR1 restart; the meta is gone after the restore", .hangGuard)
    func itemsSurvive() async throws {
        let python = try await IntegrationPaths.python()
        let dir = try IntegrationPaths.serverWritableDirectory("warm")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("cache.mem").path
        let args = ["-m", "256", "-e", file]
        let n = 100_000
        let state = try await fillAndStop(args, n: n, dir: dir, python: python)
        // Longer than the 2 s TTLs: those must come back expired, the clock counting the downtime.
        try await Task.sleep(for: .seconds(3))
        let server = try await ServerProcess.start(args)
        defer { server.stop() }
        #expect(server.log.contains("[restart] recovered"), "log:\n\(server.log)")
        #expect(!FileManager.default.fileExists(atPath: file + ".meta"), "the meta must not outlive the restore")
        let check = try await run(python, "check", server, n, state)
        #expect(check.succeeded, "check failed:\n\(check.report)\nserver log:\n\(server.log)")
        let c = try RawConnection(port: server.port)
        c.send("stats settings\r\n")
        #expect(c.receive(until: "END\r\n").contains("STAT memory_file \(file)\r\n"))
        // A new set after the restore gets a CAS above every restored one.
        c.send("set fresh 0 0 1\r\nx\r\ngets fresh\r\n")
        let reply = c.receive(until: "END\r\n")
        let casText = reply.split(separator: "\r\n").first { $0.hasPrefix("VALUE fresh") }?.split(separator: " ").last
        let cas = casText.flatMap { Int($0) } ?? 0
        #expect(cas > n, "CAS counter restarted: \(reply)")
    }

    @Test("changed -m or -I: starts empty and says why", .hangGuard)
    func layoutChange() async throws {
        let python = try await IntegrationPaths.python()
        for (changed, reason) in [(["-m", "128"], "memory limit (-m) changed"), (["-I", "2m"], "item size max (-I) changed")] {
            let dir = try IntegrationPaths.serverWritableDirectory("warm-layout")
            defer { try? FileManager.default.removeItem(at: dir) }
            let file = dir.appendingPathComponent("cache.mem").path
            _ = try await fillAndStop(["-m", "256", "-e", file], n: 2000, dir: dir, python: python)
            let server = try await ServerProcess.start((changed.first == "-m" ? changed : ["-m", "256"] + changed) + ["-e", file])
            defer { server.stop() }
            #expect(server.log.contains("[restart] \(reason)"), "log:\n\(server.log)")
            #expect(server.log.contains("starting with a clean cache"), "log:\n\(server.log)")
            let empty = try await run(python, "empty", server, 2000)
            #expect(empty.succeeded, "\(empty.report)")
        }
    }

    @Test("damaged meta or truncated memory file: starts empty; overwritten memory: only intact items", .hangGuard)
    func damage() async throws {
        let python = try await IntegrationPaths.python()
        let n = 20_000
        // 1. Bytes of the meta overwritten: its checksum fails, the cache starts empty.
        // 2. The memory file cut to half: its size no longer matches, the cache starts empty.
        // 3. Bytes of the memory file overwritten at 40 offsets in the pages in use: the items
        //    there fail their checksum and are dropped; every item served is exact.
        for scenario in ["meta", "truncate", "memory"] {
            let dir = try IntegrationPaths.serverWritableDirectory("warm-damage")
            defer { try? FileManager.default.removeItem(at: dir) }
            let file = dir.appendingPathComponent("cache.mem").path
            let args = ["-m", "64", "-e", file]
            let state = try await fillAndStop(args, n: n, dir: dir, python: python)
            var generator = SeededBytes(seed: 12)
            switch scenario {
            case "meta":
                let size = try #require(fileSize(file + ".meta"))
                for _ in 0..<6 { try overwrite(file + ".meta", at: Int(generator.next() % UInt64(size - 8)), bytes: generator.bytes(8)) }
            case "truncate":
                let size = try #require(fileSize(file))
                #expect(truncate(file, off_t(size / 2)) == 0)
            default:
                // The pages taken start after the 64 KB prefix; 20k small items fill about 8 MB.
                for _ in 0..<40 { try overwrite(file, at: 65536 + Int(generator.next() % UInt64(8 << 20)), bytes: generator.bytes(16)) }
            }
            let server = try await ServerProcess.start(args)
            defer { server.stop() }
            #expect(server.isRunning, "log:\n\(server.log)")
            if scenario == "memory" {
                let intact = try await run(python, "intact", server, n, state)
                #expect(intact.succeeded, "a damaged file served a wrong value:\n\(intact.report)\nlog:\n\(server.log)")
                let present = Int(intact.output.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
                #expect(present > n / 2, "most items are intact; \(present) came back. log:\n\(server.log)")
                #expect(server.log.contains("[restart] recovered"), "log:\n\(server.log)")
                #expect(server.log.contains("damaged items dropped"), "the overwritten bytes hit no item? log:\n\(server.log)")
            } else {
                #expect(server.log.contains("starting with a clean cache"), "log:\n\(server.log)")
                let empty = try await run(python, "empty", server, n)
                #expect(empty.succeeded, "\(empty.report)\nlog:\n\(server.log)")
            }
            // The server that started from damage works normally.
            let c = try RawConnection(port: server.port)
            c.send("set after 0 0 2\r\nok\r\nget after\r\n")
            #expect(c.receive(until: "END\r\n").hasSuffix("VALUE after 0 2\r\nok\r\nEND\r\n"))
        }
    }

    @Test("a second server on the same memory file is refused, the first keeps its items", .hangGuard)
    func fileLocked() async throws {
        let dir = try IntegrationPaths.serverWritableDirectory("warm-lock")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("cache.mem").path
        let first = try await ServerProcess.start(["-e", file])
        defer { first.stop() }
        let c = try RawConnection(port: first.port)
        c.send("set k 0 0 1\r\nv\r\n")
        #expect(c.receive(until: "\r\n") == "STORED\r\n")
        let second = try await ToolRunner.run(try IntegrationPaths.serverBinary(),
                                              ["-p", "0", "-U", "0"] + IntegrationPaths.privilegeArguments + ["-e", file], timeout: .seconds(20))
        #expect(second.output.contains("is in use by another process"), "\(second.report)")
        c.send("get k\r\n")
        #expect(c.receive(until: "END\r\n") == "VALUE k 0 1\r\nv\r\nEND\r\n")
    }

    @Test("SIGUSR1 without -e: a graceful stop, exit status 0, as memcached", .hangGuard)
    func gracefulWithoutFile() async throws {
        let server = try await ServerProcess.start()
        defer { server.stop() }
        let status = server.signalAndWait(SIGUSR1, upTo: .seconds(10))
        #expect(status == 0, "log:\n\(server.log)")
        #expect(server.log.contains("Gracefully stopping"))
    }
}

/// A deterministic byte source (splitmix64), so that a failing damage test can be replayed.
private struct SeededBytes {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) } }
}

private func fileSize(_ path: String) -> Int? {
    var st = stat()
    return stat(path, &st) == 0 ? Int(st.st_size) : nil
}

private func overwrite(_ path: String, at offset: Int, bytes: [UInt8]) throws {
    let fd = open(path, O_WRONLY)
    guard fd >= 0 else { throw IntegrationSetupError("open \(path) failed") }
    defer { close(fd) }
    let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
    guard n == bytes.count else { throw IntegrationSetupError("pwrite \(path) failed") }
}
