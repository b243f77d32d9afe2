// The engine's Redis hashes (CacheEngine+Hash.swift and its encodings): the listpack and its
// conversion at redis's thresholds, a random mix of operations checked against a dictionary
// across index growth and incremental rehash, the index at 1M fields (load factor, chain
// lengths), large pairs (a chunked entry, refused past -I), HSCAN's cursor across a doubling,
// random picks, RENAME/COPY, and memory: every chunk back on delete, a long hash freed by the
// lazy freer.
@testable import CacheEngine
import SlabAllocator
import Testing

extension CacheEngine {
    @discardableResult
    func hset(_ key: String, _ pairs: [(String, String)], nx: Bool = false, db: Int = 0) -> HashWriteResult {
        let bytes = pairs.map { (Array($0.0.utf8), Array($0.1.utf8)) }
        return withKey(key) { k, hv in
            hashSet(k, hash: hv, database: db, count: bytes.count, onlyIfAbsent: nx) { i in
                (bytes[i].0.withUnsafeBytes { UnsafeRawBufferPointer(start: $0.baseAddress ?? UnsafeRawPointer(bitPattern: 8), count: $0.count) },
                 bytes[i].1.withUnsafeBytes { UnsafeRawBufferPointer(start: $0.baseAddress ?? UnsafeRawPointer(bitPattern: 8), count: $0.count) })
            }
        }
    }

    func hset(_ key: String, _ field: String, _ value: [UInt8]) -> HashWriteResult {
        let f = Array(field.utf8)
        return withKey(key) { k, hv in
            f.withUnsafeBytes { fb in value.withUnsafeBytes { vb in hashSet(k, hash: hv, database: 0, count: 1) { _ in (fb, vb) } } }
        }
    }

    func hget(_ key: String, _ field: String, db: Int = 0) -> String? {
        var out: String? = nil
        let f = Array(field.utf8)
        _ = withKey(key) { k, hv in
            f.withUnsafeBytes { fb in
                hashGet(k, hash: hv, database: db, field: { _ in fb }) { v in out = v.map { String(decoding: $0.bytes, as: UTF8.self) } }
            }
        }
        return out
    }

    func hdel(_ key: String, _ fields: [String]) -> Int? {
        let bytes = fields.map { Array($0.utf8) }
        return withKey(key) { k, hv in
            hashDelete(k, hash: hv, database: 0, count: bytes.count) { i in
                bytes[i].withUnsafeBytes { UnsafeRawBufferPointer(start: $0.baseAddress ?? UnsafeRawPointer(bitPattern: 8), count: $0.count) }
            }
        }
    }

    func hall(_ key: String, db: Int = 0) -> [(String, String)] {
        var out: [(String, String)] = []
        _ = withKey(key) { k, hv in
            hashVisit(k, hash: hv, database: db, willVisit: { _ in }) { f, v in
                out.append((String(decoding: f.bytes, as: UTF8.self), String(decoding: v.bytes, as: UTF8.self)))
            }
        }
        return out
    }

    func hsummary(_ key: String) -> HashSummary? { withKey(key) { hashSummary($0, hash: $1, database: 0) } }

    /// The longest bucket chain of the hash's index (both tables).
    func longestChain(_ key: String) -> Int {
        withKey(key) { k, hv in
            withItemLock(hv) {
                let (root, _) = lockedHashRoot(k, hv, 0)
                guard let root else { return 0 }
                defer { refDecrement(root) }
                let d = root.hashDescriptor
                var longest = 0
                for (dir, bits) in [(d.table0, d.bits0), (d.table1, d.bits1)] where dir != 0 {
                    for b in 0..<(1 << bits) {
                        var n = 0
                        var x = bucketHead(dir, bits: bits, b).pointee
                        while x != 0 { n += 1; x = node(x).hashNext }
                        longest = max(longest, n)
                    }
                }
                return longest
            }
        }
    }
}

@Suite("Engine hashes")
struct HashTests {
    @Test("listpack: set, overwrite in place, delete; converted past 512 fields or 64 bytes, never back")
    func listpackAndConversion() throws {
        let h = try Harness()
        let e = h.engine
        #expect(e.hset("h", [("a", "1"), ("b", "2"), ("a", "3")]) == .added(2))
        #expect(e.hget("h", "a") == "3")
        #expect(e.hall("h").map { $0.0 } == ["a", "b"], "an overwrite keeps the field's place")
        #expect(e.hset("h", [("a", "x")], nx: true) == .added(0))
        #expect(e.hsummary("h")?.encoding == .listpack)
        let most = CacheEngine.hashListpackEntries
        #expect(most == 512, "redis 7.0's hash-max-listpack-entries")
        for i in 0..<(most - 2) { e.hset("h", [("f\(i)", "v")]) }
        #expect(e.hsummary("h")?.count == most)
        #expect(e.hsummary("h")?.encoding == .listpack, "512 fields is still a listpack")
        e.hset("h", [("one-more", "v")])
        #expect(e.hsummary("h")?.encoding == .hashtable)
        #expect(e.hall("h").count == most + 1)
        #expect(e.hall("h").first! == ("a", "3"), "the conversion keeps the order")
        #expect(e.hdel("h", (0..<(most - 2)).map { "f\($0)" } + ["one-more"]) == most - 1)
        #expect(e.hsummary("h")?.encoding == .hashtable, "no conversion back, as redis")
        // A value past 64 bytes converts at once.
        e.hset("v", [("a", "1")])
        e.hset("v", [("b", String(repeating: "x", count: 65))])
        #expect(e.hsummary("v")?.encoding == .hashtable)
        #expect(e.hget("v", "a") == "1")
        e.hset("w", [("a", String(repeating: "x", count: 64))])
        #expect(e.hsummary("w")?.encoding == .listpack)
        // The last field deleted deletes the key.
        #expect(e.hdel("w", ["a", "a"]) == 1)
        #expect(e.hsummary("w") == nil)
        #expect(e.withKey("w") { e.inspect($0, hash: $1, anyType: true) } == nil)
    }

    @Test("a random mix of hash operations agrees with a dictionary, through growth and rehash")
    func randomMix() throws {
        let h = try Harness { $0.memoryLimit = 256 << 20 }
        let e = h.engine
        var model: [String: String] = [:]
        var order: [String] = []
        var rng = SystemRandomNumberGenerator()
        for step in 0..<40_000 {
            let f = "field:\(Int.random(in: 0..<6000, using: &rng))"
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<6:
                let v = String(repeating: "v", count: Int.random(in: 0..<(step % 7 == 0 ? 90 : 20), using: &rng))
                let r = e.hset("m", [(f, v)])
                #expect(r == .added(model[f] == nil ? 1 : 0))
                if model[f] == nil { order.append(f) }
                model[f] = v
            case 6..<8:
                let had = model.removeValue(forKey: f) != nil
                if had { order.removeAll { $0 == f } }
                #expect(e.hdel("m", [f]) == (had ? 1 : 0))
            default:
                #expect(e.hget("m", f) == model[f])
            }
        }
        #expect(e.hsummary("m")?.count == model.count)
        let all = e.hall("m")
        #expect(all.map { $0.0 } == order, "insertion order")
        #expect(Dictionary(uniqueKeysWithValues: all) == model)
        for (f, v) in model { #expect(e.hget("m", f) == v) }
    }

    @Test("1M fields: the index keeps up (buckets >= fields after the rehash, short chains), every field found")
    func millionFields() throws {
        let h = try Harness { $0.memoryLimit = 512 << 20 }
        let e = h.engine
        let baseline = e.usedChunks
        for batch in 0..<1000 {
            let pairs = (0..<1000).map { ("f\(batch * 1000 + $0)", "v\($0)") }
            #expect(e.hset("big", pairs) == .added(1000))
        }
        let s = try #require(e.hsummary("big"))
        #expect(s.count == 1_000_000)
        #expect(s.encoding == .hashtable)
        #expect(s.buckets >= 1 << 19, "the index doubled as fields came")
        #expect(e.longestChain("big") <= 16)
        for i in stride(from: 0, to: 1_000_000, by: 9973) { #expect(e.hget("big", "f\(i)") == "v\(i % 1000)") }
        #expect(e.hget("big", "f1000000") == nil)
        // Delete: queued for the background freer, all memory back once it ran.
        #expect(e.withKey("big") { e.delete($0, hash: $1, anyType: true) })
        #expect(e.listFrees.pendingListCount == 1)
        #expect(e.listFrees.pendingNodes.load(ordering: .relaxed) > 1_000_000)
        e.drainListFrees()
        #expect(e.listFrees.pendingListCount == 0)
        #expect(e.usedChunks == baseline)
    }

    @Test("lookups, sets and deletes are right in the middle of a rehash")
    func duringRehash() throws {
        let h = try Harness()
        let e = h.engine
        var sawRehash = false
        for i in 0..<5000 {
            e.hset("r", [("k\(i)", "\(i)")])
            if e.hsummary("r")?.rehashing == true {
                sawRehash = true
                #expect(e.hget("r", "k0") == "0")
                #expect(e.hget("r", "k\(i)") == "\(i)")
            }
        }
        #expect(sawRehash)
        #expect(e.hdel("r", (0..<5000).filter { $0 % 2 == 0 }.map { "k\($0)" }) == 2500)
        for i in 0..<5000 { #expect(e.hget("r", "k\(i)") == (i % 2 == 0 ? nil : "\(i)")) }
    }

    @Test("large pairs: a chunked entry reads back whole; refused past -I")
    func largePairs() throws {
        let h = try Harness()
        let e = h.engine
        let big = (0..<700_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        #expect(e.hset("L", "f", big) == .added(1))
        #expect(e.hset("L", "g", Array("small".utf8)) == .added(1))
        var got: [UInt8] = []
        _ = e.withKey("L") { k, hv in
            Array("f".utf8).withUnsafeBytes { fb in e.hashGet(k, hash: hv, database: 0, field: { _ in fb }) { got = $0?.bytes ?? [] } }
        }
        #expect(got == big)
        #expect(e.hset("L", "f", Array("now small".utf8)) == .added(0))
        #expect(e.hget("L", "f") == "now small")
        #expect(e.hset("L", "huge", [UInt8](repeating: 1, count: 2 << 20)) == .tooLarge)
    }

    @Test("HSCAN's cursor returns every field present throughout, across a doubling")
    func scanAcrossGrowth() throws {
        let h = try Harness()
        let e = h.engine
        e.hset("s", (0..<3000).map { ("old\($0)", "v") })
        var seen = Set<String>()
        var cursor: UInt64 = 0
        var calls = 0
        var added = 0
        repeat {
            let r = e.withKey("s") { k, hv in
                e.hashScan(k, hash: hv, database: 0, cursor: cursor, count: 50) { f, _ in seen.insert(String(decoding: f.bytes, as: UTF8.self)) }
            }
            #expect(r.0 == .ok)
            cursor = r.1
            calls += 1
            // Fields added meanwhile make the index double while the scan runs.
            if added < 6000 { e.hset("s", (0..<100).map { ("new\(added + $0)", "v") }); added += 100 }
        } while cursor != 0 && calls < 100_000
        #expect(cursor == 0)
        for i in 0..<3000 { #expect(seen.contains("old\(i)")) }
        // A listpack answers everything at once with cursor 0.
        e.hset("small", [("a", "1"), ("b", "2")])
        let r = e.withKey("small") { k, hv in e.hashScan(k, hash: hv, database: 0, cursor: 77, count: 1) { _, _ in } }
        #expect(r.1 == 0)
    }

    @Test("random picks: distinct below the size, the whole hash at or above it, repeats for a negative count")
    func randomPicks() throws {
        let h = try Harness()
        let e = h.engine
        for (key, n) in [("small", 20), ("large", 2000)] {
            e.hset(key, (0..<n).map { ("f\($0)", "v\($0)") })
            for count in [1, 5, n / 2, n - 1] {
                var got: [String] = []
                _ = e.withKey(key) { k, hv in
                    e.hashRandom(k, hash: hv, database: 0, count: count, distinct: true, willVisit: { #expect($0 == count) }) { f, v in
                        let fs = String(decoding: f.bytes, as: UTF8.self)
                        #expect("v" + fs.dropFirst() == String(decoding: v.bytes, as: UTF8.self))
                        got.append(fs)
                    }
                }
                #expect(got.count == count && Set(got).count == count)
            }
            var all: [String] = []
            _ = e.withKey(key) { k, hv in
                e.hashRandom(k, hash: hv, database: 0, count: n + 5, distinct: true, willVisit: { _ in }) { f, _ in all.append(String(decoding: f.bytes, as: UTF8.self)) }
            }
            #expect(all == (0..<n).map { "f\($0)" })
            var repeated = 0
            _ = e.withKey(key) { k, hv in
                e.hashRandom(k, hash: hv, database: 0, count: 3 * n, distinct: false, willVisit: { #expect($0 == 3 * n) }) { _, _ in repeated += 1 }
            }
            #expect(repeated == 3 * n)
        }
    }

    @Test("RENAME hands the fields over, COPY copies them; WRONGTYPE both ways; chunks all back")
    func transferAndMemory() throws {
        let h = try Harness()
        let e = h.engine
        let baseline = e.usedChunks
        e.hset("a", (0..<500).map { ("f\($0)", "v\($0)") })
        e.hset("p", [("x", "1")])
        #expect(e.withKey("a") { k, _ in e.withKey("b") { n, _ in e.renameKey(k, to: n, database: 0, replace: true) } } == .done)
        #expect(e.hsummary("a") == nil)
        #expect(e.hget("b", "f499") == "v499")
        #expect(e.withKey("b") { k, _ in e.withKey("c") { n, _ in e.copyKey(k, from: 0, to: n, database: 1, replace: false) } } == .done)
        #expect(e.hget("c", "f7", db: 1) == "v7")
        #expect(e.hall("c", db: 1).map { $0.0 } == e.hall("b").map { $0.0 })
        #expect(e.withKey("p") { k, _ in e.withKey("q") { n, _ in e.copyKey(k, from: 0, to: n, database: 0, replace: false) } } == .done)
        #expect(e.hget("q", "x") == "1")
        // Types: a list is WRONGTYPE for hashes, a hash for lists; memcached's get misses it.
        e.lpush("l", .tail, ["x"])
        #expect(e.hset("l", [("a", "b")]) == .wrongType)
        #expect(e.lpush("b", .tail, ["x"]) == .wrongType)
        #expect(e.withKey("b") { k, hv in var o = GetOutcome.miss; return e.get(k, hash: hv, outcome: &o) } == nil)
        let casBefore = try #require(e.withKey("b") { e.inspect($0, hash: $1, anyType: true) }).cas
        e.hset("b", [("f0", "changed")])
        #expect(try #require(e.withKey("b") { e.inspect($0, hash: $1, anyType: true) }).cas != casBefore)
        for key in ["b", "l", "p", "q"] { #expect(e.withKey(key) { e.delete($0, hash: $1, anyType: true) }) }
        #expect(e.withKey("c") { e.delete($0, hash: $1, database: 1, anyType: true) })
        e.drainListFrees()
        #expect(e.usedChunks == baseline)
    }

    @Test("HINCRBY-style updates: a refused transform changes nothing and leaves no key")
    func updates() throws {
        let h = try Harness()
        let e = h.engine
        let f = Array("n".utf8)
        func incr(_ key: String, _ by: Int) -> HashWriteResult {
            e.withKey(key) { k, hv in
                f.withUnsafeBytes { fb in
                    e.hashUpdate(k, hash: hv, database: 0, field: fb) { old in
                        let current = old.map { Int(String(decoding: $0.bytes, as: UTF8.self)) } ?? 0
                        guard let current else { return nil }
                        return Array(String(current + by).utf8)
                    }
                }
            }
        }
        #expect(incr("c", 5) == .added(1))
        #expect(incr("c", -2) == .added(0))
        #expect(e.hget("c", "n") == "3")
        e.hset("bad", [("n", "abc")])
        #expect(incr("bad", 1) == .refused)
        #expect(e.hget("bad", "n") == "abc")
        let before = e.usedChunks
        #expect(e.withKey("none") { k, hv in f.withUnsafeBytes { fb in e.hashUpdate(k, hash: hv, database: 0, field: fb) { _ in nil } } } == .refused)
        #expect(e.hsummary("none") == nil)
        #expect(e.usedChunks == before)
    }
}
