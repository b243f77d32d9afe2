// RLIMIT_NOFILE at start-up (issue 11, FileLimit.swift), black-box under `prlimit --nofile=SOFT:HARD`
// and compared with memcached 1.6.18 where it is installed. memcached sets both limits to -c and
// refuses to start when it cannot ("failed to set rlimit for open files. ...", status 71,
// EX_OSERR); swiftcached raises the soft limit to -c plus its own descriptors and leaves a higher
// hard limit alone. Every start here runs with CAP_SYS_RESOURCE out of the bounding set (setpriv), so
// that root cannot raise the hard limit, whatever the machine grants root.
import Foundation
import Testing
import TestSupport

private let memcachedBinary = IntegrationPaths.findExecutable("memcached", extraDirectories: ["/usr/bin", "/usr/local/bin"])

@Suite("RLIMIT_NOFILE at start-up, as memcached", .hangGuard)
struct StartupDescriptorLimitTests {
    /// The soft and hard "Max open files" of a running process.
    private static func openFileLimits(_ pid: Int32) -> (soft: Int, hard: Int)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Max open files") }) else { return nil }
        let words = line.split(separator: " ")
        guard words.count >= 5, let soft = Int(words[3]), let hard = Int(words[4]) else { return nil }
        return (soft, hard)
    }

    /// Starts `binary -c 1024` under prlimit, checks it answers and returns its limits.
    private func limits(_ soft: Int, _ hard: Int, binary: String? = nil) async throws -> (soft: Int, hard: Int)? {
        let server = try await ServerProcess.start(["-c", "1024"], nofile: (soft, hard), binary: binary)
        defer { server.stop() }
        let c = try RawConnection(port: server.port)
        c.send("version\r\n")
        #expect(c.receive(until: "\r\n").hasPrefix("VERSION "), "\(server.log)")
        return Self.openFileLimits(server.pid)
    }

    @Test("soft limit below -c, hard above: the start raises the soft limit (memcached: both to -c)")
    func softLimitRaised() async throws {
        let ours = try #require(try await limits(100, 4096))
        // -c 1024 and the server's own (stdio, listeners, workers' pipes, headroom): above -c, and
        // the hard limit, which was high enough, left as it was.
        #expect(ours.soft > 1024 && ours.soft < 4096 && ours.hard == 4096, "\(ours)")
        if let memcachedBinary {
            let theirs = try #require(try await limits(100, 4096, binary: memcachedBinary))
            #expect(theirs.soft == 1024 && theirs.hard == 1024, "memcached: \(theirs)")
        }
    }

    @Test("hard limit holding -c but not the server's own: the start goes on with the soft limit at the hard one, as memcached starts")
    func hardLimitJustAboveConnections() async throws {
        let ours = try #require(try await limits(100, 1030))
        #expect(ours.soft == 1030 && ours.hard == 1030, "\(ours)")
        if let memcachedBinary {
            let theirs = try #require(try await limits(100, 1030, binary: memcachedBinary))
            #expect(theirs.soft == 1024 && theirs.hard == 1024, "memcached: \(theirs)")
        }
    }

    /// `binary -c 1024` under a hard limit of 100 that cannot be raised.
    private func refused(_ binary: String) async throws -> ToolResult {
        let port = try Loopback.freePort()
        let command = IntegrationPaths.withoutRaisableLimits(["/usr/bin/prlimit", "--nofile=100:100", binary,
                                                              "-p", String(port), "-l", "127.0.0.1", "-U", "0", "-c", "1024"]
                                                             + IntegrationPaths.privilegeArguments)
        return try await ToolRunner.run(command[0], Array(command.dropFirst()), timeout: .seconds(10))
    }

    @Test("hard limit below -c, not raisable: the start is refused in memcached's words and status")
    func hardLimitBelowConnections() async throws {
        let ours = try await refused(try IntegrationPaths.serverBinary())
        #expect(!ours.timedOut && ours.status == 71
                && ours.output == "failed to set rlimit for open files. Try starting as root or requesting smaller maxconns value.\n",
                "\(ours.report)")
        if let memcachedBinary {
            let theirs = try await refused(memcachedBinary)
            #expect(theirs.status == ours.status && theirs.output == ours.output, "memcached: \(theirs.report)\nswiftcached: \(ours.report)")
        }
    }
}

extension IntegrationPaths {
    /// `command` run so that it cannot raise its hard limits: as root, under setpriv with
    /// CAP_SYS_RESOURCE out of the bounding set (root may have it, or not, depending on the
    /// machine); any other user cannot raise them anyway (and may not drop bounding capabilities).
    static func withoutRaisableLimits(_ command: [String]) -> [String] {
        geteuid() == 0 ? ["/usr/bin/setpriv", "--bounding-set=-sys_resource"] + command : command
    }
}
