// The engine's settings, a value fixed at start-up. Defaults and names follow memcached 1.6.

public struct EngineSettings: Sendable {
    /// -m, in bytes.
    public var memoryLimit = 64 * 1024 * 1024
    /// -I, in bytes.
    public var itemSizeMax = 1024 * 1024
    /// -f
    public var growthFactor = 1.25
    /// -n
    public var chunkSizeMin = 48
    /// -o slab_page_size (memcached keeps it at 1 MB).
    public var slabPageSize = 1024 * 1024
    /// -o slab_chunk_max (default: half a page).
    public var slabChunkMax = 512 * 1024
    /// -M: refuse stores instead of evicting.
    public var evictToFree = true
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
    /// -k: lock slab pages in RAM as they are taken.
    public var lockMemory = false
    /// -L: transparent huge pages for slab memory.
    public var largePages = false
    /// Worker threads: sizes the item lock table as memcached does.
    public var workerThreads = 4

    public init() {}
}
