// The engine's Redis lists (CacheEngine+List.swift): pushes and pops at both ends across node
// boundaries, a random mix of every operation checked against an array, large elements (a node of
// their own, a chunked node, past -I), indexes at the edges, and memory: nodes freed on delete,
// expiry and eviction (every chunk back), a 100k-element list freed by the lazy freer, CAS.
@testable import CacheEngine
import SlabAllocator
import Testing

extension CacheEngine {
    @discardableResult
    func lpush(_ key: String, _ end: ListEnd, _ elements: [String], db: Int = 0) -> ListWriteResult {
        let bytes = elements.map { Array($0.utf8) }
        return withKey(key) { k, hv in
            listPush(k, hash: hv, database: db, end: end, count: bytes.count) { i in
                bytes[i].withUnsafeBytes { UnsafeRawBufferPointer(start: $0.baseAddress ?? UnsafeRawPointer(bitPattern: 8), count: $0.count) }
            }
        }
    }

    func lrange(_ key: String, _ start: Int = 0, _ stop: Int = -1, db: Int = 0) -> [String] {
        var out: [String] = []
        _ = withKey(key) { k, hv in
            listRange(k, hash: hv, database: db, start: start, stop: stop, willVisit: { _ in }) {
                out.append(String(decoding: $0.bytes, as: UTF8.self))
            }
        }
        return out
    }

    func lpop(_ key: String, _ end: ListEnd, _ n: Int) -> [String] {
        var out: [String] = []
        _ = withKey(key) { k, hv in
            listPop(k, hash: hv, database: 0, end: end, count: n) { out.append(String(decoding: $0.bytes, as: UTF8.self)) }
        }
        return out
    }

    func llen(_ key: String) -> Int? { withKey(key) { listLength($0, hash: $1, database: 0) } }

    /// Chunks handed out in every class.
    /// Chunks in use in every class, the keyless ones included (KeylessLayout.swift).
    var usedChunks: Int { slabs.table.allClassIDs.reduce(0) { $0 + slabs.classStats($1).usedChunks } }
}

/// A small deterministic generator (xorshift).
private struct Xorshift {
    var state: UInt64
    mutating func next(_ n: Int) -> Int {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return Int(state % UInt64(n))
    }
}

@Suite("Engine lists")
struct ListTests {
    @Test("packed entries read the same from either end, whatever their length's size")
    func entriesBothWays() {
        let lengths = [0, 1, 2, 120, 122, 125, 126, 127, 128, 129, 300, 16_370, 16_380, 16_383, 16_384, 20_000]
        var buffer = [UInt8](repeating: 0, count: lengths.reduce(0) { $0 + Varint.entrySize($1) })
        buffer.withUnsafeMutableBytes { b in
            var o = 0
            for (i, n) in lengths.enumerated() {
                let e = [UInt8](repeating: UInt8(i), count: n)
                let written = e.withUnsafeBytes { Varint.writeEntry($0, to: b.baseAddress! + o) }
                #expect(written == Varint.entrySize(n))
                o += written
            }
            // Forward.
            o = 0
            for (i, n) in lengths.enumerated() {
                let (count, start, size) = Varint.entry(UnsafeRawPointer(b.baseAddress! + o))
                #expect(count == n && size == Varint.entrySize(n))
                #expect(count == 0 || (b[o + start] == UInt8(i) && b[o + start + count - 1] == UInt8(i)))
                o += size
            }
            #expect(o == b.count)
            // Backward.
            var end = b.count
            for n in lengths.reversed() {
                let size = Varint.entrySizeBefore(UnsafeRawPointer(b.baseAddress! + end))
                #expect(size == Varint.entrySize(n))
                end -= size
                #expect(Varint.entry(UnsafeRawPointer(b.baseAddress! + end)).count == n)
            }
            #expect(end == 0)
        }
    }

    @Test("pushes and pops at both ends across many nodes")
    func bothEnds() throws {
        let h = try Harness()
        let e = h.engine
        var model: [String] = []
        for i in 0..<5000 {
            e.lpush("l", .tail, ["t\(i)"])
            model.append("t\(i)")
            e.lpush("l", .head, ["h\(i)"])
            model.insert("h\(i)", at: 0)
        }
        #expect(e.llen("l") == 10_000)
        #expect(e.lrange("l") == model)
        let nodes = try #require(e.withKey("l") { e.listSummary($0, hash: $1, database: 0) }).nodes
        #expect(nodes > 4, "10,000 elements in \(nodes) nodes")
        #expect(e.lpop("l", .head, 3001) == Array(model[0..<3001]))
        model.removeFirst(3001)
        #expect(e.lpop("l", .tail, 2) == [model[model.count - 1], model[model.count - 2]])
        model.removeLast(2)
        #expect(e.lrange("l") == model)
        #expect(e.lpop("l", .tail, 100_000).count == model.count)
        #expect(e.llen("l") == 0)
        #expect(e.withKey("l") { e.inspect($0, hash: $1, anyType: true) } == nil, "an emptied list loses its key")
    }

    @Test("a random mix of list operations agrees with an array")
    func randomAgainstModel() throws {
        let h = try Harness()
        let e = h.engine
        var model: [String] = []
        var rng = Xorshift(state: 0x9E3779B97F4A7C15)
        func element() -> String { String(repeating: "abcdefgh", count: rng.next(40)) + String(rng.next(1000)) }
        for step in 0..<6000 {
            let op = rng.next(10)
            let key = "r"
            switch op {
            case 0, 1:
                let x = element(); e.lpush(key, .head, [x]); model.insert(x, at: 0)
            case 2, 3:
                let xs = (0..<rng.next(5) + 1).map { _ in element() }; e.lpush(key, .tail, xs); model += xs
            case 4:
                let n = min(rng.next(4), model.count)
                if rng.next(2) == 0 {
                    #expect(e.lpop(key, .head, n) == Array(model.prefix(n)))
                    model.removeFirst(n)
                } else {
                    #expect(e.lpop(key, .tail, n) == Array(model.suffix(n).reversed()))
                    model.removeLast(n)
                }
            case 5:
                guard !model.isEmpty else { continue }
                let i = rng.next(model.count)
                let x = element()
                let r = e.withKey(key) { k, hv in Array(x.utf8).withUnsafeBytes { b in
                    e.listSet(k, hash: hv, database: 0, index: i - model.count, element: b)
                } }
                #expect(r == .length(model.count))
                model[i] = x
            case 6:
                guard !model.isEmpty else { continue }
                let pivot = model[rng.next(model.count)]
                let x = element()
                let before = rng.next(2) == 0
                _ = e.withKey(key) { k, hv in
                    Array(pivot.utf8).withUnsafeBytes { p in Array(x.utf8).withUnsafeBytes { v in
                        e.listInsert(k, hash: hv, database: 0, before: before, pivot: p, element: v)
                    } }
                }
                let at = model.firstIndex(of: pivot)!
                model.insert(x, at: before ? at : at + 1)
            case 7:
                guard !model.isEmpty else { continue }
                let target = model[rng.next(model.count)]
                let count = rng.next(5) - 2
                let removed = e.withKey(key) { k, hv in
                    Array(target.utf8).withUnsafeBytes { e.listRemove(k, hash: hv, database: 0, count: count, element: $0) }
                }
                var left = count == 0 ? Int.max : abs(count)
                var n = 0
                if count >= 0 {
                    model = model.filter { x in if x == target && left > 0 { left -= 1; n += 1; return false }; return true }
                } else {
                    model = Array(model.reversed().filter { x in if x == target && left > 0 { left -= 1; n += 1; return false }; return true }.reversed())
                }
                #expect(removed == n)
            case 8:
                guard model.count > 50 else { continue }
                let start = rng.next(10), stop = -1 - rng.next(10)
                _ = e.withKey(key) { e.listTrim($0, hash: $1, database: 0, start: start, stop: stop) }
                model = Array(model[start...(model.count + stop)])
            default:
                let a = rng.next(model.count + 5) - 3, b = rng.next(model.count + 5) - 3
                var expected: [String] = []
                if let (s, t) = CacheEngine.listSpan(a, b, model.count) { expected = Array(model[s...t]) }
                #expect(e.lrange(key, a, b) == expected, "LRANGE \(a) \(b) at step \(step)")
            }
            if step % 500 == 0 { #expect(e.lrange(key) == model, "step \(step)") }
        }
        #expect(e.lrange("r") == model)
        #expect(e.llen("r") == model.count)
    }

    @Test("LINDEX and LRANGE at the edges, with negative indexes")
    func indexEdges() throws {
        let h = try Harness()
        let e = h.engine
        e.lpush("i", .tail, (0..<3000).map { "v\($0)" })
        func index(_ i: Int) -> String? {
            var found: String? = nil
            _ = e.withKey("i") { k, hv in e.listIndex(k, hash: hv, database: 0, index: i) { x in found = x.map { String(decoding: $0.bytes, as: UTF8.self) } } }
            return found
        }
        #expect(index(0) == "v0")
        #expect(index(-1) == "v2999")
        #expect(index(-3000) == "v0")
        #expect(index(-3001) == nil)
        #expect(index(3000) == nil)
        #expect(index(1500) == "v1500")
        #expect(e.lrange("i", -2, -1) == ["v2998", "v2999"])
        #expect(e.lrange("i", -5000, 1) == ["v0", "v1"])
        #expect(e.lrange("i", 2999, 5000) == ["v2999"])
        #expect(e.lrange("i", 5, 4) == [])
        #expect(e.lrange("i", 3000, 3001) == [])
        #expect(e.lrange("i", Int.min, Int.max).count == 3000)
    }

    @Test("large elements: a node of their own, a chunked node, refused past -I")
    func largeElements() throws {
        let h = try Harness()
        let e = h.engine
        let mid = String(repeating: "m", count: 20_000)
        let huge = String(repeating: "H", count: 700_000)
        e.lpush("g", .tail, ["a", mid, "b", huge, "c"])
        #expect(e.lrange("g") == ["a", mid, "b", huge, "c"])
        e.lpush("g", .head, ["z"])
        #expect(e.lrange("g", 3, 4) == ["b", huge])
        #expect(e.lpush("g", .tail, [String(repeating: "x", count: 2 << 20)]) == .tooLarge)
        #expect(e.llen("g") == 6)
        let before = e.usedChunks
        #expect(e.lpop("g", .tail, 3) == ["c", huge, "b"])
        #expect(e.usedChunks < before, "the chunked node's chunks are freed")
        #expect(e.lrange("g") == ["z", "a", mid])
    }

    @Test("nodes are freed on delete, overwrite, expiry and eviction")
    func memoryReturned() throws {
        let h = try Harness()
        let e = h.engine
        let baseline = e.usedChunks
        e.lpush("d", .tail, (0..<2000).map { "element-\($0)" })
        #expect(e.usedChunks > baseline + 2)
        #expect(e.withKey("d") { e.delete($0, hash: $1, anyType: true) })
        e.drainListFrees()
        #expect(e.usedChunks == baseline, "delete")
        // A memcached set over a list replaces it.
        e.lpush("o", .tail, (0..<2000).map { "element-\($0)" })
        e.put("o", Array("string".utf8))
        e.drainListFrees()
        #expect(e.usedChunks == baseline + 1, "overwrite: only the string's chunk")
        #expect(e.withKey("o") { e.delete($0, hash: $1) })
        // Expiry.
        e.lpush("x", .tail, (0..<2000).map { "element-\($0)" })
        _ = e.withKey("x") { e.changeExpiry($0, hash: $1, anyType: true) { _ in .processSeconds(h.clock.current + 5) } }
        h.advance(10)
        #expect(e.llen("x") == 0)
        e.drainListFrees()
        #expect(e.usedChunks == baseline, "expiry")
    }

    @Test("an evicted list gives its nodes back")
    func eviction() throws {
        let h = try Harness { $0.memoryLimit = 4 << 20; $0.lruSegmented = false }
        let e = h.engine
        e.lpush("victim", .tail, (0..<3000).map { "a-fairly-long-list-element-\($0)" })
        let nodeClasses = (1...e.slabs.table.largest).filter { e.slabs.table.chunkSizes[$0] >= 2048 }
        #expect(nodeClasses.reduce(0) { $0 + e.slabs.classStats($1).usedChunks } > 0)
        // Fillers in the root's class (44 + 7 + 31 = 44 + 6 + 32 bytes), so that eviction there
        // reaches the root.
        var i = 0
        while e.llen("victim") != 0 && i < 200_000 {
            e.put("f" + String(1_000_000 + i).dropFirst(), Array(repeating: 0x61, count: 31))
            i += 1
        }
        #expect(e.llen("victim") == 0, "the list was evicted after \(i) sets")
        e.drainListFrees()
        #expect(nodeClasses.reduce(0) { $0 + e.slabs.classStats($1).usedChunks } == 0)
    }

    @Test("a 100k-element list: read at both ends and in the middle, freed by the lazy freer")
    func hundredThousand() throws {
        let h = try Harness()
        let e = h.engine
        let baseline = e.usedChunks
        for batch in 0..<100 {
            e.lpush("big", .tail, (0..<1000).map { "item:\(batch * 1000 + $0)" })
        }
        #expect(e.llen("big") == 100_000)
        #expect(e.lrange("big", 49_999, 50_001) == ["item:49999", "item:50000", "item:50001"])
        #expect(e.lrange("big", -1, -1) == ["item:99999"])
        let nodes = try #require(e.withKey("big") { e.listSummary($0, hash: $1, database: 0) }).nodes
        #expect(nodes > CacheEngine.listInlineFreeNodes)
        #expect(e.withKey("big") { e.delete($0, hash: $1, anyType: true) })
        #expect(e.listFrees.pendingListCount == 1, "queued for the background freer")
        #expect(e.listFrees.pendingNodes.load(ordering: .relaxed) == nodes)
        e.drainListFrees()
        #expect(e.listFrees.pendingListCount == 0)
        #expect(e.usedChunks == baseline)
    }

    @Test("every change gives a new CAS; a string key is WRONGTYPE for lists; LMOVE between lists")
    func casTypeAndMove() throws {
        let h = try Harness()
        let e = h.engine
        e.lpush("c", .tail, ["a", "b"])
        let cas1 = try #require(e.withKey("c") { e.inspect($0, hash: $1, anyType: true) }).cas
        e.lpush("c", .tail, ["c"])
        let cas2 = try #require(e.withKey("c") { e.inspect($0, hash: $1, anyType: true) }).cas
        #expect(cas2 != cas1)
        #expect(e.lpop("c", .head, 1) == ["a"])
        let cas3 = try #require(e.withKey("c") { e.inspect($0, hash: $1, anyType: true) }).cas
        #expect(cas3 != cas2)
        e.put("s", Array("v".utf8))
        #expect(e.lpush("s", .head, ["x"]) == .wrongType)
        #expect(e.llen("s") == nil)
        // The memcached port does not see the list.
        #expect(e.withKey("c") { k, hv in var o = GetOutcome.miss; return e.get(k, hash: hv, outcome: &o) } == nil)
        // Databases are separate keyspaces.
        e.lpush("c", .tail, ["other"], db: 3)
        #expect(e.lrange("c", db: 3) == ["other"])
        #expect(e.lrange("c") == ["b", "c"])
        let moved = e.withKey("c") { s, sh in e.withKey("dst") { d, dh in e.listMove(s, hash: sh, d, hash: dh, database: 0, from: .tail, to: .head) } }
        #expect(moved == .moved(Array("c".utf8)))
        #expect(e.lrange("dst") == ["c"])
        let rotated = e.withKey("c") { s, sh in e.listMove(s, hash: sh, s, hash: sh, database: 0, from: .head, to: .tail) }
        #expect(rotated == .moved(Array("b".utf8)))
        let wrong = e.withKey("c") { s, sh in e.withKey("s") { d, dh in e.listMove(s, hash: sh, d, hash: dh, database: 0, from: .tail, to: .head) } }
        #expect(wrong == .wrongType)
    }
}
