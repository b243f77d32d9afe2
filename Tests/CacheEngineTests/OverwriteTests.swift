// CacheEngine.overwrite: a Redis string written over the old one in its own chunk, and every case
// that must take a new item instead.
@testable import CacheEngine
import Platform
import SlabAllocator
import Testing

@Suite("overwrite (a SET in the old item's chunk)")
struct OverwriteTests {
    private func overwrite(_ h: Harness, _ key: String, _ value: String, expiry: ExpiryTime = .never,
                           mode: StoreMode = .set, database: Int = 0) -> OverwriteResult {
        h.engine.withKey(key) { k, hv in
            Array(value.utf8).withUnsafeBytes {
                h.engine.overwrite(k, hash: hv, database: database, value: $0, expiry: expiry, mode: mode)
            }
        }
    }

    private func overwrites(_ h: Harness) -> UInt64 {
        (1..<64).reduce(0) { $0 + h.engine.classCommands.value(.overwrites, $1) }
    }

    @Test("same class: in place, new value, length and CAS, the same chunk, total_items counts it")
    func inPlace() throws {
        let h = try Harness()
        h.engine.put("k", "value-1", flags: 9)
        let before = try #require(h.engine.fetch("k"))
        let chunk = h.engine.withKey("k") { k, hv -> UnsafeMutableRawPointer? in
            var o = GetOutcome.miss
            guard let it = h.engine.get(k, hash: hv, outcome: &o) else { return nil }
            defer { h.engine.release(it) }
            return it.raw
        }
        let totalBefore = h.engine.itemStats().totalItems
        #expect(overwrite(h, "k", "value-22") == .stored)
        let after = try #require(h.engine.fetch("k"))
        #expect(after.string == "value-22" && after.flags == 0 && after.cas != before.cas)
        #expect(overwrites(h) == 1)
        #expect(h.engine.itemStats().totalItems == totalBefore + 1)
        #expect(h.engine.itemStats().number == 1)
        // The LRU's bytes follow the new length.
        #expect(h.engine.itemStats().bytes == ItemLayout.headerSize + 1 + 8)
        let same = h.engine.withKey("k") { k, hv -> UnsafeMutableRawPointer? in
            var o = GetOutcome.miss
            guard let it = h.engine.get(k, hash: hv, outcome: &o) else { return nil }
            defer { h.engine.release(it) }
            return it.raw
        }
        #expect(chunk != nil && same == chunk)
    }

    @Test("a value of another class, a reader holding the item, a non-string or chunked old value: a new item is needed")
    func needsItem() throws {
        let h = try Harness()
        h.engine.put("k", "small")
        #expect(overwrite(h, "k", String(repeating: "x", count: 5000)) == .needsItem)
        #expect(overwrite(h, "missing", "v") == .needsItem)
        // A reader's reference: its bytes must not change under it.
        let held = try #require(h.engine.withKey("k") { k, hv -> Item? in
            var o = GetOutcome.miss
            return h.engine.get(k, hash: hv, outcome: &o)
        })
        #expect(overwrite(h, "k", "SMALL") == .needsItem)
        #expect(h.engine.valueBytes(held) == Array("small".utf8))
        h.engine.release(held)
        #expect(overwrite(h, "k", "SMALL") == .stored)
        #expect(h.engine.fetch("k")?.string == "SMALL")
        // A list under the key.
        h.engine.withKey("l") { k, hv in
            _ = Array("e".utf8).withUnsafeBytes { e in
                h.engine.listPush(k, hash: hv, database: 0, end: .head, count: 1) { _ in e }
            }
        }
        #expect(overwrite(h, "l", "v") == .needsItem)
        // A chunked old value (larger than the largest chunk).
        let big = h.engine.slabs.table.chunkMax + 100
        h.engine.put("big", [UInt8](repeating: 1, count: big))
        #expect(overwrite(h, "big", String(repeating: "y", count: big)) == .needsItem)
        #expect(overwrites(h) == 1)
    }

    @Test("XX over a missing key stores nothing (counted as a set); over a live one it writes")
    func conditions() throws {
        let h = try Harness()
        h.engine.put("k", "v1")
        #expect(overwrite(h, "none", "v", mode: .replace) == .notStored)
        #expect(h.engine.fetch("none") == nil)
        #expect(overwrite(h, "k", "v3", mode: .replace) == .stored)
        #expect(h.engine.fetch("k")?.string == "v3")
        let cls = h.engine.classID(keyLength: 4, valueLength: 1)
        // put's set, the refused XX, the XX that wrote.
        #expect(h.engine.classCommands.value(.cmdSet, cls) == 3)
    }

    @Test("the expiry is the new one, and the database's expiring count follows it")
    func expiry() throws {
        let h = try Harness()
        h.engine.put("k", "v1", exptime: 100)
        #expect(h.engine.databaseFigures(database: 0).expires == 1)
        #expect(overwrite(h, "k", "v2") == .stored)
        #expect(h.engine.databaseFigures(database: 0).expires == 0)
        #expect(overwrite(h, "k", "v3", expiry: .processSeconds(h.clock.current + 10)) == .stored)
        #expect(h.engine.databaseFigures(database: 0).expires == 1)
        #expect(h.engine.databaseFigures(database: 0).keys == 1)
        h.advance(11)
        #expect(h.engine.fetch("k") == nil)
        #expect(h.engine.databaseFigures(database: 0).expires == 0)
        #expect(h.engine.databaseFigures(database: 0).keys == 0)
    }

    @Test("under noeviction (-M, maxmemory-policy noeviction) a SET takes a new item, so a full memory refuses it as redis does")
    func noEviction() throws {
        let h = try Harness()
        h.engine.put("k", "v1")
        h.engine.tuning.setPolicy(.none)
        #expect(overwrite(h, "k", "v2") == .needsItem)
        h.engine.tuning.setPolicy(.segmentedLRU)
        #expect(overwrite(h, "k", "v2") == .stored)
    }

    @Test("the flat LRU and the TEMP list take a new item; an item a switched-off TEMP list left behind moves to HOT")
    func lruModes() throws {
        let flat = try Harness { $0.lruSegmented = false }
        flat.engine.put("k", "v1")
        #expect(overwrite(flat, "k", "v2") == .needsItem)
        let temp = try Harness { $0.tempLRU = true; $0.temporaryTTL = 61 }
        temp.engine.put("k", "v1", exptime: 30)
        let cls = temp.engine.classID(keyLength: 1, valueLength: 2)
        #expect(temp.engine.segmentCounts(classID: cls) == [0, 0, 0, 1])
        #expect(overwrite(temp, "k", "v2") == .needsItem)
        // `lru temp_ttl -1`: the item stays in TEMP, which nothing pulls once the switch is off.
        temp.engine.tuning.setTemporaryTTL(-1)
        #expect(overwrite(temp, "k", "v3") == .stored)
        #expect(temp.engine.segmentCounts(classID: cls) == [1, 0, 0, 0])
        #expect(temp.engine.fetch("k")?.string == "v3")
    }

    @Test("an item in HOT stays where it is, with a new item's flags")
    func hotStays() throws {
        let h = try Harness()
        let e = h.engine
        e.put("a", "v1")
        e.put("b", "v1")
        #expect(e.fetch("a") != nil && e.fetch("a") != nil)   // FETCHED, then ACTIVE
        #expect(overwrite(h, "a", "v2") == .stored)
        let cls = e.classID(keyLength: 1, valueLength: 2)
        #expect(e.segmentCounts(classID: cls) == [2, 0, 0, 0])
        let flags = e.withKey("a") { k, hv -> UInt8 in
            var o = GetOutcome.miss
            guard let it = e.get(k, hash: hv, outcome: &o) else { return 0xff }
            defer { e.release(it) }
            return it.flags
        }
        // The get above is the value's first read: FETCHED only.
        #expect(flags & ItemFlag.fetched != 0 && flags & ItemFlag.active == 0)
    }

    @Test("an item at COLD's tail goes to HOT's head, as a new item would: the next evictions take other items")
    func coldMovesToHot() throws {
        let h = try Harness { $0.memoryLimit = 1024 * 1024 }
        let e = h.engine
        let (cls, perPage, value) = fillOneColdPage(h)
        let bytes = e.itemStats(classID: cls).bytes
        // key 0 is COLD's tail; written over with a value one byte shorter, with a TTL.
        let written = String(repeating: "y", count: 9_999)
        #expect(overwrite(h, key(0), written, expiry: .processSeconds(h.clock.current + 100)) == .stored)
        #expect(e.segmentCounts(classID: cls) == [19, 0, 75, 0])
        #expect(e.itemStats(classID: cls).bytes == bytes - 1)
        #expect(e.databaseFigures(database: 0).expires == 1)
        // No maintainer run: the page is full and each new item evicts COLD's tail.
        for i in perPage..<(perPage + 10) { e.put(key(i), value) }
        #expect(e.itemStats().evicted == 10)
        #expect(e.fetch(key(0))?.string == written)
        for i in 1...10 { #expect(e.outcome(key(i)) == .miss, "key \(i)") }
    }
}
