// The engine's memory as protocols and the executable see it: slab classes, the -m limit
// (`cache_memlimit`), page moves (`slabs reassign|automove`) and their counters. The allocator and
// the page mover themselves stay internal to the engine.
import SlabAllocator

/// One slab class's figures (`stats slabs`): the allocator's type under a name protocols can use
/// without importing the allocator.
public typealias SlabStats = SlabClassStats

/// The page mover's counters, as `stats` names them (slab_reassign_*, slabs_moved).
public struct PageMoveStats: Sendable {
    public var moved: UInt64 = 0
    public var rescues: UInt64 = 0
    public var evictionsNoMemory: UInt64 = 0
    public var busyItems: UInt64 = 0
    /// Pages moved at once for a log's or stream's memory chunk (`slab_reassign_forced`), also in `moved`.
    public var forced: UInt64 = 0
    public var running = false
}

extension CacheEngine {
    /// The highest slab class id (classes are 1...largestSlabClass).
    public var largestSlabClass: Int { slabs.table.largest }

    /// The class an item of `size` bytes (header, key, value) is stored in.
    public func slabClassID(forItemSize size: Int) -> Int { slabs.table.classID(forSize: size) }

    /// `stats slabs` counters of one class.
    public func slabClassStats(_ id: Int) -> SlabStats { slabs.classStats(id) }

    /// The engine-only keyless classes (hash, set and sorted-set members: KeylessLayout.swift),
    /// id and counters; not memcached's, so `stats slabs` does not list them.
    public var keylessSlabStats: [(id: Int, stats: SlabStats)] {
        slabs.table.keylessIDs.map { ($0, slabs.classStats($0)) }
    }

    /// Entries that fitted a keyless class but took the 44-byte header because it had no memory.
    public var keylessFallbackCount: Int { keylessFallbacks.load(ordering: .relaxed) }

    /// Hashtable indexes of hashes, sets and sorted sets that began shrinking after deletes.
    public var hashIndexShrinkCount: Int { indexShrinks.load(ordering: .relaxed) }

    /// The class table as `-vv` prints it at start-up.
    public var slabClassTableLines: [String] { slabs.table.verboseLines() }

    /// -m in bytes.
    public var memoryLimit: Int { slabs.memoryLimit }

    /// `cache_memlimit`: false when `bytes` does not fit the address space reserved at start.
    public func setMemoryLimit(_ bytes: Int) {
        slabs.setMemoryLimit(bytes)
        // A larger limit may have room: the next allocation finds out.
        memoryRefusing.store(false, ordering: .relaxed)
    }

    /// Pages refused under the limit because the address space reserved at start was used up
    /// (memcached's `malloc_fails`).
    public var pageReservationRefusals: Int { slabs.pageReservationRefusals }

    /// Bytes of slab pages taken so far.
    public var totalMalloced: Int { slabs.totalMalloced }

    /// `slabs reassign <src> <dst>`.
    public func reassignPage(from src: Int, to dst: Int) -> ReassignResult { rebalancer.reassign(from: src, to: dst) }

    /// `slabs automove 0|1|2` (and `-o slab_automove`).
    public var automoveLevel: Int {
        get { rebalancer.automove.load(ordering: .relaxed) }
        set { rebalancer.automove.store(newValue, ordering: .relaxed) }
    }

    public var pageMoveStats: PageMoveStats {
        var s = PageMoveStats()
        s.moved = rebalancer.moved.load(ordering: .relaxed)
        s.rescues = rebalancer.rescues.load(ordering: .relaxed)
        s.evictionsNoMemory = rebalancer.evictions.load(ordering: .relaxed)
        s.busyItems = rebalancer.busyItems.load(ordering: .relaxed)
        s.forced = rebalancer.forced.load(ordering: .relaxed)
        s.running = rebalancer.isRunning
        return s
    }
}
