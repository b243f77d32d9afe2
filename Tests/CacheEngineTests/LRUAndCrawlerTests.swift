// The segmented LRU (HOT/WARM/COLD/TEMP), eviction, the flat LRU of `-o no_modern`, and the LRU
// crawler. Moves happen only when a test calls maintainLRUs() or an allocation needs memory.
@testable import CacheEngine
import SlabAllocator
import TestSupport
import Testing

/// "key00042": fixed-width keys, so every item of a test has the same size.
func key(_ i: Int) -> String {
    let s = String(i)
    return "key" + String(repeating: "0", count: max(0, 5 - s.count)) + s
}

/// One page (1 MB limit) of 94 items of 10,000 bytes, keys 0-93 stored at time 1000, spread by
/// the maintainer over HOT (18) and COLD (76): key 0 is COLD's tail. The items' class, how many
/// a page holds, and their value.
func fillOneColdPage(_ h: Harness) -> (cls: Int, perPage: Int, value: String) {
    let e = h.engine
    h.clock.set(1000)
    let value = String(repeating: "x", count: 10_000)
    let cls = e.classID(keyLength: 8, valueLength: 10_000)
    let perPage = e.slabs.table.perPage[cls]
    #expect(perPage == 94)
    for i in 0..<perPage { e.put(key(i), value) }
    #expect(e.itemStats().evicted == 0)
    e.maintainLRUs()
    #expect(e.segmentCounts(classID: cls) == [18, 0, 76, 0])
    return (cls, perPage, value)
}

@Suite("Segmented LRU")
struct SegmentedLRUTests {
    static let value100 = String(repeating: "v", count: 100)

    @Test("new items go to HOT")
    func newItemsGoHot() throws {
        let e = try Harness().engine
        for i in 0..<10 { e.put(key(i), Self.value100) }
        let cls = e.classID(keyLength: 8, valueLength: 100)
        #expect(e.segmentCounts(classID: cls) == [10, 0, 0, 0])
        #expect(e.itemStats(classID: cls).number == 10)
        #expect(e.itemStats(classID: cls).totalItems == 10)
        #expect(e.itemStats(classID: cls).bytes == 10 * ItemLayout.totalSize(keyLength: 8, valueLength: 100))
    }

    @Test("a class's item figures sum its own four lists only")
    func itemStatsPerClass() throws {
        let h = try Harness()
        let e = h.engine
        h.clock.set(1000)
        for i in 0..<100 { e.put(key(i), Self.value100) }
        let big = String(repeating: "w", count: 2000)
        for i in 100..<103 { e.put(key(i), big) }
        // Items in HOT and COLD of the small class.
        _ = e.maintainLRUs()
        let small = e.classID(keyLength: 8, valueLength: 100)
        let large = e.classID(keyLength: 8, valueLength: 2000)
        #expect(small != large)
        #expect(e.segmentCounts(classID: small)[2] > 0)
        #expect(e.itemStats(classID: small).number == 100)
        #expect(e.itemStats(classID: small).totalItems == 100)
        #expect(e.itemStats(classID: large).number == 3)
        #expect(e.itemStats().number == 103)
        #expect(e.itemStats(classID: 0).number == 0 && e.itemStats(classID: 64).number == 0)
    }

    @Test("the maintainer moves HOT's tail to COLD until HOT is within its 20% share")
    func hotOverflowsToCold() throws {
        let h = try Harness()
        let e = h.engine
        h.clock.set(1000)
        for i in 0..<100 { e.put(key(i), Self.value100) }
        let cls = e.classID(keyLength: 8, valueLength: 100)
        let moves = e.maintainLRUs()
        #expect(moves == 80)
        #expect(e.segmentCounts(classID: cls) == [20, 0, 80, 0])
        #expect(e.itemStats().movesToCold == 80)
        // Nothing more to do.
        #expect(e.maintainLRUs() == 0)
        // The oldest went: COLD's tail is the first item stored.
        #expect(e.tailTimes(classID: cls)[LRUSegment.cold.rawValue] == 1000)
        for i in 0..<100 { #expect(e.fetch(key(i)) != nil) }
    }

    @Test("HOT items older than hot_max_factor × COLD's tail age move to COLD")
    func hotAgesIntoCold() throws {
        let h = try Harness()
        let e = h.engine
        h.clock.set(1000)
        for i in 0..<100 { e.put(key(i), Self.value100) }
        let cls = e.classID(keyLength: 8, valueLength: 100)
        e.maintainLRUs()
        #expect(e.segmentCounts(classID: cls) == [20, 0, 80, 0])
        h.advance(100)
        // COLD's tail is 100 s old: HOT items older than 20 s go.
        #expect(e.maintainLRUs() == 20)
        #expect(e.segmentCounts(classID: cls) == [0, 0, 100, 0])
    }

    @Test("an item read twice in HOT is moved to WARM by the maintainer")
    func activeHotGoesWarm() throws {
        let e = try Harness().engine
        for i in 0..<10 { e.put(key(i), Self.value100) }
        let cls = e.classID(keyLength: 8, valueLength: 100)
        #expect(e.fetch(key(0)) != nil)
        #expect(e.fetch(key(0)) != nil)
        let it = try #require(e.hold(key(0)))
        #expect(it.flags & ItemFlag.active != 0)
        e.release(it)
        e.maintainLRUs()
        #expect(e.segmentCounts(classID: cls) == [2, 1, 7, 0])
        #expect(e.itemStats().movesToWarm == 1)
    }

    @Test("an ACTIVE item at COLD's tail is rescued to WARM instead of being evicted")
    func activeColdTailRescued() throws {
        let h = try Harness { $0.memoryLimit = 1024 * 1024 }
        let e = h.engine
        let (cls, perPage, value) = fillOneColdPage(h)
        // key 0 is COLD's tail; two reads make it ACTIVE.
        #expect(e.fetch(key(0)) != nil)
        #expect(e.fetch(key(0)) != nil)
        #expect(e.segmentCounts(classID: cls) == [18, 0, 76, 0])   // reads alone move nothing
        e.maintainLRUs()
        #expect(e.segmentCounts(classID: cls) == [18, 1, 75, 0])
        #expect(e.itemStats().movesToWarm == 1)

        // The page is full: each new item evicts COLD's tail, which is no longer key 0.
        for i in perPage..<(perPage + 10) { e.put(key(i), value) }
        #expect(e.itemStats().evicted == 10)
        #expect(e.itemStats().evictedActive == 0)
        #expect(e.string(key(0)) == value)
        for i in 1...10 { #expect(e.outcome(key(i)) == .miss, "key \(i)") }
        for i in 11..<(perPage + 10) { #expect(e.fetch(key(i)) != nil, "key \(i)") }
    }

    @Test("an ACTIVE item still at COLD's tail when memory runs out is evicted (evicted_active)")
    func activeColdTailEvictedWithoutMaintainer() throws {
        let h = try Harness { $0.memoryLimit = 1024 * 1024 }
        let e = h.engine
        let (_, perPage, value) = fillOneColdPage(h)
        _ = e.fetch(key(0))
        _ = e.fetch(key(0))
        e.put(key(perPage), value)     // memcached's do_item_alloc_pull evicts whatever is at the tail
        #expect(e.itemStats().evicted == 1)
        #expect(e.itemStats().evictedActive == 1)
        #expect(e.outcome(key(0)) == .miss)
    }

    @Test("under a small memory limit, eviction takes COLD's tail and recent keys stay readable")
    func evictionKeepsRecentKeys() throws {
        let e = try Harness { $0.memoryLimit = 2 * 1024 * 1024 }.engine
        let cls = e.classID(keyLength: 8, valueLength: 100)
        let capacity = 2 * e.slabs.table.perPage[cls]
        #expect(capacity == 13796)
        let total = 20_000
        for i in 0..<total {
            #expect(e.put(key(i), "\(i)-" + Self.value100.dropFirst("\(i)-".count)).result == .stored)
        }
        let stats = e.itemStats()
        #expect(stats.evicted == total - capacity)
        #expect(stats.evictedUnfetched == total - capacity)
        #expect(stats.number == capacity)
        #expect(stats.outOfMemory == 0)
        #expect(e.slabs.totalMalloced == 2 * 1024 * 1024)
        // Oldest first: exactly the first total - capacity keys are gone.
        for i in 0..<(total - capacity) { #expect(e.outcome(key(i)) == .miss, "key \(i)") }
        for i in (total - capacity)..<total {
            #expect(e.fetch(key(i))?.string.hasPrefix("\(i)-") == true, "key \(i)")
        }
    }

    @Test("-M: a full cache refuses new items instead of evicting")
    func noEvictions() throws {
        let e = try Harness { $0.memoryLimit = 1024 * 1024; $0.evictToFree = false }.engine
        let value = String(repeating: "x", count: 10_000)
        let cls = e.classID(keyLength: 8, valueLength: 10_000)
        let perPage = e.slabs.table.perPage[cls]
        for i in 0..<perPage { e.put(key(i), value) }
        let result = Array(key(perPage).utf8).withUnsafeBytes {
            e.allocate(key: $0, flags: 0, expiry: 0, valueLength: 10_000)
        }
        guard case .outOfMemory = result else {
            Issue.record("expected .outOfMemory, got \(result)")
            return
        }
        #expect(e.itemStats().evicted == 0)
        #expect(e.itemStats().outOfMemory == 1)
        for i in 0..<perPage { #expect(e.fetch(key(i)) != nil) }
    }

    @Test("expired items at COLD's tail are reclaimed first; the same pull then evicts one live item, as memcached's lru_pull_tail does")
    func expiredReclaimedBeforeEviction() throws {
        let h = try Harness { $0.memoryLimit = 1024 * 1024 }
        let e = h.engine
        h.clock.set(1000)
        let value = String(repeating: "x", count: 10_000)
        let cls = e.classID(keyLength: 8, valueLength: 10_000)
        let perPage = e.slabs.table.perPage[cls]
        for i in 0..<perPage { e.put(key(i), value, exptime: i < 3 ? 5 : 0) }
        e.maintainLRUs()
        h.advance(10)
        for i in perPage..<(perPage + 4) { e.put(key(i), value) }
        #expect(e.itemStats().reclaimed == 3)
        #expect(e.itemStats().evicted == 1)
        #expect(e.outcome(key(3)) == .miss)
        for i in 4..<(perPage + 4) { #expect(e.fetch(key(i)) != nil, "key \(i)") }
        #expect(e.currentItems == perPage)
    }

    @Test("-o temporary_ttl: items with a short TTL go to TEMP, others to HOT")
    func tempLRU() throws {
        let e = try Harness { $0.tempLRU = true; $0.temporaryTTL = 61 }.engine
        let cls = e.classID(keyLength: 8, valueLength: 100)
        e.put(key(0), Self.value100, exptime: 30)
        e.put(key(1), Self.value100, exptime: 61)
        e.put(key(2), Self.value100, exptime: 62)
        e.put(key(3), Self.value100)
        #expect(e.segmentCounts(classID: cls) == [2, 0, 0, 2])
        // TEMP is never bumped or moved.
        _ = e.fetch(key(0))
        _ = e.fetch(key(0))
        e.maintainLRUs()
        #expect(e.segmentCounts(classID: cls)[LRUSegment.temp.rawValue] == 2)
    }
}

@Suite("Flat LRU (-o no_modern)")
struct FlatLRUTests {
    @Test("items go to COLD and the maintainer leaves them there")
    func itemsGoCold() throws {
        let e = try Harness { $0.lruSegmented = false }.engine
        for i in 0..<10 { e.put(key(i), "v") }
        let cls = e.classID(keyLength: 8, valueLength: 1)
        #expect(e.segmentCounts(classID: cls) == [0, 0, 10, 0])
        _ = e.fetch(key(0))
        _ = e.fetch(key(0))
        e.maintainLRUs()
        #expect(e.segmentCounts(classID: cls) == [0, 0, 10, 0])
    }

    @Test("a read more than a minute after the last bump moves the item to the head")
    func readRelinks() throws {
        let h = try Harness { $0.lruSegmented = false; $0.memoryLimit = 1024 * 1024 }
        let e = h.engine
        h.clock.set(1000)
        let value = String(repeating: "x", count: 10_000)
        let cls = e.classID(keyLength: 8, valueLength: 10_000)
        let perPage = e.slabs.table.perPage[cls]
        for i in 0..<perPage { e.put(key(i), value) }
        h.advance(61)
        #expect(e.fetch(key(0)) != nil)           // older than 60 s: back to the head
        e.put(key(perPage), value)
        e.put(key(perPage + 1), value)
        #expect(e.itemStats().evicted == 2)
        #expect(e.fetch(key(0)) != nil)
        #expect(e.outcome(key(1)) == .miss)
        #expect(e.outcome(key(2)) == .miss)
    }

    @Test("a read within a minute does not move the item")
    func recentReadDoesNotRelink() throws {
        let h = try Harness { $0.lruSegmented = false; $0.memoryLimit = 1024 * 1024 }
        let e = h.engine
        h.clock.set(1000)
        let value = String(repeating: "x", count: 10_000)
        let cls = e.classID(keyLength: 8, valueLength: 10_000)
        let perPage = e.slabs.table.perPage[cls]
        for i in 0..<perPage { e.put(key(i), value) }
        h.advance(30)
        #expect(e.fetch(key(0)) != nil)
        e.put(key(perPage), value)
        #expect(e.outcome(key(0)) == .miss)
        #expect(e.fetch(key(1)) != nil)
    }

    // Audit of issue 12: with no maintainer nothing reclaimed these until a lookup or the crawler
    // found them; memcached's do_item_alloc_pull pulls COLD's tail before every allocation.
    @Test("expired, then flushed, items at COLD's tail are reclaimed by the next allocation while memory is not full (do_item_alloc_pull)")
    func allocationReclaimsTail() throws {
        let h = try Harness { $0.lruSegmented = false }
        let e = h.engine
        h.clock.set(1000)
        for i in 0..<3 { e.put(key(i), "v", exptime: 5) }
        e.put(key(3), "v")
        #expect(e.itemStats().reclaimed == 0)
        h.advance(10)
        // Nothing reads keys 0-2: the next set's allocation finds them at the tail.
        e.put(key(4), "v")
        #expect(e.itemStats().reclaimed == 3)
        #expect(e.itemStats().evicted == 0)
        #expect(e.currentItems == 2)
        // flush_all, then a set (issue 12's `-o no_modern` case): the flushed items go the same way.
        e.flushAll(delay: 0)
        e.put(key(5), "v")
        #expect(e.itemStats().reclaimed == 5)
        #expect(e.currentItems == 1)
        #expect(e.fetch(key(5)) != nil)
    }

    @Test("the segmented LRU leaves expired items to its maintainer: an allocation with free memory reclaims nothing")
    func segmentedAllocationDoesNotPull() throws {
        let h = try Harness()
        let e = h.engine
        h.clock.set(1000)
        for i in 0..<3 { e.put(key(i), "v", exptime: 5) }
        h.advance(10)
        e.put(key(3), "v")
        #expect(e.itemStats().reclaimed == 0)
        #expect(e.currentItems == 4)
    }
}

@Suite("LRU crawler")
struct CrawlerTests {
    /// Every list of the engine is empty (no item, no crawler marker left behind).
    func allListsEmpty(_ e: CacheEngine) -> Bool {
        (0..<CacheEngine.lruCount).allSatisfy { e.lrus[$0].head == 0 && e.lrus[$0].tail == 0 }
    }

    @Test("expired items are reclaimed without being read")
    func reclaimsExpired() throws {
        let h = try Harness()
        let e = h.engine
        h.clock.set(1000)
        for i in 0..<100 { e.put(key(i), String(repeating: "v", count: 100), exptime: i % 2 == 0 ? 10 : 0) }
        let cls = e.classID(keyLength: 8, valueLength: 100)
        e.maintainLRUs()                          // spread them over HOT and COLD
        #expect(e.segmentCounts(classID: cls) == [20, 0, 80, 0])
        h.advance(20)
        #expect(e.crawlAll() == 50)
        let s = e.itemStats()
        #expect(s.crawlerReclaimed == 50)
        #expect(s.reclaimed == 50)
        #expect(s.expiredUnfetched == 50)
        #expect(s.crawlerItemsChecked == 100)
        #expect(s.number == 50)
        let counts = e.segmentCounts(classID: cls)
        #expect(counts[0] + counts[2] == 50)
        for i in 0..<100 {
            // Already gone: a plain miss, not "expired".
            #expect(e.outcome(key(i)) == (i % 2 == 0 ? .miss : .hit))
        }
        // A second pass finds nothing, and does not even walk the lists: none of the items left
        // has an expiry, so there is nothing the crawler could reclaim there.
        #expect(e.crawlAll() == 0)
        #expect(e.itemStats().crawlerItemsChecked == 100)
    }

    @Test("an expiry given later by touch makes the crawler reclaim the item; touch back to 0 keeps it")
    func touchedExpiryIsCrawled() throws {
        let h = try Harness()
        let e = h.engine
        h.clock.set(1000)
        e.put("a", "1")
        e.put("b", "2")
        #expect(e.touch("a", exptime: 5))
        #expect(e.touch("b", exptime: 5))
        #expect(e.touch("b", exptime: 0))
        h.advance(10)
        #expect(e.crawlAll() == 1)
        #expect(e.itemStats().crawlerReclaimed == 1)
        #expect(e.outcome("a") == .miss)
        #expect(e.outcome("b") == .hit)
    }

    @Test("items not yet expired are left alone")
    func leavesLiveItems() throws {
        let h = try Harness()
        let e = h.engine
        h.clock.set(1000)
        for i in 0..<20 { e.put(key(i), "v", exptime: 100) }
        h.advance(99)
        #expect(e.crawlAll() == 0)
        #expect(e.currentItems == 20)
        h.advance(1)
        #expect(e.crawlAll() == 20)
        #expect(e.currentItems == 0)
        #expect(allListsEmpty(e))
    }

    @Test("flushed items are reclaimed and the lists end up empty")
    func reclaimsFlushed() throws {
        let h = try Harness()
        let e = h.engine
        h.clock.set(1000)
        for i in 0..<30 { e.put(key(i), String(repeating: "v", count: i * 50)) }
        e.maintainLRUs()
        h.advance(1)
        e.flushAll(delay: 0)
        #expect(e.crawlAll() == 30)
        #expect(e.currentItems == 0)
        #expect(e.itemStats().bytes == 0)
        #expect(allListsEmpty(e))
        // The engine works normally after the crawl.
        e.put("after", "v")
        #expect(e.string("after") == "v")
        e.maintainLRUs()
        #expect(e.currentItems == 1)
    }

    @Test("an expired item a reader still holds is skipped until released")
    func skipsReferencedItems() throws {
        let h = try Harness()
        let e = h.engine
        h.clock.set(1000)
        e.put("held", "value", exptime: 5)
        e.put("other", "value", exptime: 5)
        let it = try #require(e.hold("held"))
        h.advance(10)
        #expect(e.crawlAll() == 1)
        #expect(e.valueBytes(it) == Array("value".utf8))
        e.release(it)
        #expect(e.crawlAll() == 1)
        #expect(e.currentItems == 0)
    }

    @Test("slab memory of reclaimed items is reused")
    func reclaimedMemoryIsFree() throws {
        let h = try Harness()
        let e = h.engine
        h.clock.set(1000)
        for i in 0..<50 { e.put(key(i), "v", exptime: 1) }
        let cls = e.classID(keyLength: 8, valueLength: 1)
        #expect(e.slabs.classStats(cls).usedChunks == 50)
        h.advance(1)
        #expect(e.crawlAll() == 50)
        #expect(e.slabs.classStats(cls).usedChunks == 0)
    }
}

@Suite("Eviction of chunked values")
struct ChunkedEvictionTests {
    /// allocate + write + store; nil when the allocation is refused.
    func store(_ e: CacheEngine, _ key: String, _ value: [UInt8]) -> StoreResult? {
        e.withKey(key) { k, hv -> StoreResult? in
            guard case .item(let it) = e.allocate(key: k, flags: 0, expiry: 0, valueLength: value.count) else { return nil }
            defer { e.release(it) }
            value.withUnsafeBytes { e.writeValue(it, at: 0, $0) }
            return e.store(it, hash: hv, mode: .set, casIn: 0).0
        }
    }

    @Test("unchunked large values evict each other in the largest class")
    func largeUnchunkedEvict() throws {
        let e = try Harness { $0.memoryLimit = 8 * 1024 * 1024 }.engine
        let size = 400 * 1024
        for i in 0..<40 { #expect(store(e, "u\(i)", patternBytes(size, seed: UInt64(i))) == .stored, "u\(i)") }
        #expect(e.itemStats().evicted > 0)
        expectBytes(e.fetch("u39")?.value, patternBytes(size, seed: 39))
    }

    @Test("when memory is full of chunked values, a new one evicts the oldest",
          arguments: [700 * 1024, 1024 * 1024 - 100])
    func chunkedValuesEvict(_ size: Int) throws {
        let e = try Harness { $0.memoryLimit = 8 * 1024 * 1024 }.engine
        var refused: [Int] = []
        for i in 0..<40 {
            if store(e, "big\(i)", patternBytes(size, seed: UInt64(i))) != .stored { refused.append(i) }
            if i == 0 {
                // The first one fits in the memory limit and reads back intact.
                expectBytes(e.fetch("big0")?.value, patternBytes(size, seed: 0))
            }
        }
        // The oldest was evicted to make room for the newest.
        #expect(e.fetch("big0") == nil)
        // As memcached (items.c do_item_alloc: "We still link this item into the LRU for the larger
        // slab class"), a chunked item is listed in the largest class's LRU, so allocating a chunk
        // evicts old chunked items instead of failing with SERVER_ERROR out of memory.
        #expect(refused.isEmpty, "refused: \(refused)")
        #expect(e.itemStats().evicted > 0)
        expectBytes(e.fetch("big39")?.value, patternBytes(size, seed: 39))
    }
}

@Suite("TEMP LRU maintenance")
struct TempMaintenanceTests {
    @Test("expired TEMP items are reclaimed by the maintainer, as memcached's lru_maintainer_juggle does")
    func maintainerReclaimsTemp() throws {
        let h = try Harness { $0.tempLRU = true }
        let e = h.engine
        h.clock.set(1000)
        for i in 0..<10 { e.put(key(i), "v", exptime: 5) }
        let cls = e.classID(keyLength: 8, valueLength: 1)
        #expect(e.segmentCounts(classID: cls) == [0, 0, 0, 10])
        h.advance(10)
        e.maintainLRUs()
        #expect(e.segmentCounts(classID: cls)[LRUSegment.temp.rawValue] == 0)
        #expect(e.itemStats().reclaimed == 10)
        // The crawler does reclaim them.
        let stillThere = e.segmentCounts(classID: cls)[LRUSegment.temp.rawValue]
        #expect(e.crawlAll() == stillThere)
        #expect(e.currentItems == 0)
    }
}

// Audit of issue 12: metadump walked each list from its head, class after class; memcached's
// crawler puts a marker at every list's tail and lets the lists take turns, oldest item first.
@Suite("lru_crawler metadump order")
struct MetadumpOrderTests {
    /// The keys a walk hands out, `perPiece` at a time (each piece ends the call, as a full
    /// output buffer does), until the walk is over.
    func walk(_ e: CacheEngine, classes: [Int], perPiece: Int = .max) throws -> [String] {
        let dump = try #require(e.beginMetadump(classes: classes))
        var keys: [String] = []
        var done = false
        var pieces = 0
        while !done {
            var inPiece = 0
            done = dump.next { it in
                keys.append(String(decoding: it.key, as: UTF8.self))
                inPiece += 1
                return inPiece < perPiece
            }
            pieces += 1
            if pieces > 1000 { Issue.record("the walk does not end"); break }
        }
        return keys
    }

    /// Nodes linked in a class's lists, markers included.
    func linked(_ e: CacheEngine, _ cls: Int) -> Int {
        var n = 0
        for seg in LRUSegment.allCases {
            var h = e.lrus[cls | (seg.rawValue << 6)].head
            while h != 0 { n += 1; h = Item(e.arena.pointer(h)).next }
        }
        return n
    }

    @Test("oldest first, the classes taking turns: a0 b0 a1 b1 a2 b2 for a0 a1 a2 then b0 b1 b2 (memcached 1.6.18's order)")
    func roundRobinFromTail() throws {
        let e = try Harness().engine
        for i in 0..<3 { e.put("a\(i)", "x") }
        for i in 0..<3 { e.put("b\(i)", String(repeating: "y", count: 500)) }
        let a = e.classID(keyLength: 2, valueLength: 1)
        let b = e.classID(keyLength: 2, valueLength: 500)
        #expect(a != b)
        let expected = ["a0", "b0", "a1", "b1", "a2", "b2"]
        #expect(try walk(e, classes: [b, a]) == expected)
        // In pieces of one and of four: the same order, each item once.
        #expect(try walk(e, classes: [a, b], perPiece: 1) == expected)
        #expect(try walk(e, classes: [a, b], perPiece: 4) == expected)
        #expect(try walk(e, classes: [a]) == ["a0", "a1", "a2"])
        // Every marker is out afterwards: the lists hold the items only.
        #expect(linked(e, a) == 3 && linked(e, b) == 3)
        #expect(try walk(e, classes: [b]) == ["b0", "b1", "b2"])
    }

    @Test("items the maintainer moves during a walk (HOT to an empty COLD) are still listed, each once")
    func movesDuringWalk() throws {
        let e = try Harness().engine
        for i in 0..<50 { e.put(key(i), "x") }
        let cls = e.classID(keyLength: 8, valueLength: 1)
        #expect(e.segmentCounts(classID: cls)[LRUSegment.cold.rawValue] == 0)
        let dump = try #require(e.beginMetadump(classes: [cls]))
        var seen: [String] = []
        #expect(!dump.next { seen.append(String(decoding: $0.key, as: UTF8.self)); return seen.count < 5 })
        e.maintainLRUs()
        #expect(e.segmentCounts(classID: cls)[LRUSegment.cold.rawValue] > 0)
        var rounds = 0
        while !dump.next({ seen.append(String(decoding: $0.key, as: UTF8.self)); return true }) {
            rounds += 1
            if rounds > 100 { Issue.record("the walk does not end"); break }
        }
        #expect(Set(seen) == Set((0..<50).map(key)))
        #expect(linked(e, cls) == 50)
    }

    @Test("a walk stopped half way (the client went away) takes its markers out and frees the slot")
    func finishMidway() throws {
        let e = try Harness().engine
        for i in 0..<5 { e.put(key(i), "x") }
        let cls = e.classID(keyLength: 8, valueLength: 1)
        let first = try #require(e.beginMetadump(classes: [cls]))
        #expect(e.beginMetadump(classes: [cls]) == nil)
        var seen: [String] = []
        #expect(!first.next { seen.append(String(decoding: $0.key, as: UTF8.self)); return seen.count < 2 })
        #expect(seen == [key(0), key(1)])
        first.finish()
        #expect(linked(e, cls) == 5)
        #expect(try walk(e, classes: [cls]) == (0..<5).map(key))
    }
}
