// -c as memcached 1.6.18 applies it (issue 12): memcached's own descriptors (its event bases, four
// per worker, its listening sockets) come out of -c, so `-c 40 -t 2` admits fewer than 40 clients,
// each worker four fewer, and the one over gets "ERROR Too many open connections" and is closed
// (rejected_connections); a -c too small for memcached's own descriptors refuses the start with the
// words of the allocation that failed. Both start with stdio only (descriptors a parallel test
// leaves open would otherwise be inherited and counted). The counts are compared with memcached
// where it is installed; without it the relations between them still hold (four per worker, one
// per -c).
import Foundation
import Testing
import TestSupport

/// memcached, when installed.
private let memcachedBinary = IntegrationPaths.findExecutable("memcached", extraDirectories: ["/usr/bin", "/usr/local/bin"])

@Suite("-c admission as memcached 1.6.18's", .serialized, .hangGuard)
struct AdmissionParityTests {
    /// Clients a server admits before refusing one, the refusal's words, and rejected_connections.
    private func admission(_ args: [String], binary: String? = nil) async throws -> (admitted: Int, refusal: String, rejected: String?) {
        let server = try await ServerProcess.start(args, binary: binary, onlyStdio: true)
        defer { server.stop() }
        let first = try RawConnection(port: server.port)
        first.setReceiveTimeout(milliseconds: 2000)
        // The start-up probe's connection may not be closed yet on a loaded machine.
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            first.send("stats\r\n")
            if first.receive(until: "END\r\n").contains("STAT curr_connections 1\r\n") { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        var open = [first]
        var refusal = ""
        while open.count < 200 {
            let c = try RawConnection(port: server.port)
            c.setReceiveTimeout(milliseconds: 2000)
            c.send("version\r\n")
            let reply = c.receive(until: "\r\n")
            guard reply.hasPrefix("VERSION ") else {
                refusal = reply
                break
            }
            open.append(c)
        }
        first.send("stats\r\n")
        let rejected = first.receive(until: "END\r\n").split(separator: "\r\n")
            .first { $0.hasPrefix("STAT rejected_connections ") }.map { String($0.split(separator: " ")[2]) }
        return (open.count, refusal, rejected)
    }

    @Test("clients admitted for -c and -t: memcached's count, four fewer per worker, one more per -c; the next refused in its words")
    func admittedCounts() async throws {
        var counts: [String: Int] = [:]
        for args in [["-c", "40", "-t", "1"], ["-c", "41", "-t", "1"], ["-c", "40", "-t", "2"], ["-c", "40", "-t", "4"]] {
            let ours = try await admission(args)
            #expect(ours.refusal == "ERROR Too many open connections\r\n", "\(args)")
            #expect(ours.rejected == "1", "\(args)")
            counts[args.joined(separator: " ")] = ours.admitted
            if let memcachedBinary {
                let theirs = try await admission(args, binary: memcachedBinary)
                #expect(theirs.admitted == ours.admitted && theirs.refusal == ours.refusal && theirs.rejected == ours.rejected,
                        "\(args): memcached \(theirs), swiftcached \(ours)")
            }
        }
        #expect(counts["-c 41 -t 1"]! == counts["-c 40 -t 1"]! + 1)
        #expect(counts["-c 40 -t 2"]! == counts["-c 40 -t 1"]! - 4)
        #expect(counts["-c 40 -t 4"]! == counts["-c 40 -t 1"]! - 12)
        // stdio and memcached's own (main event base 3, a worker's 4, the listener): 40 - 1 - 11.
        #expect(counts["-c 40 -t 1"]! == 28)
    }

    /// One start on a free port; again on another when a parallel test took the port between
    /// the pick and the bind (the listener comes before the workers' descriptors here).
    private func run(_ binary: String, _ args: [String]) async throws -> ToolResult {
        var result: ToolResult
        var attempts = 0
        repeat {
            attempts += 1
            let port = try Loopback.freePort()
            result = try await ToolRunner.run("/bin/bash", ["-c", IntegrationPaths.closeInherited + "exec \"$0\" \"$@\"", binary,
                                                          "-p", String(port), "-l", "127.0.0.1", "-U", "0"] + IntegrationPaths.privilegeArguments + args,
                                              timeout: .seconds(10))
        } while result.output.contains("Address already in use") && attempts < 3
        return result
    }

    @Test("a -c too small for memcached's own descriptors refuses the start in its words and status", arguments: [
        (["-c", "10", "-t", "4"], Int32(1), "failed creating eventfd for worker thread: Too many open files\n"),
        (["-c", "12", "-t", "4"], Int32(1),
         "[warn] evutil_make_internal_pipe_: pipe: Too many open files\n[err] evsig_init_: socketpair: Too many open files\n"),
        (["-c", "11", "-t", "4"], Int32(1),
         "[warn] epoll_create: Too many open files\n[warn] evutil_make_internal_pipe_: pipe: Too many open files\n[err] evsig_init_: socketpair: Too many open files\n"),
        (["-c", "6", "-t", "2"], Int32(1), "Failed to duplicate file descriptor\n: Too many open files\n"),
        (["-c", "10", "-t", "1"], Int32(71), "server_socket: Too many open files\n"),
    ])
    func startRefused(_ args: [String], _ status: Int32, _ text: String) async throws {
        let ours = try await run(try IntegrationPaths.serverBinary(), args)
        #expect(!ours.timedOut && ours.status == status && ours.output == text, "\(ours.report)")
        if let memcachedBinary {
            let theirs = try await run(memcachedBinary, args)
            #expect(theirs.status == ours.status && theirs.output == ours.output, "memcached: \(theirs.report)\nswiftcached: \(ours.report)")
        }
    }
}
