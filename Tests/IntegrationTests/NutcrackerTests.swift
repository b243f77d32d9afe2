// Scale-out behind nutcracker (twemproxy, Debian's `nutcracker`), as README's "Several instances
// behind nutcracker" deploys it: three swiftcached instances, their cache ports in a ketama pool
// and their broker ports in a pool with hash_tag "{}". The script (nutcracker_scaleout.py)
// writes the configuration into a temporary directory, runs nutcracker on free ports and always
// kills it; this test starts and stops the three servers.
//
// Skipped, with the reason, only when nutcracker is not installed (Tools/deps.sh test installs
// it, as CI does).

import Foundation
import Testing
import TestSupport

@Suite("swiftcached behind nutcracker")
struct NutcrackerTests {
    static let nutcracker = IntegrationPaths.findExecutable("nutcracker", extraDirectories: ["/usr/sbin", "/usr/local/sbin"])

    @Test("three instances behind nutcracker: cache keys spread by ketama, queues kept whole by a {hash tag}",
          .enabled(if: nutcracker != nil, "nutcracker is not installed (Debian package nutcracker; `Tools/deps.sh test` installs it)"),
          .hangGuard)
    func scaleOut() async throws {
        let nutcracker = try #require(Self.nutcracker)
        let python = try await IntegrationPaths.python()
        let script = try IntegrationPaths.script("nutcracker_scaleout.py")
        let args = ["-t", "1", "-m", "16"]
        try await withSecondListener("--broker-port", args) { s1, b1 in
            try await withSecondListener("--broker-port", args) { s2, b2 in
                try await withSecondListener("--broker-port", args) { s3, b3 in
                    let servers = [s1, s2, s3]
                    let r = try await ToolRunner.run(
                        python,
                        [script, "--nutcracker", nutcracker,
                         "--cache", servers.map { String($0.port) }.joined(separator: ","),
                         "--broker", [b1, b2, b3].map(String.init).joined(separator: ",")],
                        timeout: .seconds(100))
                    #expect(r.succeeded, "nutcracker_scaleout.py failed:\n\(r.report)\nserver logs:\n\(servers.map(\.log).joined(separator: "\n---\n"))")
                    #expect(r.output.contains("NUTCRACKER CHECKS PASSED"), "no success line:\n\(r.report)")
                    for s in servers { #expect(s.isRunning, "swiftcached died behind nutcracker; log:\n\(s.log)") }
                }
            }
        }
    }
}
