// How a Redis sorted set lies in slab memory. It is the hash structure (HashLayout.swift) under a
// root of type `.zset`, each member's value its score (the 8 bytes of a Double), in redis 7.0's
// two encodings:
//
// - listpack (at most `zsetListpackEntries` members, each at most `zsetListpackValue` bytes):
//   the hash's packed node, its pairs kept in (score, member bytes) order, so a range, a rank or
//   a pop is a walk of at most 128 pairs in one chunk.
// - skiplist: the hash's hashtable (member → score, O(1) ZSCORE) plus a skip list with span
//   counts (redis's zskiplist: O(log n) insert, delete, rank and rank → member at any size). Its
//   nodes are keyless items, never in the engine's table or an LRU: compact ones (level 1-8, in a
//   keyless class, `ZslNode` below) or list nodes (`allocListNode`: the header, taller nodes, or
//   when the keyless class has no memory), a list node's value:
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

/// A skip-list node's fields: in the value of a list node (44-byte header), or packed into and
/// after a compact keyless header (KeylessLayout.swift) where an entry's unused fields lie:
///
///   compact node    offset  size  field
///                        0     4  backward
///                        4     1  level
///                        7     1  keyless class (the compact header's)
///                        8     4  next: level 0's forward (the free chain), as every keyless item
///                       12     4  entry
///                       16     4  hash next (the lazy freer's chain of chains)
///                       24     8  score
///                       32 + 8 i  forward handle and span of level i
///
/// so a node of level 1, 2 or 3 (98 % of them) takes a 40-, 48- or 56-byte chunk where the value
/// layout above takes a 96-byte one. The header node (32 levels) and nodes past level 8 are list nodes.
struct ZslNode {
    static let maxLevel = 32
    let item: Item
    /// Compact (the offsets in the comment above), else the list-node value layout.
    let compact: Bool

    @inline(__always) init(_ item: Item) {
        self.item = item
        compact = item.isCompact
    }

    /// A list node's value bytes for `level` levels.
    static func capacity(level: Int) -> Int { 24 + 8 * level }
    /// A compact node's bytes for `level` levels.
    static func compactSize(level: Int) -> Int { 32 + 8 * level }

    @inline(__always) private func at(_ compactOffset: Int, _ valueOffset: Int) -> UnsafeMutableRawPointer {
        compact ? item.raw + compactOffset : item.value + valueOffset
    }

    var score: Double {
        @inline(__always) get { Double(bitPattern: UnsafeRawPointer(at(24, 0)).loadUnaligned(as: UInt64.self)) }
        @inline(__always) nonmutating set { at(24, 0).storeBytes(of: newValue.bitPattern, as: UInt64.self) }
    }
    var entry: SlabHandle {
        @inline(__always) get { UnsafeRawPointer(at(12, 8)).loadUnaligned(as: UInt32.self) }
        @inline(__always) nonmutating set { at(12, 8).storeBytes(of: newValue, as: UInt32.self) }
    }
    var level: Int {
        @inline(__always) get { Int(UnsafeRawPointer(at(4, 12)).load(as: UInt8.self)) }
        @inline(__always) nonmutating set { at(4, 12).storeBytes(of: UInt8(newValue), as: UInt8.self) }
    }
    var backward: SlabHandle {
        @inline(__always) get { UnsafeRawPointer(at(0, 16)).loadUnaligned(as: UInt32.self) }
        @inline(__always) nonmutating set { at(0, 16).storeBytes(of: newValue, as: UInt32.self) }
    }
    @inline(__always) func forward(_ i: Int) -> SlabHandle {
        UnsafeRawPointer(at(32, 24)).loadUnaligned(fromByteOffset: 8 * i, as: UInt32.self)
    }
    /// Level 0's forward is mirrored in the header's next (the free chain).
    @inline(__always) func setForward(_ i: Int, _ h: SlabHandle) {
        at(32, 24).storeBytes(of: h, toByteOffset: 8 * i, as: UInt32.self)
        if i == 0 { item.next = h }
    }
    @inline(__always) func span(_ i: Int) -> Int {
        Int(UnsafeRawPointer(at(36, 28)).loadUnaligned(fromByteOffset: 8 * i, as: UInt32.self))
    }
    @inline(__always) func setSpan(_ i: Int, _ s: Int) {
        at(36, 28).storeBytes(of: UInt32(truncatingIfNeeded: s), toByteOffset: 8 * i, as: UInt32.self)
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
