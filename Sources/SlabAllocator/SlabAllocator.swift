// Pages and free lists. Memory is taken from the arena one page (1 MB) at a time, on demand, and
// given to the class that ran out; a page never returns to the pool (slab reassignment comes with
// the memcached-parity work). Like memcached, a class may take its first page even past -m, so every
// class can hold at least one page of items. Freed chunks go onto their class's free list, linked
// through the chunk's first 4 bytes. One mutex (the slab lock) guards it all; the item → LRU → slab
// lock order means the allocator never calls out while holding it.
#if canImport(Glibc)
import Glibc
#endif

/// Per-class counters, as `stats slabs` reports them.
public struct SlabClassStats: Sendable {
    public var chunkSize = 0
    public var chunksPerPage = 0
    public var totalPages = 0
    public var totalChunks = 0
    public var usedChunks = 0
    public var freeChunks = 0
    public var freeChunksEnd = 0
}

public final class SlabAllocator: @unchecked Sendable {
    // Safe to share: every mutable field below is reached only with `lock` held.
    public let table: SlabClassTable
    public let arena: SlabArena

    private struct ClassState {
        var freeHead: SlabHandle = 0
        var freeCount = 0
        var carveNext = 0   // arena offset of the next never-used chunk in the newest page
        var carveEnd = 0
        var pages = 0
        var used = 0
    }

    private let lock: UnsafeMutablePointer<pthread_mutex_t>
    private let classes: UnsafeMutablePointer<ClassState>
    private let state: UnsafeMutablePointer<(nextPage: Int, malloced: Int, limit: Int)>
    /// -k: each page is mlock'ed as it is taken (the reservation itself cannot be: it is larger
    /// than -m). Pages that could not be locked are counted.
    private let lockPages: Bool
    private var lockFailures = 0

    /// Address space reserved for pages: room for `cache_memlimit` to raise -m at run time.
    static func reservation(forLimit limit: Int, table: SlabClassTable) -> Int {
        // The limit (or 4x it, at least 1 GB, for cache_memlimit), plus the first page every
        // class may take past it. Virtual only: pages are touched when handed out.
        let growable = min(max(limit * 4, 1 << 30), SlabArena.maxBytes - (table.largest + 1) * table.pageSize)
        return max(limit, growable) + (table.largest + 1) * table.pageSize
    }

    /// - Parameter memoryLimit: -m in bytes (0 = no limit other than the arena).
    /// - Parameter lockPages: -k, mlock each page when it is taken.
    /// - Parameter largePages: -L, ask for transparent huge pages over the arena.
    public init?(table: SlabClassTable, memoryLimit: Int, lockPages: Bool = false, largePages: Bool = false) {
        guard let arena = SlabArena(bytes: Self.reservation(forLimit: memoryLimit, table: table)) else { return nil }
        self.table = table
        self.arena = arena
        self.lockPages = lockPages
        if largePages { _ = madvise(arena.base, arena.reservedBytes, MADV_HUGEPAGE) }
        lock = .allocate(capacity: 1)
        pthread_mutex_init(lock, nil)
        classes = .allocate(capacity: table.largest + 1)
        classes.initialize(repeating: ClassState(), count: table.largest + 1)
        state = .allocate(capacity: 1)
        state.initialize(to: (nextPage: SlabArena.reservedPrefix, malloced: 0, limit: memoryLimit))
    }

    deinit {
        pthread_mutex_destroy(lock)
        lock.deallocate()
        classes.deallocate()
        state.deallocate()
    }

    /// A chunk of class `id`, or 0 when the class has no free chunk and no page can be taken.
    public func allocate(classID id: Int) -> SlabHandle {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return lockedAllocate(classID: id)
    }

    /// Several chunks at once (all or none), for chunked items.
    public func allocate(classIDs ids: UnsafeBufferPointer<UInt8>, into out: UnsafeMutableBufferPointer<SlabHandle>) -> Bool {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        for i in 0..<ids.count {
            let h = lockedAllocate(classID: Int(ids[i]))
            if h == 0 {
                for j in 0..<i { lockedFree(out[j], classID: Int(ids[j])) }
                return false
            }
            out[i] = h
        }
        return true
    }

    public func free(_ handle: SlabHandle, classID id: Int) {
        pthread_mutex_lock(lock)
        lockedFree(handle, classID: id)
        pthread_mutex_unlock(lock)
    }

    private func lockedAllocate(classID id: Int) -> SlabHandle {
        let c = classes + id
        if c.pointee.freeHead != 0 {
            let h = c.pointee.freeHead
            c.pointee.freeHead = arena.pointer(h).load(as: UInt32.self)
            c.pointee.freeCount -= 1
            c.pointee.used += 1
            return h
        }
        let size = table.chunkSizes[id]
        if c.pointee.carveNext + size > c.pointee.carveEnd {
            guard lockedNewPage(classID: id) else { return 0 }
        }
        let offset = c.pointee.carveNext
        c.pointee.carveNext += size
        c.pointee.used += 1
        return SlabHandle(truncatingIfNeeded: offset &>> 3)
    }

    private func lockedNewPage(classID id: Int) -> Bool {
        let c = classes + id
        let pageSize = table.pageSize
        let limit = state.pointee.limit
        if limit > 0 && state.pointee.malloced + pageSize > limit && c.pointee.pages > 0 {
            return false
        }
        guard state.pointee.nextPage + pageSize <= arena.reservedBytes else { return false }
        // The unused tail of the previous page (less than one chunk) is simply left behind.
        c.pointee.carveNext = state.pointee.nextPage
        c.pointee.carveEnd = state.pointee.nextPage + table.perPage[id] * table.chunkSizes[id]
        if lockPages && mlock(arena.base + state.pointee.nextPage, pageSize) != 0 { lockFailures += 1 }
        state.pointee.nextPage += pageSize
        state.pointee.malloced += pageSize
        c.pointee.pages += 1
        return true
    }

    /// Pages -k could not lock (RLIMIT_MEMLOCK).
    public var pageLockFailures: Int {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return lockFailures
    }

    private func lockedFree(_ handle: SlabHandle, classID id: Int) {
        let c = classes + id
        arena.pointer(handle).storeBytes(of: c.pointee.freeHead, as: UInt32.self)
        c.pointee.freeHead = handle
        c.pointee.freeCount += 1
        c.pointee.used -= 1
    }

    /// The memory limit (-m) now in force.
    public var memoryLimit: Int {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return state.pointee.limit
    }

    /// `cache_memlimit`: a new limit for taking pages (pages already taken stay). False when the
    /// reserved address space cannot hold it.
    public func setMemoryLimit(_ bytes: Int) -> Bool {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        guard bytes > 0, bytes + (table.largest + 1) * table.pageSize <= arena.reservedBytes - SlabArena.reservedPrefix else {
            return false
        }
        state.pointee.limit = bytes
        return true
    }

    /// Bytes of pages taken from the arena (memcached's total_malloced).
    public var totalMalloced: Int {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return state.pointee.malloced
    }

    public func classStats(_ id: Int) -> SlabClassStats {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        let c = classes[id]
        var s = SlabClassStats()
        s.chunkSize = table.chunkSizes[id]
        s.chunksPerPage = table.perPage[id]
        s.totalPages = c.pages
        s.totalChunks = c.pages * table.perPage[id]
        s.usedChunks = c.used
        s.freeChunksEnd = c.carveNext < c.carveEnd ? (c.carveEnd - c.carveNext) / table.chunkSizes[id] : 0
        s.freeChunks = c.freeCount + s.freeChunksEnd
        return s
    }
}
