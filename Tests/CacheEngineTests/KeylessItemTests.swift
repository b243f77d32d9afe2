// Compact keyless items (KeylessLayout.swift) in the engine-only keyless slab classes: a hash's,
// set's or sorted set's small members take a 24-byte header in a 40...96-byte class, are freed
// and reused there, fall back to the 44-byte header when those classes have no memory, are left
// alone by the page mover, come back free after a warm restart, and answer as before (ranks,
// ranges, scores of a sorted set).
@testable import CacheEngine
import SlabAllocator
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("keyless items")
struct KeylessItemTests {
    static func member(_ i: Int) -> String {
        let digits = String(i)
        return "m" + String(repeating: "0", count: 9 - digits.count) + digits
    }

    func keylessUsed(_ e: CacheEngine, size: Int) -> Int {
        e.slabs.classStats(SlabClassTable.keylessClassID(forSize: size)).usedChunks
    }

    @Test("the keyless class table: 40...96 by 8, apart from memcached's ids, sizes map to the smallest fit")
    func classTable() throws {
        let h = try Harness()
        let t = h.engine.slabs.table
        #expect(t.keylessIDs.lowerBound > t.largest)
        #expect(t.keylessIDs.map { t.chunkSize($0) } == [40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120, 128])
        #expect(SlabClassTable.keylessClassID(forSize: 24) == SlabClassTable.keylessBase)
        #expect(SlabClassTable.keylessClassID(forSize: 40) == SlabClassTable.keylessBase)
        #expect(SlabClassTable.keylessClassID(forSize: 41) == SlabClassTable.keylessBase + 1)
        #expect(SlabClassTable.keylessClassID(forSize: 96) == SlabClassTable.keylessBase + 7)
        #expect(SlabClassTable.keylessClassID(forSize: 128) == SlabClassTable.keylessBase + 11)
        #expect(SlabClassTable.keylessClassID(forSize: 129) == 0)
        #expect(h.engine.keylessSlabStats.count == 12)
    }

    @Test("set, hash and sorted-set members of 10 bytes take 40-, 48- and 48-byte keyless chunks; all back on delete")
    func membersInKeylessClasses() throws {
        let h = try Harness { $0.memoryLimit = 256 << 20 }
        let e = h.engine
        let baseline = e.usedChunks
        let n = 5000
        #expect(e.sadd("s", (0..<n).map(Self.member)) == .added(n))
        #expect(keylessUsed(e, size: 24 + 10) == n)
        #expect(e.hset("h", (0..<n).map { (Self.member($0), "v" + Self.member($0).dropFirst()) }) == .added(n))
        #expect(keylessUsed(e, size: 24 + 20) == n)
        let keylessBefore = e.keylessSlabStats.reduce(0) { $0 + $1.stats.usedChunks }
        e.zadd("z", (0..<n).map { (Double($0), Self.member($0)) })
        // One item per member, its skip-list node folded in: 24 + 10 + 8 (score) + 5 + 8 a level
        // = 55 bytes at level 1 (3/4 of them, the 56 class), 63 at 2, ...
        #expect(keylessUsed(e, size: 24 + 20) == n, "the hash's pairs alone")
        #expect(keylessUsed(e, size: 55) > n / 2, "level-1 members: 3/4 of them")
        let keylessAfter = e.keylessSlabStats.reduce(0) { $0 + $1.stats.usedChunks }
        #expect(keylessAfter - keylessBefore == n)
        #expect(e.keylessFallbackCount == 0)
        let z = try #require(e.withKey("z") { e.hashSummary($0, hash: $1, database: 0, type: .zset) })
        #expect(z.memory < n * 70 + 64 * 1024, "zset memory \(z.memory)")
        // MEMORY USAGE's figure counts the 40-byte chunks.
        let s = try #require(e.withKey("s") { e.hashSummary($0, hash: $1, database: 0, type: .set) })
        #expect(s.memory < n * 40 + 64 * 1024, "set memory \(s.memory)")
        for k in ["s", "h", "z"] { #expect(e.withKey(k) { e.delete($0, hash: $1, anyType: true) }) }
        e.drainListFrees()
        #expect(e.usedChunks == baseline)
        for id in e.slabs.table.keylessIDs { #expect(e.slabs.classStats(id).usedChunks == 0) }
    }

    @Test("free and reuse: removed members' chunks serve new ones without a new page")
    func freeAndReuse() throws {
        let h = try Harness()
        let e = h.engine
        let n = 20_000
        #expect(e.sadd("s", (0..<n).map(Self.member)) == .added(n))
        let cls = SlabClassTable.keylessClassID(forSize: 34)
        let pages = e.slabs.classStats(cls).totalPages
        _ = e.withKey("s") { k, hv in
            let gone = (0..<n).filter { $0 % 2 == 0 }.map { Array(Self.member($0).utf8) }
            return e.hashDelete(k, hash: hv, database: 0, type: .set, count: gone.count) { i in
                gone[i].withUnsafeBytes { UnsafeRawBufferPointer(start: $0.baseAddress, count: $0.count) }
            }
        }
        #expect(e.slabs.classStats(cls).usedChunks == n / 2)
        #expect(e.sadd("s", (n..<(n + n / 2)).map(Self.member)) == .added(n / 2))
        #expect(e.slabs.classStats(cls).usedChunks == n)
        #expect(e.slabs.classStats(cls).totalPages == pages, "freed chunks reused")
        let all = Set(e.smembers("s"))
        #expect(all.count == n)
        #expect(all.contains(Self.member(1)) && !all.contains(Self.member(0)) && all.contains(Self.member(n + 1)))
    }

    @Test("keyless classes full: members take the 44-byte header (counted) and read back the same")
    func fallbackWhenFull() throws {
        // -m 2 MB: each class gets its first page past the limit, no second one.
        let h = try Harness { $0.memoryLimit = 2 << 20 }
        let e = h.engine
        let perPage = e.slabs.table.chunksPerPage(SlabClassTable.keylessClassID(forSize: 34))
        let n = perPage + 2000
        let baseline = e.usedChunks
        #expect(e.sadd("s", (0..<n).map(Self.member)) == .added(n))
        #expect(e.keylessFallbackCount > 0)
        #expect(keylessUsed(e, size: 34) + e.keylessFallbackCount == n)
        #expect(Set(e.smembers("s")) == Set((0..<n).map(Self.member)))
        #expect(e.withKey("s") { e.delete($0, hash: $1, anyType: true) })
        e.drainListFrees()
        #expect(e.usedChunks == baseline)
    }

    @Test("page moves: a keyless class is no source or destination; moving a page of strings leaves members intact")
    func pageMoves() throws {
        let h = try Harness { $0.memoryLimit = 64 << 20; $0.slabAutomove = 0 }
        let e = h.engine
        let keyless = SlabClassTable.keylessBase
        // Strings first: the page moved is then all strings (a page holding a 44-byte keyless
        // item, such as a tall skip-list node, is never moved, as before).
        SlabRebalanceTests.fill(h, count: 30_000)
        #expect(e.sadd("s", (0..<3000).map(Self.member)) == .added(3000))
        e.zadd("z", (0..<3000).map { (Double($0), Self.member($0)) })
        #expect(e.rebalancer.reassign(from: keyless, to: 3) == .badClass)
        #expect(e.rebalancer.reassign(from: 3, to: keyless) == .badClass)
        let cls = e.slabs.table.classID(forSize: ItemLayout.totalSize(keyLength: 6, valueLength: 100))
        #expect(e.rebalancer.reassign(from: cls, to: cls + 8) == .ok)
        e.rebalancer.waitIdle()
        #expect(e.rebalancer.moved.load(ordering: .relaxed) == 1)
        #expect(Set(e.smembers("s")) == Set((0..<3000).map(Self.member)))
        #expect(e.zall("z") == (0..<3000).map(Self.member))
        #expect(e.zrankOf("z", Self.member(2999)) == 2999)
    }

    @Test("sorted set on compact entries: ranks, ranges, scores and score updates")
    func zsetOrder() throws {
        let h = try Harness()
        let e = h.engine
        let n = 4000
        // Scores in reverse of member order, so the order is the scores'.
        e.zadd("z", (0..<n).map { (Double(n - $0), Self.member($0)) })
        #expect(e.zencoding("z") == .skiplist)
        #expect(e.zrankOf("z", Self.member(n - 1)) == 0)
        #expect(e.zrankOf("z", Self.member(0)) == n - 1)
        #expect(e.zrange("z", ZRangeQuery(.rank(0, 2))) == [Self.member(n - 1), Self.member(n - 2), Self.member(n - 3)])
        #expect(e.zrange("z", ZRangeQuery(.score(ZScoreBound(10, exclusive: false), ZScoreBound(12, exclusive: false))))
                == [Self.member(n - 10), Self.member(n - 11), Self.member(n - 12)])
        #expect(e.zscoreOf("z", Self.member(7)) == Double(n - 7))
        // A new score: written in place in the compact entry, the node moves.
        e.zadd("z", [(-1, Self.member(7))])
        #expect(e.zscoreOf("z", Self.member(7)) == -1)
        #expect(e.zrankOf("z", Self.member(7)) == 0)
        #expect(e.zrem("z", [Self.member(7), Self.member(8)]) == 2)
        #expect(e.zrankOf("z", Self.member(0)) == n - 3)
        #expect(e.zall("z").count == n - 2)
    }

    @Test("warm restart: a set is not kept, its keyless page comes back free and serves a new set")
    func warmRestart() throws {
        let path = try WarmRestartEngineTests.tempPath()
        let meta: WarmRestartMeta
        let cls = SlabClassTable.keylessClassID(forSize: 34)
        do {
            let a = try WarmRestartEngineTests.open(path)
            a.engine.put("k", Array("kept".utf8))
            #expect(a.engine.sadd("s", (0..<2000).map(Self.member)) == .added(2000))
            #expect(a.engine.slabs.classStats(cls).usedChunks == 2000)
            meta = try WarmRestartEngineTests.save(a)
        }
        let b = try WarmRestartEngineTests.open(path, meta: meta)
        defer { close(b.fd) }
        let report = b.engine.restore(meta)
        #expect(report.refusal == nil)
        #expect(report.restored == 1)
        #expect(b.engine.fetch("k")?.string == "kept")
        #expect(b.engine.smembers("s").isEmpty)
        let s = b.engine.slabs.classStats(cls)
        #expect(s.totalPages == 1 && s.usedChunks == 0 && s.freeChunks == s.chunksPerPage)
        #expect(b.engine.sadd("s2", (0..<2000).map(Self.member)) == .added(2000))
        #expect(b.engine.slabs.classStats(cls).totalPages == 1, "the restored free chunks serve")
        #expect(Set(b.engine.smembers("s2")).count == 2000)
    }

    @Test("sorted set: short members folded with their nodes, long ones a 44-byte entry with a node of its own; copy, ranges, removal and delete free both")
    func zsetFoldAndFallback() throws {
        let h = try Harness()
        let e = h.engine
        let baseline = e.usedChunks
        // Every third member is 150 bytes: too long to fold (a 44-byte entry naming its node).
        func name(_ i: Int) -> String { i % 3 == 0 ? Self.member(i) + String(repeating: "x", count: 140) : Self.member(i) }
        let n = 3000
        e.zadd("z", (0..<n).map { (Double($0), name($0)) })
        #expect(e.zencoding("z") == .skiplist)
        let folded = e.keylessSlabStats.reduce(0) { $0 + $1.stats.usedChunks }
        // The folded members (2/3) plus the long members' compact nodes (1/3): about n keyless items.
        #expect(folded >= n - 5 && folded <= n)
        #expect(e.zall("z") == (0..<n).map(name))
        #expect(e.zrankOf("z", name(2999)) == 2999 && e.zrankOf("z", name(1500)) == 1500)
        #expect(e.zscoreOf("z", name(999)) == 999)
        // COPY: the same members, order and scores.
        #expect(e.withKey("z") { k, _ in e.withKey("c") { c, _ in e.copyKey(k, from: 0, to: c, database: 0, replace: false) } } == .done)
        #expect(e.zall("c") == (0..<n).map(name))
        // Remove both kinds, by member and by rank range.
        #expect(e.zrem("z", [name(0), name(1), name(3)]) == 3)
        #expect(e.withKey("z") { e.zsetRemoveRange($0, hash: $1, database: 0, ZRangeQuery(.rank(0, 9))) } == 10)
        #expect(e.zall("z").first == name(13))
        #expect(e.zrankOf("z", name(2999)) == n - 14)
        // A new score moves a member (written in its entry, folded or not).
        e.zadd("z", [(-1, name(2001)), (-2, name(2100))])
        #expect(Array(e.zall("z").prefix(2)) == [name(2100), name(2001)])
        for k in ["z", "c"] { #expect(e.withKey(k) { e.delete($0, hash: $1, anyType: true) }) }
        e.drainListFrees()
        #expect(e.usedChunks == baseline, "every entry and node back")
    }

    @Test("a set emptied by deletes gives its index back: the table shrinks by the incremental move; SSCAN sees every member meanwhile")
    func indexShrinks() throws {
        let h = try Harness()
        let e = h.engine
        let n = 20_000
        #expect(e.sadd("s", (0..<n).map(Self.member)) == .added(n))
        func summary() throws -> HashSummary { try #require(e.withKey("s") { e.hashSummary($0, hash: $1, database: 0, type: .set) }) }
        #expect(try summary().buckets >= 16_384)
        func remove(_ range: Range<Int>) {
            _ = e.withKey("s") { k, hv in
                let gone = range.map { Array(Self.member($0).utf8) }
                return e.hashDelete(k, hash: hv, database: 0, type: .set, count: gone.count) { i in
                    gone[i].withUnsafeBytes { UnsafeRawBufferPointer(start: $0.baseAddress, count: $0.count) }
                }
            }
        }
        // Down to 3,000: under a tenth of 32,768 buckets, a smaller table is being filled.
        for i in stride(from: 0, to: n - 3000, by: 1) { remove(i..<(i + 1)) }
        let during = try summary()
        #expect(during.rehashing, "shrinking")
        #expect(e.hashIndexShrinkCount >= 1)
        // A full SSCAN while the smaller table is table1.
        var seen = Set<String>()
        var cursor: UInt64 = 0
        repeat {
            let (r, next) = e.withKey("s") { k, hv in
                e.hashScan(k, hash: hv, database: 0, type: .set, cursor: cursor, count: 50) { m, _ in seen.insert(String(decoding: m.bytes, as: UTF8.self)) }
            }
            #expect(r == .ok)
            cursor = next
        } while cursor != 0
        #expect(seen == Set(((n - 3000)..<n).map(Self.member)))
        // Down to 40 members: the table ends at the first table's size.
        for i in stride(from: n - 3000, to: n - 40, by: 1) { remove(i..<(i + 1)) }
        let after = try summary()
        #expect(!after.rehashing && after.buckets == 1 << CacheEngine.hashInitialBits, "buckets \(after.buckets)")
        #expect(Set(e.smembers("s")) == Set(((n - 40)..<n).map(Self.member)))
        #expect(after.memory < 40 * 40 + 4096, "memory \(after.memory)")
    }
}

