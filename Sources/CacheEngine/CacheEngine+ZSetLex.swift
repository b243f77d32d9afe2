// Lex ranges (ZRANGE BYLEX, ZRANGEBYLEX, ZREVRANGEBYLEX, ZLEXCOUNT, ZREMRANGEBYLEX) walked as
// redis 7.0 walks them, so that a set whose members do not share one score (where redis says the
// result is unspecified) still answers as redis does: the range is first checked for emptiness
// (min above max, the last member below min, the first above max: zslIsInLexRange), the first
// (last) member in range is found by the encoding's own search (a skip-list descent, a listpack
// walk from its head (tail)), LIMIT's offset is skipped without looking, and the walk stops at the
// first member out of range. ZLEXCOUNT of a skip list is the ranks' difference, of a listpack a
// walk; ZREMRANGEBYLEX of a skip list skips the emptiness check, as zslDeleteRangeByLex does.
// Item lock held throughout.
import SlabAllocator

extension CacheEngine {
    @inline(__always)
    private func gteMin(_ m: SlabBytes, _ min: ZLexBound) -> Bool {
        switch min {
        case .minusInfinity: true
        case .plusInfinity: false
        case .inclusive(let b): m.compare(b) >= 0
        case .exclusive(let b): m.compare(b) > 0
        }
    }

    @inline(__always)
    private func lteMax(_ m: SlabBytes, _ max: ZLexBound) -> Bool {
        switch max {
        case .minusInfinity: false
        case .plusInfinity: true
        case .inclusive(let b): m.compare(b) <= 0
        case .exclusive(let b): m.compare(b) < 0
        }
    }

    /// sdscmplex of two bounds (−∞ below everything, +∞ above), and whether one is exclusive.
    private static func boundOrder(_ a: ZLexBound, _ b: ZLexBound) -> (Int, Bool) {
        func rank(_ x: ZLexBound) -> (Int, UnsafeRawBufferPointer?, Bool) {
            switch x {
            case .minusInfinity: (0, nil, false)
            case .plusInfinity: (2, nil, false)
            case .inclusive(let p): (1, p, false)
            case .exclusive(let p): (1, p, true)
            }
        }
        let (ra, pa, xa) = rank(a), (rb, pb, xb) = rank(b)
        let cmp = ra != rb ? ra - rb : (ra == 1 ? bytesCompare(pa!, pb!) : 0)
        return (cmp, xa || xb)
    }

    /// The member at `rank`.
    private func lockedZMember(_ d: HashDescriptor, _ rank: Int, _ body: (SlabBytes) -> Bool) -> Bool {
        var r = false
        lockedZVisit(d, from: rank, count: 1, reverse: false) { m, _ in r = body(m) }
        return r
    }

    /// zslIsInLexRange / zzlIsInLexRange.
    private func lockedZLexInRange(_ d: HashDescriptor, _ min: ZLexBound, _ max: ZLexBound) -> Bool {
        let (cmp, ex) = Self.boundOrder(min, max)
        if cmp > 0 || (cmp == 0 && ex) { return false }
        guard d.count > 0 else { return false }
        return lockedZMember(d, d.count - 1) { gteMin($0, min) } && lockedZMember(d, 0) { lteMax($0, max) }
    }

    /// The rank of the first member in range (zslFirstInLexRange), or nil.
    private func lockedZLexFirst(_ d: HashDescriptor, _ min: ZLexBound, _ max: ZLexBound, check: Bool = true) -> Int? {
        if check && !lockedZLexInRange(d, min, max) { return nil }
        let r = lockedZCountBefore(d) { m, _ in !gteMin(m, min) }
        guard r < d.count, lockedZMember(d, r, { lteMax($0, max) }) else { return nil }
        return r
    }

    /// The rank of the last member in range (zslLastInLexRange), or nil.
    private func lockedZLexLast(_ d: HashDescriptor, _ min: ZLexBound, _ max: ZLexBound) -> Int? {
        guard lockedZLexInRange(d, min, max) else { return nil }
        let r = lockedZCountBefore(d, fromEnd: true) { m, _ in lteMax(m, max) } - 1
        guard r >= 0, lockedZMember(d, r, { gteMin($0, min) }) else { return nil }
        return r
    }

    /// Members from `rank` on (towards the start with `reverse`) for which `pred` holds, at most
    /// `limit` (negative: no limit).
    private func lockedZRun(_ d: HashDescriptor, from rank: Int, reverse: Bool, limit: Int, _ pred: (SlabBytes) -> Bool) -> Int {
        let room = reverse ? rank + 1 : d.count - rank
        var n = 0
        lockedZWalk(d, from: rank, count: limit >= 0 ? min(limit, room) : room, reverse: reverse) { m, _ in
            guard pred(m) else { return false }
            n += 1
            return true
        }
        return n
    }

    /// A lex query's members: the first rank to visit and how many (ZRANGE's forms; with
    /// `removal`, ZREMRANGEBYLEX's: from the first in range forwards, no LIMIT).
    func lockedZLexWindow(_ d: HashDescriptor, _ min: ZLexBound, _ max: ZLexBound, _ q: ZRangeQuery,
                          removal: Bool = false) -> (first: Int, count: Int) {
        if removal {
            // zslDeleteRangeByLex descends without the emptiness check; a listpack finds its first.
            let first: Int
            if d.encoding == .skiplist {
                first = lockedZCountBefore(d) { m, _ in !gteMin(m, min) }
                guard first < d.count else { return (0, 0) }
            } else {
                guard let f = lockedZLexFirst(d, min, max) else { return (0, 0) }
                first = f
            }
            return (first, lockedZRun(d, from: first, reverse: false, limit: -1) { lteMax($0, max) })
        }
        if q.offset > 0 && q.offset >= d.count { return (0, 0) }
        guard q.offset >= 0, let start = q.reverse ? lockedZLexLast(d, min, max) : lockedZLexFirst(d, min, max) else { return (0, 0) }
        let first = q.reverse ? start - q.offset : start + q.offset
        guard first >= 0 && first < d.count else { return (0, 0) }
        let count = lockedZRun(d, from: first, reverse: q.reverse, limit: q.limit) { q.reverse ? gteMin($0, min) : lteMax($0, max) }
        return (first, count)
    }

    /// ZLEXCOUNT: a skip list's count is the difference of the first's and last's ranks; a
    /// listpack's, a walk from the first while in range.
    func lockedZLexCount(_ d: HashDescriptor, _ min: ZLexBound, _ max: ZLexBound) -> Int {
        guard let first = lockedZLexFirst(d, min, max) else { return 0 }
        if d.encoding != .skiplist {
            return lockedZRun(d, from: first, reverse: false, limit: -1) { lteMax($0, max) }
        }
        var count = d.count - first
        if let last = lockedZLexLast(d, min, max) { count -= d.count - (last + 1) }
        return count
    }
}
