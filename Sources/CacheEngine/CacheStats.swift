// Item counters per LRU list, kept under that list's lock (memcached's itemstats), and their sum;
// the per-class command counts.
import Synchronization

/// Counters of one LRU list, or the sum of several. Names follow `stats items`.
public struct ItemStats: Sendable {
    public var number = 0          // items now linked in the list
    public var bytes = 0
    public var totalItems = 0      // items ever linked into this class (counted on the HOT/COLD side that took them)
    public var evicted = 0
    public var evictedNonzero = 0
    public var evictedUnfetched = 0
    public var evictedActive = 0
    public var evictedTime: UInt32 = 0
    public var reclaimed = 0
    public var expiredUnfetched = 0
    public var outOfMemory = 0
    public var tailRepairs = 0
    public var lrutailReflocked = 0
    public var movesToCold = 0
    public var movesToWarm = 0
    public var movesWithinLRU = 0
    public var crawlerReclaimed = 0
    public var crawlerItemsChecked = 0
    /// Allocation tries that had to pull a tail themselves (memcached's direct_reclaims).
    public var directReclaims = 0

    public init() {}

    public mutating func add(_ o: ItemStats) {
        number += o.number
        bytes += o.bytes
        totalItems += o.totalItems
        evicted += o.evicted
        evictedNonzero += o.evictedNonzero
        evictedUnfetched += o.evictedUnfetched
        evictedActive += o.evictedActive
        evictedTime = max(evictedTime, o.evictedTime)
        reclaimed += o.reclaimed
        expiredUnfetched += o.expiredUnfetched
        outOfMemory += o.outOfMemory
        tailRepairs += o.tailRepairs
        lrutailReflocked += o.lrutailReflocked
        movesToCold += o.movesToCold
        movesToWarm += o.movesToWarm
        movesWithinLRU += o.movesWithinLRU
        crawlerReclaimed += o.crawlerReclaimed
        crawlerItemsChecked += o.crawlerItemsChecked
        directReclaims += o.directReclaims
    }
}

/// Engine-wide figures for `stats`.
public struct EngineStats: Sendable {
    public var items = ItemStats()
    public var totalMalloced = 0
    public var hashPower = 0
    public var hashBytes = 0
    public var hashIsExpanding = false
    /// The crawler: whether a pass runs now, passes started.
    public var crawlerRunning = false
    public var crawlerStarts = 0
    public var maintainerJuggles = 0
}

/// The per-class command counts of `stats slabs` (get_hits … touch_hits) and `stats items`
/// (hits_to_hot … hits_to_temp), memcached's per-thread slab_stats and lru_hits. The engine
/// counts them where it knows the item's class: under the item lock of the operation.
public enum ClassCommand: Int, CaseIterable, Sendable {
    case cmdSet, deleteHits, incrHits, decrHits, casHits, casBadval, touchHits
    case hitsToHot, hitsToWarm, hitsToCold, hitsToTemp
    /// Strings written over the old value in its own chunk (CacheEngine+Overwrite.swift): links
    /// that did not happen, added to total_items.
    case overwrites
}

public final class ClassCommandCounts: @unchecked Sendable {
    // Safe to share: the slots are atomics, allocated in init and freed in deinit only.
    //
    // Sharded by the key's hash: both workers adding to one shared counter per class (all small
    // values are one class) made its cache line bounce between the cores on every request (p16
    // lost 18 % of its ops per CPU-second). A key's shard is fixed, so two workers meet on a line
    // only when their keys fall in the same shard. Reading sums the shards.
    /// 16 slots (128 bytes) per class and shard, so that no two share a cache line.
    static let stride = 16
    static let classes = 64
    static let shards = 16
    private let slots: UnsafeMutablePointer<Atomic<UInt64>>
    private static var count: Int { shards * classes * stride }

    init() {
        slots = .allocate(capacity: Self.count)
        for i in 0..<Self.count { (slots + i).initialize(to: Atomic(0)) }
    }

    deinit {
        slots.deinitialize(count: Self.count)
        slots.deallocate()
    }

    @inline(__always)
    func add(_ c: ClassCommand, _ classID: Int, hash hv: UInt32) {
        guard classID > 0 && classID < Self.classes else { return }
        let shard = Int(hv >> 28) & (Self.shards - 1)
        slots[(shard * Self.classes + classID) * Self.stride + c.rawValue].add(1, ordering: .relaxed)
    }

    /// A get hit on an item in `segment` (0 HOT, 1 WARM, 2 COLD, 3 TEMP).
    @inline(__always)
    func addHit(_ classID: Int, segment: Int, hash hv: UInt32) {
        add(ClassCommand(rawValue: ClassCommand.hitsToHot.rawValue + min(segment, 3))!, classID, hash: hv)
    }

    public func value(_ c: ClassCommand, _ classID: Int) -> UInt64 {
        guard classID > 0 && classID < Self.classes else { return 0 }
        var total: UInt64 = 0
        for shard in 0..<Self.shards {
            total &+= slots[(shard * Self.classes + classID) * Self.stride + c.rawValue].load(ordering: .relaxed)
        }
        return total
    }

    /// get_hits of a class: its hits in every segment (memcached sums lru_hits so).
    public func getHits(_ classID: Int) -> UInt64 {
        value(.hitsToHot, classID) &+ value(.hitsToWarm, classID) &+ value(.hitsToCold, classID) &+ value(.hitsToTemp, classID)
    }

    /// `stats reset`.
    public func reset() {
        for i in 0..<Self.count { slots[i].store(0, ordering: .relaxed) }
    }
}

extension CacheEngine {
    /// `stats reset`: what memcached's item_stats_reset and its thread stats reset zero: every
    /// per-list counter (evictions, reclaims, moves, …, total_items) and the per-class command
    /// counts. What is stored now (number, bytes) is kept.
    public func resetStats() {
        for id in 0..<Self.lruCount {
            lruLock(id)
            let kept = lrus[id].stats
            var fresh = ItemStats()
            fresh.number = kept.number
            fresh.bytes = kept.bytes
            lrus[id].stats = fresh
            lruUnlock(id)
        }
        classCommands.reset()
        maintainerJuggles.store(0, ordering: .relaxed)
        crawler.startCount.store(0, ordering: .relaxed)
    }
}

extension CacheEngine {
    /// The flush_all mark in process time, 0 before any (memcached's settings.oldest_live,
    /// `stats settings` oldest).
    public var flushMark: UInt32 { oldestLive.pointee.load(ordering: .relaxed) }
}
