// The background threads of the engine: the LRU maintainer (memcached's lru_maintainer_thread:
// juggles HOT and WARM tails into COLD and rescues active items, so that a set rarely has to do
// that work itself), the LRU crawler (Crawler.swift) and the hash table expander. Each sleeps
// longer the less work it finds, and all stop together.
import Platform

public final class EngineThreads: @unchecked Sendable {
    // Safe to share: `threads` is written in `start` before any thread exists and read in `stop`
    // on the same thread that called `start`.
    private let engine: CacheEngine
    private let stopSignal = StopSignal()
    private var threads: [BackgroundThread] = []

    public init(engine: CacheEngine) {
        self.engine = engine
    }

    public func start() {
        let engine = self.engine
        let signal = stopSignal
        if engine.settings.lruMaintainer {
            threads.append(BackgroundThread(name: "lru-maintainer") {
                // A pass moves up to 500 items per list, so a 10 ms rhythm keeps up with any set
                // rate this server reaches; waking every 1 ms cost ~20 % of the p1 throughput on a
                // 2-core box (measured: -t 1, 162k ops/s vs 200k without the maintainer). Idle, it
                // backs off to 1 s; allocation itself still moves HOT to COLD when memory is short.
                var sleep = Self.busySleep
                repeat {
                    let moves = engine.maintainLRUs()
                    sleep = moves > 0 ? Self.busySleep : min(sleep * 2, 1_000_000)
                } while signal.wait(microseconds: sleep)
            })
        }
        // The lazy freer of long lists' nodes (CacheEngine+ListFree.swift): woken when a chain is
        // queued, 256 nodes per step so an allocation's own step never waits long on its lock.
        let frees = engine.listFrees
        threads.append(BackgroundThread(name: "list-free") {
            repeat {
                while engine.listFreeStep(maxNodes: 256) > 0 && !frees.signal.isStopped {}
            } while frees.signal.wait(microseconds: 1_000_000)
        })
        let crawler = engine.crawler
        _ = crawler.setEnabled(engine.settings.lruCrawler)
        let maintained = engine.settings.lruMaintainer
        threads.append(BackgroundThread(name: "lru-crawler") {
            // memcached's maintainer starts one crawl of every class as it starts, whatever they
            // hold: its lru_crawler_starts is 1 from the first second (0 without a maintainer).
            if maintained && crawler.isEnabled {
                engine.crawlAll(countStart: true, shouldStop: { crawler.signal.isStopped })
            }
            while crawler.signal.wait(microseconds: 2_000_000) {
                let requested = crawler.takeRequest()
                if crawler.isEnabled || requested {
                    engine.crawlAll(everything: requested, shouldStop: { crawler.signal.isStopped })
                }
            }
        })
        // `-o no_hashexpand`: no expander at all, the table keeps its initial size (memcached's
        // start_assoc_maint = false).
        if engine.settings.hashExpand { threads.append(BackgroundThread(name: "hash-expander") {
            while signal.wait(microseconds: 50_000) {
                while engine.hashExpanderStep() && !signal.isStopped {}
            }
        }) }
        // Without slab_reassign there is no page mover (memcached starts no rebalancer thread).
        if engine.settings.slabReassign { threads.append(BackgroundThread(name: "slab-automove") {
            // memcached samples once a second; level 1 acts on a 10 s window, level 2 on 1 s.
            var previous: [Int] = []
            var ticks = 0
            while signal.wait(microseconds: 1_000_000) {
                let level = engine.rebalancer.automove.load(ordering: .relaxed)
                ticks += 1
                guard level > 0, level == 2 || ticks % 10 == 0 else { continue }
                let evictions = (0...engine.slabs.table.largest).map { $0 == 0 ? 0 : engine.itemStats(classID: $0).evicted }
                engine.rebalancer.automoveCheck(evictionsByClass: evictions, previous: &previous)
            }
        }) }
    }

    static let busySleep = 10_000

    public func stop() {
        stopSignal.stop()
        engine.crawler.signal.stop()
        engine.listFrees.signal.stop()
        for t in threads { t.join() }
        threads.removeAll()
        engine.rebalancer.waitIdle()
    }
}

extension CacheEngine {
    /// One pass of the maintainer over every class; returns the number of items moved.
    @discardableResult
    public func maintainLRUs() -> Int {
        maintainerJuggles.add(1, ordering: .relaxed)
        var moves = 0
        for cls in 1...slabs.table.largest {
            // TEMP first: its expired items are reclaimed here, never evicted (memcached's
            // lru_maintainer_juggle).
            if tuning.isTempLRU {
                for _ in 0..<500 {
                    let reclaimed = pullTail(classID: cls, segment: .temp, totalBytes: 0, flags: [])
                    if reclaimed == 0 { break }
                    moves += reclaimed
                }
            }
            let total = classBytes(cls)
            if total == 0 { continue }
            for _ in 0..<500 {
                var more = 0
                more += pullTail(classID: cls, segment: .hot, totalBytes: total, flags: [])
                more += pullTail(classID: cls, segment: .warm, totalBytes: total, flags: [])
                more += pullTail(classID: cls, segment: .cold, totalBytes: total, flags: [])
                if more == 0 { break }
                moves += more
            }
        }
        return moves
    }
}
