// Helpers for black-box integration tests: locate and run the built
// `swiftcached` binary on a free loopback port, and run external tools
// (python3 scripts, memccapable) with a bounded run time and captured output.

import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A setup problem that must fail the test (never skip it silently).
struct IntegrationSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Paths

enum IntegrationPaths {
    /// A bash prefix (dash's exec takes one-digit descriptors only) that closes descriptors 3 to
    /// 63, which a process spawned while other tests open files and sockets in parallel may
    /// inherit: a server that counts descriptors (memcached's -c) then starts with stdio only.
    static let closeInherited = (3...63).map { "exec \($0)>&-; " }.joined()

    /// Root of the Swift package, derived from this source file's location
    /// (<root>/Tests/IntegrationTests/ServerProcess.swift).
    static func packageRoot(filePath: String = #filePath) -> URL {
        URL(fileURLWithPath: filePath)
            .deletingLastPathComponent()  // IntegrationTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()  // package root
    }

    /// Directory holding the Python scripts.
    static func scriptsDirectory(filePath: String = #filePath) -> URL {
        URL(fileURLWithPath: filePath)
            .deletingLastPathComponent()
            .appendingPathComponent("Scripts", isDirectory: true)
    }

    /// What every command line that starts the server adds: `-u nobody` when the tests run as
    /// root (the server refuses root without -u, as memcached), nothing otherwise.
    static var privilegeArguments: [String] {
        geteuid() == 0 ? ["-u", "nobody"] : []
    }

    /// A new empty directory under the temporary directory that the server can write to after
    /// dropping to `nobody` (mode 0777 when running as root; sockets, pid and data files go here).
    static func serverWritableDirectory(_ prefix: String) throws -> URL {
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        if geteuid() == 0 {
            guard chmod(dir.path, 0o777) == 0 else {
                throw IntegrationSetupError("chmod 0777 \(dir.path) failed: \(String(cString: strerror(errno)))")
            }
        }
        return dir
    }

    static func script(_ name: String) throws -> String {
        let path = scriptsDirectory().appendingPathComponent(name).path
        guard FileManager.default.fileExists(atPath: path) else {
            throw IntegrationSetupError("test script not found: \(path)")
        }
        return path
    }

    /// Finds the built `swiftcached` executable:
    /// 1. $SWIFTCACHED_BIN if set (must be executable),
    /// 2. beside the running test executable (/proc/self/exe), or in one of its
    ///    parent directories up to and including `.build` (also checking a
    ///    `debug`/`release` subdirectory of each),
    /// 3. <package root>/.build/debug/swiftcached.
    static func serverBinary() throws -> String {
        let fm = FileManager.default
        if let env = ProcessInfo.processInfo.environment["SWIFTCACHED_BIN"], !env.isEmpty {
            guard fm.isExecutableFile(atPath: env) else {
                throw IntegrationSetupError("SWIFTCACHED_BIN=\(env) is not an executable file")
            }
            return env
        }
        var tried: [String] = []
        if let exe = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
            // Walk up while we are inside a .build directory (bounded).
            for _ in 0..<8 {
                for candidate in [
                    dir.appendingPathComponent("swiftcached"),
                    dir.appendingPathComponent("debug").appendingPathComponent("swiftcached"),
                    dir.appendingPathComponent("release").appendingPathComponent("swiftcached"),
                ] {
                    tried.append(candidate.path)
                    var isDir: ObjCBool = false
                    if fm.fileExists(atPath: candidate.path, isDirectory: &isDir), !isDir.boolValue,
                       fm.isExecutableFile(atPath: candidate.path) {
                        return candidate.path
                    }
                }
                let isBuildRoot = dir.lastPathComponent == ".build"
                let insideBuild = dir.path.contains("/.build/") || isBuildRoot
                if isBuildRoot || !insideBuild || dir.path == "/" { break }
                dir = dir.deletingLastPathComponent()
            }
        }
        let fallback = packageRoot().appendingPathComponent(".build/debug/swiftcached").path
        tried.append(fallback)
        if fm.isExecutableFile(atPath: fallback) {
            return fallback
        }
        throw IntegrationSetupError(
            "swiftcached binary not found (set SWIFTCACHED_BIN or run `swift build`). Tried:\n  "
                + tried.joined(separator: "\n  "))
    }

    /// First executable called `name` in $PATH (plus the usual system dirs).
    static func findExecutable(_ name: String, extraDirectories: [String] = []) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        var dirs = path.split(separator: ":").map(String.init)
        dirs += extraDirectories + ["/usr/local/bin", "/usr/bin", "/bin"]
        for dir in dirs where !dir.isEmpty {
            let candidate = dir + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) {
                return candidate
            }
        }
        return nil
    }

    /// All distinct python3 interpreters we know how to find, in order of
    /// preference: $SWIFTCACHED_PYTHON, every python3 on $PATH, pyenv's shim,
    /// /usr/local/bin/python3, /usr/bin/python3.
    static func pythonCandidates() -> [String] {
        var out: [String] = []
        func add(_ p: String?) {
            guard let p, !p.isEmpty, !out.contains(p),
                  FileManager.default.isExecutableFile(atPath: p) else { return }
            out.append(p)
        }
        add(ProcessInfo.processInfo.environment["SWIFTCACHED_PYTHON"])
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for dir in path.split(separator: ":") {
            add(String(dir) + "/python3")
        }
        if let home = ProcessInfo.processInfo.environment["HOME"] {
            add(home + "/.pyenv/shims/python3")
        }
        add("/usr/local/bin/python3")
        add("/usr/bin/python3")
        return out
    }

    /// A python3 interpreter; with `requiring` set, one that can import those
    /// modules. Throws a descriptive error (the test must fail, not skip).
    static func python(requiring modules: [String] = []) async throws -> String {
        let candidates = pythonCandidates()
        guard !candidates.isEmpty else {
            throw IntegrationSetupError("python3 not found (PATH, ~/.pyenv/shims, /usr/bin); set SWIFTCACHED_PYTHON")
        }
        let code = "import sys\n" + modules.map { "import \($0)\n" }.joined()
            + "assert sys.version_info >= (3, 8)\nprint(sys.version.split()[0])"
        var report: [String] = []
        for python in candidates {
            let r = try await ToolRunner.run(python, ["-c", code], timeout: .seconds(30))
            if r.succeeded { return python }
            report.append("\(python): \(r.summary)\n\(r.output.suffix(400))")
        }
        throw IntegrationSetupError(
            "no python3 interpreter with modules \(modules) found (set SWIFTCACHED_PYTHON; "
                + "`pip install pymemcache==4.0.0`). Tried:\n" + report.joined(separator: "\n"))
    }
}

// MARK: - Loopback sockets

enum Loopback {
    /// Ports handed out by this test process, so that tests running in
    /// parallel never pick the same one.
    private static let handedOut = Mutex<Set<UInt16>>([])

    static func loopbackAddress(port: UInt16) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
        return addr
    }

    private static func errnoString() -> String {
        String(cString: strerror(errno))
    }

    /// Binds a TCP socket to 127.0.0.1:0, reads the port the kernel chose and
    /// closes the socket again.
    static func freePort() throws -> UInt16 {
        for _ in 0..<50 {
            let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw IntegrationSetupError("socket() failed: \(errnoString())") }
            defer { _ = Glibc.close(fd) }
            var addr = loopbackAddress(port: 0)
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard rc == 0 else { throw IntegrationSetupError("bind(127.0.0.1:0) failed: \(errnoString())") }
            var bound = sockaddr_in()
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            let rc2 = withUnsafeMutablePointer(to: &bound) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.getsockname(fd, $0, &len)
                }
            }
            guard rc2 == 0 else { throw IntegrationSetupError("getsockname failed: \(errnoString())") }
            let port = UInt16(bigEndian: bound.sin_port)
            let fresh = handedOut.withLock { $0.insert(port).inserted }
            if fresh && port != 0 { return port }
        }
        throw IntegrationSetupError("could not find a fresh free loopback port")
    }

    /// True if a TCP connection to 127.0.0.1:port succeeds right now.
    static func canConnect(port: UInt16) -> Bool {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { _ = Glibc.close(fd) }
        var addr = loopbackAddress(port: port)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return rc == 0
    }
}

// MARK: - Running external tools

struct ToolResult: Sendable {
    let command: String
    let status: Int32
    let terminatedBySignal: Bool
    let timedOut: Bool
    let seconds: Double
    let output: String

    var succeeded: Bool { !timedOut && !terminatedBySignal && status == 0 }

    var summary: String {
        if timedOut { return "TIMED OUT after \(String(format: "%.1f", seconds)) s (killed)" }
        if terminatedBySignal { return "killed by signal \(status)" }
        return "exit status \(status) after \(String(format: "%.1f", seconds)) s"
    }

    /// Message suitable for a failed expectation.
    var report: String {
        "`\(command)` → \(summary)\n----- output -----\n\(output)\n------------------"
    }
}

enum ToolRunner {
    /// Runs `executable arguments`, stdout+stderr captured (into a temp file,
    /// so a chatty child can never block on a full pipe). The child is
    /// SIGKILLed if it outlives `timeout` or if the calling task is cancelled.
    static func run(_ executable: String, _ arguments: [String], timeout: Duration,
                    environment extra: [String: String] = [:]) async throws -> ToolResult {
        let fm = FileManager.default
        let command = ([executable] + arguments).joined(separator: " ")
        let outURL = fm.temporaryDirectory
            .appendingPathComponent("swiftcached-it-\(UUID().uuidString).log")
        guard fm.createFile(atPath: outURL.path, contents: nil) else {
            throw IntegrationSetupError("cannot create \(outURL.path)")
        }
        defer { try? fm.removeItem(at: outURL) }
        let handle = try FileHandle(forWritingTo: outURL)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["PYTHONUNBUFFERED"] = "1"
        for (k, v) in extra { env[k] = v }
        process.environment = env
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = handle
        process.standardError = handle

        let clock = ContinuousClock()
        let start = clock.now
        do {
            try process.run()
        } catch {
            try? handle.close()
            throw IntegrationSetupError("cannot start `\(command)`: \(error)")
        }
        let pid = process.processIdentifier
        var timedOut = false
        var exit: ChildExit.Status?
        do {
            while true {
                exit = ChildExit.poll(process)
                if exit != nil { break }
                if clock.now - start > timeout {
                    timedOut = true
                    _ = Glibc.kill(pid, SIGKILL)
                    break
                }
                try await Task.sleep(for: .milliseconds(50))
            }
        } catch {
            // cancelled: never leave the child behind
            _ = Glibc.kill(pid, SIGKILL)
            _ = waitForExit(process, upTo: .seconds(5))
            try? handle.close()
            throw error
        }
        if exit == nil { exit = waitForExit(process, upTo: .seconds(10)) }
        try? handle.close()
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let data = (try? Data(contentsOf: outURL)) ?? Data()
        let output = String(decoding: data, as: UTF8.self)
        guard let exit else {
            return ToolResult(command: command, status: -1, terminatedBySignal: true, timedOut: true,
                              seconds: seconds, output: output + "\n[child did not exit after SIGKILL]")
        }
        return ToolResult(command: command, status: exit.status, terminatedBySignal: exit.signalled,
                          timedOut: timedOut, seconds: seconds, output: output)
    }

    /// Blocks (briefly, polling) until `process` has exited: how it exited, or nil if it is
    /// still running after `limit`.
    @discardableResult
    static func waitForExit(_ process: Process, upTo limit: Duration) -> ChildExit.Status? {
        let clock = ContinuousClock()
        let start = clock.now
        while true {
            if let exit = ChildExit.poll(process) { return exit }
            if clock.now - start > limit { return nil }
            usleep(10_000)
        }
    }
}

/// Whether a child has exited, asking the kernel as well as Foundation. Under the full suite
/// Foundation's `Process` sometimes never notices a child's exit: the child stays a zombie and
/// `isRunning` stays true for good (seen on 6 Dec 2026: a `waitUntilExit` spun 17 minutes on a
/// killed redis-server, and every `stop()` of such a server waited out its 8 s of limits, blocking
/// a thread of the cooperative pool each time). So a zombie Foundation has not reaped is reaped
/// here, and its status read from `waitpid`.
enum ChildExit {
    struct Status: Sendable, Equatable {
        let status: Int32
        let signalled: Bool
    }

    /// How `process` exited, or nil while it runs. A child reaped here is gone from /proc, and
    /// Foundation still calls it running: a later poll answers `lost` for it (status unknown).
    static func poll(_ process: Process) -> Status? {
        if !process.isRunning { return foundation(process) }
        let pid = process.processIdentifier
        guard pid > 0 else { return nil }
        guard let state = processState(pid) else {
            // Gone from /proc: reaped by Foundation a moment ago or by us earlier. Foundation
            // marks it ended only after its reaping thread runs again, which on the loaded 2-core
            // box took more than 20 ms (a passing attack.py read as lost): give it up to a second.
            return afterFoundationReaped(process)
        }
        guard state == UInt8(ascii: "Z") else { return nil }
        var raw: Int32 = 0
        if Glibc.waitpid(pid, &raw, WNOHANG) == pid {
            let signal = raw & 0x7f
            return signal == 0 ? Status(status: (raw >> 8) & 0xff, signalled: false) : Status(status: signal, signalled: true)
        }
        // Foundation reaped it first.
        return afterFoundationReaped(process)
    }

    static let lost = Status(status: -1, signalled: true)

    /// Foundation's status once it has marked the reaped child ended (up to a second), else `lost`.
    private static func afterFoundationReaped(_ process: Process) -> Status {
        for _ in 0..<50 where process.isRunning { usleep(20_000) }
        return process.isRunning ? lost : foundation(process)
    }

    private static func foundation(_ process: Process) -> Status {
        Status(status: process.terminationStatus, signalled: process.terminationReason == .uncaughtSignal)
    }

    /// The state letter of /proc/<pid>/stat (R, S, Z, ...), nil when there is no such process.
    private static func processState(_ pid: pid_t) -> UInt8? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        return text[close...].utf8.dropFirst(2).first
    }
}

// MARK: - The server under test

/// A running `swiftcached` on 127.0.0.1:port. Always stopped by `stop()`
/// (idempotent), which `withServer` calls on every exit path; `deinit` is a
/// last resort.
final class ServerProcess: @unchecked Sendable {
    let port: UInt16
    let arguments: [String]
    let binary: String
    private let process: Process
    private let logURL: URL
    private let logHandle: FileHandle
    private let stopped = Mutex(false)

    var pid: Int32 { process.processIdentifier }

    private init(binary: String, port: UInt16, arguments: [String], process: Process,
                 logURL: URL, logHandle: FileHandle) {
        self.binary = binary
        self.port = port
        self.arguments = arguments
        self.process = process
        self.logURL = logURL
        self.logHandle = logHandle
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: logURL)
    }

    /// Everything the server printed so far (stdout + stderr).
    var log: String {
        let data = (try? Data(contentsOf: logURL)) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    var isRunning: Bool { ChildExit.poll(process) == nil }

    /// Starts `swiftcached -p PORT -l 127.0.0.1 -U 0 [-u nobody] <extraArguments>` and waits
    /// (at most 30 s: the suite starts many servers at once on 2 cores) until it accepts TCP connections. Retries with another
    /// port if the server exits during startup (e.g. the port was taken).
    /// With `descriptorLimit`, the server starts under `ulimit -n <limit>` (through /bin/sh, which
    /// execs it: `pid` is the server's). With `nofile`, under `prlimit --nofile=SOFT:HARD` without
    /// CAP_SYS_RESOURCE (setpriv and prlimit exec it too). `binary` starts another server with the same flags (memcached, to compare
    /// replies).
    static func start(_ extraArguments: [String] = [], descriptorLimit: Int? = nil, nofile: (soft: Int, hard: Int)? = nil,
                      binary other: String? = nil, onlyStdio: Bool = false) async throws -> ServerProcess {
        let binary = try other ?? IntegrationPaths.serverBinary()
        var failures: [String] = []
        for _ in 0..<3 {
            let port = try Loopback.freePort()
            let server = try launch(binary: binary, port: port, extraArguments: extraArguments, descriptorLimit: descriptorLimit,
                                    nofile: nofile, onlyStdio: onlyStdio)
            switch try await server.waitUntilAccepting(timeout: .seconds(30)) {
            case .ready:
                return server
            case .exited(let why):
                failures.append(why)
                server.stop()
            case .timedOut(let why):
                server.stop()
                throw IntegrationSetupError(why)
            }
        }
        throw IntegrationSetupError("\(binary) failed to start 3 times:\n" + failures.joined(separator: "\n"))
    }

    private static func launch(binary: String, port: UInt16, extraArguments: [String],
                               descriptorLimit: Int?, nofile: (soft: Int, hard: Int)? = nil,
                               onlyStdio: Bool = false) throws -> ServerProcess {
        let fm = FileManager.default
        let logURL = fm.temporaryDirectory.appendingPathComponent("swiftcached-server-\(port)-\(UUID().uuidString).log")
        guard fm.createFile(atPath: logURL.path, contents: nil) else {
            throw IntegrationSetupError("cannot create \(logURL.path)")
        }
        let handle = try FileHandle(forWritingTo: logURL)
        let args = ["-p", String(port), "-l", "127.0.0.1", "-U", "0"] + IntegrationPaths.privilegeArguments + extraArguments
        let process = Process()
        if let limit = descriptorLimit {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "ulimit -n \(limit) && exec \"$0\" \"$@\"", binary] + args
        } else if let nofile {
            let command = IntegrationPaths.withoutRaisableLimits(["/usr/bin/prlimit", "--nofile=\(nofile.soft):\(nofile.hard)", binary] + args)
            process.executableURL = URL(fileURLWithPath: command[0])
            process.arguments = Array(command.dropFirst())
        } else if onlyStdio {
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = ["-c", IntegrationPaths.closeInherited + "exec \"$0\" \"$@\"", binary] + args
        } else {
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = args
        }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = handle
        process.standardError = handle
        do {
            try process.run()
        } catch {
            try? handle.close()
            try? fm.removeItem(at: logURL)
            throw IntegrationSetupError("cannot start \(binary) \(args.joined(separator: " ")): \(error)")
        }
        return ServerProcess(binary: binary, port: port, arguments: args, process: process,
                             logURL: logURL, logHandle: handle)
    }

    private enum Startup { case ready, exited(String), timedOut(String) }

    private func waitUntilAccepting(timeout: Duration) async throws -> Startup {
        let clock = ContinuousClock()
        let start = clock.now
        let cmd = "\(binary) \(arguments.joined(separator: " "))"
        while clock.now - start < timeout {
            if !process.isRunning {
                return .exited("`\(cmd)` exited during startup; log:\n\(log)")
            }
            if Loopback.canConnect(port: port) {
                if process.isRunning { return .ready }
                return .exited("`\(cmd)` exited right after accepting; log:\n\(log)")
            }
            do {
                try await Task.sleep(for: .milliseconds(50))
            } catch {
                stop()
                throw error
            }
        }
        // One more look: on the loaded 2-core box this task can resume only after the whole
        // timeout has passed (the cooperative pool's two threads busy elsewhere), and a server that
        // has been accepting all along must not count as one that never started.
        if process.isRunning && Loopback.canConnect(port: port) { return .ready }
        return .timedOut("`\(cmd)` did not accept connections on 127.0.0.1:\(port) within \(timeout); log:\n\(log)")
    }

    /// Sends `signal` and waits up to `limit` for the server to exit on its own; its exit status,
    /// or nil if it is still running (then `stop()` ends it).
    func signalAndWait(_ signal: Int32, upTo limit: Duration) -> Int32? {
        let pid = process.processIdentifier
        if let exit = ChildExit.poll(process) { return exit.status }
        guard pid > 0 else { return nil }
        _ = Glibc.kill(pid, signal)
        return ToolRunner.waitForExit(process, upTo: limit)?.status
    }

    /// SIGTERM, then SIGKILL if still running after 3 s. Idempotent, blocking
    /// for at most ~8 s.
    func stop() {
        let already: Bool = stopped.withLock { isStopped in
            let was = isStopped
            isStopped = true
            return was
        }
        if already { return }
        let pid = process.processIdentifier
        if ChildExit.poll(process) == nil, pid > 0 {
            _ = Glibc.kill(pid, SIGTERM)
            if ToolRunner.waitForExit(process, upTo: .seconds(3)) == nil {
                _ = Glibc.kill(pid, SIGKILL)
                ToolRunner.waitForExit(process, upTo: .seconds(5))
            }
        }
        try? logHandle.close()
    }
}

/// Runs `body` with a freshly started server and always stops the server
/// afterwards, whether `body` returns, throws, or the task is cancelled.
func withServer<T>(_ extraArguments: [String] = [], binary: String? = nil,
                   _ body: (ServerProcess) async throws -> T) async throws -> T {
    let server = try await ServerProcess.start(extraArguments, binary: binary)
    defer { server.stop() }
    return try await body(server)
}

/// Runs `body` with a server that also listens on a fresh free port named by `flag`
/// (`--broker-port`, `--redis-port`; the port is given to `body`), stopping it on every exit path.
/// `ServerProcess.start` only retries the cache port, so a second port taken meanwhile is retried
/// here with another one.
func withSecondListener<T>(_ flag: String, _ extraArguments: [String] = [],
                           _ body: (ServerProcess, UInt16) async throws -> T) async throws -> T {
    var failures: [String] = []
    for _ in 0..<3 {
        let port = try Loopback.freePort()
        let server: ServerProcess
        do {
            server = try await ServerProcess.start(["\(flag)=\(port)"] + extraArguments)
        } catch let error as IntegrationSetupError {
            failures.append(error.description)
            continue
        }
        defer { server.stop() }
        return try await body(server, port)
    }
    throw IntegrationSetupError("swiftcached with \(flag) failed to start 3 times:\n" + failures.joined(separator: "\n"))
}
