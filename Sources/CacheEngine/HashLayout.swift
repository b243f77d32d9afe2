// How a Redis hash lies in slab memory. The key is a root item of type `.hash`, linked in the
// hash table and the LRU like any item (so expiry, eviction, RENAME, SCAN... treat it as a key);
// its value is a fixed 56-byte descriptor (`HashDescriptor`) changed in place under the key's
// item lock. The fields live in keyless items that are never linked in the engine's table or an
// LRU (never evicted or crawled on their own; the page mover leaves a page holding one alone, as
// it does list nodes), in one of two encodings, as redis's:
//
// - listpack (small hashes: at most `hashListpackEntries` fields, every field and value at most
//   `hashListpackValue` bytes): one packed node (a list node, `allocListNode`) holding
//   `[LEB128 field length][field][LEB128 value length][value]` pairs in insertion order; a lookup
//   walks at most 512 pairs in one chunk (redis 7.0's defaults: 512 entries, 64 bytes).
// - hashtable: one entry item per pair, its value `[field][value]` (chunked past the largest
//   chunk, so a pair may be as large as -I), found through a per-key index of 32-bit handles in
//   slab memory (CacheEngine+HashIndex.swift): a directory item of segment handles, each segment
//   4,096 bucket heads (16 KB), entries chained per bucket through the header's hash next.
//   The index doubles when the fields outnumber the buckets, and the move to the new table is
//   incremental (redis's rehash): every write moves a few buckets, lookups look in both tables.
//   Entries are also chained head to tail in insertion order through the header's next/prev:
//   HGETALL walks that chain, and a deleted hash hands the whole chain (with the index's items
//   prepended) to the list lazy freer (`ListFreeQueue`) as one list of nodes.
//
// An entry is a compact keyless item (KeylessLayout.swift: a 24-byte header in an engine-only
// keyless class) when its pair fits one (at most 104 bytes), else (or when those classes have no
// memory) an item with the 44-byte header whose fields are reused since nothing else reads them:
//   cas          the field's hash (murmur3, the engine's key hash)
//   next / prev  the next / previous entry in insertion order (0: none)
//   hash next    the next entry in the same bucket
//   client flags the field's length
//   value length the field's and value's length
// Both are read through `entryHash`, `entryFieldLength`, `entryLength`, `entryData`.
// An index item (directory or segment) is a packed node whose value is its handle array.
import SlabAllocator
#if canImport(Glibc)
import Glibc
#endif

/// How a hash's fields are kept (OBJECT ENCODING's word).
public enum HashEncoding: UInt8, Sendable, Equatable {
    /// intset: a set's packed node of integers in ascending order (CacheEngine+Set.swift).
    /// skiplist: a sorted set's hashtable with its skip list (CacheEngine+ZSet.swift).
    case listpack = 0, hashtable = 1, intset = 2, skiplist = 3
}

/// A hash root's value.
struct HashDescriptor {
    static let size = 56
    /// Fields.
    var count = 0
    /// The fields' and values' own bytes.
    var bytes = 0
    /// Slab memory the fields and index take (chunk sizes): MEMORY USAGE.
    var memory = 0
    /// listpack: the packed node; hashtable: the first entry in insertion order.
    var head: SlabHandle = 0
    /// hashtable: the last entry.
    var tail: SlabHandle = 0
    /// The index's directory (hashtable), and the larger one while rehashing.
    var table0: SlabHandle = 0
    var table1: SlabHandle = 0
    /// Buckets of table0 already moved to table1.
    var rehashIndex = 0
    /// Directories and segments of both tables (freed with the entries).
    var indexItems = 0
    /// log2 of each table's buckets.
    var bits0 = 0
    var bits1 = 0
    var encoding = HashEncoding.listpack
    /// A sorted set's skip list (skiplist encoding): its header node and level (ZSetLayout.swift).
    var zslHeader: SlabHandle = 0
    var zslLevel = 0

    var rehashing: Bool { table1 != 0 }
    /// The pairs lie in one packed node (listpack, intset).
    var packed: Bool { encoding == .listpack || encoding == .intset }
}

extension Item {
    /// The descriptor in a hash root's value.
    var hashDescriptor: HashDescriptor {
        get {
            let p = UnsafeRawPointer(value)
            var d = HashDescriptor()
            d.count = Int(p.loadUnaligned(as: UInt64.self))
            d.bytes = Int(p.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            d.memory = Int(p.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
            d.head = p.loadUnaligned(fromByteOffset: 24, as: UInt32.self)
            d.tail = p.loadUnaligned(fromByteOffset: 28, as: UInt32.self)
            d.table0 = p.loadUnaligned(fromByteOffset: 32, as: UInt32.self)
            d.table1 = p.loadUnaligned(fromByteOffset: 36, as: UInt32.self)
            d.rehashIndex = Int(p.loadUnaligned(fromByteOffset: 40, as: UInt32.self))
            d.indexItems = Int(p.loadUnaligned(fromByteOffset: 44, as: UInt32.self))
            d.bits0 = Int(p.load(fromByteOffset: 48, as: UInt8.self))
            d.bits1 = Int(p.load(fromByteOffset: 49, as: UInt8.self))
            d.encoding = HashEncoding(rawValue: p.load(fromByteOffset: 50, as: UInt8.self)) ?? .listpack
            d.zslLevel = Int(p.load(fromByteOffset: 51, as: UInt8.self))
            d.zslHeader = p.loadUnaligned(fromByteOffset: 52, as: UInt32.self)
            return d
        }
        nonmutating set {
            let p = value
            p.storeBytes(of: UInt64(newValue.count), as: UInt64.self)
            p.storeBytes(of: UInt64(newValue.bytes), toByteOffset: 8, as: UInt64.self)
            p.storeBytes(of: UInt64(newValue.memory), toByteOffset: 16, as: UInt64.self)
            p.storeBytes(of: newValue.head, toByteOffset: 24, as: UInt32.self)
            p.storeBytes(of: newValue.tail, toByteOffset: 28, as: UInt32.self)
            p.storeBytes(of: newValue.table0, toByteOffset: 32, as: UInt32.self)
            p.storeBytes(of: newValue.table1, toByteOffset: 36, as: UInt32.self)
            p.storeBytes(of: UInt32(newValue.rehashIndex), toByteOffset: 40, as: UInt32.self)
            p.storeBytes(of: UInt32(newValue.indexItems), toByteOffset: 44, as: UInt32.self)
            p.storeBytes(of: UInt8(newValue.bits0), toByteOffset: 48, as: UInt8.self)
            p.storeBytes(of: UInt8(newValue.bits1), toByteOffset: 49, as: UInt8.self)
            p.storeBytes(of: newValue.encoding.rawValue, toByteOffset: 50, as: UInt8.self)
            p.storeBytes(of: UInt8(newValue.zslLevel), toByteOffset: 51, as: UInt8.self)
            p.storeBytes(of: newValue.zslHeader, toByteOffset: 52, as: UInt32.self)
        }
    }

    /// A hashtable entry's field length (either header, KeylessLayout.swift).
    @inline(__always) var entryFieldLength: Int {
        isCompact ? Int(raw.load(fromByteOffset: KeylessLayout.fieldLengthOffset, as: UInt16.self)) : Int(clientFlags)
    }
    /// A hashtable entry's field hash: the first 4 bytes of either header (a 44-byte entry's
    /// CAS is the hash, so its top byte, a compact entry's class byte, stays 0).
    @inline(__always) var entryHash: UInt32 {
        get { raw.load(fromByteOffset: 0, as: UInt32.self) }
        nonmutating set {
            if isCompact { raw.storeBytes(of: newValue, as: UInt32.self) } else { cas = UInt64(newValue) }
        }
    }
}

/// A packed (listpack) pair's place in its node.
struct PackedPair {
    /// The pair's first byte, the field's bytes, the value's bytes, the byte after the pair.
    var offset: Int
    var field: Int
    var fieldCount: Int
    var value: Int
    var valueCount: Int
    var end: Int

    /// The pair at byte `o` of a packed node's data `p`.
    @inline(__always)
    init(_ p: UnsafeRawPointer, at o: Int) {
        offset = o
        let (fl, s1) = Varint.read(p + o)
        field = o + s1
        fieldCount = fl
        let (vl, s2) = Varint.read(p + field + fl)
        value = field + fl + s2
        valueCount = vl
        end = value + vl
    }

    /// A pair's size in a packed node.
    @inline(__always)
    static func size(field: Int, value: Int) -> Int {
        Varint.size(field) + field + Varint.size(value) + value
    }

    /// Writes the pair at `p`; returns its size.
    @inline(__always) @discardableResult
    static func write(field f: UnsafeRawBufferPointer, value v: UnsafeRawBufferPointer, to p: UnsafeMutableRawPointer) -> Int {
        var o = Varint.write(f.count, to: p)
        if f.count > 0 { memcpy(p + o, f.baseAddress!, f.count) }
        o += f.count
        o += Varint.write(v.count, to: p + o)
        if v.count > 0 { memcpy(p + o, v.baseAddress!, v.count) }
        return o + v.count
    }
}
