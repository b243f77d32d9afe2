// An item is raw slab memory: a 44-byte header, the key, then the value (without memcached's
// trailing "\r\n": the reply writer adds it from its own buffer, which costs no extra iovec).
// There is no Swift object per item and no ARC: an `Item` is a pointer with typed accessors.
//
//   offset  size  field
//        0     8  cas unique
//        8     4  LRU next (slab handle, towards the tail)
//       12     4  LRU prev (towards the head)
//       16     4  hash chain next
//       20     4  access word: last access time, process-clock seconds modulo 2^24 (low 24
//                 bits), and the LFU counter (top 8 bits, redis's logarithmic counter; see
//                 EvictionPolicy.swift). Redis keeps LFU's 16-bit minutes-since-decay and the
//                 counter in its 24-bit lru field; here the decay time is the access time itself
//                 (redis sets it at every access too), so one word holds both at all times and a
//                 policy change at run time reinterprets nothing. Ages are taken modulo 2^24 s
//                 (194 days, redis's LRU clock range).
//       24     4  expiry (process clock; 0 = never)
//       28     4  value length in bytes
//       32     4  client flags
//       36     2  refcount (atomic; the hash table's link holds one reference)
//       38     1  item flags (linked, fetched, active, chunked)
//       39     1  slab class id (low 6 bits) | LRU (top 2 bits); a chunked item is listed in
//                 the largest class (its chunks come from there, so eviction there frees them),
//                 and its header's own class follows from its key length and chunk count
//       40     1  key length
//       41     1  keyspace: value type (low 3 bits, `ItemType`) | binary key (bit 3: a meta set
//                 named it in base64, memcached's ITEM_KEY_BINARY, so mg's k returns it so) |
//                 Redis database 0-15 (top 4 bits); the memcached port sees database 0's strings only
//       42     2  expiry milliseconds: 0 for memcached's whole-second expiry; a Redis PX/PEXPIRE
//                 time sets bit 15 and the milliseconds (0-999) of its last second (see `expired`)
//       44     -  key, then value; a chunked item has instead a table of chunk handles after the key
//
// The header is 44 bytes against memcached's 56 (48 + CAS): a 10-byte key with a 96-byte value
// fits the 152-byte class, where memcached needs the 192-byte one.
import SlabAllocator
import Synchronization

public enum ItemLayout {
    public static let headerSize = 44
    public static let maxKeyLength = 250
    static let casOffset = 0
    static let nextOffset = 8
    static let prevOffset = 12
    static let hashNextOffset = 16
    static let timeOffset = 20
    static let expiryOffset = 24
    static let valueLengthOffset = 28
    static let clientFlagsOffset = 32
    static let refcountOffset = 36
    static let flagsOffset = 38
    static let classOffset = 39
    static let keyLengthOffset = 40
    static let keyspaceOffset = 41
    static let expiryMsOffset = 42
    /// Redis's 16 databases (SELECT 0-15).
    public static let databaseCount = 16

    /// Bytes an unchunked item needs for its header, key and value.
    @inlinable
    public static func totalSize(keyLength: Int, valueLength: Int) -> Int {
        headerSize + keyLength + valueLength
    }

    /// The size memcached 1.6.18 gives the same item (items.c's item_make_header and
    /// do_item_alloc): its 48-byte header, the key and a NUL, 4 bytes of client flags unless they
    /// are 0, the value and its "\r\n", and 8 bytes of CAS unless -C. -I limits this size, so
    /// that the largest value stored is memcached's for the same key, flags and -I; it is always
    /// larger than `totalSize`, so the item fits this layout too.
    @inlinable
    public static func memcachedSize(keyLength: Int, valueLength: Int, flags: UInt32, cas: Bool) -> Int {
        48 + keyLength + 1 + (flags == 0 ? 0 : 4) + valueLength + 2 + (cas ? 8 : 0)
    }
}

/// Item flag bits (byte 38). Changed only with the item's lock held.
public enum ItemFlag {
    public static let linked: UInt8 = 1
    public static let fetched: UInt8 = 2
    public static let active: UInt8 = 4
    public static let chunked: UInt8 = 8
    /// A chunked item whose last chunk came from the largest class (its own class had no memory).
    public static let lastChunkFull: UInt8 = 0x10
    /// Marked stale by a meta delete or set with I (invalidate): readers see X and one wins W.
    public static let stale: UInt8 = 0x20
    /// A meta get already handed out the win token (W) for this item; later readers see Z.
    public static let tokenSent: UInt8 = 0x40
    /// An LRU crawler's marker, not an item: walkers skip it.
    public static let crawler: UInt8 = 0x80
}

/// What an item's value is. Strings are memcached's values and Redis's strings; the other Redis
/// types keep their own structure in the value.
public enum ItemType: UInt8, Sendable {
    case string = 0, list = 1, hash = 2, set = 3, zset = 4, stream = 5
}

/// The four segments of each class's LRU, in the item's top two class bits.
public enum LRUSegment: Int, Sendable, CaseIterable {
    case hot = 0, warm = 1, cold = 2, temp = 3
}

/// A view of one item in slab memory.
public struct Item: Equatable {
    public let raw: UnsafeMutableRawPointer

    @inline(__always) public init(_ raw: UnsafeMutableRawPointer) { self.raw = raw }

    @inline(__always) public internal(set) var cas: UInt64 {
        get { raw.load(fromByteOffset: ItemLayout.casOffset, as: UInt64.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: ItemLayout.casOffset, as: UInt64.self) }
    }
    @inline(__always) var next: SlabHandle {
        get { raw.load(fromByteOffset: ItemLayout.nextOffset, as: UInt32.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: ItemLayout.nextOffset, as: UInt32.self) }
    }
    @inline(__always) var prev: SlabHandle {
        get { raw.load(fromByteOffset: ItemLayout.prevOffset, as: UInt32.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: ItemLayout.prevOffset, as: UInt32.self) }
    }
    @inline(__always) var hashNext: SlabHandle {
        get { raw.load(fromByteOffset: ItemLayout.hashNextOffset, as: UInt32.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: ItemLayout.hashNextOffset, as: UInt32.self) }
    }
    /// The access word (time and LFU counter, see the layout above); copied whole by moves.
    @inline(__always) var accessWord: UInt32 {
        get { raw.load(fromByteOffset: ItemLayout.timeOffset, as: UInt32.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: ItemLayout.timeOffset, as: UInt32.self) }
    }
    /// Seconds since the last access at process time `now` (modulo 2^24).
    @inline(__always) public func idle(now: UInt32) -> UInt32 { (now &- accessWord) & 0xFF_FFFF }
    /// The process time of the last access, as seen from `now`.
    @inline(__always) public func lastAccess(now: UInt32) -> UInt32 { now &- idle(now: now) }
    /// Records an access at `now`, keeping the LFU counter.
    @inline(__always) func setAccessTime(_ now: UInt32) {
        accessWord = (accessWord & 0xFF00_0000) | (now & 0xFF_FFFF)
    }
    /// The LFU counter as last stored (not decayed).
    @inline(__always) var lfuCounter: UInt8 {
        get { UInt8(truncatingIfNeeded: accessWord >> 24) }
        nonmutating set { accessWord = (accessWord & 0xFF_FFFF) | UInt32(newValue) << 24 }
    }
    @inline(__always) public internal(set) var expiry: UInt32 {
        get { raw.load(fromByteOffset: ItemLayout.expiryOffset, as: UInt32.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: ItemLayout.expiryOffset, as: UInt32.self) }
    }
    @inline(__always) public internal(set) var valueLength: Int {
        get { Int(raw.load(fromByteOffset: ItemLayout.valueLengthOffset, as: UInt32.self)) }
        nonmutating set { raw.storeBytes(of: UInt32(newValue), toByteOffset: ItemLayout.valueLengthOffset, as: UInt32.self) }
    }
    @inline(__always) public internal(set) var clientFlags: UInt32 {
        get { raw.load(fromByteOffset: ItemLayout.clientFlagsOffset, as: UInt32.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: ItemLayout.clientFlagsOffset, as: UInt32.self) }
    }
    @inline(__always) var refcount: UnsafeMutablePointer<Atomic<UInt16>> {
        (raw + ItemLayout.refcountOffset).assumingMemoryBound(to: Atomic<UInt16>.self)
    }
    @inline(__always) public internal(set) var flags: UInt8 {
        get { raw.load(fromByteOffset: ItemLayout.flagsOffset, as: UInt8.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: ItemLayout.flagsOffset, as: UInt8.self) }
    }
    @inline(__always) var classAndSegment: UInt8 {
        get { raw.load(fromByteOffset: ItemLayout.classOffset, as: UInt8.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: ItemLayout.classOffset, as: UInt8.self) }
    }
    @inline(__always) public var slabClass: Int { Int(classAndSegment & 0x3f) }
    @inline(__always) var segment: Int { Int(classAndSegment >> 6) }
    /// Index of the item's LRU list: class id | segment << 6.
    @inline(__always) var lruID: Int { Int(classAndSegment) }
    @inline(__always) public internal(set) var keyLength: Int {
        get { Int(raw.load(fromByteOffset: ItemLayout.keyLengthOffset, as: UInt8.self)) }
        nonmutating set { raw.storeBytes(of: UInt8(newValue), toByteOffset: ItemLayout.keyLengthOffset, as: UInt8.self) }
    }
    @inline(__always) var keyspace: UInt8 {
        get { raw.load(fromByteOffset: ItemLayout.keyspaceOffset, as: UInt8.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: ItemLayout.keyspaceOffset, as: UInt8.self) }
    }
    /// The value's type.
    @inline(__always) public var type: ItemType { ItemType(rawValue: keyspace & 0x07) ?? .string }
    /// A meta set with the b flag stored it: its key is returned in base64 (memcached's
    /// ITEM_KEY_BINARY). Cleared by whatever stores the key anew without it.
    @inline(__always) public var binaryKey: Bool {
        get { keyspace & 0x08 != 0 }
        nonmutating set { keyspace = newValue ? keyspace | 0x08 : keyspace & ~0x08 }
    }
    /// The Redis database (0 for everything the memcached port stores).
    @inline(__always) public var database: Int { Int(keyspace >> 4) }
    /// Bit 15: the expiry is precise to the millisecond; low 10 bits: its milliseconds.
    @inline(__always) var expiryMs: UInt16 {
        get { raw.load(fromByteOffset: ItemLayout.expiryMsOffset, as: UInt16.self) }
        nonmutating set { raw.storeBytes(of: newValue, toByteOffset: ItemLayout.expiryMsOffset, as: UInt16.self) }
    }
    @inline(__always) public var key: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: raw + ItemLayout.headerSize, count: keyLength)
    }
    @inline(__always) public var isChunked: Bool { flags & ItemFlag.chunked != 0 }
    /// Start of the value of an unchunked item.
    @inline(__always) public var value: UnsafeMutableRawPointer {
        raw + ItemLayout.headerSize + keyLength
    }

    @inline(__always) func keyEquals(_ other: UnsafeRawBufferPointer, database: Int) -> Bool {
        let n = other.count
        guard keyLength == n, Int(keyspace >> 4) == database else { return false }
        let mine = UnsafeRawPointer(raw + ItemLayout.headerSize)
        let theirs = other.baseAddress!
        if n <= 16 && n >= 8 {
            // Short keys, the common case: two overlapping 8-byte compares instead of a memcmp call.
            return mine.loadUnaligned(as: UInt64.self) == theirs.loadUnaligned(as: UInt64.self)
                && mine.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self) == theirs.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
        }
        return memcmp(mine, theirs, n) == 0
    }
}

#if canImport(Glibc)
import Glibc
#endif
