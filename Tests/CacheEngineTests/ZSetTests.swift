// The engine's Redis sorted sets (CacheEngine+ZSet.swift, on the hash structure with a skip
// list): the listpack and its conversion at 128 members / 64 bytes, order by score then member
// bytes, ranks and ranges at the edges in both encodings, a random mix against a model, a
// large set (ranks stay exact), COPY/RENAME and every chunk back after delete; the skip list's
// links, spans and backward links walked level by level (`zslProblems`) through every writer.
@testable import CacheEngine
import SlabAllocator
import TestSupport
import Testing

extension CacheEngine {
    @discardableResult
    func zadd(_ key: String, _ pairs: [(Double, String)], flags: ZSetAddFlags = []) -> ZSetWriteResult {
        let bytes = pairs.map { Array($0.1.utf8) }
        return withKey(key) { k, hv in
            zsetAdd(k, hash: hv, database: 0, flags: flags, count: bytes.count, element: { i in
                (pairs[i].0, bytes[i].withUnsafeBytes { UnsafeRawBufferPointer(start: $0.baseAddress ?? UnsafeRawPointer(bitPattern: 8), count: $0.count) })
            }) { _, _ in }
        }
    }

    func zrange(_ key: String, _ q: ZRangeQuery) -> [String] {
        var out: [String] = []
        _ = withKey(key) { k, hv in
            zsetRange(k, hash: hv, database: 0, q, willVisit: { _ in }) { m, _ in out.append(String(decoding: m.bytes, as: UTF8.self)) }
        }
        return out
    }

    func zall(_ key: String) -> [String] { zrange(key, ZRangeQuery(.rank(0, -1))) }

    func zscoreOf(_ key: String, _ member: String) -> Double? {
        var got: Double? = nil
        _ = withKey(key) { k, hv in
            Array(member.utf8).withUnsafeBytes { m in
                hashGet(k, hash: hv, database: 0, type: .zset, field: { _ in m }) { v in got = v?.score }
            }
        }
        return got
    }

    func zrankOf(_ key: String, _ member: String, reverse: Bool = false) -> Int? {
        withKey(key) { k, hv in
            Array(member.utf8).withUnsafeBytes { m -> Int? in
                if case .rank(let r) = zsetRank(k, hash: hv, database: 0, member: m, reverse: reverse) { return r }
                return nil
            }
        }
    }

    func zrem(_ key: String, _ members: [String]) -> Int? {
        let bytes = members.map { Array($0.utf8) }
        return withKey(key) { k, hv in
            zsetRemove(k, hash: hv, database: 0, count: bytes.count) { i in
                bytes[i].withUnsafeBytes { UnsafeRawBufferPointer(start: $0.baseAddress ?? UnsafeRawPointer(bitPattern: 8), count: $0.count) }
            }
        }
    }

    func zencoding(_ key: String) -> HashEncoding? { withKey(key) { hashSummary($0, hash: $1, database: 0, type: .zset)?.encoding } }

    /// What is wrong with `key`'s skip list, if anything: every span must be the distance in
    /// ranks, each level's nodes of that level or taller, the order strict by (score, member), the
    /// backward links and the header's tail right, the levels past the one in use empty. [] for a
    /// listpack; ["no key"] when absent.
    func zslProblems(_ key: String) -> [String] {
        withKey(key) { k, hv in
            itemLocks.lock(hv)
            defer { itemLocks.unlock(hv) }
            guard let root = lockedHashRoot(k, hv, 0, type: .zset).0 else { return ["no key"] }
            defer { refDecrement(root) }
            let d = root.hashDescriptor
            guard d.encoding == .skiplist else { return [] }
            var problems: [String] = []
            var rankOf: [SlabHandle: Int] = [d.zslHeader: 0]
            var prev: SlabHandle = 0
            var h = zsl(d.zslHeader).forward(0)
            var r = 0
            while h != 0 && r <= d.count {
                r += 1
                rankOf[h] = r
                let x = zsl(h)
                if x.backward != prev { problems.append("rank \(r): backward") }
                if prev != 0 {
                    let p = zsl(prev)
                    let pm = Array(zslMember(p).bytes), xm = Array(zslMember(x).bytes)
                    if !(p.score < x.score || (p.score == x.score && pm.lexicographicallyPrecedes(xm))) {
                        problems.append("rank \(r): out of order")
                    }
                }
                if x.level < 1 || x.level > d.zslLevel { problems.append("rank \(r): level \(x.level)") }
                prev = h
                h = x.forward(0)
            }
            if r != d.count { problems.append("\(r) nodes at level 0, count \(d.count)") }
            if zsl(d.zslHeader).backward != prev { problems.append("header's tail") }
            for i in 0..<d.zslLevel {
                var c = d.zslHeader
                var steps = 0
                while steps <= d.count {
                    steps += 1
                    let cn = zsl(c)
                    let f = cn.forward(i)
                    if f == 0 { break }
                    guard let fr = rankOf[f], let cr = rankOf[c] else { problems.append("level \(i): a node not at level 0"); break }
                    if cn.span(i) != fr - cr { problems.append("level \(i), rank \(cr): span \(cn.span(i)), want \(fr - cr)") }
                    if zsl(f).level <= i { problems.append("level \(i), rank \(fr): node of level \(zsl(f).level)") }
                    c = f
                }
            }
            for i in d.zslLevel..<ZslNode.maxLevel where zsl(d.zslHeader).forward(i) != 0 { problems.append("level \(i) past the level in use") }
            return problems
        }
    }
}

@Suite("Engine sorted sets")
struct ZSetTests {
    @Test("listpack up to 128 members of at most 64 bytes, then skiplist, as redis 7.0")
    func encodings() throws {
        let h = try Harness()
        let e = h.engine
        e.zadd("z", (0..<128).map { (Double($0), "m\($0)") })
        #expect(e.zencoding("z") == .listpack)
        e.zadd("z", [(0, "m0")])
        #expect(e.zencoding("z") == .listpack, "an update adds nothing")
        e.zadd("z", [(200, "new")])
        #expect(e.zencoding("z") == .skiplist)
        #expect(e.zall("z") == (0..<128).map { "m\($0)" } + ["new"])
        e.zadd("w", [(1, String(repeating: "x", count: 64))])
        #expect(e.zencoding("w") == .listpack)
        e.zadd("w", [(2, String(repeating: "y", count: 65))])
        #expect(e.zencoding("w") == .skiplist)
        e.zadd("long", [(1, String(repeating: "x", count: 65))])
        #expect(e.zencoding("long") == .skiplist)
        // Removing members never converts back.
        _ = e.zrem("z", (0..<120).map { "m\($0)" })
        #expect(e.zencoding("z") == .skiplist)
        #expect(e.zall("z") == (120..<128).map { "m\($0)" } + ["new"])
    }

    @Test("order: score, then member bytes (shorter first on a common prefix); updates move members", arguments: [10, 300])
    func ordering(size: Int) throws {
        let h = try Harness()
        let e = h.engine
        var model: [String: Double] = [:]
        for i in 0..<size {
            let m = "k\(i % 7)-\(i)"
            let s = Double(i % 5)
            model[m] = s
            e.zadd("z", [(s, m)])
        }
        e.zadd("z", [(1, "a"), (1, "ab"), (1, "b"), (-Double.infinity, "low"), (Double.infinity, "high")])
        model["a"] = 1; model["ab"] = 1; model["b"] = 1; model["low"] = -.infinity; model["high"] = .infinity
        func sorted() -> [String] {
            model.sorted { x, y in x.value != y.value ? x.value < y.value : Array(x.key.utf8).lexicographicallyPrecedes(Array(y.key.utf8)) }.map(\.key)
        }
        #expect(e.zall("z") == sorted())
        // Move some scores.
        for i in stride(from: 0, to: size, by: 3) {
            let m = "k\(i % 7)-\(i)"
            model[m] = Double(100 - i)
            e.zadd("z", [(Double(100 - i), m)])
        }
        let want = sorted()
        #expect(e.zall("z") == want)
        for (r, m) in want.enumerated() {
            #expect(e.zrankOf("z", m) == r)
            #expect(e.zrankOf("z", m, reverse: true) == want.count - 1 - r)
            #expect(e.zscoreOf("z", m) == model[m])
        }
        #expect(e.zrankOf("z", "absent") == nil)
    }

    @Test("ranges at the edges: ranks, scores (exclusive, infinite), lex, REV and LIMIT; both encodings", arguments: [false, true])
    func ranges(big: Bool) throws {
        let h = try Harness()
        let e = h.engine
        // Scores 1...5 for a...e; a big set adds 200 members at score 10.
        e.zadd("z", [(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e")])
        if big { e.zadd("z", (0..<200).map { (10, "z\(1000 + $0)") }) }
        #expect(e.zencoding("z") == (big ? .skiplist : .listpack))
        let n = big ? 205 : 5
        #expect(e.zrange("z", ZRangeQuery(.rank(0, 2))) == ["a", "b", "c"])
        #expect(e.zrange("z", ZRangeQuery(.rank(-n, -(n - 1)))) == ["a", "b"])
        #expect(e.zrange("z", ZRangeQuery(.rank(-1000, 1))) == ["a", "b"])
        #expect(e.zrange("z", ZRangeQuery(.rank(3, 2))).isEmpty)
        #expect(e.zrange("z", ZRangeQuery(.rank(n, n + 5))).isEmpty)
        #expect(e.zrange("z", ZRangeQuery(.rank(n - 1, 1000))).count == 1)
        #expect(e.zrange("z", ZRangeQuery(.rank(0, 1), reverse: true)) == (big ? ["z1199", "z1198"] : ["e", "d"]))
        let score = { (lo: Double, lx: Bool, hi: Double, hx: Bool) in ZRangeBy.score(ZScoreBound(lo, exclusive: lx), ZScoreBound(hi, exclusive: hx)) }
        #expect(e.zrange("z", ZRangeQuery(score(2, false, 4, false))) == ["b", "c", "d"])
        #expect(e.zrange("z", ZRangeQuery(score(2, true, 4, true))) == ["c"])
        #expect(e.zrange("z", ZRangeQuery(score(3, true, 3, false))).isEmpty)
        #expect(e.zrange("z", ZRangeQuery(score(3, false, 3, false))) == ["c"])
        #expect(e.zrange("z", ZRangeQuery(score(5, false, 1, false))).isEmpty)
        #expect(e.zrange("z", ZRangeQuery(score(-.infinity, false, 2, false))) == ["a", "b"])
        #expect(e.zrange("z", ZRangeQuery(score(4, false, .infinity, false))).count == n - 3)
        #expect(e.zrange("z", ZRangeQuery(score(1, false, 5, false), reverse: true)) == ["e", "d", "c", "b", "a"])
        #expect(e.zrange("z", ZRangeQuery(score(1, false, 5, false), offset: 1, limit: 2)) == ["b", "c"])
        #expect(e.zrange("z", ZRangeQuery(score(1, false, 5, false), reverse: true, offset: 1, limit: 2)) == ["d", "c"])
        #expect(e.zrange("z", ZRangeQuery(score(1, false, 5, false), offset: 5, limit: 2)).isEmpty)
        #expect(e.zrange("z", ZRangeQuery(score(1, false, 5, false), offset: -1, limit: 2)).isEmpty)
        #expect(e.zrange("z", ZRangeQuery(score(1, false, 5, false), offset: 3, limit: -1)) == ["d", "e"])
        // Lex: in the big set the 200 members of score 10 sort after a...e by their bytes too.
        let lexSet = big ? "z" : "l"
        if !big { e.zadd("l", (0..<200).map { (10, "z\(1000 + $0)") }) }
        let b = Array("z1010".utf8), c = Array("z1013".utf8)
        b.withUnsafeBytes { bb in
            c.withUnsafeBytes { cc in
                #expect(e.zrange(lexSet, ZRangeQuery(.lex(.inclusive(bb), .exclusive(cc)))) == ["z1010", "z1011", "z1012"])
                #expect(e.zrange(lexSet, ZRangeQuery(.lex(.exclusive(bb), .inclusive(cc)), reverse: true)) == ["z1013", "z1012", "z1011"])
                #expect(e.zrange("none", ZRangeQuery(.lex(.inclusive(bb), .exclusive(cc)))).isEmpty)
            }
        }
        #expect(e.zrange(lexSet, ZRangeQuery(.lex(.minusInfinity, .plusInfinity))).count == (big ? 205 : 200))
        #expect(e.zrange(lexSet, ZRangeQuery(.lex(.plusInfinity, .minusInfinity))).isEmpty)
        // Counts and removal by range.
        #expect(e.withKey("z") { e.zsetCount($0, hash: $1, database: 0, ZRangeQuery(score(2, false, 4, true))) } == 2)
        #expect(e.withKey("z") { e.zsetRemoveRange($0, hash: $1, database: 0, ZRangeQuery(score(2, false, 4, true))) } == 2)
        #expect(e.zrange("z", ZRangeQuery(.rank(0, 2))) == ["a", "d", "e"])
        #expect(e.withKey("z") { e.zsetRemoveRange($0, hash: $1, database: 0, ZRangeQuery(.rank(0, 0))) } == 1)
        #expect(e.zrange("z", ZRangeQuery(.rank(0, 1))) == ["d", "e"])
        #expect(e.zrankOf("z", "e") == 1)
    }

    @Test("ZADD flags: NX XX GT LT INCR outcomes")
    func addFlags() throws {
        let h = try Harness()
        let e = h.engine
        func add(_ s: Double, _ m: String, _ f: ZSetAddFlags) -> (ZSetAddOutcome, Double)? {
            var got: (ZSetAddOutcome, Double)? = nil
            _ = e.withKey("z") { k, hv in
                Array(m.utf8).withUnsafeBytes { mb in
                    e.zsetAdd(k, hash: hv, database: 0, flags: f, count: 1, element: { _ in (s, mb) }) { o, v in got = (o, v) }
                }
            }
            return got
        }
        #expect(e.withKey("z") { k, hv in
            Array("a".utf8).withUnsafeBytes { mb in e.zsetAdd(k, hash: hv, database: 0, flags: .xx, count: 1, element: { _ in (1, mb) }) { _, _ in } }
        } == .noKey)
        #expect(add(1, "a", []).map { $0.0 } == .added)
        #expect(add(5, "a", .nx).map { $0.0 } == .skipped)
        #expect(add(0, "a", .gt).map { $0.0 } == .skipped)
        #expect(add(3, "a", .gt).map { $0.0 } == .updated)
        #expect(add(4, "a", .lt).map { $0.0 } == .skipped)
        #expect(add(2, "a", [.lt, .xx]).map { $0.0 } == .updated)
        #expect(add(2, "b", .xx).map { $0.0 } == .skipped)
        #expect(add(1.5, "a", .incr).map { $0.1 } == 3.5)
        #expect(add(0, "a", .incr).map { $0.0 } == .unchanged)
        #expect(add(.infinity, "a", .incr).map { $0.1 } == .infinity)
        #expect(add(-.infinity, "a", .incr).map { $0.0 } == .notANumber)
        #expect(e.zscoreOf("z", "a") == .infinity)
    }

    @Test("a random mix against a model, across the conversion", arguments: [1, 2, 3])
    func randomMix(seed: UInt64) throws {
        let h = try Harness()
        let e = h.engine
        var rng = SplitMix64(seed: seed)
        var model: [String: Double] = [:]
        for step in 0..<3000 {
            let m = "m\(rng.next() % 400)"
            switch rng.next() % 4 {
            case 0, 1:
                let s = Double(Int(rng.next() % 50) - 25)
                e.zadd("z", [(s, m)])
                model[m] = s
            case 2:
                let removed = e.zrem("z", [m]) ?? -1
                #expect(removed == (model.removeValue(forKey: m) == nil ? 0 : 1))
            default:
                let k = Int(rng.next() % 3) + 1
                var popped: [String] = []
                _ = e.withKey("z") { key, hv in
                    e.zsetPop(key, hash: hv, database: 0, count: k, max: step % 2 == 0, willVisit: { _ in }) { mb, _ in
                        popped.append(String(decoding: mb.bytes, as: UTF8.self))
                    }
                }
                let order = model.sorted { x, y in x.value != y.value ? x.value < y.value : Array(x.key.utf8).lexicographicallyPrecedes(Array(y.key.utf8)) }.map(\.key)
                let want = step % 2 == 0 ? Array(order.reversed().prefix(k)) : Array(order.prefix(k))
                #expect(popped == want)
                for p in popped { model[p] = nil }
            }
            if step % 250 == 0 {
                let order = model.sorted { x, y in x.value != y.value ? x.value < y.value : Array(x.key.utf8).lexicographicallyPrecedes(Array(y.key.utf8)) }.map(\.key)
                #expect(e.zall("z") == order)
                if let mid = order.dropFirst(order.count / 2).first { #expect(e.zrankOf("z", mid) == order.count / 2) }
            }
        }
    }

    @Test("score updates in a skip list (the two descents side by side): every rank and span exact", arguments: [4, 5])
    func scoreUpdates(seed: UInt64) throws {
        let h = try Harness()
        let e = h.engine
        var rng = SplitMix64(seed: seed)
        var model: [String: Double] = [:]
        // Every tenth member is long (its entry names its node instead of holding it folded).
        let members = (0..<600).map { i in "m\(i)" + (i % 10 == 0 ? String(repeating: "x", count: 120) : "") }
        for m in members { model[m] = Double(rng.next() % 40) }
        e.zadd("z", members.map { (model[$0]!, $0) })
        #expect(e.zencoding("z") == .skiplist)
        for round in 0..<8 {
            // Up and down, onto ties (40 scores for 600 members), to the ends and back.
            for _ in 0..<400 {
                let m = members[Int(rng.next() % UInt64(members.count))]
                let s = round % 4 == 3 ? [-1.0, 100.0][Int(rng.next() % 2)] : Double(rng.next() % 40)
                if rng.next() % 8 == 0 {
                    // ZINCRBY's path: the new score is the old one plus the increment.
                    let by = s - model[m]!
                    e.zadd("z", [(by, m)], flags: .incr)
                    model[m]! += by
                } else {
                    e.zadd("z", [(s, m)])
                    model[m] = s
                }
            }
            let order = model.sorted { x, y in x.value != y.value ? x.value < y.value : Array(x.key.utf8).lexicographicallyPrecedes(Array(y.key.utf8)) }.map(\.key)
            #expect(e.zall("z") == order)
            // The backward links too: the whole set highest first.
            #expect(e.zrange("z", ZRangeQuery(.rank(0, -1), reverse: true)) == order.reversed())
            for (r, m) in order.enumerated() where r % 7 == round % 7 {
                #expect(e.zrankOf("z", m) == r)
                #expect(e.zrankOf("z", m, reverse: true) == order.count - 1 - r)
                #expect(e.zrange("z", ZRangeQuery(.rank(r, r))) == [m])
                #expect(e.zscoreOf("z", m) == model[m])
            }
            #expect(e.zrange("z", ZRangeQuery(.score(ZScoreBound(10, exclusive: false), ZScoreBound(20, exclusive: true)))) ==
                    order.filter { model[$0]! >= 10 && model[$0]! < 20 })
        }
    }

    @Test("links, spans and backward links exact through ZADD, ZINCRBY by an ulp, ZREM, pops, ZREMRANGEBY*, COPY, one score for all", arguments: [7, 8, 9])
    func linksExact(seed: UInt64) throws {
        let h = try Harness()
        let e = h.engine
        var rng = SplitMix64(seed: seed)
        var model: [String: Double] = [:]
        func order() -> [String] {
            model.sorted { x, y in x.value != y.value ? x.value < y.value : Array(x.key.utf8).lexicographicallyPrecedes(Array(y.key.utf8)) }.map(\.key)
        }
        // Scores an ulp apart (1, 1 + ulp), -0 and 0, ties, both infinities, and long members (a
        // node of their own); 300 members keep the set a skip list (past 128).
        let scores: [Double] = [-.infinity, -5, -1, -0.0, 0, 1, 1 + Double.ulpOfOne, 1 + 2 * Double.ulpOfOne, 2, 2.5, 7, 1e9, .infinity]
        func member(_ i: UInt64) -> String { "m\(i)" + (i % 9 == 0 ? String(repeating: "y", count: 100) : "") }
        e.zadd("z", (0..<300).map { i in let m = member(UInt64(i)); model[m] = Double(i % 50); return (Double(i % 50), m) })
        for step in 0..<2400 {
            let m = member(rng.next() % 360)
            switch rng.next() % 10 {
            case 0...3:
                let s = scores[Int(rng.next() % UInt64(scores.count))]
                e.zadd("z", [(s, m)])
                model[m] = s
            case 4:
                // A small step: often still between the same neighbours.
                guard let cur = model[m], cur.isFinite else { continue }
                let by = [Double.ulpOfOne, -Double.ulpOfOne, 0.25, -0.25][Int(rng.next() % 4)]
                e.zadd("z", [(by, m)], flags: .incr)
                model[m] = cur + by
            case 5, 6:
                let removed = e.zrem("z", [m]) ?? -1
                #expect(removed == (model.removeValue(forKey: m) == nil ? 0 : 1))
            case 7:
                var popped: [String] = []
                _ = e.withKey("z") { key, hv in
                    e.zsetPop(key, hash: hv, database: 0, count: 2, max: step % 2 == 0, willVisit: { _ in }) { mb, _ in
                        popped.append(String(decoding: mb.bytes, as: UTF8.self))
                    }
                }
                for p in popped { model[p] = nil }
            case 8 where step % 5 == 0:
                // ZREMRANGEBYRANK of a few, or ZREMRANGEBYSCORE of one score.
                if rng.next() % 2 == 0 {
                    let o = order()
                    guard o.count > 4 else { continue }
                    let at = Int(rng.next() % UInt64(o.count - 3))
                    _ = e.withKey("z") { e.zsetRemoveRange($0, hash: $1, database: 0, ZRangeQuery(.rank(at, at + 2))) }
                    for x in o[at...(at + 2)] { model[x] = nil }
                } else {
                    let s = scores[Int(rng.next() % UInt64(scores.count))]
                    _ = e.withKey("z") { e.zsetRemoveRange($0, hash: $1, database: 0, ZRangeQuery(.score(ZScoreBound(s, exclusive: false), ZScoreBound(s, exclusive: false)))) }
                    for (x, v) in model where v == s { model[x] = nil }
                }
            default:
                let s = Double(rng.next() % 50)
                e.zadd("z", [(s, m)])
                model[m] = s
            }
            if step % 200 == 199 || step == 0 {
                #expect(e.zslProblems("z") == [], "step \(step)")
                let o = order()
                #expect(e.zall("z") == o)
                for (r, x) in o.enumerated() where r % 11 == step % 11 { #expect(e.zrankOf("z", x) == r) }
            }
        }
        if e.zencoding("z") == .skiplist {
            #expect(e.withKey("z") { k, _ in e.withKey("c") { c, _ in e.copyKey(k, from: 0, to: c, database: 0, replace: false) } } == .done)
            #expect(e.zslProblems("c") == [])
            #expect(e.zall("c") == order())
        }
        // One score for all (the member bytes decide every compare), then ZREMRANGEBYLEX and
        // moves off and back onto that score.
        let names = (0..<300).map { "n\(1000 + $0)" }
        e.zadd("lx", names.map { (3, $0) })
        let lo = Array("n1100".utf8), hi = Array("n1200".utf8)
        let removed = lo.withUnsafeBytes { l in
            hi.withUnsafeBytes { u in e.withKey("lx") { e.zsetRemoveRange($0, hash: $1, database: 0, ZRangeQuery(.lex(.inclusive(l), .exclusive(u)))) } }
        }
        #expect(removed == 100)
        #expect(e.zslProblems("lx") == [])
        var kept = names.filter { !($0 >= "n1100" && $0 < "n1200") }
        for (i, m) in kept.enumerated() where i % 3 == 0 { e.zadd("lx", [(i % 2 == 0 ? 2 : 4, m)]) }
        #expect(e.zslProblems("lx") == [])
        for (i, m) in kept.enumerated() where i % 3 == 0 { e.zadd("lx", [(3, m)]) }
        #expect(e.zslProblems("lx") == [])
        #expect(e.zall("lx") == kept)
        kept.removeFirst(10)
        _ = e.withKey("lx") { e.zsetRemoveRange($0, hash: $1, database: 0, ZRangeQuery(.rank(0, 9))) }
        #expect(e.zslProblems("lx") == [] && e.zall("lx") == kept)
    }

    @Test("score updates that keep a node between its neighbours, and ones that pass a neighbour")
    func nearUpdates() throws {
        let h = try Harness()
        let e = h.engine
        e.zadd("z", (0..<200).map { (Double($0 * 10), "m\(1000 + $0)") })
        // Each member moves within its gap (stays), then past a neighbour (moves), then back.
        for i in stride(from: 0, to: 200, by: 3) {
            e.zadd("z", [(Double(i * 10) + 4, "m\(1000 + i)")])
            #expect(e.zslProblems("z") == [])
        }
        #expect(e.zall("z") == (0..<200).map { "m\(1000 + $0)" })
        e.zadd("z", [(15, "m1000")])
        #expect(e.zrankOf("z", "m1000") == 1)
        e.zadd("z", [(-1, "m1000")])
        #expect(e.zrankOf("z", "m1000") == 0)
        #expect(e.zslProblems("z") == [])
        #expect(e.zscoreOf("z", "m1003") == 34)
        #expect(e.zrange("z", ZRangeQuery(.score(ZScoreBound(34, exclusive: false), ZScoreBound(34, exclusive: false)))) == ["m1003"])
    }

    @Test("100k members: ranks exact, COPY and RENAME keep the order, every chunk back after DEL")
    func large() throws {
        let h = try Harness { $0.memoryLimit = 256 << 20 }
        let e = h.engine
        let baseline = e.usedChunks
        let n = 100_000
        for batch in 0..<100 {
            e.zadd("big", (0..<1000).map { i in let k = batch * 1000 + i; return (Double(k % 1000), "m\(k)") })
        }
        #expect(e.withKey("big") { e.hashLength($0, hash: $1, database: 0, type: .zset) } == n)
        let names = (0..<n).map { Array("m\($0)".utf8) }
        let order = (0..<n).sorted { a, b in
            a % 1000 != b % 1000 ? a % 1000 < b % 1000 : names[a].lexicographicallyPrecedes(names[b])
        }
        for r in stride(from: 0, to: n, by: 997) {
            #expect(e.zrankOf("big", "m\(order[r])") == r)
            #expect(e.zrange("big", ZRangeQuery(.rank(r, r))) == ["m\(order[r])"])
        }
        #expect(e.withKey("big") { k, _ in e.withKey("copy") { c, _ in e.copyKey(k, from: 0, to: c, database: 0, replace: false) } } == .done)
        #expect(e.withKey("copy") { k, _ in e.withKey("moved") { c, _ in e.renameKey(k, to: c, database: 0, replace: false) } } == .done)
        #expect(e.zrange("moved", ZRangeQuery(.rank(-3, -1))) == order.suffix(3).map { "m\($0)" })
        #expect(e.zrankOf("moved", "m\(order[54321])") == 54321)
        for key in ["big", "moved"] { #expect(e.withKey(key) { e.delete($0, hash: $1, anyType: true) }) }
        e.drainListFrees()
        #expect(e.usedChunks == baseline)
    }

    @Test("stores: encoding by the bounds, replaces another type; small sets freed at once")
    func store() throws {
        let h = try Harness()
        let e = h.engine
        let baseline = e.usedChunks
        e.zadd("s", [(1, "x")])
        _ = e.withKey("s") { e.zsetStore($0, hash: $1, database: 0, members: [ZSetMember(Array("b".utf8), 2), ZSetMember(Array("a".utf8), 2), ZSetMember(Array("c".utf8), 1)]) }
        #expect(e.zall("s") == ["c", "a", "b"])
        #expect(e.zencoding("s") == .listpack)
        _ = e.withKey("t") { e.zsetStore($0, hash: $1, database: 0, members: (0..<129).map { ZSetMember(Array("m\($0)".utf8), Double(-$0)) }) }
        #expect(e.zencoding("t") == .skiplist)
        #expect(e.zall("t").first == "m128")
        for key in ["s", "t"] { #expect(e.withKey(key) { e.delete($0, hash: $1, anyType: true) }) }
        e.drainListFrees()
        #expect(e.usedChunks == baseline)
    }
}
