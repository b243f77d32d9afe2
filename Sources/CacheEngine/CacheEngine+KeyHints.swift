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
// Field hints: the same inside one key. Under `redis-benchmark -t hset,sadd,zadd -r 100000 -P 16`
// every request is one key's (myhash, myset, myzset) with 100k fields, so all of them serialize
// on its item lock and each one's field lookup (`lockedFieldFind`: the index's bucket, then the
// entry) misses while the lock is held. A connection names the field hashes of the next two
// requests with their keys' hashes (`hintKeys(next:after:nextField:afterField:)`); an operation
// on a hashtable-encoded hash, set or sorted set whose key hash is the hinted one
// (`lockedPrefetchHintedFields`, from `lockedHashRoot`) starts loading the after one's bucket
// and, through the next one's bucket (loaded by the operation before), its first entry. The
// index is the key's own, read under its lock, so its pointers are fixed while they are used; a
// hint for another key with the same hash, or one made stale by a resize or a write in between,
// only loads the wrong line.
//
// The look at another stripe's bucket is an atomic load of a word whose every store is atomic
// too (`cprefetch_bucket_store`); its value may be stale the moment it is read and is used only
// as a prefetch address (a prefetch never faults, and the arena is one mapping).
import CPrefetch

extension CacheEngine {
    /// A key's hash for a hint; nil for a key no item can have (longer than
    /// `ItemLayout.maxKeyLength`: never hashed, it may be any length). Every port names its hints
    /// through this one rule.
    @inline(__always)
    public static func hintHash(_ key: UnsafeRawBufferPointer) -> UInt32? {
        key.count <= ItemLayout.maxKeyLength ? hash(key) : nil
    }

    /// Names the key hashes of the next two requests (nil: none) for the next operation.
    @inline(__always)
    public static func hintKeys(next: UInt32?, after: UInt32?) {
        cprefetch_hint_set(tagged(next), tagged(after))
    }

    /// Names the key hashes of the next two requests and the hashes of the fields (or members)
    /// they look up in those keys (nil: none).
    @inline(__always)
    public static func hintKeys(next: UInt32?, after: UInt32?, nextField: UInt32?, afterField: UInt32?) {
        cprefetch_hint_set_fields(tagged(next), tagged(after), tagged(nextField), tagged(afterField))
    }

    /// A hint's word: bit 32 set and the hash, or 0 for none.
    @inline(__always)
    static func tagged(_ h: UInt32?) -> UInt64 { h.map { UInt64($0) | 1 << 32 } ?? 0 }

    /// Item lock (any) held: starts the hinted loads, and forgets the hints.
    @inline(__always)
    func lockedPrefetchHinted() {
        lockedPrefetchKeys(cprefetch_hint_take())
    }

    /// Item lock of `root` (a hash, set or sorted set under key hash `hv`) held: the key hints,
    /// then the field hints of the requests on this key. Forgets the hints.
    @inline(__always)
    func lockedPrefetchHintedFields(_ root: Item, _ hv: UInt32) {
        let h = cprefetch_hint_take()
        lockedPrefetchKeys(h)
        guard h.next_field | h.after_field != 0 else { return }
        let d = root.hashDescriptor
        guard !d.packed, d.table0 != 0 else { return }
        let key = Self.tagged(hv)
        if h.after_field != 0 && h.after == key {
            cprefetch_read(UnsafeRawPointer(fieldBucket(d, UInt32(truncatingIfNeeded: h.after_field))))
        }
        if h.next_field != 0 && h.next == key {
            let head = fieldBucket(d, UInt32(truncatingIfNeeded: h.next_field)).pointee
            if head != 0 {
                // The entry's header and the field after it (a folded sorted-set member is its
                // skip-list node too).
                let p = UnsafeRawPointer(arena.pointer(head))
                cprefetch_read(p)
                cprefetch_read(p + 64)
            }
        }
    }

    /// The bucket of the field index where a field of hash `h` lies (the new table's once the
    /// move has passed its old bucket).
    @inline(__always)
    func fieldBucket(_ d: HashDescriptor, _ h: UInt32) -> UnsafeMutablePointer<UInt32> {
        let i = Int(h) & ((1 << d.bits0) - 1)
        if d.rehashing && i < d.rehashIndex { return bucketHead(d.table1, bits: d.bits1, Int(h) & ((1 << d.bits1) - 1)) }
        return bucketHead(d.table0, bits: d.bits0, i)
    }

    /// The key hints' loads.
    @inline(__always)
    private func lockedPrefetchKeys(_ h: cprefetch_hint_t) {
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
