// Black-box (issue 11, data loss): under `ulimit -n 256`, 1,200 queues with a data directory each
// take one message; after a restart under the same limit every one of them is there. Journals
// and spill files share the broker's bounded descriptor cache, so the queues need no descriptor
// each, and the server stays well under the limit (it must not have raised it either).

import Foundation
import Testing
import TestSupport

@Suite("swiftcached broker under a low descriptor limit")
struct BrokerDescriptorLimitTests {
    static let queues = 1200
    static let limit = 256

    /// A server on fresh ports under `ulimit -n limit`, stopped on every exit path.
    private func withLimitedServer<T>(_ data: String, _ body: (ServerProcess, UInt16) async throws -> T) async throws -> T {
        var failures: [String] = []
        for _ in 0..<3 {
            let brokerPort = try Loopback.freePort()
            let server: ServerProcess
            do {
                // -c 64 keeps what start-up reserves under the limit, so it is not raised.
                server = try await ServerProcess.start(
                    ["-c", "64", "-t", "2", "--broker-port=\(brokerPort)", "--data-dir=\(data)", "--fsync=always"],
                    descriptorLimit: Self.limit)
            } catch let error as IntegrationSetupError {
                failures.append(error.description)
                continue
            }
            defer { server.stop() }
            return try await body(server, brokerPort)
        }
        throw IntegrationSetupError("swiftcached failed to start 3 times:\n" + failures.joined(separator: "\n"))
    }

    /// Descriptors the process holds, and its soft RLIMIT_NOFILE.
    private func descriptors(_ pid: Int32) -> (open: Int, limit: Int?) {
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
        let limits = (try? String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)) ?? ""
        let line = limits.split(separator: "\n").first { $0.hasPrefix("Max open files") }
        let soft = line.flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true)[3]) }
        return (open, soft)
    }

    @Test("1,200 queues under ulimit -n 256: every acknowledged message is back after a restart",
          .hangGuard)
    func twelveHundredQueuesUnderALowLimit() async throws {
        let fm = FileManager.default
        let dir = try IntegrationPaths.serverWritableDirectory("swiftcached-fd-limit")
        defer { try? fm.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data").path
        try await withLimitedServer(data) { server, brokerPort in
            let c = try RawConnection(port: brokerPort)
            // In batches of 100 pipelined sets, each acknowledged once its journal is fsynced.
            for batch in 0..<(Self.queues / 100) {
                var request = ""
                for i in batch * 100..<(batch + 1) * 100 { request += "set q\(i) 0 0 \("message \(i)".utf8.count)\r\nmessage \(i)\r\n" }
                c.send(request)
                var replies = ""
                while replies.components(separatedBy: "\r\n").count <= 100 {
                    let more = c.receive(until: "\r\n")
                    if more.isEmpty { break }
                    replies += more
                }
                #expect(replies == String(repeating: "STORED\r\n", count: 100), "batch \(batch): \(replies.prefix(200))\nlog:\n\(server.log)")
            }
            #expect(c.stat("broker_queues") == Self.queues)
            #expect(c.stat("broker_journal_open_errors") == 0)
            let (open, limit) = descriptors(server.pid)
            #expect(limit == Self.limit, "the limit was raised to \(limit ?? -1)")
            #expect(open > 0 && open < 128, "\(open) descriptors open")
            print("1,200 queues stored: \(open) descriptors open, broker_file_descriptors \(c.stat("broker_file_descriptors") ?? -1), limit \(limit ?? -1)")
            server.stop()
        }
        try await withLimitedServer(data) { server, brokerPort in
            let c = try RawConnection(port: brokerPort)
            var recovered = 0
            for batch in 0..<(Self.queues / 100) {
                var request = ""
                for i in batch * 100..<(batch + 1) * 100 { request += "get q\(i)\r\n" }
                c.send(request)
                var replies = ""
                while replies.components(separatedBy: "END\r\n").count <= 100 {
                    let more = c.receive(until: "END\r\n")
                    if more.isEmpty { break }
                    replies += more
                }
                for i in batch * 100..<(batch + 1) * 100
                where replies.contains("VALUE q\(i) 0 \("message \(i)".utf8.count)\r\nmessage \(i)\r\n") {
                    recovered += 1
                }
            }
            #expect(recovered == Self.queues, "log:\n\(server.log)")
            let (open, limit) = descriptors(server.pid)
            #expect(limit == Self.limit)
            #expect(open > 0 && open < 128, "\(open) descriptors open")
            print("after the restart: \(recovered) of \(Self.queues) messages recovered, \(open) descriptors open")
            #expect(server.isRunning)
        }
    }
}
