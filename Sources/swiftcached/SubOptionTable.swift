// memcached's `-o` suboptions, once: `-h` lists them and `-o a=1,b` is parsed through this table.
// Entries are in `-h` order; those with no help lines are accepted but not listed. A value that
// cannot be represented where it is used is refused (the server never starts with it).
import CacheEngine

enum SubOptionTable {
    static let entries: [SubOptionSpec] = [
        SubOptionSpec("slab_chunk_max", "<bytes>", default: "512k", settings: "slab_chunk_max", help: [
            "largest slab chunk; larger items are chunked (default: {default})",
        ]) { value, p in
            guard let v = value.flatMap(parseSize), v > 0 else { return "slab_chunk_max needs a size" }
            p.options.engine.slabChunkMax = v
            p.slabChunkMaxSet = true
            return nil
        },
        SubOptionSpec("hot_lru_pct", "<num>", default: "20", settings: "hot_lru_pct", help: [
            "pct of slab memory to reserve for hot lru (default: {default})",
        ]) { value, p in
            guard let v = value.flatMap(parseInt), v >= 1, v <= 80 else { return "hot_lru_pct must be 1 to 80" }
            p.options.engine.hotLRUPercent = v
            return nil
        },
        SubOptionSpec("warm_lru_pct", "<num>", default: "40", settings: "warm_lru_pct", help: [
            "pct of slab memory to reserve for warm lru (default: {default})",
        ]) { value, p in
            guard let v = value.flatMap(parseInt), v >= 1, v <= 80 else { return "warm_lru_pct must be 1 to 80" }
            p.options.engine.warmLRUPercent = v
            return nil
        },
        SubOptionSpec("hot_max_factor", "<float>", default: "0.2", settings: "hot_max_factor", help: [
            "items idle > cold lru age * this are moved out of hot (default: {default})",
        ]) { value, p in
            guard let v = value.flatMap(Double.init), LRUTuning.isValidAgeFactor(v) else {
                return "hot_max_factor must be greater than 0 and at most 4294967295"
            }
            p.options.engine.hotMaxFactor = v
            return nil
        },
        SubOptionSpec("warm_max_factor", "<float>", default: "2.0", settings: "warm_max_factor", help: [
            "items idle > cold lru age * this are moved out of warm (default: {default})",
        ]) { value, p in
            guard let v = value.flatMap(Double.init), LRUTuning.isValidAgeFactor(v) else {
                return "warm_max_factor must be greater than 0 and at most 4294967295"
            }
            p.options.engine.warmMaxFactor = v
            return nil
        },
        SubOptionSpec("temporary_ttl", "<num>", settings: "temporary_ttl", help: [
            "TTLs at or below this use the TEMP LRU, never evicted (off by default; 61 once set)",
        ]) { value, p in
            guard let v = value.flatMap(parseInt), v >= 0, v <= Int(Int32.max) else {
                return "temporary_ttl must be a number of seconds from 0 to 2147483647"
            }
            p.options.engine.tempLRU = true
            p.options.engine.temporaryTTL = v
            return nil
        },
        SubOptionSpec("hashpower", "<num>", default: "16", settings: "hashpower_init", help: [
            "initial hash table size as a power of 2 (default: {default})",
        ]) { value, p in
            guard let v = value.flatMap(parseInt), v >= 12, v <= 32 else { return "hashpower must be 12 to 32" }
            p.options.engine.hashPowerInit = v
            return nil
        },
        SubOptionSpec("idle_timeout", "<num>", default: "0", settings: "idle_timeout", help: [
            "close connections idle for more than this many seconds (default: {default}, never)",
        ]) { value, p in
            // memcached keeps it in an int; past that it cannot be represented.
            guard let v = value.flatMap(parseInt), v >= 0, v <= Int(Int32.max) else {
                return "idle_timeout must be a number of seconds from 0 to 2147483647"
            }
            p.options.server.idleTimeout = v
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
        SubOptionSpec("no_lru_crawler", settings: "lru_crawler", help: [
            "disable the LRU crawler background thread",
        ]) { _, p in
            p.options.lruCrawlerOption = false
            return nil
        },
        SubOptionSpec("no_lru_maintainer", settings: "lru_maintainer_thread", help: [
            "disable the LRU maintainer background thread",
        ]) { _, p in
            p.options.lruMaintainerOption = false
            return nil
        },
        SubOptionSpec("slab_reassign", settings: "slab_reassign", help: [
            "accepted: pages can always be moved between classes",
        ]) { _, _ in
            nil  // always on here, as in memcached 1.6's modern defaults
        },
        SubOptionSpec("slab_automove", "<0|1|2>", default: "1", settings: "slab_automove", help: [
            "move pages from classes with free memory to evicting ones (default: {default})",
        ]) { value, p in
            guard let v = value.flatMap(parseInt), v >= 0, v <= 2 else { return "slab_automove must be 0, 1 or 2" }
            p.options.engine.slabAutomove = v
            return nil
        },
        SubOptionSpec("no_modern", settings: "lru_segmented", help: [
            "flat LRU: no segmented LRU, no maintainer, no automove",
        ]) { _, p in
            p.options.engine.lruSegmented = false
            p.options.lruMaintainerOption = false
            p.options.engine.slabAutomove = 0
            return nil
        },
        // memcached's default set; accepted and not listed, as before.
        SubOptionSpec("modern", help: []) { _, _ in nil },
    ]

    /// The suboption called `name`.
    static func entry(named name: String) -> SubOptionSpec? {
        entries.first { $0.name == name }
    }
}

/// Applies `-o`'s comma-separated `name[=value]` list, in order; the first bad one refuses the
/// command line.
func applySubOptions(_ argument: String, _ parse: inout OptionParse) -> FlagOutcome {
    for sub in argument.split(separator: ",") {
        let parts = sub.split(separator: "=", maxSplits: 1).map(String.init)
        guard let entry = SubOptionTable.entry(named: parts[0]) else {
            return .refuse("Illegal suboption \"\(sub)\"")
        }
        if let message = entry.apply(parts.count > 1 ? parts[1] : nil, &parse) {
            return .refuse(message)
        }
    }
    return .proceed
}
