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

    @Test("NX over a live key and XX over a missing one store nothing; NX over a missing key needs an item")
    func conditions() throws {
        let h = try Harness()
        h.engine.put("k", "v1")
        #expect(overwrite(h, "k", "v2", mode: .add) == .notStored)
        #expect(h.engine.fetch("k")?.string == "v1")
        #expect(overwrite(h, "none", "v", mode: .replace) == .notStored)
        #expect(h.engine.fetch("none") == nil)
        #expect(overwrite(h, "none", "v", mode: .add) == .needsItem)
        #expect(overwrite(h, "k", "v3", mode: .replace) == .stored)
        #expect(h.engine.fetch("k")?.string == "v3")
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

    @Test("the flat LRU and the TEMP list take a new item")
    func lruModes() throws {
        let flat = try Harness { $0.lruSegmented = false }
        flat.engine.put("k", "v1")
        #expect(overwrite(flat, "k", "v2") == .needsItem)
        let temp = try Harness { $0.tempLRU = true }
        temp.engine.put("k", "v1")
        #expect(overwrite(temp, "k", "v2") == .needsItem)
    }

    @Test("an overwritten item at COLD's tail is ACTIVE, not FETCHED: the maintainer moves it to WARM and eviction passes it by")
    func activeInCold() throws {
        let h = try Harness { $0.memoryLimit = 1024 * 1024 }
        let e = h.engine
        h.clock.set(1000)
        let value = String(repeating: "x", count: 10_000)
        let cls = e.classID(keyLength: 8, valueLength: 10_000)
        let perPage = e.slabs.table.perPage[cls]
        for i in 0..<perPage { e.put(key(i), value) }
        e.maintainLRUs()
        #expect(e.segmentCounts(classID: cls) == [18, 0, 76, 0])
        // key 0 is COLD's tail.
        let written = String(repeating: "y", count: 10_000)
        #expect(overwrite(h, key(0), written) == .stored)
        let flags = e.withKey(key(0)) { k, hv -> UInt8 in
            var o = GetOutcome.miss
            guard let it = e.get(k, hash: hv, outcome: &o) else { return 0 }
            defer { e.release(it) }
            return it.flags
        }
        #expect(flags & ItemFlag.active != 0 && flags & ItemFlag.fetched == 0)
        e.maintainLRUs()
        #expect(e.segmentCounts(classID: cls) == [18, 1, 75, 0])
        // The page is full: each new item evicts COLD's tail, which is no longer key 0.
        for i in perPage..<(perPage + 10) { e.put(key(i), value) }
        #expect(e.itemStats().evicted == 10)
        #expect(e.fetch(key(0))?.string == written)
    }
}
