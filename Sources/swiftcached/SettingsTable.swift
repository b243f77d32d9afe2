// `stats settings`, once: each line's memcached name and how its value is read, in the order
// memcached prints them (the broker's lines last). OptionTable names the line that shows each flag.
import Broker
import CacheEngine
import Server
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
    /// `stats detail on|off` as it is now.
    let detailEnabled: Bool
    /// The flush_all mark (process time; 0 = none).
    let oldest: UInt32
    /// `lru_crawler sleep|tocrawl` as they are now.
    let crawler: CrawlerControl
}

/// One `stats settings` line.
struct SettingsEntry: Sendable {
    /// memcached's name (swiftcached's own for the lines after memcached's).
    let name: String
    let value: @Sendable (SettingsSource) -> String

    init(_ name: String, _ value: @escaping @Sendable (SettingsSource) -> String) {
        self.name = name
        self.value = value
    }
}

enum SettingsTable {
    /// memcached 1.6.18's lines in its order (the Debian build, with extstore and TLS compiled in),
    /// then swiftcached's own.
    static let entries: [SettingsEntry] = [
        SettingsEntry("maxbytes") { String($0.options.engine.memoryLimit) },
        SettingsEntry("maxconns") { String($0.options.server.maxConnections) },
        SettingsEntry("tcpport") { $0.options.server.unixSocket == nil ? String($0.options.server.port) : "0" },
        SettingsEntry("udpport") { String($0.options.udpPort) },
        SettingsEntry("inter") { $0.options.server.hosts.isEmpty ? "NULL" : $0.options.server.hosts.joined(separator: ",") },
        SettingsEntry("verbosity") { String($0.options.verbose) },
        SettingsEntry("oldest") { String($0.oldest) },
        SettingsEntry("evictions") { $0.tuning.evictsToFree ? "on" : "off" },
        SettingsEntry("domain_socket") { $0.options.server.unixSocket ?? "NULL" },
        SettingsEntry("umask") { String($0.options.server.unixMask, radix: 8) },
        SettingsEntry("shutdown_command") { yesNo($0.options.proto.allowShutdown) },
        SettingsEntry("growth_factor") { format2($0.options.engine.growthFactor) },
        SettingsEntry("chunk_size") { String($0.options.engine.chunkSizeMin) },
        SettingsEntry("num_threads") { String($0.options.server.threads) },
        // Every worker serves the UDP sockets (README), as memcached's default does.
        SettingsEntry("num_threads_per_udp") { String($0.options.server.threads) },
        SettingsEntry("stat_key_prefix") { String(UnicodeScalar($0.options.proto.prefixDelimiter)) },
        SettingsEntry("detail_enabled") { yesNo($0.detailEnabled) },
        SettingsEntry("reqs_per_event") { String($0.options.proto.requestsPerEvent) },
        SettingsEntry("cas_enabled") { yesNo($0.options.engine.useCAS) },
        SettingsEntry("tcp_backlog") { String($0.options.server.backlog) },
        // memcached's prot_text(): "auto" shows as auto-negotiate.
        SettingsEntry("binding_protocol") { $0.options.proto.bindingProtocol == "auto" ? "auto-negotiate" : $0.options.proto.bindingProtocol },
        SettingsEntry("auth_enabled_sasl") { _ in "no" },
        SettingsEntry("auth_enabled_ascii") { $0.options.authFile ?? "no" },
        SettingsEntry("item_size_max") { String($0.options.engine.itemSizeMax) },
        SettingsEntry("maxconns_fast") { yesNo($0.options.server.maxConnsFast) },
        // As memcached: the value given with -o hashpower, 0 when none (the table starts at 16).
        SettingsEntry("hashpower_init") { String($0.options.extended.hashpowerGiven ?? 0) },
        SettingsEntry("slab_reassign") { yesNo($0.options.extended.slabReassign) },
        SettingsEntry("slab_automove") { String($0.automove) },
        SettingsEntry("slab_automove_ratio") { format2($0.options.extended.automoveRatio) },
        SettingsEntry("slab_automove_window") { String($0.options.extended.automoveWindow) },
        SettingsEntry("slab_chunk_max") { String($0.options.engine.slabChunkMax) },
        SettingsEntry("lru_crawler") { yesNo($0.crawler.isEnabled) },
        SettingsEntry("lru_crawler_sleep") { String($0.crawler.sleep) },
        SettingsEntry("lru_crawler_tocrawl") { String($0.crawler.toCrawlLimit) },
        SettingsEntry("tail_repair_time") { String($0.options.extended.tailRepairTime) },
        SettingsEntry("flush_enabled") { yesNo($0.options.proto.flushEnabled) },
        SettingsEntry("dump_enabled") { yesNo($0.options.proto.dumpEnabled) },
        SettingsEntry("hash_algorithm") { _ in "murmur3" },
        SettingsEntry("lru_maintainer_thread") { yesNo($0.options.engine.lruMaintainer) },
        SettingsEntry("lru_segmented") { yesNo($0.tuning.isSegmented) },
        SettingsEntry("hot_lru_pct") { String($0.tuning.hotLRUPercent) },
        SettingsEntry("warm_lru_pct") { String($0.tuning.warmLRUPercent) },
        SettingsEntry("hot_max_factor") { format2($0.tuning.hotMaxFactor) },
        SettingsEntry("warm_max_factor") { format2($0.tuning.warmMaxFactor) },
        SettingsEntry("temp_lru") { yesNo($0.tuning.isTempLRU) },
        SettingsEntry("temporary_ttl") { String($0.tuning.temporaryTTL) },
        SettingsEntry("idle_timeout") { String($0.options.server.idleTimeout) },
        SettingsEntry("watcher_logbuf_size") { String($0.options.extended.watcherLogbufSize) },
        SettingsEntry("worker_logbuf_size") { String($0.options.extended.workerLogbufSize) },
        SettingsEntry("read_buf_mem_limit") { String($0.options.extended.readBufMemLimit) },
        SettingsEntry("track_sizes") { yesNo($0.options.extended.trackSizes) },
        SettingsEntry("inline_ascii_response") { _ in "no" },
        // memcached's extstore lines: it does not exist here, so they read as memcached's do with
        // extstore unconfigured (README).
        SettingsEntry("ext_item_size") { _ in "512" },
        SettingsEntry("ext_item_age") { _ in "4294967295" },
        SettingsEntry("ext_low_ttl") { _ in "0" },
        SettingsEntry("ext_recache_rate") { _ in "2000" },
        SettingsEntry("ext_wbuf_size") { _ in "4194304" },
        SettingsEntry("ext_compact_under") { _ in "0" },
        SettingsEntry("ext_drop_under") { _ in "0" },
        SettingsEntry("ext_max_sleep") { _ in "1000000" },
        SettingsEntry("ext_max_frag") { _ in "0.80" },
        SettingsEntry("slab_automove_freeratio") { _ in "0.010" },
        SettingsEntry("ext_drop_unread") { _ in "no" },
        // TLS, as memcached prints it: unset files are "(null)" or "NULL" as its printf shows
        // them, the verify mode as OpenSSL's flags.
        SettingsEntry("ssl_enabled") { yesNo($0.options.server.tls.enabled) },
        SettingsEntry("ssl_chain_cert") { $0.options.server.tls.chainCert ?? "(null)" },
        SettingsEntry("ssl_key") { $0.options.server.tls.key ?? "(null)" },
        SettingsEntry("ssl_verify_mode") { String($0.options.server.tls.verifyMode.flags) },
        SettingsEntry("ssl_keyformat") { String($0.options.server.tls.keyFormat) },
        SettingsEntry("ssl_ciphers") { $0.options.server.tls.ciphers ?? "NULL" },
        SettingsEntry("ssl_ca_cert") { $0.options.server.tls.caCert ?? "NULL" },
        SettingsEntry("ssl_wbuf_size") { String($0.options.server.tls.writeBufferSize) },
        SettingsEntry("ssl_session_cache") { yesNo($0.options.server.tls.sessionCache) },
        SettingsEntry("ssl_kernel_tls") { yesNo($0.options.server.tls.kernelTLS) },
        SettingsEntry("ssl_min_version") { $0.options.server.tls.minimumVersion.name },
        SettingsEntry("num_napi_ids") { _ in "(null)" },
        SettingsEntry("memory_file") { $0.options.memoryFile ?? "(null)" },
        // swiftcached's own.
        SettingsEntry("slab_page_size") { String($0.options.engine.slabPageSize) },
        SettingsEntry("eviction") { $0.tuning.policy.memcachedName },
        SettingsEntry("allow_key_control_chars") { yesNo(!$0.options.proto.rejectKeyControlCharacters) },
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

    /// The first of swiftcached's own lines: memcached's come before it.
    static let firstOwnLine = "slab_page_size"

    /// The entry called `name`.
    static func entry(named name: String) -> SettingsEntry? {
        entries.first { $0.name == name }
    }
}

/// The `stats settings` lines, in SettingsTable's order.
func settingsStats(_ o: Options, tuning: LRUTuning, automove: Int, detailEnabled: Bool, oldest: UInt32,
                   crawler: CrawlerControl) -> [(String, String)] {
    let source = SettingsSource(options: o, tuning: tuning, automove: automove, detailEnabled: detailEnabled,
                                oldest: oldest, crawler: crawler)
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
