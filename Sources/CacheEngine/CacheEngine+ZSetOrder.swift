// A sorted set's order in both encodings (layout: ZSetLayout.swift): the skip list's insert,
// unlink, rank and rank → node (redis's zslInsert, zslDeleteNode, zslGetRank,
// zslGetElementByRank, zslDeleteRangeByRank, with span counts), the listpack's walks, and what
// the operations (CacheEngine+ZSet.swift) build on, the same for either encoding: a member's
// score, insert, update, removal, "how many come before" for a monotone predicate (every range
// is two of these: ranks [lo, hi)), a visit of ranks in either direction, a removal of ranks.
// Item lock held throughout. A descent by score prefetches each node it reads and the node below it
// (`zslPrefetchStep`): a folded member's score lies past its member, so its address waits on the
// header's member length, and without the prefetch each node costs two misses one after the other.
import CPrefetch
import SlabAllocator
#if canImport(Glibc)
import Glibc
#endif

extension CacheEngine {
    /// redis 7.0's zset-max-listpack-entries and zset-max-listpack-value defaults.
    public static let zsetListpackEntries = 128
    public static let zsetListpackValue = 64

    @inline(__always) func zsl(_ h: SlabHandle) -> ZslNode { ZslNode(node(h)) }

    /// The entry holding node `x`'s member: `x` itself when folded.
    @inline(__always) func zslEntry(_ x: ZslNode) -> Item { x.folded ? x.item : node(x.entry) }

    @inline(__always) func zslMember(_ x: ZslNode) -> SlabBytes { entryField(zslEntry(x)) }

    /// sdscmp of two byte runs.
    @inline(__always)
    static func bytesCompare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        let n = min(a.count, b.count)
        if n > 0 {
            let r = memcmp(a.baseAddress!, b.baseAddress!, n)
            if r != 0 { return Int(r) }
        }
        return a.count - b.count
    }

    /// Starts loading node `h`'s first two cache lines: the header, where `ZslNode` reads the
    /// member's length, and the bytes after it (a folded member's score and levels lie past the
    /// member, on the next line unless the chunk starts early in its line).
    @inline(__always) func zslPrefetch(_ h: SlabHandle) {
        guard h != 0 else { return }
        let p = arena.pointer(h)
        cprefetch_read(p)
        cprefetch_read(p + 64)
    }

    /// A descent's step at level `i` from `cur` to its forward `f` (not 0): both of `f`'s lines,
    /// and the node the descent reads next if it stops here and drops a level (`cur`'s forward at
    /// level i - 1), so that that miss overlaps this one.
    /// Whether `y` comes before (score, member) in the order: by score, then by member bytes.
    @inline(__always) func zslPrecedes(_ y: ZslNode, _ score: Double, _ member: UnsafeRawBufferPointer) -> Bool {
        y.score < score || (y.score == score && zslMember(y).compare(member) < 0)
    }

    @inline(__always) func zslPrefetchStep(_ cur: ZslNode, _ f: SlabHandle, level i: Int) {
        zslPrefetch(f)
        // Below is often the same node (a level's next is the next one down too): fetched once.
        if i > 0, case let below = cur.forward(i - 1), below != f { zslPrefetch(below) }
    }

    /// redis's zslRandomLevel: each further level with probability 1/4, at most 32.
    func zslRandomLevel() -> Int {
        var bits = nextRandom()
        var level = 1
        while level < ZslNode.maxLevel && bits & 3 == 0 {
            level += 1
            bits >>= 2
            if bits == 0 { bits = nextRandom() }
        }
        return level
    }

    /// A new, unlinked node of `level` levels (its memory is the caller's to count): compact in a
    /// keyless class when one holds it and has memory (ZSetLayout.swift), else a list node.
    func newZslNode(level: Int) -> ZslNode? {
        var made: Item? = nil
        let cls = SlabClassTable.keylessClassID(forSize: ZslNode.compactSize(level: level))
        if cls != 0 {
            var h = slabs.allocate(classID: cls)
            if h == 0 && listFreeStep(maxNodes: Self.listInlineFreeNodes) > 0 { h = slabs.allocate(classID: cls) }
            if h != 0 {
                let n = Item(arena.pointer(h))
                memset(n.raw, 0, 24)
                n.raw.storeBytes(of: UInt8(cls), toByteOffset: KeylessLayout.classOffset, as: UInt8.self)
                made = n
            } else {
                keylessFallbacks.add(1, ordering: .relaxed)
            }
        }
        if made == nil { made = allocListNode(capacity: ZslNode.capacity(level: level)) }
        guard let n = made else { return nil }
        let x = ZslNode(n)
        x.score = 0
        x.entry = 0
        x.level = level
        x.backward = 0
        for i in 0..<level {
            x.setForward(i, 0)
            x.setSpan(i, 0)
        }
        return x
    }

    // MARK: skip list

    /// Links node `x` (level, score and entry set) after every node `before` holds for; the list
    /// held `length` nodes.
    func lockedZslInsert(_ d: inout HashDescriptor, _ x: ZslNode, length: Int, before: (ZslNode) -> Bool) {
        let header = zsl(d.zslHeader)
        let xh = arena.handle(x.item.raw)
        withUnsafeTemporaryAllocation(of: SlabHandle.self, capacity: ZslNode.maxLevel) { update in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: ZslNode.maxLevel) { rank in
                var cur = header
                var curH = d.zslHeader
                // A while loop: `stride(from:through:by:)`'s iterator was a call per level.
                var i = d.zslLevel - 1
                while i >= 0 {
                    rank[i] = i == d.zslLevel - 1 ? 0 : rank[i + 1]
                    while true {
                        let f = cur.forward(i)
                        if f == 0 { break }
                        zslPrefetchStep(cur, f, level: i)
                        let fn = zsl(f)
                        if !before(fn) { break }
                        rank[i] += cur.span(i)
                        cur = fn
                        curH = f
                    }
                    update[i] = curH
                    i -= 1
                }
                lockedZslLink(&d, x, length: length, update: update, rank: rank)
            }
        }
    }

    /// Links node `x` after its predecessor `update[i]` at each level in use, whose rank (1-based,
    /// the header 0) is `rank[i]` (zslInsert after its descent); the list held `length` nodes.
    func lockedZslLink(_ d: inout HashDescriptor, _ x: ZslNode, length: Int,
                       update: UnsafeMutableBufferPointer<SlabHandle>, rank: UnsafeMutableBufferPointer<Int>) {
        let header = zsl(d.zslHeader)
        let xh = arena.handle(x.item.raw)
        let level = x.level
        if level > d.zslLevel {
            for i in d.zslLevel..<level {
                rank[i] = 0
                update[i] = d.zslHeader
                header.setSpan(i, length)
            }
            d.zslLevel = level
        }
        for i in 0..<level {
            let u = zsl(update[i])
            x.setForward(i, u.forward(i))
            u.setForward(i, xh)
            x.setSpan(i, u.span(i) - (rank[0] - rank[i]))
            u.setSpan(i, rank[0] - rank[i] + 1)
        }
        for i in level..<d.zslLevel {
            let u = zsl(update[i])
            u.setSpan(i, u.span(i) + 1)
        }
        x.backward = update[0] == d.zslHeader ? 0 : update[0]
        let f0 = x.forward(0)
        if f0 != 0 { zsl(f0).backward = xh } else { header.backward = xh }
    }

    /// Takes `x` out given its predecessors at each level (zslDeleteNode).
    func lockedZslUnlinkNode(_ d: inout HashDescriptor, _ x: ZslNode, _ xh: SlabHandle,
                             _ update: UnsafeMutableBufferPointer<SlabHandle>) {
        for i in 0..<d.zslLevel {
            let u = zsl(update[i])
            if u.forward(i) == xh {
                u.setSpan(i, u.span(i) + x.span(i) - 1)
                u.setForward(i, x.forward(i))
            } else {
                u.setSpan(i, u.span(i) - 1)
            }
        }
        let header = zsl(d.zslHeader)
        let f0 = x.forward(0)
        if f0 != 0 { zsl(f0).backward = x.backward } else { header.backward = x.backward }
        while d.zslLevel > 1 && header.forward(d.zslLevel - 1) == 0 { d.zslLevel -= 1 }
    }

    /// Unlinks the node of (score, member) and returns it (not freed), or nil.
    func lockedZslUnlink(_ d: inout HashDescriptor, score: Double, member: UnsafeRawBufferPointer) -> ZslNode? {
        withUnsafeTemporaryAllocation(of: SlabHandle.self, capacity: ZslNode.maxLevel) { update -> ZslNode? in
            var cur = zsl(d.zslHeader)
            var curH = d.zslHeader
            var i = d.zslLevel - 1
            while i >= 0 {
                while true {
                    let f = cur.forward(i)
                    if f == 0 { break }
                    zslPrefetchStep(cur, f, level: i)
                    let fn = zsl(f)
                    guard zslPrecedes(fn, score, member) else { break }
                    cur = fn
                    curH = f
                }
                update[i] = curH
                i -= 1
            }
            let xh = cur.forward(0)
            guard xh != 0 else { return nil }
            let x = zsl(xh)
            guard x.score == score, zslMember(x).compare(member) == 0 else { return nil }
            lockedZslUnlinkNode(&d, x, xh, update)
            return x
        }
    }

    /// Nodes before the first one `before` fails for (the predicate holds for a prefix).
    func lockedZslCountBefore(_ d: HashDescriptor, _ before: (ZslNode) -> Bool) -> Int {
        var cur = zsl(d.zslHeader)
        var rank = 0
        var i = d.zslLevel - 1
        while i >= 0 {
            while true {
                let f = cur.forward(i)
                if f == 0 { break }
                zslPrefetchStep(cur, f, level: i)
                let fn = zsl(f)
                if !before(fn) { break }
                rank += cur.span(i)
                cur = fn
            }
            i -= 1
        }
        return rank
    }

    /// The node at 0-based `rank` (< count).
    func lockedZslAt(_ d: HashDescriptor, rank: Int) -> ZslNode {
        var cur = zsl(d.zslHeader)
        var traversed = 0
        let target = rank + 1
        var i = d.zslLevel - 1
        while i >= 0 {
            while true {
                let f = cur.forward(i)
                if f == 0 || traversed + cur.span(i) > target { break }
                traversed += cur.span(i)
                cur = zsl(f)
            }
            if traversed == target { return cur }
            i -= 1
        }
        return cur
    }

    // MARK: listpack

    @inline(__always)
    func packedScore(_ n: Item, _ pair: PackedPair) -> Double {
        Double(bitPattern: UnsafeRawPointer(n.value + pair.value).loadUnaligned(as: UInt64.self))
    }

    @inline(__always)
    func packedMember(_ n: Item, _ pair: PackedPair) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: n.value + pair.field, count: pair.fieldCount)
    }

    /// Writes (member, score) in its place in the packed node. redis's listpack keeps an integral
    /// score as an integer, so -0 is read back as 0 there (a skip list keeps -0).
    func lockedZPackedInsert(_ d: inout HashDescriptor, _ m: UnsafeRawBufferPointer, _ score: Double) -> Bool {
        let score = score == 0 ? 0.0 : score
        var at = 0
        if d.head != 0 {
            let n = node(d.head)
            var o = 0
            while o < n.nodeUsed {
                let pair = PackedPair(UnsafeRawPointer(n.value), at: o)
                let s = packedScore(n, pair)
                if s > score || (s == score && Self.bytesCompare(packedMember(n, pair), m) > 0) { break }
                o = pair.end
            }
            at = o
        }
        let size = PackedPair.size(field: m.count, value: 8)
        guard let n = lockedPackedReserve(&d, (d.head == 0 ? 0 : node(d.head).nodeUsed) + size) else { return false }
        memmove(n.value + at + size, n.value + at, n.nodeUsed - at)
        _ = withUnsafeBytes(of: score.bitPattern) { PackedPair.write(field: m, value: $0, to: n.value + at) }
        n.nodeUsed += size
        n.nodeCount += 1
        d.count += 1
        d.bytes += m.count + 8
        return true
    }

    /// The listpack becomes a skip list over a hashtable; false when memory runs out (the
    /// listpack is left as it was: the new encoding is built whole before it replaces it).
    func lockedZSetConvert(_ d: inout HashDescriptor) -> Bool {
        guard var t = newZslDescriptor(count: d.count) else { return false }
        var failed = false
        // The listpack's order is the set's: each member goes last.
        packedVisit(d) { pair, n in
            let m = UnsafeRawBufferPointer(start: n.value + pair.field, count: pair.fieldCount)
            let score = Double(bitPattern: UnsafeRawPointer(n.value + pair.value).loadUnaligned(as: UInt64.self))
            guard lockedZslAdd(&t, m, score, before: { _ in true }) else { failed = true; return false }
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

    /// An empty skiplist-encoded set's descriptor (hashtable index and header), or nil.
    func newZslDescriptor(count: Int) -> HashDescriptor? {
        var bits = Self.hashInitialBits
        while (1 << bits) < count { bits += 1 }
        guard let header = newZslNode(level: ZslNode.maxLevel) else { return nil }
        guard let (dir, items, memory) = newFieldTable(bits: bits) else { releaseKeyless(header.item); return nil }
        var t = HashDescriptor()
        t.encoding = .skiplist
        t.table0 = dir
        t.bits0 = bits
        t.indexItems = items
        t.memory = memory + chunkBytes(header.item)
        t.zslHeader = arena.handle(header.item.raw)
        t.zslLevel = 1
        return t
    }

    // MARK: both encodings

    /// Adds a member known to be absent, converting the listpack first when it must.
    func lockedZInsertNew(_ d: inout HashDescriptor, _ m: UnsafeRawBufferPointer, _ score: Double) -> Bool {
        if d.encoding == .listpack {
            if d.count + 1 <= encodingLimits.zsetEntries && m.count <= encodingLimits.zsetValue {
                return lockedZPackedInsert(&d, m, score)
            }
            guard lockedZSetConvert(&d) else { return false }
        }
        return lockedZslAdd(&d, m, score, before: nil)
    }

    /// A new member in the skip list and the hashtable; `before` when the caller knows where it
    /// goes (a copy, in order), else by score and member. `level`: the node's (a copy keeps the
    /// original's), else redis's random level.
    func lockedZslAdd(_ d: inout HashDescriptor, _ m: UnsafeRawBufferPointer, _ score: Double, level: Int? = nil,
                      before: ((ZslNode) -> Bool)?) -> Bool {
        guard let (e, x) = newZslMember(m, score, level: level ?? zslRandomLevel()) else { return false }
        let length = d.count
        lockedFieldLink(e, &d)
        lockedFieldIndexMaintain(&d)
        if !x.folded { d.memory += chunkBytes(x.item) }
        if let before {
            lockedZslInsert(&d, x, length: length, before: before)
        } else {
            lockedZslInsert(&d, x, length: length) { y in self.zslPrecedes(y, score, m) }
        }
        return true
    }

    /// A present member's score changes (no allocation: it cannot fail).
    func lockedZUpdate(_ d: inout HashDescriptor, _ m: UnsafeRawBufferPointer, old: Double, new: Double) {
        if d.encoding == .listpack {
            _ = lockedPackedRemove(&d, m)
            _ = lockedZPackedInsert(&d, m, new)
            return
        }
        lockedZslMove(&d, m, old: old, new: new)
    }

    /// Removes a present member whose score is `score`.
    func lockedZRemove(_ d: inout HashDescriptor, _ m: UnsafeRawBufferPointer, score: Double) {
        if d.encoding == .listpack {
            _ = lockedPackedRemove(&d, m)
            return
        }
        guard let x = lockedZslUnlink(&d, score: score, member: m) else { return }
        lockedZslFree(x, &d)
        lockedFieldIndexMaintain(&d)
    }

    /// The elements before the first one `before` fails for. `fromEnd`: the listpack is walked
    /// from its tail (where redis looks for a range's last element).
    func lockedZCountBefore(_ d: HashDescriptor, fromEnd: Bool = false, _ before: (SlabBytes, Double) -> Bool) -> Int {
        if d.encoding == .skiplist {
            return lockedZslCountBefore(d) { x in before(self.zslMember(x), x.score) }
        }
        guard d.head != 0 else { return 0 }
        let n = node(d.head)
        let p = UnsafeRawPointer(n.value)
        if !fromEnd {
            var o = 0
            var k = 0
            while o < n.nodeUsed {
                let pair = PackedPair(p, at: o)
                if !before(packedBytes(n, pair.field, pair.fieldCount), packedScore(n, pair)) { break }
                k += 1
                o = pair.end
            }
            return k
        }
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: max(d.count, 1)) { offsets in
            var o = 0
            var k = 0
            while o < n.nodeUsed && k < d.count {
                offsets[k] = o
                o = PackedPair(p, at: o).end
                k += 1
            }
            while k > 0 {
                let pair = PackedPair(p, at: offsets[k - 1])
                if before(packedBytes(n, pair.field, pair.fieldCount), packedScore(n, pair)) { break }
                k -= 1
            }
            return k
        }
    }

    /// `count` elements from 0-based `rank`, towards the end or (`reverse`) the start.
    func lockedZVisit(_ d: HashDescriptor, from rank: Int, count: Int, reverse: Bool,
                      _ visit: (SlabBytes, Double) -> Void) {
        lockedZWalk(d, from: rank, count: count, reverse: reverse) { m, s in visit(m, s); return true }
    }

    /// Up to `count` elements from 0-based `rank` until `body` returns false.
    func lockedZWalk(_ d: HashDescriptor, from rank: Int, count: Int, reverse: Bool,
                     _ body: (SlabBytes, Double) -> Bool) {
        guard count > 0 else { return }
        if d.encoding == .skiplist {
            var x = lockedZslAt(d, rank: rank)
            for i in 0..<count {
                if !body(zslMember(x), x.score) { return }
                if i == count - 1 { break }
                let h = reverse ? x.backward : x.forward(0)
                if h == 0 { break }
                x = zsl(h)
            }
            return
        }
        let n = node(d.head)
        let p = UnsafeRawPointer(n.value)
        if !reverse {
            var o = 0
            var k = 0
            while o < n.nodeUsed && k < rank + count {
                let pair = PackedPair(p, at: o)
                if k >= rank && !body(packedBytes(n, pair.field, pair.fieldCount), packedScore(n, pair)) { return }
                k += 1
                o = pair.end
            }
            return
        }
        withUnsafeTemporaryAllocation(of: Int.self, capacity: rank + 1) { offsets in
            var o = 0
            for k in 0...rank {
                offsets[k] = o
                o = PackedPair(p, at: o).end
            }
            for k in stride(from: rank, to: max(rank - count, -1), by: -1) {
                let pair = PackedPair(p, at: offsets[k])
                if !body(packedBytes(n, pair.field, pair.fieldCount), packedScore(n, pair)) { return }
            }
        }
    }

    /// Every member and its score's bytes, highest first (redis's iteration of a sorted set).
    func lockedZEachReverse(_ d: HashDescriptor, _ visit: (SlabBytes, SlabBytes) -> Void) {
        if d.encoding == .skiplist {
            var h = zsl(d.zslHeader).backward
            while h != 0 {
                let x = zsl(h)
                h = x.backward
                let e = zslEntry(x)
                visit(entryField(e), entryValue(e))
            }
            return
        }
        guard d.head != 0 else { return }
        let n = node(d.head)
        let p = UnsafeRawPointer(n.value)
        withUnsafeTemporaryAllocation(of: Int.self, capacity: max(d.count, 1)) { offsets in
            var o = 0
            var k = 0
            while o < n.nodeUsed && k < d.count {
                offsets[k] = o
                o = PackedPair(p, at: o).end
                k += 1
            }
            while k > 0 {
                k -= 1
                let pair = PackedPair(p, at: offsets[k])
                visit(packedBytes(n, pair.field, pair.fieldCount), packedBytes(n, pair.value, pair.valueCount))
            }
        }
    }

    /// Removes the elements of 0-based ranks [lo, lo + count).
    func lockedZRemoveRanks(_ d: inout HashDescriptor, from lo: Int, count: Int) {
        guard count > 0 else { return }
        if d.encoding == .listpack {
            let n = node(d.head)
            let p = UnsafeRawPointer(n.value)
            var o = 0
            var k = 0
            var start = 0
            var bytes = 0
            while o < n.nodeUsed && k < lo + count {
                if k == lo { start = o }
                let pair = PackedPair(p, at: o)
                if k >= lo { bytes += pair.fieldCount + pair.valueCount }
                k += 1
                o = pair.end
            }
            memmove(n.value + start, n.value + o, n.nodeUsed - o)
            n.nodeUsed -= o - start
            n.nodeCount -= count
            d.count -= count
            d.bytes -= bytes
            return
        }
        withUnsafeTemporaryAllocation(of: SlabHandle.self, capacity: ZslNode.maxLevel) { update in
            var cur = zsl(d.zslHeader)
            var curH = d.zslHeader
            var traversed = 0
            var i = d.zslLevel - 1
            while i >= 0 {
                while true {
                    let f = cur.forward(i)
                    if f == 0 || traversed + cur.span(i) >= lo + 1 { break }
                    traversed += cur.span(i)
                    cur = zsl(f)
                    curH = f
                }
                update[i] = curH
                i -= 1
            }
            var xh = cur.forward(0)
            for _ in 0..<count where xh != 0 {
                let x = zsl(xh)
                let next = x.forward(0)
                lockedZslUnlinkNode(&d, x, xh, update)
                lockedZslFree(x, &d)
                xh = next
            }
        }
        lockedFieldIndexMaintain(&d)
    }

    /// 0-based rank of a present member with `score`.
    func lockedZRank(_ d: HashDescriptor, _ m: UnsafeRawBufferPointer, score: Double) -> Int {
        lockedZCountBefore(d) { b, s in s < score || (s == score && b.compare(m) < 0) }
    }

    /// The query's elements: the first rank to visit (in the query's direction) and how many.
    func lockedZWindow(_ d: HashDescriptor, _ q: ZRangeQuery) -> (first: Int, count: Int) {
        let n = d.count
        switch q.by {
        case .rank(var start, var end):
            if start < 0 { start += n }
            if end < 0 { end += n }
            if start < 0 { start = 0 }
            guard start <= end, start < n else { return (0, 0) }
            if end >= n { end = n - 1 }
            return (q.reverse ? n - 1 - start : start, end - start + 1)
        case .score(let min, let max):
            let lo = lockedZCountBefore(d) { _, s in min.exclusive ? s <= min.value : s < min.value }
            let hi = lockedZCountBefore(d, fromEnd: true) { _, s in max.exclusive ? s < max.value : s <= max.value }
            return limited(lo, hi, q)
        case .lex(let min, let max):
            return lockedZLexWindow(d, min, max, q)
        }
    }

    /// Ranks [lo, hi) after LIMIT (redis: a negative offset or one past the end is nothing; a
    /// negative count is no limit).
    private func limited(_ lo: Int, _ hi: Int, _ q: ZRangeQuery) -> (first: Int, count: Int) {
        let available = hi - lo
        guard available > 0, q.offset >= 0, q.offset < available else { return (0, 0) }
        var count = available - q.offset
        if q.limit >= 0 { count = min(count, q.limit) }
        return (q.reverse ? hi - 1 - q.offset : lo + q.offset, count)
    }
}
