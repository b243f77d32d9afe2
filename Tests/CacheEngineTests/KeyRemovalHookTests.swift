// The engine's key-removal hook (CacheEngine+KeyRemoval.swift): every expired key the engine takes
// away is reported, whoever finds it (a memcached-port lookup, the crawler, the LRU tail, an
// allocation's pull), and flushed keys are not (the Redis port's keyspace event `expired`).
@testable import CacheEngine
import Synchronization
import Testing

/// What the hook heard, in order.
private final class Heard: Sendable {
    let events = Mutex<[String]>([])
    func attach(_ e: CacheEngine) {
        e.onKeyRemoval { key, db, why in
            let line = "\(why) \(db) \(String(decoding: key, as: UTF8.self))"
            self.events.withLock { $0.append(line) }
        }
    }
    var all: [String] { events.withLock { $0 } }
}

@Suite("key removal hook")
struct KeyRemovalHookTests {
    /// An engine whose hook is heard, its clock at 1000.
    private func hearing(_ configure: (inout EngineSettings) -> Void = { _ in }) throws -> (Harness, Heard) {
        let h = try Harness(configure)
        let heard = Heard()
        heard.attach(h.engine)
        h.clock.set(1000)
        return (h, heard)
    }

    @Test("a memcached-port get of an expired key reports `expired` once")
    func lookupReportsExpired() throws {
        let (h, heard) = try hearing()
        h.engine.put("k1", "v", exptime: 5)
        h.advance(10)
        #expect(h.engine.fetch("k1") == nil)
        #expect(h.engine.fetch("k1") == nil)
        #expect(heard.all == ["expired 0 k1"])
    }

    @Test("the crawler reports each expired key it reclaims, never a flushed one")
    func crawlerReportsExpired() throws {
        let (h, heard) = try hearing()
        for i in 0..<4 { h.engine.put("c\(i)", "v", exptime: i % 2 == 0 ? 5 : 0) }
        h.advance(10)
        #expect(h.engine.crawlAll() == 2)
        #expect(heard.all.sorted() == ["expired 0 c0", "expired 0 c2"])
        h.engine.flushAll(delay: 0)
        _ = h.engine.crawlAll()
        #expect(heard.all.count == 2)
    }

    @Test("an allocation's pull of COLD's tail reports the expired keys it reclaims (flat LRU)")
    func tailPullReportsExpired() throws {
        let (h, heard) = try hearing { $0.lruSegmented = false }
        for i in 0..<3 { h.engine.put("t\(i)", "v", exptime: 5) }
        h.advance(10)
        h.engine.put("t3", "v")
        #expect(h.engine.itemStats().reclaimed == 3)
        #expect(heard.all.sorted() == ["expired 0 t0", "expired 0 t1", "expired 0 t2"])
    }

    @Test("the maintainer's TEMP pull reports the expired keys it reclaims")
    func maintainerReportsExpired() throws {
        let (h, heard) = try hearing { $0.tempLRU = true; $0.temporaryTTL = 61 }
        h.engine.put("m0", "v", exptime: 5)
        h.advance(10)
        _ = h.engine.maintainLRUs()
        #expect(heard.all == ["expired 0 m0"])
    }
}
