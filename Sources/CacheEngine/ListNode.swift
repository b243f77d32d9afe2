// How a Redis list lies in slab memory. The key is a root item of type `.list`, linked in the
// hash table and the LRU like any item; its value is a fixed 32-byte descriptor (element count,
// element bytes, head and tail node handles, node count) changed in place under the key's item
// lock. The elements live in node items: slab items with no key, never linked in the hash table
// or an LRU (so never evicted or crawled on their own), chained head to tail through the header's
// LRU next/prev fields. Nodes never point back at their root, so a descriptor can move to another
// root (RENAME) with its nodes untouched.
//
// A packed node (unchunked) holds a run of elements, each `[LEB128 length][bytes][back length]`,
// like a redis listpack: up to `CacheEngine.listNodeMax` bytes, so an insert or removal moves at
// most a few KB inside one node. The back length (the size of length and bytes, as a LEB128 read
// from its last byte towards the first) lets a walk go from the tail as cheaply as from the head:
// RPOP, LINDEX -1 and LRANGE from the end touch the elements they need, not the whole node. An element too large for that gets a node of its own; one past the largest
// slab chunk gets a chunked node whose value is the element's bytes as they are.
//
// A node's header fields, reused since nothing else reads them:
//   cas          element bytes in the node (the sum of the elements' lengths)
//   next / prev  the next node towards the tail / towards the head (0: none)
//   hash next    the next chain in the lazy-free queue (`ListFreeQueue`)
//   expiry       elements in the node
//   client flags bytes used in the node's data (packed nodes)
//   value length the node's data capacity (packed) or the element's length (chunked)
import SlabAllocator
#if canImport(Glibc)
import Glibc
#endif

/// A list root's value.
struct ListDescriptor {
    static let size = 32
    var count = 0
    var bytes = 0
    var head: SlabHandle = 0
    var tail: SlabHandle = 0
    var nodes = 0
}

extension Item {
    /// The descriptor in a list root's value.
    var listDescriptor: ListDescriptor {
        get {
            let p = UnsafeRawPointer(value)
            return ListDescriptor(count: Int(p.loadUnaligned(as: UInt64.self)),
                                  bytes: Int(p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
                                  head: p.loadUnaligned(fromByteOffset: 16, as: UInt32.self),
                                  tail: p.loadUnaligned(fromByteOffset: 20, as: UInt32.self),
                                  nodes: Int(p.loadUnaligned(fromByteOffset: 24, as: UInt32.self)))
        }
        nonmutating set {
            let p = value
            p.storeBytes(of: UInt64(newValue.count), as: UInt64.self)
            p.storeBytes(of: UInt64(newValue.bytes), toByteOffset: 8, as: UInt64.self)
            p.storeBytes(of: newValue.head, toByteOffset: 16, as: UInt32.self)
            p.storeBytes(of: newValue.tail, toByteOffset: 20, as: UInt32.self)
            p.storeBytes(of: UInt32(newValue.nodes), toByteOffset: 24, as: UInt32.self)
            p.storeBytes(of: UInt32(0), toByteOffset: 28, as: UInt32.self)
        }
    }

    /// A node's bytes in use (packed nodes).
    @inline(__always) var nodeUsed: Int {
        get { Int(clientFlags) }
        nonmutating set { clientFlags = UInt32(newValue) }
    }
    /// Elements in a node.
    @inline(__always) var nodeCount: Int {
        get { Int(expiry) }
        nonmutating set { expiry = UInt32(newValue) }
    }
    /// The elements' own bytes in a node.
    @inline(__always) var nodeElementBytes: Int {
        get { Int(cas) }
        nonmutating set { cas = UInt64(newValue) }
    }
}

/// LEB128 lengths in packed nodes, and the entries they frame.
enum Varint {
    /// An element's whole entry in a packed node: length, bytes, back length.
    @inline(__always)
    static func entrySize(_ count: Int) -> Int {
        let forward = size(count) + count
        return forward + size(forward)
    }

    /// The entry at `p`: (element length, where its bytes start, the whole entry's size).
    @inline(__always)
    static func entry(_ p: UnsafeRawPointer) -> (count: Int, start: Int, size: Int) {
        let (len, s) = read(p)
        return (len, s, s + len + size(s + len))
    }

    /// Writes element `e`'s entry at `p`; returns its size.
    @inline(__always) @discardableResult
    static func writeEntry(_ e: UnsafeRawBufferPointer, to p: UnsafeMutableRawPointer) -> Int {
        let s = write(e.count, to: p)
        if e.count > 0 { memcpy(p + s, e.baseAddress!, e.count) }
        return s + e.count + writeBackward(s + e.count, to: p + s + e.count)
    }

    /// `n` as a LEB128 in reverse byte order: its last byte holds the low 7 bits (and the high
    /// bit when more come before it), so it is read from the end.
    @inline(__always) @discardableResult
    static func writeBackward(_ n: Int, to p: UnsafeMutableRawPointer) -> Int {
        let s = size(n)
        var v = UInt(n)
        for i in stride(from: s - 1, through: 0, by: -1) {
            p.storeBytes(of: UInt8(v & 0x7f) | (i > 0 ? 0x80 : 0), toByteOffset: i, as: UInt8.self)
            v >>= 7
        }
        return s
    }

    /// The entry that ends just before `end`: (its offset back from `end`, i.e. its size).
    @inline(__always)
    static func entrySizeBefore(_ end: UnsafeRawPointer) -> Int {
        var v = 0
        var shift = 0
        var i = 1
        while true {
            let b = end.load(fromByteOffset: -i, as: UInt8.self)
            v |= Int(b & 0x7f) << shift
            if b < 0x80 { return v + i }
            shift += 7
            i += 1
        }
    }

    @inline(__always)
    static func size(_ n: Int) -> Int {
        var v = UInt(n) >> 7
        var s = 1
        while v != 0 { v >>= 7; s += 1 }
        return s
    }

    @inline(__always) @discardableResult
    static func write(_ n: Int, to p: UnsafeMutableRawPointer) -> Int {
        var v = UInt(n)
        var i = 0
        while v >= 0x80 {
            p.storeBytes(of: UInt8(v & 0x7f) | 0x80, toByteOffset: i, as: UInt8.self)
            v >>= 7
            i += 1
        }
        p.storeBytes(of: UInt8(v), toByteOffset: i, as: UInt8.self)
        return i + 1
    }

    /// (length, bytes the length took).
    @inline(__always)
    static func read(_ p: UnsafeRawPointer) -> (Int, Int) {
        var v = 0
        var shift = 0
        var i = 0
        while true {
            let b = p.load(fromByteOffset: i, as: UInt8.self)
            v |= Int(b & 0x7f) << shift
            i += 1
            if b < 0x80 { return (v, i) }
            shift += 7
        }
    }
}
