// The allocator's part of a warm restart (`-e`): what it saves, and how it is rebuilt. Saved:
// which class owns each page taken, and each class's carving position (the never-used tail of
// its newest page). Not saved: the free lists, whose links live in chunk memory the restart
// cannot trust. They are rebuilt from the chunks no restored item claimed, so a chunk that held
// an unlinked item (a broker message, an item still referenced at the stop) comes back free.
// Everything read from the saved layout is checked against this run's table and arena before
// it is used.
#if canImport(Glibc)
import Glibc
#endif

/// The allocator state a warm restart saves.
public struct SlabLayout: Sendable, Equatable {
    /// Arena offset of the next page to take.
    public var nextPage: Int
    /// Owner class of each page taken (pages below `nextPage`).
    public var pageOwners: [UInt8]
    /// Per class id (0...largest): arena offsets of the next never-used chunk of its newest page
    /// and of that page's end of chunks; both 0 when the class never took a page itself.
    public var carveNext: [Int]
    public var carveEnd: [Int]

    public init(nextPage: Int, pageOwners: [UInt8], carveNext: [Int], carveEnd: [Int]) {
        self.nextPage = nextPage
        self.pageOwners = pageOwners
        self.carveNext = carveNext
        self.carveEnd = carveEnd
    }
}

extension SlabAllocator {
    /// The state to save (the engine is quiescent: no allocation runs meanwhile).
    public func layout() -> SlabLayout {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        let pages = (state.pointee.nextPage - SlabArena.reservedPrefix) / table.pageSize
        return SlabLayout(
            nextPage: state.pointee.nextPage,
            pageOwners: (0..<pages).map { pageOwner[$0] },
            carveNext: (0...table.largest).map { classes[$0].carveNext },
            carveEnd: (0...table.largest).map { classes[$0].carveEnd })
    }

    /// Why a saved layout cannot be this allocator's, or nil when it can.
    public func check(_ l: SlabLayout) -> String? {
        let prefix = SlabArena.reservedPrefix
        let pageSize = table.pageSize
        guard l.nextPage >= prefix, l.nextPage <= arena.reservedBytes, (l.nextPage - prefix) % pageSize == 0 else {
            return "saved page position \(l.nextPage) is outside the memory file"
        }
        let pages = (l.nextPage - prefix) / pageSize
        guard l.pageOwners.count == pages else { return "saved page table has \(l.pageOwners.count) pages, expected \(pages)" }
        for owner in l.pageOwners where owner == 0 || (Int(owner) > table.largest && !SlabClassTable.isKeyless(Int(owner))) {
            return "saved page owner class \(owner) does not exist"
        }
        guard l.carveNext.count == table.largest + 1, l.carveEnd.count == table.largest + 1 else {
            return "saved class table has \(l.carveNext.count) classes, expected \(table.largest + 1)"
        }
        for id in 0...table.largest {
            let next = l.carveNext[id], end = l.carveEnd[id]
            if next == 0 && end == 0 { continue }
            guard id > 0, end > prefix, end <= l.nextPage else { return "saved carve position of class \(id) is out of bounds" }
            let page = (end - 1 - prefix) / pageSize
            let start = prefix + page * pageSize
            let size = table.chunkSizes[id]
            guard Int(l.pageOwners[page]) == id, end == start + table.perPage[id] * size,
                  next >= start, next <= end, (next - start) % size == 0 else {
                return "saved carve position of class \(id) does not match its page"
            }
        }
        return nil
    }

    /// Installs a layout that passed `check` (start-up, before any other thread uses the
    /// allocator) and returns the builder that rebuilds the free lists.
    public func beginRestore(_ l: SlabLayout) -> SlabRestore {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        state.pointee.nextPage = l.nextPage
        state.pointee.malloced = l.pageOwners.count * table.pageSize
        for (i, owner) in l.pageOwners.enumerated() {
            pageOwner[i] = owner
            pageHasRawChunks[i] = false
            classes[Int(owner)].pages += 1
        }
        for id in 0...table.largest {
            classes[id].carveNext = l.carveNext[id]
            classes[id].carveEnd = l.carveEnd[id]
            classes[id].freeHead = 0
            classes[id].freeCount = 0
            classes[id].used = 0
        }
        // Keyless classes save no carve position: nothing a restore keeps lives in them (the
        // Redis keys whose members they hold are not saved), so their pages come back all free.
        for id in table.keylessIDs {
            classes[id].carveNext = 0
            classes[id].carveEnd = 0
            classes[id].freeHead = 0
            classes[id].freeCount = 0
            classes[id].used = 0
        }
        return SlabRestore(self, pages: l.pageOwners.count)
    }
}

/// Rebuilds the allocator after a warm restart: the engine claims each chunk a restored item
/// holds (every claim is bounds-checked: a handle from the file names a chunk start of a taken
/// page, of the expected class, never handed out twice), then `finish` puts every chunk not
/// claimed on its class's free list. Used by one thread at start-up.
public final class SlabRestore {
    private let slabs: SlabAllocator
    private let pages: Int
    private let perPageMax: Int
    // Copied once: reading them through `slabs.table` (another module's struct) copies the
    // table, three array retains per read, a tenth of a restore's time.
    private let chunkSizes: [Int]
    private let perPage: [Int]
    private let largest: Int
    private let pageSize: Int
    /// One bit per chunk: page index * perPageMax + chunk index.
    private var claimed: [UInt64]

    init(_ slabs: SlabAllocator, pages: Int) {
        self.slabs = slabs
        self.pages = pages
        perPageMax = slabs.table.perPage.max() ?? 1
        chunkSizes = slabs.table.chunkSizes
        perPage = slabs.table.perPage
        largest = slabs.table.largest
        pageSize = slabs.table.pageSize
        claimed = [UInt64](repeating: 0, count: (pages * perPageMax + 63) / 64)
    }

    /// The bit of the chunk `handle` names if it is the start of a handed-out chunk of class
    /// `classID` (nil otherwise).
    private func bit(_ handle: SlabHandle, classID: Int) -> Int? {
        guard classID >= 1, classID <= largest else { return nil }
        let offset = Int(handle) << 3
        let prefix = SlabArena.reservedPrefix
        guard offset >= prefix else { return nil }
        let page = (offset - prefix) / pageSize
        guard page < pages, Int(slabs.pageOwner[page]) == classID else { return nil }
        let start = prefix + page * pageSize
        let size = chunkSizes[classID]
        let index = (offset - start) / size
        guard (offset - start) % size == 0, index < perPage[classID] else { return nil }
        let c = slabs.classes + classID
        if offset >= c.pointee.carveNext && offset < c.pointee.carveEnd { return nil }  // never handed out
        return page * perPageMax + index
    }

    /// Chunk size of a class (1...largest).
    public func chunkSize(_ classID: Int) -> Int { chunkSizes[classID] }

    /// Whether `handle` is a chunk of `classID` that may be claimed (valid and not yet claimed).
    public func canClaim(_ handle: SlabHandle, classID: Int) -> Bool {
        guard let b = bit(handle, classID: classID) else { return false }
        return claimed[b >> 6] & (1 << UInt64(b & 63)) == 0
    }

    /// The class of the page `handle` points into, if `handle` is the start of a handed-out
    /// chunk of that class (so that an item header can be read there).
    public func chunkClass(_ handle: SlabHandle) -> Int? {
        let offset = Int(handle) << 3
        guard offset >= SlabArena.reservedPrefix else { return nil }
        let page = (offset - SlabArena.reservedPrefix) / pageSize
        guard page < pages else { return nil }
        let id = Int(slabs.pageOwner[page])
        return bit(handle, classID: id) == nil ? nil : id
    }

    /// Gives back a claim (the item that made it turned out damaged).
    public func unclaim(_ handle: SlabHandle, classID: Int) {
        guard let b = bit(handle, classID: classID) else { return }
        claimed[b >> 6] &= ~(1 << UInt64(b & 63))
    }

    /// Claims a chunk `canClaim` accepted. `raw`: a headerless chunk of a chunked item (its page
    /// then never moves).
    public func claim(_ handle: SlabHandle, classID: Int, raw: Bool = false) {
        guard let b = bit(handle, classID: classID) else { return }
        claimed[b >> 6] |= 1 << UInt64(b & 63)
        if raw { slabs.pageHasRawChunks[slabs.pageIndex(Int(handle) << 3)] = true }
    }

    /// Every chunk not claimed goes on its class's free list; the claimed ones count as used.
    public func finish() {
        let table = slabs.table
        let prefix = SlabArena.reservedPrefix
        pthread_mutex_lock(slabs.lock)
        defer { pthread_mutex_unlock(slabs.lock) }
        for page in stride(from: pages - 1, through: 0, by: -1) {
            let id = Int(slabs.pageOwner[page])
            let c = slabs.classes + id
            let size = table.chunkSize(id)
            let start = prefix + page * table.pageSize
            if SlabClassTable.isKeyless(id) {
                // Never claimed (see beginRestore): the whole page is free.
                for i in stride(from: table.chunksPerPage(id) - 1, through: 0, by: -1) {
                    slabs.pushFree(SlabHandle(truncatingIfNeeded: (start + i * size) >> 3), c)
                }
                continue
            }
            for i in stride(from: table.perPage[id] - 1, through: 0, by: -1) {
                let offset = start + i * size
                if offset >= c.pointee.carveNext && offset < c.pointee.carveEnd { continue }
                let b = page * perPageMax + i
                if claimed[b >> 6] & (1 << UInt64(b & 63)) != 0 {
                    c.pointee.used += 1
                } else {
                    slabs.pushFree(SlabHandle(truncatingIfNeeded: offset >> 3), c)
                }
            }
        }
    }
}
