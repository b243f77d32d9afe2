// Servers started by the harness (compare, tests): posix_spawn with output to a log file, stopped
// with SIGTERM then SIGKILL, registered so a signal handler can stop them when the harness is
// interrupted. Also the CPU time of a process from /proc/PID/stat.
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

public struct ProcessError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public final class ChildProcess: @unchecked Sendable {
    // Safe to share: `state` is behind a mutex; the rest is immutable.
    public let pid: pid_t
    public let command: String
    public let logPath: String
    private let state = Mutex<(reaped: Bool, status: Int32)>((false, 0))

    private init(pid: pid_t, command: String, logPath: String) {
        self.pid = pid
        self.command = command
        self.logPath = logPath
    }

    deinit { stop() }

    /// Starts `executable` (searched in PATH if it has no '/') with stdin from /dev/null and
    /// stdout+stderr to `logPath`.
    public static func spawn(_ executable: String, _ arguments: [String], logPath: String) throws -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attr, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0)! }
        defer { argv.forEach { free($0) } }
        var cargv = argv.map { UnsafeMutablePointer<CChar>?($0) } + [nil]
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, executable, &actions, &attr, &cargv, environ)
        let command = ([executable] + arguments).joined(separator: " ")
        guard rc == 0 else { throw ProcessError("cannot start `\(command)`: \(String(cString: strerror(rc)))") }
        ChildRegistry.add(pid)
        return ChildProcess(pid: pid, command: command, logPath: logPath)
    }

    /// False once the process has exited (and was reaped).
    public var isRunning: Bool {
        state.withLock { s in
            if s.reaped { return false }
            var status: Int32 = 0
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid || (r < 0 && errno == ECHILD) {
                s = (true, status)
                ChildRegistry.remove(pid)
                return false
            }
            return true
        }
    }

    /// SIGTERM, then SIGKILL after `grace` seconds; waits for the exit. Idempotent.
    public func stop(grace: Double = 3) {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        let deadline = monotonicNanos() + UInt64(grace * 1e9)
        while isRunning && monotonicNanos() < deadline { sleepNanos(10_000_000) }
        if isRunning {
            kill(pid, SIGKILL)
            let hard = monotonicNanos() + 5_000_000_000
            while isRunning && monotonicNanos() < hard { sleepNanos(10_000_000) }
        }
    }

    /// What the process wrote so far.
    public var log: String { readTextFile(logPath) ?? "" }

    /// Waits until 127.0.0.1:port accepts connections; throws with the log if the process exits
    /// or `timeout` passes first.
    public func waitUntilAccepting(port: UInt16, timeout: Double = 10) throws {
        let deadline = monotonicNanos() + UInt64(timeout * 1e9)
        while monotonicNanos() < deadline {
            guard isRunning else { throw ProcessError("`\(command)` exited during startup; log:\n\(log)") }
            if Net.canConnect(port: port) { return }
            sleepNanos(20_000_000)
        }
        throw ProcessError("`\(command)` did not accept connections on 127.0.0.1:\(port) within \(formatFixed(timeout, 0)) s; log:\n\(log)")
    }

    /// utime + stime of the process in seconds, from /proc/PID/stat.
    public var cpuSeconds: Double? { ProcStat.cpuSeconds(pid: pid) }
}

public enum ProcStat {
    public static func cpuSeconds(pid: pid_t) -> Double? {
        guard let text = readTextFile("/proc/\(pid)/stat"), let paren = text.lastIndex(of: ")") else { return nil }
        // Fields after "(comm)": 3 state, 4 ppid, ... 14 utime, 15 stime.
        let fields = text[text.index(after: paren)...].split(separator: " ")
        guard fields.count > 12, let u = Double(fields[11]), let s = Double(fields[12]) else { return nil }
        return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}

/// Every child not yet stopped, for the signal handler (fixed slots, no allocation there).
public enum ChildRegistry {
    static let capacity = 64
    nonisolated(unsafe) static let slots: UnsafeMutablePointer<pid_t> = {
        let p = UnsafeMutablePointer<pid_t>.allocate(capacity: capacity)
        p.initialize(repeating: 0, count: capacity)
        return p
    }()
    static let lock = Mutex(())

    static func add(_ pid: pid_t) {
        lock.withLock { _ in
            for i in 0..<capacity where slots[i] == 0 { slots[i] = pid; return }
        }
    }

    static func remove(_ pid: pid_t) {
        lock.withLock { _ in
            for i in 0..<capacity where slots[i] == pid { slots[i] = 0 }
        }
    }

    /// On SIGINT, SIGTERM or SIGHUP: SIGTERM every registered child, SIGKILL those still there after
    /// 2 s, then die of the same signal.
    public static func installSignalCleanup() {
        _ = slots
        for s in [SIGINT, SIGTERM, SIGHUP] {
            signal(s) { sig in
                let p = ChildRegistry.slots
                for i in 0..<ChildRegistry.capacity where p[i] > 0 { kill(p[i], SIGTERM) }
                var ts = timespec(tv_sec: 0, tv_nsec: 20_000_000)
                for _ in 0..<100 {
                    var left = 0
                    for i in 0..<ChildRegistry.capacity where p[i] > 0 {
                        var status: Int32 = 0
                        if waitpid(p[i], &status, WNOHANG) == 0 { left += 1 } else { p[i] = 0 }
                    }
                    if left == 0 { break }
                    nanosleep(&ts, nil)
                }
                for i in 0..<ChildRegistry.capacity where p[i] > 0 { kill(p[i], SIGKILL) }
                signal(sig, SIG_DFL)
                raise(sig)
            }
        }
    }
}

/// The whole file as UTF-8 text (lossy), or nil if it cannot be read.
public func readTextFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Finds `name` in PATH (or checks it if it contains '/').
public func findExecutable(_ name: String) -> String? {
    if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
    let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
    for dir in path.split(separator: ":") {
        let candidate = "\(dir)/\(name)"
        if access(candidate, X_OK) == 0 { return candidate }
    }
    return nil
}
