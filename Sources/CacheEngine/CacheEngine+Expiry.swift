// Expiry as a storage operation of its own (Redis's EXPIRE family, PERSIST): the protocol says,
// from the expiry an item has, which one it should have (or none to leave it), and the engine
// applies that under the item's lock, so a condition such as EXPIRE's NX or GT is checked and
// acted on with no other writer in between. An expiry already past removes the item at once, as
// redis deletes a key given a time in the past. Also the count of items that will expire
// (INFO keyspace's expires=), which each LRU list keeps. A changed expiry gives the item a new CAS
// unique, as every modification must (Redis's WATCH compares uniques).

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
    public func changeExpiry(_ key: UnsafeRawBufferPointer, hash hv: UInt32,
                             _ decide: (_ current: ItemInfo) -> UInt32?) -> ExpiryChange {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        var outcome = GetOutcome.miss
        guard let it = lockedGet(key, hv, bump: false, outcome: &outcome) else { return .notFound }
        defer { refDecrement(it) }
        guard let expiry = decide(ItemInfo(it)) else { return .unchanged }
        if expiry != 0 && expiry <= clock.current {
            lockedUnlink(it, hv)
        } else {
            lockedSetExpiry(it, expiry)
            // A changed expiry is a modification: a new CAS unique, so that a Redis WATCH of the
            // key sees it (redis's EXPIRE touches watched keys). memcached's touch and gat keep
            // the unique, as memcached does.
            it.cas = nextCAS()
        }
        return .changed
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
