// Unlinked items used as plain buffers: a log segment's memory chunks (Broker/Log/SegmentMemory.swift)
// are keyless items that are never in the hash table or an LRU (so never evicted), as queue
// message bodies are. They come from the same slab allocator as the cache's items and count in
// `-m` and in `stats slabs` like any item; the engine frees their chunk when the last reference goes
// (`release`). Only unchunked items are handed out, so each buffer is one contiguous slab chunk.
extension CacheEngine {
    /// The value room of the largest unchunked item whose slab class's chunks are at most
    /// `bytes`: a buffer of that room fills its chunk exactly (no bytes of the chunk unused).
    /// At least the smallest class's room.
    public func bufferRoom(atMost bytes: Int) -> Int {
        let sizes = slabs.table.chunkSizes
        var best = sizes.count > 1 ? sizes[1] : 0
        for s in sizes.dropFirst() where s <= bytes { best = s }
        return max(0, best - ItemLayout.headerSize)
    }

    /// The largest buffer one slab chunk holds (`-o slab_chunk_max` less the item header).
    public var bufferMax: Int { slabs.table.chunkMax - ItemLayout.headerSize }

    /// A new unlinked keyless item of `bytes` bytes of value in one slab chunk (one reference, for
    /// the caller to `release`), its value at `value`. Nil when `bytes` exceeds `bufferMax` or -I,
    /// or the slabs have no memory for it (nothing evictable in its class).
    public func allocateBuffer(_ bytes: Int) -> Item? {
        guard bytes <= bufferMax else { return nil }
        let empty = UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: 8), count: 0)
        guard case .item(let it) = allocate(key: empty, flags: 0, expiry: 0, valueLength: bytes) else { return nil }
        return it
    }
}
