// Redis sorted sets on the shared engine (CacheEngine+ZSet.swift: the hash structure with scores
// as values, listpack or skiplist as redis 7.0): ZADD ZINCRBY ZREM ZCARD ZSCORE ZMSCORE ZRANK
// ZREVRANK ZPOPMIN ZPOPMAX ZMPOP ZRANDMEMBER ZSCAN here, the range family in
// +SortedSetRanges.swift, with redis 7.0.15's argument checks in its order (t_zset.c) and its
// replies: scores as addReplyDouble writes them (`%.17g`, `inf`; a RESP3 double), WITHSCORES
// pairs flat in RESP2 and as two-element arrays in RESP3, ZPOPMIN/ZPOPMAX with a count nested in
// RESP3 only. Scores are read as redis's string2d (strtod, the whole argument, no leading blank,
// no NaN, no overflow); range ends as zslParseRange (strtod up to the first NUL, `(` exclusive)
// and zslParseLexRange (`-`, `+`, `[`, `(`). Events: zadd, zincr, zrem, zpopmin, zpopmax, del
// when emptied, new.
import CacheEngine
import Platform
#if canImport(Glibc)
import Glibc
#endif

extension RESPConnection {
    static let sortedSetCommands: [RESPCommand] = [
        RESPCommand("zadd", arity: -4, keys: (1, 1, 1), flags: [.write, .denyoom, .fast]) { c, out in c.sortedSetAdd(incr: false, out) },
        RESPCommand("zincrby", arity: 4, keys: (1, 1, 1), flags: [.write, .denyoom, .fast]) { c, out in c.sortedSetAdd(incr: true, out) },
        RESPCommand("zrem", arity: -3, keys: (1, 1, 1), flags: [.write, .fast]) { c, out in c.sortedSetRemove(out) },
        RESPCommand("zcard", arity: 2, keys: (1, 1, 1), flags: [.readonly, .fast]) { c, out in c.sortedSetCard(out) },
        RESPCommand("zscore", arity: 3, keys: (1, 1, 1), flags: [.readonly, .fast]) { c, out in c.sortedSetScore(many: false, out) },
        RESPCommand("zmscore", arity: -3, keys: (1, 1, 1), flags: [.readonly, .fast]) { c, out in c.sortedSetScore(many: true, out) },
        RESPCommand("zrank", arity: 3, keys: (1, 1, 1), flags: [.readonly, .fast]) { c, out in c.sortedSetRank(reverse: false, out) },
        RESPCommand("zrevrank", arity: 3, keys: (1, 1, 1), flags: [.readonly, .fast]) { c, out in c.sortedSetRank(reverse: true, out) },
        RESPCommand("zpopmin", arity: -2, keys: (1, 1, 1), flags: [.write, .fast]) { c, out in c.sortedSetPop(max: false, out) },
        RESPCommand("zpopmax", arity: -2, keys: (1, 1, 1), flags: [.write, .fast]) { c, out in c.sortedSetPop(max: true, out) },
        RESPCommand("zmpop", arity: -4, flags: [.write, .movableKeys]) { c, out in c.sortedSetMultiPop(out) },
        RESPCommand("zrandmember", arity: -2, keys: (1, 1, 1), flags: [.readonly]) { c, out in c.fieldRandom(out, type: .zset) },
        RESPCommand("zscan", arity: -3, keys: (1, 1, 1), flags: [.readonly]) { c, out in c.fieldScan(out, type: .zset, withValues: true) },
    ]

    static let zsetMemberTooLarge: StaticString = "ERR sorted set member exceeds maximum allowed size (the item size limit, -I)"
    static let notAFloat: StaticString = "ERR value is not a valid float"

    /// The error reply for a failed sorted-set write (nil: not an error).
    func sortedSetWriteError(_ r: ZSetWriteResult, _ out: OutputBuffer) -> HandlerAction? {
        switch r {
        case .wrongType: return error(out, Self.wrongType)
        case .outOfMemory: return error(out, Self.outOfMemory)
        case .tooLarge:
            stats.add(RESPCounter.hashPairsTooLarge.rawValue)
            return error(out, Self.zsetMemberTooLarge)
        case .ok, .noKey: return nil
        }
    }

    /// A member and (WITHSCORES) its score: flat in RESP2, a pair in RESP3 (`pairs`).
    @inline(__always)
    func appendScoredMember(_ m: SlabBytes, _ score: Double, withScores: Bool, pairs: Bool, _ out: OutputBuffer) {
        if pairs { out.appendRESPArrayHeader(2) }
        appendHashBytes(m, out)
        if withScores { out.appendRESPDouble(score, version) }
    }

    // MARK: commands

    /// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member ... / ZINCRBY key increment member
    /// (redis's zaddGenericCommand with INCR set: the options are read there too).
    private func sortedSetAdd(incr: Bool, _ out: OutputBuffer) -> HandlerAction {
        var flags: ZSetAddFlags = incr ? [.incr] : []
        var ch = false
        var first = 2
        while first < argumentCount {
            if argument(first, is: "nx") { flags.insert(.nx) }
            else if argument(first, is: "xx") { flags.insert(.xx) }
            else if argument(first, is: "ch") { ch = true }
            else if argument(first, is: "incr") { flags.insert(.incr) }
            else if argument(first, is: "gt") { flags.insert(.gt) }
            else if argument(first, is: "lt") { flags.insert(.lt) }
            else { break }
            first += 1
        }
        let words = argumentCount - first
        if words % 2 != 0 || words == 0 { return syntaxError(out) }
        let count = words / 2
        if flags.contains(.nx) && flags.contains(.xx) {
            return error(out, "ERR XX and NX options at the same time are not compatible")
        }
        if (flags.contains(.gt) && flags.contains(.nx)) || (flags.contains(.lt) && flags.contains(.nx))
            || (flags.contains(.gt) && flags.contains(.lt)) {
            return error(out, "ERR GT, LT, and/or NX options at the same time are not compatible")
        }
        let increment = flags.contains(.incr)
        if increment && count > 1 { return error(out, "ERR INCR option supports a single increment-element pair") }
        // Every score is checked before anything changes (read again below: no array per request;
        // the first is kept, so the usual one-element ZADD reads its score once).
        var firstScore = 0.0
        for j in 0..<count {
            guard let s = scoreArgument(first + 2 * j) else { return error(out, Self.notAFloat) }
            if j == 0 { firstScore = s }
        }
        guard let (key, hv) = listKey(1) else { return error(out, Self.keyTooLong) }
        let created = keyMissingForNew(key, hv)
        var added = 0, updated = 0, processed = 0
        var score = 0.0
        var nan = false
        let r = engine.zsetAdd(key, hash: hv, database: database, flags: flags, count: count, element: { j in
            (j == 0 ? firstScore : self.scoreArgument(first + 2 * j) ?? 0, self.argument(first + 2 * j + 1))
        }) { outcome, s in
            switch outcome {
            case .added: added += 1; processed += 1; score = s
            case .updated: updated += 1; processed += 1; score = s
            case .unchanged: processed += 1; score = s
            case .skipped: break
            case .notANumber: nan = true
            }
        }
        if let failed = sortedSetWriteError(r, out) { return failed }
        if added + updated > 0 {
            if created && added > 0 { notify(KeyspaceEvents.new, "new", key) }
            notify(KeyspaceEvents.zset, increment ? "zincr" : "zadd", key)
        }
        if added > 0 { serveBlocked(key) }
        if nan { return error(out, "ERR resulting score is not a number (NaN)") }
        if increment {
            if processed > 0 { out.appendRESPDouble(score, version) } else { out.appendRESPNull(version) }
        } else {
            out.appendRESPInteger(Int64(ch ? added + updated : added))
        }
        return .proceed
    }

    private func sortedSetRemove(_ out: OutputBuffer) -> HandlerAction {
        guard let (key, hv) = listKey(1) else { out.appendRESPInteger(0); return .proceed }
        guard let n = engine.zsetRemove(key, hash: hv, database: database, count: argumentCount - 2,
                                        member: { self.argument($0 + 2) }) else {
            return error(out, Self.wrongType)
        }
        if n > 0 {
            notify(KeyspaceEvents.zset, "zrem", key)
            notifyIfEmptied(key, hv)
        }
        out.appendRESPInteger(Int64(n))
        return .proceed
    }

    private func sortedSetCard(_ out: OutputBuffer) -> HandlerAction {
        guard let (key, hv) = listKey(1) else { out.appendRESPInteger(0); return .proceed }
        guard let n = engine.hashLength(key, hash: hv, database: database, type: .zset) else { return error(out, Self.wrongType) }
        out.appendRESPInteger(Int64(n))
        return .proceed
    }

    /// ZSCORE (a double or null) / ZMSCORE (an array of them).
    private func sortedSetScore(many: Bool, _ out: OutputBuffer) -> HandlerAction {
        let n = argumentCount - 2
        func none() -> HandlerAction {
            if many { out.appendRESPArrayHeader(n) }
            for _ in 0..<n { out.appendRESPNull(version) }
            return .proceed
        }
        guard let (key, hv) = listKey(1) else { return none() }
        var started = false
        let r = engine.hashGet(key, hash: hv, database: database, type: .zset, count: n, field: { self.argument($0 + 2) }) { v in
            if many && !started { out.appendRESPArrayHeader(n); started = true }
            if let v { out.appendRESPDouble(v.score, self.version) } else { out.appendRESPNull(self.version) }
        }
        switch r {
        case .ok: return .proceed
        case .noKey: return none()
        case .wrongType: return error(out, Self.wrongType)
        }
    }

    private func sortedSetRank(reverse: Bool, _ out: OutputBuffer) -> HandlerAction {
        guard let (key, hv) = listKey(1) else { out.appendRESPNull(version); return .proceed }
        switch engine.zsetRank(key, hash: hv, database: database, member: argument(2), reverse: reverse) {
        case .rank(let r): out.appendRESPInteger(Int64(r))
        case .absent: out.appendRESPNull(version)
        case .wrongType: return error(out, Self.wrongType)
        }
        return .proceed
    }

    /// ZPOPMIN / ZPOPMAX key [count].
    private func sortedSetPop(max: Bool, _ out: OutputBuffer) -> HandlerAction {
        if argumentCount > 3 { return syntaxError(out) }
        var count = -1
        if argumentCount == 3 {
            // getPositiveLongFromObjectOrReply: one message for a non-integer and a negative.
            guard let c = integerArgument(2), c >= 0 else { return error(out, "ERR value is out of range, must be positive") }
            count = c
        }
        let nested = version == .resp3 && count != -1
        guard let (key, hv) = listKey(1) else { out.appendRESPArrayHeader(0); return .proceed }
        if count == 0 {
            guard engine.hashLength(key, hash: hv, database: database, type: .zset) != nil else { return error(out, Self.wrongType) }
            out.appendRESPArrayHeader(0)
            return .proceed
        }
        var popped = 0
        let r = engine.zsetPop(key, hash: hv, database: database, count: count == -1 ? 1 : count, max: max, willVisit: { n in
            popped = n
            out.appendRESPArrayHeader(nested ? n : 2 * n)
        }) { m, s in
            self.appendScoredMember(m, s, withScores: true, pairs: nested, out)
        }
        switch r {
        case .ok: break
        case .noKey: out.appendRESPArrayHeader(0); return .proceed
        case .wrongType: return error(out, Self.wrongType)
        }
        if popped > 0 {
            notify(KeyspaceEvents.zset, max ? "zpopmax" : "zpopmin", key)
            notifyIfEmptied(key, hv)
        }
        return .proceed
    }

    /// ZMPOP's and BZMPOP's `numkeys key [key ...] MIN|MAX [COUNT count]` from argument `i` on, read
    /// as redis's zmpopGenericCommand reads them; nil once the error is written.
    func multiPopArguments(numkeysAt i: Int, _ out: OutputBuffer) -> (numkeys: Int, max: Bool, count: Int)? {
        // getRangeLongFromObjectOrReply with a message: the same words for a non-integer.
        guard let numkeys = integerArgument(i), numkeys >= 1 else {
            _ = error(out, "ERR numkeys should be greater than 0")
            return nil
        }
        guard numkeys < argumentCount - (i + 1) else { _ = syntaxError(out); return nil }
        let whereAt = i + 1 + numkeys
        let max: Bool
        if argument(whereAt, is: "min") { max = false } else if argument(whereAt, is: "max") { max = true } else {
            _ = syntaxError(out)
            return nil
        }
        var count = -1
        var j = whereAt + 1
        while j < argumentCount {
            if count == -1 && argument(j, is: "count") && j + 1 < argumentCount {
                j += 1
                guard let c = integerArgument(j), c >= 1 else {
                    _ = error(out, "ERR count should be greater than 0")
                    return nil
                }
                count = c
            } else {
                _ = syntaxError(out)
                return nil
            }
            j += 1
        }
        return (numkeys, max, count == -1 ? 1 : count)
    }

    /// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]: the first key holding a sorted set.
    private func sortedSetMultiPop(_ out: OutputBuffer) -> HandlerAction {
        guard let (numkeys, max, count) = multiPopArguments(numkeysAt: 1, out) else { return .proceed }
        for k in 0..<numkeys {
            guard let (key, hv) = listKey(2 + k) else { continue }
            var popped = 0
            let r = engine.zsetPop(key, hash: hv, database: database, count: count, max: max, willVisit: { n in
                popped = n
                out.appendRESPArrayHeader(2)
                out.appendRESPBulk(key)
                out.appendRESPArrayHeader(n)
            }) { m, s in
                self.appendScoredMember(m, s, withScores: true, pairs: true, out)
            }
            switch r {
            case .noKey: continue
            case .wrongType: return error(out, Self.wrongType)
            case .ok:
                if popped > 0 {
                    notify(KeyspaceEvents.zset, max ? "zpopmax" : "zpopmin", key)
                    notifyIfEmptied(key, hv)
                }
                return .proceed
            }
        }
        out.appendRESPNullArray(version)
        return .proceed
    }

    // MARK: reading scores and ranges

    /// Argument `i` as a score (`redisScore`).
    func scoreArgument(_ i: Int) -> Double? { redisScore(argument(i)) }

    /// Argument `i` as one end of a score range (`redisScoreBound`).
    func scoreBound(_ i: Int) -> ZScoreBound? { redisScoreBound(argument(i)) }

    /// Argument `i` as one end of a lex range (`redisLexBound`).
    func lexBound(_ i: Int) -> ZLexBound? { redisLexBound(argument(i)) }
}

/// strtod over `a` (copied with a NUL after it): the value, the bytes it read, errno.
func strtodBytes(_ a: UnsafeRawBufferPointer) -> (Double, Int, Int32) {
    withUnsafeTemporaryAllocation(byteCount: a.count + 1, alignment: 1) { buf -> (Double, Int, Int32) in
        if a.count > 0 { buf.baseAddress!.copyMemory(from: a.baseAddress!, byteCount: a.count) }
        buf[a.count] = 0
        let p = buf.baseAddress!.assumingMemoryBound(to: CChar.self)
        var end: UnsafeMutablePointer<CChar>? = nil
        errno = 0
        let v = strtod(p, &end)
        let e = errno
        return (v, end.map { $0 - p } ?? 0, e)
    }
}

/// A score as redis's string2d reads it: all of `a`, no leading blank, not NaN, no overflow and
/// no underflow to 0.
func redisScore(_ a: UnsafeRawBufferPointer) -> Double? {
    guard a.count > 0, !(a[0] == 0x20 || (a[0] >= 0x09 && a[0] <= 0x0D)) else { return nil }
    if let v = decimalScore(a) { return v }
    let (v, used, e) = strtodBytes(a)
    guard used == a.count, !v.isNaN else { return nil }
    if e == ERANGE && (v.isInfinite || v == 0) { return nil }
    return v
}

/// An optional `-` and 1-15 decimal digits, read without strtod (its copy and its multi-precision
/// path cost more than the rest of a ZADD's parsing); strtod reads such a text as exactly this
/// integer (under 2^53), `-0` as negative zero. Nil for anything else, which strtod then reads.
@inline(__always)
func decimalScore(_ a: UnsafeRawBufferPointer) -> Double? {
    let negative = a[0] == UInt8(ascii: "-")
    let start = negative ? 1 : 0
    guard a.count > start, a.count - start <= 15 else { return nil }
    var v: Int64 = 0
    for i in start..<a.count {
        let c = a[i] &- UInt8(ascii: "0")
        guard c < 10 else { return nil }
        v = v * 10 + Int64(c)
    }
    return negative ? -Double(v) : Double(v)
}

/// One end of a score range as zslParseRange reads it: `(` exclusive, then strtod up to the end
/// (or a NUL), not NaN; an empty text is 0.
func redisScoreBound(_ text: UnsafeRawBufferPointer) -> ZScoreBound? {
    var a = text
    var exclusive = false
    if a.count > 0 && a[0] == UInt8(ascii: "(") {
        exclusive = true
        a = UnsafeRawBufferPointer(rebasing: a[1...])
    }
    let (v, used, _) = strtodBytes(a)
    guard used == a.count || a[used] == 0, !v.isNaN else { return nil }
    return ZScoreBound(v, exclusive: exclusive)
}

/// One end of a lex range as zslParseLexRangeItem reads it; the bytes stay in `a`.
func redisLexBound(_ a: UnsafeRawBufferPointer) -> ZLexBound? {
    guard a.count > 0 else { return nil }
    switch a[0] {
    case UInt8(ascii: "+"): return a.count == 1 || a[1] == 0 ? .plusInfinity : nil
    case UInt8(ascii: "-"): return a.count == 1 || a[1] == 0 ? .minusInfinity : nil
    case UInt8(ascii: "("): return .exclusive(UnsafeRawBufferPointer(rebasing: a[1...]))
    case UInt8(ascii: "["): return .inclusive(UnsafeRawBufferPointer(rebasing: a[1...]))
    default: return nil
    }
}
