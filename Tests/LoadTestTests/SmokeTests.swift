// A short run of the harness core against the real servers: swiftcached (the binary this package
// built) and Debian's memcached, each started on its own free loopback port and always stopped.
import Testing
@testable import LoadTestCore
#if canImport(Glibc)
import Glibc
#endif

struct SetupError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

enum Binaries {
    /// <package root>, from this file's path (<root>/Tests/LoadTestTests/SmokeTests.swift).
    static func packageRoot(_ file: String = #filePath) -> String {
        var parts = file.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/")
    }

    /// The built swiftcached, found as the integration tests find it: $SWIFTCACHED_BIN, beside
    /// the test executable or in a parent up to .build (or its debug/release), else
    /// <root>/.build/debug/swiftcached.
    static func swiftcached() throws -> String {
        if let env = getenv("SWIFTCACHED_BIN").map({ String(cString: $0) }), !env.isEmpty {
            guard access(env, X_OK) == 0 else { throw SetupError("SWIFTCACHED_BIN=\(env) is not executable") }
            return env
        }
        var tried: [String] = []
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        if n > 0 {
            var dir = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            for _ in 0..<8 {
                guard let slash = dir.lastIndex(of: "/"), slash != dir.startIndex else { break }
                dir = String(dir[..<slash])
                for candidate in ["\(dir)/swiftcached", "\(dir)/debug/swiftcached", "\(dir)/release/swiftcached"] {
                    tried.append(candidate)
                    if access(candidate, X_OK) == 0 { return candidate }
                }
                if dir.hasSuffix("/.build") { break }
            }
        }
        let fallback = packageRoot() + "/.build/debug/swiftcached"
        if access(fallback, X_OK) == 0 { return fallback }
        tried.append(fallback)
        throw SetupError("swiftcached binary not found (build it first: swift build); tried:\n" + tried.joined(separator: "\n"))
    }

    static func memcached() throws -> String {
        guard let path = findExecutable("memcached") else {
            throw SetupError("memcached not found in PATH (Tools/deps.sh test installs it)")
        }
        return path
    }
}

/// Runs blocking work on its own OS thread so it does not hold a cooperative-pool thread.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (cont: CheckedContinuation<T, Error>) in
        _ = OSThread {
            do { cont.resume(returning: try body()) } catch { cont.resume(throwing: error) }
        }
    }
}

@Suite("harness smoke runs", .serialized)
struct SmokeTests {
    static func smokeConfig(port: UInt16) -> LoadConfig {
        var c = LoadConfig()
        c.host = "127.0.0.1"
        c.port = port
        c.threads = 1
        c.connsPerThread = 10
        c.pipeline = 4
        c.durationSeconds = 2
        c.keys = 10_000
        c.valueSize = 100
        c.warm = true
        c.verify = true
        c.multiget = 2
        return c
    }

    static func smoke(name: String, executable: String, wire: WireProtocol = .memcache,
                      arguments: @escaping @Sendable (UInt16) -> [String]) async throws {
        let result: LoadResult = try await offPool {
            let server = try ManagedServer.start(name: name, executable: executable, wire: wire, arguments: arguments)
            defer { server.stop() }
            var config = smokeConfig(port: server.port)
            config.wire = wire
            let r = try LoadRunner.run(config)
            #expect(server.process.isRunning, "\(name) died during the run; log:\n\(server.process.log)")
            return r
        }
        #expect(result.errors.total == 0, "\(result.text)")
        #expect(result.warmErrors.total == 0, "\(result.text)")
        #expect(result.requests > 0 && result.opsPerSecond > 0, "\(result.text)")
        #expect(result.hitRatio > 0.99, "all keys were warmed: \(result.text)")
        #expect(result.elapsedSeconds >= 1.9 && result.elapsedSeconds < 10, "\(result.text)")
        #expect(result.latency.count == UInt64(result.requests))
    }

    /// memcached and swiftcached both refuse root without -u: as root they run as nobody.
    static var privilegeArguments: [String] { geteuid() == 0 ? ["-u", "nobody"] : [] }

    @Test("2 s against swiftcached: no errors, non-zero rate")
    func swiftcached() async throws {
        let bin = try Binaries.swiftcached()
        try await Self.smoke(name: "swiftcached", executable: bin) {
            ["-p", String($0), "-l", "127.0.0.1", "-U", "0", "-t", "2", "-m", "64"] + Self.privilegeArguments
        }
    }

    @Test("2 s against memcached: no errors, non-zero rate")
    func memcached() async throws {
        let bin = try Binaries.memcached()
        try await Self.smoke(name: "memcached", executable: bin) {
            ["-p", String($0), "-l", "127.0.0.1", "-U", "0", "-t", "2", "-m", "64"] + Self.privilegeArguments
        }
    }

    @Test("2 s against redis-server over RESP (SET, MGET, verified): no errors, non-zero rate",
          .enabled(if: findExecutable("redis-server") != nil, "redis-server not installed"))
    func redis() async throws {
        let bin = findExecutable("redis-server")!
        try await Self.smoke(name: "redis", executable: bin, wire: .resp) {
            ["--port", String($0), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"]
        }
    }

    @Test("2 s queue flood on swiftcached's broker port: no errors, every produced message consumed or still queued")
    func queueFlood() async throws {
        let bin = try Binaries.swiftcached()
        let result: LoadResult = try await offPool {
            let server = try ManagedServer.start(name: "swiftcached-broker", executable: bin) {
                ["-p", "0", "--broker-port", String($0), "-l", "127.0.0.1", "-U", "0", "-t", "2", "-m", "64"] + Self.privilegeArguments
            }
            defer { server.stop() }
            var config = LoadConfig()
            config.port = server.port
            config.wire = .queue
            config.producers = 2
            config.consumers = 2
            config.pipeline = 4
            config.durationSeconds = 2
            config.queueName = "smoke"
            let r = try LoadRunner.run(config)
            #expect(server.process.isRunning, "swiftcached died during the run; log:\n\(server.process.log)")
            return r
        }
        #expect(result.errors.total == 0, "\(result.text)")
        #expect(result.sets > 0 && result.hits > 0, "\(result.text)")
        #expect(result.hits <= result.sets, "more consumed than produced: \(result.text)")
        #expect(result.messagesPerSecond > 0, "\(result.text)")
    }

    @Test("2 s of meta commands (ms, quiet mg + mn) with values of 10-1000 bytes against swiftcached: no errors, all hits")
    func metaWithValueSizeRange() async throws {
        let bin = try Binaries.swiftcached()
        let result: LoadResult = try await offPool {
            let server = try ManagedServer.start(name: "swiftcached-meta", executable: bin) {
                ["-p", String($0), "-l", "127.0.0.1", "-U", "0", "-t", "2", "-m", "64"] + Self.privilegeArguments
            }
            defer { server.stop() }
            var config = Self.smokeConfig(port: server.port)
            config.wire = .meta
            config.verify = false
            try config.setValueSize("10-1000")
            config.multiget = 4
            let r = try LoadRunner.run(config)
            #expect(server.process.isRunning, "swiftcached died during the run; log:\n\(server.process.log)")
            return r
        }
        #expect(result.errors.total == 0 && result.warmErrors.total == 0, "\(result.text)")
        #expect(result.requests > 0 && result.hitRatio > 0.99, "\(result.text)")
    }

    @Test("value sizes: V, A-B, and bad ranges refused")
    func valueSizeParsing() throws {
        var c = LoadConfig()
        try c.setValueSize("100")
        #expect(c.valueSize == 100 && c.valueSizeMin == nil)
        try c.setValueSize("10-1000")
        #expect(c.valueSize == 1000 && c.valueSizeMin == 10 && c.valueSizeDescription == "10-1000")
        #expect(throws: LoadConfigError.self) { try c.setValueSize("1000-10") }
        #expect(throws: LoadConfigError.self) { try c.setValueSize("x") }
        c.verify = true
        try c.setValueSize("40-100")
        #expect(throws: LoadConfigError.self) { try c.validate() }
    }

    @Test("a server that stops answering ends the run through the watchdog, not a hang")
    func watchdog() async throws {
        // A listener that accepts (kernel backlog) but never reads or replies.
        let (fd, port) = try silentListener()
        defer { close(fd) }
        var c = Self.smokeConfig(port: port)
        c.warm = false
        c.connsPerThread = 2
        c.durationSeconds = 30
        c.watchdogSeconds = 0.5
        let config = c
        let started = monotonicNanos()
        let r = try await offPool { try LoadRunner.run(config) }
        let seconds = Double(monotonicNanos() - started) / 1e9
        #expect(seconds < 5, "the watchdog should end the run after ~0.5 s, took \(seconds) s")
        #expect(r.errors.timeouts >= 1)
        #expect(r.errors.lost >= 1)
        #expect(r.stopReason != nil)
    }

    @Test("connecting to a closed port throws")
    func refused() async throws {
        let port = try Net.freePort()
        var c = Self.smokeConfig(port: port)
        c.warm = false
        let config = c
        await #expect(throws: LoadConfigError.self) { try await offPool { try LoadRunner.run(config) } }
    }

    /// A listening socket on a free loopback port that nobody ever accepts from.
    static func silentListenerImpl() throws -> (Int32, UInt16) {
        for _ in 0..<5 {
            let port = try Net.freePort()
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = port.bigEndian
            sa.sin_addr = Net.ipv4Address("127.0.0.1")!
            let rc = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if rc == 0 && listen(fd, 16) == 0 { return (fd, port) }
            close(fd)
        }
        throw SetupError("no listener")
    }

    func silentListener() throws -> (Int32, UInt16) { try Self.silentListenerImpl() }
}
