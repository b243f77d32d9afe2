// INFO, rendered as redis-server 7.0 renders it: `# Section` headers, `name:value` lines, a blank
// line between sections; default sections, `all`, `everything` (with commandstats) or the named
// ones. The figures come from this port's counters, the engine, and what the executable reports
// about the process (`RESPHostFacts`); the cache port's memcached stats are not repeated here.
import Broker
import CacheEngine
import Platform
#if canImport(Glibc)
import Glibc
#endif

/// What INFO and CONFIG GET report about the process, filled in by the executable.
public struct RESPHostFacts: Sendable {
    public var pid: Int32 = getpid()
    /// The Redis port as bound.
    public var tcpPort = 0
    /// Unix seconds at start.
    public var startedAt = 0
    public var executable = ""
    public var swiftcachedVersion = ""
    /// -c.
    public var maxClients = 0
    /// idle_timeout (seconds, 0 = none): redis's `timeout`.
    public var idleTimeout = 0
    public var cpuUser = 0.0
    public var cpuSystem = 0.0
    /// Bytes read and written on every port.
    public var netInputBytes: UInt64 = 0
    public var netOutputBytes: UInt64 = 0
    public var rejectedConnections = 0
    public var residentBytes = 0
    public var threads = 0

    public init() {}
}

enum RESPInfoSection: String, CaseIterable {
    case server, clients, memory, persistence, stats, replication, cpu, commandstats, errorstats, keyspace

    /// INFO with no argument, or `default`.
    static let defaults: [RESPInfoSection] = [.server, .clients, .memory, .persistence, .stats, .replication, .cpu, .errorstats, .keyspace]
}

extension RESPService {
    /// The INFO text of `sections`, in redis's section order.
    func info(_ sections: Set<RESPInfoSection>) -> String {
        let host = self.host()
        var time = timeval()
        gettimeofday(&time, nil)
        let now = Int(time.tv_sec) * 1_000_000 + Int(time.tv_usec)
        var out = ""
        for section in RESPInfoSection.allCases where sections.contains(section) {
            let lines = infoLines(section, host, now)
            // redis leaves out an empty keyspace or errorstats section's lines but keeps its title.
            if !out.isEmpty { out += "\r\n" }
            out += "# " + section.title + "\r\n"
            for (name, value) in lines { out += name + ":" + value + "\r\n" }
        }
        return out
    }

    private func infoLines(_ section: RESPInfoSection, _ host: RESPHostFacts, _ nowMicros: Int) -> [(String, String)] {
        switch section {
        case .server:
            let uptime = max(0, nowMicros / 1_000_000 - host.startedAt)
            var name = utsname()
            uname(&name)
            let os = [withUnsafeBytes(of: &name.sysname) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) },
                      withUnsafeBytes(of: &name.release) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) },
                      withUnsafeBytes(of: &name.machine) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }].joined(separator: " ")
            return [
                ("redis_version", settings.redisVersion.description),
                ("redis_mode", "standalone"),
                ("os", os),
                ("arch_bits", String(MemoryLayout<Int>.size * 8)),
                ("multiplexing_api", "epoll"),
                ("process_id", String(host.pid)),
                ("run_id", runID),
                ("tcp_port", String(host.tcpPort)),
                ("server_time_usec", String(nowMicros)),
                ("uptime_in_seconds", String(uptime)),
                ("uptime_in_days", String(uptime / 86400)),
                ("executable", host.executable),
                ("config_file", ""),
                ("swiftcached_version", host.swiftcachedVersion),
                ("swiftcached_threads", String(host.threads)),
            ]
        case .clients:
            return [
                ("connected_clients", String(openConnections.load(ordering: .relaxed))),
                ("maxclients", String(host.maxClients)),
                ("blocked_clients", String(listWaits.blockedClients.load(ordering: .relaxed))),
            ]
        case .memory:
            let used = engine.totalMalloced
            let limit = engine.memoryLimit
            return [
                ("used_memory", String(used)),
                ("used_memory_human", humanBytes(used)),
                ("used_memory_rss", String(host.residentBytes)),
                ("used_memory_rss_human", humanBytes(host.residentBytes)),
                // redis prints it as a long long (2^64-1 is -1) and its human form in bytes from
                // 1024^6 on (bytesToHuman).
                ("maxmemory", String(Int64(bitPattern: config.maxmemoryBytes))),
                ("maxmemory_human", config.maxmemoryBytes >= 1 << 60 ? "\(config.maxmemoryBytes)B" : humanBytes(limit)),
                ("maxmemory_policy", engine.tuning.policy.redisName),
                ("mem_allocator", "swiftcached-slabs"),
                // Deleted long lists and hashes whose nodes the engine's list-free thread has not freed yet.
                ("lazyfree_pending_objects", String(engine.listFrees.pendingListCount)),
                // Hash, set and sorted-set members that fitted a compact keyless class but took the
                // 44-byte header because that class had no memory; member indexes that began
                // shrinking after deletes.
                ("keyless_item_fallbacks", String(engine.keylessFallbackCount)),
                ("member_index_shrinks", String(engine.hashIndexShrinkCount)),
            ]
        case .persistence:
            return [
                ("loading", "0"),
                ("async_loading", "0"),
                ("rdb_changes_since_last_save", "0"),
                ("rdb_bgsave_in_progress", "0"),
                ("rdb_last_save_time", String(host.startedAt)),
                ("aof_enabled", "0"),
                ("aof_rewrite_in_progress", "0"),
            ]
        case .stats:
            let items = engine.stats.items
            return [
                ("total_connections_received", String(total(.connectionsAccepted))),
                ("total_commands_processed", String(total(.commands))),
                ("total_net_input_bytes", String(host.netInputBytes)),
                ("total_net_output_bytes", String(host.netOutputBytes)),
                ("rejected_connections", String(host.rejectedConnections)),
                // Expired items taken away: by a lookup, the crawler or at an LRU tail
                // (memcached's reclaimed counts the crawler's too).
                ("expired_keys", String(engine.expiredItemCount)),
                ("evicted_keys", String(items.evicted)),
                ("keyspace_hits", String(total(.keyspaceHits))),
                ("keyspace_misses", String(total(.keyspaceMisses))),
                ("pubsub_channels", String(pubsub.channelCount)),
                ("pubsub_patterns", String(pubsub.patternCount)),
                ("client_query_buffer_limit_disconnections", String(total(.queryBufferLimitDisconnections))),
                ("client_output_buffer_limit_disconnections", String(pubsub.overflowDisconnections.load(ordering: .relaxed))),
                ("total_error_replies", String(total(.errorReplies))),
                ("resp_protocol_errors", String(total(.protocolErrors))),
                ("resp_auth_failures", String(total(.authFailures))),
                ("resp_mget_streamed_replies", String(total(.mgetsStreamed))),
                ("resp_multi_queue_refusals", String(total(.transactionQueueRefusals))),
                ("resp_watch_refusals", String(total(.watchRefusals))),
                ("resp_clients_killed", String(total(.clientsKilled))),
                ("resp_clients_unblocked", String(total(.clientsUnblocked))),
                ("resp_lcs_refused", String(total(.lcsRefused))),
                ("resp_bitop_refused", String(total(.bitopRefused))),
                ("resp_debug_sleeps", String(total(.debugSleeps))),
                ("resp_debug_sleeps_clamped", String(total(.debugSleepsClamped))),
                ("resp_scan_cut_short", String(total(.scanCutShort))),
                ("resp_unsupported_type_errors", String(total(.unsupportedTypes))),
                ("lazyfreed_objects", String(engine.listFrees.lazyFreedLists.load(ordering: .relaxed))),
                ("resp_list_elements_too_large", String(total(.listElementsTooLarge))),
                ("resp_hash_pairs_too_large", String(total(.hashPairsTooLarge))),
                ("resp_hrandfield_refused", String(total(.hashRandomRefused))),
                // Writes the segmented LRU could serve only by sampling the class (every item it
                // tried at the tails was busy; the memcached port refuses those, as memcached).
                ("resp_lru_tail_busy_fallbacks", String(engine.evictionFallbacks.load(ordering: .relaxed))),
                ("resp_streams", String(streams.live.load(ordering: .relaxed))),
                ("resp_stream_appends_refused", String(streams.appendsRefused.load(ordering: .relaxed))),
                ("resp_stream_entries_too_large", String(streams.entriesTooLarge.load(ordering: .relaxed))),
                ("resp_stream_chunks", String(streams.memory.chunks.held.load(ordering: .relaxed))),
                ("resp_stream_chunk_refusals", String(streams.memory.chunks.refusals.load(ordering: .relaxed))),
                // Pages moved at once to the chunks' slab class (either port's logs and streams).
                ("slab_reassign_forced", String(engine.forcedPageMoves)),
                ("resp_stream_pending_refusals", String(streams.pendingRefusals.load(ordering: .relaxed))),
            ]
        case .replication:
            return [
                ("role", "master"),
                ("connected_slaves", "0"),
                ("master_failover_state", "no-failover"),
                ("master_replid", runID),
                ("master_repl_offset", "0"),
            ]
        case .cpu:
            return [
                ("used_cpu_sys", String(format6: host.cpuSystem)),
                ("used_cpu_user", String(format6: host.cpuUser)),
            ]
        case .commandstats:
            var lines: [(String, String)] = []
            // A container's line, then its subcommands' (`cmdstat_config|get`), as redis 7.0.
            func add(_ name: String, _ index: Int) {
                func sum(_ field: Int) -> UInt64 {
                    commandStats.reduce(0) { $0 &+ $1[RESPCommandStats.slot(command: index, field)] }
                }
                let calls = sum(RESPCommandStats.calls), rejected = sum(RESPCommandStats.rejected)
                guard calls + rejected > 0 else { return }
                let usec = sum(RESPCommandStats.microseconds)
                let perCall = calls == 0 ? 0 : Double(usec) / Double(calls)
                lines.append(("cmdstat_" + name,
                              "calls=\(calls),usec=\(usec),usec_per_call=\(String(format2: perCall)),rejected_calls=\(rejected),failed_calls=\(sum(RESPCommandStats.failed))"))
            }
            for c in table.commands {
                add(c.name.description, c.index)
                for (k, sub) in c.subcommands.enumerated() {
                    add(c.name.description + "|" + sub.description, c.subcommandBase + k)
                }
            }
            return lines
        case .errorstats:
            var lines: [(String, String)] = []
            let n = table.statCount
            for code in RESPErrorCode.allCases {
                let count = commandStats.reduce(0) { $0 &+ $1[RESPCommandStats.slot(error: code, commands: n)] }
                if count > 0 { lines.append(("errorstat_" + code.word.description, "count=\(count)")) }
            }
            return lines
        case .keyspace:
            // One line per non-empty logical database, from the engine's per-database counts.
            var lines: [(String, String)] = []
            for db in 0..<ItemLayout.databaseCount {
                let f = engine.databaseFigures(database: db)
                if f.keys > 0 { lines.append(("db\(db)", "keys=\(f.keys),expires=\(f.expires),avg_ttl=\(f.averageTTL)")) }
            }
            return lines
        }
    }
}

extension RESPInfoSection {
    var title: String {
        switch self {
        case .server: "Server"
        case .clients: "Clients"
        case .memory: "Memory"
        case .persistence: "Persistence"
        case .stats: "Stats"
        case .replication: "Replication"
        case .cpu: "CPU"
        case .commandstats: "Commandstats"
        case .errorstats: "Errorstats"
        case .keyspace: "Keyspace"
        }
    }
}

/// redis's bytesToHuman: B under 1024, then K, M, G, T, P with two decimals.
func humanBytes(_ n: Int) -> String {
    let units = ["K", "M", "G", "T", "P"]
    if n < 1024 { return "\(n)B" }
    var value = Double(n) / 1024
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return String(format2: value) + units[unit]
}

extension String {
    /// `%.2f`.
    init(format2 v: Double) { self = Self.fixed(v, 2) }
    /// `%.6f`.
    init(format6 v: Double) { self = Self.fixed(v, 6) }

    private static func fixed(_ v: Double, _ digits: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        _ = withVaList([digits, v]) { vsnprintf(&buffer, 64, "%.*f", $0) }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
