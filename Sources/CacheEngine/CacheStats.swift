// Item counters per LRU list, kept under that list's lock (memcached's itemstats), and their sum.

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
    }
}

/// Engine-wide figures for `stats`.
public struct EngineStats: Sendable {
    public var items = ItemStats()
    public var totalMalloced = 0
    public var hashPower = 0
    public var hashBytes = 0
    public var hashIsExpanding = false
}
