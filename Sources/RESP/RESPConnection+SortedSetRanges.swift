// The sorted-set range family (engine: `zsetRange`, `zsetCount`, `zsetRemoveRange`, every range
// two "how many come before" descents, CacheEngine+ZSetOrder.swift): ZRANGE (BYSCORE BYLEX REV
// LIMIT WITHSCORES), ZRANGESTORE, ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX,
// ZREVRANGE, ZCOUNT, ZLEXCOUNT, ZREMRANGEBYRANK/SCORE/LEX, all read as redis 7.0's
// zrangeGenericCommand and zremrangeGenericCommand read them: options first (REV, BYSCORE and
// BYLEX only once and only where the command leaves them open), then the conflicts, then the
// range (a reversed score or lex range is given max first), then the key.
import CacheEngine
import Platform

extension RESPConnection {
    static let sortedSetRangeCommands: [RESPCommand] = [
        RESPCommand("zrange", arity: -4, keys: (1, 1, 1), flags: [.readonly]) { c, out in c.sortedSetRange(key: 1, store: false, nil, reverse: nil, out) },
        RESPCommand("zrangestore", arity: -5, keys: (1, 2, 1), flags: [.write, .denyoom]) { c, out in c.sortedSetRange(key: 2, store: true, nil, reverse: nil, out) },
        RESPCommand("zrangebyscore", arity: -4, keys: (1, 1, 1), flags: [.readonly]) { c, out in c.sortedSetRange(key: 1, store: false, .score, reverse: false, out) },
        RESPCommand("zrevrangebyscore", arity: -4, keys: (1, 1, 1), flags: [.readonly]) { c, out in c.sortedSetRange(key: 1, store: false, .score, reverse: true, out) },
        RESPCommand("zrangebylex", arity: -4, keys: (1, 1, 1), flags: [.readonly]) { c, out in c.sortedSetRange(key: 1, store: false, .lex, reverse: false, out) },
        RESPCommand("zrevrangebylex", arity: -4, keys: (1, 1, 1), flags: [.readonly]) { c, out in c.sortedSetRange(key: 1, store: false, .lex, reverse: true, out) },
        RESPCommand("zrevrange", arity: -4, keys: (1, 1, 1), flags: [.readonly]) { c, out in c.sortedSetRange(key: 1, store: false, .rank, reverse: true, out) },
        RESPCommand("zcount", arity: 4, keys: (1, 1, 1), flags: [.readonly, .fast]) { c, out in c.sortedSetCount(.score, out) },
        RESPCommand("zlexcount", arity: 4, keys: (1, 1, 1), flags: [.readonly, .fast]) { c, out in c.sortedSetCount(.lex, out) },
        RESPCommand("zremrangebyrank", arity: 4, keys: (1, 1, 1), flags: [.write]) { c, out in c.sortedSetRemoveRange(.rank, out) },
        RESPCommand("zremrangebyscore", arity: 4, keys: (1, 1, 1), flags: [.write]) { c, out in c.sortedSetRemoveRange(.score, out) },
        RESPCommand("zremrangebylex", arity: 4, keys: (1, 1, 1), flags: [.write]) { c, out in c.sortedSetRemoveRange(.lex, out) },
    ]

    enum ZRangeKind { case rank, score, lex }

    /// The range in arguments `min` and `max` as `kind` reads it, or the error reply's words.
    private func rangeArguments(_ kind: ZRangeKind, _ min: Int, _ max: Int) -> Result<ZRangeBy, RangeWords> {
        switch kind {
        case .rank:
            guard let s = integerArgument(min), let e = integerArgument(max) else { return .failure(.integer) }
            return .success(.rank(s, e))
        case .score:
            guard let lo = scoreBound(min), let hi = scoreBound(max) else { return .failure(.float) }
            return .success(.score(lo, hi))
        case .lex:
            guard let lo = lexBound(min), let hi = lexBound(max) else { return .failure(.lex) }
            return .success(.lex(lo, hi))
        }
    }

    enum RangeWords: Error { case integer, float, lex }

    private func rangeError(_ w: RangeWords, _ out: OutputBuffer) -> HandlerAction {
        switch w {
        case .integer: return notAnInteger(out)
        case .float: return error(out, "ERR min or max is not a float")
        case .lex: return error(out, "ERR min or max not valid string range item")
        }
    }

    /// ZRANGE and its older forms (`kind` / `reverse` nil: left to the options), ZRANGESTORE.
    func sortedSetRange(key k: Int, store: Bool, _ fixedKind: ZRangeKind?, reverse fixedReverse: Bool?,
                        _ out: OutputBuffer) -> HandlerAction {
        var kind = fixedKind
        var reverse = fixedReverse
        var withScores = false
        var offset = 0
        var limit = -1
        var j = k + 3
        while j < argumentCount {
            let left = argumentCount - j - 1
            if !store && argument(j, is: "withscores") {
                withScores = true
            } else if argument(j, is: "limit") && left >= 2 {
                guard let o = integerArgument(j + 1), let l = integerArgument(j + 2) else { return notAnInteger(out) }
                offset = o
                limit = l
                j += 2
            } else if reverse == nil && argument(j, is: "rev") {
                reverse = true
            } else if kind == nil && argument(j, is: "bylex") {
                kind = .lex
            } else if kind == nil && argument(j, is: "byscore") {
                kind = .score
            } else {
                return syntaxError(out)
            }
            j += 1
        }
        let by = kind ?? .rank
        let rev = reverse ?? false
        if limit != -1 && by == .rank {
            return error(out, "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
        }
        if withScores && by == .lex {
            return error(out, "ERR syntax error, WITHSCORES not supported in combination with BYLEX")
        }
        let (minAt, maxAt) = rev && by != .rank ? (k + 2, k + 1) : (k + 1, k + 2)
        let range: ZRangeBy
        switch rangeArguments(by, minAt, maxAt) {
        case .success(let r): range = r
        case .failure(let w): return rangeError(w, out)
        }
        let q = ZRangeQuery(range, reverse: rev, offset: offset, limit: limit)
        if store { return storeRange(q, source: k, out) }
        guard let (key, hv) = listKey(k) else { out.appendRESPArrayHeader(0); return .proceed }
        let pairs = withScores && version == .resp3
        let r = engine.zsetRange(key, hash: hv, database: database, q, willVisit: { n in
            out.appendRESPArrayHeader(withScores && !pairs ? 2 * n : n)
        }) { m, s in
            self.appendScoredMember(m, s, withScores: withScores, pairs: pairs, out)
        }
        switch r {
        case .ok: break
        case .noKey: out.appendRESPArrayHeader(0)
        case .wrongType: return error(out, Self.wrongType)
        }
        return .proceed
    }

    /// ZRANGESTORE dst src ...: the range copied out of src, stored whole under dst.
    private func storeRange(_ q: ZRangeQuery, source: Int, _ out: OutputBuffer) -> HandlerAction {
        var members: [ZSetMember] = []
        if let (key, hv) = listKey(source) {
            let r = engine.zsetRange(key, hash: hv, database: database, q, willVisit: { members.reserveCapacity($0) }) { m, s in
                members.append(ZSetMember(m.bytes, s))
            }
            if r == .wrongType { return error(out, Self.wrongType) }
        }
        // redis adds the range one member at a time to a new listpack (unless a rank range is
        // longer than one can be), so until a member forces the skip list a -0 is kept as 0.
        let (most, longest) = (engine.encodingLimits.zsetEntries, engine.encodingLimits.zsetValue)
        var packed = { if case .rank = q.by { return members.count <= most } else { return true } }()
        for i in members.indices where packed {
            if i + 1 > most || members[i].member.count > longest {
                packed = false
            } else if members[i].score == 0 {
                members[i].score = 0
            }
        }
        return storeSortedSet(members, at: 1, event: "zrangestore", out)
    }

    /// A computed sorted set stored under argument `at` (replacing what is there; none deletes
    /// it), its size replied; `event` when something was stored, `del` when the key went.
    func storeSortedSet(_ members: [ZSetMember], at: Int, event: StaticString, _ out: OutputBuffer) -> HandlerAction {
        let key = argument(at)
        guard key.count <= ItemLayout.maxKeyLength else { return error(out, Self.keyTooLong) }
        let hv = CacheEngine.hash(key)
        let created = keyMissingForNew(key, hv)
        guard let existed = engine.zsetStore(key, hash: hv, database: database, members: members) else { return error(out, Self.outOfMemory) }
        if members.isEmpty {
            if existed { notify(KeyspaceEvents.generic, "del", key) }
        } else {
            if created { notify(KeyspaceEvents.new, "new", key) }
            notify(KeyspaceEvents.zset, event, key)
            serveBlocked(key)
        }
        out.appendRESPInteger(Int64(members.count))
        return .proceed
    }

    /// ZCOUNT / ZLEXCOUNT key min max.
    private func sortedSetCount(_ kind: ZRangeKind, _ out: OutputBuffer) -> HandlerAction {
        let range: ZRangeBy
        switch rangeArguments(kind, 2, 3) {
        case .success(let r): range = r
        case .failure(let w): return rangeError(w, out)
        }
        guard let (key, hv) = listKey(1) else { out.appendRESPInteger(0); return .proceed }
        guard let n = engine.zsetCount(key, hash: hv, database: database, ZRangeQuery(range)) else { return error(out, Self.wrongType) }
        out.appendRESPInteger(Int64(n))
        return .proceed
    }

    /// ZREMRANGEBYRANK / ZREMRANGEBYSCORE / ZREMRANGEBYLEX key min max.
    private func sortedSetRemoveRange(_ kind: ZRangeKind, _ out: OutputBuffer) -> HandlerAction {
        let range: ZRangeBy
        switch rangeArguments(kind, 2, 3) {
        case .success(let r): range = r
        case .failure(let w): return rangeError(w, out)
        }
        guard let (key, hv) = listKey(1) else { out.appendRESPInteger(0); return .proceed }
        guard let n = engine.zsetRemoveRange(key, hash: hv, database: database, ZRangeQuery(range)) else { return error(out, Self.wrongType) }
        if n > 0 {
            switch kind {
            case .rank: notify(KeyspaceEvents.zset, "zremrangebyrank", key)
            case .score: notify(KeyspaceEvents.zset, "zremrangebyscore", key)
            case .lex: notify(KeyspaceEvents.zset, "zremrangebylex", key)
            }
            notifyIfEmptied(key, hv)
        }
        out.appendRESPInteger(Int64(n))
        return .proceed
    }
}
