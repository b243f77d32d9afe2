// How a Redis sorted set lies in slab memory. It is the hash structure (HashLayout.swift) under a
// root of type `.zset`, each member's value its score (the 8 bytes of a Double), in redis 7.0's
// two encodings:
//
// - listpack (at most `zsetListpackEntries` members, each at most `zsetListpackValue` bytes):
//   the hash's packed node, its pairs kept in (score, member bytes) order, so a range, a rank or
//   a pop is a walk of at most 128 pairs in one chunk.
// - skiplist: the hash's hashtable (member → score, O(1) ZSCORE) plus a skip list with span
//   counts (redis's zskiplist: O(log n) insert, delete, rank and rank → member at any size). A
//   member and its node are one item when they fit a keyless class (the folded member, `ZslNode`
//   below: one item per member, as redis's dictEntry and zskiplistNode share the member's sds);
//   else (a long member, a tall node, no memory in the keyless class) the member is a 44-byte
//   entry whose expiry field names a node of its own: compact (levels 1-12, in a keyless class)
//   or a list node (`allocListNode`), never in the engine's table or an LRU. A list node's value:
//       0  score        Double
//       8  entry        the hash entry holding the member's bytes (compared through it; a member
//                       never lies twice in memory)
//      12  level        UInt8 (1...32)
//      16  backward     the previous node (0: the first); the header's holds the tail
//      24  + 8 i        forward handle and span (UInt32 each) of level i
//   A deleted set's entries chain (insertion order) holds every member; the header is appended
//   to it in one store, a node of its own goes with its entry (`releaseKeyless`), and the list
//   freer takes everything (CacheEngine+HashFree.swift).
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
///
/// A member folded with its node (a compact entry flagged `KeylessFlag.zsetNode`: most members,
/// see CacheEngine+ZSetFold.swift) has no node of its own: the node's fields follow the member
/// and its score in the entry,
///
///   folded member   offset  size  field
///                        0    24  compact header (KeylessLayout.swift), pair length member + 8
///                       24     f  member
///                   24 + f     8  score
///                   32 + f     4  backward
///                   36 + f     1  level
///               37 + f + 8 i   8  forward handle and span of level i
///
/// and its `entry` is itself (`zslEntry`).
struct ZslNode {
    static let maxLevel = 32
    let item: Item
    /// The member's entry is this item (a folded member).
    let folded: Bool
    private let scoreAt: UnsafeMutableRawPointer
    private let backwardAt: UnsafeMutableRawPointer
    private let levelAt: UnsafeMutableRawPointer
    /// Level i's forward handle at + 8 i, its span at + 8 i + 4.
    private let levelsAt: UnsafeMutableRawPointer

    @inline(__always) init(_ item: Item) {
        self.item = item
        if item.isCompact {
            if item.keylessFlags & KeylessFlag.zsetNode != 0 {
                folded = true
                scoreAt = item.raw + KeylessLayout.headerSize + item.entryFieldLength
                backwardAt = scoreAt + 8
                levelAt = scoreAt + 12
                levelsAt = scoreAt + 13
            } else {
                folded = false
                scoreAt = item.raw + 24
                backwardAt = item.raw
                levelAt = item.raw + 4
                levelsAt = item.raw + 32
            }
        } else {
            folded = false
            let v = item.value
            scoreAt = v
            backwardAt = v + 16
            levelAt = v + 12
            levelsAt = v + 24
        }
    }

    /// A folded member's bytes for a member of `memberLength` bytes and `level` levels.
    static func foldedSize(memberLength: Int, level: Int) -> Int { KeylessLayout.headerSize + memberLength + 13 + 8 * level }

    /// A list node's value bytes for `level` levels.
    static func capacity(level: Int) -> Int { 24 + 8 * level }
    /// A compact node's bytes for `level` levels.
    static func compactSize(level: Int) -> Int { 32 + 8 * level }

    var score: Double {
        @inline(__always) get { Double(bitPattern: UnsafeRawPointer(scoreAt).loadUnaligned(as: UInt64.self)) }
        @inline(__always) nonmutating set { scoreAt.storeBytes(of: newValue.bitPattern, as: UInt64.self) }
    }
    /// The entry holding the member (a node of its own: not folded); see `zslEntry`.
    var entry: SlabHandle {
        @inline(__always) get {
            if folded { return 0 }  // the member is this item (zslEntry)
            return UnsafeRawPointer(compact ? item.raw + 12 : item.value + 8).loadUnaligned(as: UInt32.self)
        }
        @inline(__always) nonmutating set {
            guard !folded else { return }
            (compact ? item.raw + 12 : item.value + 8).storeBytes(of: newValue, as: UInt32.self)
        }
    }
    private var compact: Bool { item.isCompact }
    var level: Int {
        @inline(__always) get { Int(UnsafeRawPointer(levelAt).load(as: UInt8.self)) }
        @inline(__always) nonmutating set { levelAt.storeBytes(of: UInt8(newValue), as: UInt8.self) }
    }
    var backward: SlabHandle {
        @inline(__always) get { UnsafeRawPointer(backwardAt).loadUnaligned(as: UInt32.self) }
        @inline(__always) nonmutating set { backwardAt.storeBytes(of: newValue, as: UInt32.self) }
    }
    @inline(__always) func forward(_ i: Int) -> SlabHandle {
        UnsafeRawPointer(levelsAt).loadUnaligned(fromByteOffset: 8 * i, as: UInt32.self)
    }
    /// The item header's next is not touched: a folded member's next is its insertion order
    /// (the free chain), and a node of its own is freed with its entry (`releaseKeyless`).
    @inline(__always) func setForward(_ i: Int, _ h: SlabHandle) {
        levelsAt.storeBytes(of: h, toByteOffset: 8 * i, as: UInt32.self)
    }
    @inline(__always) func span(_ i: Int) -> Int {
        Int(UnsafeRawPointer(levelsAt).loadUnaligned(fromByteOffset: 8 * i + 4, as: UInt32.self))
    }
    @inline(__always) func setSpan(_ i: Int, _ s: Int) {
        levelsAt.storeBytes(of: UInt32(truncatingIfNeeded: s), toByteOffset: 8 * i + 4, as: UInt32.self)
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
