// The process lines of `stats`, declared under memcached's names, and the port file.
import Platform
import CacheEngine
import CLibevent
import Logging
import MemcacheProtocol
import Server
#if canImport(Glibc)
import Glibc
#endif

/// memcached's MEMCACHED_PORT_FILENAME: a "<label>: <port>" line for every port bound by a
/// listener with a port-file label ("TCP INET: 11211"; the label gains a "6" for IPv6), TCP ports
/// before UDP ports as memcached binds them. Written to NAME.lck and renamed so that a reader never
/// sees half a file.
func writePortFile(_ ports: [BoundPort]) {
    guard let name = getenv("MEMCACHED_PORT_FILENAME").map({ String(cString: $0) }), !name.isEmpty else { return }
    let listed = ports.filter { $0.portFileLabel != nil }
    let ordered = listed.filter { $0.transport != .udp } + listed.filter { $0.transport == .udp }
    writeFileAtomically(name, ordered.map { "\($0.portFileLabel!)\($0.ipv6 ? "6" : ""): \($0.port)\n" }.joined())
}

/// Writes NAME.lck and renames it to NAME, so a reader sees the whole file or none (port file,
/// pid file).
func writeFileAtomically(_ name: String, _ text: String) {
    let temp = name + ".lck"
    guard let f = fopen(temp, "w") else {
        Logger(label: "swiftcached").error("Could not open \(temp) for writing")
        return
    }
    fputs(text, f)
    fclose(f)
    if rename(temp, name) != 0 { Logger(label: "swiftcached").error("Failed to rename \(temp) to \(name)") }
}

/// Lets closures built before the server reach it once it exists.
final class ServerBox: @unchecked Sendable {
    // Safe to share: written once on the main thread before any worker thread starts.
    var server: Server?
    var listeners: [(fd: Int32, address: SocketAddress)] = []
}

/// What the process lines of `stats` are computed from, taken when `stats` runs.
struct ProcessFacts {
    let options: Options
    let clock: ProcessClock
    let pid: Int32
    let startedAt: Int
    let usage: rusage

    /// The process lines of `stats`, in memcached's order (the server's connection lines follow).
    static let statTable = StatTable<ProcessFacts>([
        .gauge("pid", .server) { String($0.pid) },
        .gauge("uptime", .server) { String($0.clock.unixNow - $0.startedAt) },
        .gauge("time", .server) { String($0.clock.unixNow) },
        .gauge("version", .server) { $0.options.proto.version },
        .gauge("libevent", .server) { _ in String(cString: event_get_version()) },
        .gauge("pointer_size", .server) { _ in String(MemoryLayout<UnsafeRawPointer>.size * 8) },
        .gauge("rusage_user", .cpu) { ProcessFacts.seconds($0.usage.ru_utime) },
        .gauge("rusage_system", .cpu) { ProcessFacts.seconds($0.usage.ru_stime) },
        .gauge("max_connections", .clients) { String($0.options.server.maxConnections) },
    ])

    /// "<s>.<6-digit µs>", as memcached prints rusage.
    private static func seconds(_ t: timeval) -> String {
        let us = String(t.tv_usec)
        return "\(t.tv_sec)." + String(repeating: "0", count: max(0, 6 - us.count)) + us
    }
}

/// The lines of `stats` that come before the protocol's: the process's, then the server's.
func generalServerStats(server: Server, clock: ProcessClock, options: Options, pid: Int32, startedAt: Int) -> [(String, String)] {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let facts = ProcessFacts(options: options, clock: clock, pid: pid, startedAt: startedAt, usage: usage)
    return ProcessFacts.statTable.lines(facts) + ServerStats.statTable.lines(server.stats)
}
