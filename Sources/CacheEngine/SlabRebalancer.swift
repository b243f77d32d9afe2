// Moving a slab page from one class to another (memcached's slab rebalancer): `slabs reassign`
// asks for one move, `slabs automove 1|2` lets a background check move pages from classes with
// much free memory to classes that are evicting. A move empties the page item by item: a live
// item is rescued into a free chunk of its class when there is one (copied and relinked, as
// memcached does), else evicted; items still referenced are waited for, and a page that cannot
// be emptied in two seconds stays where it was. The work runs on its own short-lived thread;
// one move at a time. A log's or stream's starving chunk class gets a page on the writer's thread
// instead (SlabRebalancer+Forced.swift), through the same emptying steps.
import Platform
import SlabAllocator
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public enum ReassignResult: Sendable, Equatable {
    case ok, running, badClass, noSpare, same

    /// memcached's replies to `slabs reassign`.
    public var reply: String {
        switch self {
        case .ok: "OK"
        case .running: "BUSY currently processing reassign request"
        case .badClass: "BADCLASS invalid src or dst class id"
        case .noSpare: "NOSPARE source class has no spare pages"
        case .same: "SAME src and dst class are identical"
        }
    }
}

public final class SlabRebalancer: @unchecked Sendable {
    // Safe to share: every field is atomic or constant; `thread` is touched only by the thread
    // that wins `running`.
    unowned let engine: CacheEngine
    let running = Atomic<Bool>(false)
    /// `slabs automove` level (memcached: 0 off, 1 background, 2 aggressive).
    public let automove: Atomic<Int>
    public let moved = Atomic<UInt64>(0)
    public let evictions = Atomic<UInt64>(0)
    public let rescues = Atomic<UInt64>(0)
    public let busyItems = Atomic<UInt64>(0)
    public let aborted = Atomic<UInt64>(0)
    /// Pages moved at once for a log's or stream's chunk (SlabRebalancer+Forced.swift), also in `moved`.
    public let forced = Atomic<UInt64>(0)
    private let threadBox = PlainMutex()
    private var thread: BackgroundThread?

    init(engine: CacheEngine, automove: Int) {
        self.engine = engine
        self.automove = Atomic(automove)
    }

    /// `slabs reassign <src> <dst>`: starts moving one page (src -1: any class with a spare page).
    public func reassign(from src: Int, to dst: Int) -> ReassignResult {
        let largest = engine.slabs.table.largest
        // memcached's do_slabs_reassign order: identical ids first, then -1 picks a class with
        // pages to spare (none: -1 stays, a bad class), then the range checks.
        if src == dst { return .same }
        var source = src
        if source == -1 {
            source = (1..<largest).first(where: { $0 != dst && engine.slabs.classStats($0).totalPages >= 2 }) ?? -1
        }
        // Class 0 is memcached's global page pool, which this allocator does not have: as a
        // source it never has spare pages, as a destination it passes the range check as in
        // memcached but no page can go there. The largest class holds the headerless chunks of
        // chunked items: its pages never move.
        guard source >= 0, source < largest, dst >= 0, dst <= largest else { return .badClass }
        guard source > 0, engine.slabs.classStats(source).totalPages >= 2 else { return .noSpare }
        if dst == 0 { return .badClass }
        guard running.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            return .running
        }
        guard let move = engine.slabs.beginPageMove(from: source) else {
            running.store(false, ordering: .releasing)
            return .noSpare
        }
        let t = BackgroundThread(name: "slab-rebalance") { [self] in
            self.empty(move, into: dst)
            self.running.store(false, ordering: .releasing)
        }
        threadBox.withLock {
            thread?.join()
            thread = t
        }
        return .ok
    }

    /// Waits for a move in progress (tests, shutdown).
    public func waitIdle() {
        threadBox.withLock {
            thread?.join()
            thread = nil
        }
    }

    public var isRunning: Bool { running.load(ordering: .relaxed) }

    /// Empties the page chunk by chunk, then hands it over (or gives up after 2 s). The allocator
    /// says when every chunk is free; the refcounts here only find the items to unlink.
    private func empty(_ move: SlabAllocator.PageMove, into dst: Int) {
        // Broker messages and log chunks (items that are never linked, with no key) are held for
        // as long as their owner keeps them: such a page cannot be emptied; give up before
        // evicting anything.
        if holdsBuffers(move) {
            engine.slabs.abortPageMove(move)
            aborted.wrappingAdd(1, ordering: .relaxed)
            return
        }
        var deadline = 200
        while true {
            evacuate(move)
            if engine.slabs.pageMoveIsEmpty {
                engine.slabs.finishPageMove(move, to: dst)
                moved.wrappingAdd(1, ordering: .relaxed)
                return
            }
            busyItems.wrappingAdd(UInt64(engine.slabs.pageMoveBusyChunks), ordering: .relaxed)
            deadline -= 1
            if deadline == 0 {
                engine.slabs.abortPageMove(move)
                aborted.wrappingAdd(1, ordering: .relaxed)
                return
            }
            usleep(10_000)
        }
    }

    /// Moves every linked item out of the page being emptied: rescued into a free chunk of its
    /// class when there is one, else evicted. Holds no lock but each item's, one at a time.
    func evacuate(_ move: SlabAllocator.PageMove) {
        let arena = engine.arena
        for i in 0..<move.chunks {
            let it = Item(arena.base + move.start + i * move.chunkSize)
            if it.refcount.pointee.load(ordering: .acquiring) == 0 { continue }
            if it.flags & ItemFlag.linked != 0 {
                // The key bytes stay put while we read them: nothing in this page is handed
                // out again, and freeing writes only a chunk's first bytes. A stale read
                // only picks a wrong lock, and the check under the lock then fails.
                let hv = CacheEngine.hash(it.key)
                engine.withItemLock(hv) {
                    guard it.flags & ItemFlag.linked != 0 && CacheEngine.hash(it.key) == hv else { return }
                    if engine.lockedRescue(it, hv) {
                        rescues.wrappingAdd(1, ordering: .relaxed)
                    } else {
                        engine.lockedUnlink(it, hv)
                        evictions.wrappingAdd(1, ordering: .relaxed)
                    }
                }
            }
        }
    }

    /// Whether the page holds a chunk no move may take: a referenced item that is not linked and
    /// has no key (a broker message, a log's memory chunk), held for as long as its owner keeps it.
    func holdsBuffers(_ move: SlabAllocator.PageMove) -> Bool {
        let arena = engine.arena
        for i in 0..<move.chunks {
            let it = Item(arena.base + move.start + i * move.chunkSize)
            if it.refcount.pointee.load(ordering: .acquiring) != 0 && it.flags & ItemFlag.linked == 0 && it.keyLength == 0 {
                return true
            }
        }
        return false
    }

    /// One automove decision (the maintainer calls this every few seconds): a class whose free
    /// chunks are worth more than two pages gives one to the class that evicted most since the
    /// last call. memcached's level 2 moves on any eviction; here level 2 only checks every
    /// second instead of every ten.
    func automoveCheck(evictionsByClass: [Int], previous: inout [Int]) {
        defer { previous = evictionsByClass }
        guard automove.load(ordering: .relaxed) > 0, !isRunning, previous.count == evictionsByClass.count else { return }
        let largest = engine.slabs.table.largest
        var dst = 0
        var most = 0
        for cls in 1...largest {
            let delta = evictionsByClass[cls] - previous[cls]
            if delta > most { most = delta; dst = cls }
        }
        guard dst > 0 else { return }
        for cls in 1..<largest where cls != dst {
            let s = engine.slabs.classStats(cls)
            if s.totalPages >= 2 && s.freeChunks >= 2 * s.chunksPerPage + s.chunksPerPage / 2 {
                _ = reassign(from: cls, to: dst)
                return
            }
        }
    }
}

extension CacheEngine {
    /// Moves a linked item out of a page being emptied: a copy in a free chunk of the same class
    /// takes its place in the hash table and LRU, with its CAS and last-access time. False (the
    /// caller evicts) for chunked items or when the class has no free chunk. Item lock held.
    func lockedRescue(_ old: Item, _ hv: UInt32) -> Bool {
        guard !old.isChunked else { return false }
        let h = slabs.allocateWithoutNewPage(classID: old.slabClass)
        guard h != 0 else { return false }
        let copy = Item(arena.pointer(h))
        memcpy(copy.raw, old.raw, ItemLayout.totalSize(keyLength: old.keyLength, valueLength: old.valueLength))
        copy.refcount.pointee.store(1, ordering: .relaxed)
        copy.flags = old.flags & ~ItemFlag.linked
        let cas = old.cas
        let time = old.accessWord
        // A list's nodes (a hash's fields) now belong to the copy's descriptor: the old root must not free them.
        if old.type == .list { old.listDescriptor = ListDescriptor() }
        if old.type == .hash || old.type == .set || old.type == .zset { old.hashDescriptor = HashDescriptor() }
        // A stream's token too: the old root's release would give the stream back to its owner
        // (CacheEngine+ExternalValues.swift) while the copy still names it.
        if old.type == .stream { old.value.storeBytes(of: 0, as: UInt64.self) }
        lockedUnlink(old, hv)
        lockedLink(copy, hv, cas: cas)
        copy.accessWord = time
        // A move is not a new item.
        let id = copy.lruID
        lruLock(id)
        lrus[id].stats.totalItems -= 1
        lruUnlock(id)
        refDecrement(copy)
        return true
    }
}
