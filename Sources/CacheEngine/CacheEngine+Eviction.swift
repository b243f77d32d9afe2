// Eviction by sampling (EvictionPolicy.swift: Redis's allkeys-/volatile- lru, lfu, random and
// volatile-ttl). Redis samples maxmemory-samples keys of the whole keyspace into a pool of 16 and
// evicts until used memory is under maxmemory; here memory is per slab class, so an allocation
// that finds its class full samples keys of that class: random buckets of the hash table (redis's
// dictGetSomeKeys), keeping the items listed in the class's LRU (and, volatile-*, with an expiry),
// until it has `samples` candidates or has looked at 16 buckets a sample. The best candidate by the
// policy's score is evicted (redis's pool is not kept between allocations: each one samples anew).
//
// Locks: a bucket is read under its item lock stripe, taken with tryLock only, as the COLD-tail
// eviction takes its victims (the allocating thread may hold another item lock; the order is
// item → LRU → slab and this never waits for an item lock). The best candidate's stripe stays
// held while later buckets are sampled (at most two stripes at once, both tried), so the victim
// cannot change between being chosen and being evicted. The LRU lock of the victim's list is taken
// (after its item lock, the usual order) to count the eviction and unlink it.
import SlabAllocator
import Synchronization

extension CacheEngine {
    /// splitmix64 over an atomic counter: one relaxed add a draw, no lock, no global state.
    @inline(__always)
    func nextRandom() -> UInt64 {
        var z = randomState.wrappingAdd(0x9E37_79B9_7F4A_7C15, ordering: .relaxed).newValue
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The counter an access leaves (redis's updateLFU: decay since the last access, then the
    /// logarithmic increment). Item lock held.
    @inline(__always)
    func lfuAccessed(_ it: Item, now: UInt32) -> UInt8 {
        let counter = LFU.decayed(it.lfuCounter, elapsedMinutes: LFU.elapsedMinutes(from: it.lastAccess(now: now), to: now),
                                  decayMinutes: tuning.lfuDecayMinutes)
        if counter == 255 { return 255 }
        return LFU.increment(counter, logFactor: tuning.lfuLogFactor, random: UInt32(truncatingIfNeeded: nextRandom()))
    }

    /// The LFU counter decayed to now, unchanged in the item (OBJECT FREQ). Item lock held.
    @inline(__always)
    func lfuFrequency(_ it: Item, now: UInt32) -> UInt8 {
        LFU.decayed(it.lfuCounter, elapsedMinutes: LFU.elapsedMinutes(from: it.lastAccess(now: now), to: now),
                    decayMinutes: tuning.lfuDecayMinutes)
    }

    /// A header copy at the engine's now. Item lock held.
    func itemInfo(_ it: Item) -> ItemInfo {
        ItemInfo(it, now: clock.current, lfuDecayMinutes: tuning.lfuDecayMinutes)
    }

    /// True while the cache is full and its policy evicts nothing more (noeviction, or volatile-*
    /// with no key with an expiry in the class that needed memory): redis's
    /// `performEvictions() == EVICT_FAIL`, which refuses `denyoom` commands.
    /// A policy that evicts any key never refuses (the flag may be left from before a CONFIG SET
    /// maxmemory-policy).
    public var isRefusingWrites: Bool {
        guard memoryRefusing.load(ordering: .relaxed) else { return false }
        let p = tuning.policy
        return p == .none || p.isVolatile
    }

    /// Whether any list of the class holds an item with an expiry.
    func classHasExpiring(_ classID: Int) -> Bool {
        for seg in LRUSegment.allCases {
            let id = classID | (seg.rawValue << 6)
            lruLock(id)
            let n = lrus[id].expiring
            lruUnlock(id)
            if n > 0 { return true }
        }
        return false
    }

    /// How good a victim `it` is under `policy` (higher is better; redis's `idle` of evict.c).
    /// Item lock held.
    @inline(__always)
    func evictionScore(_ it: Item, policy: EvictionPolicy, now: UInt32) -> UInt64 {
        switch policy {
        // Equal counters (new keys start at 5, as never-read old ones stay) go by idle time,
        // older first: redis leaves such ties to the sample's order.
        case .lfu, .volatileLFU: return (255 - UInt64(lfuFrequency(it, now: now))) << 32 | UInt64(it.idle(now: now))
        case .volatileTTL: return UInt64(UInt32.max - it.expiry)
        case .random, .volatileRandom: return nextRandom()
        default: return UInt64(it.idle(now: now))
        }
    }

    /// What one sampled eviction did.
    enum SampledEviction {
        /// An item was evicted (or an expired one reclaimed).
        case evicted
        /// Nothing this time: no candidate sampled, or the chosen one was referenced.
        case busy
        /// volatile-*: the class holds no item with an expiry.
        case nothingEvictable
    }

    /// One eviction (or reclaim of an expired item) from `lruClass` by `policy`'s sampling.
    func evictSampled(lruClass: Int, policy: EvictionPolicy) -> SampledEviction {
        if policy.isVolatile && !classHasExpiring(lruClass) { return .nothingEvictable }
        let now = clock.current
        // At most 64 candidates (1,024 buckets) an eviction, whatever maxmemory-samples says: an
        // allocation never stalls on a huge setting.
        let wanted = min(max(1, tuning.samples), 64)
        let mask = itemLocks.mask
        var best: Item? = nil
        var bestScore: UInt64 = 0
        var heldStripe: UInt32 = 0
        var holding = false
        var found = 0

        /// Looks at `it`, whose stripe `stripe` the caller holds; true when it is the new best
        /// (the caller then keeps that stripe and the previous best's is given up).
        func consider(_ it: Item) -> Bool {
            // A referenced item (a reply not yet written holds it) frees nothing if unlinked: it is
            // no candidate, so one busy item never stops a sample.
            guard it.slabClass == lruClass, it.flags & ItemFlag.linked != 0, it.flags & ItemFlag.crawler == 0,
                  it.refcount.pointee.load(ordering: .relaxed) == 1,
                  !policy.isVolatile || it.expiry != 0 else { return false }
            found += 1
            let score = evictionScore(it, policy: policy, now: now)
            guard best == nil || score > bestScore else { return false }
            best = it
            bestScore = score
            return true
        }
        /// After looking at items under stripe `s` (held unless `shared`): keep it or let it go.
        func settle(_ s: UInt32, improved: Bool, shared: Bool) {
            if improved && !shared {
                if holding { itemLocks.unlock(heldStripe) }
                heldStripe = s
                holding = true
            } else if !shared {
                itemLocks.unlock(s)
            }
        }

        // Random buckets of the hash table.
        var probes = 0
        while found < wanted && probes < wanted * 16 {
            probes += 1
            let r = UInt32(truncatingIfNeeded: nextRandom())
            let shared = holding && Int(r) & mask == Int(heldStripe) & mask
            if !shared && !itemLocks.tryLock(r) { continue }
            // Every item in bucket(r) has r's stripe (ItemLocks: stripe bits ≤ the table's power).
            var h = bucket(r).pointee
            var improved = false
            while h != 0 && found < wanted {
                let it = Item(arena.pointer(h))
                h = it.hashNext
                if consider(it) { improved = true }
            }
            settle(r, improved: improved, shared: shared)
        }
        // A class with few items in a large table (or few volatile ones) may give the buckets
        // nothing: then its lists, from their tails, up to 1,024 items each.
        if best == nil {
            for seg in [LRUSegment.cold, .warm, .hot, .temp] where best == nil {
                let id = lruClass | (seg.rawValue << 6)
                lruLock(id)
                var h = lrus[id].tail
                var steps = 0
                while h != 0 && steps < 1024 && found < wanted {
                    steps += 1
                    let it = Item(arena.pointer(h))
                    h = it.prev
                    if it.flags & ItemFlag.crawler != 0 { continue }
                    let hv = murmur3(it.key)
                    let shared = holding && Int(hv) & mask == Int(heldStripe) & mask
                    if !shared && !itemLocks.tryLock(hv) { continue }
                    settle(hv, improved: consider(it), shared: shared)
                }
                lruUnlock(id)
            }
        }
        guard let victim = best else { return .busy }
        defer { itemLocks.unlock(heldStripe) }
        if refIncrement(victim) != 2 {
            // Someone holds a reference: unlinking frees nothing now.
            refDecrement(victim)
            return .busy
        }
        let hv = murmur3(victim.key)
        let id = victim.lruID
        lruLock(id)
        let evicted = !((victim.expiry != 0 && victim.expiry <= now) || isFlushed(victim, now: now))
        if evicted {
            lockedCountEviction(victim, list: lrus + id, classID: lruClass, now: now)
        } else {
            lrus[id].stats.reclaimed += 1
            if victim.flags & ItemFlag.fetched == 0 { lrus[id].stats.expiredUnfetched += 1 }
        }
        lockedUnlinkHoldingLRU(victim, hv)
        lruUnlock(id)
        if evicted { reportRemoval(victim, .evicted) } else if !isFlushed(victim, now: now) { reportRemoval(victim, .expired) }
        refDecrement(victim)
        return .evicted
    }
}
