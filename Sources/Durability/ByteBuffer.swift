// Growable raw bytes for building records: one allocation that is kept and reused across
// flushes, so that appending a record allocates nothing in the steady state. A plain struct over
// an unsafe pointer (no copy-on-write, no ARC): the owner frees it with `deallocate()` and must
// not copy it while both copies are in use. The hot methods are inlinable so that the integer
// appends are specialized in the modules that build records.

/// Growable bytes, little-endian integer appends; freed explicitly with `deallocate()`.
public struct ByteBuffer {
    @usableFromInline var storage: UnsafeMutableRawPointer?
    @usableFromInline var used = 0
    @usableFromInline var capacity = 0
    /// Writes into memory someone else owns (`init(borrowing:)`): never grown nor freed.
    @usableFromInline var borrowed = false

    /// An empty buffer; nothing is allocated until the first append.
    @inlinable public init() {}

    /// A view over `capacity` bytes at `base`, `count` of them already written, that appends
    /// write into in place (a log segment's memory chunk). The owner keeps the memory: the view
    /// must never need to grow (a precondition stops it rather than free what it does not own),
    /// and is not deallocated.
    @inlinable public init(borrowing base: UnsafeMutableRawPointer, count: Int, capacity: Int) {
        storage = base
        used = count
        self.capacity = capacity
        borrowed = true
    }

    /// The first byte (nil until something was reserved).
    @inlinable public var base: UnsafeMutableRawPointer? { storage }
    /// Bytes appended.
    @inlinable public var count: Int { used }
    /// What was appended.
    @inlinable public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: storage, count: used) }

    /// Room for `n` more bytes after `count` (doubling, at least 4 KB).
    @inlinable public mutating func reserve(_ n: Int) {
        if used + n <= capacity { return }
        grow(to: used + n)
    }

    @usableFromInline mutating func grow(to needed: Int) {
        precondition(!borrowed, "a borrowed ByteBuffer cannot grow")
        var c = max(4096, capacity * 2)
        while c < needed { c *= 2 }
        let grown = UnsafeMutableRawPointer.allocate(byteCount: c, alignment: 8)
        if let storage { grown.copyMemory(from: storage, byteCount: used); storage.deallocate() }
        storage = grown
        capacity = c
    }

    /// Appends `v` little-endian.
    @inlinable public mutating func append<T: FixedWidthInteger>(_ v: T) {
        reserve(MemoryLayout<T>.size)
        storage!.storeBytes(of: v.littleEndian, toByteOffset: used, as: T.self)
        used += MemoryLayout<T>.size
    }

    /// Appends raw bytes.
    @inlinable public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        reserve(bytes.count)
        (storage! + used).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        used += bytes.count
    }

    /// Counts `n` bytes written straight into space made by `reserve` (at `base + count`).
    @inlinable public mutating func advance(_ n: Int) { used += n }

    /// Overwrites four bytes at `offset` with `v` little-endian (a header filled in afterwards).
    @inlinable public mutating func patch(_ v: UInt32, at offset: Int) {
        storage!.storeBytes(of: v.littleEndian, toByteOffset: offset, as: UInt32.self)
    }

    /// Empties the buffer and keeps its memory.
    @inlinable public mutating func removeAll() { used = 0 }

    /// Frees the memory; the buffer is empty and usable again.
    public mutating func deallocate() {
        precondition(!borrowed, "a borrowed ByteBuffer is not freed by its view")
        storage?.deallocate()
        storage = nil
        used = 0
        capacity = 0
    }
}
