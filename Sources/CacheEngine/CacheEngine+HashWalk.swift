// A hash's pairs picked at random (HRANDFIELD) and walked by cursor (HSCAN), redis's way.
// HSCAN of a listpack returns every pair with cursor 0, as redis does. HSCAN of a hashtable is
// redis's dictScan: the cursor counts buckets in reverse-binary order, so a pair present from the
// first call to the last is returned at least once even when the index doubles in between; while
// two tables exist, a bucket of the smaller is visited with all its expansions in the larger.
// A call visits buckets until COUNT pairs or COUNT x 10 buckets (redis's maxiterations).
// A random pair: a random non-empty bucket and a random place in its chain (a few tries), else
// a walk of the insertion chain to a random place (a hash much sparser than its index).
import SlabAllocator

extension CacheEngine {
    /// HRANDFIELD key count: `count` pairs at random, distinct (`distinct`: every pair when
    /// `count` is at least the hash's size, in order) or each drawn anew. `willVisit` learns how
    /// many `visit` will see.
    public func hashRandom(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, type: ItemType = .hash,
                           count: Int, distinct: Bool,
                           willVisit: (Int) -> Void, visit: (HashBytes, HashBytes) -> Void) -> HashReadResult {
        return lockedHashRead(key, hv, database, type: type, wrongType: .wrongType, absent: .noKey) { d in
            if distinct && count >= d.count {
                willVisit(d.count)
                if type == .zset {
                    // redis walks a sorted set from its end (zuiInitIterator): highest first.
                    lockedZEachReverse(d, visit)
                    return .ok
                }
                lockedHashEach(d) { f, v in visit(f, v); return true }
                return .ok
            }
            willVisit(count)
            if d.packed {
                var places: [Int] = []
                places.reserveCapacity(d.count)
                packedVisit(d) { pair, _ in places.append(pair.offset); return true }
                if distinct {
                    var g = randomSource
                    places.shuffle(using: &g)
                }
                let n = node(d.head)
                for i in 0..<count {
                    let pair = PackedPair(UnsafeRawPointer(n.value), at: distinct ? places[i] : places[randomBelow(places.count)])
                    visit(packedBytes(n, pair.field, pair.fieldCount), packedBytes(n, pair.value, pair.valueCount))
                }
                return .ok
            }
            if !distinct {
                for _ in 0..<count {
                    let e = node(lockedRandomEntry(d))
                    visit(entryField(e), entryValue(e))
                }
                return .ok
            }
            if count * 3 > d.count {
                // Many of them: a partial shuffle of every entry (redis's case 3 copies the hash).
                var all: [SlabHandle] = []
                all.reserveCapacity(d.count)
                var h = d.head
                while h != 0 { all.append(h); h = node(h).next }
                for i in 0..<count {
                    all.swapAt(i, i + randomBelow(all.count - i))
                    let e = node(all[i])
                    visit(entryField(e), entryValue(e))
                }
                return .ok
            }
            var seen = Set<SlabHandle>()
            while seen.count < count {
                let h = lockedRandomEntry(d)
                if seen.insert(h).inserted {
                    let e = node(h)
                    visit(entryField(e), entryValue(e))
                }
            }
            return .ok
        }
    }

    /// One entry at random (the hash has at least one).
    /// Random buckets as redis's dictGetRandomKey (expected buckets / count reads) or a walk of
    /// the insertion order (count / 2 steps), whichever costs less. The index shrinks once the
    /// fields fill under a tenth of it (lockedFieldIndexMaintain), so buckets / count stays under
    /// about 10 outside a move; while a set was emptied by SPOP with a table that never shrank,
    /// walking the list for every pop of the last quarter of a 100,000-member set made SPOP many
    /// times slower than redis-server's (BENCHMARKS.md). The random reads stop at 16x their expected number (missed about once in 10^7
    /// picks) and the walk answers, so a pick always ends.
    func lockedRandomEntry(_ d: HashDescriptor) -> SlabHandle {
        let size0 = 1 << d.bits0
        let size1 = d.rehashing ? 1 << d.bits1 : 0
        let expectedProbes = (size0 + size1) / max(d.count, 1)
        if d.count * 4 >= size0 || expectedProbes <= d.count / 2 {
            for _ in 0..<max(64, expectedProbes * 16) {
                let b = randomBelow(size0 + size1)
                let first = b < size0 ? bucketHead(d.table0, bits: d.bits0, b).pointee
                                      : bucketHead(d.table1, bits: d.bits1, b - size0).pointee
                guard first != 0 else { continue }
                var length = 0
                var x = first
                while x != 0 { length += 1; x = node(x).hashNext }
                var k = randomBelow(length)
                x = first
                while k > 0 { x = node(x).hashNext; k -= 1 }
                return x
            }
        }
        var k = randomBelow(d.count)
        var h = d.head
        while k > 0 { h = node(h).next; k -= 1 }
        return h
    }

    /// HSCAN key cursor COUNT n: the pairs of the buckets visited, and the next cursor (0: done).
    public func hashScan(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, type: ItemType = .hash,
                         cursor: UInt64, count: Int,
                         visit: (HashBytes, HashBytes) -> Void) -> (HashReadResult, UInt64) {
        return lockedHashRead(key, hv, database, type: type, wrongType: (.wrongType, 0), absent: (.noKey, 0)) { d in
            if d.packed {
                lockedHashEach(d) { f, v in visit(f, v); return true }
                return (.ok, 0)
            }
            var v = cursor
            var emitted = 0
            var iterations = count > Int.max / 10 ? Int.max : count * 10
            func emit(_ dir: SlabHandle, _ bits: Int, _ b: Int) {
                var x = bucketHead(dir, bits: bits, b).pointee
                while x != 0 {
                    let e = node(x)
                    visit(entryField(e), entryValue(e))
                    emitted += 1
                    x = e.hashNext
                }
            }
            repeat {
                if !d.rehashing {
                    let m0 = UInt64((1 << d.bits0) - 1)
                    emit(d.table0, d.bits0, Int(v & m0))
                    v = Self.nextCursor(v, mask: m0)
                } else {
                    // redis's dictScan: the smaller table's bucket, then every bucket of the
                    // larger one that expands it (the index grows and shrinks).
                    let (small, smallBits, large, largeBits) = d.bits0 <= d.bits1
                        ? (d.table0, d.bits0, d.table1, d.bits1) : (d.table1, d.bits1, d.table0, d.bits0)
                    let m0 = UInt64((1 << smallBits) - 1), m1 = UInt64((1 << largeBits) - 1)
                    emit(small, smallBits, Int(v & m0))
                    repeat {
                        emit(large, largeBits, Int(v & m1))
                        v = Self.nextCursor(v, mask: m1)
                    } while v & (m0 ^ m1) != 0
                }
                iterations -= 1
            } while v != 0 && iterations > 0 && emitted < count
            return (.ok, v)
        }
    }
}
