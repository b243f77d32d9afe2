// Redis sorted sets as storage operations (layout: ZSetLayout.swift; order in both encodings:
// CacheEngine+ZSetOrder.swift). Each takes the key's item lock, finds a root of type `.zset`
// through the hash's `lockedHashRoot`, works on its descriptor and ends with the hash's commit
// (`lockedHashCommit`: link a new key, unlink an emptied one, else a new CAS unique). What only
// reads a member's score, the count, a random pick or ZSCAN is the hash's operation with
// `type: .zset` (a member's value is its score's 8 bytes, `SlabBytes.score`). Members are handed
// out as `SlabBytes` under the lock: the caller copies them into its reply.
import SlabAllocator
#if canImport(Glibc)
import Glibc
#endif

/// ZADD's options.
public struct ZSetAddFlags: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let nx = ZSetAddFlags(rawValue: 1)
    public static let xx = ZSetAddFlags(rawValue: 2)
    public static let gt = ZSetAddFlags(rawValue: 4)
    public static let lt = ZSetAddFlags(rawValue: 8)
    public static let incr = ZSetAddFlags(rawValue: 16)
}

/// What ZADD did with one element.
public enum ZSetAddOutcome: Sendable, Equatable {
    case added, updated, unchanged
    /// NX, XX, GT or LT left it alone (redis's ZADD_OUT_NOP).
    case skipped
    /// INCR made the score NaN (nothing changed).
    case notANumber
}

/// What a sorted-set write did.
public enum ZSetWriteResult: Sendable, Equatable {
    case ok
    /// XX on no key: nothing done.
    case noKey
    case wrongType
    case outOfMemory
    /// A member larger than -I allows.
    case tooLarge
}

/// A member's rank.
public enum ZSetRankResult: Sendable, Equatable {
    case rank(Int)
    /// No such member, or no key.
    case absent
    case wrongType
}

/// A sorted set (or a set, each member scored 1) read out whole, in its order.
public enum ZSetSnapshot: Sendable, Equatable {
    case members([ZSetMember])
    case noKey
    case wrongType
}

/// One member and its score, copied.
public struct ZSetMember: Sendable, Equatable {
    public var member: [UInt8]
    public var score: Double
    public init(_ member: [UInt8], _ score: Double) {
        self.member = member
        self.score = score
    }
}

extension CacheEngine {
    // MARK: writes

    /// ZADD / ZINCRBY: `count` elements (score, member) in order; `result` learns each one's
    /// outcome and score (the new one, or the current one when skipped).
    public func zsetAdd(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, flags: ZSetAddFlags, count: Int,
                        element: (Int) -> (Double, UnsafeRawBufferPointer),
                        result: (ZSetAddOutcome, Double) -> Void) -> ZSetWriteResult {
        for i in 0..<count where hashPairTooLarge(element(i).1.count, 8) { return .tooLarge }
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        let (found, wrongType) = lockedHashRoot(key, hv, database, type: .zset)
        if wrongType { return .wrongType }
        if found == nil && flags.contains(.xx) { return .noKey }
        guard let root = found ?? newHashRoot(key, database, type: .zset) else { return .outOfMemory }
        var d = root.hashDescriptor
        var changed = false
        for i in 0..<count {
            let (score, m) = element(i)
            if let cur = lockedHashValue(d, m)?.score {
                if flags.contains(.nx) { result(.skipped, cur); continue }
                var new = score
                if flags.contains(.incr) {
                    new = cur + score
                    if new.isNaN { result(.notANumber, new); break }
                }
                if (flags.contains(.lt) && new >= cur) || (flags.contains(.gt) && new <= cur) {
                    result(.skipped, cur)
                    continue
                }
                if new != cur {
                    lockedZUpdate(&d, m, old: cur, new: new)
                    changed = true
                    result(.updated, new)
                } else {
                    result(.unchanged, new)
                }
            } else {
                if flags.contains(.xx) { result(.skipped, 0); continue }
                guard lockedZInsertNew(&d, m, score) else {
                    if changed { lockedHashCommit(root, d, hv, created: found == nil) } else { lockedHashAbandon(root, d, hv, created: found == nil) }
                    return .outOfMemory
                }
                changed = true
                result(.added, score)
            }
        }
        if changed { lockedHashCommit(root, d, hv, created: found == nil) } else { lockedHashAbandon(root, d, hv, created: found == nil) }
        return .ok
    }

    /// ZREM: how many of the `count` members were removed, or nil for another type.
    public func zsetRemove(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, count: Int,
                           member: (Int) -> UnsafeRawBufferPointer) -> Int? {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        let (found, wrongType) = lockedHashRoot(key, hv, database, type: .zset)
        if wrongType { return nil }
        guard let root = found else { return 0 }
        var d = root.hashDescriptor
        var removed = 0
        for i in 0..<count where d.count > 0 {
            let m = member(i)
            guard let score = lockedHashValue(d, m)?.score else { continue }
            lockedZRemove(&d, m, score: score)
            removed += 1
        }
        if removed > 0 { lockedHashCommit(root, d, hv, created: false) } else { refDecrement(root) }
        return removed
    }

    /// ZREMRANGEBYRANK / ZREMRANGEBYSCORE / ZREMRANGEBYLEX: how many were removed, nil for
    /// another type.
    public func zsetRemoveRange(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, _ q: ZRangeQuery) -> Int? {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        let (found, wrongType) = lockedHashRoot(key, hv, database, type: .zset)
        if wrongType { return nil }
        guard let root = found else { return 0 }
        var d = root.hashDescriptor
        var window = lockedZWindow(d, q)
        if case .lex(let min, let max) = q.by { window = lockedZLexWindow(d, min, max, q, removal: true) }
        let (first, count) = window
        guard count > 0 else { refDecrement(root); return 0 }
        lockedZRemoveRanks(&d, from: q.reverse ? first - count + 1 : first, count: count)
        lockedHashCommit(root, d, hv, created: false)
        return count
    }

    /// ZPOPMIN / ZPOPMAX / ZMPOP: up to `count` lowest (or highest) members, visited in that
    /// order, then removed (the key with the last).
    public func zsetPop(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, count: Int, max: Bool,
                        willVisit: (Int) -> Void, visit: (SlabBytes, Double) -> Void) -> HashReadResult {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        let (found, wrongType) = lockedHashRoot(key, hv, database, type: .zset)
        if wrongType { return .wrongType }
        guard let root = found else { return .noKey }
        var d = root.hashDescriptor
        let n = min(count, d.count)
        willVisit(n)
        lockedZVisit(d, from: max ? d.count - 1 : 0, count: n, reverse: max, visit)
        lockedZRemoveRanks(&d, from: max ? d.count - n : 0, count: n)
        if n > 0 { lockedHashCommit(root, d, hv, created: false) } else { refDecrement(root) }
        return .ok
    }

    // MARK: reads

    /// ZRANK / ZREVRANK.
    public func zsetRank(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, member: UnsafeRawBufferPointer,
                         reverse: Bool) -> ZSetRankResult {
        return lockedHashRead(key, hv, database, type: .zset, wrongType: .wrongType, absent: .absent) { d in
            guard let score = lockedHashValue(d, member)?.score else { return .absent }
            let r = lockedZRank(d, member, score: score)
            return .rank(reverse ? d.count - 1 - r : r)
        }
    }

    /// ZRANGE's forms: `willVisit` learns how many, `visit` sees them in the query's order.
    public func zsetRange(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, _ q: ZRangeQuery,
                          willVisit: (Int) -> Void, visit: (SlabBytes, Double) -> Void) -> HashReadResult {
        return lockedHashRead(key, hv, database, type: .zset, wrongType: .wrongType, absent: .noKey) { d in
            let (first, count) = lockedZWindow(d, q)
            willVisit(count)
            lockedZVisit(d, from: first, count: count, reverse: q.reverse, visit)
            return .ok
        }
    }

    /// ZCOUNT / ZLEXCOUNT: 0 for no key, nil for another type.
    public func zsetCount(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, _ q: ZRangeQuery) -> Int? {
        lockedHashRead(key, hv, database, type: .zset, wrongType: nil, absent: 0) { d in
            if case .lex(let min, let max) = q.by { return lockedZLexCount(d, min, max) }
            return lockedZWindow(d, q).count
        }
    }

    /// The sorted set's members and scores, copied, in order; a set's members (its order) score
    /// 1 when `setsToo` (ZUNION and friends read sets as redis does).
    public func zsetSnapshot(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, setsToo: Bool) -> ZSetSnapshot {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        var outcome = GetOutcome.miss
        guard let root = lockedGet(key, hv, database: database, anyType: true, bump: true, outcome: &outcome) else { return .noKey }
        defer { refDecrement(root) }
        guard root.type == .zset || (setsToo && root.type == .set) else { return .wrongType }
        let d = root.hashDescriptor
        var out: [ZSetMember] = []
        out.reserveCapacity(d.count)
        let isSet = root.type == .set
        lockedHashEach(d) { m, v in
            out.append(ZSetMember(m.bytes, isSet ? 1 : v.score))
            return true
        }
        return .members(out)
    }

    /// ZUNIONSTORE / ZINTERSTORE / ZDIFFSTORE / ZRANGESTORE: `key` becomes a sorted set of
    /// `members` (distinct members, any order), replacing whatever it held (its expiry too); none
    /// deletes it. The encoding follows redis's rule for a computed set: listpack when it fits
    /// both bounds. Returns whether a key was there before, or nil when memory ran out (the old
    /// key is left).
    public func zsetStore(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, members: [ZSetMember]) -> Bool? {
        let sorted = members.sorted { a, b in
            if a.score != b.score { return a.score < b.score }
            return a.member.withUnsafeBytes { x in b.member.withUnsafeBytes { y in Self.bytesCompare(x, y) < 0 } }
        }
        for m in sorted where hashPairTooLarge(m.member.count, 8) { return nil }
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        var outcome = GetOutcome.miss
        let existing = lockedGet(key, hv, database: database, anyType: true, bump: false, outcome: &outcome)
        defer { if let existing { refDecrement(existing) } }
        guard !sorted.isEmpty else {
            if let existing { lockedUnlink(existing, hv) }
            return existing != nil
        }
        guard let root = newHashRoot(key, database, type: .zset) else { return nil }
        let (most, longest) = (encodingLimits.zsetEntries, encodingLimits.zsetValue)
        let packed = sorted.count <= most && !sorted.contains { $0.member.count > longest }
        var d = root.hashDescriptor
        if !packed {
            guard let t = newZslDescriptor(count: sorted.count) else { refDecrement(root); return nil }
            d = t
        }
        for m in sorted {
            let ok = m.member.withUnsafeBytes { b in
                let p = UnsafeRawBufferPointer(start: b.baseAddress ?? UnsafeRawPointer(bitPattern: 8), count: b.count)
                return packed ? lockedZPackedInsert(&d, p, m.score) : lockedZslAdd(&d, p, m.score, before: { _ in true })
            }
            if !ok {
                lockedHashAbandon(root, d, hv, created: true)
                return nil
            }
        }
        root.hashDescriptor = d
        if let existing { lockedReplace(existing, with: root, hv) } else { lockedLink(root, hv) }
        refDecrement(root)
        return existing != nil
    }

    // MARK: for COPY (item locks held)

    /// A deep copy of a sorted set's descriptor, nil when memory runs out (what was copied is freed).
    func lockedZSetCopy(_ root: Item) -> HashDescriptor? {
        let d = root.hashDescriptor
        if d.packed { return lockedHashCopy(root) }
        guard var copy = newZslDescriptor(count: d.count) else { return nil }
        var h = zsl(d.zslHeader).forward(0)
        while h != 0 {
            let x = zsl(h)
            h = x.forward(0)
            let member = entryField(zslEntry(x))
            let added: Bool
            if let c = member.contiguous {
                added = lockedZslAdd(&copy, c, x.score, level: x.level, before: { _ in true })
            } else {
                // A member past the largest chunk: copied out once (rare).
                added = member.bytes.withUnsafeBytes { lockedZslAdd(&copy, $0, x.score, level: x.level, before: { _ in true }) }
            }
            guard added else {
                lockedHashFreeNow(copy)
                return nil
            }
        }
        return copy
    }
}
