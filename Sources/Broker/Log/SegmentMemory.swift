// A log segment's bytes in memory: `[start, end)` of the segment (its hot tail with a data
// directory, all of it without one) as a list of chunks, each holding whole batches. A batch never
// straddles two chunks: it is appended into the last chunk when it fits there, else into a new
// chunk (of `LogChunkAllocator.chunkBytes`, or of the batch's own size when it is larger), so a
// reader that parses a batch in place (LogBatch's checks and record walk, a stream batch's
// entries, XADD's open batch patched where it lies) still sees contiguous bytes
// (`chunk(at:)`, `pointer(at:)`). Copies of a range (the flusher's copy of new bytes) go chunk by
// chunk. Chunks start at batch boundaries, so the flusher's hot-tail trim frees whole chunks
// before the position it keeps from (`release(before:)`) and copies nothing; the kept tail is at
// most a chunk longer than asked. The unused end of a chunk a batch did not fit is not counted in
// `count` (the segment's positions stay dense) but is held until the chunk goes
// (`allocatedBytes`). Guarded by the partition's lock as the segment is; not copyable in use
// (the chunks are freed once, by `freeAll`).
import CacheEngine
import Durability
import Synchronization

/// Where a log's memory chunks come from (one per `LogMemory`, so per broker or stream store).
///
/// With an engine (the server's) every chunk is an unlinked keyless slab item, allocated and freed
/// through the cache engine as queue message bodies are (CacheEngine+Buffers.swift): log memory is
/// in `-m` and in `stats slabs`, never in the cache's hash table or LRU (so never evicted), and an
/// allocation may evict cache items of the chunk's class as any store may. The chunk size follows
/// memcached's class arithmetic: the room of the largest slab class whose chunks are at most 64 KB
/// (`bufferRoom(atMost:)`), so a log chunk fills its slab chunk exactly (with memcached's default
/// -f 1.25 and -n 48 the class of 52,984-byte chunks, 19 to a 1 MB page). Not the largest class
/// (slab_chunk_max, 512 KB): a memory-only segment rolls at 64 KB at least and the hot tail with a
/// data directory is 64 KB at least, and the trim keeps up to a chunk more than the tail, so a
/// chunk no larger than those keeps a partition's memory near its bound. A batch larger than a
/// chunk gets an item of its own size while one slab chunk holds it (`bufferMax`, 512 KB less the
/// header); a larger one (a big `produce` batch, a 1 MB XADD) is taken from the heap and counted
/// (`heapChunks`), since a chunked item's value is not contiguous. When the engine has no memory
/// for a chunk, an append of the broker port or XADD leaves its locks and has the engine move a
/// page of another class (its cache items evicted) to the chunk's at once (`makeRoom`,
/// SlabRebalancer+Forced.swift) and tries again; then a memory-only topic's append drops its
/// partition's oldest segments (LogPartition.appendFramed); an append refused for want of a chunk
/// in the end or a compaction given up for it is counted by its caller (`refusals`,
/// `log_chunk_refusals`), so a chunk found after a drop or a move is not.
/// Without an engine (unit tests) chunks are heap memory.
///
/// With a data directory the chunks are also charged to the broker's memory share (`share`: one
/// bound for queue messages and log memory, DESIGN.md §7), by their whole slab size and whatever
/// it holds (`force`): a log append is never refused for the share; while the share is full the
/// logs are pressing (`LogMemory.pressing`) and producers wait for the flusher, which trims every
/// written byte. Without a data directory the logs' own accounting charges the share batch by
/// batch (LogPartition.appendFramed), and the chunks are not charged twice.
public final class LogChunkAllocator: Sendable {
    let engine: CacheEngine?
    /// The memory share chunks are charged to (data directory only; see above).
    let share: MemoryShare?
    /// Bytes of an ordinary chunk: a batch at most this long shares a chunk with its neighbours.
    public let chunkBytes: Int
    /// Appends (and compactions) refused because the engine had no memory for a chunk; counted by
    /// the caller that gives up (see above), not by `allocate`.
    public let refusals = Atomic<UInt64>(0)
    /// Chunks taken from the heap for batches larger than one slab chunk holds.
    public let heapChunks = Atomic<UInt64>(0)
    /// Chunks held now and their bytes (a slab item's whole size: header and room).
    public let held = Atomic<Int>(0)
    public let heldBytes = Atomic<Int>(0)

    /// The chunk size aimed at (see above).
    static let targetBytes = 64 << 10

    init(engine: CacheEngine? = nil, share: MemoryShare? = nil, chunkBytes: Int? = nil) {
        self.engine = engine
        self.share = share
        self.chunkBytes = chunkBytes ?? engine?.bufferRoom(atMost: Self.targetBytes) ?? Self.targetBytes
    }

    /// A chunk of at least `bytes` bytes: its room, its capacity and the item holding it (nil: heap
    /// memory). Nil when the engine has no memory for it (the caller counts a refusal).
    func allocate(_ bytes: Int) -> (base: UnsafeMutableRawPointer, capacity: Int, item: UnsafeMutableRawPointer?)? {
        let capacity = max(bytes, chunkBytes)
        if let engine, capacity <= engine.bufferMax {
            guard let it = engine.allocateBuffer(capacity) else { return nil }
            note(ItemLayout.totalSize(keyLength: 0, valueLength: capacity))
            return (it.value, capacity, it.raw)
        }
        if engine != nil { heapChunks.wrappingAdd(1, ordering: .relaxed) }
        note(capacity)
        return (UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8), capacity, nil)
    }

    /// After `allocate(bytes)` found no memory: asks the engine for a page of the chunk's slab
    /// class at once (`CacheEngine.makeRoomForBuffer`: a page of another class emptied of cache
    /// items and handed over). True when the allocation is worth trying again. The caller holds
    /// no partition, stream or item lock (the move evicts items, whose hooks take such locks).
    func makeRoom(for bytes: Int) -> Bool {
        guard let engine else { return false }
        let capacity = max(bytes, chunkBytes)
        guard capacity <= engine.bufferMax else { return false }
        return engine.makeRoomForBuffer(capacity)
    }

    /// A chunk of `bytes` (its whole size) taken: counted, and charged to the share.
    private func note(_ bytes: Int) {
        held.wrappingAdd(1, ordering: .relaxed)
        heldBytes.wrappingAdd(bytes, ordering: .relaxed)
        share?.force(bytes)
    }

    func free(_ c: SegmentMemory.Chunk) {
        let bytes = c.item != nil ? ItemLayout.totalSize(keyLength: 0, valueLength: c.capacity) : c.capacity
        held.wrappingSubtract(1, ordering: .relaxed)
        heldBytes.wrappingSubtract(bytes, ordering: .relaxed)
        share?.release(bytes)
        if let item = c.item, let engine { engine.release(Item(item)) } else { c.base.deallocate() }
    }

    /// The share is full (data directory): the logs press (LogMemory.pressing).
    var shareFull: Bool { share.map { $0.inUse >= $0.limit } ?? false }
}

struct SegmentMemory {
    struct Chunk {
        let base: UnsafeMutableRawPointer
        let capacity: Int
        /// The slab item holding it (nil: heap memory).
        let item: UnsafeMutableRawPointer?
        /// The segment position of `base`.
        let start: Int
        /// Bytes of batches written.
        var used: Int
        var end: Int { start + used }
    }

    let allocator: LogChunkAllocator
    private(set) var chunks: [Chunk] = []
    /// The segment position of the first byte held (where the next chunk starts while none is).
    private(set) var start: Int
    /// Bytes of batches held.
    private(set) var count = 0

    init(allocator: LogChunkAllocator, start: Int = 0) {
        self.allocator = allocator
        self.start = start
    }

    /// One past the last byte held: the segment's size while it is the active one.
    var end: Int { start + count }
    var isEmpty: Bool { count == 0 }
    /// Bytes the chunks take (their unused ends too).
    var allocatedBytes: Int { chunks.reduce(0) { $0 + $1.capacity } }
    /// Room left in the last chunk (what an open batch may still grow by).
    var tailRoom: Int { chunks.last.map { $0.capacity - $0.used } ?? 0 }

    // MARK: appending

    /// Appends a batch of exactly `length` bytes at `end`, written by `write` into a view of the
    /// chunk that takes it. False (nothing written) when no chunk could be had.
    mutating func append(length: Int, _ write: (inout ByteBuffer) -> Void) -> Bool {
        if chunks.isEmpty || chunks[chunks.count - 1].capacity - chunks[chunks.count - 1].used < length {
            guard let (base, capacity, item) = allocator.allocate(length) else { return false }
            chunks.append(Chunk(base: base, capacity: capacity, item: item, start: end, used: 0))
        }
        let i = chunks.count - 1
        var view = ByteBuffer(borrowing: chunks[i].base, count: chunks[i].used, capacity: chunks[i].capacity)
        write(&view)
        precondition(view.count == chunks[i].used + length, "a batch's length as announced")
        chunks[i].used = view.count
        count += length
        return true
    }

    /// Extends the last batch in place by `n` bytes (at most `tailRoom`) that `write` fills.
    mutating func extendLast(by n: Int, _ write: (UnsafeMutableRawPointer) -> Void) {
        let i = chunks.count - 1
        precondition(i >= 0 && chunks[i].capacity - chunks[i].used >= n, "room in the last chunk")
        write(chunks[i].base + chunks[i].used)
        chunks[i].used += n
        count += n
    }

    // MARK: reading

    /// The index of the chunk holding `position` (`start <= position < end`).
    func chunkIndex(at position: Int) -> Int {
        let last = chunks.count - 1
        if position >= chunks[last].start { return last }
        var lo = 0, hi = last
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if chunks[mid].start <= position { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    /// The written bytes of the chunk holding `position`, and `position`'s place in them: a batch
    /// starting there lies wholly in them, as do the batches after it up to the chunk's end.
    func chunk(at position: Int) -> (bytes: UnsafeRawBufferPointer, at: Int) {
        let c = chunks[chunkIndex(at: position)]
        return (UnsafeRawBufferPointer(start: c.base, count: c.used), position - c.start)
    }

    /// The bytes of chunk `i`, with its start position.
    func chunk(_ i: Int) -> (bytes: UnsafeRawBufferPointer, start: Int) {
        (UnsafeRawBufferPointer(start: chunks[i].base, count: chunks[i].used), chunks[i].start)
    }

    /// Where `position` lies (contiguous to the end of its chunk): a batch patched in place.
    func pointer(at position: Int) -> UnsafeMutableRawPointer {
        let c = chunks[chunkIndex(at: position)]
        return c.base + (position - c.start)
    }

    /// Visits every batch held, oldest first: the bytes of its chunk and its place in them.
    func forEachBatch(_ visit: (UnsafeRawBufferPointer, Int) -> Void) {
        for c in chunks {
            let bytes = UnsafeRawBufferPointer(start: c.base, count: c.used)
            var at = 0
            while at + LogBatch.frameBytes <= c.used {
                visit(bytes, at)
                at += Int(LogBatch.u32(bytes, at)) + LogBatch.frameBytes
            }
        }
    }

    /// Appends `[from, to)` (inside `[start, end)`) to `out`, chunk by chunk.
    func copy(from: Int, to: Int, into out: inout ByteBuffer) {
        guard from < to else { return }
        var i = chunkIndex(at: from)
        var at = from
        while at < to {
            let c = chunks[i]
            let upTo = min(to, c.end)
            out.append(UnsafeRawBufferPointer(start: c.base + (at - c.start), count: upTo - at))
            at = upTo
            i += 1
        }
    }

    // MARK: freeing

    /// Frees the chunks that end at or before `position` (their batches are no longer needed in
    /// memory); `start` moves to the first chunk kept (or to `end` when none is). Returns the
    /// bytes of batches freed.
    @discardableResult
    mutating func release(before position: Int) -> Int {
        var n = 0
        while n < chunks.count && chunks[n].end <= position { n += 1 }
        guard n > 0 else { return 0 }
        let newStart = n < chunks.count ? chunks[n].start : end
        for c in chunks[0..<n] { allocator.free(c) }
        chunks.removeFirst(n)
        let freed = newStart - start
        count -= freed
        start = newStart
        return freed
    }

    /// Frees every chunk; memory starts again (empty) at `position`.
    mutating func freeAll(restartingAt position: Int) {
        for c in chunks { allocator.free(c) }
        chunks.removeAll()
        start = position
        count = 0
    }
}
