// A Redis string written over the string already under its key, in that item's own chunk: the
// RESP port's SET (and SETEX, PSETEX, MSET, SET NX/XX) tries this before allocating a new item.
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
// this lookup's), the new value needs the same slab class, and the LRU is segmented without a
// TEMP list (the flat LRU would move the item to its list's head, and a TEMP item's list follows
// its TTL). Anything else answers `needsItem` and the caller stores a new item as before.
//
// What changes: the value and its length, client flags 0, the expiry, a new CAS unique (WATCH
// and gets see a new value), the access time, the LFU counter as an access (redis's dbOverwrite
// keeps it), and the flags a new item has (not fetched, not stale, no win token sent) plus ACTIVE:
// the item stays in its LRU segment, so ACTIVE makes the tail pull move it up (to WARM) instead of
// evicting a value just written, as memcached's new item at the HOT head would not be. The LRU
// list's bytes, the size histogram and the database's expiry counts follow the new length and
// expiry; total_items counts the write (`ClassCommand.overwrites`), as memcached counts a link.
import Glibc

/// What `overwrite` did.
public enum OverwriteResult: Sendable, Equatable {
    case stored
    /// The mode's condition failed (an add over a live key, a replace of a missing one).
    case notStored
    /// Not done: store a new item (`allocate` + `store`) instead.
    case needsItem
}

extension CacheEngine {
    /// Writes `value` as the Redis string under `key` (logical `database`) in the old item's chunk
    /// when the rules above allow. `mode` is `.set`, `.add` or `.replace` (SET, SET NX, SET XX).
    public func overwrite(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, value: UnsafeRawBufferPointer,
                          expiry: ExpiryTime, mode: StoreMode) -> OverwriteResult {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        lockedPrefetchHinted()
        var outcome = GetOutcome.miss
        guard let old = lockedGet(key, hv, database: database, anyType: true, bump: false, outcome: &outcome) else {
            return mode == .replace ? .notStored : .needsItem
        }
        defer { refDecrement(old) }
        if mode == .add {
            // lockedStore's add over a live key: memcached's do_item_update, nothing stored.
            lockedUpdate(old)
            return .notStored
        }
        guard old.type == .string, !old.isChunked, tuning.isSegmented, !tuning.isTempLRU,
              old.refcount.pointee.load(ordering: .relaxed) == 2 else { return .needsItem }
        let total = ItemLayout.totalSize(keyLength: key.count, valueLength: value.count)
        guard total <= slabs.table.chunkMax, slabs.table.classID(forSize: total) == old.slabClass,
              itemSizeNeeded(keyLength: key.count, valueLength: value.count, flags: 0) <= settings.itemSizeMax
        else { return .needsItem }

        let now = clock.current
        classCommands.add(.cmdSet, old.slabClass, hash: hv)
        classCommands.add(.overwrites, old.slabClass, hash: hv)
        let oldLength = old.valueLength
        if oldLength != value.count {
            sizes.unlinked(keyLength: old.keyLength, valueLength: oldLength)
            let id = old.lruID
            lruLock(id)
            lrus[id].stats.bytes += value.count - oldLength
            old.valueLength = value.count
            lruUnlock(id)
            sizes.linked(keyLength: old.keyLength, valueLength: value.count)
        }
        if value.count > 0 { memcpy(old.value, value.baseAddress!, value.count) }
        old.clientFlags = 0
        old.binaryKey = false
        let (seconds, milliseconds) = expiryFields(expiry)
        lockedSetExpiry(old, seconds, milliseconds: milliseconds)
        if tuning.policy.usesLFU { old.lfuCounter = lfuAccessed(old, now: now) }
        old.setAccessTime(now)
        old.flags = (old.flags & ~(ItemFlag.fetched | ItemFlag.stale | ItemFlag.tokenSent)) | ItemFlag.active
        old.cas = nextCAS()
        return .stored
    }
}
