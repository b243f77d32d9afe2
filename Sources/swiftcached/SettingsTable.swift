// `stats settings`, once: each line's memcached name and how its value is read, in the order
// memcached prints them (the broker's lines last). OptionTable names the line that shows each flag.
import Broker
import CacheEngine
#if canImport(Glibc)
import Glibc
#endif

/// What a `stats settings` line is read from.
struct SettingsSource {
    let options: Options
    /// The LRU lines show `lru tune|mode|temp_ttl` changes made since start-up.
    let tuning: LRUTuning
    /// `slabs automove` as it is now.
    let automove: Int
}

/// One `stats settings` line.
struct SettingsEntry: Sendable {
    /// memcached's name (swiftcached's own for the broker's lines).
    let name: String
    let value: @Sendable (SettingsSource) -> String

    init(_ name: String, _ value: @escaping @Sendable (SettingsSource) -> String) {
        self.name = name
        self.value = value
    }
}

enum SettingsTable {
    static let entries: [SettingsEntry] = [
        SettingsEntry("maxbytes") { String($0.options.engine.memoryLimit) },
        SettingsEntry("maxconns") { String($0.options.server.maxConnections) },
        SettingsEntry("tcpport") { $0.options.server.unixSocket == nil ? String($0.options.server.port) : "0" },
        SettingsEntry("domain_socket") { $0.options.server.unixSocket ?? "NULL" },
        SettingsEntry("umask") { String($0.options.server.unixMask, radix: 8) },
        SettingsEntry("udpport") { String($0.options.udpPort) },
        SettingsEntry("inter") { $0.options.server.hosts.isEmpty ? "NULL" : $0.options.server.hosts.joined(separator: ",") },
        SettingsEntry("verbosity") { String($0.options.verbose) },
        SettingsEntry("evictions") { $0.options.engine.evictToFree ? "on" : "off" },
        SettingsEntry("growth_factor") { format2($0.options.engine.growthFactor) },
        SettingsEntry("chunk_size") { String($0.options.engine.chunkSizeMin) },
        SettingsEntry("num_threads") { String($0.options.server.threads) },
        SettingsEntry("reqs_per_event") { String($0.options.proto.requestsPerEvent) },
        SettingsEntry("cas_enabled") { yesNo($0.options.engine.useCAS) },
        SettingsEntry("tcp_backlog") { String($0.options.server.backlog) },
        SettingsEntry("idle_timeout") { String($0.options.server.idleTimeout) },
        SettingsEntry("binding_protocol") { $0.options.proto.bindingProtocol },
        SettingsEntry("flush_enabled") { yesNo($0.options.proto.flushEnabled) },
        SettingsEntry("dump_enabled") { yesNo($0.options.proto.dumpEnabled) },
        SettingsEntry("stat_key_prefix") { String(UnicodeScalar($0.options.proto.prefixDelimiter)) },
        SettingsEntry("item_size_max") { String($0.options.engine.itemSizeMax) },
        SettingsEntry("shutdown_command") { yesNo($0.options.proto.allowShutdown) },
        SettingsEntry("hashpower_init") { String($0.options.engine.hashPowerInit) },
        SettingsEntry("slab_page_size") { String($0.options.engine.slabPageSize) },
        SettingsEntry("slab_chunk_max") { String($0.options.engine.slabChunkMax) },
        SettingsEntry("slab_reassign") { _ in "yes" },
        SettingsEntry("slab_automove") { String($0.automove) },
        SettingsEntry("lru_crawler") { yesNo($0.options.engine.lruCrawler) },
        SettingsEntry("lru_maintainer_thread") { yesNo($0.options.engine.lruMaintainer) },
        SettingsEntry("lru_segmented") { yesNo($0.tuning.isSegmented) },
        SettingsEntry("hot_lru_pct") { String($0.tuning.hotLRUPercent) },
        SettingsEntry("warm_lru_pct") { String($0.tuning.warmLRUPercent) },
        SettingsEntry("hot_max_factor") { format2($0.tuning.hotMaxFactor) },
        SettingsEntry("warm_max_factor") { format2($0.tuning.warmMaxFactor) },
        SettingsEntry("temp_lru") { yesNo($0.tuning.isTempLRU) },
        SettingsEntry("temporary_ttl") { String($0.tuning.temporaryTTL) },
        SettingsEntry("hash_algorithm") { _ in "murmur3" },
        SettingsEntry("allow_key_control_chars") { yesNo(!$0.options.proto.rejectKeyControlCharacters) },
        SettingsEntry("auth_enabled_sasl") { _ in "no" },
        SettingsEntry("auth_enabled_ascii") { $0.options.authFile ?? "no" },
        SettingsEntry("broker_port") { String($0.options.brokerPort) },
        SettingsEntry("broker_data_dir") { $0.options.broker.dataDirectory ?? "none (memory only)" },
        SettingsEntry("broker_fsync") { $0.options.broker.fsync.description },
        SettingsEntry("broker_memory") { String($0.options.broker.memoryLimit) },
        SettingsEntry("broker_visibility_timeout") { String($0.options.broker.visibilityTimeoutMs) },
        SettingsEntry("broker_prefetch") { String($0.options.broker.prefetch) },
        SettingsEntry("redis_port") { String($0.options.redisPort) },
        // Whether a password is set; never the password.
        SettingsEntry("redis_requirepass") { yesNo($0.options.redis.requirePassword != nil) },
    ]

    /// The entry called `name`.
    static func entry(named name: String) -> SettingsEntry? {
        entries.first { $0.name == name }
    }
}

/// The `stats settings` lines, in SettingsTable's order.
func settingsStats(_ o: Options, tuning: LRUTuning, automove: Int) -> [(String, String)] {
    let source = SettingsSource(options: o, tuning: tuning, automove: automove)
    return SettingsTable.entries.map { ($0.name, $0.value(source)) }
}

/// memcached's "yes"/"no".
private func yesNo(_ b: Bool) -> String { b ? "yes" : "no" }

/// memcached prints these with "%.2f"; so does this, for any Double (no integer conversion that
/// a large factor could overflow).
func format2(_ v: Double) -> String {
    // The longest "%.2f" of a finite Double is 309 digits, a sign, a point and two decimals.
    var buffer = [CChar](repeating: 0, count: 320)
    let n = withVaList([v]) { vsnprintf(&buffer, buffer.count, "%.2f", $0) }
    guard n > 0, n < buffer.count else { return v.description }
    return String(decoding: buffer[0..<Int(n)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
