// `lru_crawler metadump` in pieces: a walk over every live item of some classes (HOT, WARM, COLD,
// TEMP in turn, each from its head) that stops when the caller's piece is full and resumes later
// where it stopped, so the reply can be written as fast as the client reads it and no faster.
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
/// walk) takes its marker out and frees the engine's dump slot.
public final class MetadumpWalk {
    private let engine: CacheEngine
    private let lists: [Int]
    /// Index in `lists` of the list being walked.
    private var index = 0
    /// The marker of `lists[index]` is linked into it.
    private var linked = false
    private var finished = false

    init(engine: CacheEngine, classes: [Int]) {
        self.engine = engine
        var lists: [Int] = []
        for cls in classes {
            for seg in LRUSegment.allCases { lists.append(cls | (seg.rawValue << 6)) }
        }
        self.lists = lists
    }

    deinit { finish() }

    /// Hands live items to `body` (valid only during the call, the list's lock held) until `body`
    /// returns false (the piece is full: the walk resumes after that item) or every list is
    /// walked. True when the walk is over.
    public func next(_ body: (Item) -> Bool) -> Bool {
        if finished { return true }
        let engine = self.engine
        let arena = engine.arena
        while index < lists.count {
            let id = lists[index]
            let marker = engine.metadumpMarker(id)
            let markerHandle = arena.handle(marker.raw)
            engine.lruLock(id)
            var h: SlabHandle
            if linked {
                h = marker.next
                engine.lockedUnlinkQ(marker)
            } else {
                h = engine.lrus[id].head
                marker.flags = ItemFlag.crawler
                marker.classAndSegment = UInt8(id)
                marker.keyLength = 0
                marker.valueLength = 0
            }
            linked = false
            let now = engine.clock.current
            var full = false
            while h != 0 {
                let it = Item(arena.pointer(h))
                h = it.next
                if it.flags & ItemFlag.crawler != 0 { continue }
                if (it.expiry != 0 && it.expiry <= now) || engine.isFlushed(it, now: now) { continue }
                if !body(it) {
                    // Resume after `it`: the marker goes between it and what follows.
                    let list = engine.lrus + id
                    marker.prev = arena.handle(it.raw)
                    marker.next = it.next
                    // A marker left at a tail reads as that list's oldest access (the
                    // maintainer's COLD age): give it the time of the item it follows.
                    marker.time = it.time
                    if it.next != 0 { Item(arena.pointer(it.next)).prev = markerHandle } else { list.pointee.tail = markerHandle }
                    it.next = markerHandle
                    linked = true
                    full = true
                    break
                }
            }
            engine.lruUnlock(id)
            if full { return false }
            index += 1
        }
        finish()
        return true
    }

    /// Ends the walk (done, or the client went away): the marker out, the slot free.
    public func finish() {
        if finished { return }
        finished = true
        if linked && index < lists.count {
            let id = lists[index]
            engine.lruLock(id)
            engine.lockedUnlinkQ(engine.metadumpMarker(id))
            engine.lruUnlock(id)
            linked = false
        }
        engine.crawler.metadumpRunning.store(false, ordering: .releasing)
    }
}
