// Eviction policies (issue 14): redis's LFU counter arithmetic, the counter kept in the item's
// access word, and which item each sampling policy gives up when a class is full. The engine's
// random draws are seeded per test, so every run samples the same buckets.
@testable import CacheEngine
import SlabAllocator
import Testing

@Suite("LFU counter")
struct LFUCounterTests {
    /// The increment's probability is redis's 1 / ((counter - 5) * factor + 1), compared with a
    /// uniform 32-bit draw.
    @Test("log increment: always below the initial value, 1/101 at 15 with factor 10, never past 255")
    func incrementProbability() {
        #expect(LFU.increment(0, logFactor: 10, random: UInt32.max) == 1)
        #expect(LFU.increment(5, logFactor: 10, random: UInt32.max - 1) == 6)
        let threshold = UInt32(4_294_967_296.0 / 101)
        #expect(LFU.increment(15, logFactor: 10, random: threshold - 1) == 16)
        #expect(LFU.increment(15, logFactor: 10, random: threshold + 1) == 15)
        #expect(LFU.increment(255, logFactor: 0, random: 0) == 255)
        // Factor 0: every access counts.
        #expect(LFU.increment(100, logFactor: 0, random: UInt32.max) == 101)
    }

    /// redis.conf's table for lfu-log-factor 10: 100 hits give about 10, 1,000 about 18,
    /// 100,000 about 142 (a seeded run of the same draws as the engine's).
    @Test("counts after N hits follow redis.conf's table for factor 10")
    func hitsTable() throws {
        let e = try Harness().engine
        e.randomState.store(42, ordering: .relaxed)
        func hits(_ n: Int) -> Int {
            var c = LFU.initialCounter
            for _ in 0..<n { c = LFU.increment(c, logFactor: 10, random: UInt32(truncatingIfNeeded: e.nextRandom())) }
            return Int(c)
        }
        let h100 = hits(100), h1k = hits(1000), h100k = hits(100_000)
        #expect((8...13).contains(h100), "100 hits: \(h100)")
        #expect((15...22).contains(h1k), "1000 hits: \(h1k)")
        #expect((125...160).contains(h100k), "100k hits: \(h100k)")
    }

    @Test("decay: one off per lfu-decay-time minutes, none with 0, never below 0; minutes as redis's minute clock")
    func decay() {
        #expect(LFU.decayed(20, elapsedMinutes: 3, decayMinutes: 1) == 17)
        #expect(LFU.decayed(20, elapsedMinutes: 3, decayMinutes: 2) == 19)
        #expect(LFU.decayed(20, elapsedMinutes: 300, decayMinutes: 0) == 20)
        #expect(LFU.decayed(20, elapsedMinutes: 25, decayMinutes: 1) == 0)
        #expect(LFU.elapsedMinutes(from: 119, to: 120) == 1)
        #expect(LFU.elapsedMinutes(from: 120, to: 179) == 0)
        #expect(LFU.elapsedMinutes(from: 200, to: 100) == 0)
    }

    @Test("in the engine: a new key starts at 5, reads count, OBJECT FREQ's value decays with idle minutes, the access time keeps its 24 bits")
    func engineCounter() throws {
        let h = try Harness()
        let e = h.engine
        e.tuning.setPolicy(.lfu)
        e.tuning.setLFULogFactor(0)  // every access counts
        h.clock.set(1000)
        e.put("k", "v")
        let info = { e.withKey("k") { k, hv in e.inspect(k, hash: hv) } }
        #expect(info()?.frequency == 5)
        for _ in 0..<10 { _ = e.fetch("k") }
        #expect(info()?.frequency == 15)
        #expect(info()?.lastAccess == 1000)
        h.advance(180)
        #expect(info()?.frequency == 12)
        // A read decays first, then counts.
        _ = e.fetch("k")
        #expect(info()?.frequency == 13)
        #expect(info()?.lastAccess == 1180)
        // Overwriting keeps the key's frequency (redis's dbOverwrite under LFU), plus the access.
        e.put("k", "w")
        #expect(info()?.frequency == 14)
    }
}

@Suite("Eviction policies")
struct EvictionPolicyTests {
    static let value = String(repeating: "x", count: 10_000)

    /// An engine of one 1 MB page, filled with `perPage` 10 KB items (keys 0..<perPage), the
    /// random draws seeded.
    func full(_ policy: EvictionPolicy, ttl: (Int) -> Int64 = { _ in 0 },
              prepare: (Harness, Int) -> Void = { _, _ in }) throws -> (Harness, Int) {
        let h = try Harness { $0.memoryLimit = 1024 * 1024 }
        let e = h.engine
        e.randomState.store(7, ordering: .relaxed)
        e.tuning.setPolicy(policy)
        e.tuning.setSamples(16)
        h.clock.set(1000)
        let cls = e.classID(keyLength: 8, valueLength: 10_000)
        let perPage = e.slabs.table.perPage[cls]
        for i in 0..<perPage { e.put(key(i), Self.value, exptime: ttl(i)) }
        prepare(h, perPage)
        return (h, perPage)
    }

    func present(_ e: CacheEngine, _ n: Int) -> Set<Int> {
        Set((0..<n).filter { e.withKey(key($0)) { k, hv in e.inspect(k, hash: hv) } != nil })
    }

    @Test("allkeys-lfu: the keys read often survive, the ones never read go")
    func lfuVictims() throws {
        let (h, n) = try full(.lfu, prepare: { h, n in
            h.engine.tuning.setLFULogFactor(0)
            for i in 0..<(n / 2) { for _ in 0..<20 { _ = h.engine.fetch(key(i)) } }
        })
        let e = h.engine
        for i in n..<(n + 10) { e.put(key(i), Self.value) }
        // New keys start at redis's 5, as the unread old ones: either may go.
        let left = present(e, n + 10)
        #expect(left.count == n)
        for i in 0..<(n / 2) { #expect(left.contains(i), "hot key \(i) was evicted") }
        #expect(e.itemStats().evicted == 10)
    }

    @Test("allkeys-lru (sampled): the keys read recently survive")
    func lruVictims() throws {
        let (h, n) = try full(.lru, prepare: { h, n in
            h.advance(100)
            for i in 0..<(n / 2) { _ = h.engine.fetch(key(i)) }
        })
        let e = h.engine
        for i in n..<(n + 10) { e.put(key(i), Self.value) }
        let left = present(e, n)
        #expect(left.count == n - 10)
        for i in 0..<(n / 2) { #expect(left.contains(i), "recently read key \(i) was evicted") }
    }

    @Test("volatile-lru/-lfu/-random: only keys with an expiry go; none left: the store fails and writes are refused")
    func volatileVictims() throws {
        for policy in [EvictionPolicy.volatileLRU, .volatileLFU, .volatileRandom] {
            let (h, n) = try full(policy, ttl: { $0 % 10 == 0 ? 3600 : 0 })
            let e = h.engine
            let volatile = (0..<n).filter { $0 % 10 == 0 }.count
            for i in n..<(n + volatile) { e.put(key(i), Self.value) }
            let left = present(e, n)
            for i in 0..<n where i % 10 != 0 { #expect(left.contains(i), "\(policy): key \(i) without a TTL was evicted") }
            #expect(left.count == n - volatile, "\(policy)")
            #expect(e.itemStats().evicted == UInt64(volatile), "\(policy)")
            #expect(!e.isRefusingWrites)
            // Every volatile key is gone (the new ones have none): the next store fails.
            let r = e.withKey(key(n + volatile)) { k, _ in e.allocate(key: k, flags: 0, expiry: 0, valueLength: 10_000) }
            guard case .outOfMemory = r else { Issue.record("\(policy): expected .outOfMemory, got \(r)"); continue }
            #expect(e.isRefusingWrites)
            // Memory that comes back ends the refusal.
            _ = e.remove(key(1))
            #expect(!e.isRefusingWrites)
        }
    }

    @Test("volatile-ttl: the soonest expiry goes first")
    func ttlVictims() throws {
        // Keys 0..<n expire in 1000 + 10 i seconds: the evicted are the first ones.
        let (h, n) = try full(.volatileTTL, ttl: { Int64(1000 + 10 * $0) })
        let e = h.engine
        e.tuning.setSamples(64)
        for i in n..<(n + 5) { e.put(key(i), Self.value, exptime: 100_000) }
        let gone = Set(0..<n).subtracting(present(e, n))
        #expect(gone.count == 5)
        // Sampling is approximate (redis's too): the victims are among the soonest fifth.
        for i in gone { #expect(i < n / 5, "key \(i) expiring late was evicted") }
    }

    @Test("allkeys-random: victims spread over the whole key range")
    func randomVictims() throws {
        let (h, n) = try full(.random)
        let e = h.engine
        for i in n..<(n + 20) { e.put(key(i), Self.value) }
        let gone = Set(0..<(n + 20)).subtracting(present(e, n + 20))
        #expect(gone.count == 20)
        // The segmented LRU would take the 20 oldest (0..<20); random ones reach the newer half.
        #expect(gone.contains { $0 >= n / 2 })
    }

    @Test("noeviction: the store fails, nothing is evicted, and the refusal is flagged until memory comes back")
    func noEviction() throws {
        let (h, n) = try full(.none)
        let e = h.engine
        let r = e.withKey(key(n)) { k, _ in e.allocate(key: k, flags: 0, expiry: 0, valueLength: 10_000) }
        guard case .outOfMemory = r else { Issue.record("expected .outOfMemory, got \(r)"); return }
        #expect(e.itemStats().evicted == 0)
        #expect(e.isRefusingWrites)
        // A policy that evicts any key never refuses; back to noeviction, still full.
        e.tuning.setPolicy(.lfu)
        #expect(!e.isRefusingWrites)
        e.tuning.setPolicy(.none)
        #expect(e.isRefusingWrites)
        // A new memory limit: the next allocation finds out.
        e.setMemoryLimit(2 * 1024 * 1024)
        #expect(!e.isRefusingWrites)
        _ = e.withKey(key(n)) { k, _ in e.allocate(key: k, flags: 0, expiry: 0, valueLength: 10_000) }
        e.setMemoryLimit(1024 * 1024)
        _ = e.remove(key(0))
        #expect(!e.isRefusingWrites)
    }

    @Test("memcached and redis names round-trip; allkeys-lru keeps the sampled LRU when it runs")
    func names() {
        for p in EvictionPolicy.allCases {
            #expect(EvictionPolicy(memcachedName: p.memcachedName) == p)
        }
        #expect(EvictionPolicy(redisName: "ALLKEYS-LFU", current: .segmentedLRU) == .lfu)
        #expect(EvictionPolicy(redisName: "allkeys-lru", current: .lfu) == .segmentedLRU)
        #expect(EvictionPolicy(redisName: "allkeys-lru", current: .lru) == .lru)
        #expect(EvictionPolicy(redisName: "noeviction", current: .lru) == EvictionPolicy.none)
        #expect(EvictionPolicy(redisName: "allkeys-mru", current: .lru) == nil)
    }
}

/// The segmented LRU's fallback (CacheEngine.allocChunk): every item it tries at COLD's tail is
/// referenced (replies not yet written), so memcached's tail pull gives up; a RESP allocation
/// then evicts by sampling the class, a memcached-port one is refused as memcached refuses it.
@Suite("Eviction fallback when every tail item is busy")
struct BusyTailFallbackTests {
    /// One page of 10,000-byte items, spread over HOT and COLD, COLD's 12 oldest referenced.
    static func busyTail() throws -> (Harness, [Item], Int) {
        let h = try Harness { $0.memoryLimit = 1024 * 1024 }
        let e = h.engine
        let value = String(repeating: "x", count: 10_000)
        let perPage = e.slabs.table.perPage[e.classID(keyLength: 8, valueLength: 10_000)]
        for i in 0..<perPage { e.put(key(i), value) }
        e.maintainLRUs()
        var held: [Item] = []
        for i in 0..<12 {
            var outcome = GetOutcome.miss
            let it = e.withKey(key(i)) { e.get($0, hash: $1, outcome: &outcome) }
            held.append(try #require(it))
        }
        return (h, held, perPage)
    }

    func allocate(_ e: CacheEngine, _ k: String, memcached: Bool) -> AllocResult {
        Array(k.utf8).withUnsafeBytes { e.allocate(key: $0, flags: 0, expiry: 0, valueLength: 10_000, memcachedEviction: memcached) }
    }

    @Test("a RESP-port allocation evicts an idle item elsewhere in the class and counts the fallback")
    func respFallsBack() throws {
        let (h, held, perPage) = try Self.busyTail()
        let e = h.engine
        defer { for it in held { e.release(it) } }
        guard case .item(let it) = allocate(e, key(perPage), memcached: false) else {
            Issue.record("the allocation was refused with every tail item busy")
            return
        }
        e.release(it)
        #expect(e.evictionFallbacks.load(ordering: .relaxed) == 1)
        #expect(e.itemStats().evicted == 1)
        #expect(e.itemStats().outOfMemory == 0)
        // The busy items were left alone.
        for i in 0..<12 { #expect(e.outcome(key(i)) == .hit) }
    }

    @Test("a memcached-port allocation is refused, as memcached's do_item_alloc_pull gives up")
    func memcachedRefuses() throws {
        let (h, held, perPage) = try Self.busyTail()
        let e = h.engine
        defer { for it in held { e.release(it) } }
        guard case .outOfMemory = allocate(e, key(perPage), memcached: true) else {
            Issue.record("expected .outOfMemory")
            return
        }
        #expect(e.evictionFallbacks.load(ordering: .relaxed) == 0)
        #expect(e.itemStats().outOfMemory == 1)
    }
}
