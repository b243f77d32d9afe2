// Per class, four LRU lists: HOT (new items), WARM (items read twice), COLD (eviction end) and
// TEMP (short TTLs, never bumped) — memcached's segmented LRU. A read only sets a flag on the item
// (FETCHED, then ACTIVE); items move only at the tails: HOT and WARM overflow to COLD, an ACTIVE
// item at a tail is rescued to WARM, COLD's tail is evicted. `pullTail` is that one step, used by
// allocation (evict) and by the maintainer thread (juggle). With `-o no_modern`, items go to COLD
// and a read relinks them at the head at most once a minute (memcached's flat LRU).
//
// Each list has its own mutex. Lock order is item → LRU; `pullTail` holds the LRU lock and only
// try-locks items, skipping the ones it cannot lock.
import Platform
import SlabAllocator
#if canImport(Glibc)
import Glibc
#endif

struct LRUList {
    var head: SlabHandle = 0
    var tail: SlabHandle = 0
    var stats = ItemStats()
    /// Items in the list with an expiry time: the crawler skips lists that have none.
    var expiring = 0
}

struct PullFlags: OptionSet {
    let rawValue: Int
    static let evict = PullFlags(rawValue: 1)
}

extension CacheEngine {
    @inline(__always) func lruLock(_ id: Int) { pthread_mutex_lock(lruLocks + id) }
    @inline(__always) func lruUnlock(_ id: Int) { pthread_mutex_unlock(lruLocks + id) }

    /// Puts the item at the head of its list. Its LRU lock held.
    func lockedLinkQ(_ it: Item) {
        let list = lrus + it.lruID
        let h = arena.handle(it.raw)
        it.prev = 0
        it.next = list.pointee.head
        if list.pointee.head != 0 { Item(arena.pointer(list.pointee.head)).prev = h }
        list.pointee.head = h
        if list.pointee.tail == 0 { list.pointee.tail = h }
        if it.flags & ItemFlag.crawler == 0 {
            list.pointee.stats.number += 1
            list.pointee.stats.bytes += itemTotalBytes(it)
            if it.expiry != 0 { list.pointee.expiring += 1 }
        }
    }

    /// Takes the item out of its list. Its LRU lock held.
    func lockedUnlinkQ(_ it: Item) {
        let list = lrus + it.lruID
        let h = arena.handle(it.raw)
        if list.pointee.head == h { list.pointee.head = it.next }
        if list.pointee.tail == h { list.pointee.tail = it.prev }
        if it.next != 0 { Item(arena.pointer(it.next)).prev = it.prev }
        if it.prev != 0 { Item(arena.pointer(it.prev)).next = it.next }
        it.next = 0
        it.prev = 0
        if it.flags & ItemFlag.crawler == 0 {
            list.pointee.stats.number -= 1
            list.pointee.stats.bytes -= itemTotalBytes(it)
            if it.expiry != 0 { list.pointee.expiring -= 1 }
        }
    }

    func linkQ(_ it: Item) {
        let id = it.lruID
        lruLock(id)
        lockedLinkQ(it)
        lruUnlock(id)
    }

    func unlinkQ(_ it: Item) {
        let id = it.lruID
        lruLock(id)
        lockedUnlinkQ(it)
        lruUnlock(id)
    }

    /// Bytes an item accounts for in `bytes` stats.
    @inline(__always)
    func itemTotalBytes(_ it: Item) -> Int {
        ItemLayout.headerSize + it.keyLength + it.valueLength
    }

    /// A read of a linked item: memcached's do_item_bump / do_item_update. Item lock held.
    @inline(__always)
    func lockedBump(_ it: Item, now: UInt32) {
        // The sampling policies compare every item's last access (LRU) or frequency (LFU), so
        // those record each access; the segmented LRU only flags it below.
        let policy = tuning.policy
        if policy.usesLFU {
            it.lfuCounter = lfuAccessed(it, now: now)
            it.setAccessTime(now)
        } else if policy.usesIdleTime {
            it.setAccessTime(now)
        }
        if tuning.isSegmented {
            let f = it.flags
            if f & ItemFlag.active != 0 { return }
            if f & ItemFlag.fetched == 0 {
                it.flags = f | ItemFlag.fetched
            } else {
                it.flags = f | ItemFlag.active
                if it.segment != LRUSegment.cold.rawValue { it.setAccessTime(now) }
            }
        } else {
            it.flags |= ItemFlag.fetched
            lockedUpdate(it)
        }
    }

    /// memcached's do_item_update: a write that is not a read (add on an existing key, an
    /// in-place incr) refreshes the access time at most once a minute; no FETCHED/ACTIVE.
    /// Item lock held.
    func lockedUpdate(_ it: Item) {
        let now = clock.current
        guard it.idle(now: now) > UInt32(ProcessClock.updateInterval), it.flags & ItemFlag.linked != 0 else { return }
        if tuning.isSegmented {
            it.setAccessTime(now)
        } else {
            let id = it.lruID
            lruLock(id)
            lockedUnlinkQ(it)
            it.setAccessTime(now)
            lockedLinkQ(it)
            lruUnlock(id)
        }
    }

    /// One step at the tail of list (class, segment): reclaim expired items, and by segment move,
    /// rescue or (with `.evict`) evict one item. Returns how many items it removed or moved.
    @discardableResult
    func pullTail(classID: Int, segment: LRUSegment, totalBytes: Int, flags: PullFlags) -> Int {
        let id = classID | (segment.rawValue << 6)
        let now = clock.current
        var removed = 0
        var moveTo: LRUSegment? = nil
        var held: Item? = nil
        var heldHash: UInt32 = 0
        var evicted = false
        // HOT and WARM items older than COLD's tail times their factor go to COLD. COLD's tail is
        // read under COLD's own lock, taken and released before this list's (reading it under
        // this list's lock only was a data race with every link and unlink in COLD, found by
        // ThreadSanitizer in the stress test; taking COLD's lock inside this one would add an
        // LRU → LRU lock order), and its time under its item lock, tried as the tail walk below
        // tries them (a read refreshes a time under the item lock only). When that lock is busy
        // there is no age this time, as with an empty COLD. The age is advisory: the tail may
        // change right after.
        var coldTail: SlabHandle = 0
        var coldAge: UInt32 = 0
        if segment == .hot || segment == .warm {
            let coldID = classID | (LRUSegment.cold.rawValue << 6)
            lruLock(coldID)
            coldTail = lrus[coldID].tail
            if coldTail != 0 {
                let tailItem = Item(arena.pointer(coldTail))
                let hv = murmur3(tailItem.key)
                if itemLocks.tryLock(hv) {
                    coldAge = tailItem.idle(now: now)
                    itemLocks.unlock(hv)
                } else {
                    coldTail = 0
                }
            }
            lruUnlock(coldID)
        }

        lruLock(id)
        let list = lrus + id
        var search = list.pointee.tail
        var tries = 5
        while tries > 0 && search != 0 {
            tries -= 1
            let it = Item(arena.pointer(search))
            let nextSearch = it.prev
            if it.flags & ItemFlag.crawler != 0 {
                tries += 1
                search = nextSearch
                continue
            }
            let hv = murmur3(it.key)
            guard itemLocks.tryLock(hv) else { search = nextSearch; continue }
            if refIncrement(it) != 2 {
                list.pointee.stats.lrutailReflocked += 1
                refDecrement(it)
                itemLocks.unlock(hv)
                search = nextSearch
                continue
            }
            if (it.expiry != 0 && it.expiry <= now) || isFlushed(it, now: now) {
                let flushed = isFlushed(it, now: now)
                list.pointee.stats.reclaimed += 1
                if it.flags & ItemFlag.fetched == 0 { list.pointee.stats.expiredUnfetched += 1 }
                lockedUnlinkHoldingLRU(it, hv)
                if !flushed { reportRemoval(it, .expired) }
                refDecrement(it)
                itemLocks.unlock(hv)
                removed += 1
                search = nextSearch
                continue
            }

            switch segment {
            case .hot, .warm:
                let pct = segment == .hot ? tuning.hotLRUPercent : tuning.warmLRUPercent
                let factor = segment == .hot ? tuning.hotMaxFactor : tuning.warmMaxFactor
                let limit = totalBytes * pct / 100
                let scaled = Double(coldAge) * factor
                let maxAge = scaled >= Double(UInt32.max) ? UInt32.max : UInt32(max(0, scaled))
                if it.flags & ItemFlag.active != 0 {
                    it.flags &= ~ItemFlag.active
                    removed += 1
                    if segment == .warm {
                        list.pointee.stats.movesWithinLRU += 1
                        lockedUnlinkQ(it)
                        lockedLinkQ(it)
                        refDecrement(it)
                        itemLocks.unlock(hv)
                    } else {
                        list.pointee.stats.movesToWarm += 1
                        moveTo = .warm
                        lockedUnlinkQ(it)
                        held = it
                        heldHash = hv
                    }
                } else if list.pointee.stats.bytes > limit || (coldTail != 0 && it.idle(now: now) > maxAge) {
                    list.pointee.stats.movesToCold += 1
                    moveTo = .cold
                    lockedUnlinkQ(it)
                    held = it
                    heldHash = hv
                    removed += 1
                } else {
                    held = it
                    heldHash = hv
                }
            case .cold:
                held = it
                heldHash = hv
                if flags.contains(.evict) {
                    // Volatile policies never take COLD's tail (it may have no expiry).
                    if !tuning.evictsToFree || tuning.policy.isVolatile { break }
                    lockedCountEviction(it, list: list, classID: classID, now: now)
                    lockedUnlinkHoldingLRU(it, hv)
                    evicted = true
                    removed += 1
                } else if it.flags & ItemFlag.active != 0 && tuning.isSegmented {
                    list.pointee.stats.movesToWarm += 1
                    it.flags &= ~ItemFlag.active
                    moveTo = .warm
                    lockedUnlinkQ(it)
                    removed += 1
                }
            case .temp:
                held = it
                heldHash = hv
            }
            if held != nil { break }
            search = nextSearch
        }
        lruUnlock(id)

        if let it = held {
            if let moveTo {
                it.classAndSegment = UInt8(classID | (moveTo.rawValue << 6))
                linkQ(it)
            }
            if evicted { reportRemoval(it, .evicted) }
            refDecrement(it)
            itemLocks.unlock(heldHash)
        }
        return removed
    }

    /// An eviction's counters (`stats items`' evicted*, INFO's evicted_keys) and memcached's
    /// `watch evictions` line. The item's and its list's locks held.
    func lockedCountEviction(_ it: Item, list: UnsafeMutablePointer<LRUList>, classID: Int, now: UInt32) {
        list.pointee.stats.evicted += 1
        if let watch, watch.isActive(.evictions) {
            // memcached's LOGGER_EVICTION line.
            let ttl = it.expiry == 0 ? -1 : Int64(it.expiry) - Int64(now)
            watch.emit(.evictions, "type=eviction key=\(WatchLog.uriEncode(it.key)) fetch=\(it.flags & ItemFlag.fetched != 0 ? "yes" : "no") ttl=\(ttl) la=\(it.idle(now: now)) clsid=\(classID) size=\(it.valueLength)")
        }
        list.pointee.stats.evictedTime = it.idle(now: now)
        if it.expiry != 0 { list.pointee.stats.evictedNonzero += 1 }
        if it.flags & ItemFlag.fetched == 0 { list.pointee.stats.evictedUnfetched += 1 }
        if it.flags & ItemFlag.active != 0 { list.pointee.stats.evictedActive += 1 }
    }

    /// Unlinks an item from the hash table and its list while that list's lock is already held
    /// (the LRU tail walkers). Item lock held; drops the table's reference.
    func lockedUnlinkHoldingLRU(_ it: Item, _ hv: UInt32) {
        guard it.flags & ItemFlag.linked != 0 else { return }
        it.flags &= ~ItemFlag.linked
        lockedHashDelete(it, hv)
        lockedUnlinkQ(it)
        sizes.unlinked(keyLength: it.keyLength, valueLength: it.valueLength)
        databaseCounts.unlinked(it)
        refDecrement(it)
    }

    /// Bytes in a class's HOT, WARM and COLD lists (the base of the HOT/WARM limits).
    func classBytes(_ classID: Int) -> Int {
        var total = 0
        for seg in [LRUSegment.hot, .warm, .cold] {
            let id = classID | (seg.rawValue << 6)
            lruLock(id)
            total += lrus[id].stats.bytes
            lruUnlock(id)
        }
        return total
    }
}
