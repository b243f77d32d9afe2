// A hash's per-key index (hashtable encoding; layout: HashLayout.swift). A table of 2^bits
// bucket heads (32-bit entry handles) is a directory item holding segment handles, each segment
// up to 4,096 heads (16 KB): no allocation is larger than a segment, however many fields, and a
// lookup is two loads and a chain walk. The table doubles when the fields outnumber its buckets;
// the new table is allocated (zeroed segments, a few ms at 1M fields) and the entries move
// bucket by bucket, `hashRehashStep` buckets per write (redis's incremental rehash), so no
// command moves more than that many chains. While both tables exist a lookup looks in both and
// an insert goes to the new one. When memory for a larger table is not there, chains just grow.
// Past deletes that leave fewer fields than a tenth of the buckets, the table halves (or more)
// the same way, so a set emptied by SPOP gives its buckets back and its random picks stay cheap.
// Every function here runs with the key's item lock held.
import SlabAllocator
#if canImport(Glibc)
import Glibc
#endif

extension CacheEngine {
    /// log2 of a segment's buckets.
    static let hashSegmentBits = 12
    /// log2 of the first table's buckets (a listpack converted by a long value may have few fields).
    static let hashInitialBits = 8
    /// Buckets of the old table a write moves to the new one.
    static let hashRehashStep = 64

    /// The slab memory an item takes (its chunk, or a chunked item's chunks and header).
    @inline(__always)
    func chunkBytes(_ it: Item) -> Int {
        if it.isCompact { return SlabClassTable.keylessChunkSize(it.compactClass) }
        return it.isChunked ? ItemLayout.headerSize + it.valueLength : slabs.table.chunkSizes[it.slabClass]
    }

    /// Bucket `i`'s head in the table whose directory is `dir`.
    @inline(__always)
    func bucketHead(_ dir: SlabHandle, bits: Int, _ i: Int) -> UnsafeMutablePointer<UInt32> {
        let segBits = min(bits, Self.hashSegmentBits)
        let seg = UnsafeRawPointer(node(dir).value).load(fromByteOffset: (i >> segBits) * 4, as: UInt32.self)
        return (node(seg).value + (i & ((1 << segBits) - 1)) * 4).assumingMemoryBound(to: UInt32.self)
    }

    /// A new, empty table of 2^bits buckets: (directory, items it took, their bytes), or nil
    /// (what was taken is given back).
    func newFieldTable(bits: Int) -> (SlabHandle, Int, Int)? {
        let segBits = min(bits, Self.hashSegmentBits)
        let segments = 1 << (bits - segBits)
        guard let dir = allocListNode(capacity: segments * 4) else { return nil }
        var memory = chunkBytes(dir)
        for s in 0..<segments {
            guard let seg = allocListNode(capacity: (1 << segBits) * 4) else {
                for t in 0..<s { refDecrement(node(UnsafeRawPointer(dir.value).load(fromByteOffset: t * 4, as: UInt32.self))) }
                refDecrement(dir)
                return nil
            }
            memset(seg.value, 0, (1 << segBits) * 4)
            memory += chunkBytes(seg)
            dir.value.storeBytes(of: arena.handle(seg.raw), toByteOffset: s * 4, as: UInt32.self)
        }
        return (arena.handle(dir.raw), segments + 1, memory)
    }

    /// Frees a table's directory and segments (not its entries); returns (items, bytes).
    @discardableResult
    func freeFieldTable(_ dir: SlabHandle, bits: Int) -> (Int, Int) {
        let segments = 1 << (bits - min(bits, Self.hashSegmentBits))
        let d = node(dir)
        var memory = chunkBytes(d)
        for s in 0..<segments {
            let seg = node(UnsafeRawPointer(d.value).load(fromByteOffset: s * 4, as: UInt32.self))
            memory += chunkBytes(seg)
            refDecrement(seg)
        }
        refDecrement(d)
        return (segments + 1, memory)
    }

    /// Strings every segment and directory of `d`'s tables onto `chain` (through their next
    /// fields) so that they are freed with the entries; returns the new chain head.
    func chainFieldTables(_ d: HashDescriptor, onto chain: SlabHandle) -> SlabHandle {
        var head = chain
        for (dir, bits) in [(d.table0, d.bits0), (d.table1, d.bits1)] where dir != 0 {
            let segments = 1 << (bits - min(bits, Self.hashSegmentBits))
            let di = node(dir)
            for s in 0..<segments {
                let seg = node(UnsafeRawPointer(di.value).load(fromByteOffset: s * 4, as: UInt32.self))
                seg.next = head
                head = arena.handle(seg.raw)
            }
            di.next = head
            head = dir
        }
        return head
    }

    /// Whether entry `e` holds `field` (hash `h`).
    @inline(__always)
    func entryHolds(_ e: Item, _ field: UnsafeRawBufferPointer, _ h: UInt32) -> Bool {
        guard e.entryHash == h, e.entryFieldLength == field.count else { return false }
        return entryField(e).equals(field)
    }

    @inline(__always)
    func entryField(_ e: Item) -> HashBytes {
        HashBytes(engine: self, item: e, start: e.entryChunked ? nil : UnsafeRawPointer(e.entryData), offset: 0, count: e.entryFieldLength)
    }

    @inline(__always)
    func entryValue(_ e: Item) -> HashBytes {
        let f = e.entryFieldLength
        return HashBytes(engine: self, item: e, start: e.entryChunked ? nil : UnsafeRawPointer(e.entryData) + f, offset: f,
                         count: e.entryLength - f)
    }

    /// The entry holding `field`, or nil.
    func lockedFieldFind(_ d: HashDescriptor, _ field: UnsafeRawBufferPointer, _ h: UInt32) -> Item? {
        // The two tables one after the other, not a loop over an array literal of them: that
        // array was allocated on every lookup (HSET, SADD, ZADD, SREM...).
        if d.table0 != 0, let e = lockedChainFind(d.table0, d.bits0, field, h) { return e }
        if d.table1 != 0 { return lockedChainFind(d.table1, d.bits1, field, h) }
        return nil
    }

    @inline(__always)
    private func lockedChainFind(_ dir: SlabHandle, _ bits: Int, _ field: UnsafeRawBufferPointer, _ h: UInt32) -> Item? {
        var x = bucketHead(dir, bits: bits, Int(h) & ((1 << bits) - 1)).pointee
        while x != 0 {
            let e = node(x)
            if entryHolds(e, field, h) { return e }
            x = e.hashNext
        }
        return nil
    }

    /// A new entry for the pair (unlinked, the caller's reference), or nil (no memory).
    func newFieldEntry(_ field: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, _ h: UInt32) -> Item? {
        guard let e = newEntry(fieldLength: field.count, length: field.count + value.count, hash: h) else { return nil }
        writeEntry(e, at: 0, field)
        writeEntry(e, at: field.count, value)
        return e
    }

    /// Links a new entry into the index (the newer table while rehashing) and at the tail of
    /// the insertion-order chain.
    func lockedFieldLink(_ e: Item, _ d: inout HashDescriptor) {
        let h = arena.handle(e.raw)
        let (dir, bits) = d.rehashing ? (d.table1, d.bits1) : (d.table0, d.bits0)
        let head = bucketHead(dir, bits: bits, Int(e.entryHash) & ((1 << bits) - 1))
        e.hashNext = head.pointee
        head.pointee = h
        e.next = 0
        e.prev = d.tail
        if d.tail != 0 { node(d.tail).next = h } else { d.head = h }
        d.tail = h
        d.count += 1
        d.bytes += e.entryLength
        d.memory += chunkBytes(e)
    }

    /// The bucket-chain link (a bucket head or an entry's hash next) that points at `e`.
    func bucketLink(to e: Item, _ d: HashDescriptor) -> UnsafeMutablePointer<UInt32>? {
        let h = arena.handle(e.raw)
        let hv = Int(e.entryHash)
        // Each table in turn, with no array literal of the two (allocated on every unlink).
        if d.table0 != 0, let link = chainLink(to: h, d.table0, d.bits0, hv) { return link }
        if d.table1 != 0 { return chainLink(to: h, d.table1, d.bits1, hv) }
        return nil
    }

    @inline(__always)
    private func chainLink(to h: SlabHandle, _ dir: SlabHandle, _ bits: Int, _ hv: Int) -> UnsafeMutablePointer<UInt32>? {
        var link = bucketHead(dir, bits: bits, hv & ((1 << bits) - 1))
        while link.pointee != 0 {
            if link.pointee == h { return link }
            link = (node(link.pointee).raw + ItemLayout.hashNextOffset).assumingMemoryBound(to: UInt32.self)
        }
        return nil
    }

    /// Takes entry `e` out of its bucket and the chain (the caller frees it).
    func lockedFieldUnlink(_ e: Item, _ d: inout HashDescriptor) {
        bucketLink(to: e, d)?.pointee = e.hashNext
        e.hashNext = 0
        if e.prev != 0 { node(e.prev).next = e.next } else { d.head = e.next }
        if e.next != 0 { node(e.next).prev = e.prev } else { d.tail = e.prev }
        e.next = 0
        e.prev = 0
        d.count -= 1
        d.bytes -= e.entryLength
        d.memory -= chunkBytes(e)
    }

    /// Puts `new` (same field, another value) in `old`'s place in its bucket and in insertion
    /// order, as a listpack keeps a pair's place; the caller frees `old`.
    func lockedFieldReplace(_ old: Item, with new: Item, _ d: inout HashDescriptor) {
        let h = arena.handle(new.raw)
        bucketLink(to: old, d)?.pointee = h
        new.hashNext = old.hashNext
        new.prev = old.prev
        new.next = old.next
        if old.prev != 0 { node(old.prev).next = h } else { d.head = h }
        if old.next != 0 { node(old.next).prev = h } else { d.tail = h }
        old.next = 0
        old.prev = 0
        old.hashNext = 0
        d.bytes += new.entryLength - old.entryLength
        d.memory += chunkBytes(new) - chunkBytes(old)
    }

    /// Makes the index larger when fields outnumber buckets, smaller when they fill under a
    /// tenth of them (redis's htNeedsResize and dictResize after a delete: the smallest power of
    /// two holding them, at least the first table's), and moves a step of buckets when a move is
    /// under way. Growing and shrinking are the same incremental move, table0 → table1.
    func lockedFieldIndexMaintain(_ d: inout HashDescriptor) {
        if d.rehashing {
            lockedRehashStep(&d, buckets: Self.hashRehashStep)
        } else if d.count > 0 && d.bits0 > Self.hashInitialBits && d.count * 10 < (1 << d.bits0) {
            var bits = Self.hashInitialBits
            while (1 << bits) < d.count { bits += 1 }
            if let (dir, items, memory) = newFieldTable(bits: bits) {
                d.table1 = dir
                d.bits1 = bits
                d.rehashIndex = 0
                d.indexItems += items
                d.memory += memory
                indexShrinks.add(1, ordering: .relaxed)
                lockedRehashStep(&d, buckets: Self.hashRehashStep)
            }
        } else if d.count > (1 << d.bits0) && d.bits0 < 31 {
            if let (dir, items, memory) = newFieldTable(bits: d.bits0 + 1) {
                d.table1 = dir
                d.bits1 = d.bits0 + 1
                d.rehashIndex = 0
                d.indexItems += items
                d.memory += memory
                lockedRehashStep(&d, buckets: Self.hashRehashStep)
            }
        }
    }

    /// Moves up to `buckets` buckets of table0 to table1; the old table is freed when all moved.
    func lockedRehashStep(_ d: inout HashDescriptor, buckets: Int) {
        guard d.rehashing else { return }
        let size0 = 1 << d.bits0
        let mask1 = (1 << d.bits1) - 1
        var moved = 0
        while moved < buckets && d.rehashIndex < size0 {
            let head = bucketHead(d.table0, bits: d.bits0, d.rehashIndex)
            var x = head.pointee
            head.pointee = 0
            while x != 0 {
                let e = node(x)
                let next = e.hashNext
                let to = bucketHead(d.table1, bits: d.bits1, Int(e.entryHash) & mask1)
                e.hashNext = to.pointee
                to.pointee = x
                x = next
            }
            d.rehashIndex += 1
            moved += 1
        }
        if d.rehashIndex == size0 {
            let (items, memory) = freeFieldTable(d.table0, bits: d.bits0)
            d.indexItems -= items
            d.memory -= memory
            d.table0 = d.table1
            d.bits0 = d.bits1
            d.table1 = 0
            d.bits1 = 0
            d.rehashIndex = 0
        }
    }
}
