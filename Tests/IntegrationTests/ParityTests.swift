// Side by side with memcached: Scripts/parity_edges.py sends the same malformed and extreme
// requests to swiftcached and, when /usr/bin/memcached is installed (Tools/test.sh installs it), to
// memcached 1.6.18 started with the same flags; the printed replies must be equal except for the
// cases the script lists in ALLOWED_DIFFERENCES (README's differences on purpose).

import Foundation
import Testing
import TestSupport

// Serialized: each case runs two servers and moves a few MB; run side by side they would only
// add load to the timing-sensitive black-box tests running at the same time.
@Suite("replies equal memcached's", .serialized)
struct ParityTests {
    static let memcached = "/usr/bin/memcached"

    /// The `case ...` lines of the script's output, in order.
    static func cases(_ output: String) -> [String] {
        output.split(separator: "\n").map(String.init).filter { $0.hasPrefix("case ") }
    }

    static func runScript(_ arguments: [String], binary: String? = nil) async throws -> ToolResult {
        let python = try await IntegrationPaths.python()
        let script = try IntegrationPaths.script("parity_edges.py")
        return try await withServer(arguments, binary: binary) { server in
            let r = try await ToolRunner.run(python, [script, "--port", String(server.port)], timeout: .seconds(90))
            #expect(server.isRunning, "\(binary ?? "swiftcached") died during parity_edges.py; log:\n\(server.log)")
            return r
        }
    }

    @Test("parity_edges.py: every reply equal to memcached 1.6.18's under the same -I and -C",
          .hangGuard, arguments: [[], ["-I", "3m", "-C"], ["-I", "512k"]])
    func edgeRepliesEqualMemcached(_ arguments: [String]) async throws {
        let ours = try await Self.runScript(arguments)
        #expect(ours.succeeded && ours.output.contains("PARITY EDGE CASES DONE"), "parity_edges.py failed:\n\(ours.report)")
        let oursCases = Self.cases(ours.output)
        #expect(oursCases.count > 100, "too few cases printed:\n\(ours.report)")
        guard FileManager.default.isExecutableFile(atPath: Self.memcached) else {
            // Without memcached the replies cannot be compared; the run above still shows every
            // case answered without a hang or a crash.
            print("parity_edges.py: \(Self.memcached) not installed, replies not compared")
            return
        }
        let theirs = try await Self.runScript(arguments, binary: Self.memcached)
        #expect(theirs.succeeded && theirs.output.contains("PARITY EDGE CASES DONE"),
                "parity_edges.py against memcached failed:\n\(theirs.report)")
        let theirCases = Self.cases(theirs.output)
        #expect(oursCases.count == theirCases.count, "swiftcached printed \(oursCases.count) cases, memcached \(theirCases.count)")
        var differences: [String] = []
        for (a, b) in zip(oursCases, theirCases) where a != b && !a.contains("[allowed difference: ") {
            differences.append("swiftcached: \(a)\nmemcached:   \(b)")
        }
        let listing = differences.joined(separator: "\n")
        #expect(differences.isEmpty, "replies that differ from memcached's (flags \(arguments)):\n\(listing)")
    }
}
