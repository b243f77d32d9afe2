// The process and server lines of `stats` and the `stats settings` lines, under memcached's names.
import Broker
import CacheEngine
import CLibevent
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
        printError("Could not open \(temp) for writing")
        return
    }
    fputs(text, f)
    fclose(f)
    if rename(temp, name) != 0 { printError("Failed to rename \(temp) to \(name)") }
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
    ]
}

/// `stats settings`; the LRU lines show `lru tune|mode|temp_ttl` changes made since start-up.
func settingsStats(_ o: Options, tuning t: LRUTuning, automove: Int) -> [(String, String)] {
    let e = o.engine
    return [
        ("maxbytes", String(e.memoryLimit)),
        ("maxconns", String(o.server.maxConnections)),
        ("tcpport", String(o.server.unixSocket == nil ? o.server.port : 0)),
        ("domain_socket", o.server.unixSocket ?? "NULL"),
        ("umask", String(o.server.unixMask, radix: 8)),
        ("udpport", String(o.udpPort)),
        ("inter", o.server.hosts.isEmpty ? "NULL" : o.server.hosts.joined(separator: ",")),
        ("verbosity", String(o.verbose)),
        ("evictions", e.evictToFree ? "on" : "off"),
        ("growth_factor", String(format2(e.growthFactor))),
        ("chunk_size", String(e.chunkSizeMin)),
        ("num_threads", String(o.server.threads)),
        ("reqs_per_event", String(o.proto.requestsPerEvent)),
        ("cas_enabled", e.useCAS ? "yes" : "no"),
        ("tcp_backlog", String(o.server.backlog)),
        ("idle_timeout", String(o.server.idleTimeout)),
        ("binding_protocol", o.proto.bindingProtocol),
        ("flush_enabled", o.proto.flushEnabled ? "yes" : "no"),
        ("dump_enabled", o.proto.dumpEnabled ? "yes" : "no"),
        ("stat_key_prefix", String(UnicodeScalar(o.proto.prefixDelimiter))),
        ("item_size_max", String(e.itemSizeMax)),
        ("shutdown_command", o.proto.allowShutdown ? "yes" : "no"),
        ("hashpower_init", String(e.hashPowerInit)),
        ("slab_page_size", String(e.slabPageSize)),
        ("slab_chunk_max", String(e.slabChunkMax)),
        ("slab_reassign", "yes"),
        ("slab_automove", String(automove)),
        ("lru_crawler", e.lruCrawler ? "yes" : "no"),
        ("lru_maintainer_thread", e.lruMaintainer ? "yes" : "no"),
        ("lru_segmented", t.isSegmented ? "yes" : "no"),
        ("hot_lru_pct", String(t.hotLRUPercent)),
        ("warm_lru_pct", String(t.warmLRUPercent)),
        ("hot_max_factor", format2(t.hotMaxFactor)),
        ("warm_max_factor", format2(t.warmMaxFactor)),
        ("temp_lru", t.isTempLRU ? "yes" : "no"),
        ("temporary_ttl", String(t.temporaryTTL)),
        ("hash_algorithm", "murmur3"),
        ("allow_key_control_chars", o.proto.allowKeyControlCharacters ? "yes" : "no"),
        ("auth_enabled_sasl", "no"),
        ("auth_enabled_ascii", o.authFile ?? "no"),
        ("broker_port", String(o.brokerPort)),
        ("broker_data_dir", o.broker.dataDirectory ?? "none (memory only)"),
        ("broker_fsync", o.broker.fsync.description),
        ("broker_memory", String(o.broker.memoryLimit)),
        ("broker_visibility_timeout", String(o.broker.visibilityTimeoutMs)),
        ("broker_prefetch", String(o.broker.prefetch)),
    ]
}

/// memcached prints these with "%.2f".
func format2(_ v: Double) -> String {
    let scaled = Int((v * 100).rounded())
    let frac = scaled % 100
    return "\(scaled / 100)." + (frac < 10 ? "0" : "") + String(frac)
}
