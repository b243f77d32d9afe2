// Which item a full slab class gives up (issue 14): memcached's segmented LRU (the default: COLD's
// tail, LRU.swift), none (-M, Redis's noeviction: the store fails), or one of Redis's sampling
// policies (CacheEngine+Eviction.swift): sampled LRU, LFU, random, each over every key or only
// keys with an expiry (volatile-*), and volatile-ttl. The memcached port names them in
// `-o eviction=`, the Redis port in `maxmemory-policy`; one engine-wide setting serves both.
//
// LFU is redis 7.0's (evict.c): an 8-bit logarithmic counter, new keys start at 5
// (LFU_INIT_VAL), an access increments it with probability 1 / ((counter - 5) * lfu-log-factor + 1),
// and every lfu-decay-time minutes without an access take one off. The counter lives in the top
// byte of the item's access word (Item.swift), its decay time is the access time in the low 24 bits.

/// An eviction policy.
public enum EvictionPolicy: UInt8, Sendable, CaseIterable {
    /// memcached's segmented LRU: evict COLD's tail (Redis: allkeys-lru).
    case segmentedLRU = 0
    /// Never evict: a store that finds no memory fails (-M, noeviction).
    case none
    /// Redis's approximated LRU: the longest idle of a sample (allkeys-lru, `-o eviction=lru`).
    case lru
    case lfu, random
    case volatileLRU, volatileLFU, volatileRandom, volatileTTL

    /// `-o eviction=` names, in this order of cases.
    static let memcachedNames = ["segmented", "none", "lru", "lfu", "random",
                                 "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"]
    static let redisNames = ["allkeys-lru", "noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
                             "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"]

    /// The name `-o eviction=` takes and `stats settings` shows.
    public var memcachedName: String { Self.memcachedNames[Int(rawValue)] }
    /// The name `maxmemory-policy` reports (both LRUs are allkeys-lru).
    public var redisName: String { Self.redisNames[Int(rawValue)] }

    public init?(memcachedName: String) {
        guard let i = Self.memcachedNames.firstIndex(of: memcachedName) else { return nil }
        self.init(rawValue: UInt8(i))
    }

    /// A `maxmemory-policy` value (any case). allkeys-lru is the segmented LRU unless the sampled
    /// LRU is `current` (so CONFIG SET of the reported value changes nothing).
    public init?(redisName: String, current: EvictionPolicy) {
        let name = redisName.lowercased()
        if name == "allkeys-lru" {
            self = current == .lru ? .lru : .segmentedLRU
            return
        }
        guard let i = Self.redisNames.firstIndex(of: name) else { return nil }
        self.init(rawValue: UInt8(i))
    }

    /// Evicts by sampling (CacheEngine+Eviction.swift) rather than from COLD's tail.
    @inline(__always) public var samples: Bool { rawValue >= EvictionPolicy.lru.rawValue }
    /// Evicts only items with an expiry.
    @inline(__always) public var isVolatile: Bool { rawValue >= EvictionPolicy.volatileLRU.rawValue }
    /// Keeps the LFU counter up to date at every access (OBJECT FREQ answers).
    @inline(__always) public var usesLFU: Bool { self == .lfu || self == .volatileLFU }
    /// Records every access's time (the sampled LRUs compare idle times).
    @inline(__always) var usesIdleTime: Bool { self == .lru || self == .volatileLRU }
}

/// redis's LFU counter arithmetic, on the counter and times in minutes.
public enum LFU {
    /// A new key's counter (redis's LFU_INIT_VAL).
    public static let initialCounter: UInt8 = 5

    /// redis's LFULogIncr: `random` is uniform over 0..<2^32.
    @inline(__always)
    public static func increment(_ counter: UInt8, logFactor: Int, random: UInt32) -> UInt8 {
        if counter == 255 { return 255 }
        let base = max(0, Int(counter) - Int(initialCounter))
        let p = 1.0 / (Double(base) * Double(logFactor) + 1)
        return Double(random) / 4_294_967_296.0 < p ? counter + 1 : counter
    }

    /// redis's LFUDecrAndReturn: one off per `decayMinutes` elapsed (0: no decay).
    @inline(__always)
    public static func decayed(_ counter: UInt8, elapsedMinutes: UInt32, decayMinutes: Int) -> UInt8 {
        guard decayMinutes > 0 else { return counter }
        let periods = Int(elapsedMinutes) / decayMinutes
        return periods >= Int(counter) ? 0 : counter - UInt8(periods)
    }

    /// Whole minutes between two process times as redis's minute clock counts them (a minute
    /// boundary crossed counts, as LFUTimeElapsed on LFUGetTimeInMinutes does).
    @inline(__always)
    public static func elapsedMinutes(from then: UInt32, to now: UInt32) -> UInt32 {
        then > now ? 0 : now / 60 - then / 60
    }
}
