// memcached's `-o` suboptions, once: `-h` lists them and `-o a=1,b` is parsed through this table.
// Entries are in `-h` order; those with no help lines are accepted but not listed. A value that
// cannot be represented where it is used is refused (the server never starts with it).
import CacheEngine
import Server

enum SubOptionTable {
    static let entries: [SubOptionSpec] = [
        SubOptionSpec("slab_chunk_max", "<bytes>", default: "512k", settings: "slab_chunk_max", help: [
            "largest slab chunk; larger items are chunked (default: {default})",
        ]) { value, p in
            // memcached's words (it goes on after them and crashes; here the start is refused).
            guard let value else { return "Missing slab_chunk_max argument" }
            guard let v = parseSize(value), v > 0 else { return "could not parse argument to slab_chunk_max" }
            p.options.engine.slabChunkMax = v
            p.slabChunkMaxSet = true
            p.options.extended.chunkMaxGiven = true
            return nil
        },
        SubOptionSpec("hot_lru_pct", "<num>", default: "20", settings: "hot_lru_pct", help: [
            "pct of slab memory to reserve for hot lru (default: {default})",
        ]) { value, p in
            guard let value else { return "Missing hot_lru_pct argument" }
            let v = Int(cAtoi(value))
            guard v >= 1, v < 80 else { return "hot_lru_pct must be > 1 and < 80" }
            p.options.engine.hotLRUPercent = v
            return nil
        },
        SubOptionSpec("warm_lru_pct", "<num>", default: "40", settings: "warm_lru_pct", help: [
            "pct of slab memory to reserve for warm lru (default: {default})",
        ]) { value, p in
            guard let value else { return "Missing warm_lru_pct argument" }
            let v = Int(cAtoi(value))
            guard v >= 1, v < 80 else { return "warm_lru_pct must be > 1 and < 80" }
            p.options.engine.warmLRUPercent = v
            return nil
        },
        SubOptionSpec("hot_max_factor", "<float>", default: "0.2", settings: "hot_max_factor", help: [
            "items idle > cold lru age * this are moved out of hot (default: {default})",
        ]) { value, p in
            guard let value else { return "Missing hot_max_factor argument" }
            // memcached's atof: what does not read as a number is 0.
            let v = Double(value) ?? 0
            guard v > 0 else { return "hot_max_factor must be > 0" }
            // Past this `stats settings` cannot print it (README: refused, memcached takes it).
            guard LRUTuning.isValidAgeFactor(v) else { return "hot_max_factor must be greater than 0 and at most 4294967295" }
            p.options.engine.hotMaxFactor = v
            return nil
        },
        SubOptionSpec("warm_max_factor", "<float>", default: "2.0", settings: "warm_max_factor", help: [
            "items idle > cold lru age * this are moved out of warm (default: {default})",
        ]) { value, p in
            guard let value else { return "Missing warm_max_factor argument" }
            // memcached's atof: what does not read as a number is 0.
            let v = Double(value) ?? 0
            guard v > 0 else { return "warm_max_factor must be > 0" }
            // Past this `stats settings` cannot print it (README: refused, memcached takes it).
            guard LRUTuning.isValidAgeFactor(v) else { return "warm_max_factor must be greater than 0 and at most 4294967295" }
            p.options.engine.warmMaxFactor = v
            return nil
        },
        SubOptionSpec("temporary_ttl", "<num>", settings: "temporary_ttl", help: [
            "TTLs at or below this use the TEMP LRU, never evicted (off by default; 61 once set)",
        ]) { value, p in
            // memcached's atoi into an int: anything is taken; below 0 acts as 0 here (README).
            p.options.engine.tempLRU = true
            p.options.engine.temporaryTTL = Int(cAtoi(value ?? ""))
            return nil
        },
        SubOptionSpec("eviction", "<policy>", default: "segmented", settings: "eviction", help: [
            "segmented (memcached's LRU), lru, lfu, random, volatile-lru, volatile-lfu,",
            "volatile-random, volatile-ttl (Redis's sampling policies) or none (-M) (default: {default})",
        ]) { value, p in
            guard let value, let policy = EvictionPolicy(memcachedName: value) else {
                return "eviction must be one of segmented, lru, lfu, random, volatile-lru, volatile-lfu, volatile-random, volatile-ttl, none"
            }
            p.options.engine.evictionPolicy = policy
            return nil
        },
        SubOptionSpec("hashpower", "<num>", default: "16", settings: "hashpower_init", help: [
            "initial hash table size as a power of 2 (default: {default})",
        ]) { value, p in
            // memcached's words; the check against the item lock table comes once -t is known.
            guard let value else { return "Missing numeric argument for hashpower" }
            let v = Int(cAtoi(value))
            guard v >= 12 else { return "Initial hashtable multiplier of \(v) is too low" }
            guard v <= 32 else {
                return "Initial hashtable multiplier of \(v) is too high\nChoose a value based on \"STAT hash_power_level\" from a running instance"
            }
            p.options.engine.hashPowerInit = v
            p.options.extended.hashpowerGiven = v
            return nil
        },
        SubOptionSpec("idle_timeout", "<num>", default: "0", settings: "idle_timeout", help: [
            "close connections idle for more than this many seconds (default: {default}, never)",
        ]) { value, p in
            // memcached's atoi into an int: anything is taken; 0 or below never kicks.
            guard let value else { return "Missing numeric argument for idle_timeout" }
            p.options.server.idleTimeout = Int(cAtoi(value))
            return nil
        },
        SubOptionSpec("reject_key_control_chars", settings: "allow_key_control_chars", help: [
            "refuse keys with control bytes (0x00-0x20, 0x7f), as protocol.txt asks of clients",
            "(memcached and the default accept any byte but the space)",
        ]) { _, p in
            p.options.proto.rejectKeyControlCharacters = true
            return nil
        },
        // The default since keys with control bytes are stored as memcached stores them; kept so
        // that command lines written for earlier versions still start (and undo the option above).
        SubOptionSpec("allow_key_control_chars", help: []) { _, p in
            p.options.proto.rejectKeyControlCharacters = false
            return nil
        },
        SubOptionSpec("no_hashexpand", help: [
            "the hash table keeps its initial size (dangerous: chains grow with the items)",
        ]) { _, p in
            p.options.engine.hashExpand = false
            return nil
        },
        SubOptionSpec("maxconns_fast", settings: "maxconns_fast", help: [
            "a connection over -c is told and closed at once (default: on)",
        ]) { _, p in
            p.options.server.maxConnsFast = true
            return nil
        },
        SubOptionSpec("no_maxconns_fast", settings: "maxconns_fast", help: [
            "at -c, stop accepting until a connection closes instead",
        ]) { _, p in
            p.options.server.maxConnsFast = false
            return nil
        },
        SubOptionSpec("lru_crawler", settings: "lru_crawler", help: [
            "run the LRU crawler background thread (default: on)",
        ]) { _, p in
            p.options.lruCrawlerOption = true
            return nil
        },
        SubOptionSpec("no_lru_crawler", settings: "lru_crawler", help: [
            "disable the LRU crawler background thread",
        ]) { _, p in
            p.options.lruCrawlerOption = false
            return nil
        },
        SubOptionSpec("lru_crawler_sleep", "<us>", default: "100", settings: "lru_crawler_sleep", help: [
            "microseconds the crawler sleeps between batches of 1000 items (default: {default})",
        ]) { value, p in
            let v = Int(cAtoi(value ?? ""))
            guard v >= 0, v <= 1_000_000 else {
                return "LRU crawler sleep must be between 0 and 1 second"
            }
            p.options.engine.crawlerSleepMicroseconds = v
            return nil
        },
        SubOptionSpec("lru_crawler_tocrawl", "<num>", default: "0", settings: "lru_crawler_tocrawl", help: [
            "items the crawler checks per list and pass at most (default: {default}, all)",
        ]) { value, p in
            guard let v = value.flatMap(parseInt), v >= 0, v <= Int(UInt32.max) else {
                return "lru_crawler_tocrawl takes a numeric 32bit value"
            }
            p.options.engine.crawlerToCrawl = v
            return nil
        },
        SubOptionSpec("lru_maintainer", settings: "lru_maintainer_thread", help: [
            "run the LRU maintainer thread, segmented LRU (default: on)",
        ]) { _, p in
            p.options.lruMaintainerOption = true
            p.options.engine.lruSegmented = true
            return nil
        },
        SubOptionSpec("no_lru_maintainer", settings: "lru_maintainer_thread", help: [
            "disable the LRU maintainer background thread and the segmented LRU",
        ]) { _, p in
            p.options.lruMaintainerOption = false
            p.options.engine.lruSegmented = false
            return nil
        },
        SubOptionSpec("slab_reassign", settings: "slab_reassign", help: [
            "pages can be moved between classes (default: on)",
        ]) { _, p in
            p.options.extended.slabReassign = true
            return nil
        },
        SubOptionSpec("no_slab_reassign", settings: "slab_reassign", help: [
            "no page moves: slabs reassign is refused, no automove",
        ]) { _, p in
            // memcached leaves slab_automove as it is (shown as such); without reassignment
            // there is no automove thread.
            p.options.extended.slabReassign = false
            return nil
        },
        SubOptionSpec("slab_automove", "<0|1|2>", default: "1", settings: "slab_automove", help: [
            "move pages from classes with free memory to evicting ones (default: {default})",
        ]) { value, p in
            // memcached: without a value it is 1; else atoi ("x" is 0).
            let v = value.map { Int(cAtoi($0)) } ?? 1
            guard v >= 0, v <= 2 else { return "slab_automove must be between 0 and 2" }
            p.options.engine.slabAutomove = v
            return nil
        },
        SubOptionSpec("no_slab_automove", settings: "slab_automove", help: [
            "same as slab_automove=0",
        ]) { _, p in
            p.options.engine.slabAutomove = 0
            return nil
        },
        SubOptionSpec("slab_automove_ratio", "<float>", default: "0.80", settings: "slab_automove_ratio", help: [
            "accepted and shown; automove here uses its own rule (README)",
        ]) { value, p in
            guard let v = value.flatMap(Double.init), v > 0, v <= 1 else { return "slab_automove_ratio must be > 0 and < 1" }
            p.options.extended.automoveRatio = v
            return nil
        },
        SubOptionSpec("slab_automove_window", "<num>", default: "30", settings: "slab_automove_window", help: [
            "accepted and shown; automove here uses its own window (README)",
        ]) { value, p in
            guard let v = value.flatMap(parseInt), v >= 3, v <= Int(Int32.max) else { return "slab_automove_window must be > 2" }
            p.options.extended.automoveWindow = v
            return nil
        },
        SubOptionSpec("slab_sizes", "<a-b-c>", help: [
            "dash-separated chunk sizes of the classes below slab_chunk_max (in place of -f)",
        ]) { value, p in
            guard let value else { return "Missing slab_sizes argument" }
            p.slabSizes = value
            return nil
        },
        SubOptionSpec("tail_repair_time", "<secs>", default: "0", settings: "tail_repair_time", help: [
            "accepted and shown; no effect here (README)",
        ]) { value, p in
            let v = Int(cAtoi(value ?? ""))
            guard v >= 10 else { return "Cannot set tail_repair_time to less than 10 seconds" }
            p.options.extended.tailRepairTime = v
            return nil
        },
        SubOptionSpec("hash_algorithm", "<name>", default: "murmur3", settings: "hash_algorithm", help: [
            "jenkins, murmur3 or xxh3: accepted; the hash is always murmur3 here (README)",
        ]) { value, p in
            guard let value, ["jenkins", "murmur3", "xxh3"].contains(value) else {
                return "Unknown hash_algorithm option (jenkins, murmur3, xxh3)"
            }
            p.options.extended.hashAlgorithm = value
            return nil
        },
        SubOptionSpec("watcher_logbuf_size", "<KB>", default: "256", settings: "watcher_logbuf_size", help: [
            "bytes of watch lines a watcher may have waiting, in KB (default: {default})",
        ]) { value, p in
            guard let v = value.flatMap(parseInt), v >= 0, v <= Int(UInt32.max) / 1024 else {
                return "could not parse argument to watcher_logbuf_size"
            }
            p.options.extended.watcherLogbufSize = v * 1024
            return nil
        },
        SubOptionSpec("worker_logbuf_size", "<KB>", default: "64", settings: "worker_logbuf_size", help: [
            "accepted and shown; no per-worker log buffer here (README)",
        ]) { value, p in
            guard let v = value.flatMap(parseInt), v >= 0, v <= Int(UInt32.max) / 1024 else {
                return "could not parse argument to worker_logbuf_size"
            }
            p.options.extended.workerLogbufSize = v * 1024
            return nil
        },
        SubOptionSpec("read_buf_mem_limit", "<MB>", default: "0", settings: "read_buf_mem_limit", help: [
            "MB all connections' read buffers may take (default: {default}, no limit)",
        ]) { value, p in
            guard let v = value.flatMap(parseInt), v >= 0, v <= Int(UInt32.max) / (1024 * 1024) else {
                return "could not parse argument to read_buf_mem_limit"
            }
            p.options.extended.readBufMemLimit = v * 1024 * 1024
            p.options.server.readBufferLimit = v * 1024 * 1024
            return nil
        },
        SubOptionSpec("resp_obj_mem_limit", "<MB>", help: [
            "deprecated in memcached (see read_buf_mem_limit): accepted, no effect",
        ]) { _, _ in
            printError("DEPRECATED: resp_obj_mem_limit no longer used. See read_buf_mem_limit,")
            return nil
        },
        SubOptionSpec("track_sizes", settings: "track_sizes", help: [
            "count items per 32-byte size step for 'stats sizes'",
        ]) { _, p in
            p.options.extended.trackSizes = true
            p.options.engine.trackSizes = true
            return nil
        },
        SubOptionSpec("no_inline_ascii_resp", settings: "inline_ascii_response", help: [
            "accepted; no effect (memcached 1.6 neither)",
        ]) { _, _ in nil },
        SubOptionSpec("inline_ascii_resp", settings: "inline_ascii_response", help: [
            "accepted; no effect (memcached 1.6 neither)",
        ]) { _, _ in nil },
        SubOptionSpec("no_chunked_items", help: [
            "no chunked items: slab_chunk_max becomes the page size",
        ]) { _, p in
            p.unchunked = true
            return nil
        },
        SubOptionSpec("drop_privileges", help: [
            "accepted; no effect here (README)",
        ]) { _, _ in nil },
        SubOptionSpec("no_drop_privileges", help: [
            "accepted; no effect here (README)",
        ]) { _, _ in nil },
        SubOptionSpec("no_modern", settings: "lru_segmented", help: [
            "memcached 1.4's defaults: flat LRU, no maintainer, crawler, automove,",
            "slab_reassign or maxconns_fast",
        ]) { _, p in
            p.options.engine.lruSegmented = false
            p.options.lruMaintainerOption = false
            p.options.lruCrawlerOption = false
            p.options.engine.slabAutomove = 0
            p.options.extended.slabReassign = false
            p.options.server.maxConnsFast = false
            p.options.extended.hashAlgorithm = "jenkins"
            p.unchunked = true
            return nil
        },
        // memcached 1.6.18's -h: "enables options which will be default in future. currently:
        // nothing".
        SubOptionSpec("modern", help: [
            "accepted; no effect (memcached 1.6.18: \"currently: nothing\")",
        ]) { _, _ in nil },
        SubOptionSpec("sock_cookie_id", "<num>", help: [
            "attributes an ID to a socket for ip filtering/firewalls (SO_MARK)",
        ]) { value, p in
            // memcached reads it with atoi and sets SO_MARK on its listening sockets when it is not
            // 0 (a bare `sock_cookie_id` crashes memcached 1.6.18; here it is refused as missing).
            guard let value else { return "Missing sock_cookie_id argument" }
            p.options.server.socketMark = UInt32(truncatingIfNeeded: cAtoi(value))
            return nil
        },
        // TLS (-Z), memcached 1.6.18's names, values and refusals.
        SubOptionSpec("ssl_chain_cert", "<file>", settings: "ssl_chain_cert", help: [
            "certificate chain file in PEM format",
        ]) { value, p in
            guard let value, !value.isEmpty else { return "Missing ssl_chain_cert argument" }
            p.options.server.tls.chainCert = value
            return nil
        },
        SubOptionSpec("ssl_key", "<file>", settings: "ssl_key", help: [
            "private key file",
        ]) { value, p in
            guard let value, !value.isEmpty else { return "Missing ssl_key argument" }
            p.options.server.tls.key = value
            return nil
        },
        SubOptionSpec("ssl_keyformat", "<num>", default: "1", settings: "ssl_keyformat", help: [
            "private key format, OpenSSL's SSL_FILETYPE: 1 PEM, 2 DER (default: {default})",
        ]) { value, p in
            guard let v = value.flatMap(parseInt), v >= Int(Int32.min), v <= Int(Int32.max) else {
                return "could not parse argument to ssl_keyformat"
            }
            p.options.server.tls.keyFormat = Int32(v)
            return nil
        },
        SubOptionSpec("ssl_verify_mode", "<0-3>", default: "0", settings: "ssl_verify_mode", help: [
            "client certificate: 0 none, 1 request, 2 require, 3 once (default: {default})",
        ]) { value, p in
            guard let v = value.flatMap(parseInt) else { return "could not parse argument to ssl_verify_mode" }
            guard let mode = TLSSettings.VerifyMode(rawValue: v) else {
                return "Invalid ssl_verify_mode. Use help to see valid options."
            }
            p.options.server.tls.verifyMode = mode
            return nil
        },
        SubOptionSpec("ssl_ciphers", "<list>", settings: "ssl_ciphers", help: [
            "OpenSSL cipher list (TLS 1.2 and below)",
        ]) { value, p in
            guard let value, !value.isEmpty else { return "Missing ssl_ciphers argument" }
            p.options.server.tls.ciphers = value
            return nil
        },
        SubOptionSpec("ssl_ca_cert", "<file>", settings: "ssl_ca_cert", help: [
            "PEM file of the CAs whose client certificates are accepted",
        ]) { value, p in
            guard let value, !value.isEmpty else { return "Missing ssl_ca_cert argument" }
            p.options.server.tls.caCert = value
            return nil
        },
        SubOptionSpec("ssl_wbuf_size", "<KB>", default: "16", settings: "ssl_wbuf_size", help: [
            "KB of small reply pieces gathered into one TLS record, per worker (default: {default})",
        ]) { value, p in
            guard let v = value.flatMap(parseInt), v >= 0, v <= Int(UInt32.max) / 1024 else {
                return "could not parse argument to ssl_wbuf_size"
            }
            // memcached takes 0 and then writes nothing; a record needs at least a byte.
            guard v > 0 else { return "ssl_wbuf_size must be at least 1 (KB)" }
            p.options.server.tls.writeBufferSize = v * 1024
            return nil
        },
        SubOptionSpec("ssl_session_cache", settings: "ssl_session_cache", help: [
            "server-side session cache, so clients can resume sessions (ssl_new_sessions)",
        ]) { _, p in
            p.options.server.tls.sessionCache = true
            return nil
        },
        SubOptionSpec("ssl_kernel_tls", settings: "ssl_kernel_tls", help: [
            "kernel TLS offload (OpenSSL's SSL_OP_ENABLE_KTLS)",
        ]) { _, p in
            p.options.server.tls.kernelTLS = true
            return nil
        },
        SubOptionSpec("ssl_min_version", "<0-3>", default: "2", settings: "ssl_min_version", help: [
            "lowest version: 0 tlsv1.0, 1 tlsv1.1, 2 tlsv1.2, 3 tlsv1.3, or the name (default: {default})",
        ]) { value, p in
            // memcached 1.6.18 takes the number; the name as `stats settings` shows it is accepted too.
            if let value, let named = TLSSettings.Version.allCases.first(where: { $0.name == value }) {
                p.options.server.tls.minimumVersion = named
                return nil
            }
            guard let v = value.flatMap(parseInt) else { return "could not parse argument to ssl_min_version" }
            guard let version = TLSSettings.Version(rawValue: v) else {
                return "Invalid ssl_min_version. Use help to see valid options."
            }
            p.options.server.tls.minimumVersion = version
            return nil
        },
    ]

    /// memcached's words for a suboption that needs a value and has none (nil: none needed).
    static func missingValueMessage(_ entry: SubOptionSpec) -> String? {
        // slab_automove alone is 1; resp_obj_mem_limit is only reported as deprecated.
        guard entry.placeholder != nil, entry.name != "slab_automove", entry.name != "resp_obj_mem_limit" else { return nil }
        switch entry.name {
        case "hashpower", "idle_timeout", "tail_repair_time": return "Missing numeric argument for \(entry.name)"
        case "lru_crawler_sleep", "lru_crawler_tocrawl": return "Missing \(entry.name) value"
        default: return "Missing \(entry.name) argument"
        }
    }

    /// The suboption called `name`.
    static func entry(named name: String) -> SubOptionSpec? {
        entries.first { $0.name == name }
    }
}

/// Applies `-o`'s comma-separated `name[=value]` list, in order; the first bad one refuses the
/// command line.
func applySubOptions(_ argument: String, _ parse: inout OptionParse) -> FlagOutcome {
    for sub in argument.split(separator: ",") {
        // The name is what comes before the first `=`, possibly nothing: `-o =` and `-o =x` are
        // illegal suboptions, as with memcached's getsubopt (splitting with empty pieces omitted
        // made `=` no piece at all, and indexing it crashed; FuzzOptions found it). An empty
        // value (`name=`) is no value, as before.
        let eq = sub.firstIndex(of: "=")
        let name = String(sub[..<(eq ?? sub.endIndex)])
        let value = eq.map { String(sub[sub.index(after: $0)...]) }.flatMap { $0.isEmpty ? nil : $0 }
        // memcached refuses a suboption inside its option switch: status 1.
        guard let entry = SubOptionTable.entry(named: name) else {
            return .reject("Illegal suboption \"\(sub)\"")
        }
        if value == nil, let message = SubOptionTable.missingValueMessage(entry) {
            return .reject(message)
        }
        if let message = entry.apply(value, &parse) {
            return .reject(message)
        }
    }
    return .proceed
}
