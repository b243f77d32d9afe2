// The compact header of a keyless item: a Redis hash's, set's or sorted set's hashtable entry
// (one member, HashLayout.swift). Such an entry is never in the engine's hash table or an LRU,
// never referenced by a reply, never expires and has no key, so the 44-byte item header's CAS,
// access time, expiry, refcount and LRU class bits are dead weight on it; 24 bytes carry what it
// uses, and it lives in an engine-only keyless slab class (40...128 bytes, SlabClasses.swift)
// instead of rounding up to memcached's smallest class (96 with the default -n 48):
//
//   offset  size  field
//        0     4  the field's hash (the 44-byte entry keeps it in the low half of its CAS)
//        4     2  field length
//        6     1  flags (`KeylessFlag`: a sorted-set member folded with its node)
//        7     1  keyless class id (64...75), never 0
//        8     4  next entry in insertion order (as the item header's LRU next)
//       12     4  previous entry                (as the item header's LRU prev)
//       16     4  next entry in the bucket      (as the item header's hash next)
//       20     4  pair length: field + value
//       24     -  field, then value
//
// next, prev and hash next sit at the item header's offsets, so the index, the insertion-order
// chain and the free chains (CacheEngine+ListFree.swift) walk both kinds the same. Byte 7 tells
// them apart: on a 44-byte keyless item (list nodes, index items, skip-list nodes, an entry too
// large for a keyless class or allocated when the keyless classes had no memory) it is the top
// byte of a CAS that is 0 (or a 32-bit field hash) for every keyless item. A compact entry is
// freed straight into its class (no refcount: only the owning key's operations, under its item
// lock, ever reach it). Their pages are never moved by the page mover (they are not memcached's
// classes), and a warm restart, which keeps no Redis hash, set or sorted set, gives them back free.
import SlabAllocator
#if canImport(Glibc)
import Glibc
#endif

/// Compact header flag bits (byte 6).
enum KeylessFlag {
    /// A sorted-set member folded with its skip-list node (ZSetLayout.swift).
    static let zsetNode: UInt8 = 1
}

enum KeylessLayout {
    static let headerSize = 24
    static let hashOffset = 0
    static let fieldLengthOffset = 4
    static let flagsOffset = 6
    static let classOffset = 7
    static let lengthOffset = 20
    /// The longest field a compact entry records (a longer one takes the 44-byte header).
    static let maxFieldLength = Int(UInt16.max)
}

extension Item {
    /// A compact keyless item (KeylessLayout), not one with the 44-byte header.
    @inline(__always) var isCompact: Bool { raw.load(fromByteOffset: KeylessLayout.classOffset, as: UInt8.self) != 0 }
    /// A compact item's flag bits (`KeylessFlag`).
    @inline(__always) var keylessFlags: UInt8 { raw.load(fromByteOffset: KeylessLayout.flagsOffset, as: UInt8.self) }
    /// A compact item's keyless class id.
    @inline(__always) var compactClass: Int { Int(raw.load(fromByteOffset: KeylessLayout.classOffset, as: UInt8.self)) }

    /// A hashtable entry's field and value bytes together.
    @inline(__always) var entryLength: Int {
        isCompact ? Int(raw.load(fromByteOffset: KeylessLayout.lengthOffset, as: UInt32.self)) : valueLength
    }
    /// A hashtable entry's first byte (its field), when not chunked.
    @inline(__always) var entryData: UnsafeMutableRawPointer {
        isCompact ? raw + KeylessLayout.headerSize : value
    }
    /// A hashtable entry whose bytes lie in chunks (only 44-byte entries can be chunked).
    @inline(__always) var entryChunked: Bool { !isCompact && isChunked }
}

extension CacheEngine {
    /// A new hashtable entry for a pair of `length` bytes whose field has `fieldLength`, unlinked,
    /// header set, bytes not yet written; nil when no memory. Compact in a keyless class when
    /// the pair fits one (with `extra` bytes after it: a folded skip-list node) and it has (or
    /// can take) a chunk; else, as before, an item with the 44-byte header from memcached's
    /// classes (which may evict to make room), counted in `keylessFallbacks` when only memory
    /// stood in the way. `compactOnly`: nil rather than a 44-byte entry.
    func newEntry(fieldLength: Int, length: Int, hash: UInt32, extra: Int = 0, flags: UInt8 = 0,
                  compactOnly: Bool = false) -> Item? {
        let cls = SlabClassTable.keylessClassID(forSize: KeylessLayout.headerSize + length + extra)
        if cls != 0 && fieldLength <= KeylessLayout.maxFieldLength {
            var h = slabs.allocate(classID: cls)
            // Members of deleted keys waiting for the lazy freer come back first.
            if h == 0 && listFreeStep(maxNodes: Self.listInlineFreeNodes) > 0 { h = slabs.allocate(classID: cls) }
            if h != 0 {
                let e = Item(arena.pointer(h))
                e.raw.storeBytes(of: UInt32(hash), toByteOffset: KeylessLayout.hashOffset, as: UInt32.self)
                e.raw.storeBytes(of: UInt16(fieldLength), toByteOffset: KeylessLayout.fieldLengthOffset, as: UInt16.self)
                e.raw.storeBytes(of: flags, toByteOffset: KeylessLayout.flagsOffset, as: UInt8.self)
                e.raw.storeBytes(of: UInt8(cls), toByteOffset: KeylessLayout.classOffset, as: UInt8.self)
                e.next = 0
                e.prev = 0
                e.hashNext = 0
                e.raw.storeBytes(of: UInt32(length), toByteOffset: KeylessLayout.lengthOffset, as: UInt32.self)
                return e
            }
            keylessFallbacks.add(1, ordering: .relaxed)
        }
        if compactOnly { return nil }
        guard case .item(let e) = allocate(key: Self.noKey, flags: UInt32(fieldLength), expiry: 0, valueLength: length) else {
            return nil
        }
        e.entryHash = hash
        e.next = 0
        e.prev = 0
        e.hashNext = 0
        return e
    }

    /// A copy of entry `e` (same field, value and hash), unlinked; nil when no memory.
    func copyEntry(_ e: Item) -> Item? {
        guard let c = newEntry(fieldLength: e.entryFieldLength, length: e.entryLength, hash: e.entryHash) else { return nil }
        if e.entryChunked {
            if c.entryChunked { copyValue(from: e, to: c, at: 0) } else {
                var at = 0
                entryField(e).forEachPiece { writeEntry(c, at: at, $0); at += $0.count }
                entryValue(e).forEachPiece { writeEntry(c, at: at, $0); at += $0.count }
            }
        } else {
            writeEntry(c, at: 0, UnsafeRawBufferPointer(start: e.entryData, count: e.entryLength))
        }
        return c
    }

    /// Copies `bytes` into entry `e`'s pair bytes at `offset`.
    @inline(__always)
    func writeEntry(_ e: Item, at offset: Int, _ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        if e.isCompact {
            memcpy(e.raw + KeylessLayout.headerSize + offset, bytes.baseAddress!, bytes.count)
        } else {
            writeValue(e, at: offset, bytes)
        }
    }

    /// Frees a keyless item of either header: a compact one straight into its class, one with
    /// the item header by dropping its (only) reference. A 44-byte sorted-set entry names its
    /// skip-list node in its (otherwise unused) expiry field: the node goes with it.
    @inline(__always)
    func releaseKeyless(_ n: Item) {
        if n.isCompact {
            if memoryRefusing.load(ordering: .relaxed) { memoryRefusing.store(false, ordering: .relaxed) }
            slabs.free(arena.handle(n.raw), classID: n.compactClass)
        } else {
            if n.keyLength == 0 && n.expiry != 0 {
                let x = node(n.expiry)
                n.expiry = 0
                releaseKeyless(x)
            }
            refDecrement(n)
        }
    }
}
