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
    /// Counted as memcached's crawler counts the metadumps it runs: one `lru_crawler_starts` for
    /// every dump (memcached links its markers even into empty lists), and each item the walk
    /// steps over, live or not, in its list's `crawler_items_checked`; `countChecked` false for
    /// `metadump hash`, which memcached walks in the hash table, not the lists.
    public func beginMetadump(classes: [Int], countChecked: Bool = true) -> MetadumpWalk? {
        guard crawler.metadumpRunning.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            return nil
        }
        crawler.startCount.add(1, ordering: .relaxed)
        return MetadumpWalk(engine: self, classes: classes, countChecked: countChecked)
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
    /// Whether list i's marker is in it (an empty list's waits for items).
    private var linked: [Bool]
    /// Index in `lists` whose turn is next.
    private var turn = 0
    /// Lists whose marker is still in.
    private var active = 0
    private var started = false
    private var finished = false
    /// Whether stepped items count in their list's `crawler_items_checked`.
    private let countChecked: Bool

    init(engine: CacheEngine, classes: [Int], countChecked: Bool) {
        self.engine = engine
        self.countChecked = countChecked
        var lists: [Int] = []
        for seg in LRUSegment.allCases {
            for cls in classes.sorted() { lists.append(cls | (seg.rawValue << 6)) }
        }
        self.lists = lists
        self.remaining = Array(repeating: 0, count: lists.count)
        self.linked = Array(repeating: false, count: lists.count)
    }

    deinit { finish() }

    /// Links every marker at its list's tail.
    private func start() {
        started = true
        let engine = self.engine
        let arena = engine.arena
        // Each list may be walked for as many steps as the walk's lists held items at the start:
        // items the maintainer moves meanwhile land at a list's head, ahead of its marker, and
        // are reached (a cap of the list's own count missed them: 80k of 100k listed while HOT
        // drained to COLD), and the walk still ends while sets go on.
        var total = 0
        for id in lists {
            engine.lruLock(id)
            total += engine.lrus[id].stats.number
            engine.lruUnlock(id)
        }
        for (i, id) in lists.enumerated() {
            remaining[i] = total + 1
            active += 1
            engine.lruLock(id)
            linkMarker(i, id)
            engine.lruUnlock(id)
        }
    }

    /// Links list `i`'s marker at its tail, unless the list is empty (then it is linked on a
    /// later turn, once the maintainer has moved items in). Under the list's lock.
    private func linkMarker(_ i: Int, _ id: Int) {
        let arena = engine.arena
        let list = engine.lrus + id
        guard list.pointee.tail != 0 else { return }
        let marker = engine.metadumpMarker(id)
        marker.flags = ItemFlag.crawler
        marker.classAndSegment = UInt8(id)
        marker.keyLength = 0
        marker.valueLength = 0
        marker.next = 0
        marker.prev = list.pointee.tail
        // A marker at a tail reads as that list's oldest access (the maintainer's COLD age):
        // give it the time of the item it follows.
        marker.accessWord = Item(arena.pointer(list.pointee.tail)).accessWord
        Item(arena.pointer(list.pointee.tail)).next = arena.handle(marker.raw)
        list.pointee.tail = arena.handle(marker.raw)
        linked[i] = true
    }

    /// Hands live items to `body` (valid only during the call, the list's lock held) until `body`
    /// returns false (the piece is full: the walk resumes after that item) or every list is
    /// walked. True when the walk is over.
    public func next(_ body: (Item) -> Bool) -> Bool {
        if finished { return true }
        if !started { start() }
        let engine = self.engine
        let arena = engine.arena
        // Turns in a row that moved no marker: a whole round of them means every marker is at
        // its list's head (or out), and the walk is over.
        var idleTurns = 0
        while active > 0 && idleTurns < lists.count {
            let i = turn
            turn = (turn + 1) % lists.count
            guard remaining[i] > 0 else { idleTurns += 1; continue }
            let id = lists[i]
            let marker = engine.metadumpMarker(id)
            let markerHandle = arena.handle(marker.raw)
            engine.lruLock(id)
            let list = engine.lrus + id
            if !linked[i] {
                linkMarker(i, id)
                if !linked[i] { engine.lruUnlock(id); idleTurns += 1; continue }
            }
            // One step: over other walkers' markers, then over one item.
            var stepped: Item? = nil
            var atHead = false
            while stepped == nil {
                let h = marker.prev
                // At the head the marker stays: an item moved here later is still reached.
                if h == 0 { atHead = true; break }
                remaining[i] -= 1
                if remaining[i] <= 0 { break }
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
            if atHead {
                engine.lruUnlock(id)
                idleTurns += 1
                continue
            }
            guard let it = stepped else {
                engine.lockedUnlinkQ(marker)
                engine.lruUnlock(id)
                remaining[i] = 0
                active -= 1
                idleTurns += 1
                continue
            }
            idleTurns = 0
            if countChecked { list.pointee.stats.crawlerItemsChecked += 1 }
            marker.accessWord = it.accessWord
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
            if linked[i] {
                engine.lruLock(id)
                engine.lockedUnlinkQ(engine.metadumpMarker(id))
                engine.lruUnlock(id)
            }
            remaining[i] = 0
        }
        active = 0
        engine.crawler.metadumpRunning.store(false, ordering: .releasing)
    }
}
