// A page at once for a class that cannot evict its way to a chunk. A log's or a Redis stream's
// memory chunks are unlinked buffers (CacheEngine+Buffers.swift): never in an LRU, so when their
// slab class has no free chunk and -m is taken, an allocation of theirs finds nothing to evict in
// the class, and automove, which follows evictions, never sees the class starve, while the other
// classes go on evicting cache items for their own writes. redis evicts any key for a write;
// memcached's answer to a starving class is slab_reassign: a page of another class is emptied
// (its items rescued into free chunks of their class, else evicted) and handed over.
//
// `makeRoomForBuffer` does one such move on the writer's thread, synchronously and bounded: at
// most a few pages are tried, each emptied once (no wait for a reference but a few milliseconds:
// a reply still being written, perhaps by this very thread's connection, keeps its page where it
// is). The victim is a class with a page's worth of free chunks, else the class whose LRU tail is
// oldest (redis's allkeys-lru picks the idlest key), never a page holding buffers (log chunks,
// broker messages). -m stays the bound: no page is taken, one changes class.
//
// Locks: it takes item locks with `withItemLock` one item at a time, as the page mover does, and
// an eviction runs the engine's removal hooks (a stream root's release takes that stream's lock,
// and its end the broker's registry and its partition's lock). So the caller must hold no item
// lock, no stream or log partition lock: a log append leaves its partition lock (and XADD its
// stream lock) before asking, and tries its append again after. One move at a time (the page
// mover's `running`): a caller that finds another move running waits for it (bounded by its own
// two seconds) and then tries its allocation again before asking for another page.
#if canImport(Glibc)
import Glibc
#endif
import SlabAllocator
import Synchronization

extension CacheEngine {
    /// A page moved at once to the class of a buffer of `bytes` (`allocateBuffer`) that found no
    /// chunk: true when the caller should try its allocation again (a page went to the class, it
    /// has a free chunk now, or another move finished meanwhile). False with `-o no_slab_reassign`,
    /// for a buffer no slab chunk holds, or when no class has a page that can be emptied now.
    /// Every page moved is counted (`slab_reassign_forced`, and `slabs_moved`). The caller holds
    /// no engine lock and no lock an eviction's hooks take (above).
    public func makeRoomForBuffer(_ bytes: Int) -> Bool {
        guard settings.slabReassign, bytes <= bufferMax else { return false }
        let cls = slabs.table.classID(forSize: ItemLayout.totalSize(keyLength: 0, valueLength: bytes))
        guard cls > 0 else { return false }
        return rebalancer.forceMove(to: cls)
    }

    /// Pages moved by `makeRoomForBuffer` (`slab_reassign_forced`).
    public var forcedPageMoves: UInt64 { rebalancer.forced.load(ordering: .relaxed) }

    /// Seconds since the last access of the oldest item at the tails of `cls`'s lists (0 when
    /// they are empty or their tails busy). The tail is read under its LRU lock and its item's
    /// stripe, tried only (LRU → item lock is against the order, so it never waits).
    func oldestTailIdle(_ cls: Int) -> UInt32 {
        let now = clock.current
        var oldest: UInt32 = 0
        for seg in LRUSegment.allCases {
            let id = cls | (seg.rawValue << 6)
            lruLock(id)
            let h = lrus[id].tail
            if h != 0 {
                let it = Item(arena.pointer(h))
                let hv = murmur3(it.key)
                if itemLocks.tryLock(hv) {
                    oldest = max(oldest, it.idle(now: now))
                    itemLocks.unlock(hv)
                }
            }
            lruUnlock(id)
        }
        return oldest
    }
}

extension SlabRebalancer {
    /// Pages tried at most for one forced move, and passes over one page's items (1 ms apart)
    /// before it is given back to its class.
    static let forcedPageTries = 6
    static let forcedPasses = 5

    /// `makeRoomForBuffer`'s move of one page to `dst`.
    func forceMove(to dst: Int) -> Bool {
        let slabs = engine.slabs
        guard running.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            // Another move (automove, `slabs reassign`, another writer's): it ends within its two
            // seconds; then the caller's allocation may find its page.
            for _ in 0..<300 where running.load(ordering: .acquiring) { usleep(10_000) }
            return !running.load(ordering: .acquiring)
        }
        defer { running.store(false, ordering: .releasing) }
        // Freed meanwhile (a reply written, another writer's chunk given back): no move needed.
        if slabs.classStats(dst).freeChunks > 0 { return true }
        var tries = 0
        for src in forcedVictims(excluding: dst) {
            // A class's next page when one holds buffers or cannot be emptied at once.
            for _ in 0..<2 {
                guard tries < Self.forcedPageTries else { return false }
                tries += 1
                guard let move = slabs.beginPageMove(from: src) else { break }
                if holdsBuffers(move) {
                    slabs.abortPageMove(move)
                    aborted.wrappingAdd(1, ordering: .relaxed)
                    continue
                }
                var emptied = false
                for pass in 0..<Self.forcedPasses {
                    evacuate(move)
                    if slabs.pageMoveIsEmpty { emptied = true; break }
                    busyItems.wrappingAdd(UInt64(slabs.pageMoveBusyChunks), ordering: .relaxed)
                    if pass < Self.forcedPasses - 1 { usleep(1_000) }
                }
                guard emptied else {
                    // A reference outlived the passes: the page stays (its freed chunks back on
                    // its class's free list).
                    slabs.abortPageMove(move)
                    aborted.wrappingAdd(1, ordering: .relaxed)
                    continue
                }
                slabs.finishPageMove(move, to: dst)
                moved.wrappingAdd(1, ordering: .relaxed)
                forced.wrappingAdd(1, ordering: .relaxed)
                return true
            }
        }
        return false
    }

    /// Classes that may give `dst` a page, best first: those with a page's worth of free chunks
    /// (most free first), then by the age of their oldest tail item (oldest first), then by pages.
    /// Each keeps one page at least; the largest class (raw chunks of chunked items) and the
    /// keyless classes never give one.
    func forcedVictims(excluding dst: Int) -> [Int] {
        let largest = engine.slabs.table.largest
        var candidates: [(cls: Int, spare: Int, idle: UInt32, pages: Int)] = []
        for cls in 1..<largest where cls != dst {
            let s = engine.slabs.classStats(cls)
            guard s.totalPages >= 2 else { continue }
            let spare = s.freeChunks >= s.chunksPerPage ? s.freeChunks * s.chunkSize : 0
            candidates.append((cls, spare, spare > 0 ? 0 : engine.oldestTailIdle(cls), s.totalPages))
        }
        candidates.sort { a, b in
            if a.spare != b.spare { return a.spare > b.spare }
            if a.idle != b.idle { return a.idle > b.idle }
            return a.pages > b.pages
        }
        return candidates.map(\.cls)
    }
}
