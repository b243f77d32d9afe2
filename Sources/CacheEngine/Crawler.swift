// The LRU crawler: reclaims expired and flushed items before anyone asks for them (memcached's
// crawler.c). It walks each list from tail to head by moving a marker item up the list one step
// at a time, so the list lock is held for a single step and the walk survives concurrent links and
// unlinks. Markers live in the arena's reserved prefix (they need slab handles); every other list
// walker skips them by their `crawler` flag.
import Platform
import SlabAllocator
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Run-time control of the crawler thread (`lru_crawler` commands).
public final class CrawlerControl: Sendable {
    /// Wakes the crawler early for a requested pass, and stops it.
    public let signal = StopSignal()
    let enabled = Atomic<Bool>(true)
    let requested = Atomic<Bool>(false)
    /// `lru_crawler sleep`: microseconds between batches of 1000 items (memcached's default 100).
    let sleepMicroseconds = Atomic<Int>(100)
    /// A `lru_crawler metadump` is walking (one at a time, server-wide, as memcached's crawler
    /// takes one request at a time): its markers are the engine's single set of dump markers.
    let metadumpRunning = Atomic<Bool>(false)
    /// `-o lru_crawler_tocrawl`: items checked per list and pass at most (0 = all).
    let toCrawl = Atomic<Int>(0)
    /// Passes that crawled at least one list (memcached's lru_crawler_starts).
    let startCount = Atomic<Int>(0)
    /// Whether a pass is walking a list now (memcached's lru_crawler_running).
    let runningNow = Atomic<Bool>(false)

    public init() {}

    public var isEnabled: Bool { enabled.load(ordering: .relaxed) }

    /// `lru_crawler enable` / `disable`; false when it was already in that state.
    public func setEnabled(_ on: Bool) -> Bool {
        enabled.exchange(on, ordering: .relaxed) != on
    }

    /// `lru_crawler crawl`: a pass as soon as the thread is free.
    public func requestCrawl() {
        requested.store(true, ordering: .relaxed)
        signal.poke()
    }

    public func setSleep(microseconds: Int) { sleepMicroseconds.store(microseconds, ordering: .relaxed) }

    /// `lru_crawler tocrawl`: items checked per list and pass at most (0 = all).
    public func setToCrawl(_ n: Int) { toCrawl.store(n, ordering: .relaxed) }

    /// The sleep and per-pass limit as they are now (`stats settings`).
    public var sleep: Int { sleepMicroseconds.load(ordering: .relaxed) }
    public var toCrawlLimit: Int { toCrawl.load(ordering: .relaxed) }

    /// Passes started since start-up (`stats` lru_crawler_starts).
    public var starts: Int { startCount.load(ordering: .relaxed) }
    /// Whether a pass is running (`stats` lru_crawler_running).
    public var isRunning: Bool { runningNow.load(ordering: .relaxed) }

    /// Takes a pending crawl request.
    func takeRequest() -> Bool { requested.exchange(false, ordering: .relaxed) }
}

extension CacheEngine {
    static let crawlerMarkerBase = 4096
    static let crawlerMarkerStride = 64

    func crawlerMarker(_ lruID: Int) -> Item {
        let it = Item(arena.base + Self.crawlerMarkerBase + lruID * Self.crawlerMarkerStride)
        return it
    }

    /// Crawls every list that can hold something to reclaim: items with an expiry, or, once a
    /// flush_all has taken effect, every item. Returns items reclaimed.
    /// `everything`: an explicit `lru_crawler crawl` walks every non-empty list.
    @discardableResult
    public func crawlAll(everything: Bool = false, countStart: Bool = false, shouldStop: () -> Bool = { false }) -> Int {
        var reclaimed = 0
        var started = false
        if countStart {
            started = true
            crawler.startCount.add(1, ordering: .relaxed)
            crawler.runningNow.store(true, ordering: .relaxed)
        }
        defer { if started { crawler.runningNow.store(false, ordering: .relaxed) } }
        let live = oldestLive.pointee.load(ordering: .relaxed)
        let sweepFlush = everything || (live != 0 && live <= clock.current && crawledFlush.pointee.load(ordering: .relaxed) != live)
        for id in 0..<Self.lruCount where id & 0x3f != 0 && id & 0x3f <= slabs.table.largest {
            lruLock(id)
            let worth = lrus[id].tail != 0 && (sweepFlush || lrus[id].expiring > 0)
            lruUnlock(id)
            if !worth { continue }
            if !started {
                started = true
                crawler.startCount.add(1, ordering: .relaxed)
                crawler.runningNow.store(true, ordering: .relaxed)
            }
            reclaimed += crawl(lruID: id, shouldStop: shouldStop)
            if shouldStop() { return reclaimed }
        }
        if sweepFlush && live != 0 && live <= clock.current { crawledFlush.pointee.store(live, ordering: .relaxed) }
        return reclaimed
    }

    /// Walks one list from its tail; returns items reclaimed.
    func crawl(lruID id: Int, shouldStop: () -> Bool) -> Int {
        let marker = crawlerMarker(id)
        let markerHandle = arena.handle(marker.raw)
        marker.flags = ItemFlag.crawler
        marker.classAndSegment = UInt8(id)
        marker.keyLength = 0
        marker.valueLength = 0

        lruLock(id)
        let list = lrus + id
        marker.next = 0
        marker.prev = list.pointee.tail
        if list.pointee.tail != 0 { Item(arena.pointer(list.pointee.tail)).next = markerHandle }
        list.pointee.tail = markerHandle
        if list.pointee.head == 0 { list.pointee.head = markerHandle }
        lruUnlock(id)

        var reclaimed = 0
        var checked = 0
        let limit = crawler.toCrawl.load(ordering: .relaxed)
        while true {
            lruLock(id)
            let h = marker.prev
            if h == 0 {
                lockedUnlinkQ(marker)
                lruUnlock(id)
                break
            }
            // Step the marker over the item before it: [.. it marker ..] → [.. marker it ..].
            let it = Item(arena.pointer(h))
            lockedUnlinkQ(marker)
            marker.next = h
            marker.prev = it.prev
            if it.prev != 0 { Item(arena.pointer(it.prev)).next = markerHandle } else { list.pointee.head = markerHandle }
            it.prev = markerHandle
            if it.flags & ItemFlag.crawler == 0 {
                checked += 1
                list.pointee.stats.crawlerItemsChecked += 1
                let hv = murmur3(it.key)
                if itemLocks.tryLock(hv) {
                    let now = clock.current
                    // `expired`: a millisecond expiry (Redis's PX) is taken at its millisecond, not
                    // at the whole second after it.
                    if refIncrement(it) == 2 && (expired(it, now: now) || isFlushed(it, now: now)) {
                        let flushed = isFlushed(it, now: now)
                        list.pointee.stats.reclaimed += 1
                        list.pointee.stats.crawlerReclaimed += 1
                        if it.flags & ItemFlag.fetched == 0 { list.pointee.stats.expiredUnfetched += 1 }
                        lockedUnlinkHoldingLRU(it, hv)
                        if !flushed { reportRemoval(it, .expired) }
                        reclaimed += 1
                    }
                    refDecrement(it)
                    itemLocks.unlock(hv)
                }
            }
            lruUnlock(id)
            if limit > 0 && checked >= limit {
                lruLock(id)
                lockedUnlinkQ(marker)
                lruUnlock(id)
                break
            }
            if checked % 1000 == 0 {
                if shouldStop() {
                    lruLock(id)
                    lockedUnlinkQ(marker)
                    lruUnlock(id)
                    break
                }
                usleep(UInt32(crawler.sleepMicroseconds.load(ordering: .relaxed)))
            }
        }
        return reclaimed
    }
}
