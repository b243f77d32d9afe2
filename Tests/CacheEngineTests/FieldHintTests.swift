// Field hints (CacheEngine+KeyHints.swift): an operation on a hash, set or sorted set told the
// next requests' key and field hashes starts loading the field index's bucket and first entry.
// A hint changes what is in the caches, never an answer: hash, set and sorted-set writes and
// reads hinted with the field of the next operation, a present, an absent or an arbitrary field,
// on this key or another, while the index grows and shrinks (an incremental move in both
// directions), answer as a model says; a key deleted and made a string between the hint and the
// operation answers WRONGTYPE and takes no hint; the operation that finds its root takes the
// hints.
@testable import CacheEngine
import CPrefetch
import TestSupport
import Testing

@Suite("Field hints")
struct FieldHintTests {
    private func hash(_ s: String) -> UInt32 { Array(s.utf8).withUnsafeBytes { CacheEngine.hash($0) } }
    private func deleteKey(_ e: CacheEngine, _ key: String) -> Bool {
        e.withKey(key) { e.delete($0, hash: $1, database: 0, anyType: true) }
    }

    @Test("hinted hash, set and sorted-set operations answer as a model, across index growth and shrink")
    func hintsChangeNoAnswer() throws {
        let e = try Harness().engine
        var rng = SplitMix64(seed: 0xf1e1d)
        var hashModel: [String: String] = [:]
        var set: Set<String> = []
        var zset: [String: Double] = [:]
        var sawRehash = (hash: false, set: false, zset: false)
        var sawShrink = false
        var peakBuckets = 0
        func field(_ i: Int) -> String { "field:\(i)" + (i % 7 == 0 ? String(repeating: "x", count: 90) : "") }
        // The next operation's field, as a connection would name it; or an absent one, another
        // key's, any 32 bits, none.
        func hint(_ key: String, _ next: String) {
            let k = Int.random(in: 0..<6, using: &rng)
            let nextKey: UInt32? = k == 4 ? hash("other") : hash(key)
            let nextField: UInt32? = switch k {
            case 0, 1, 4: hash(next)
            case 2: hash("absent:\(Int.random(in: 0..<100, using: &rng))")
            case 3: UInt32.random(in: 0...UInt32.max, using: &rng)
            default: nil
            }
            let afterField = hash(field(Int.random(in: 0..<4000, using: &rng)))
            CacheEngine.hintKeys(next: nextKey, after: hash(key), nextField: nextField, afterField: afterField)
        }
        // Grow to 4,000 fields each, then delete down to about 100 (the index shrinks).
        for phase in 0..<2 {
            let rounds = phase == 0 ? 12_000 : 45_000
            for _ in 0..<rounds {
                let i = Int.random(in: 0..<4000, using: &rng)
                let f = field(i)
                let remove = phase == 1 && Int.random(in: 0..<20, using: &rng) < 19
                switch Int.random(in: 0..<3, using: &rng) {
                case 0:
                    hint("h", f)
                    if remove {
                        #expect(e.hdel("h", [f]) == (hashModel.removeValue(forKey: f) != nil ? 1 : 0))
                    } else if Bool.random(using: &rng) {
                        let v = "v\(Int.random(in: 0..<1000, using: &rng))"
                        #expect(e.hset("h", [(f, v)]) == .added(hashModel[f] == nil ? 1 : 0))
                        hashModel[f] = v
                    } else {
                        #expect(e.hget("h", f) == hashModel[f])
                    }
                    if let s = e.hsummary("h"), s.rehashing { sawRehash.hash = true }
                case 1:
                    hint("s", f)
                    if remove {
                        let n = e.withKey("s") { k, hv in
                            Array(f.utf8).withUnsafeBytes { m in e.hashDelete(k, hash: hv, database: 0, type: .set, count: 1) { _ in m } }
                        }
                        #expect(n == (set.remove(f) != nil ? 1 : 0))
                    } else if Bool.random(using: &rng) {
                        #expect(e.sadd("s", [f]) == .added(set.insert(f).inserted ? 1 : 0))
                    } else {
                        var found = false
                        _ = e.withKey("s") { k, hv in
                            Array(f.utf8).withUnsafeBytes { m in
                                e.hashGet(k, hash: hv, database: 0, type: .set, field: { _ in m }) { found = $0 != nil }
                            }
                        }
                        #expect(found == set.contains(f))
                    }
                    if let s = e.withKey("s", { e.hashSummary($0, hash: $1, database: 0, type: .set) }), s.rehashing { sawRehash.set = true }
                default:
                    hint("z", f)
                    if remove {
                        #expect(e.zrem("z", [f]) == (zset.removeValue(forKey: f) != nil ? 1 : 0))
                    } else if Bool.random(using: &rng) {
                        let score = Double(Int.random(in: 0..<500, using: &rng))
                        e.zadd("z", [(score, f)])
                        zset[f] = score
                    } else {
                        #expect(e.zscoreOf("z", f) == zset[f])
                    }
                    if let s = e.withKey("z", { e.hashSummary($0, hash: $1, database: 0, type: .zset) }) {
                        if s.rehashing { sawRehash.zset = true }
                        if phase == 0 { peakBuckets = max(peakBuckets, s.buckets) } else if s.buckets < peakBuckets / 4 { sawShrink = true }
                    }
                }
            }
        }
        #expect(sawRehash.hash && sawRehash.set && sawRehash.zset)
        #expect(sawShrink)
        #expect(Dictionary(uniqueKeysWithValues: e.hall("h")) == hashModel)
        #expect(Set(e.smembers("s")) == set)
        let order = zset.sorted { $0.value != $1.value ? $0.value < $1.value : Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
        #expect(e.zall("z") == order.map(\.key))
    }

    @Test("a key deleted and retyped between the hint and the operation: WRONGTYPE, the hint not taken; then taken")
    func retypedKey() throws {
        let e = try Harness().engine
        for i in 0..<1000 { e.hset("k", [("f\(i)", "v\(i)")]) }
        // Deleted and made a string after the peek (a store takes the hints: named again).
        CacheEngine.hintKeys(next: hash("k"), after: hash("k"), nextField: hash("f1"), afterField: hash("f2"))
        #expect(deleteKey(e, "k"))
        e.put("k", "string")
        CacheEngine.hintKeys(next: hash("k"), after: hash("k"), nextField: hash("f1"), afterField: hash("f2"))
        #expect(e.hset("k", [("f1", "x")]) == .wrongType)
        #expect(e.hget("k", "f1") == nil)
        var h = cprefetch_hint_take()
        #expect(h.next_field == UInt64(hash("f1")) | 1 << 32, "no root of the type: the hint is left")
        #expect(e.string("k") == "string")
        CacheEngine.hintKeys(next: hash("k"), after: nil, nextField: hash("f1"), afterField: nil)
        #expect(deleteKey(e, "k"))
        #expect(e.hset("k", [("f1", "y")]) == .added(1))
        #expect(e.hget("k", "f1") == "y")
        #expect(e.hget("k", "f2") == nil)
        CacheEngine.hintKeys(next: hash("k"), after: hash("k"), nextField: hash("f1"), afterField: hash("f2"))
        #expect(e.hget("k", "f1") == "y")
        h = cprefetch_hint_take()
        #expect(h.next == 0 && h.after == 0 && h.next_field == 0 && h.after_field == 0, "the operation took the hints")
        // The key hints alone name no fields.
        CacheEngine.hintKeys(next: hash("k"), after: hash("k"))
        h = cprefetch_hint_take()
        #expect(h.next_field == 0 && h.after_field == 0)
    }
}
