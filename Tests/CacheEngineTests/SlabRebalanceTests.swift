// Moving a page between classes: the page is emptied (its items evicted), handed to the other
// class, and the engine stays consistent while sets and gets run during the move.
@testable import CacheEngine
import Foundation
import SlabAllocator
import Synchronization
import Testing

@Suite("slab rebalance")
struct SlabRebalanceTests {
    static func fill(_ h: Harness, count: Int, prefix: String = "k") {
        let value = [UInt8](repeating: 0x61, count: 100)
        for i in 0..<count { h.engine.put("\(prefix)\(i)", value) }
    }

    @Test("a page moves: its items go, the rest stay, the destination class gets the chunks")
    func movesOnePage() throws {
        let h = try Harness { $0.memoryLimit = 64 << 20; $0.slabAutomove = 0 }
        Self.fill(h, count: 30_000)
        let cls = h.engine.slabs.table.classID(forSize: ItemLayout.totalSize(keyLength: 6, valueLength: 100))
        let before = h.engine.slabs.classStats(cls)
        #expect(before.totalPages >= 3)
        let dst = cls + 8
        let dstBefore = h.engine.slabs.classStats(dst)
        #expect(h.engine.rebalancer.reassign(from: cls, to: dst) == .ok)
        h.engine.rebalancer.waitIdle()
        let after = h.engine.slabs.classStats(cls)
        let dstAfter = h.engine.slabs.classStats(dst)
        #expect(after.totalPages == before.totalPages - 1)
        #expect(dstAfter.totalPages == dstBefore.totalPages + 1)
        #expect(dstAfter.freeChunks >= dstBefore.freeChunks + h.engine.slabs.table.perPage[dst])
        let evicted = Int(h.engine.rebalancer.evictions.load(ordering: .relaxed))
        let rescued = Int(h.engine.rebalancer.rescues.load(ordering: .relaxed))
        // The page's items went into the class's free chunks while there were some, then out.
        #expect(rescued > 0 && evicted > 0 && rescued + evicted <= before.chunksPerPage)
        #expect(h.engine.rebalancer.moved.load(ordering: .relaxed) == 1)
        var present = 0
        for i in 0..<30_000 where h.engine.fetch("k\(i)") != nil { present += 1 }
        #expect(present == 30_000 - evicted)
        #expect(after.usedChunks == present)
        // The moved chunks serve the destination class.
        let big = [UInt8](repeating: 0x62, count: h.engine.slabs.table.chunkSizes[dst] - 60)
        for i in 0..<10 { h.engine.put("big\(i)", big) }
        #expect(h.engine.fetch("big9")?.value == big)
    }

    @Test("with room in the class, a page moves without losing an item (rescued with CAS and value)")
    func rescuesWhenThereIsRoom() throws {
        let h = try Harness { $0.memoryLimit = 64 << 20; $0.slabAutomove = 0 }
        Self.fill(h, count: 30_000)
        // Free two thirds of the items, everywhere: every page keeps some.
        for i in 0..<30_000 where i % 3 != 0 {
            _ = h.engine.withKey("k\(i)") { k, hv in h.engine.delete(k, hash: hv) }
        }
        let cas = h.engine.fetch("k3")!.cas
        let cls = h.engine.slabs.table.classID(forSize: ItemLayout.totalSize(keyLength: 6, valueLength: 100))
        let before = h.engine.slabs.classStats(cls)
        #expect(h.engine.rebalancer.reassign(from: cls, to: cls + 2) == .ok)
        h.engine.rebalancer.waitIdle()
        #expect(h.engine.rebalancer.moved.load(ordering: .relaxed) == 1)
        #expect(h.engine.rebalancer.evictions.load(ordering: .relaxed) == 0)
        #expect(h.engine.rebalancer.rescues.load(ordering: .relaxed) > 0)
        #expect(h.engine.slabs.classStats(cls).totalPages == before.totalPages - 1)
        for i in stride(from: 0, to: 30_000, by: 3) {
            #expect(h.engine.fetch("k\(i)")?.value == [UInt8](repeating: 0x61, count: 100), "k\(i)")
        }
        #expect(h.engine.fetch("k3")?.cas == cas)
        #expect(h.engine.itemStats().totalItems == 30_000)
    }

    @Test("a stream root rescued by a page move keeps its token: the old root's release gives nothing back")
    func rescuedExternalRootKeepsItsToken() throws {
        let h = try Harness { $0.memoryLimit = 64 << 20; $0.slabAutomove = 0 }
        let released = Atomic<Int>(0)
        h.engine.setExternalValueHooks(ExternalValueHooks(release: { _ in released.wrappingAdd(1, ordering: .relaxed) },
                                                          copy: { $0 }))
        let n = 30_000
        for i in 0..<n {
            let r = h.engine.withKey("s\(i)") { k, hv in h.engine.createExternal(k, hash: hv, type: .stream, token: UInt64(i + 1)) }
            #expect(r == .created)
        }
        // Two thirds deleted, everywhere: every page keeps some, and the class has room to rescue into.
        for i in 0..<n where i % 3 != 0 {
            _ = h.engine.withKey("s\(i)") { k, hv in h.engine.delete(k, hash: hv, anyType: true) }
        }
        let deleted = released.load(ordering: .relaxed)
        #expect(deleted == n - n / 3)
        let cls = h.engine.slabs.table.classID(forSize: ItemLayout.totalSize(keyLength: 6, valueLength: CacheEngine.externalValueLength))
        #expect(h.engine.rebalancer.reassign(from: cls, to: cls + 2) == .ok)
        h.engine.rebalancer.waitIdle()
        #expect(h.engine.rebalancer.moved.load(ordering: .relaxed) == 1)
        #expect(h.engine.rebalancer.rescues.load(ordering: .relaxed) > 0)
        #expect(released.load(ordering: .relaxed) == deleted, "a rescued root's old copy released its stream")
        for i in stride(from: 0, to: n, by: 3) {
            let found = h.engine.withKey("s\(i)") { k, hv in h.engine.withExternalValue(k, hash: hv, type: .stream) { $0 } }
            guard case .found(let token) = found, token == UInt64(i + 1) else {
                Issue.record("s\(i): \(found)")
                continue
            }
        }
    }

    @Test("replies: same class, bad class, no spare page, the largest class never moves")
    func refusals() throws {
        let h = try Harness { $0.slabAutomove = 0 }
        let largest = h.engine.slabs.table.largest
        #expect(h.engine.rebalancer.reassign(from: 3, to: 3) == .same)
        #expect(h.engine.rebalancer.reassign(from: 3, to: largest + 1) == .badClass)
        #expect(h.engine.rebalancer.reassign(from: largest, to: 3) == .badClass)
        #expect(h.engine.rebalancer.reassign(from: 3, to: 4) == .noSpare)
        // memcached: -1 finds no class with a page to spare and stays -1, an invalid class.
        #expect(h.engine.rebalancer.reassign(from: -1, to: 4) == .badClass)
        #expect(h.engine.rebalancer.reassign(from: 0, to: 4) == .noSpare)
        #expect(h.engine.rebalancer.reassign(from: 3, to: 0) == .noSpare)
    }

    @Test("sets and gets running during moves stay consistent")
    func concurrentTraffic() throws {
        let h = try Harness { $0.memoryLimit = 64 << 20; $0.slabAutomove = 0 }
        Self.fill(h, count: 30_000)
        let cls = h.engine.slabs.table.classID(forSize: ItemLayout.totalSize(keyLength: 6, valueLength: 100))
        let engine = h.engine
        let stop = Atomic<Bool>(false)
        let bad = Atomic<Int>(0)
        let worker = Thread {
            var n = 0
            while !stop.load(ordering: .relaxed) {
                let key = "t\(n % 5000)"
                let value = Array("\(key):\(n)".utf8) + [UInt8](repeating: 0x7a, count: 80)
                engine.put(key, value)
                if let got = engine.fetch(key) {
                    // Whatever is there must be a value written for this key.
                    if !String(decoding: got.value.prefix(key.utf8.count + 1), as: UTF8.self).hasPrefix(key + ":") {
                        bad.wrappingAdd(1, ordering: .relaxed)
                    }
                }
                n += 1
            }
        }
        worker.start()
        var moves = 0
        for _ in 0..<3 {
            if engine.rebalancer.reassign(from: cls, to: cls + 5) == .ok { moves += 1 }
            engine.rebalancer.waitIdle()
        }
        stop.store(true, ordering: .relaxed)
        while !worker.isFinished { usleep(1000) }
        #expect(moves >= 1)
        #expect(bad.load(ordering: .relaxed) == 0)
        #expect(engine.rebalancer.aborted.load(ordering: .relaxed) == 0)
        for i in stride(from: 0, to: 30_000, by: 97) {
            if let got = engine.fetch("k\(i)") { #expect(got.value == [UInt8](repeating: 0x61, count: 100)) }
        }
    }

    @Test("a chunk still referenced keeps its page: the move gives up and the page stays whole")
    func busyItemAborts() throws {
        let h = try Harness { $0.memoryLimit = 64 << 20; $0.slabAutomove = 0 }
        Self.fill(h, count: 20_000)
        let cls = h.engine.slabs.table.classID(forSize: ItemLayout.totalSize(keyLength: 6, valueLength: 100))
        // Hold a reference to every item, as readers whose replies are still being written.
        var held: [Item] = []
        for i in 0..<20_000 {
            h.engine.withKey("k\(i)") { k, hv in
                var outcome = GetOutcome.miss
                if let it = h.engine.get(k, hash: hv, outcome: &outcome) { held.append(it) }
            }
        }
        let before = h.engine.slabs.classStats(cls)
        #expect(h.engine.rebalancer.reassign(from: cls, to: cls + 3) == .ok)
        h.engine.rebalancer.waitIdle()
        #expect(h.engine.rebalancer.aborted.load(ordering: .relaxed) == 1)
        #expect(h.engine.slabs.classStats(cls).totalPages == before.totalPages)
        for it in held { h.engine.release(it) }
        // The chunks of the evicted items are free again in their class.
        #expect(h.engine.slabs.classStats(cls).usedChunks + h.engine.slabs.classStats(cls).freeChunks
                == before.usedChunks + before.freeChunks)
    }
}
