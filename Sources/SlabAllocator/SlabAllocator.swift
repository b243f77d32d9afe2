// Pages and free lists. Memory is taken from the arena one page (1 MB) at a time, on demand, and
// given to the class that ran out; `slabs reassign` / automove (and a log's starving chunk class,
// at once) later move a page between classes (the engine empties it, this file hands it over). Like memcached, a class may take its first page even past -m, so every
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

    struct ClassState {
        var freeHead: SlabHandle = 0
        var freeCount = 0
        var carveNext = 0   // arena offset of the next never-used chunk in the newest page
        var carveEnd = 0
        var pages = 0
        var used = 0
    }

    let lock: UnsafeMutablePointer<pthread_mutex_t>
    let classes: UnsafeMutablePointer<ClassState>
    let state: UnsafeMutablePointer<(nextPage: Int, malloced: Int, limit: Int)>
    /// -k: each page is mlock'ed as it is taken (the reservation itself cannot be: it is larger
    /// than -m). Pages that could not be locked are counted.
    private let lockPages: Bool
    private var lockFailures = 0
    /// Pages refused past the reserved address space (`pageReservationRefusals`).
    private var reservationRefusals = 0
    /// Owner class of each page (0 = not taken; a keyless class's pages never move), and whether a page holds headerless chunks of
    /// chunked items (such a page cannot be emptied item by item, so it never moves).
    let pageOwner: UnsafeMutablePointer<UInt8>
    let pageHasRawChunks: UnsafeMutablePointer<Bool>
    let pageCount: Int
    /// The page being emptied for a move (arena offsets), 0 when none: its chunks are not
    /// handed out, and chunks freed in it do not go back on the free list.
    private var movingStart = 0
    private var movingEnd = 0
    /// Which chunks of the moving page are known free: taken off the free list when the move
    /// began, or freed since. Only this (kept under the slab lock) says a chunk is empty; an
    /// item's refcount reading 0 may be a free or an allocation still in progress.
    private let movingFree: UnsafeMutablePointer<Bool>
    private var movingFreeCount = 0
    private var movingChunkSize = 1
    private var movingChunks = 0
    /// Where the next move starts looking, so that a page that could not be emptied is not
    /// picked again and again.
    private var moveCursor = 0

    /// Address space reserved for pages: room for `cache_memlimit` to raise -m at run time.
    /// A memory file (`-e`) has no such room: its size is -m plus the first page every class
    /// may take past it, so `cache_memlimit` above -m there is refused page by page (counted).
    public static func reservation(forLimit limit: Int, table: SlabClassTable, file: Bool = false) -> Int {
        if file { return limit + (table.largest + 1) * table.pageSize }
        // The limit (or 4x it, at least 1 GB, for cache_memlimit), plus the first page every
        // class may take past it. Virtual only: pages are touched when handed out.
        let growable = min(max(limit * 4, 1 << 30), SlabArena.maxBytes - (table.largest + 1) * table.pageSize)
        return max(limit, growable) + (table.largest + 1) * table.pageSize
    }

    /// - Parameter memoryLimit: -m in bytes (0 = no limit other than the arena).
    /// - Parameter lockPages: -k, mlock each page when it is taken.
    /// - Parameter largePages: -L, ask for transparent huge pages over the arena.
    /// - Parameter memoryFile: the open memory file (`-e`), `SlabArena.totalBytes(for:
    ///   reservation(forLimit:table:file: true))` long.
    public init?(table: SlabClassTable, memoryLimit: Int, lockPages: Bool = false, largePages: Bool = false, memoryFile: Int32? = nil) {
        let reserve = Self.reservation(forLimit: memoryLimit, table: table, file: memoryFile != nil)
        guard let arena = SlabArena(bytes: reserve, file: memoryFile) else { return nil }
        self.table = table
        self.arena = arena
        self.lockPages = lockPages
        if largePages { _ = madvise(arena.base, arena.reservedBytes, MADV_HUGEPAGE) }
        lock = .allocate(capacity: 1)
        pthread_mutex_init(lock, nil)
        // Indexed by class id: memcached's 1...largest, then the keyless ids (SlabClasses.swift).
        classes = .allocate(capacity: SlabClassTable.classLimit)
        classes.initialize(repeating: ClassState(), count: SlabClassTable.classLimit)
        state = .allocate(capacity: 1)
        state.initialize(to: (nextPage: SlabArena.reservedPrefix, malloced: 0, limit: memoryLimit))
        pageCount = (arena.reservedBytes - SlabArena.reservedPrefix) / table.pageSize + 1
        pageOwner = .allocate(capacity: pageCount)
        pageOwner.initialize(repeating: 0, count: pageCount)
        pageHasRawChunks = .allocate(capacity: pageCount)
        pageHasRawChunks.initialize(repeating: false, count: pageCount)
        movingFree = .allocate(capacity: table.perPage.max() ?? 1)
    }

    deinit {
        pthread_mutex_destroy(lock)
        lock.deallocate()
        classes.deallocate()
        state.deallocate()
        pageOwner.deallocate()
        pageHasRawChunks.deallocate()
        movingFree.deallocate()
    }

    @inline(__always)
    func pageIndex(_ offset: Int) -> Int { (offset - SlabArena.reservedPrefix) / table.pageSize }

    /// A chunk of class `id`, or 0 when the class has no free chunk and no page can be taken.
    /// `raw`: the chunk will hold part of a chunked item's value, without an item header.
    public func allocate(classID id: Int, raw: Bool = false) -> SlabHandle {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        let h = lockedAllocate(classID: id)
        if raw && h != 0 { pageHasRawChunks[pageIndex(Int(h) << 3)] = true }
        return h
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

    /// A free chunk of class `id` from the pages it already has (no new page), or 0: the slab
    /// rebalancer moves items with it without growing the class it is emptying a page of.
    public func allocateWithoutNewPage(classID id: Int) -> SlabHandle {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return lockedAllocate(classID: id, newPage: false)
    }

    private func lockedAllocate(classID id: Int, newPage: Bool = true) -> SlabHandle {
        let c = classes + id
        if c.pointee.freeHead != 0 {
            let h = c.pointee.freeHead
            c.pointee.freeHead = arena.pointer(h).load(as: UInt32.self)
            c.pointee.freeCount -= 1
            c.pointee.used += 1
            return h
        }
        let size = table.chunkSize(id)
        if c.pointee.carveNext + size > c.pointee.carveEnd {
            guard newPage, lockedNewPage(classID: id) else { return 0 }
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
        guard state.pointee.nextPage + pageSize <= arena.reservedBytes else {
            // Under the limit but past the reserved address space (a `cache_memlimit` above the
            // reservation): memcached's failed malloc of a page, counted as it counts them.
            reservationRefusals += 1
            return false
        }
        // The unused tail of the previous page (less than one chunk) is simply left behind.
        c.pointee.carveNext = state.pointee.nextPage
        c.pointee.carveEnd = state.pointee.nextPage + table.chunksPerPage(id) * table.chunkSize(id)
        pageOwner[pageIndex(state.pointee.nextPage)] = UInt8(id)
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
        let offset = Int(handle) << 3
        if offset >= movingStart && offset < movingEnd {
            // Emptied for a move: the chunk leaves with its page.
            c.pointee.used -= 1
            markMovingFree(offset)
            return
        }
        pushFree(handle, c)
        c.pointee.used -= 1
    }

    /// Puts a chunk on its class's free list (its first four bytes link the list).
    @inline(__always)
    func pushFree(_ handle: SlabHandle, _ c: UnsafeMutablePointer<ClassState>) {
        arena.pointer(handle).storeBytes(of: c.pointee.freeHead, as: UInt32.self)
        c.pointee.freeHead = handle
        c.pointee.freeCount += 1
    }

    /// No page is being moved any more.
    private func endPageMove() {
        movingStart = 0
        movingEnd = 0
        movingChunks = 0
        movingFreeCount = 0
    }

    /// The memory limit (-m) now in force.
    public var memoryLimit: Int {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return state.pointee.limit
    }

    /// `cache_memlimit`: a new limit for taking pages (pages already taken stay). As memcached
    /// accepts any limit (its pages are malloc'ed), so does this; pages past the address space
    /// reserved at start are refused and counted in `reservationRefusals`.
    public func setMemoryLimit(_ bytes: Int) {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        state.pointee.limit = bytes
    }

    /// Pages refused under the memory limit because the reserved address space was used up
    /// (memcached's `malloc_fails`).
    public var pageReservationRefusals: Int {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return reservationRefusals
    }

    /// Bytes of pages taken from the arena (memcached's total_malloced).
    public var totalMalloced: Int {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return state.pointee.malloced
    }

    // MARK: page moves (slabs reassign / automove)

    private func markMovingFree(_ offset: Int) {
        let i = (offset - movingStart) / movingChunkSize
        if i < movingChunks && !movingFree[i] {
            movingFree[i] = true
            movingFreeCount += 1
        }
    }

    /// Every chunk of the page being moved is free: it can be handed over.
    public var pageMoveIsEmpty: Bool {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return movingEnd != 0 && movingFreeCount == movingChunks
    }

    /// Chunks of the page being moved not free yet.
    public var pageMoveBusyChunks: Int {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return movingChunks - movingFreeCount
    }

    /// A page being moved out of `classID`: arena offset, chunk geometry.
    public struct PageMove: Sendable {
        public let classID: Int
        public let start: Int
        public let chunkSize: Int
        public let chunks: Int
    }

    /// Starts emptying one page of `src`: it must keep at least one page, and a page holding raw
    /// chunks of chunked items is never chosen. Its free chunks leave the free list and no chunk
    /// of it is handed out or freed back until `finishPageMove` or `abortPageMove`.
    public func beginPageMove(from src: Int) -> PageMove? {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        guard movingEnd == 0, src >= 1, src <= table.largest, classes[src].pages >= 2 else { return nil }
        let c = classes + src
        var chosen = -1
        // The next eligible page from the cursor on, not the one being carved (its tail was
        // never handed out).
        let carvingPage = c.pointee.carveEnd > 0 ? pageIndex(c.pointee.carveEnd - 1) : -1
        for step in 0..<pageCount {
            let index = (moveCursor + step) % pageCount
            if pageOwner[index] == UInt8(src) && !pageHasRawChunks[index] && index != carvingPage {
                chosen = index
                moveCursor = index + 1
                break
            }
        }
        guard chosen >= 0 else { return nil }
        let start = SlabArena.reservedPrefix + chosen * table.pageSize
        movingStart = start
        movingEnd = start + table.pageSize
        movingChunkSize = table.chunkSizes[src]
        movingChunks = table.perPage[src]
        movingFreeCount = 0
        movingFree.initialize(repeating: false, count: movingChunks)
        // Unthread the page's free chunks.
        var h = c.pointee.freeHead
        var previous: SlabHandle = 0
        while h != 0 {
            let next = arena.pointer(h).load(as: UInt32.self)
            let offset = Int(h) << 3
            if offset >= movingStart && offset < movingEnd {
                if previous == 0 { c.pointee.freeHead = next } else { arena.pointer(previous).storeBytes(of: next, as: UInt32.self) }
                c.pointee.freeCount -= 1
                markMovingFree(offset)
            } else {
                previous = h
            }
            h = next
        }
        return PageMove(classID: src, start: start, chunkSize: table.chunkSizes[src], chunks: table.perPage[src])
    }

    /// The page is empty: it becomes `dst`'s, zeroed and carved whole onto `dst`'s free list.
    public func finishPageMove(_ m: PageMove, to dst: Int) {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        memset(arena.base + m.start, 0, table.pageSize)
        let index = pageIndex(m.start)
        pageOwner[index] = UInt8(dst)
        pageHasRawChunks[index] = false
        classes[m.classID].pages -= 1
        let d = classes + dst
        d.pointee.pages += 1
        let size = table.chunkSizes[dst]
        for i in stride(from: table.perPage[dst] - 1, through: 0, by: -1) {
            pushFree(SlabHandle(truncatingIfNeeded: (m.start + i * size) >> 3), d)
        }
        endPageMove()
    }

    /// The page could not be emptied: it stays with its class, and the chunks known free go
    /// back on its free list.
    public func abortPageMove(_ m: PageMove) {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        let c = classes + m.classID
        for i in 0..<movingChunks where movingFree[i] {
            pushFree(arena.handle(arena.base + m.start + i * m.chunkSize), c)
        }
        endPageMove()
    }

    public func classStats(_ id: Int) -> SlabClassStats {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        let c = classes[id]
        var s = SlabClassStats()
        s.chunkSize = table.chunkSize(id)
        s.chunksPerPage = table.chunksPerPage(id)
        s.totalPages = c.pages
        s.totalChunks = c.pages * s.chunksPerPage
        s.usedChunks = c.used
        s.freeChunksEnd = c.carveNext < c.carveEnd ? (c.carveEnd - c.carveNext) / s.chunkSize : 0
        s.freeChunks = c.freeCount + s.freeChunksEnd
        return s
    }
}
