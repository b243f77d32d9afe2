// The option table (Sources/swiftcached/OptionTable.swift) against what is built from it and what
// documents it: the flags `swiftcached -h` lists, README's flag tables (memcached's and the
// broker's) and the `stats settings` lines a running server prints.

import Foundation
import SlabAllocator
import Testing
@testable import swiftcached

@Suite("option table, -h, README and stats settings agree")
struct OptionTableTests {
    /// The flags `-h` lists, as `-h` and README name them (`-p`, `--broker-port`, and `-vv`).
    private static var tableFlags: Set<String> {
        Set(OptionTable.flags.filter { $0.help != nil }.flatMap { spec in
            [spec.displayName] + (spec.help?.extraRows.map(\.synopsis) ?? [])
        })
    }

    /// The `-h` output of the built binary.
    private func helpOutput() async throws -> String {
        let r = try await ToolRunner.run(try IntegrationPaths.serverBinary(), ["-h"], timeout: .seconds(10))
        #expect(r.succeeded, "\(r.report)")
        return r.output
    }

    @Test("the table itself: unique letters, long names and stats settings names that exist")
    func tableIsConsistent() {
        let shorts = OptionTable.flags.compactMap(\.short)
        #expect(Set(shorts).count == shorts.count, "a short letter is declared twice")
        let longs = OptionTable.flags.map(\.long)
        #expect(Set(longs).count == longs.count, "a long name is declared twice")
        let subNames = SubOptionTable.entries.map(\.name)
        #expect(Set(subNames).count == subNames.count, "a suboption is declared twice")
        #expect(OptionTable.optstring.count == shorts.count + OptionTable.flags.filter { $0.short != nil && $0.argument != .none }.count)
        let settingsNames = SettingsTable.entries.map(\.name)
        #expect(Set(settingsNames).count == settingsNames.count, "a stats settings line is declared twice")
        for name in OptionTable.flags.compactMap(\.settingsName) + SubOptionTable.entries.compactMap(\.settingsName) {
            #expect(SettingsTable.entry(named: name) != nil, "\(name) is not a stats settings line")
        }
        for (i, spec) in OptionTable.flags.enumerated() {
            #expect(OptionTable.flag(forGetoptValue: OptionTable.getoptValue(of: i))?.long == spec.long)
        }
    }

    @Test("stats settings prints factors as memcached's %.2f, for any Double (issue 11: 1e17 trapped)")
    func factorFormat() {
        #expect(format2(1.25) == "1.25")
        #expect(format2(2) == "2.00")
        #expect(format2(0.125) == "0.12")
        #expect(format2(4294967295) == "4294967295.00")
        #expect(format2(1e17) == "100000000000000000.00")
        #expect(format2(1e300).hasPrefix("1000000000") && format2(1e300).hasSuffix(".00") && format2(1e300).count == 304)
        #expect(parseSize("9999999999999999m") == nil && parseSize("2k") == 2048 && parseSize("1m") == 1 << 20)
    }

    @Test("every flag of the table is in -h and in README's flag tables, and nothing else is")
    func helpReadmeAndTableAgree() async throws {
        let help = try await helpOutput()
        let helpFlags = HelpListing(help)
        let readme = try ReadmeFlags()

        #expect(helpFlags.flags == Self.tableFlags, "-h: extra \(helpFlags.flags.subtracting(Self.tableFlags)), missing \(Self.tableFlags.subtracting(helpFlags.flags))")
        #expect(readme.flags == Self.tableFlags, "README: extra \(readme.flags.subtracting(Self.tableFlags)), missing \(Self.tableFlags.subtracting(readme.flags))")

        for spec in OptionTable.flags where spec.help != nil {
            // Long names, where -h and README show them beside the short letter, are the table's.
            if let long = helpFlags.longNames[spec.displayName] { #expect(long == spec.long, "-h names \(spec.displayName) --\(long)") }
            if let long = readme.longNames[spec.displayName] { #expect(long == spec.long, "README names \(spec.displayName) --\(long)") }
            // Each flag is in the README table of its section, with the table's default.
            #expect(readme.sections[spec.displayName] == spec.section, "README lists \(spec.displayName) in another table")
            let shown = readme.defaults[spec.displayName] ?? ""
            if let value = spec.defaultValue {
                #expect(shown == value || shown.hasPrefix(value + " ("), "README's default of \(spec.displayName) is \(shown.debugDescription), the table's \(value)")
            } else {
                #expect(shown.isEmpty, "README shows a default for \(spec.displayName) (\(shown)); the table has none")
            }
        }

        let notYet = Set(OptionTable.flags.filter { $0.notImplemented != nil }.map(\.displayName))
        #expect(helpFlags.refused == notYet, "-h's refused flags \(helpFlags.refused), the table's \(notYet)")
        #expect(readme.refused == notYet, "README's refused flags \(readme.refused), the table's \(notYet)")

        let subOptions = Set(SubOptionTable.entries.filter { !$0.lines.isEmpty }.map(\.name))
        #expect(helpFlags.subOptions == subOptions, "-h's suboptions \(helpFlags.subOptions), the table's \(subOptions)")
        #expect(readme.subOptions == subOptions, "README's -o suboptions \(readme.subOptions), the table's \(subOptions)")
    }

    /// Applies `-o name[=value]` through the table alone: nil, or the refusal message.
    private func sub(_ text: String, _ parse: inout OptionParse) -> String? {
        switch applySubOptions(text, &parse) {
        case .proceed: return nil
        case .refuse(let message), .reject(let message): return message
        case .finish: return "finished"
        }
    }

    @Test("every -o option of memcached 1.6.18 is accepted, with memcached's value syntax")
    func memcachedSubOptionsAccepted() {
        let accepted = ["maxconns_fast", "no_maxconns_fast", "hashpower=20", "no_hashexpand", "slab_reassign",
                        "no_slab_reassign", "slab_automove", "slab_automove=2", "no_slab_automove",
                        "slab_automove_ratio=0.5", "slab_automove_window=10", "tail_repair_time=10",
                        "hash_algorithm=jenkins", "hash_algorithm=murmur3", "hash_algorithm=xxh3", "lru_crawler",
                        "no_lru_crawler", "lru_crawler_sleep=50", "lru_crawler_tocrawl=5", "lru_maintainer",
                        "no_lru_maintainer", "hot_lru_pct=10", "warm_lru_pct=10", "hot_max_factor=0.5",
                        "warm_max_factor=1", "temporary_ttl=30", "idle_timeout=5", "watcher_logbuf_size=128",
                        "worker_logbuf_size=32", "slab_sizes=100-200-300", "slab_chunk_max=16384", "track_sizes",
                        "no_inline_ascii_resp", "inline_ascii_resp", "modern", "no_modern", "no_chunked_items",
                        "drop_privileges", "no_drop_privileges", "resp_obj_mem_limit=10", "read_buf_mem_limit=10",
                        "ssl_chain_cert=/c.pem", "ssl_key=/k.pem", "ssl_keyformat=2", "ssl_verify_mode=3", "ssl_ciphers=HIGH",
                        "ssl_ca_cert=/ca.pem", "ssl_wbuf_size=8", "ssl_session_cache", "ssl_kernel_tls", "ssl_min_version=0",
                        "ssl_min_version=3", "sock_cookie_id=7"]
        for option in accepted {
            var parse = OptionParse()
            #expect(sub(option, &parse) == nil, "-o \(option) refused")
        }
        // sock_cookie_id is memcached's atoi, kept as the 32-bit SO_MARK it sets.
        for (value, mark) in [("7", UInt32(7)), ("-1", UInt32.max), ("abc", 0), ("12x", 12)] {
            var parse = OptionParse()
            #expect(sub("sock_cookie_id=\(value)", &parse) == nil && parse.options.server.socketMark == mark, "sock_cookie_id=\(value)")
        }
        // memcached's refusals and their words.
        let refused: [(String, String)] = [
            ("slab_automove=3", "slab_automove must be between 0 and 2"),
            ("slab_automove_ratio=0", "slab_automove_ratio must be > 0 and < 1"),
            ("slab_automove_window=2", "slab_automove_window must be > 2"),
            ("tail_repair_time=9", "Cannot set tail_repair_time to less than 10 seconds"),
            ("hash_algorithm=sha1", "Unknown hash_algorithm option (jenkins, murmur3, xxh3)"),
            ("lru_crawler_sleep=1000001", "LRU crawler sleep must be between 0 and 1 second"),
            ("lru_crawler_tocrawl=x", "lru_crawler_tocrawl takes a numeric 32bit value"),
            ("watcher_logbuf_size=x", "could not parse argument to watcher_logbuf_size"),
            ("slab_sizes", "Missing slab_sizes argument"),
            ("ssl_chain_cert", "Missing ssl_chain_cert argument"),
            ("ssl_verify_mode=x", "could not parse argument to ssl_verify_mode"),
            ("ssl_verify_mode=4", "Invalid ssl_verify_mode. Use help to see valid options."),
            ("ssl_min_version=tlsv9", "could not parse argument to ssl_min_version"),
            ("ssl_min_version=4", "Invalid ssl_min_version. Use help to see valid options."),
            ("ssl_keyformat=x", "could not parse argument to ssl_keyformat"),
            ("ssl_wbuf_size=x", "could not parse argument to ssl_wbuf_size"),
            ("bogus", "Illegal suboption \"bogus\""),
        ]
        for (option, message) in refused {
            var parse = OptionParse()
            #expect(sub(option, &parse) == message, "-o \(option)")
        }
    }

    @Test("-o options set what they act on")
    func subOptionEffects() {
        var p = OptionParse()
        #expect(sub("slab_automove", &p) == nil && p.options.engine.slabAutomove == 1)
        #expect(sub("no_slab_automove", &p) == nil && p.options.engine.slabAutomove == 0)
        #expect(sub("no_hashexpand,track_sizes", &p) == nil)
        #expect(!p.options.engine.hashExpand && p.options.engine.trackSizes && p.options.extended.trackSizes)
        #expect(sub("lru_crawler_sleep=50,lru_crawler_tocrawl=7", &p) == nil)
        #expect(p.options.engine.crawlerSleepMicroseconds == 50 && p.options.engine.crawlerToCrawl == 7)
        #expect(sub("watcher_logbuf_size=128,read_buf_mem_limit=3", &p) == nil)
        #expect(p.options.extended.watcherLogbufSize == 128 * 1024 && p.options.extended.readBufMemLimit == 3 << 20)
        #expect(sub("no_maxconns_fast", &p) == nil && !p.options.server.maxConnsFast)
        #expect(sub("maxconns_fast", &p) == nil && p.options.server.maxConnsFast)
        #expect(sub("hashpower=20", &p) == nil && p.options.extended.hashpowerGiven == 20 && p.options.engine.hashPowerInit == 20)
        #expect(p.options.engine.evictionPolicy == .segmentedLRU)
        #expect(sub("eviction=volatile-lfu", &p) == nil && p.options.engine.evictionPolicy == .volatileLFU)
        #expect(sub("eviction=none", &p) == nil && !p.options.engine.evictToFree)
        #expect(sub("eviction=allkeys-lfu", &p) == "eviction must be one of segmented, lru, lfu, random, volatile-lru, volatile-lfu, volatile-random, volatile-ttl, none")
        #expect(sub("eviction", &p) != nil)
        #expect(sub("ssl_verify_mode=2,ssl_min_version=tlsv1.3,ssl_wbuf_size=4,ssl_keyformat=2", &p) == nil)
        let tls = p.options.server.tls
        #expect(tls.verifyMode.flags == 3 && tls.minimumVersion == .tls1_3 && tls.writeBufferSize == 4096 && tls.keyFormat == 2)

        // Audit of issue 12: no_slab_reassign leaves slab_automove as it is (memcached shows it so in
        // stats settings; StatsParityTests compares), it used to zero it.
        var noMoves = OptionParse()
        #expect(sub("slab_automove=2,no_slab_reassign", &noMoves) == nil)
        #expect(noMoves.options.engine.slabAutomove == 2 && !noMoves.options.extended.slabReassign)
        var plain = OptionParse()
        #expect(sub("no_slab_reassign", &plain) == nil && plain.options.engine.slabAutomove == 1)
        // memcached reads these with atoi: what is not a number is 0, and it starts.
        var atoi = OptionParse()
        #expect(sub("idle_timeout=abc,slab_automove=x", &atoi) == nil)
        #expect(atoi.options.server.idleTimeout == 0 && atoi.options.engine.slabAutomove == 0)
        #expect(sub("idle_timeout=30s", &atoi) == nil && atoi.options.server.idleTimeout == 30)

        var old = OptionParse()
        #expect(sub("no_modern", &old) == nil)
        #expect(!old.options.engine.lruSegmented && !old.options.lruMaintainerOption && !old.options.lruCrawlerOption)
        #expect(old.options.engine.slabAutomove == 0 && !old.options.extended.slabReassign && !old.options.server.maxConnsFast)
    }

    @Test("cAtoi reads numbers as C's atoi (glibc: strtol, then cut to an int)")
    func atoiAsC() {
        #expect(cAtoi("12x") == 12 && cAtoi("x") == 0 && cAtoi("") == 0 && cAtoi(" \t-5") == -5 && cAtoi("+7") == 7)
        #expect(cAtoi("2147483648") == Int32.min)
        #expect(cAtoi("99999999999") == 1_215_752_191)
        // strtol saturates at LONG_MAX / LONG_MIN; their low 32 bits are -1 and 0.
        #expect(cAtoi("99999999999999999999") == -1 && cAtoi("-99999999999999999999") == 0)
    }

    @Test("slab_sizes: memcached's checks and messages")
    func slabSizes() {
        func check(_ list: String) -> String {
            switch parseSlabSizes(list, minimum: 48, chunkMax: 512 * 1024) {
            case .success(let sizes): return sizes.map(String.init).joined(separator: "-")
            case .failure(let e): return e.message
            }
        }
        #expect(check("100-200-300") == "100-200-300")
        #expect(check("48") == "48")
        #expect(check("40-200") == "slab size 40 is out of valid range")
        #expect(check("100-600000") == "slab size 600000 is out of valid range")
        #expect(check("abc") == "slab size 0 is out of valid range")
        #expect(check("200-100") == "slab size 100 cannot be lower than or equal to a previous class size")
        #expect(check("100-104") == "slab size 104 must be at least 8 bytes larger than previous class")
        #expect(check((0..<71).map { String(100 + 10 * $0) }.joined(separator: "-")) == "too many slab classes specified")
        // The class table takes them (rounded up to 8 bytes), then slab_chunk_max.
        let table = SlabClassTable(factor: 1.25, minimumSpace: 48, pageSize: 1 << 20, chunkMax: 512 * 1024, sizes: [100, 200, 300])
        #expect(Array(table.chunkSizes.dropFirst()) == [104, 200, 304, 512 * 1024])
    }

    @Test("every flag and suboption with a stats settings name appears in stats settings, in the table's order")
    func settingsNamesAppear() async throws {
        try await withServer { server in
            let c = try RawConnection(port: server.port)
            c.send("stats settings\r\n")
            let reply = c.receive(until: "END\r\n")
            let names = reply.split(separator: "\r\n").compactMap { line -> String? in
                let words = line.split(separator: " ")
                return words.count >= 2 && words[0] == "STAT" ? String(words[1]) : nil
            }
            #expect(names == SettingsTable.entries.map(\.name), "\(reply)")
            for spec in OptionTable.flags {
                if let name = spec.settingsName { #expect(names.contains(name), "\(spec.displayName): no STAT \(name)") }
            }
            for entry in SubOptionTable.entries {
                if let name = entry.settingsName { #expect(names.contains(name), "-o \(entry.name): no STAT \(name)") }
            }
        }
    }
}

/// The flags in `-h` output.
private struct HelpListing {
    /// `-p`, `--broker-port`, `-vv`, ...: the first name of each row.
    var flags: Set<String> = []
    /// The long name shown beside a short letter (`-p` → `port`).
    var longNames: [String: String] = [:]
    /// The `-o` suboptions listed.
    var subOptions: Set<String> = []
    /// The flags of the "Refused with a message" line.
    var refused: Set<String> = []

    init(_ text: String) {
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("   - ") {
                subOptions.insert(String(line.dropFirst(5).prefix { $0 != "=" && $0 != ":" }))
            } else if line.hasPrefix("Refused with a message") {
                let list = line.split(separator: ":", maxSplits: 1).last ?? ""
                refused = Set(list.split(separator: " ").map { String($0.filter { $0 != "." }) })
            } else if line.hasPrefix("-") {
                let words = line.split(separator: " ")
                if words[0].hasSuffix(",") {
                    let short = String(words[0].dropLast())
                    flags.insert(short)
                    longNames[short] = String(words[1].dropFirst(2).prefix { $0 != "=" })
                } else {
                    flags.insert(String(words[0].prefix { $0 != "=" }))
                }
            }
        }
    }
}

/// The flags in README.md's tables headed `| flag | meaning | default |` ("Flags" and
/// "Broker mode (queues)"), and its "Refused at start-up" sentence.
private struct ReadmeFlags {
    /// `-p`, `--broker-port`, `-vv`, ...: each single-dash name, and each long name of a row that
    /// has no single-dash one.
    var flags: Set<String> = []
    /// The long name beside a short letter (`-p` → `port`).
    var longNames: [String: String] = [:]
    /// The default column of each flag's row, without backticks.
    var defaults: [String: String] = [:]
    /// Which table lists each flag.
    var sections: [String: OptionSection] = [:]
    /// The suboptions listed in the `-o` row.
    var subOptions: Set<String> = []
    /// The flags named in "Refused at start-up with a message (not implemented yet): ...".
    var refused: Set<String> = []

    init(filePath: String = #filePath) throws {
        let url = IntegrationPaths.packageRoot(filePath: filePath).appendingPathComponent("README.md")
        let text = try String(contentsOf: url, encoding: .utf8)
        var section: OptionSection?
        var inFlagTable = false
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.append("")
        for (i, line) in lines.enumerated() {
            if line.hasPrefix("## ") {
                section = line == "## Flags" ? .memcached : line == "## Broker mode (queues)" ? .broker : line == "## Redis mode" ? .redis : nil
                inFlagTable = false
            } else if line == "| flag | meaning | default |" {
                inFlagTable = section != nil
            } else if inFlagTable && line.hasPrefix("|") && !line.hasPrefix("|---") {
                addRow(line, section!)
            } else if !line.hasPrefix("|") {
                inFlagTable = false
            }
            if line.hasPrefix("Refused at start-up with a message") {
                // The sentence runs on to the next line.
                let sentence = line + " " + lines[i + 1]
                refused = Set(Self.codeSpans(sentence).filter { $0.hasPrefix("-") })
            }
        }
    }

    private mutating func addRow(_ line: String, _ section: OptionSection) {
        let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst()
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard cells.count >= 3 else { return }
        let names = Self.codeSpans(cells[0])
        let shorts = names.filter { !$0.hasPrefix("--") }
        let rowFlags = shorts.isEmpty ? names : shorts
        for flag in rowFlags {
            flags.insert(flag)
            defaults[flag] = cells[2].filter { $0 != "`" }
            sections[flag] = section
        }
        if shorts.count == 1, let long = names.first(where: { $0.hasPrefix("--") }) {
            longNames[shorts[0]] = String(long.dropFirst(2))
        }
        if rowFlags == ["-o"] {
            subOptions = Set(Self.codeSpans(cells[1]))
        }
    }

    /// The `code` spans of a Markdown line.
    private static func codeSpans(_ s: String) -> [String] {
        s.split(separator: "`", omittingEmptySubsequences: false).enumerated()
            .filter { $0.offset % 2 == 1 }.map { String($0.element) }
    }
}
