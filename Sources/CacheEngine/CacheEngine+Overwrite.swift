// A Redis string written over the string already under its key, in that item's own chunk: the
// RESP port's SET (and SETEX, PSETEX, MSET, SET XX; not SET NX, which stores a new item or
// nothing) tries this before allocating a new item.
//
// Why: a SET that replaces a key unlinks the old item and links a new one, and the unlink writes
// the old item's two LRU neighbours (random items: two cache misses a request, with the LRU lock
// held) besides the slab allocation, the hash chain's change and the free. Under redis-benchmark
// SET -P 16 over 100k keys that was the largest share of the server's samples; redis overwrites
// the value in its dict entry (dbOverwrite). memcached's incr writes in place on the same terms
// (do_add_delta: the result fits and no reader holds the item), and so does INCRBY here
// (CacheEngine+Arithmetic.swift).
//
// When: the old item is an unchunked string, no reader holds it (refcount 2: the table's and
// this lookup's), the new value needs the same slab class, the policy evicts (under noeviction a
// full memory refuses the SET, as redis refuses writes), and the LRU is segmented without a
// TEMP list (the flat LRU would move the item to its list's head, and a TEMP item's list follows
// its TTL). Anything else answers `needsItem` and the caller stores a new item as before.
//
// What changes: the value and its length, client flags 0, a plain key (the meta b flag's
// binary-key bit cleared, as a new Redis item has it), the expiry, a new CAS unique (WATCH
// and gets see a new value), the access time, the LFU counter as an access (redis's dbOverwrite
// keeps it), and the flags, a new item's (not fetched, not active, not stale, no win token
// sent). Where it sits in the LRU follows memcached's new item, which goes to HOT's head: an item
// in HOT or WARM stays where it is (no eviction pull reaches it before it would have reached a
// new item at HOT's head: both flow to COLD first); one in COLD (or in a TEMP list the switch
// left behind) moves to HOT's head, or the next allocation could evict the value just written
// from COLD's tail. The LRU lists' bytes and expiring counts, the size histogram and the
// database's expiry counts follow the new length and expiry; total_items counts the write
// (`ClassCommand.overwrites`), as memcached counts a link.
#if canImport(Glibc)
import Glibc
#endif

/// What `overwrite` did.
public enum OverwriteResult: Sendable, Equatable {
    case stored
    /// XX's condition failed: no live key to replace.
    case notStored
    /// Not done: store a new item (`allocate` + `store`) instead.
    case needsItem
}

extension CacheEngine {
    /// Writes `value` as the Redis string under `key` (logical `database`) in the old item's chunk
    /// when the rules above allow. `mode` is `.set` or `.replace` (SET, SET XX; SET NX stores a new
    /// item or nothing, so it never comes here).
    public func overwrite(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, value: UnsafeRawBufferPointer,
                          expiry: ExpiryTime, mode: StoreMode) -> OverwriteResult {
        precondition(mode == .set || mode == .replace)
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        lockedPrefetchHinted()
        let total = ItemLayout.totalSize(keyLength: key.count, valueLength: value.count)
        var outcome = GetOutcome.miss
        guard let old = lockedGet(key, hv, database: database, anyType: true, bump: false, outcome: &outcome) else {
            guard mode == .replace else { return .needsItem }
            // store() counts every set attempt in the new item's class, as memcached's set_cmds.
            if total <= slabs.table.chunkMax { classCommands.add(.cmdSet, slabs.table.classID(forSize: total), hash: hv) }
            return .notStored
        }
        defer { refDecrement(old) }
        // Acquiring: the last reader's release (a reply written from the item's bytes, outside
        // the lock) happens before the bytes are written over.
        // Under noeviction a SET that needs memory is refused once memory is full (redis refuses
        // every write then): it keeps taking a new item, which the allocation refuses.
        guard old.type == .string, !old.isChunked, tuning.isSegmented, !tuning.isTempLRU, tuning.evictsToFree,
              old.refcount.pointee.load(ordering: .acquiring) == 2 else { return .needsItem }
        guard total <= slabs.table.chunkMax, slabs.table.classID(forSize: total) == old.slabClass,
              itemSizeNeeded(keyLength: key.count, valueLength: value.count, flags: 0) <= settings.itemSizeMax
        else { return .needsItem }

        let now = clock.current
        classCommands.add(.cmdSet, old.slabClass, hash: hv)
        classCommands.add(.overwrites, old.slabClass, hash: hv)
        let (seconds, milliseconds) = expiryFields(expiry)
        let oldLength = old.valueLength
        if oldLength != value.count {
            sizes.unlinked(keyLength: old.keyLength, valueLength: oldLength)
            sizes.linked(keyLength: old.keyLength, valueLength: value.count)
        }
        let segment = old.segment
        if segment == LRUSegment.hot.rawValue || segment == LRUSegment.warm.rawValue {
            if oldLength != value.count {
                let id = old.lruID
                lruLock(id)
                lrus[id].stats.bytes += value.count - oldLength
                old.valueLength = value.count
                lruUnlock(id)
            }
            lockedSetExpiry(old, seconds, milliseconds: milliseconds)
        } else {
            // Out of its list (which counts its bytes and expiry as it leaves), changed, and in
            // at HOT's head (which counts the new ones).
            unlinkQ(old)
            old.valueLength = value.count
            databaseCounts.unlinkedExpiry(old)
            old.expiry = seconds
            old.expiryMs = milliseconds
            databaseCounts.linkedExpiry(old)
            old.classAndSegment = UInt8(old.slabClass | (LRUSegment.hot.rawValue << 6))
            linkQ(old)
        }
        if value.count > 0 { memcpy(old.value, value.baseAddress!, value.count) }
        old.clientFlags = 0
        old.binaryKey = false
        if tuning.policy.usesLFU { old.lfuCounter = lfuAccessed(old, now: now) }
        old.setAccessTime(now)
        old.flags &= ~(ItemFlag.fetched | ItemFlag.active | ItemFlag.stale | ItemFlag.tokenSent)
        old.cas = nextCAS()
        return .stored
    }
}
