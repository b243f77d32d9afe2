// Prefetch across a pipelined read's requests. A lookup's cost with a table bigger than the
// caches is two dependent misses: the bucket, then the item its chain starts with (under
// `redis-benchmark -P 16` and the compare's p16 load over 100k keys, about a quarter of the
// server's CPU waits in `lockedHashFind`). A connection holding the next requests names their
// keys' hashes (`hintKeys`), and the next engine operation, which holds its own item lock and
// so sees the table's pointers and power fixed (they change only under every item lock,
// HashTable.swift), starts loading the key after's bucket and reads the next key's bucket,
// loaded by the operation before, to start loading its first item. Each request's misses then
// overlap the request before it.
//
// The look at another stripe's bucket is an atomic load of a word whose every store is atomic
// too (`cprefetch_bucket_store`); its value may be stale the moment it is read and is used only
// as a prefetch address (a prefetch never faults, and the arena is one mapping).
import CPrefetch

extension CacheEngine {
    /// Names the key hashes of the next two requests (nil: none) for the next operation.
    @inline(__always)
    public static func hintKeys(next: UInt32?, after: UInt32?) {
        cprefetch_hint_set(next.map { UInt64($0) | 1 << 32 } ?? 0, after.map { UInt64($0) | 1 << 32 } ?? 0)
    }

    /// Item lock (any) held: starts the hinted loads, and forgets the hints.
    @inline(__always)
    func lockedPrefetchHinted() {
        let h = cprefetch_hint_take()
        if h.after != 0 {
            cprefetch_read(UnsafeRawPointer(bucket(UInt32(truncatingIfNeeded: h.after))))
        }
        if h.next != 0 {
            let head = cprefetch_bucket_load(bucket(UInt32(truncatingIfNeeded: h.next)))
            if head != 0 {
                // The header and the key after it (44 bytes + the key: two lines at most).
                let p = UnsafeRawPointer(arena.pointer(head))
                cprefetch_read(p)
                cprefetch_read(p + ItemLayout.headerSize + 16)
            }
        }
    }
}
