// Debian's redis-server as the side-by-side peer of the Redis-port black-box tests.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` with a redis-server on a free loopback port, persistence off, always stopped.
func withRedisServer<T>(extraArguments: [String] = [], _ body: (UInt16) async throws -> T) async throws -> T {
    guard let binary = IntegrationPaths.findExecutable("redis-server", extraDirectories: ["/usr/bin", "/usr/local/bin"]) else {
        throw IntegrationSetupError("redis-server not found (Tools/deps.sh test installs it)")
    }
    let port = try Loopback.freePort()
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                         "--daemonize", "no", "--logfile", ""] + extraArguments
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    defer {
        // SIGKILL: the test runner's threads block SIGTERM and a child inherits the mask, so
        // redis-server would never see a terminate(); nothing is persisted anyway.
        kill(process.processIdentifier, SIGKILL)
        // Bounded, and zombie-aware (ChildExit): Foundation can miss this child's exit for good.
        ToolRunner.waitForExit(process, upTo: .seconds(10))
    }
    let clock = ContinuousClock()
    let start = clock.now
    while !Loopback.canConnect(port: port) {
        guard ChildExit.poll(process) == nil, clock.now - start < .seconds(10) else {
            throw IntegrationSetupError("redis-server did not accept connections on 127.0.0.1:\(port)")
        }
        try await Task.sleep(for: .milliseconds(50))
    }
    return try await body(port)
}
