// A present member's new score in a skip list (ZADD and ZINCRBY on a member that is there): its
// node is unlinked and linked again at the new score, as redis's zslUpdateScore when the node
// moves. The two descents, one for the old place and one for the new, are independent chains of
// cache misses, so they run side by side (one step of each a turn, both steps' nodes prefetched
// first) instead of one after the other; the second is made on the list with the node still in it
// and corrected: where it stopped on the node, the node's own predecessor stands instead, and a
// rank past the node is one less. Item lock held throughout.
import SlabAllocator

/// One skip-list descent's state: where it is, at which level, the rank it reached.
struct ZslDescent {
    var cur: ZslNode
    var curH: SlabHandle
    var level: Int
    var rank = 0
    var done: Bool { level < 0 }

    init(_ header: ZslNode, _ headerH: SlabHandle, levels: Int) {
        cur = header
        curH = headerH
        level = levels - 1
    }
}

extension CacheEngine {
    /// Prefetches what descent `s` reads at its next step (`zslPrefetchStep`).
    @inline(__always)
    private func zslPrefetchNext(_ s: ZslDescent) {
        guard !s.done else { return }
        let f = s.cur.forward(s.level)
        if f != 0 { zslPrefetchStep(s.cur, f, level: s.level) }
    }

    /// One step of descent `s` towards the last node `before` holds for: advance along its level,
    /// or record the level's predecessor and rank and drop a level.
    @inline(__always)
    private func zslStep(_ s: inout ZslDescent, _ before: (ZslNode) -> Bool,
                         _ update: UnsafeMutableBufferPointer<SlabHandle>, _ rank: UnsafeMutableBufferPointer<Int>) {
        let i = s.level
        let f = s.cur.forward(i)
        if f != 0 {
            let fn = zsl(f)
            if before(fn) {
                s.rank += s.cur.span(i)
                s.cur = fn
                s.curH = f
                return
            }
        }
        update[i] = s.curH
        rank[i] = s.rank
        s.level -= 1
    }

    /// Member `m`'s score goes from `old` to `new` (different) in a skiplist-encoded set: the
    /// entry's score bytes and the node move. Nothing changes when (old, m) is not in the list.
    func lockedZslMove(_ d: inout HashDescriptor, _ m: UnsafeRawBufferPointer, old: Double, new: Double) {
        let header = zsl(d.zslHeader)
        withUnsafeTemporaryAllocation(of: SlabHandle.self, capacity: 2 * ZslNode.maxLevel) { handles in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * ZslNode.maxLevel) { ranks in
                let n = ZslNode.maxLevel
                let updateOld = UnsafeMutableBufferPointer(rebasing: handles[0..<n])
                let updateNew = UnsafeMutableBufferPointer(rebasing: handles[n..<2 * n])
                let rankOld = UnsafeMutableBufferPointer(rebasing: ranks[0..<n])
                let rankNew = UnsafeMutableBufferPointer(rebasing: ranks[n..<2 * n])
                let levels = d.zslLevel
                var a = ZslDescent(header, d.zslHeader, levels: levels)
                var b = a
                while !a.done || !b.done {
                    zslPrefetchNext(a)
                    zslPrefetchNext(b)
                    if !a.done {
                        zslStep(&a, { y in self.zslPrecedes(y, old, m) }, updateOld, rankOld)
                    }
                    if !b.done {
                        zslStep(&b, { y in self.zslPrecedes(y, new, m) }, updateNew, rankNew)
                    }
                }
                // The node: right after its level-0 predecessor, as lockedZslUnlink checks it.
                let xh = zsl(updateOld[0]).forward(0)
                guard xh != 0 else { return }
                let x = zsl(xh)
                guard x.score == old, zslMember(x).compare(m) == 0 else { return }
                // The new place's predecessors in the list without the node (1-based ranks, the
                // header 0): the node itself gives way to its own predecessor at that level; a
                // predecessor after the node moves one rank down.
                let xRank = rankOld[0] + 1
                for i in 0..<levels {
                    if rankNew[i] == xRank {
                        updateNew[i] = updateOld[i]
                        rankNew[i] = rankOld[i]
                    } else if rankNew[i] > xRank {
                        rankNew[i] -= 1
                    }
                }
                lockedZslUnlinkNode(&d, x, xh, updateOld)
                let e = zslEntry(x)
                withUnsafeBytes(of: new.bitPattern) { writeEntry(e, at: e.entryFieldLength, $0) }
                x.score = new
                lockedZslLink(&d, x, length: d.count - 1, update: updateNew, rank: rankNew)
            }
        }
    }
}
