// Black-box tests of -Z (TLS as memcached 1.6.18 offers it): a self-signed certificate made by
// openssl in a temporary directory; `openssl s_client` on the cache and broker ports, pymemcache's
// tls_context and redis-py's ssl=True (Scripts/tls_clients.py); a plain client on a TLS port
// failing its handshake (ssl_handshake_errors); start-up refused without a certificate or key;
// refresh_certs; and, with Debian's memcached (built with TLS), the same stats and settings names.
//
// openssl, pymemcache and redis-py are prerequisites (Tools/deps.sh test installs them): without
// them these tests FAIL with a message, they are never skipped.
import Foundation
import Testing
import TestSupport
@testable import swiftcached

/// memcached, when installed.
private let memcachedBinary = IntegrationPaths.findExecutable("memcached", extraDirectories: ["/usr/bin", "/usr/local/bin"])

/// A self-signed certificate and its key (CN=localhost), in a directory the server (as nobody)
/// can read; removed by `remove()`.
private struct TestCertificate {
    let directory: URL
    var cert: String { directory.appendingPathComponent("cert.pem").path }
    var key: String { directory.appendingPathComponent("key.pem").path }
    /// The flags that serve this certificate.
    var flags: [String] { ["-Z", "-o", "ssl_chain_cert=\(cert),ssl_key=\(key)"] }

    static func make() async throws -> TestCertificate {
        guard let openssl = IntegrationPaths.findExecutable("openssl") else {
            throw IntegrationSetupError("openssl not found (Tools/deps.sh test installs it)")
        }
        let dir = try IntegrationPaths.serverWritableDirectory("swiftcached-tls")
        let made = TestCertificate(directory: dir)
        let r = try await ToolRunner.run(openssl, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                                                   "-subj", "/CN=localhost", "-keyout", made.key, "-out", made.cert],
                                         timeout: .seconds(60))
        guard r.succeeded else { throw IntegrationSetupError("openssl req failed:\n\(r.report)") }
        for file in [made.cert, made.key] { chmod(file, 0o644) }
        return made
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

/// `requests` through `openssl s_client -quiet` to 127.0.0.1:`port` (the last request should make
/// the server close, so that s_client ends), with s_client's `options`; what came back.
private func sClient(_ port: UInt16, _ requests: String, options: [String] = []) async throws -> ToolResult {
    guard let openssl = IntegrationPaths.findExecutable("openssl") else {
        throw IntegrationSetupError("openssl not found (Tools/deps.sh test installs it)")
    }
    let input = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcached-sclient-\(UUID().uuidString)")
    try Data(requests.utf8).write(to: input)
    defer { try? FileManager.default.removeItem(at: input) }
    // s_client's certificate chatter goes to stderr; only the server's bytes are kept.
    let command = "o=\"$0\" p=\"$1\" i=\"$2\"; shift 2; exec \"$o\" s_client -connect 127.0.0.1:$p -quiet \"$@\" < \"$i\" 2>/dev/null"
    return try await ToolRunner.run("/bin/sh", ["-c", command, openssl, String(port), input.path] + options, timeout: .seconds(20))
}

/// Scripts/tls_clients.py `ask`: each request over one TLS connection, the replies up to END.
private func tlsAsk(_ port: UInt16, _ certificate: TestCertificate, _ requests: [String]) async throws -> String {
    let python = try await IntegrationPaths.python()
    let script = try IntegrationPaths.script("tls_clients.py")
    let r = try await ToolRunner.run(python, [script, "ask", "--port", String(port), "--ca", certificate.cert] + requests.flatMap { ["--request", $0] },
                                     timeout: .seconds(30))
    #expect(r.succeeded, "tls_clients.py ask: \(r.report)")
    return r.output
}

/// The names of a reply's STAT lines, in order.
private func statNames(_ reply: String) -> [String] {
    reply.split(separator: "\r\n").compactMap { line in
        let words = line.split(separator: " ")
        return words.count >= 3 && words[0] == "STAT" ? String(words[1]) : nil
    }
}

/// The value of STAT `name`, if the reply has it.
private func statValue(_ reply: String, _ name: String) -> String? {
    reply.split(separator: "\r\n").first { $0.hasPrefix("STAT \(name) ") }.map { String($0.dropFirst(6 + name.count)) }
}

@Suite("TLS (-Z) black-box", .serialized)
struct TLSBlackBoxTests {
    @Test("s_client on the cache port: set, get, version, stats and stats settings as memcached's", .hangGuard)
    func sClientCachePort() async throws {
        let certificate = try await TestCertificate.make()
        defer { certificate.remove() }
        try await withServer(certificate.flags) { server in
            let r = try await sClient(server.port, "set a 0 0 5\r\nhello\r\nget a\r\nversion\r\nstats\r\nstats settings\r\nquit\r\n")
            let out = r.output
            #expect(out.hasPrefix("STORED\r\nVALUE a 0 5\r\nhello\r\nEND\r\nVERSION 1.6.18\r\n"), "\(r.report)")
            #expect(statValue(out, "ssl_handshake_errors") == "0", "\(out)")
            #expect(statValue(out, "time_since_server_cert_refresh") != nil, "\(out)")
            // Without ssl_session_cache, memcached leaves ssl_new_sessions out.
            #expect(statValue(out, "ssl_new_sessions") == nil, "\(out)")
            #expect(statValue(out, "ssl_enabled") == "yes")
            #expect(statValue(out, "ssl_chain_cert") == certificate.cert)
            #expect(statValue(out, "ssl_key") == certificate.key)
            #expect(statValue(out, "ssl_min_version") == "tlsv1.2")
            #expect(statValue(out, "ssl_wbuf_size") == "16384")
            #expect(server.isRunning, "server log:\n\(server.log)")
        }
    }

    @Test("pymemcache tls_context and redis-py ssl=True on the cache and Redis ports", .hangGuard)
    func pythonClients() async throws {
        let certificate = try await TestCertificate.make()
        defer { certificate.remove() }
        let python = try await IntegrationPaths.python(requiring: ["pymemcache", "redis"])
        let script = try IntegrationPaths.script("tls_clients.py")
        try await withSecondListener("--redis-port", certificate.flags + ["-I", "2m", "-t", "2"]) { server, redisPort in
            let r = try await ToolRunner.run(python, [script, "clients", "--port", String(server.port), "--redis-port", String(redisPort),
                                                      "--ca", certificate.cert], timeout: .seconds(90))
            #expect(r.succeeded && r.output.contains("TLS CLIENTS PASSED"), "\(r.report)\nserver log:\n\(server.log)")
            #expect(server.isRunning)
        }
    }

    @Test("a TLS client that does not read, and one stuck in its handshake, make the server wait, not spin",
          .hangGuard)
    func stalledReaderDoesNotSpin() async throws {
        let certificate = try await TestCertificate.make()
        defer { certificate.remove() }
        let python = try await IntegrationPaths.python(requiring: ["pymemcache"])
        let script = try IntegrationPaths.script("tls_clients.py")
        try await withServer(certificate.flags + ["-I", "2m", "-t", "2"]) { server in
            let r = try await ToolRunner.run(python, [script, "stall", "--port", String(server.port), "--ca", certificate.cert,
                                                      "--pid", String(server.pid)], timeout: .seconds(45))
            #expect(r.succeeded && r.output.contains("TLS STALL PASSED"), "\(r.report)\nserver log:\n\(server.log)")
        }
    }

    @Test("s_client on the broker port: a queue's set and get", .hangGuard)
    func sClientBrokerPort() async throws {
        let certificate = try await TestCertificate.make()
        defer { certificate.remove() }
        try await withSecondListener("--broker-port", certificate.flags) { server, brokerPort in
            let r = try await sClient(brokerPort, "set tlsq 0 0 2\r\nhi\r\nget tlsq\r\nquit\r\n")
            #expect(r.output == "STORED\r\nVALUE tlsq 0 2\r\nhi\r\nEND\r\n", "\(r.report)\nserver log:\n\(server.log)")
        }
    }

    @Test("a plain client on a TLS port fails the handshake and is counted; a port probe is not", .hangGuard)
    func plainClientCounted() async throws {
        let certificate = try await TestCertificate.make()
        defer { certificate.remove() }
        try await withServer(certificate.flags + ["-o", "ssl_session_cache"]) { server in
            // A connection that sends nothing and closes (ServerProcess's readiness probe is one).
            _ = try RawConnection(port: server.port)
            let plain = try RawConnection(port: server.port)
            plain.send("version\r\n")
            let reply = plain.receive(until: "\r\n")
            #expect(!reply.contains("VERSION"), "a plain client was answered: \(reply.debugDescription)")
            let stats = try await tlsAsk(server.port, certificate, ["stats\\r\\n"])
            #expect(statValue(stats, "ssl_handshake_errors") == "1", "\(stats)")
            // With the session cache, each new session is counted (TLS 1.3 offers two tickets).
            #expect((statValue(stats, "ssl_new_sessions").flatMap { Int($0) } ?? 0) >= 1, "\(stats)")
            #expect(server.isRunning)
        }
    }

    @Test("ssl_verify_mode=2 with ssl_ca_cert: a client with a certificate of that CA is served, one without is refused and counted",
          .hangGuard)
    func clientCertificateRequired() async throws {
        let certificate = try await TestCertificate.make()
        defer { certificate.remove() }
        // The self-signed certificate is its own CA: the client presents it.
        try await withServer(certificate.flags + ["-o", "ssl_verify_mode=2,ssl_ca_cert=\(certificate.cert)"]) { server in
            let withCertificate = try await sClient(server.port, "version\r\nquit\r\n", options: ["-cert", certificate.cert, "-key", certificate.key])
            #expect(withCertificate.output.hasPrefix("VERSION "), "\(withCertificate.report)")
            let without = try await sClient(server.port, "version\r\nquit\r\n")
            #expect(!without.output.contains("VERSION"), "\(without.report)")
            let stats = try await sClient(server.port, "stats\r\nquit\r\n", options: ["-cert", certificate.cert, "-key", certificate.key])
            #expect(statValue(stats.output, "ssl_handshake_errors") == "1", "\(stats.report)")
            #expect(statValue(stats.output, "ssl_verify_mode") == nil)  // a `stats settings` line, not `stats`
        }
    }

    @Test("-Z without a certificate, key or TCP port, or with a bad one, refuses to start with memcached's words",
          .hangGuard)
    func startUpRefusals() async throws {
        let certificate = try await TestCertificate.make()
        defer { certificate.remove() }
        let binary = try IntegrationPaths.serverBinary()
        let port = String(try Loopback.freePort())
        let base = ["-p", port, "-l", "127.0.0.1", "-U", "0"] + IntegrationPaths.privilegeArguments
        // Certificate and key failures stop the start-up with EX_USAGE (64); a bad -o value is refused
        // while the -o list is read, with exit status 1, as memcached's other -o refusals.
        let cases: [([String], String, Int32)] = [
            (["-Z"], "Error loading the certificate chain: (null) : -Z needs -o ssl_chain_cert=<file>", 64),
            (["-Z", "-o", "ssl_chain_cert=\(certificate.cert)"], "Error loading the key: (null) : -Z needs -o ssl_key=<file>", 64),
            (["-Z", "-o", "ssl_chain_cert=\(certificate.directory.path)/missing.pem,ssl_key=\(certificate.key)"],
             "Error loading the certificate chain: \(certificate.directory.path)/missing.pem : ", 64),
            (["-Z", "-o", "ssl_chain_cert=\(certificate.cert),ssl_key=\(certificate.cert)"], "Error loading the key: \(certificate.cert) : ", 64),
            (certificate.flags + ["-o", "ssl_ciphers=NOSUCHCIPHER"], "Error setting the provided cipher(s): NOSUCHCIPHER", 64),
            (certificate.flags + ["-o", "ssl_ca_cert=\(certificate.directory.path)/missing-ca.pem"], "Error loading the CA certificate: ", 64),
            (certificate.flags + ["-o", "ssl_verify_mode=4"], "Invalid ssl_verify_mode. Use help to see valid options.", 1),
            (certificate.flags + ["-o", "ssl_min_version=9"], "Invalid ssl_min_version. Use help to see valid options.", 1),
            (["-Z", "-p", "0"], "ERROR: You cannot enable SSL without a TCP port.", 64),
        ]
        for (flags, message, status) in cases {
            let r = try await ToolRunner.run(binary, base + flags, timeout: .seconds(20))
            #expect(r.status == status && !r.timedOut, "\(flags): \(r.report)")
            #expect(r.output.contains(message), "\(flags): expected \(message.debugDescription) in \(r.report)")
        }
    }

    @Test("refresh_certs: OK, the reason when a file is gone (the certificate in use is kept), and without -Z memcached's error",
          .hangGuard)
    func refreshCerts() async throws {
        let certificate = try await TestCertificate.make()
        defer { certificate.remove() }
        try await withServer(certificate.flags) { server in
            let ok = try await sClient(server.port, "refresh_certs\r\nrefresh_certs noreply\r\nversion\r\nquit\r\n")
            #expect(ok.output.hasPrefix("OK\r\nVERSION "), "\(ok.report)")
            try FileManager.default.removeItem(atPath: certificate.cert)
            let failed = try await sClient(server.port, "refresh_certs\r\nversion\r\nquit\r\n")
            #expect(failed.output.hasPrefix("Error loading the certificate chain: \(certificate.cert) : "), "\(failed.report)")
            #expect(failed.output.contains("\r\nVERSION "), "\(failed.report)")
        }
        try await withServer { server in
            let c = try RawConnection(port: server.port)
            c.send("refresh_certs\r\n")
            #expect(c.receive(until: "\r\n") == "Error TLS not enabled\r\n")
        }
    }

    @Test("with -Z, stats and stats settings list memcached 1.6.18's names in its order (Debian's memcached has TLS)",
          .enabled(if: memcachedBinary != nil, "memcached is not installed"), .hangGuard,
          arguments: [[], ["-o", "ssl_session_cache,ssl_min_version=3,ssl_verify_mode=1,ssl_wbuf_size=8"]])
    func sameNamesAsMemcached(extra: [String]) async throws {
        let certificate = try await TestCertificate.make()
        defer { certificate.remove() }
        let requests = ["stats\\r\\n", "stats settings\\r\\n"]
        let theirs = try await withServer(certificate.flags + extra, binary: memcachedBinary!) { server in
            try await tlsAsk(server.port, certificate, requests)
        }
        let ours = try await withServer(certificate.flags + extra) { server in
            try await tlsAsk(server.port, certificate, requests)
        }
        let memcachedNames = statNames(theirs)
        let ourNames = statNames(ours)
        #expect(memcachedNames.contains("ssl_handshake_errors") && memcachedNames.contains("ssl_enabled"), "\(theirs)")
        // memcached's lines, in its order; swiftcached's own only after each group's.
        let own = Set(ownStatsNames
                      + SettingsTable.entries.drop { $0.name != SettingsTable.firstOwnLine }.map(\.name))
        #expect(ourNames.filter { !own.contains($0) } == memcachedNames, "memcached's \(memcachedNames), swiftcached's \(ourNames)")
        for name in ["ssl_enabled", "ssl_verify_mode", "ssl_keyformat", "ssl_ciphers", "ssl_ca_cert", "ssl_wbuf_size",
                     "ssl_session_cache", "ssl_kernel_tls", "ssl_min_version"] {
            #expect(statValue(ours, name) == statValue(theirs, name), "\(name): memcached \(statValue(theirs, name) ?? "-")")
        }
    }
}
