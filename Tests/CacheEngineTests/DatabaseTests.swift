// Redis's databases in the engine: the logical → physical map SWAPDB changes (and the memcached
// port, logical 0, follows it), per-database key and expiry counts kept at link and unlink,
// FLUSHDB and FLUSHALL, the SCAN cursor across a hash table expansion, and RENAME / COPY / MOVE
// keeping type, value and the exact millisecond expiry.
@testable import CacheEngine
import Platform
import Testing

@Suite("keyspace: databases, counts, scan, rename and copy")
struct DatabaseTests {
    private func read(_ h: Harness, _ key: String, database: Int = 0) -> String? {
        h.engine.withKey(key) { k, hv in
            var outcome = GetOutcome.miss
            guard let it = h.engine.get(k, hash: hv, database: database, anyType: true, outcome: &outcome) else { return nil }
            defer { h.engine.release(it) }
            return String(decoding: h.engine.valueBytes(it), as: UTF8.self)
        }
    }

    private func expiryMs(_ h: Harness, _ key: String, database: Int = 0) -> Int? {
        h.engine.withKey(key) { h.engine.inspect($0, hash: $1, database: database, anyType: true) }?
            .expiryUnixMilliseconds(processStarted: h.clock.processStarted)
    }

    /// Pins the millisecond clock to the current second plus `ms` and returns that Unix time.
    private func pinClock(_ h: Harness, plus ms: Int = 250) -> Int {
        let now = (h.clock.processStarted + Int(h.clock.current)) * 1000 + ms
        h.clock.setMilliseconds(UInt64(now))
        return now
    }

    @Test("SWAPDB: lookups and new items follow the map; the memcached port (logical 0) sees what was database 1")
    func databaseMap() throws {
        let h = try Harness()
        put(h, "k", "zero")
        put(h, "k", "one", database: 1)
        h.engine.swapDatabases(0, 1)
        #expect(read(h, "k") == "one")
        #expect(read(h, "k", database: 1) == "zero")
        #expect(h.engine.fetch("k")?.string == "one")  // the memcached port's get
        #expect(h.engine.put("m", "via-memcached").result == .stored)
        #expect(read(h, "m") == "via-memcached")
        #expect(h.engine.keyCount(database: 0) == 2 && h.engine.keyCount(database: 1) == 1)
        h.engine.swapDatabases(0, 1)
        #expect(read(h, "k") == "zero")
        #expect(read(h, "m", database: 1) == "via-memcached")
        #expect(read(h, "m") == nil)
        h.engine.swapDatabases(3, 3)
        #expect(h.engine.databaseMapWord == CacheEngine.identityDatabaseMap)
        #expect(CacheEngine.isDatabaseMap(h.engine.databaseMapWord))
        #expect(!CacheEngine.isDatabaseMap(0))
    }

    @Test("per-database keys and expiring keys follow stores, deletes, expiry changes, the crawler and flushes")
    func perDatabaseCounts() throws {
        let h = try Harness()
        let now = pinClock(h)
        put(h, "a", "1")
        put(h, "b", "2", expiry: .unixMilliseconds(now + 10_000))
        put(h, "a", "1", database: 3)
        put(h, "c", "3", database: 3, expiry: .unixMilliseconds(now + 1_500))
        #expect(h.engine.databaseFigures(database: 0) == DatabaseFigures(keys: 2, expires: 1, averageTTL: 10_000))
        #expect(h.engine.databaseFigures(database: 3) == DatabaseFigures(keys: 2, expires: 1, averageTTL: 1_500))
        // Replacing keeps one key; a new expiry moves the sums; PERSIST drops the expiring count.
        put(h, "a", "again", expiry: .unixMilliseconds(now + 20_000))
        #expect(h.engine.databaseFigures(database: 0) == DatabaseFigures(keys: 2, expires: 2, averageTTL: 15_000))
        _ = h.engine.withKey("a") { h.engine.changeExpiry($0, hash: $1) { _ in .never } }
        #expect(h.engine.databaseFigures(database: 0) == DatabaseFigures(keys: 2, expires: 1, averageTTL: 10_000))
        #expect(h.engine.withKey("b") { h.engine.delete($0, hash: $1, anyType: true) })
        #expect(h.engine.databaseFigures(database: 0) == DatabaseFigures(keys: 1, expires: 0, averageTTL: 0))
        // The crawler takes the expired key of database 3 away without a read.
        h.clock.advanceMilliseconds(1_600)
        h.advance(2)
        #expect(h.engine.crawlAll() == 1)
        #expect(h.engine.databaseFigures(database: 3) == DatabaseFigures(keys: 1, expires: 0, averageTTL: 0))
        #expect(h.engine.expiredItemCount == 1)
        // FLUSHDB empties one database at once; FLUSHALL every one, the memcached port's too.
        put(h, "d", "4", database: 3)
        #expect(h.engine.flushDatabase(3) == 2)
        #expect(h.engine.keyCount(database: 3) == 0 && h.engine.keyCount(database: 0) == 1)
        #expect(read(h, "a") == "again")
        put(h, "e", "5", database: 9)
        #expect(h.engine.flushDatabase(nil) == 2)
        #expect((0..<16).allSatisfy { h.engine.keyCount(database: $0) == 0 })
        #expect(h.engine.fetch("a") == nil)
        #expect(h.engine.itemStats().number == 0)
        put(h, "after", "flush")
        #expect(read(h, "after") == "flush")
    }

    @Test("a SCAN across a hash table expansion returns every key present throughout, with bounded work per call")
    func scanAcrossExpansion() throws {
        let h = try Harness()  // 2^12 buckets; the expander runs only when called
        let n = 7_000  // past 1.5 x 4,096: the expander will double the table
        for i in 0..<n { put(h, "key\(i)", "v") }
        for i in 0..<50 { put(h, "other\(i)", "v", database: 2) }
        var seen = Set<String>()
        var cursor: UInt64 = 0
        var calls = 0
        var expanderSteps = 0
        repeat {
            let page = h.engine.scan(cursor: cursor, database: 0, count: 100, bucketBudget: 1_000)
            #expect(page.buckets <= 1_000 + 2)
            for k in page.keys { seen.insert(String(decoding: k, as: UTF8.self)) }
            cursor = page.cursor
            calls += 1
            // Start the expansion after a few calls and move its buckets a few at a time while
            // the scan goes on (4,096 old buckets: it ends about half way through the scan).
            if calls >= 5 && expanderSteps < 40 {
                h.engine.hashExpanderStep(bucketsPerStep: 128)
                expanderSteps += 1
            }
        } while cursor != 0 && calls < 100_000
        #expect(cursor == 0)
        #expect(h.engine.stats.hashPower == 13, "the table expanded during the scan")
        #expect(seen.count == n, "\(n - seen.count) keys missed")
        #expect(!seen.contains { $0.hasPrefix("other") })
        #expect(!h.engine.stats.hashIsExpanding)
        // A budget too small for COUNT ends the call early and says so.
        let short = h.engine.scan(cursor: 0, database: 2, count: 50, bucketBudget: 4)
        #expect(short.buckets == 4 && short.cutShort && short.cursor != 0)
        // KEYS's walk and RANDOMKEY see database 2's keys only.
        var keys = 0
        h.engine.forEachKey(database: 2) { _, type in
            keys += 1
            #expect(type == .string)
        }
        #expect(keys == 50)
        let random = try #require(h.engine.randomKey(database: 2))
        #expect(String(decoding: random, as: UTF8.self).hasPrefix("other"))
        #expect(h.engine.randomKey(database: 5) == nil)
    }

    @Test("the reverse-binary cursor visits every bucket of a table once")
    func cursorOrder() {
        var visited = Set<UInt64>()
        var v: UInt64 = 0
        repeat {
            #expect(visited.insert(v).inserted)
            v = CacheEngine.nextCursor(v, mask: 15)
        } while v != 0
        #expect(visited == Set(0..<16))
    }

    @Test("RENAME, COPY and MOVE keep value and the exact millisecond expiry; the destination's rules hold")
    func transferKeepsExpiry() throws {
        let h = try Harness()
        let now = pinClock(h, plus: 321)
        let at = now + 12_345
        put(h, "src", "value", expiry: .unixMilliseconds(at))
        func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
        let rename = bytes("src").withUnsafeBytes { a in bytes("dst").withUnsafeBytes { b in
            h.engine.renameKey(a, to: b, database: 0, replace: true) } }
        #expect(rename == .done)
        #expect(read(h, "src") == nil && read(h, "dst") == "value")
        #expect(expiryMs(h, "dst") == at)
        #expect(h.engine.databaseFigures(database: 0).keys == 1 && h.engine.databaseFigures(database: 0).expires == 1)
        // RENAMENX onto an existing key does nothing.
        put(h, "taken", "t")
        let nx = bytes("dst").withUnsafeBytes { a in bytes("taken").withUnsafeBytes { b in
            h.engine.renameKey(a, to: b, database: 0, replace: false) } }
        #expect(nx == .destinationExists)
        // COPY to another database keeps the expiry; the source stays.
        let copy = bytes("dst").withUnsafeBytes { a in bytes("copied").withUnsafeBytes { b in
            h.engine.copyKey(a, from: 0, to: b, database: 4, replace: false) } }
        #expect(copy == .done)
        #expect(read(h, "copied", database: 4) == "value" && read(h, "dst") == "value")
        #expect(expiryMs(h, "copied", database: 4) == at)
        // MOVE: the same key in another database, never replacing.
        #expect(bytes("dst").withUnsafeBytes { h.engine.moveKey($0, from: 0, to: 7) } == .done)
        #expect(read(h, "dst") == nil && read(h, "dst", database: 7) == "value")
        #expect(expiryMs(h, "dst", database: 7) == at)
        put(h, "dst", "back")
        #expect(bytes("dst").withUnsafeBytes { h.engine.moveKey($0, from: 0, to: 7) } == .destinationExists)
        #expect(bytes("none").withUnsafeBytes { h.engine.moveKey($0, from: 0, to: 7) } == .noSource)
        // The moved key still expires at its millisecond.
        h.clock.advanceMilliseconds(12_344)
        h.advance(13)
        #expect(read(h, "dst", database: 7) == "value")
        h.clock.advanceMilliseconds(1)
        #expect(read(h, "dst", database: 7) == nil)
        // A list: a rename hands its nodes to the new root, a copy copies them; both lists stay
        // whole after the source is deleted.
        h.engine.lpush("l", .tail, ["a", "b", "c"])
        let renamed = bytes("l").withUnsafeBytes { a in bytes("l2").withUnsafeBytes { b in
            h.engine.renameKey(a, to: b, database: 0, replace: true) } }
        #expect(renamed == .done)
        #expect(h.engine.lrange("l").isEmpty && h.engine.lrange("l2") == ["a", "b", "c"])
        let copied = bytes("l2").withUnsafeBytes { a in bytes("l3").withUnsafeBytes { b in
            h.engine.copyKey(a, from: 0, to: b, database: 5, replace: false) } }
        #expect(copied == .done)
        #expect(h.engine.withKey("l2") { h.engine.delete($0, hash: $1, anyType: true) })
        #expect(h.engine.lrange("l3", db: 5) == ["a", "b", "c"])
        #expect(bytes("l3").withUnsafeBytes { h.engine.moveKey($0, from: 5, to: 6) } == .done)
        #expect(h.engine.lrange("l3", db: 6) == ["a", "b", "c"] && h.engine.lrange("l3", db: 5).isEmpty)
    }
}
