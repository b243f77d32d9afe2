// The engine's settings, a value fixed at start-up, and the LRU tuning that memcached's `lru`
// command changes at run time. Defaults and names follow memcached 1.6.
import Synchronization

public struct EngineSettings: Sendable {
    /// -m, in bytes.
    public var memoryLimit = 64 * 1024 * 1024
    /// -I, in bytes.
    public var itemSizeMax = 1024 * 1024
    /// The largest -I accepted (memcached's): no item, and so no queue message, is ever larger.
    public static let largestItemSizeMax = 1024 * 1024 * 1024
    /// -f
    public var growthFactor = 1.25
    /// -n
    public var chunkSizeMin = 48
    /// -o slab_page_size (memcached keeps it at 1 MB).
    public var slabPageSize = 1024 * 1024
    /// -o slab_chunk_max (default: half a page).
    public var slabChunkMax = 512 * 1024
    /// `-o eviction=` (EvictionPolicy.swift); -M is `.none`.
    public var evictionPolicy = EvictionPolicy.segmentedLRU
    /// -M: refuse stores instead of evicting (the policy `.none`; false → true restores the
    /// segmented LRU).
    public var evictToFree: Bool {
        get { evictionPolicy != .none }
        set { evictionPolicy = newValue ? .segmentedLRU : .none }
    }
    /// Redis's maxmemory-samples, lfu-log-factor and lfu-decay-time (minutes) defaults.
    public var evictionSamples = 5
    public var lfuLogFactor = 10
    public var lfuDecayMinutes = 1
    /// -C: no CAS uniques.
    public var useCAS = true
    /// Segmented LRU (HOT/WARM/COLD); `-o no_modern` turns it off.
    public var lruSegmented = true
    public var hotLRUPercent = 20
    public var warmLRUPercent = 40
    public var hotMaxFactor = 0.2
    public var warmMaxFactor = 2.0
    /// `-o temporary_ttl=N` turns the TEMP LRU on for items with a TTL at most N.
    public var tempLRU = false
    public var temporaryTTL = 61
    public var lruMaintainer = true
    public var lruCrawler = true
    /// log2 of the initial hash table size (memcached's hashpower_init default 16).
    public var hashPowerInit = 16
    /// `-o slab_automove=N` (memcached 1.6's default: 1).
    public var slabAutomove = 1
    /// -k: lock slab pages in RAM as they are taken.
    public var lockMemory = false
    /// -L: transparent huge pages for slab memory.
    public var largePages = false
    /// Worker threads: sizes the item lock table as memcached does.
    public var workerThreads = 4
    /// `-o no_slab_reassign`: no page moves, by automove or by `slabs reassign`.
    public var slabReassign = true
    /// `-o no_hashexpand`: the hash table keeps its initial size.
    public var hashExpand = true
    /// `-o slab_sizes=a-b-c`: the chunk sizes of the classes below slab_chunk_max, in place of
    /// the -f progression.
    public var slabSizes: [Int]?
    /// `-o lru_crawler_sleep`: microseconds between batches of 1000 items.
    public var crawlerSleepMicroseconds = 100
    /// `-o track_sizes`: `stats sizes` counts items by size from the start.
    public var trackSizes = false
    /// `-o lru_crawler_tocrawl`: items a pass checks per list at most (0 = all).
    public var crawlerToCrawl = 0

    public init() {}
}

/// What `lru tune|mode|temp_ttl` changes while the server runs: read on the request path with
/// relaxed loads (a change takes effect within a request or two, as in memcached).
public final class LRUTuning: Sendable {
    private let segmented: Atomic<Bool>
    private let tempLRU: Atomic<Bool>
    private let temporaryTTLSeconds: Atomic<Int>
    private let hotPercent: Atomic<Int>
    private let warmPercent: Atomic<Int>
    private let hotFactorBits: Atomic<UInt64>
    private let warmFactorBits: Atomic<UInt64>
    private let policyRaw: Atomic<UInt8>
    private let samplesCount: Atomic<Int>
    private let logFactor: Atomic<Int>
    private let decayMinutes: Atomic<Int>

    /// The largest hot/warm age factor `lru tune` and `-o hot_max_factor|warm_max_factor` take.
    /// Ages are 32-bit seconds: past this factor every age limit is the same (the largest), and
    /// `stats settings` prints the factor exactly.
    public static let maxAgeFactor = Double(UInt32.max)

    /// Whether `f` can be a hot/warm age factor: a number above 0, at most `maxAgeFactor`
    /// (NaN compares false with everything, so it fails too).
    public static func isValidAgeFactor(_ f: Double) -> Bool {
        f > 0 && f <= maxAgeFactor
    }

    public init(_ s: EngineSettings) {
        segmented = Atomic(s.lruSegmented)
        tempLRU = Atomic(s.tempLRU)
        temporaryTTLSeconds = Atomic(s.temporaryTTL)
        hotPercent = Atomic(s.hotLRUPercent)
        warmPercent = Atomic(s.warmLRUPercent)
        hotFactorBits = Atomic(s.hotMaxFactor.bitPattern)
        warmFactorBits = Atomic(s.warmMaxFactor.bitPattern)
        policyRaw = Atomic(s.evictionPolicy.rawValue)
        samplesCount = Atomic(s.evictionSamples)
        logFactor = Atomic(s.lfuLogFactor)
        decayMinutes = Atomic(s.lfuDecayMinutes)
    }

    /// Whether a full cache evicts to make room (-M or `-o eviction=none` turn it off at start;
    /// the Redis port's CONFIG SET maxmemory-policy noeviction at run time).
    @inline(__always) public var evictsToFree: Bool { policy != .none }

    /// The eviction policy (`-o eviction=`, CONFIG SET maxmemory-policy).
    @inline(__always) public var policy: EvictionPolicy {
        EvictionPolicy(rawValue: policyRaw.load(ordering: .relaxed)) ?? .segmentedLRU
    }

    public func setPolicy(_ p: EvictionPolicy) { policyRaw.store(p.rawValue, ordering: .relaxed) }

    /// maxmemory-samples: candidates a sampling policy compares per eviction (at least 1).
    @inline(__always) public var samples: Int { samplesCount.load(ordering: .relaxed) }
    public func setSamples(_ n: Int) { samplesCount.store(max(1, n), ordering: .relaxed) }
    /// lfu-log-factor.
    @inline(__always) public var lfuLogFactor: Int { logFactor.load(ordering: .relaxed) }
    public func setLFULogFactor(_ n: Int) { logFactor.store(max(0, n), ordering: .relaxed) }
    /// lfu-decay-time, in minutes (0: counters never decay).
    @inline(__always) public var lfuDecayMinutes: Int { decayMinutes.load(ordering: .relaxed) }
    public func setLFUDecayMinutes(_ n: Int) { decayMinutes.store(max(0, n), ordering: .relaxed) }

    @inline(__always) public var isSegmented: Bool { segmented.load(ordering: .relaxed) }
    @inline(__always) public var isTempLRU: Bool { tempLRU.load(ordering: .relaxed) }
    @inline(__always) public var temporaryTTL: Int { temporaryTTLSeconds.load(ordering: .relaxed) }
    public var hotLRUPercent: Int { hotPercent.load(ordering: .relaxed) }
    public var warmLRUPercent: Int { warmPercent.load(ordering: .relaxed) }
    public var hotMaxFactor: Double { Double(bitPattern: hotFactorBits.load(ordering: .relaxed)) }
    public var warmMaxFactor: Double { Double(bitPattern: warmFactorBits.load(ordering: .relaxed)) }

    /// `lru mode flat|segmented`.
    public func setSegmented(_ on: Bool) { segmented.store(on, ordering: .relaxed) }

    /// `lru temp_ttl N`: N < 0 turns the TEMP LRU off.
    public func setTemporaryTTL(_ ttl: Int) {
        if ttl < 0 {
            tempLRU.store(false, ordering: .relaxed)
        } else {
            temporaryTTLSeconds.store(ttl, ordering: .relaxed)
            tempLRU.store(true, ordering: .relaxed)
        }
    }

    /// `lru tune <hot pct> <warm pct> <hot max factor> <warm max factor>`.
    public func tune(hotPercent hot: Int, warmPercent warm: Int, hotMaxFactor hf: Double, warmMaxFactor wf: Double) {
        hotPercent.store(hot, ordering: .relaxed)
        warmPercent.store(warm, ordering: .relaxed)
        hotFactorBits.store(hf.bitPattern, ordering: .relaxed)
        warmFactorBits.store(wf.bitPattern, ordering: .relaxed)
    }
}
