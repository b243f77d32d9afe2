// A small hash's listpack encoding (layout: HashLayout.swift): its pairs in one packed node, in
// insertion order, found by a walk of at most `hashListpackEntries` (512) pairs. A pair is set in place
// (the rest of the node moved by one memmove), a node without room is replaced by one twice as
// large. Past the thresholds (redis's hash-max-listpack-entries and -value) the hash converts to
// the hashtable encoding once, as redis does, and never back. Item lock held throughout.
import SlabAllocator
#if canImport(Glibc)
import Glibc
#endif

/// What setting one pair did.
enum FieldSetOutcome {
    case added, updated, present, outOfMemory
}

extension CacheEngine {
    /// redis's hash-max-listpack-entries and hash-max-listpack-value defaults.
    public static let hashListpackEntries = 512
    public static let hashListpackValue = 64

    /// The pair holding `field` in packed node `n`.
    func packedFind(_ n: Item, _ field: UnsafeRawBufferPointer) -> PackedPair? {
        let p = UnsafeRawPointer(n.value)
        var o = 0
        while o < n.nodeUsed {
            let pair = PackedPair(p, at: o)
            if pair.fieldCount == field.count
                && (field.count == 0 || memcmp(p + pair.field, field.baseAddress!, field.count) == 0) {
                return pair
            }
            o = pair.end
        }
        return nil
    }

    @inline(__always)
    func packedBytes(_ n: Item, _ at: Int, _ count: Int) -> HashBytes {
        HashBytes(engine: self, item: n, start: UnsafeRawPointer(n.value) + at, offset: at, count: count)
    }

    /// Makes room for `needed` bytes of data in the packed node (a larger node replaces it).
    func lockedPackedReserve(_ d: inout HashDescriptor, _ needed: Int) -> Item? {
        if d.head != 0 {
            let n = node(d.head)
            if needed <= n.valueLength { return n }
        }
        let old = d.head == 0 ? nil : node(d.head)
        let capacity = max(needed, min(2 * (old?.valueLength ?? 0), 1 << 20), 64)
        guard let m = allocListNode(capacity: capacity) else { return nil }
        d.memory += chunkBytes(m)
        if let old {
            memcpy(m.value, old.value, old.nodeUsed)
            m.nodeUsed = old.nodeUsed
            m.nodeCount = old.nodeCount
            d.memory -= chunkBytes(old)
            refDecrement(old)
        }
        d.head = arena.handle(m.raw)
        return m
    }

    /// Sets one pair in the listpack.
    func lockedPackedSet(_ d: inout HashDescriptor, _ field: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer,
                         onlyIfAbsent: Bool) -> FieldSetOutcome {
        let size = PackedPair.size(field: field.count, value: value.count)
        if d.head != 0, let pair = packedFind(node(d.head), field) {
            if onlyIfAbsent { return .present }
            let oldSize = pair.end - pair.offset
            guard let n = lockedPackedReserve(&d, node(d.head).nodeUsed - oldSize + size) else { return .outOfMemory }
            let p = n.value
            memmove(p + pair.offset + size, p + pair.end, n.nodeUsed - pair.end)
            PackedPair.write(field: field, value: value, to: p + pair.offset)
            n.nodeUsed += size - oldSize
            d.bytes += value.count - pair.valueCount
            return .updated
        }
        guard let n = lockedPackedReserve(&d, (d.head == 0 ? 0 : node(d.head).nodeUsed) + size) else { return .outOfMemory }
        PackedPair.write(field: field, value: value, to: n.value + n.nodeUsed)
        n.nodeUsed += size
        n.nodeCount += 1
        d.count += 1
        d.bytes += field.count + value.count
        return .added
    }

    /// Removes `field` from the listpack; whether it was there.
    func lockedPackedRemove(_ d: inout HashDescriptor, _ field: UnsafeRawBufferPointer) -> Bool {
        guard d.head != 0 else { return false }
        let n = node(d.head)
        guard let pair = packedFind(n, field) else { return false }
        packedCut(&d, n, pair)
        return true
    }

    /// Closes the listpack over `pair` (found in `n`, the listpack's node) and counts it gone.
    func packedCut(_ d: inout HashDescriptor, _ n: Item, _ pair: PackedPair) {
        memmove(n.value + pair.offset, n.value + pair.end, n.nodeUsed - pair.end)
        n.nodeUsed -= pair.end - pair.offset
        n.nodeCount -= 1
        d.count -= 1
        d.bytes -= pair.fieldCount + pair.valueCount
    }

    /// The listpack's pairs in order until `visit` returns false.
    func packedVisit(_ d: HashDescriptor, _ visit: (PackedPair, Item) -> Bool) {
        guard d.head != 0 else { return }
        let n = node(d.head)
        let p = UnsafeRawPointer(n.value)
        var o = 0
        while o < n.nodeUsed {
            let pair = PackedPair(p, at: o)
            if !visit(pair, n) { return }
            o = pair.end
        }
    }

    /// The listpack becomes a hashtable (entries and an index sized to them); false when memory
    /// runs out (the hash is left as it was).
    func lockedHashConvert(_ d: inout HashDescriptor) -> Bool {
        var bits = Self.hashInitialBits
        while (1 << bits) < d.count { bits += 1 }
        guard let (dir, items, memory) = newFieldTable(bits: bits) else { return false }
        var t = HashDescriptor()
        t.encoding = .hashtable
        t.table0 = dir
        t.bits0 = bits
        t.indexItems = items
        t.memory = memory
        var failed = false
        packedVisit(d) { pair, n in
            let f = UnsafeRawBufferPointer(start: n.value + pair.field, count: pair.fieldCount)
            let v = UnsafeRawBufferPointer(start: n.value + pair.value, count: pair.valueCount)
            guard let e = newFieldEntry(f, v, Self.hash(f)) else { failed = true; return false }
            lockedFieldLink(e, &t)
            return true
        }
        if failed {
            lockedHashFreeNow(t)
            return false
        }
        if d.head != 0 { refDecrement(node(d.head)) }
        d = t
        return true
    }

    /// Sets one pair in either encoding, converting a listpack that would pass its thresholds.
    func lockedHashSetPair(_ d: inout HashDescriptor, _ field: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer,
                           onlyIfAbsent: Bool) -> FieldSetOutcome {
        if d.encoding == .intset {
            if let r = lockedIntsetSet(&d, field) { return r }
        } else if d.encoding == .listpack {
            if field.count > encodingLimits.hashValue || value.count > encodingLimits.hashValue {
                guard lockedHashConvert(&d) else { return .outOfMemory }
            } else {
                let r = lockedPackedSet(&d, field, value, onlyIfAbsent: onlyIfAbsent)
                if r == .added && d.count > encodingLimits.hashEntries && !lockedHashConvert(&d) {
                    _ = lockedPackedRemove(&d, field)
                    return .outOfMemory
                }
                return r
            }
        }
        let h = Self.hash(field)
        if let old = lockedFieldFind(d, field, h) {
            if onlyIfAbsent { return .present }
            if !old.entryChunked && old.entryLength == field.count + value.count {
                // Same length: the value is overwritten in place.
                writeEntry(old, at: field.count, value)
                return .updated
            }
            guard let e = newFieldEntry(field, value, h) else { return .outOfMemory }
            lockedFieldReplace(old, with: e, &d)
            releaseKeyless(old)
            return .updated
        }
        guard let e = newFieldEntry(field, value, h) else { return .outOfMemory }
        lockedFieldLink(e, &d)
        lockedFieldIndexMaintain(&d)
        return .added
    }

    /// Removes one field in either encoding; whether it was there.
    func lockedHashRemovePair(_ d: inout HashDescriptor, _ field: UnsafeRawBufferPointer) -> Bool {
        if d.packed { return lockedPackedRemove(&d, field) }
        guard let e = lockedFieldFind(d, field, Self.hash(field)) else { return false }
        lockedFieldUnlink(e, &d)
        releaseKeyless(e)
        lockedFieldIndexMaintain(&d)
        return true
    }
}
