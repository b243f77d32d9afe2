// Black-box tests: start the built `swiftcached` binary on a free loopback
// port and drive it with memccapable and the Python scripts in ./Scripts.
// Every script was validated against memcached 1.6.18; see Scripts/*.py.
//
// Missing prerequisites (swiftcached binary, memccapable, python3 with
// pymemcache) make the tests FAIL with a message; they are never skipped.
//
// Environment overrides:
//   SWIFTCACHED_BIN              path of the server binary
//   SWIFTCACHED_PYTHON           python3 interpreter to use
//   SWIFTCACHED_RSS_OVERHEAD_MB  allowed RSS above the -m limit in the
//                                eviction test (default 24)

import Foundation
import Testing
import TestSupport

@Suite("swiftcached black-box")
struct BlackBoxTests {

    /// The number of ASCII tests memccapable (libmemcached-tools 1.1.x) runs
    /// with `-a`; memcached 1.6.18 passes all of them.
    static let memccapableASCIITests = 27

    static let defaultRSSOverheadMB = 24

    private func expectServerAlive(_ server: ServerProcess, _ what: String) {
        #expect(server.isRunning, "swiftcached died during \(what); server log:\n\(server.log)")
    }

    @Test("memccapable -a: all 27 ASCII protocol tests pass", .hangGuard)
    func memccapableASCII() async throws {
        guard let tool = IntegrationPaths.findExecutable("memccapable") else {
            throw IntegrationSetupError(
                "memccapable not found in PATH or /usr/bin (install Debian package libmemcached-tools)")
        }
        try await withServer { server in
            let r = try await ToolRunner.run(
                tool, ["-h", "127.0.0.1", "-p", String(server.port), "-a"], timeout: .seconds(120))
            let lines = r.output.split(whereSeparator: \.isNewline).map(String.init)
            let passed = lines.filter { $0.hasPrefix("ascii ") && $0.hasSuffix("[pass]") }
            let failed = lines.filter { $0.contains("[FAIL]") }
            #expect(r.succeeded, "memccapable failed:\n\(r.report)\nserver log:\n\(server.log)")
            #expect(failed.isEmpty, "memccapable failures:\n\(failed.joined(separator: "\n"))\n\(r.report)")
            #expect(r.output.contains("All tests passed"), "no 'All tests passed' line:\n\(r.report)")
            #expect(passed.count == Self.memccapableASCIITests,
                    "expected \(Self.memccapableASCIITests) '[pass]' lines, got \(passed.count):\n\(r.report)")
            expectServerAlive(server, "memccapable")
        }
    }

    @Test("memccapable -b: all 27 binary protocol tests pass", .hangGuard)
    func memccapableBinary() async throws {
        guard let tool = IntegrationPaths.findExecutable("memccapable") else {
            throw IntegrationSetupError(
                "memccapable not found in PATH or /usr/bin (install Debian package libmemcached-tools)")
        }
        try await withServer { server in
            let r = try await ToolRunner.run(
                tool, ["-h", "127.0.0.1", "-p", String(server.port), "-b"], timeout: .seconds(120))
            let lines = r.output.split(whereSeparator: \.isNewline).map(String.init)
            let passed = lines.filter { $0.hasPrefix("binary ") && $0.hasSuffix("[pass]") }
            let failed = lines.filter { $0.contains("[FAIL]") }
            #expect(r.succeeded, "memccapable -b failed:\n\(r.report)\nserver log:\n\(server.log)")
            #expect(failed.isEmpty, "memccapable -b failures:\n\(failed.joined(separator: "\n"))\n\(r.report)")
            #expect(passed.count == 27, "expected 27 '[pass]' lines, got \(passed.count):\n\(r.report)")
            expectServerAlive(server, "memccapable -b")
        }
    }

    @Test("pymemcache round trips", .hangGuard)
    func pymemcacheRoundtrip() async throws {
        let python = try await IntegrationPaths.python(requiring: ["pymemcache"])
        let script = try IntegrationPaths.script("pymemcache_roundtrip.py")
        try await withServer { server in
            let r = try await ToolRunner.run(
                python, [script, "--port", String(server.port)], timeout: .seconds(90))
            #expect(r.succeeded, "pymemcache_roundtrip.py failed:\n\(r.report)\nserver log:\n\(server.log)")
            #expect(r.output.contains("PYMEMCACHE CHECKS PASSED"), "no success line:\n\(r.report)")
            expectServerAlive(server, "pymemcache_roundtrip.py")
        }
    }

    @Test("values up to 3 MB, whole or in pieces, text, meta and binary, read straight into items",
          .hangGuard)
    func largeValues() async throws {
        let python = try await IntegrationPaths.python()
        let script = try IntegrationPaths.script("large_values.py")
        try await withServer(["-I", "4m", "-m", "128"]) { server in
            let r = try await ToolRunner.run(
                python, [script, "--port", String(server.port)], timeout: .seconds(90))
            #expect(r.succeeded, "large_values.py failed:\n\(r.report)\nserver log:\n\(server.log)")
            #expect(r.output.contains("LARGE VALUE CHECKS PASSED"), "no success line:\n\(r.report)")
            expectServerAlive(server, "large_values.py")
        }
    }

    @Test("exact protocol replies for edge cases", .hangGuard)
    func protocolEdges() async throws {
        let python = try await IntegrationPaths.python()
        let script = try IntegrationPaths.script("protocol_edges.py")
        try await withServer { server in
            let r = try await ToolRunner.run(
                python, [script, "--port", String(server.port)], timeout: .seconds(90))
            #expect(r.succeeded, "protocol_edges.py failed:\n\(r.report)\nserver log:\n\(server.log)")
            #expect(r.output.contains("ALL PROTOCOL EDGE CHECKS PASSED"), "no success line:\n\(r.report)")
            expectServerAlive(server, "protocol_edges.py")
        }
    }

    @Test("UDP (-U): frame headers, replies split into 1400-byte datagrams, multi-datagram requests refused",
          .hangGuard)
    func udpRoundTrips() async throws {
        let python = try await IntegrationPaths.python()
        let script = try IntegrationPaths.script("udp_roundtrip.py")
        let udpPort = try Loopback.freePort()
        try await withServer(["-U", String(udpPort)]) { server in
            let r = try await ToolRunner.run(python, [script, "--port", String(udpPort), "--tcp-port", String(server.port)],
                                             timeout: .seconds(30))
            #expect(r.succeeded, "udp_roundtrip.py failed:\n\(r.report)\nserver log:\n\(server.log)")
            #expect(r.output.contains("ALL UDP CHECKS PASSED"), "no success line:\n\(r.report)")
            expectServerAlive(server, "udp_roundtrip.py")
        }
    }

    @Test("pylibmc (C libmemcached) round trips", .hangGuard)
    func pylibmcRoundTrips() async throws {
        let python = try await IntegrationPaths.python(requiring: ["pylibmc"])
        let script = try IntegrationPaths.script("pylibmc_roundtrip.py")
        try await withServer { server in
            let r = try await ToolRunner.run(
                python, [script, "--port", String(server.port)], timeout: .seconds(90))
            #expect(r.succeeded, "pylibmc_roundtrip.py failed:\n\(r.report)\nserver log:\n\(server.log)")
            #expect(r.output.contains("PYLIBMC CHECKS PASSED"), "no success line:\n\(r.report)")
            expectServerAlive(server, "pylibmc_roundtrip.py")
        }
    }

    @Test("meta protocol (mg ms md ma me mn) answers as memcached 1.6.18", .hangGuard)
    func metaProtocol() async throws {
        let python = try await IntegrationPaths.python()
        let script = try IntegrationPaths.script("meta_protocol.py")
        try await withServer { server in
            let r = try await ToolRunner.run(
                python, [script, "--port", String(server.port)], timeout: .seconds(90))
            #expect(r.succeeded, "meta_protocol.py failed:\n\(r.report)\nserver log:\n\(server.log)")
            #expect(r.output.contains("META PROTOCOL CHECKS PASSED"), "no success line:\n\(r.report)")
            expectServerAlive(server, "meta_protocol.py")
        }
    }

    @Test("eviction under -m 8 keeps serving and bounds RSS", .hangGuard)
    func eviction() async throws {
        let python = try await IntegrationPaths.python()
        let script = try IntegrationPaths.script("eviction.py")
        let overhead = ProcessInfo.processInfo.environment["SWIFTCACHED_RSS_OVERHEAD_MB"]
            .flatMap { Int($0) } ?? Self.defaultRSSOverheadMB
        try await withServer(["-m", "8"]) { server in
            let r = try await ToolRunner.run(
                python,
                [script, "--port", String(server.port), "--pid", String(server.pid),
                 "--slab-mb", "8", "--overhead-mb", String(overhead)],
                timeout: .seconds(150))
            #expect(r.succeeded, "eviction.py failed:\n\(r.report)\nserver log:\n\(server.log)")
            #expect(r.output.contains("EVICTION CHECK PASSED"), "no success line:\n\(r.report)")
            expectServerAlive(server, "eviction.py")
        }
    }

    @Test("50 concurrent connections: no corrupted or malformed replies", .hangGuard)
    func concurrentStress() async throws {
        let python = try await IntegrationPaths.python()
        let script = try IntegrationPaths.script("stress.py")
        try await withServer(["-t", "4"]) { server in
            let r = try await ToolRunner.run(
                python,
                [script, "--port", String(server.port), "--conns", "50", "--seconds", "8"],
                timeout: .seconds(120))
            #expect(r.succeeded, "stress.py failed:\n\(r.report)\nserver log:\n\(server.log)")
            #expect(r.output.contains("STRESS CHECK PASSED"), "no success line:\n\(r.report)")
            expectServerAlive(server, "stress.py")
        }
    }
}
