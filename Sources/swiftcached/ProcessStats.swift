// The process lines of `stats`, declared under memcached's names, and the port file.
import Platform
import CacheEngine
import CLibevent
import Logging
import MemcacheProtocol
import RESP
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

/// Lets `stats settings`, set up before the cache service exists, read it once it does.
final class ServiceBox: @unchecked Sendable {
    // Safe to share: written once on the main thread before any worker thread starts.
    var service: MemcacheService?
}

/// What the process lines of `stats` are computed from, taken when `stats` runs.
struct ProcessFacts {
    let options: Options
    let clock: ProcessClock
    let pid: Int32
    let startedAt: Int
    let usage: rusage
    /// Descriptors kept for the server's own use above -c (`descriptorsNeeded`).
    let reservedDescriptors: Int

    /// The process lines of `stats`, in memcached's order (the server's connection lines follow).
    static let statTable = StatTable<ProcessFacts>([
        .gauge("pid", .server) { String($0.pid) },
        // memcached's clock starts at 2 s (process_started is set 2 s before the start, past its
        // 60 s item update interval), so its uptime does.
        .gauge("uptime", .server) { String($0.clock.unixNow - $0.startedAt + 2) },
        .gauge("time", .server) { String($0.clock.unixNow) },
        .gauge("version", .server) { $0.options.proto.version },
        .gauge("libevent", .server) { _ in String(cString: event_get_version()) },
        .gauge("pointer_size", .server) { _ in String(MemoryLayout<UnsafeRawPointer>.size * 8) },
        .gauge("rusage_user", .cpu) { ProcessFacts.seconds($0.usage.ru_utime) },
        .gauge("rusage_system", .cpu) { ProcessFacts.seconds($0.usage.ru_stime) },
        .gauge("max_connections", .clients) { String($0.options.server.maxConnections) },
        .gauge("reserved_fds", .clients) { String($0.reservedDescriptors) },
    ])

    /// `stats` in memcached 1.6.18's order: slices of the process lines (above), the connection
    /// lines (`ServerStats.statTable`) and the protocol's (`MemcacheService.generalStatTable`),
    /// each line declared once by its module, its place in the reply declared here.
    static let memcachedStatTable = StatTable<StatsSnapshot>([]
        + ProcessFacts.statTable.slice(through: "max_connections") { $0.process }
        + ServerStats.statTable.slice(from: "curr_connections", through: "connection_structures") { $0.server }
        + MemcacheService.generalStatTable.slice(from: "response_obj_oom", through: "response_obj_bytes") { $0.proto }
        + ServerStats.statTable.slice(from: "read_buf_count", through: "read_buf_oom") { $0.server }
        + ProcessFacts.statTable.slice(from: "reserved_fds", through: "reserved_fds") { $0.process }
        + MemcacheService.generalStatTable.slice(from: "cmd_get", through: "auth_errors") { $0.proto }
        // Only with -o idle_timeout, as memcached.
        + ServerStats.statTable.slice(from: "idle_kicks", through: "idle_kicks") { $0.server }
        + ServerStats.statTable.slice(from: "bytes_read", through: "bytes_written") { $0.server }
        + MemcacheService.generalStatTable.slice(from: "limit_maxbytes", through: "limit_maxbytes") { $0.proto }
        + ServerStats.statTable.slice(from: "accepting_conns", through: "time_in_listen_disabled_us") { $0.server }
        + MemcacheService.generalStatTable.slice(from: "threads", through: "threads") { $0.proto }
        + ServerStats.statTable.slice(from: "conn_yields", through: "conn_yields") { $0.server }
        + MemcacheService.generalStatTable.slice(from: "hash_power_level", through: "log_watchers") { $0.proto }
        // Shown only with -Z (and ssl_new_sessions only with ssl_session_cache), as memcached.
        + ServerStats.statTable.slice(from: "ssl_new_sessions", through: "time_since_server_cert_refresh") { $0.server }
        + MemcacheService.generalStatTable.slice(from: "unexpected_napi_ids", through: "lru_bumps_dropped") { $0.proto }
        // swiftcached's own lines, after memcached's.
        + ServerStats.statTable.slice(from: "conn_output_stalls", through: "conn_parked_input_pauses") { $0.server }
        + MemcacheService.generalStatTable.slice(from: "binary_header_invalid", through: "swiftcached_version") { $0.proto }
    )

    /// "<s>.<6-digit µs>", as memcached prints rusage.
    private static func seconds(_ t: timeval) -> String {
        let us = String(t.tv_usec)
        return "\(t.tv_sec)." + String(repeating: "0", count: max(0, 6 - us.count)) + us
    }
}

/// What `stats` on the cache port is rendered from.
struct StatsSnapshot: Sendable {
    let process: ProcessFacts
    let server: ServerStats
    let proto: GeneralStatsSource
}

extension ProcessFacts: @unchecked Sendable {}  // Safe: an immutable value taken for one reply.

/// The process facts as they are now.
func processFacts(clock: ProcessClock, options: Options, pid: Int32, startedAt: Int, reserved: Int) -> ProcessFacts {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return ProcessFacts(options: options, clock: clock, pid: pid, startedAt: startedAt, usage: usage, reservedDescriptors: reserved)
}

/// The lines of the broker's `stats` that come before its own: the process's, then the server's.
func generalServerStats(server: Server, facts: ProcessFacts) -> [(String, String)] {
    ProcessFacts.statTable.lines(facts) + ServerStats.statTable.lines(server.stats)
}

/// What the Redis port's INFO and CONFIG GET report about the process.
func redisHostFacts(server: Server?, options: Options, startedAt: Int) -> RESPHostFacts {
    var facts = RESPHostFacts()
    facts.startedAt = startedAt
    facts.tcpPort = server?.boundPorts.first { $0.portFileLabel == "REDIS INET" }?.port ?? options.redisPort
    var exe = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let length = readlink("/proc/self/exe", &exe, Int(PATH_MAX))
    if length > 0 { facts.executable = String(decoding: exe.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self) }
    facts.swiftcachedVersion = swiftcachedVersion
    facts.maxClients = options.server.maxConnections
    facts.idleTimeout = options.server.idleTimeout
    facts.threads = options.server.threads
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    facts.cpuUser = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
    facts.cpuSystem = Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    if let server {
        facts.netInputBytes = ServerCounter.bytesRead.total(server.stats.workers)
        facts.netOutputBytes = ServerCounter.bytesWritten.total(server.stats.workers)
        facts.rejectedConnections = server.stats.rejectedConnections
    }
    // /proc/self/statm's second field: resident pages.
    let fd = open("/proc/self/statm", O_RDONLY)
    if fd >= 0 {
        var text = [UInt8](repeating: 0, count: 128)
        let n = read(fd, &text, text.count)
        close(fd)
        let fields = text.prefix(max(0, n)).split(separator: 0x20)
        if fields.count > 1, let pages = Int(String(decoding: fields[1], as: UTF8.self)) {
            facts.residentBytes = pages * Int(sysconf(Int32(_SC_PAGESIZE)))
        }
    }
    return facts
}
