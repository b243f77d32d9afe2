// Expiry as a storage operation of its own (Redis's EXPIRE family, PERSIST): the protocol says,
// from the expiry an item has, which one it should have (or none to leave it), and the engine
// applies that under the item's lock, so a condition such as EXPIRE's NX or GT is checked and
// acted on with no other writer in between. An expiry already past removes the item at once, as
// redis deletes a key given a time in the past. Also the count of items that will expire
// (INFO keyspace's expires=), which each LRU list keeps. A changed expiry gives the item a new CAS
// unique, as every modification must (Redis's WATCH compares uniques).

/// An expiry as a protocol gives it.
public enum ExpiryTime: Sendable, Equatable {
    case never
    /// memcached's process-time second (`ProcessClock.expiry(fromClient:)`).
    case processSeconds(UInt32)
    /// A Unix time in milliseconds, kept to the millisecond (Redis's PX, PEXPIRE...).
    case unixMilliseconds(Int)
}

/// What `changeExpiry` found and did.
public enum ExpiryChange: Sendable, Equatable {
    case notFound
    /// The protocol's rule kept the expiry the item had.
    case unchanged
    /// The expiry was set (or the item removed, for a time already past).
    case changed
}

extension CacheEngine {
    /// Looks `key` up and calls `decide` with its header (`expiry` in process time, 0 = never;
    /// `cas` to check it is the item the caller read); sets the expiry `decide` returns (nil:
    /// leave it). A returned time at or before now unlinks the item.
    /// `database`, `anyType`: as `get`'s.
    public func changeExpiry(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int = 0, anyType: Bool = false,
                             _ decide: (_ current: ItemInfo) -> ExpiryTime?) -> ExpiryChange {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        var outcome = GetOutcome.miss
        guard let it = lockedGet(key, hv, database: database, anyType: anyType, bump: false, outcome: &outcome) else { return .notFound }
        defer { refDecrement(it) }
        guard let time = decide(itemInfo(it)) else { return .unchanged }
        let (expiry, ms) = expiryFields(time)
        lockedSetExpiry(it, expiry, milliseconds: ms)
        if expired(it, now: clock.current) {
            lockedUnlink(it, hv)
        } else {
            // A changed expiry is a modification: a new CAS unique, so that a Redis WATCH of the
            // key sees it (redis's EXPIRE touches watched keys). memcached's touch and gat keep
            // the unique, as memcached does.
            it.cas = nextCAS()
        }
        return .changed
    }

    /// Sets the expiry of an item not yet stored (`allocate`'s, before `store`).
    public func setExpiry(_ it: Item, _ time: ExpiryTime) {
        let (expiry, ms) = expiryFields(time)
        it.expiry = expiry
        it.expiryMs = ms
    }

    /// Gives `new`, not yet stored, the expiry `old` has, to the millisecond (KEEPTTL, and the
    /// Redis commands that rebuild a value from the old one).
    public func copyExpiry(from old: Item, to new: Item) {
        new.expiry = old.expiry
        new.expiryMs = old.expiryMs
    }

    /// The header's expiry and expiry-milliseconds fields for `time`. A millisecond time T (since
    /// relative time 0) is kept as the second after it (so that memcached's whole-second rule,
    /// which the LRU, crawler and eviction apply, never removes it early) and T's milliseconds;
    /// a time already past becomes 1, "expired long ago".
    func expiryFields(_ time: ExpiryTime) -> (UInt32, UInt16) {
        switch time {
        case .never: return (0, 0)
        case .processSeconds(let s): return (s, 0)
        case .unixMilliseconds(let unixMs):
            let start = clock.processStarted * 1000
            guard unixMs > start else { return (1, 0) }
            let t = unixMs - start
            let seconds = t / 1000 + 1
            return (seconds >= Int(UInt32.max) ? UInt32.max : UInt32(seconds), 0x8000 | UInt16(t % 1000))
        }
    }

    /// Whether `it` has expired at process time `now`: memcached's rule (its expiry second has
    /// come) for whole-second expiries; a millisecond one is compared with the millisecond clock
    /// once its last seconds have come (the once-a-second clock may lag by a second).
    @inline(__always)
    func expired(_ it: Item, now: UInt32) -> Bool {
        let e = it.expiry
        if e == 0 { return false }
        let ms = it.expiryMs
        if ms & 0x8000 == 0 { return e <= now }
        if e > now &+ 2 { return false }
        return clock.relativeMilliseconds >= UInt64(e &- 1) * 1000 + UInt64(ms & 0x3ff)
    }

    /// Linked items that have an expiry.
    public var expiringItemCount: Int {
        var n = 0
        for id in 0..<Self.lruCount {
            lruLock(id)
            n += lrus[id].expiring
            lruUnlock(id)
        }
        return n
    }
}
