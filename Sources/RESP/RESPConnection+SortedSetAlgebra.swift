// ZUNION ZINTER ZDIFF, their STORE forms and ZINTERCARD, as redis 7.0's
// zunionInterDiffGenericCommand: numkeys, then every key read (a sorted set, or a set whose
// members score 1; another type is WRONGTYPE before any option is read), then WEIGHTS, AGGREGATE
// (SUM MIN MAX; not for ZDIFF), WITHSCORES (not for the STORE forms) or LIMIT (ZINTERCARD). Each
// key is read under its own lock (`zsetSnapshot`, copies) and the result computed here; a weighted
// score that is NaN (inf × 0) counts as 0, a sum that is NaN (inf + -inf) as 0, as redis's. The
// result is answered in score order, or stored whole (`zsetStore`, the encoding by redis's bounds).
// Events: zunionstore, zinterstore, zdiffstore, del when an empty result removes the destination.
import CacheEngine
import Platform

extension RESPConnection {
    static let sortedSetAlgebraCommands: [RESPCommand] = [
        RESPCommand("zunion", arity: -3, flags: [.readonly, .movableKeys]) { c, out in c.sortedSetAlgebra(.union, "zunion", numkeys: 1, store: false, out) },
        RESPCommand("zinter", arity: -3, flags: [.readonly, .movableKeys]) { c, out in c.sortedSetAlgebra(.inter, "zinter", numkeys: 1, store: false, out) },
        RESPCommand("zdiff", arity: -3, flags: [.readonly, .movableKeys]) { c, out in c.sortedSetAlgebra(.diff, "zdiff", numkeys: 1, store: false, out) },
        RESPCommand("zunionstore", arity: -4, keys: (1, 1, 1), flags: [.write, .denyoom, .movableKeys]) { c, out in c.sortedSetAlgebra(.union, "zunionstore", numkeys: 2, store: true, out) },
        RESPCommand("zinterstore", arity: -4, keys: (1, 1, 1), flags: [.write, .denyoom, .movableKeys]) { c, out in c.sortedSetAlgebra(.inter, "zinterstore", numkeys: 2, store: true, out) },
        RESPCommand("zdiffstore", arity: -4, keys: (1, 1, 1), flags: [.write, .denyoom, .movableKeys]) { c, out in c.sortedSetAlgebra(.diff, "zdiffstore", numkeys: 2, store: true, out) },
        RESPCommand("zintercard", arity: -3, flags: [.readonly, .movableKeys]) { c, out in c.sortedSetAlgebra(.inter, "zintercard", numkeys: 1, store: false, cardinality: true, out) },
    ]

    enum ZSetOperation { case union, inter, diff }
    enum ZAggregate { case sum, min, max }

    /// redis's zunionInterAggregate.
    @inline(__always)
    private static func aggregate(_ target: inout Double, _ v: Double, _ how: ZAggregate) {
        switch how {
        case .sum:
            target += v
            if target.isNaN { target = 0 }
        case .min: if v < target { target = v }
        case .max: if v > target { target = v }
        }
    }

    func sortedSetAlgebra(_ op: ZSetOperation, _ name: String, numkeys at: Int, store: Bool, cardinality: Bool = false,
                          _ out: OutputBuffer) -> HandlerAction {
        guard let setnum = integerArgument(at) else { return notAnInteger(out) }
        guard setnum >= 1 else { return error(out, "ERR at least 1 input key is needed for '\(name)' command") }
        guard setnum <= argumentCount - (at + 1) else { return syntaxError(out) }
        var sets: [[ZSetMember]] = []
        sets.reserveCapacity(setnum)
        for i in 0..<setnum {
            guard let (key, hv) = listKey(at + 1 + i) else { sets.append([]); continue }
            switch engine.zsetSnapshot(key, hash: hv, database: database, setsToo: true) {
            case .members(let m): sets.append(m)
            case .noKey: sets.append([])
            case .wrongType: return error(out, Self.wrongType)
            }
        }
        var weights = [Double](repeating: 1, count: setnum)
        var how = ZAggregate.sum
        var withScores = false
        var limit = 0
        var j = at + 1 + setnum
        while j < argumentCount {
            let remaining = argumentCount - j
            if op != .diff && !cardinality && remaining >= setnum + 1 && argument(j, is: "weights") {
                j += 1
                for i in 0..<setnum {
                    guard let w = scoreArgument(j) else { return error(out, "ERR weight value is not a float") }
                    weights[i] = w
                    j += 1
                }
            } else if op != .diff && !cardinality && remaining >= 2 && argument(j, is: "aggregate") {
                j += 1
                if argument(j, is: "sum") { how = .sum } else if argument(j, is: "min") { how = .min } else if argument(j, is: "max") { how = .max } else { return syntaxError(out) }
                j += 1
            } else if !store && !cardinality && argument(j, is: "withscores") {
                j += 1
                withScores = true
            } else if cardinality && remaining >= 2 && argument(j, is: "limit") {
                j += 1
                guard let l = integerArgument(j), l >= 0 else { return error(out, "ERR LIMIT can't be negative") }
                limit = l
                j += 1
            } else {
                return syntaxError(out)
            }
        }
        let result = Self.combine(op, sets, weights, how)
        if cardinality {
            out.appendRESPInteger(Int64(limit > 0 ? min(limit, result.count) : result.count))
            return .proceed
        }
        if store {
            let event: StaticString = op == .union ? "zunionstore" : op == .inter ? "zinterstore" : "zdiffstore"
            return storeSortedSet(result, at: 1, event: event, out)
        }
        let sorted = result.sorted { a, b in
            if a.score != b.score { return a.score < b.score }
            return a.member.lexicographicallyPrecedes(b.member)
        }
        let pairs = withScores && version == .resp3
        out.appendRESPArrayHeader(withScores && !pairs ? 2 * sorted.count : sorted.count)
        for m in sorted {
            if pairs { out.appendRESPArrayHeader(2) }
            m.member.withUnsafeBytes { out.appendRESPBulk($0) }
            if withScores { out.appendRESPDouble(m.score, version) }
        }
        return .proceed
    }

    /// The operation on copies (members distinct in the result, in no particular order).
    private static func combine(_ op: ZSetOperation, _ sets: [[ZSetMember]], _ weights: [Double], _ how: ZAggregate) -> [ZSetMember] {
        func weighted(_ s: Double, _ w: Double) -> Double {
            let v = s * w
            return v.isNaN ? 0 : v
        }
        // redis sorts the inputs by size (a stable sort) for a union or an intersection: the order
        // an element's scores are aggregated in, which MIN/MAX of 0 and -0 and a SUM's rounding see.
        let bySize = sets.indices.sorted { a, b in sets[a].count != sets[b].count ? sets[a].count < sets[b].count : a < b }
        switch op {
        case .union:
            var index: [[UInt8]: Int] = [:]
            var out: [ZSetMember] = []
            for i in bySize {
                for m in sets[i] {
                    let v = weighted(m.score, weights[i])
                    if let at = index[m.member] {
                        aggregate(&out[at].score, v, how)
                    } else {
                        index[m.member] = out.count
                        out.append(ZSetMember(m.member, v))
                    }
                }
            }
            return out
        case .inter:
            // The smallest set drives, the others are looked up (redis sorts by cardinality).
            guard let first = bySize.first, !sets[first].isEmpty else { return [] }
            let lookups: [(Int, [[UInt8]: Double])] = bySize.dropFirst().map { i in
                (i, Dictionary(sets[i].map { ($0.member, $0.score) }, uniquingKeysWith: { a, _ in a }))
            }
            var out: [ZSetMember] = []
            for m in sets[first] {
                var score = weighted(m.score, weights[first])
                var inAll = true
                for (i, d) in lookups {
                    guard let s = d[m.member] else { inAll = false; break }
                    aggregate(&score, s * weights[i], how)
                }
                if inAll { out.append(ZSetMember(m.member, score)) }
            }
            return out
        case .diff:
            guard let first = sets.first, !first.isEmpty else { return [] }
            let others = sets.dropFirst().map { Set($0.map(\.member)) }
            return first.filter { m in !others.contains { $0.contains(m.member) } }
        }
    }
}
