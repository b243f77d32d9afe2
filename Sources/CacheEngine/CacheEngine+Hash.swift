// Redis hashes as storage operations (layout: HashLayout.swift; encodings:
// CacheEngine+HashListpack.swift and CacheEngine+HashIndex.swift; random picks and HSCAN:
// CacheEngine+HashWalk.swift). Each public operation takes the key's item lock, finds the root
// with `lockedGet(anyType:)`, works on its descriptor, and gives the root a new CAS unique when
// the hash changed (WATCH sees it). A hash emptied by HDEL loses its key, as redis deletes it.
// Fields and values are handed to the caller as `HashBytes` while the lock is held: the caller
// copies them into its reply and keeps nothing.
import SlabAllocator
#if canImport(Glibc)
import Glibc
#endif

/// What a hash write did.
public enum HashWriteResult: Sendable, Equatable {
    /// Fields added (HSET's reply; HSETNX's 0 or 1).
    case added(Int)
    /// `hashUpdate`'s transform refused the old value (nothing changed).
    case refused
    case wrongType
    case outOfMemory
    /// A field and value larger than -I allows for an item.
    case tooLarge
}

/// What a hash read found.
public enum HashReadResult: Sendable, Equatable {
    case ok
    case noKey
    case wrongType
}

/// A hash's size (OBJECT ENCODING, MEMORY USAGE, DEBUG OBJECT).
public struct HashSummary: Sendable, Equatable {
    public var count: Int
    /// The fields' and values' own bytes.
    public var bytes: Int
    /// Slab memory of the fields and the index (the root's chunk not included).
    public var memory: Int
    public var encoding: HashEncoding
    /// Buckets of the index (both tables while rehashing); 0 for a listpack.
    public var buckets: Int
    public var rehashing: Bool
}

extension CacheEngine {
    /// The value length a hash root is allocated with.
    public static let hashRootValueLength = HashDescriptor.size

    // MARK: writes

    /// HSET / HMSET / HSETNX (`onlyIfAbsent`): `count` pairs, each from `pair(i)`, set in order.
    public func hashSet(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, count: Int,
                        onlyIfAbsent: Bool = false,
                        pair: (Int) -> (UnsafeRawBufferPointer, UnsafeRawBufferPointer)) -> HashWriteResult {
        for i in 0..<count {
            let (f, v) = pair(i)
            if hashPairTooLarge(f.count, v.count) { return .tooLarge }
        }
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        let (found, wrongType) = lockedHashRoot(key, hv, database)
        if wrongType { return .wrongType }
        guard let root = found ?? newHashRoot(key, database) else { return .outOfMemory }
        var d = root.hashDescriptor
        // redis converts before setting when any field or value passes the listpack's limit.
        if d.packed {
            let most = encodingLimits.hashValue
            for i in 0..<count {
                let (f, v) = pair(i)
                if f.count > most || v.count > most {
                    if !lockedHashConvert(&d) { return lockedHashAbandon(root, d, hv, created: found == nil) }
                    break
                }
            }
        }
        var added = 0
        var changed = false
        for i in 0..<count {
            let (f, v) = pair(i)
            switch lockedHashSetPair(&d, f, v, onlyIfAbsent: onlyIfAbsent) {
            case .added: added += 1; changed = true
            case .updated: changed = true
            case .present: break
            case .outOfMemory:
                // The pairs set before stay (redis has no partial failure to copy; the reply says OOM).
                if changed { lockedHashCommit(root, d, hv, created: found == nil) } else { lockedHashAbandon(root, d, hv, created: found == nil) }
                return .outOfMemory
            }
        }
        if changed { lockedHashCommit(root, d, hv, created: found == nil) } else { lockedHashAbandon(root, d, hv, created: found == nil) }
        return .added(added)
    }

    /// HINCRBY / HINCRBYFLOAT: `transform` gets the field's value (nil: no field) and returns the
    /// new one, or nil to refuse (nothing changes).
    public func hashUpdate(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int,
                           field: UnsafeRawBufferPointer, _ transform: (HashBytes?) -> [UInt8]?) -> HashWriteResult {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        let (found, wrongType) = lockedHashRoot(key, hv, database)
        if wrongType { return .wrongType }
        guard let root = found ?? newHashRoot(key, database) else { return .outOfMemory }
        var d = root.hashDescriptor
        guard let value = transform(lockedHashValue(d, field)) else {
            lockedHashAbandon(root, d, hv, created: found == nil)
            return .refused
        }
        if hashPairTooLarge(field.count, value.count) {
            lockedHashAbandon(root, d, hv, created: found == nil)
            return .tooLarge
        }
        let r = value.withUnsafeBytes { lockedHashSetPair(&d, field, $0, onlyIfAbsent: false) }
        if r == .outOfMemory {
            lockedHashAbandon(root, d, hv, created: found == nil)
            return .outOfMemory
        }
        lockedHashCommit(root, d, hv, created: found == nil)
        return .added(r == .added ? 1 : 0)
    }

    /// HDEL: how many of the `count` fields were removed, or nil for another type.
    /// (`type: .set`: SREM.)
    public func hashDelete(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, type: ItemType = .hash, count: Int,
                           field: (Int) -> UnsafeRawBufferPointer) -> Int? {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        let (found, wrongType) = lockedHashRoot(key, hv, database, type: type)
        if wrongType { return nil }
        guard let root = found else { return 0 }
        var d = root.hashDescriptor
        var removed = 0
        for i in 0..<count where d.count > 0 {
            if lockedHashRemovePair(&d, field(i)) { removed += 1 }
        }
        if removed > 0 { lockedHashCommit(root, d, hv, created: false) } else { refDecrement(root) }
        return removed
    }

    // MARK: reads

    /// HGET / HMGET / HEXISTS / HSTRLEN: `visit` sees each field's value (nil: no such field) in
    /// the order asked; `.noKey` visits nothing.
    /// (`type: .set`: SISMEMBER, SMISMEMBER; a member's value is empty.)
    public func hashGet(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, type: ItemType = .hash, count: Int = 1,
                        field: (Int) -> UnsafeRawBufferPointer, visit: (HashBytes?) -> Void) -> HashReadResult {
        lockedHashRead(key, hv, database, type: type, wrongType: .wrongType, absent: .noKey) { d in
            for i in 0..<count { visit(lockedHashValue(d, field(i))) }
            return .ok
        }
    }

    /// HLEN (0 for no key), or nil for a key of another type.
    public func hashLength(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, type: ItemType = .hash) -> Int? {
        guard let s = hashSummary(key, hash: hv, database: database, type: type, missingIsEmpty: true) else { return nil }
        return s.count
    }

    /// The hash's size; nil for no key (or, with `missingIsEmpty`, an empty summary) and for
    /// another type (`missingIsEmpty` then tells them apart: nil is another type).
    public func hashSummary(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, type: ItemType = .hash,
                            missingIsEmpty: Bool = false) -> HashSummary? {
        let empty = HashSummary(count: 0, bytes: 0, memory: 0, encoding: .listpack, buckets: 0, rehashing: false)
        return lockedHashRead(key, hv, database, type: type, wrongType: nil, absent: missingIsEmpty ? empty : nil) { d in
            let buckets = d.packed ? 0 : (1 << d.bits0) + (d.rehashing ? 1 << d.bits1 : 0)
            return HashSummary(count: d.count, bytes: d.bytes, memory: d.memory, encoding: d.encoding,
                               buckets: buckets, rehashing: d.rehashing)
        }
    }

    /// HGETALL / HKEYS / HVALS: `willVisit` learns the count, then `visit` sees every pair (in
    /// insertion order).
    public func hashVisit(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, type: ItemType = .hash,
                          willVisit: (Int) -> Void, visit: (HashBytes, HashBytes) -> Void) -> HashReadResult {
        lockedHashRead(key, hv, database, type: type, wrongType: .wrongType, absent: .noKey) { d in
            willVisit(d.count)
            lockedHashEach(d) { f, v in visit(f, v); return true }
            return .ok
        }
    }

    // MARK: for RENAME, COPY and MOVE (item locks held)

    /// Takes the hash out of `root` (see `lockedListDetach`).
    func lockedHashDetach(_ root: Item) -> HashDescriptor {
        let d = root.hashDescriptor
        root.hashDescriptor = HashDescriptor()
        return d
    }

    func lockedHashAttach(_ d: HashDescriptor, to root: Item) {
        root.hashDescriptor = d
    }

    /// A deep copy of `root`'s hash, nil when memory runs out (the part copied is freed).
    func lockedHashCopy(_ root: Item) -> HashDescriptor? {
        let d = root.hashDescriptor
        var copy = HashDescriptor()
        copy.encoding = d.encoding
        if d.packed {
            guard d.head != 0 else { return copy }
            let n = node(d.head)
            guard let m = allocListNode(capacity: n.nodeUsed) else { return nil }
            memcpy(m.value, n.value, n.nodeUsed)
            m.nodeUsed = n.nodeUsed
            m.nodeCount = n.nodeCount
            copy.head = arena.handle(m.raw)
            copy.encoding = d.encoding
            copy.count = d.count
            copy.bytes = d.bytes
            copy.memory = chunkBytes(m)
            return copy
        }
        guard let (dir, items, memory) = newFieldTable(bits: d.bits1 > 0 ? d.bits1 : d.bits0) else { return nil }
        copy.encoding = .hashtable
        copy.table0 = dir
        copy.bits0 = d.bits1 > 0 ? d.bits1 : d.bits0
        copy.indexItems = items
        copy.memory = memory
        var h = d.head
        while h != 0 {
            let e = node(h)
            h = e.next
            guard let c = copyEntry(e) else {
                lockedHashFreeNow(copy)
                return nil
            }
            lockedFieldLink(c, &copy)
        }
        return copy
    }

    // MARK: internals (item lock held)

    /// Whether a pair of these lengths is past what -I allows an item.
    @inline(__always)
    func hashPairTooLarge(_ field: Int, _ value: Int) -> Bool {
        itemSizeNeeded(keyLength: 0, valueLength: field + value, flags: UInt32(truncatingIfNeeded: field)) > settings.itemSizeMax
    }

    /// The hash under `key` with a reference, or none; `wrongType` for another type.
    func lockedHashRoot(_ key: UnsafeRawBufferPointer, _ hv: UInt32, _ database: Int,
                        type: ItemType = .hash) -> (Item?, wrongType: Bool) {
        var outcome = GetOutcome.miss
        guard let it = lockedGet(key, hv, database: database, anyType: true, bump: true, outcome: &outcome) else { return (nil, false) }
        if it.type != type {
            refDecrement(it)
            return (nil, true)
        }
        lockedPrefetchHintedFields(it, hv)
        return (it, false)
    }

    /// The prologue every read of a hash, set or sorted set shares: the key's stripe locked, its
    /// root looked up with a reference held while `body` reads its descriptor; `wrongType` for a
    /// key of another type, `absent` for no key (then `body` does not run). The name says what
    /// `body` runs under: the item lock, taken here.
    @inline(__always)
    func lockedHashRead<R>(_ key: UnsafeRawBufferPointer, _ hv: UInt32, _ database: Int, type: ItemType,
                           wrongType: R, absent: R, _ body: (HashDescriptor) -> R) -> R {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        let (found, isWrongType) = lockedHashRoot(key, hv, database, type: type)
        if isWrongType { return wrongType }
        guard let root = found else { return absent }
        defer { refDecrement(root) }
        return body(root.hashDescriptor)
    }

    /// A new, empty, unlinked root (one reference, the caller's).
    func newHashRoot(_ key: UnsafeRawBufferPointer, _ database: Int, type: ItemType = .hash,
                     encoding: HashEncoding = .listpack) -> Item? {
        guard case .item(let root) = allocate(key: key, flags: 0, expiry: 0, valueLength: HashDescriptor.size,
                                              database: database, type: type) else { return nil }
        var d = HashDescriptor()
        d.encoding = encoding
        root.hashDescriptor = d
        return root
    }

    /// Stores the changed descriptor: links a new root, unlinks an emptied one, gives the root a
    /// new CAS; drops the caller's reference.
    func lockedHashCommit(_ root: Item, _ d: HashDescriptor, _ hv: UInt32, created: Bool) {
        root.hashDescriptor = d
        lockedRootCommit(root, count: d.count, hv, created: created)
    }

    /// Drops the caller's reference with no change to report; a root made for nothing (no field
    /// set) is freed with whatever its descriptor holds.
    @discardableResult
    func lockedHashAbandon(_ root: Item, _ d: HashDescriptor, _ hv: UInt32, created: Bool) -> HashWriteResult {
        root.hashDescriptor = d
        refDecrement(root)
        return .outOfMemory
    }

    /// The value of `field`, or nil.
    func lockedHashValue(_ d: HashDescriptor, _ field: UnsafeRawBufferPointer) -> HashBytes? {
        if d.packed {
            guard d.head != 0 else { return nil }
            let n = node(d.head)
            guard let pair = packedFind(n, field) else { return nil }
            return packedBytes(n, pair.value, pair.valueCount)
        }
        guard let e = lockedFieldFind(d, field, Self.hash(field)) else { return nil }
        return entryValue(e)
    }

    /// Every pair in insertion order (a sorted set's: score order) until `visit` returns false.
    func lockedHashEach(_ d: HashDescriptor, _ visit: (HashBytes, HashBytes) -> Bool) {
        if d.zslHeader != 0 {
            var h = zsl(d.zslHeader).forward(0)
            while h != 0 {
                let x = zsl(h)
                h = x.forward(0)
                let e = zslEntry(x)
                if !visit(entryField(e), entryValue(e)) { return }
            }
            return
        }
        if d.packed {
            packedVisit(d) { pair, n in
                visit(packedBytes(n, pair.field, pair.fieldCount), packedBytes(n, pair.value, pair.valueCount))
            }
            return
        }
        var h = d.head
        while h != 0 {
            let e = node(h)
            h = e.next
            if !visit(entryField(e), entryValue(e)) { return }
        }
    }
}
