// How a Redis sorted set lies in slab memory. It is the hash structure (HashLayout.swift) under a
// root of type `.zset`, each member's value its score (the 8 bytes of a Double), in redis 7.0's
// two encodings:
//
// - listpack (at most `zsetListpackEntries` members, each at most `zsetListpackValue` bytes):
//   the hash's packed node, its pairs kept in (score, member bytes) order, so a range, a rank or
//   a pop is a walk of at most 128 pairs in one chunk.
// - skiplist: the hash's hashtable (member → score, O(1) ZSCORE) plus a skip list with span
//   counts (redis's zskiplist: O(log n) insert, delete, rank and rank → member at any size). Its
//   nodes are keyless list-node items (`allocListNode`), never in the engine's table or an LRU;
//   a node's value:
//       0  score        Double
//       8  entry        the hash entry holding the member's bytes (compared through it; a member
//                       never lies twice in memory)
//      12  level        UInt8 (1...32)
//      16  backward     the previous node (0: the first); the header's holds the tail
//      24  + 8 i        forward handle and span (UInt32 each) of level i
//   A node's header `next` mirrors its level-0 forward, so the whole list is one chain of nodes
//   linked through their next fields: a deleted set appends it to the entries' chain in one
//   store and the list freer takes everything (CacheEngine+HashFree.swift).
//   The header node (32 levels, no entry) is `HashDescriptor.zslHeader`; the level in use is
//   `zslLevel`.
// A listpack converts to a skiplist when a member would pass either bound, once and for good (a
// store of a computed set picks its encoding by the same bounds, as redis's
// zsetConvertToListpackIfNeeded).
import SlabAllocator
#if canImport(Glibc)
import Glibc
#endif

/// One end of a score range (ZRANGEBYSCORE's min or max: `(` makes it exclusive).
public struct ZScoreBound: Sendable, Equatable {
    public var value: Double
    public var exclusive: Bool
    public init(_ value: Double, exclusive: Bool) {
        self.value = value
        self.exclusive = exclusive
    }
}

/// One end of a lex range (`-`, `+`, `[member`, `(member`); the bytes lie in the request.
public enum ZLexBound {
    case minusInfinity, plusInfinity
    case inclusive(UnsafeRawBufferPointer)
    case exclusive(UnsafeRawBufferPointer)
}

/// Which elements a range asks for.
public enum ZRangeBy {
    /// ZRANGE's start and stop (negative from the end), in the direction asked.
    case rank(Int, Int)
    case score(ZScoreBound, ZScoreBound)
    case lex(ZLexBound, ZLexBound)
}

/// A range query: ZRANGE's forms, ZCOUNT, ZLEXCOUNT, ZREMRANGEBY*.
public struct ZRangeQuery {
    public var by: ZRangeBy
    /// REV: highest first (min and max are still given as min and max).
    public var reverse: Bool
    /// LIMIT offset count (count < 0: no limit).
    public var offset: Int
    public var limit: Int
    public init(_ by: ZRangeBy, reverse: Bool = false, offset: Int = 0, limit: Int = -1) {
        self.by = by
        self.reverse = reverse
        self.offset = offset
        self.limit = limit
    }
}

/// A skip-list node's fields, in its value.
struct ZslNode {
    static let maxLevel = 32
    let item: Item

    @inline(__always) init(_ item: Item) { self.item = item }

    static func capacity(level: Int) -> Int { 24 + 8 * level }

    var score: Double {
        @inline(__always) get { Double(bitPattern: UnsafeRawPointer(item.value).loadUnaligned(as: UInt64.self)) }
        @inline(__always) nonmutating set { item.value.storeBytes(of: newValue.bitPattern, as: UInt64.self) }
    }
    var entry: SlabHandle {
        @inline(__always) get { UnsafeRawPointer(item.value).loadUnaligned(fromByteOffset: 8, as: UInt32.self) }
        @inline(__always) nonmutating set { item.value.storeBytes(of: newValue, toByteOffset: 8, as: UInt32.self) }
    }
    var level: Int {
        @inline(__always) get { Int(UnsafeRawPointer(item.value).load(fromByteOffset: 12, as: UInt8.self)) }
        @inline(__always) nonmutating set { item.value.storeBytes(of: UInt8(newValue), toByteOffset: 12, as: UInt8.self) }
    }
    var backward: SlabHandle {
        @inline(__always) get { UnsafeRawPointer(item.value).loadUnaligned(fromByteOffset: 16, as: UInt32.self) }
        @inline(__always) nonmutating set { item.value.storeBytes(of: newValue, toByteOffset: 16, as: UInt32.self) }
    }
    @inline(__always) func forward(_ i: Int) -> SlabHandle {
        UnsafeRawPointer(item.value).loadUnaligned(fromByteOffset: 24 + 8 * i, as: UInt32.self)
    }
    /// Level 0's forward is mirrored in the header's next (the free chain).
    @inline(__always) func setForward(_ i: Int, _ h: SlabHandle) {
        item.value.storeBytes(of: h, toByteOffset: 24 + 8 * i, as: UInt32.self)
        if i == 0 { item.next = h }
    }
    @inline(__always) func span(_ i: Int) -> Int {
        Int(UnsafeRawPointer(item.value).loadUnaligned(fromByteOffset: 28 + 8 * i, as: UInt32.self))
    }
    @inline(__always) func setSpan(_ i: Int, _ s: Int) {
        item.value.storeBytes(of: UInt32(truncatingIfNeeded: s), toByteOffset: 28 + 8 * i, as: UInt32.self)
    }
}

extension SlabBytes {
    /// Compared with `other` as redis's sdscmp: bytes, then length (<0, 0, >0).
    func compare(_ other: UnsafeRawBufferPointer) -> Int {
        if let c = contiguous {
            let n = Swift.min(c.count, other.count)
            if n > 0 {
                let r = memcmp(c.baseAddress!, other.baseAddress!, n)
                if r != 0 { return Int(r) }
            }
            return c.count - other.count
        }
        var result = 0
        var at = 0
        forEachPiece { piece in
            guard result == 0, at < other.count else { return }
            let n = Swift.min(piece.count, other.count - at)
            let r = memcmp(piece.baseAddress!, other.baseAddress! + at, n)
            if r != 0 { result = Int(r) }
            at += n
        }
        return result != 0 ? result : count - other.count
    }

    /// A sorted set member's value: the 8 bytes of its score.
    public var score: Double {
        if let c = contiguous { return Double(bitPattern: c.loadUnaligned(as: UInt64.self)) }
        var bits: UInt64 = 0
        var at = 0
        withUnsafeMutableBytes(of: &bits) { dst in
            forEachPiece { piece in
                let n = Swift.min(piece.count, 8 - at)
                if n > 0 { memcpy(dst.baseAddress! + at, piece.baseAddress!, n) }
                at += n
            }
        }
        return Double(bitPattern: bits)
    }
}
