// swiftcached against memcached 1.6.18 (Debian's /usr/bin/memcached), both started with the same
// options: the ordered STAT names of `stats`, `stats settings`, `stats items` and `stats slabs`
// must be memcached's, swiftcached's own lines only after them and only from the documented
// lists; the `-o` options show memcached's values in `stats settings`; and the edge replies of
// issue 12 (`stats sizes*`, `stats cachedump` bounds, `lru_crawler metadump 63`) are memcached's.
import Foundation
import Testing
import TestSupport
@testable import swiftcached

/// memcached, when installed.
private let memcachedBinary = IntegrationPaths.findExecutable("memcached", extraDirectories: ["/usr/bin", "/usr/local/bin"])

/// swiftcached's own `stats` lines, after memcached's (README: "stats"); BinaryStatParityTests reads them too.
let ownStatsNames = ["conn_output_stalls", "conn_parked_input_pauses", "binary_header_invalid", "metadump_busy",
                             "conn_lines_too_long", "get_streamed_replies", "total_malloced", "slab_reassign_forced",
                             "swiftcached_version"]

/// The (name, value) STAT lines of a reply, in order.
private func statLines(_ reply: String) -> [(String, String)] {
    reply.split(separator: "\r\n").compactMap { line in
        let words = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        return words.count == 3 && words[0] == "STAT" ? (String(words[1]), String(words[2])) : nil
    }
}

/// Per-class names with the class number taken out ("items:1:number" → "items:N:number").
private func shape(_ name: String) -> String {
    name.split(separator: ":").map { $0.allSatisfy(\.isNumber) ? "N" : String($0) }.joined(separator: ":")
}

/// Runs the same requests against both servers.
private func bothServers(_ options: [String], _ body: (_ memcached: RawConnection, _ swiftcached: RawConnection) async throws -> Void) async throws {
    let theirs = try await ServerProcess.start(options, binary: memcachedBinary!)
    defer { theirs.stop() }
    let ours = try await ServerProcess.start(options)
    defer { ours.stop() }
    try await body(try RawConnection(port: theirs.port), try RawConnection(port: ours.port))
}

private func ask(_ c: RawConnection, _ request: String, until end: String = "END\r\n") -> String {
    c.send(request)
    return c.receive(until: end)
}

@Suite("stats names and settings as memcached 1.6.18's", .serialized, .enabled(if: memcachedBinary != nil, "memcached is not installed"),
       .hangGuard)
struct StatsParityTests {
    static let optionSets: [[String]] = [
        [],
        ["-o", "track_sizes,no_maxconns_fast,lru_crawler_sleep=50,lru_crawler_tocrawl=5,watcher_logbuf_size=128,"
            + "slab_automove_ratio=0.5,slab_automove_window=10,tail_repair_time=10,"
            + "read_buf_mem_limit=10,no_hashexpand,hashpower=13,inline_ascii_resp,no_chunked_items,no_drop_privileges"],
        ["-o", "no_modern"],
        ["-o", "no_slab_reassign,slab_automove=2,no_lru_maintainer,lru_crawler"],
        // idle_timeout: idle_kicks between auth_errors and bytes_read, as memcached prints it.
        ["-o", "temporary_ttl=30,modern,idle_timeout=100"],
        // Audit of issue 12: no_slab_reassign after slab_automove keeps it (it was zeroed).
        ["-o", "slab_automove=2,no_slab_reassign"],
    ]

    @Test("stats, stats settings, stats items and stats slabs list memcached's names in memcached's order",
          arguments: optionSets)
    func sameNames(options: [String]) async throws {
        try await bothServers(options) { theirs, ours in
            for c in [theirs, ours] {
                _ = ask(c, "set a 0 0 1\r\n1\r\nset bb 0 0 300\r\n\(String(repeating: "x", count: 300))\r\n", until: "STORED\r\nSTORED\r\n")
                _ = ask(c, "get a bb\r\n")
            }
            let groups: [(String, Set<String>)] = [
                ("stats", Set(ownStatsNames)),
                ("stats settings", Set(SettingsTable.entries.drop { $0.name != SettingsTable.firstOwnLine }.map(\.name))),
                ("stats items", []),
                ("stats slabs", []),
            ]
            for (request, own) in groups {
                let expected = statLines(ask(theirs, request + "\r\n")).map { shape($0.0) }
                let got = statLines(ask(ours, request + "\r\n")).map { shape($0.0) }
                #expect(!expected.isEmpty, "\(request): memcached printed nothing")
                #expect(Array(got.prefix(expected.count)) == expected, "\(request) \(options): memcached's \(expected), swiftcached's \(got)")
                let extra = Array(got.dropFirst(expected.count))
                #expect(extra.allSatisfy { own.contains($0) }, "\(request) \(options): undocumented extra lines \(extra)")
            }
        }
    }

    @Test("-o options show memcached's values in stats settings", arguments: optionSets)
    func sameSettingValues(options: [String]) async throws {
        try await bothServers(options) { theirs, ours in
            let mine = Dictionary(statLines(ask(ours, "stats settings\r\n")), uniquingKeysWith: { a, _ in a })
            // Lines that differ on purpose: ports, the hash (always murmur3 here: README), the
            // initial hash table size memcached checks against its lock table.
            let differ: Set<String> = ["tcpport", "hash_algorithm"]
            for (name, value) in statLines(ask(theirs, "stats settings\r\n")) where !differ.contains(name) {
                #expect(mine[name] == value, "\(options): \(name) is \(mine[name] ?? "missing"), memcached's \(value)")
            }
        }
    }

    @Test("stats sizes, sizes_enable, cachedump bounds and metadump 63 answer as memcached")
    func edgeReplies() async throws {
        for options in [[], ["-o", "track_sizes"]] {
            try await bothServers(options) { theirs, ours in
                var replies: [[String]] = [[], []]
                for (i, c) in [theirs, ours].enumerated() {
                    replies[i].append(ask(c, "stats sizes\r\n"))
                    replies[i].append(ask(c, "set a 0 0 100\r\n\(String(repeating: "v", count: 100))\r\n", until: "\r\n"))
                    replies[i].append(ask(c, "set k 0 0 2000\r\n\(String(repeating: "v", count: 2000))\r\n", until: "\r\n"))
                    replies[i].append(ask(c, "stats sizes\r\n"))
                    replies[i].append(ask(c, "stats cachedump 0 0\r\n", until: "\r\n"))
                    replies[i].append(ask(c, "stats cachedump 63 1\r\n", until: "\r\n"))
                    replies[i].append(ask(c, "stats cachedump 64 1\r\n", until: "\r\n"))
                    replies[i].append(ask(c, "lru_crawler metadump 63\r\n", until: "\r\n"))
                    replies[i].append(ask(c, "lru_crawler metadump 64\r\n", until: "\r\n"))
                    // memcached answers sizes_enable with one STAT line and no END.
                    replies[i].append(ask(c, "stats sizes_enable\r\n", until: "\r\n"))
                    replies[i].append(ask(c, "set b 0 0 10\r\n0123456789\r\n", until: "\r\n"))
                    replies[i].append(ask(c, "delete a\r\n", until: "\r\n"))
                    replies[i].append(ask(c, "stats sizes\r\n"))
                    replies[i].append(ask(c, "stats sizes_disable\r\n", until: "\r\n"))
                    replies[i].append(ask(c, "stats sizes\r\n"))
                }
                #expect(replies[1] == replies[0], "\(options)")
            }
        }
    }

    // Audit of issue 12: the flat LRU reclaimed flushed items only when memory ran out.
    @Test("-o no_modern: flush_all then a set reclaims the flushed items at the tail (reclaimed, curr_items as memcached)")
    func flatLRUFlushThenSet() async throws {
        try await bothServers(["-o", "no_modern"]) { theirs, ours in
            var replies: [[String]] = [[], []]
            for (i, c) in [theirs, ours].enumerated() {
                _ = ask(c, "set a 0 0 1\r\nx\r\nset c 0 0 1\r\nx\r\nset e 0 1 1\r\nx\r\n", until: "STORED\r\nSTORED\r\nSTORED\r\n")
                _ = ask(c, "flush_all\r\n", until: "OK\r\n")
                _ = ask(c, "set b 0 0 1\r\nx\r\n", until: "STORED\r\n")
                let names: Set<String> = ["curr_items", "reclaimed", "evictions", "get_flushed", "items:1:number", "items:1:reclaimed"]
                replies[i] = (statLines(ask(c, "stats\r\n")) + statLines(ask(c, "stats items\r\n")))
                    .filter { names.contains($0.0) }.map { "\($0.0) \($0.1)" }
            }
            #expect(replies[1] == replies[0])
            #expect(replies[1].contains("reclaimed 3"), "\(replies[1])")
        }
    }

    // Audit of issue 12: metadump went list by list from the head (newest first).
    @Test("lru_crawler metadump lists keys in memcached's order: oldest first, the classes taking turns")
    func metadumpOrder() async throws {
        // No maintainer: memcached's would move items from HOT to COLD at its own moments, and its
        // order with them (seen: a1 b0 a0 a2 b1 b2).
        try await bothServers(["-o", "no_lru_maintainer"]) { theirs, ours in
            var keys: [[String]] = [[], []]
            var dumps: [String] = ["", ""]
            for (i, c) in [theirs, ours].enumerated() {
                for k in ["a0", "a1", "a2"] { _ = ask(c, "set \(k) 0 0 1\r\nx\r\n", until: "STORED\r\n") }
                for k in ["b0", "b1", "b2"] { _ = ask(c, "set \(k) 0 0 500\r\n\(String(repeating: "y", count: 500))\r\n", until: "STORED\r\n") }
                let dump = ask(c, "lru_crawler metadump all\r\n")
                dumps[i] = dump
                // Item lines end in "\n" alone (memcached's), END in "\r\n".
                keys[i] = dump.utf8.split(separator: UInt8(ascii: "\n")).compactMap { line in
                    String(decoding: line, as: UTF8.self).split(separator: " ").first { $0.hasPrefix("key=") }.map { String($0.dropFirst(4)) }
                }
            }
            #expect(keys[0] == ["a0", "b0", "a1", "b1", "a2", "b2"], "memcached's order changed: \(dumps[0])")
            #expect(keys[1] == keys[0], "\(dumps[1])")
        }
    }

    // Audit of issue 12 (second pass): a metadump counted nothing, where memcached's crawler counts
    // one start per dump and every item it walks as checked (`hash` walks the hash table: a start,
    // nothing checked).
    @Test("lru_crawler metadump counts in lru_crawler_starts and crawler_items_checked as memcached's crawler")
    func metadumpCrawlerStats() async throws {
        // No maintainer: neither server crawls or moves items on its own meanwhile (no TTLs either).
        try await bothServers(["-o", "no_lru_maintainer"]) { theirs, ours in
            var deltas: [[String]] = [[], []]
            for (i, c) in [theirs, ours].enumerated() {
                for k in ["a0", "a1", "a2"] { _ = ask(c, "set \(k) 0 0 1\r\nx\r\n", until: "STORED\r\n") }
                for k in ["b0", "b1"] { _ = ask(c, "set \(k) 0 0 500\r\n\(String(repeating: "y", count: 500))\r\n", until: "STORED\r\n") }
                func counters() -> [String: String] {
                    Dictionary((statLines(ask(c, "stats\r\n")) + statLines(ask(c, "stats items\r\n")))
                        .filter { $0.0 == "lru_crawler_starts" || $0.0.hasSuffix("crawler_items_checked") },
                        uniquingKeysWith: { a, _ in a })
                }
                for request in ["lru_crawler metadump 63", "lru_crawler metadump 1", "lru_crawler metadump all",
                                "lru_crawler metadump hash", "lru_crawler metadump 1,63"] {
                    let before = counters()
                    _ = ask(c, request + "\r\n")
                    let after = counters()
                    // Sorted after the class numbers are taken out: the classes may differ (item headers).
                    let changed = after.keys.compactMap { name -> String? in
                        let d = (Int(after[name] ?? "0") ?? 0) - (Int(before[name] ?? "0") ?? 0)
                        return d == 0 ? nil : "\(shape(name)) +\(d)"
                    }.sorted()
                    deltas[i].append("\(request): \(changed.joined(separator: ", "))")
                }
            }
            // memcached's own figures, so that the comparison means something.
            #expect(deltas[0][2] == "lru_crawler metadump all: crawler_items_checked +5, items:N:crawler_items_checked +2, "
                    + "items:N:crawler_items_checked +3, lru_crawler_starts +1", "memcached's counts changed: \(deltas[0])")
            #expect(deltas[1] == deltas[0])
        }
    }

    // Audit of issue 12: the listener was not counted, uptime started at 0, reserved_fds was the
    // descriptors kept above -c, free_chunks_end the chunks not carved yet, lru_crawler_starts 0
    // until a crawl found work.
    @Test("connection counts (listeners and UDP sockets counted), uptime, reserved_fds, lru_crawler_starts, free_chunks_end as memcached's",
          arguments: [[], ["-t", "1"], ["-o", "no_lru_maintainer"], ["-U", "udp"]])
    func processValues(options: [String]) async throws {
        let udp = try Loopback.freePort()
        let args = options.map { $0 == "udp" ? String(udp) : $0 }
        var values: [[String: String]] = [[:], [:]]
        for (i, binary) in [memcachedBinary, nil].enumerated() {
            let server = try await ServerProcess.start(args, binary: binary)
            defer { server.stop() }
            let a = try RawConnection(port: server.port)
            do {
                let b = try RawConnection(port: server.port)
                _ = ask(b, "version\r\n", until: "\r\n")
            }
            // The closed connection and the start-up probe seen closed.
            try await Task.sleep(for: .milliseconds(300))
            _ = ask(a, "set a 0 0 1\r\nx\r\n", until: "\r\n")
            let names: Set<String> = ["uptime", "curr_connections", "total_connections", "connection_structures", "reserved_fds",
                                      "lru_crawler_starts", "max_connections", "1:free_chunks_end"]
            for (name, value) in statLines(ask(a, "stats\r\n")) + statLines(ask(a, "stats slabs\r\n")) where names.contains(name) {
                values[i][name] = value
            }
        }
        let uptime = values[1].removeValue(forKey: "uptime")
        let theirUptime = values[0].removeValue(forKey: "uptime")
        // Both start at 2 s; a second may pass between the two reads.
        #expect(["2", "3"].contains(uptime) && ["2", "3"].contains(theirUptime), "uptime \(String(describing: uptime)), memcached's \(String(describing: theirUptime))")
        // memcached's connection_structures counts the descriptors its connections have used:
        // whether the start-up probe's (and b's) was free again when the next came depends on its
        // worker; under CI's full suite the two differed by 2 once (2 here, memcached's 4).
        let structures = values[1].removeValue(forKey: "connection_structures").flatMap { Int($0) } ?? -9
        let theirStructures = values[0].removeValue(forKey: "connection_structures").flatMap { Int($0) } ?? 9
        #expect(structures >= 2 && abs(structures - theirStructures) <= 2, "connection_structures \(structures), memcached's \(theirStructures)")
        #expect(values[1] == values[0], "\(args)")
        #expect(values[0]["total_connections"] != nil)
    }

    @Test("stats conns: memcached's state names (new, idle after a command, reading a value, asking)")
    func connectionStates() async throws {
        let theirs = try await ServerProcess.start([], binary: memcachedBinary!)
        defer { theirs.stop() }
        let ours = try await ServerProcess.start([])
        defer { ours.stop() }
        var states: [[String]] = [[], []]
        for (i, server) in [theirs, ours].enumerated() {
            let c = try RawConnection(port: server.port)
            let fresh = try RawConnection(port: server.port)
            let other = try RawConnection(port: server.port)
            _ = ask(other, "version\r\n", until: "\r\n")
            let reading = try RawConnection(port: server.port)
            reading.send("set x 0 0 10\r\n12")
            try await Task.sleep(for: .milliseconds(200))
            states[i] = statLines(ask(c, "stats conns\r\n")).filter { $0.0.hasSuffix(":state") }.map(\.1)
            withExtendedLifetime((fresh, other, reading)) {}
        }
        #expect(states[1].sorted() == states[0].sorted())
    }

    @Test("flush_all leaves no class lines in stats items; stats reset zeroes the per-class counters")
    func itemsAfterFlushAndReset() async throws {
        try await bothServers([]) { theirs, ours in
            var replies: [[String]] = [[], []]
            for (i, c) in [theirs, ours].enumerated() {
                _ = ask(c, "set a 0 0 1\r\n1\r\n", until: "\r\n")
                _ = ask(c, "get a\r\n")
                _ = ask(c, "delete a\r\n", until: "\r\n")
                replies[i].append(ask(c, "stats items\r\n"))
                _ = ask(c, "set a 0 0 1\r\n1\r\n", until: "\r\n")
                _ = ask(c, "flush_all\r\n", until: "\r\n")
                _ = ask(c, "get a\r\n")  // the lazy unlink of the flushed item, on both
                replies[i].append(ask(c, "stats items\r\n"))
                _ = ask(c, "set a 0 0 1\r\n1\r\n", until: "\r\n")
                _ = ask(c, "stats reset\r\n", until: "\r\n")
                replies[i].append(statLines(ask(c, "stats slabs\r\n")).filter { $0.0.hasPrefix("1:") && !$0.0.contains("chunk") && !$0.0.contains("pages") }
                    .map { "\($0.0) \($0.1)" }.joined(separator: ","))
            }
            #expect(replies[1] == replies[0])
        }
    }

    /// Issue 12: `stats reset` resets what memcached resets, the per-class counters of `stats items`
    /// too. `-m 2 -o no_modern` (a flat LRU, no maintainer and no crawler, so every count is the
    /// sequence's): 100 items with a 1 s TTL, 200 with 1000 s, 1,800 without, 2.2 s, then 500 more
    /// fill class 11's two pages (2,220 chunks): the 100 expired ones at the tail are reclaimed, 280
    /// evicted (200 of them with a TTL); then `stats reset`, then 100 more sets evict 100.
    @Test("stats reset and the per-class evicted/reclaimed counters of stats items as memcached's after evictions and expiries")
    func evictedReclaimedAndReset() async throws {
        let value = String(repeating: "v", count: 850)
        func sets(_ c: RawConnection, _ prefix: String, _ count: Int, ttl: Int = 0) {
            for batch in stride(from: 0, to: count, by: 100) {
                let n = min(100, count - batch)
                c.send((batch..<(batch + n)).map { "set \(prefix)\($0) 0 \(ttl) \(value.utf8.count)\r\n\(value)\r\n" }.joined())
                _ = c.receive(until: String(repeating: "STORED\r\n", count: n))
            }
        }
        let perClass: Set<String> = ["number", "evicted", "evicted_nonzero", "evicted_unfetched", "reclaimed",
                                     "expired_unfetched", "outofmemory", "crawler_reclaimed"]
        let general: Set<String> = ["curr_items", "total_items", "evictions", "reclaimed", "expired_unfetched", "evicted_unfetched"]
        func counters(_ c: RawConnection) -> String {
            (statLines(ask(c, "stats items\r\n")).filter { perClass.contains(String($0.0.split(separator: ":").last!)) }
                + statLines(ask(c, "stats\r\n")).filter { general.contains($0.0) })
                .map { "\($0.0)=\($0.1)" }.joined(separator: " ")
        }
        try await bothServers(["-m", "2", "-o", "no_modern"]) { theirs, ours in
            let both = [theirs, ours]
            var replies: [[String]] = [[], []]
            for (i, c) in both.enumerated() {
                sets(c, "e", 100, ttl: 1)
                sets(c, "t", 200, ttl: 1000)
                sets(c, "k", 1800)
                replies[i].append(counters(c))
            }
            try await Task.sleep(for: .milliseconds(2200))
            for (i, c) in both.enumerated() {
                sets(c, "n", 500)
                _ = ask(c, "get k1799 n499\r\n")
                replies[i].append(counters(c))
                #expect(ask(c, "stats reset\r\n", until: "RESET\r\n") == "RESET\r\n")
                replies[i].append(counters(c))
                sets(c, "m", 100)
                replies[i].append(counters(c))
            }
            for (step, (mine, theirs)) in zip(replies[1], replies[0]).enumerated() {
                #expect(mine == theirs, "step \(step):\nmemcached:   \(theirs)\nswiftcached: \(mine)")
            }
            // The sequence did what it says on memcached (so the comparison means something).
            #expect(replies[0].count == 4 && replies[0][1].contains("items:11:evicted=280 items:11:evicted_nonzero=200")
                    && replies[0][1].contains("items:11:reclaimed=100") && replies[0][2].contains("items:11:evicted=0 ")
                    && replies[0][3].contains("items:11:evicted=100 "), "\(replies[0])")
        }
    }

    /// Issue 12's option effects, against memcached with the same options: `no_slab_reassign`
    /// refuses `slabs reassign`; `no_hashexpand` keeps the table at `hashpower`'s 2^13 buckets past
    /// 1.5 items a bucket (20,000 items), where without it both servers grow it to 2^14;
    /// `hashpower`, `watcher_logbuf_size` (in bytes), `lru_crawler_sleep` and `lru_crawler_tocrawl`
    /// show in `stats settings` as memcached shows them. `hash_bytes` is compared as buckets: a
    /// bucket is a 4-byte handle here, an 8-byte pointer in memcached (README, "stats").
    @Test("no_slab_reassign, no_hashexpand, hashpower, watcher_logbuf_size, lru_crawler_sleep/tocrawl act and show as memcached's",
          arguments: [true, false])
    func optionEffects(fixedTable: Bool) async throws {
        let options = fixedTable
            ? ["-o", "no_slab_reassign,no_hashexpand,hashpower=13,watcher_logbuf_size=128,lru_crawler_sleep=50,lru_crawler_tocrawl=5"]
            : ["-o", "hashpower=13"]
        func hashLines(_ c: RawConnection, bucketBytes: Int) -> [String] {
            let st = Dictionary(statLines(ask(c, "stats\r\n")), uniquingKeysWith: { a, _ in a })
            return ["hash_power_level", "hash_is_expanding"].map { "\($0)=\(st[$0] ?? "missing")" }
                + ["buckets=\(st["hash_bytes"].flatMap { Int($0) }.map { String($0 / bucketBytes) } ?? "missing")",
                   "curr_items=\(st["curr_items"] ?? "missing")"]
        }
        let settingNames = ["hashpower_init", "watcher_logbuf_size", "lru_crawler_sleep", "lru_crawler_tocrawl", "slab_reassign"]
        try await bothServers(options) { theirs, ours in
            var replies: [[String]] = [[], []]
            for (i, c) in [theirs, ours].enumerated() {
                let bucketBytes = i == 0 ? 8 : 4
                replies[i].append("reassign: " + ask(c, "slabs reassign 1 2\r\n", until: "\r\n"))
                replies[i].append(hashLines(c, bucketBytes: bucketBytes).joined(separator: " "))
                for batch in stride(from: 0, to: 20_000, by: 500) {
                    c.send((batch..<(batch + 500)).map { "set k\($0) 0 0 1 noreply\r\nx\r\n" }.joined() + "mn\r\n")
                    _ = c.receive(until: "MN\r\n")
                }
                // Growing the table is the background thread's work, on both: wait for it to end.
                var lines = hashLines(c, bucketBytes: bucketBytes)
                let deadline = Date().addingTimeInterval(10)
                while Date() < deadline && (lines[1] != "hash_is_expanding=0" || (!fixedTable && lines[0] == "hash_power_level=13")) {
                    try await Task.sleep(for: .milliseconds(100))
                    lines = hashLines(c, bucketBytes: bucketBytes)
                }
                replies[i].append(lines.joined(separator: " "))
                let settings = Dictionary(statLines(ask(c, "stats settings\r\n")), uniquingKeysWith: { a, _ in a })
                replies[i].append(settingNames.map { "\($0)=\(settings[$0] ?? "missing")" }.joined(separator: " "))
            }
            #expect(replies[1] == replies[0], "\(options)\nmemcached:   \(replies[0])\nswiftcached: \(replies[1])")
            let expected = fixedTable
                ? ["reassign: CLIENT_ERROR slab reassignment disabled\r\n",
                   "hash_power_level=13 hash_is_expanding=0 buckets=8192 curr_items=0",
                   "hash_power_level=13 hash_is_expanding=0 buckets=8192 curr_items=20000",
                   "hashpower_init=13 watcher_logbuf_size=131072 lru_crawler_sleep=50 lru_crawler_tocrawl=5 slab_reassign=no"]
                : ["reassign: NOSPARE source class has no spare pages\r\n",
                   "hash_power_level=13 hash_is_expanding=0 buckets=8192 curr_items=0",
                   "hash_power_level=14 hash_is_expanding=0 buckets=16384 curr_items=20000",
                   "hashpower_init=13 watcher_logbuf_size=262144 lru_crawler_sleep=100 lru_crawler_tocrawl=0 slab_reassign=yes"]
            #expect(replies[0] == expected, "memcached 1.6.18 answered otherwise: \(replies[0])")
        }
    }
}

@Suite("-o options that act", .hangGuard)
struct ActingSubOptionTests {
    @Test("read_buf_mem_limit: a read buffer that would grow past it gets memcached's error and the close, counted in read_buf_oom")
    func readBufferLimit() async throws {
        try await withServer(["-o", "read_buf_mem_limit=1"]) { server in
            let idle = try RawConnection(port: server.port)
            let before = statLines(ask(idle, "stats\r\n"))
            #expect(before.first { $0.0 == "read_buf_oom" }?.1 == "0")
            // A 690 KB get line: the buffer doubles to 1 MB, which with the idle connection's
            // 16 KB is past the 1 MB limit.
            let c = try RawConnection(port: server.port)
            let keys = (0..<100_000).map { "k\($0)" }.joined(separator: " ")
            c.send("get " + keys + "\r\n")
            #expect(c.receive(until: "\r\n") == "SERVER_ERROR out of memory reading request\r\n")
            let after = statLines(ask(idle, "stats\r\n"))
            #expect(after.first { $0.0 == "read_buf_oom" }?.1 == "1")
            // Without the limit the same line is answered.
        }
        try await withServer { server in
            let c = try RawConnection(port: server.port)
            let keys = (0..<100_000).map { "k\($0)" }.joined(separator: " ")
            c.send("get " + keys + "\r\n")
            #expect(c.receive(until: "\r\n") == "END\r\n")
        }
    }

    @Test("no_maxconns_fast: at memcached's admission under -c the next connection waits instead of being refused, and listen_disabled_num counts it")
    func maxconnsSlow() async throws {
        try await withServer(["-c", "40", "-t", "1", "-o", "no_maxconns_fast"]) { server in
            // memcached's own descriptors come out of -c (Admission.swift): fill what is left.
            var open: [RawConnection] = []
            var waiting: RawConnection?
            while open.count < 40 {
                let c = try RawConnection(port: server.port)
                c.send("version\r\n")
                var tv = timeval(tv_sec: 0, tv_usec: 300_000)
                setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                let reply = c.receive(until: "\r\n")
                if reply.isEmpty {
                    // Connected (the kernel's backlog) but not served.
                    waiting = c
                    break
                }
                #expect(reply.hasPrefix("VERSION"))
                open.append(c)
            }
            #expect(waiting != nil && open.count >= 2 && open.count <= 40 - 11, "\(open.count) served")
            let stats = statLines(ask(open[0], "stats\r\n"))
            #expect(stats.first { $0.0 == "accepting_conns" }?.1 == "0")
            #expect(Int(stats.first { $0.0 == "listen_disabled_num" }?.1 ?? "0")! >= 1)
            #expect(!stats.contains { $0.0 == "rejected_connections" }, "memcached prints it only with maxconns_fast")
            // Once one closes, the waiting one is served.
            Glibc.shutdown(open.removeLast().fd, Int32(SHUT_RDWR))
            var tv = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(waiting!.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            #expect(waiting!.receive(until: "\r\n").hasPrefix("VERSION"))
            withExtendedLifetime(open) {}
        }
    }

    @Test("slab_sizes and track_sizes: the classes of the list, and stats sizes counts by memcached's item size")
    func slabSizesAndTrackSizes() async throws {
        try await withServer(["-o", "slab_sizes=100-200-300,track_sizes"]) { server in
            let c = try RawConnection(port: server.port)
            _ = ask(c, "set a 0 0 10\r\n0123456789\r\n", until: "\r\n")
            let slabs = statLines(ask(c, "stats slabs\r\n"))
            #expect(slabs.first { $0.0 == "1:chunk_size" }?.1 == "104")
            // 48 + 1 + 1 + 10 + 2 + 8 = 70 bytes: the 96 step.
            #expect(ask(c, "stats sizes\r\n") == "STAT 96 1\r\nEND\r\n")
            _ = ask(c, "delete a\r\n", until: "\r\n")
            #expect(ask(c, "stats sizes\r\n") == "END\r\n")
        }
    }
}
