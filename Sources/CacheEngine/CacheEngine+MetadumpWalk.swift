// `lru_crawler metadump` in pieces: a walk over every live item of some classes, in memcached's
// crawler's order (the lists take turns, each walked from its tail, oldest first), that stops
// when the caller's piece is full and resumes later where it stopped, so the reply can be written as fast as the client reads it and no faster.
// The place is kept by a marker item linked into the list, as the crawler does (memcached's
// crawler, which runs metadumps, keeps its place the same way): links and unlinks around it go on
// meanwhile, and every other list walker skips it by its `crawler` flag. Markers live in the
// arena's reserved prefix after the crawler's; there is one set, so one walk at a time
// (`CrawlerControl.metadumpRunning`).
import Platform
import SlabAllocator
import Synchronization

extension CacheEngine {
    /// After the crawler's markers (4096 + 256 × 64 bytes), inside the 64 KB reserved prefix.
    static let metadumpMarkerBase = crawlerMarkerBase + lruCount * crawlerMarkerStride

    func metadumpMarker(_ lruID: Int) -> Item {
        Item(arena.base + Self.metadumpMarkerBase + lruID * Self.crawlerMarkerStride)
    }

    /// Starts a metadump over `classes`; nil when one is already running (memcached: BUSY).
    public func beginMetadump(classes: [Int]) -> MetadumpWalk? {
        guard crawler.metadumpRunning.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            return nil
        }
        return MetadumpWalk(engine: self, classes: classes)
    }
}

/// One metadump's place. Used by one connection on its worker; `finish` (or the end of the
/// walk) takes its markers out and frees the engine's dump slot.
///
/// The order is memcached's crawler's: a marker goes in at the tail (oldest end) of every list
/// of the classes asked for, then the lists take turns in LRU id order (every class's HOT, then
/// WARM, COLD, TEMP), each turn moving its marker one item toward the head. A list is walked
/// for at most the items it held at the start plus one, as memcached caps a metadump's crawl.
public final class MetadumpWalk {
    private let engine: CacheEngine
    /// LRU ids in memcached's order (ascending id).
    private let lists: [Int]
    /// Steps left per list; 0 = that list is done (its marker out).
    private var remaining: [Int]
    /// Index in `lists` whose turn is next.
    private var turn = 0
    /// Lists whose marker is still in.
    private var active = 0
    private var started = false
    private var finished = false

    init(engine: CacheEngine, classes: [Int]) {
        self.engine = engine
        var lists: [Int] = []
        for seg in LRUSegment.allCases {
            for cls in classes.sorted() { lists.append(cls | (seg.rawValue << 6)) }
        }
        self.lists = lists
        self.remaining = Array(repeating: 0, count: lists.count)
    }

    deinit { finish() }

    /// Links every marker at its list's tail.
    private func start() {
        started = true
        let engine = self.engine
        let arena = engine.arena
        for (i, id) in lists.enumerated() {
            let marker = engine.metadumpMarker(id)
            let markerHandle = arena.handle(marker.raw)
            marker.flags = ItemFlag.crawler
            marker.classAndSegment = UInt8(id)
            marker.keyLength = 0
            marker.valueLength = 0
            engine.lruLock(id)
            let list = engine.lrus + id
            guard list.pointee.tail != 0 else { engine.lruUnlock(id); continue }
            marker.next = 0
            marker.prev = list.pointee.tail
            // A marker at a tail reads as that list's oldest access (the maintainer's COLD age):
            // give it the time of the item it follows.
            marker.time = Item(arena.pointer(list.pointee.tail)).time
            Item(arena.pointer(list.pointee.tail)).next = markerHandle
            list.pointee.tail = markerHandle
            remaining[i] = list.pointee.stats.number + 1
            active += 1
            engine.lruUnlock(id)
        }
    }

    /// Hands live items to `body` (valid only during the call, the list's lock held) until `body`
    /// returns false (the piece is full: the walk resumes after that item) or every list is
    /// walked. True when the walk is over.
    public func next(_ body: (Item) -> Bool) -> Bool {
        if finished { return true }
        if !started { start() }
        let engine = self.engine
        let arena = engine.arena
        while active > 0 {
            let i = turn
            turn = (turn + 1) % lists.count
            guard remaining[i] > 0 else { continue }
            let id = lists[i]
            let marker = engine.metadumpMarker(id)
            let markerHandle = arena.handle(marker.raw)
            engine.lruLock(id)
            let list = engine.lrus + id
            // One step: over other walkers' markers, then over one item.
            var stepped: Item? = nil
            while stepped == nil {
                remaining[i] -= 1
                let h = marker.prev
                if h == 0 || remaining[i] <= 0 { break }
                // [.. it marker ..] → [.. marker it ..]
                let it = Item(arena.pointer(h))
                engine.lockedUnlinkQ(marker)
                marker.next = h
                marker.prev = it.prev
                if it.prev != 0 { Item(arena.pointer(it.prev)).next = markerHandle } else { list.pointee.head = markerHandle }
                it.prev = markerHandle
                if it.flags & ItemFlag.crawler != 0 { remaining[i] += 1; continue }
                stepped = it
            }
            guard let it = stepped else {
                engine.lockedUnlinkQ(marker)
                engine.lruUnlock(id)
                remaining[i] = 0
                active -= 1
                continue
            }
            marker.time = it.time
            let now = engine.clock.current
            var full = false
            if !((it.expiry != 0 && it.expiry <= now) || engine.isFlushed(it, now: now)) {
                full = !body(it)
            }
            engine.lruUnlock(id)
            if full { return false }
        }
        finish()
        return true
    }

    /// Ends the walk (done, or the client went away): the markers out, the slot free.
    public func finish() {
        if finished { return }
        finished = true
        for (i, id) in lists.enumerated() where remaining[i] > 0 {
            engine.lruLock(id)
            engine.lockedUnlinkQ(engine.metadumpMarker(id))
            engine.lruUnlock(id)
            remaining[i] = 0
        }
        active = 0
        engine.crawler.metadumpRunning.store(false, ordering: .releasing)
    }
}
