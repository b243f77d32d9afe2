// The engine's Redis sets (CacheEngine+Set.swift, on the hash structure): the intset (integers in
// ascending order, redis's string2ll form) and its conversion to a hashtable (a non-integer, a
// 513th member), SPOP's distinct picks and whole-set pop, SMOVE's cases, a set stored whole over
// another type, and every chunk back after delete.
@testable import CacheEngine
import SlabAllocator
import Testing

extension CacheEngine {
    @discardableResult
    func sadd(_ key: String, _ members: [String]) -> HashWriteResult {
        let bytes = members.map { Array($0.utf8) }
        return withKey(key) { k, hv in
            setAdd(k, hash: hv, database: 0, count: bytes.count) { i in
                bytes[i].withUnsafeBytes { UnsafeRawBufferPointer(start: $0.baseAddress ?? UnsafeRawPointer(bitPattern: 8), count: $0.count) }
            }
        }
    }

    func smembers(_ key: String) -> [String] {
        var out: [String] = []
        _ = withKey(key) { k, hv in
            hashVisit(k, hash: hv, database: 0, type: .set, willVisit: { _ in }) { m, _ in out.append(String(decoding: m.bytes, as: UTF8.self)) }
        }
        return out
    }

    func sencoding(_ key: String) -> HashEncoding? { withKey(key) { hashSummary($0, hash: $1, database: 0, type: .set)?.encoding } }
}

@Suite("Engine sets")
struct SetTests {
    @Test("string2ll's integers: signs, leading zeros, range")
    func integers() {
        func parse(_ s: String) -> Int? { Array(s.utf8).withUnsafeBytes { CacheEngine.redisInteger($0) } }
        #expect(parse("0") == 0 && parse("-1") == -1 && parse("42") == 42)
        #expect(parse("9223372036854775807") == Int.max && parse("-9223372036854775808") == Int.min)
        for bad in ["", "-", "01", "-0", "+1", " 1", "1 ", "9223372036854775808", "-9223372036854775809", "1a"] {
            #expect(parse(bad) == nil, "\(bad)")
        }
    }

    @Test("intset: ascending order, duplicates ignored; a non-integer or a 513th member makes a hashtable")
    func intsetAndConversion() throws {
        let h = try Harness()
        let e = h.engine
        #expect(e.sadd("s", ["3", "-5", "10", "3", "0"]) == .added(4))
        #expect(e.smembers("s") == ["-5", "0", "3", "10"])
        #expect(e.sencoding("s") == .intset)
        #expect(e.sadd("s", ["x"]) == .added(1))
        #expect(e.sencoding("s") == .hashtable)
        #expect(Set(e.smembers("s")) == ["-5", "0", "3", "10", "x"])
        e.sadd("big", (0..<512).map { String(511 - $0) })
        #expect(e.sencoding("big") == .intset)
        #expect(e.smembers("big") == (0..<512).map { String($0) })
        e.sadd("big", ["512"])
        #expect(e.sencoding("big") == .hashtable)
        e.sadd("str", ["a"])
        #expect(e.sencoding("str") == .hashtable, "a set whose first member is not an integer starts as a hashtable")
    }

    @Test("SPOP: distinct picks removed, the whole set with its key; SMOVE; a set stored over a string; chunks back")
    func popMoveStore() throws {
        let h = try Harness()
        let e = h.engine
        let baseline = e.usedChunks
        e.sadd("p", (0..<1000).map { "m\($0)" })
        var popped: [String] = []
        _ = e.withKey("p") { k, hv in
            e.setPop(k, hash: hv, database: 0, count: 300, willVisit: { #expect($0 == 300) }) { popped.append(String(decoding: $0.bytes, as: UTF8.self)) }
        }
        #expect(Set(popped).count == 300)
        #expect(e.smembers("p").count == 700 && Set(e.smembers("p")).isDisjoint(with: popped))
        var all = 0
        _ = e.withKey("p") { k, hv in e.setPop(k, hash: hv, database: 0, count: 5000, willVisit: { all = $0 }) { _ in } }
        #expect(all == 700)
        #expect(e.sencoding("p") == nil, "the key goes with its last member")
        e.sadd("a", ["1", "2"])
        func move(_ from: String, _ to: String, _ m: String) -> SetMoveResult {
            e.withKey(from) { fk, fh in e.withKey(to) { tk, th in Array(m.utf8).withUnsafeBytes { e.setMove(fk, hash: fh, tk, hash: th, database: 0, member: $0) } } }
        }
        #expect(move("a", "b", "1") == .moved(true))
        #expect(move("a", "b", "9") == .moved(false))
        #expect(move("none", "b", "1") == .moved(false))
        e.put("str", Array("v".utf8))
        #expect(move("none", "str", "1") == .moved(false), "no source: 0 before any type check, as redis")
        #expect(move("a", "str", "2") == .wrongType)
        #expect(move("a", "b", "2") == .moved(true))
        #expect(e.sencoding("a") == nil && e.smembers("b") == ["1", "2"])
        let stored = e.withKey("str") { e.setStore($0, hash: $1, database: 0, members: [Array("x".utf8), Array("7".utf8)]) }
        #expect(stored == true)
        #expect(e.sencoding("str") == .hashtable && e.smembers("str") == ["x", "7"])
        #expect(e.withKey("str") { e.setStore($0, hash: $1, database: 0, members: []) } == true)
        #expect(e.sencoding("str") == nil)
        #expect(e.withKey("b") { e.delete($0, hash: $1, anyType: true) })
        e.drainListFrees()
        #expect(e.usedChunks == baseline)
    }

    @Test("SPOP one at a time empties a 20,000-member hashtable whose index no longer shrinks: every member once, the key gone, chunks back")
    func popOneByOneFromSparseIndex() throws {
        let h = try Harness()
        let e = h.engine
        let baseline = e.usedChunks
        let members = (0..<20_000).map { "member:\($0)" }
        e.sadd("big", members)
        #expect(e.sencoding("big") == .hashtable)
        var popped: [String] = []
        for _ in 0..<members.count {
            _ = e.withKey("big") { k, hv in
                e.setPop(k, hash: hv, database: 0, count: 1, willVisit: { #expect($0 == 1) }) { popped.append(String(decoding: $0.bytes, as: UTF8.self)) }
            }
        }
        #expect(popped.count == members.count && Set(popped) == Set(members))
        #expect(e.sencoding("big") == nil, "the key goes with its last member")
        e.drainListFrees()
        #expect(e.usedChunks == baseline)
    }

    @Test("SPOP without a count on an intset: one member a pop, taken out in place (the rest still ascending), the key gone with the last, chunks back")
    func popOneFromIntset() throws {
        let h = try Harness()
        let e = h.engine
        let baseline = e.usedChunks
        let members = (0..<300).map { String($0 * 7 - 1000) }
        e.sadd("ints", members)
        #expect(e.sencoding("ints") == .intset)
        var popped: [String] = []
        for i in 0..<members.count {
            _ = e.withKey("ints") { k, hv in
                e.setPop(k, hash: hv, database: 0, count: 1, willVisit: { #expect($0 == 1) }) { popped.append(String(decoding: $0.bytes, as: UTF8.self)) }
            }
            if i % 50 == 0 {
                let rest = e.smembers("ints").map { Int($0)! }
                #expect(rest.count == members.count - i - 1 && rest == rest.sorted())
                #expect(Set(rest.map(String.init)).isDisjoint(with: popped))
            }
        }
        #expect(popped.count == members.count && Set(popped) == Set(members))
        #expect(e.sencoding("ints") == nil, "the key goes with its last member")
        e.drainListFrees()
        #expect(e.usedChunks == baseline)
    }
}

