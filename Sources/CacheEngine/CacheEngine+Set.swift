// Redis sets as storage operations, on the hash structure with empty values (HashLayout.swift): a
// root item of type `.set` whose descriptor's encoding is redis 7.0's: **intset** while every member
// is an integer (redis's string2ll form) and there are at most `setIntsetEntries` (512) of them,
// kept as a packed node in ascending numeric order (so SMEMBERS answers in redis's order), else
// **hashtable**, the hash's entries and index (CacheEngine+HashIndex.swift), converted once and
// never back. A new set starts as an intset when its first member is an integer. The reads a set
// shares with a hash (SISMEMBER, SMEMBERS, SCARD, SREM, SRANDMEMBER, SSCAN) are the hash's
// operations with `type: .set`; this file has what only sets do: SADD's encoding rule, SPOP,
// SMOVE, a whole set read out (the set algebra works on copies) and a set stored whole.
import SlabAllocator
#if canImport(Glibc)
import Glibc
#endif

/// What a set read out whole found.
public enum SetSnapshot: Sendable, Equatable {
    case members([[UInt8]])
    case noKey
    case wrongType
}

/// What SMOVE did.
public enum SetMoveResult: Sendable, Equatable {
    /// Whether the member was moved (false: not in the source).
    case moved(Bool)
    case wrongType
    case outOfMemory
    case tooLarge
}

extension CacheEngine {
    /// redis 7.0's set-max-intset-entries.
    public static let setIntsetEntries = 512

    /// `b` as redis's string2ll reads a whole integer (no sign but '-', no leading zeros, no
    /// blanks, in range), or nil.
    static func redisInteger(_ b: UnsafeRawBufferPointer) -> Int? {
        let n = b.count
        guard n > 0, n <= 20 else { return nil }
        var i = 0
        let negative = b[0] == UInt8(ascii: "-")
        if negative { i = 1; guard n > 1 else { return nil } }
        if b[i] == UInt8(ascii: "0") { return n == 1 ? 0 : nil }
        var v: UInt64 = 0
        while i < n {
            let d = b[i] &- 0x30
            guard d < 10 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(d))
            guard !o1 && !o2 else { return nil }
            v = s
            i += 1
        }
        if negative { return v <= UInt64(Int.max) + 1 ? Int(truncatingIfNeeded: 0 &- v) : nil }
        return v <= UInt64(Int.max) ? Int(v) : nil
    }

    /// SADD / the member added to an intset: in its numeric place, or nil when the intset must
    /// become a hashtable first (a member that is not an integer, or one too many), which it does.
    func lockedIntsetSet(_ d: inout HashDescriptor, _ member: UnsafeRawBufferPointer) -> FieldSetOutcome? {
        guard let v = Self.redisInteger(member) else {
            return lockedHashConvert(&d) ? nil : .outOfMemory
        }
        var at = 0
        if d.head != 0 {
            let n = node(d.head)
            let p = UnsafeRawPointer(n.value)
            var o = 0
            while o < n.nodeUsed {
                let pair = PackedPair(p, at: o)
                let x = Self.redisInteger(UnsafeRawBufferPointer(start: p + pair.field, count: pair.fieldCount)) ?? 0
                if x == v { return .present }
                if x > v { break }
                o = pair.end
            }
            at = o
        }
        if d.count + 1 > encodingLimits.setIntsetEntries {
            return lockedHashConvert(&d) ? nil : .outOfMemory
        }
        let size = PackedPair.size(field: member.count, value: 0)
        guard let n = lockedPackedReserve(&d, (d.head == 0 ? 0 : node(d.head).nodeUsed) + size) else { return .outOfMemory }
        memmove(n.value + at + size, n.value + at, n.nodeUsed - at)
        PackedPair.write(field: member, value: Self.noKey, to: n.value + at)
        n.nodeUsed += size
        n.nodeCount += 1
        d.count += 1
        d.bytes += member.count
        return .added
    }

    /// The encoding a new set starts in for its first member (redis's setTypeCreate).
    @inline(__always)
    func setEncoding(firstMember m: UnsafeRawBufferPointer) -> HashEncoding {
        Self.redisInteger(m) != nil ? .intset : .hashtable
    }

    /// A new empty set root in `encoding` (a hashtable gets its index).
    func newSetRoot(_ key: UnsafeRawBufferPointer, _ database: Int, encoding: HashEncoding) -> Item? {
        guard let root = newHashRoot(key, database, type: .set, encoding: .intset) else { return nil }
        if encoding == .hashtable {
            var d = root.hashDescriptor
            guard lockedHashConvert(&d) else { refDecrement(root); return nil }
            root.hashDescriptor = d
        }
        return root
    }

    /// SADD: how many of the `count` members were new.
    public func setAdd(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, count: Int,
                       member: (Int) -> UnsafeRawBufferPointer) -> HashWriteResult {
        for i in 0..<count where hashPairTooLarge(member(i).count, 0) { return .tooLarge }
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        let (found, wrongType) = lockedHashRoot(key, hv, database, type: .set)
        if wrongType { return .wrongType }
        guard let root = found ?? newSetRoot(key, database, encoding: setEncoding(firstMember: member(0))) else { return .outOfMemory }
        var d = root.hashDescriptor
        var added = 0
        for i in 0..<count {
            switch lockedHashSetPair(&d, member(i), Self.noKey, onlyIfAbsent: true) {
            case .added: added += 1
            case .updated, .present: break
            case .outOfMemory:
                if added > 0 { lockedHashCommit(root, d, hv, created: found == nil) } else { lockedHashAbandon(root, d, hv, created: found == nil) }
                return .outOfMemory
            }
        }
        if added > 0 { lockedHashCommit(root, d, hv, created: found == nil) } else { lockedHashAbandon(root, d, hv, created: found == nil) }
        return .added(added)
    }

    /// SPOP: up to `count` distinct members at random, removed; every member (in order) when
    /// `count` is at least the size, and the key with them. `willVisit` learns how many.
    public func setPop(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, count: Int,
                       willVisit: (Int) -> Void, visit: (HashBytes) -> Void) -> HashReadResult {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        let (found, wrongType) = lockedHashRoot(key, hv, database, type: .set)
        if wrongType { return .wrongType }
        guard let root = found else { return .noKey }
        var d = root.hashDescriptor
        if count >= d.count {
            willVisit(d.count)
            lockedHashEach(d) { m, _ in visit(m); return true }
            lockedHashCommit(root, HashDescriptor(), hv, created: false)
            // The emptied descriptor went to the root; what `d` holds is freed here.
            lockedHashFreeChain(d)
            return .ok
        }
        willVisit(count)
        if count == 1 {
            lockedPopOne(&d, visit)
            lockedHashCommit(root, d, hv, created: false)
            return .ok
        }
        var picked: [[UInt8]] = []
        picked.reserveCapacity(count)
        lockedDistinctPicks(d, count) { m in picked.append(m.bytes) }
        for m in picked {
            m.withUnsafeBytes { b in
                let p = UnsafeRawBufferPointer(start: b.baseAddress ?? UnsafeRawPointer(bitPattern: 8), count: b.count)
                visit(HashBytes(engine: self, item: root, start: p.baseAddress, offset: 0, count: p.count))
                _ = lockedHashRemovePair(&d, p)
            }
        }
        lockedHashCommit(root, d, hv, created: false)
        return .ok
    }

    /// SPOP without a count (the set keeps at least one member): one member at random, visited
    /// and removed in place. No copy of the member and no collection is made: the pick's entry
    /// (or packed pair) is unlinked after `visit` has read it.
    private func lockedPopOne(_ d: inout HashDescriptor, _ visit: (HashBytes) -> Void) {
        if d.packed {
            let n = node(d.head)
            var k = randomBelow(d.count)
            packedVisit(d) { pair, _ in
                if k > 0 { k -= 1; return true }
                visit(packedBytes(n, pair.field, pair.fieldCount))
                packedCut(&d, n, pair)
                return false
            }
            return
        }
        let e = node(lockedRandomEntry(d))
        visit(entryField(e))
        lockedFieldUnlink(e, &d)
        releaseKeyless(e)
        lockedFieldIndexMaintain(&d)
    }

    /// `count` (< size) distinct members at random.
    func lockedDistinctPicks(_ d: HashDescriptor, _ count: Int, _ visit: (HashBytes) -> Void) {
        if d.packed {
            var places: [Int] = []
            packedVisit(d) { pair, _ in places.append(pair.offset); return true }
            var g = randomSource
            places.shuffle(using: &g)
            let n = node(d.head)
            for i in 0..<count {
                let pair = PackedPair(UnsafeRawPointer(n.value), at: places[i])
                visit(packedBytes(n, pair.field, pair.fieldCount))
            }
            return
        }
        if count * 3 > d.count {
            var all: [SlabHandle] = []
            all.reserveCapacity(d.count)
            var h = d.head
            while h != 0 { all.append(h); h = node(h).next }
            for i in 0..<count {
                all.swapAt(i, i + randomBelow(all.count - i))
                visit(entryField(node(all[i])))
            }
            return
        }
        var seen = Set<SlabHandle>()
        while seen.count < count {
            let h = lockedRandomEntry(d)
            if seen.insert(h).inserted { visit(entryField(node(h))) }
        }
    }

    /// SMOVE source destination member (same database).
    public func setMove(_ source: UnsafeRawBufferPointer, hash sh: UInt32, _ destination: UnsafeRawBufferPointer,
                        hash dh: UInt32, database: Int, member: UnsafeRawBufferPointer) -> SetMoveResult {
        if hashPairTooLarge(member.count, 0) { return .tooLarge }
        itemLocks.lockPair(sh, dh)
        defer { itemLocks.unlockPair(sh, dh) }
        // redis: no source answers 0 before any type is checked.
        let (found, wrongType) = lockedHashRoot(source, sh, database, type: .set)
        if wrongType { return .wrongType }
        guard let src = found else { return .moved(false) }
        let same = source.count == destination.count
            && (source.count == 0 || memcmp(source.baseAddress!, destination.baseAddress!, source.count) == 0)
        var dst: Item? = nil
        if !same {
            let (f, w) = lockedHashRoot(destination, dh, database, type: .set)
            if w { refDecrement(src); return .wrongType }
            dst = f
        }
        var sd = src.hashDescriptor
        if same {
            let present = lockedHashValue(sd, member) != nil
            refDecrement(src)
            return .moved(present)
        }
        guard lockedHashValue(sd, member) != nil else {
            refDecrement(src)
            if let dst { refDecrement(dst) }
            return .moved(false)
        }
        guard let target = dst ?? newSetRoot(destination, database, encoding: setEncoding(firstMember: member)) else {
            refDecrement(src)
            return .outOfMemory
        }
        var dd = target.hashDescriptor
        let r = lockedHashSetPair(&dd, member, Self.noKey, onlyIfAbsent: true)
        if r == .outOfMemory {
            lockedHashAbandon(target, dd, dh, created: dst == nil)
            refDecrement(src)
            return .outOfMemory
        }
        if r == .added { lockedHashCommit(target, dd, dh, created: dst == nil) } else { refDecrement(target) }
        _ = lockedHashRemovePair(&sd, member)
        lockedHashCommit(src, sd, sh, created: false)
        return .moved(true)
    }

    /// The set's members, copied, in its order (SINTER, SUNION, SDIFF work on these).
    public func setSnapshot(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int) -> SetSnapshot {
        return lockedHashRead(key, hv, database, type: .set, wrongType: .wrongType, absent: .noKey) { d in
            var out: [[UInt8]] = []
            out.reserveCapacity(d.count)
            lockedHashEach(d) { m, _ in out.append(m.bytes); return true }
            return .members(out)
        }
    }

    /// SINTERSTORE / SUNIONSTORE / SDIFFSTORE: `key` becomes a set of `members` (distinct),
    /// replacing whatever it held (its expiry too); no members deletes it. Returns whether a key
    /// was there before, or nil when memory ran out (the old key is left).
    public func setStore(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, members: [[UInt8]]) -> Bool? {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        var outcome = GetOutcome.miss
        let existing = lockedGet(key, hv, database: database, anyType: true, bump: false, outcome: &outcome)
        defer { if let existing { refDecrement(existing) } }
        guard let first = members.first else {
            if let existing { lockedUnlink(existing, hv) }
            return existing != nil
        }
        let encoding = first.withUnsafeBytes { setEncoding(firstMember: $0) }
        guard let root = newSetRoot(key, database, encoding: encoding) else { return nil }
        var d = root.hashDescriptor
        for m in members {
            let r = m.withUnsafeBytes { b in
                lockedHashSetPair(&d, UnsafeRawBufferPointer(start: b.baseAddress ?? UnsafeRawPointer(bitPattern: 8), count: b.count),
                                  Self.noKey, onlyIfAbsent: true)
            }
            if r == .outOfMemory {
                lockedHashAbandon(root, d, hv, created: true)
                return nil
            }
        }
        root.hashDescriptor = d
        if let existing { lockedReplace(existing, with: root, hv) } else { lockedLink(root, hv) }
        refDecrement(root)
        return existing != nil
    }
}
