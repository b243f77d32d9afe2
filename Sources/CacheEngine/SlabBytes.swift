// One byte view over slab memory for every Redis type whose bytes live in keyless node items:
// a list element, a hash field or value, a set or sorted-set member. The bytes lie in one piece
// (a packed node, an unchunked entry) or at an offset of a chunked item's value. Handed out while
// the engine operation that finds them runs (under the key's item lock): copy, never keep.
import SlabAllocator
#if canImport(Glibc)
import Glibc
#endif

/// A hash's field or value, a set's member (CacheEngine+Hash.swift).
public typealias HashBytes = SlabBytes
/// A list's element (CacheEngine+List.swift).
public typealias ListElement = SlabBytes

/// Bytes in slab memory, readable while the engine operation that hands them out runs.
public struct SlabBytes {
    let engine: CacheEngine
    let item: Item
    /// The bytes, when they lie in one piece; nil: at `offset` of a chunked item's value.
    let start: UnsafeRawPointer?
    let offset: Int
    public let count: Int

    /// The bytes in contiguous pieces (one unless they lie in a chunked item).
    public func forEachPiece(_ body: (UnsafeRawBufferPointer) -> Void) {
        if let start { return body(UnsafeRawBufferPointer(start: start, count: count)) }
        guard count > 0 else { return }
        var done = 0
        while done < count {
            let space = engine.valueSpace(item, from: offset + done)
            let n = min(space.count, count - done)
            body(UnsafeRawBufferPointer(start: space.baseAddress!, count: n))
            done += n
        }
    }

    /// Whether the bytes are `other`'s.
    public func equals(_ other: UnsafeRawBufferPointer) -> Bool {
        guard other.count == count else { return false }
        if count == 0 { return true }
        if let start { return memcmp(start, other.baseAddress!, count) == 0 }
        var at = 0
        var same = true
        forEachPiece { piece in
            if same && memcmp(piece.baseAddress!, other.baseAddress! + at, piece.count) != 0 { same = false }
            at += piece.count
        }
        return same
    }

    /// The bytes, copied.
    public var bytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(count)
        forEachPiece { out.append(contentsOf: $0) }
        return out
    }

    /// The bytes when they are contiguous (no copy), else nil.
    public var contiguous: UnsafeRawBufferPointer? {
        start.map { UnsafeRawBufferPointer(start: $0, count: count) }
    }
}
