// The process and server lines of `stats`, under memcached's names, and the port file.
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
    var listeners: [(fd: Int32, address: String)] = []
}

func generalServerStats(server: Server, clock: ProcessClock, options: Options, pid: Int32, startedAt: Int) -> [(String, String)] {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ t: timeval) -> String {
        let us = String(t.tv_usec)
        return "\(t.tv_sec)." + String(repeating: "0", count: max(0, 6 - us.count)) + us
    }
    let s = server.stats
    return [
        ("pid", String(pid)),
        ("uptime", String(clock.unixNow - startedAt)),
        ("time", String(clock.unixNow)),
        ("version", options.proto.version),
        ("libevent", String(cString: event_get_version())),
        ("pointer_size", String(MemoryLayout<UnsafeRawPointer>.size * 8)),
        ("rusage_user", seconds(usage.ru_utime)),
        ("rusage_system", seconds(usage.ru_stime)),
        ("max_connections", String(options.server.maxConnections)),
        ("curr_connections", String(s.currentConnections)),
        ("total_connections", String(s.totalConnections)),
        ("rejected_connections", String(s.rejectedConnections)),
        ("connection_structures", String(s.connectionStructures)),
        ("bytes_read", String(s.sum(.bytesRead))),
        ("bytes_written", String(s.sum(.bytesWritten))),
        ("conn_yields", String(s.sum(.connYields))),
        ("idle_kicks", String(s.sum(.idleKicks))),
        ("accepting_conns", s.isAccepting ? "1" : "0"),
        ("listen_disabled_num", String(s.listenDisabledCount)),
        ("time_in_listen_disabled_us", String(s.timeInListenDisabledMicroseconds)),
    ]
}
