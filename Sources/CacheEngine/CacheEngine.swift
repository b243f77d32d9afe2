// The cache engine: items in slab memory, found through the hash table, ordered by the segmented
// LRU, all under memcached's locking scheme (DESIGN.md §5): striped item locks by key hash, one
// lock per LRU list, the slab lock; order item → LRU → slab. Functions named `locked…` expect the
// item lock of the key to be held; the public operations take it.
//
// References: a linked item holds one reference for the hash table; every reader that hands an
// item to a connection holds another until the reply bytes are written, so a delete or replace
// during a send only unlinks — the memory is freed when the last reference goes.
import Platform
import SlabAllocator
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The outcome of allocating a new item.
public enum AllocResult {
    case item(Item)
    case tooLarge
    case outOfMemory
}

public final class CacheEngine: @unchecked Sendable {
    // Safe to share: every field is a `let`; the memory they point to is guarded by the item locks
    // (hash table, item headers), the LRU locks (lists and their stats), the slab lock (inside
    // the allocator) or is atomic (clock, CAS counter, flush marks, refcounts).
    public let settings: EngineSettings
    /// The part of the settings `lru tune|mode|temp_ttl` changes at run time.
    public let tuning: LRUTuning
    let slabs: SlabAllocator
    let arena: SlabArena
    public let clock: ProcessClock
    let itemLocks: ItemLocks
    let hashTable: UnsafeMutablePointer<HashTableState>
    let expandBucket: UnsafeMutablePointer<Atomic<Int>>
    let lrus: UnsafeMutablePointer<LRUList>
    let lruLocks: UnsafeMutablePointer<pthread_mutex_t>
    let casCounter: UnsafeMutablePointer<Atomic<UInt64>>
    /// memcached's settings.oldest_live / oldest_cas: items last stored at or before this time
    /// (or with a lower CAS) are flushed.
    let oldestLive: UnsafeMutablePointer<Atomic<UInt32>>
    let oldestCAS: UnsafeMutablePointer<Atomic<UInt64>>
    /// The flush mark (oldestLive) the crawler last swept the lists for.
    let crawledFlush: UnsafeMutablePointer<Atomic<UInt32>>
    /// `lru_crawler enable|disable|crawl`: the crawler thread waits on this between passes.
    public let crawler = CrawlerControl()
    /// Passes of the LRU maintainer (memcached's lru_maintainer_juggles).
    let maintainerJuggles = Atomic<Int>(0)
    /// Per-class hits, sets, deletes, … (`stats slabs`, `stats items`).
    public let classCommands = ClassCommandCounts()
    /// `stats sizes` (`-o track_sizes`).
    public let sizes: ItemSizeHistogram
    /// `slabs reassign` and automove (set at the end of init: it refers back to the engine).
    private(set) var rebalancer: SlabRebalancer!
    static let lruCount = 256

    /// `watch evictions` lines go here.
    public let watch: WatchLog?
    /// Nodes of deleted long lists, freed in the background (CacheEngine+ListFree.swift).
    public let listFrees = ListFreeQueue()

    /// Redis's databases: logical → physical (SWAPDB), one nibble per logical database
    /// (CacheEngine+Databases.swift). Every lookup applies it; item headers hold physical ones.
    let databaseMap = Atomic<UInt64>(CacheEngine.identityDatabaseMap)
    /// Linked keys, expiring keys and their expiry sum per physical database (DBSIZE, INFO
    /// keyspace), kept at link, unlink and expiry change.
    let databaseCounts = DatabaseCounts()
    /// Expired items a lookup found and unlinked (Redis's lazy expiry; INFO's expired_keys adds
    /// it to the background reclaims).
    let expiredOnLookup = Atomic<Int>(0)
    /// Allocations the LRU policies could serve only by the sampling fallback (`allocChunk`: every
    /// item tried at the tails was busy). INFO's `resp_lru_tail_busy_fallbacks`.
    public let evictionFallbacks = Atomic<Int>(0)
    /// redis's hash/set/zset encoding thresholds, as CONFIG SET leaves them (EncodingLimits.swift).
    public let encodingLimits = EncodingLimits()
    /// splitmix64's state for the sampling policies and LFU's increments (CacheEngine+Eviction.swift).
    let randomState = Atomic<UInt64>(UInt64.random(in: 0...UInt64.max))
    /// Set when an allocation found no memory and could evict nothing (noeviction, volatile-*
    /// without a volatile key); cleared when any item's memory goes back. Redis's port refuses
    /// its `denyoom` commands up front while it is set, as redis does while used memory is over
    /// maxmemory and nothing can be evicted.
    let memoryRefusing = Atomic<Bool>(false)
    /// Hashtable entries that fitted a keyless class but got the 44-byte header in memcached's
    /// classes because the keyless class had no chunk and could take no page (KeylessLayout.swift).
    let keylessFallbacks = Atomic<Int>(0)
    /// Hashtable indexes (hashes, sets, sorted sets) that began shrinking after deletes.
    let indexShrinks = Atomic<Int>(0)
    /// Told of every eviction, by any policy and whichever port's allocation made it, and of every
    /// expired key taken away, by a lookup of either port or in the background (the Redis port's
    /// keyspace events `evicted` and `expired`; CacheEngine+KeyRemoval.swift).
    let removalHook = LockedValue<KeyRemovalObserver?>(nil)
    /// The owner of `.stream` roots' tokens (CacheEngine+ExternalValues.swift).
    let externalValueHooks = LockedValue<ExternalValueHooks?>(nil)

    /// memcached's item lock table power for `threads` workers: the initial hash power must be
    /// above it (memcached refuses to start otherwise).
    public static func itemLockPower(threads: Int) -> Int { ItemLocks.power(threads: threads) }

    /// The slab class table these settings make.
    static func classTable(_ settings: EngineSettings) -> SlabClassTable {
        SlabClassTable(
            factor: settings.growthFactor, minimumSpace: settings.chunkSizeMin,
            pageSize: settings.slabPageSize, chunkMax: settings.slabChunkMax, sizes: settings.slabSizes)
    }

    /// - Parameter memoryFile: an open memory file (`-e`, `MemoryFile.open`) to map as the
    ///   arena; the mapping keeps it, so the caller may close the descriptor afterwards.
    public init?(settings: EngineSettings, clock: ProcessClock = ProcessClock(), watch: WatchLog? = nil, memoryFile: Int32? = nil) {
        let table = Self.classTable(settings)
        guard let slabs = SlabAllocator(table: table, memoryLimit: settings.memoryLimit,
                                        lockPages: settings.lockMemory, largePages: settings.largePages,
                                        memoryFile: memoryFile) else { return nil }
        self.settings = settings
        self.watch = watch
        sizes = ItemSizeHistogram(itemSizeMax: settings.itemSizeMax, enabled: settings.trackSizes, withCAS: settings.useCAS)
        crawler.setSleep(microseconds: settings.crawlerSleepMicroseconds)
        crawler.toCrawl.store(settings.crawlerToCrawl, ordering: .relaxed)
        self.tuning = LRUTuning(settings)
        self.slabs = slabs
        self.arena = slabs.arena
        self.clock = clock
        let lockPower = min(ItemLocks.power(threads: settings.workerThreads), settings.hashPowerInit)
        itemLocks = ItemLocks(power: lockPower)
        let size = 1 << settings.hashPowerInit
        let primary = UnsafeMutablePointer<SlabHandle>.allocate(capacity: size)
        primary.initialize(repeating: 0, count: size)
        hashTable = .allocate(capacity: 1)
        hashTable.initialize(to: HashTableState(primary: primary, old: nil, power: settings.hashPowerInit, expanding: false))
        expandBucket = .allocate(capacity: 1)
        expandBucket.initialize(to: Atomic(0))
        lrus = .allocate(capacity: Self.lruCount)
        lrus.initialize(repeating: LRUList(), count: Self.lruCount)
        lruLocks = .allocate(capacity: Self.lruCount)
        for i in 0..<Self.lruCount { pthread_mutex_init(lruLocks + i, nil) }
        casCounter = .allocate(capacity: 1)
        casCounter.initialize(to: Atomic(0))
        oldestLive = .allocate(capacity: 1)
        oldestLive.initialize(to: Atomic(0))
        oldestCAS = .allocate(capacity: 1)
        oldestCAS.initialize(to: Atomic(0))
        crawledFlush = .allocate(capacity: 1)
        crawledFlush.initialize(to: Atomic(0))
        rebalancer = SlabRebalancer(engine: self, automove: settings.slabAutomove)
    }

    deinit {
        hashTable.pointee.primary.deallocate()
        hashTable.pointee.old?.deallocate()
        hashTable.deallocate()
        expandBucket.deallocate()
        lrus.deallocate()
        for i in 0..<Self.lruCount { pthread_mutex_destroy(lruLocks + i) }
        lruLocks.deallocate()
        casCounter.deallocate()
        oldestLive.deallocate()
        oldestCAS.deallocate()
        crawledFlush.deallocate()
    }

    // MARK: references

    @inline(__always) @discardableResult
    func refIncrement(_ it: Item) -> UInt16 {
        it.refcount.pointee.wrappingAdd(1, ordering: .relaxed).newValue
    }

    /// Drops one reference; the last one returns the memory to the slabs.
    @inline(__always)
    func refDecrement(_ it: Item) {
        if it.refcount.pointee.wrappingSubtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
            freeItem(it)
        }
    }

    /// Releases a reference returned by `get`, `touch` or `allocate`.
    @inline(__always)
    public func release(_ it: Item) { refDecrement(it) }

    /// Takes one more reference (the broker shares one body between queues and readers).
    @inline(__always)
    public func retain(_ it: Item) { refIncrement(it) }

    private func freeItem(_ it: Item) {
        if memoryRefusing.load(ordering: .relaxed) { memoryRefusing.store(false, ordering: .relaxed) }
        // A list's nodes and a hash's fields go with their root (now, or by the lazy freer when long).
        if it.keyLength > 0 {
            if it.type == .list { releaseListNodes(it) } else if it.type == .hash || it.type == .set || it.type == .zset { releaseHashNodes(it) }
            else if it.type == .stream { releaseExternalValue(it) }
        }
        if it.isChunked {
            let n = chunkCount(it)
            let table = chunkTable(it)
            for i in 0..<n { slabs.free(table[i], classID: chunkClass(it, i, count: n)) }
            slabs.free(arena.handle(it.raw), classID: chunkedHeaderClass(keyLength: it.keyLength, chunks: n))
            return
        }
        slabs.free(arena.handle(it.raw), classID: it.slabClass)
    }

    /// The slab class of chunk `i` of a chunked item.
    @inline(__always)
    func chunkClass(_ it: Item, _ i: Int, count n: Int) -> Int {
        let largest = slabs.table.largest
        if i < n - 1 || it.flags & ItemFlag.lastChunkFull != 0 { return largest }
        return slabs.table.classID(forSize: it.valueLength - slabs.table.chunkMax * (n - 1))
    }

    @inline(__always)
    func chunkedHeaderClass(keyLength: Int, chunks n: Int) -> Int {
        slabs.table.classID(forSize: chunkTableOffset(keyLength: keyLength) + 4 * n)
    }

    @inline(__always)
    func nextCAS() -> UInt64 {
        settings.useCAS ? casCounter.pointee.wrappingAdd(1, ordering: .relaxed).newValue : 0
    }

    @inline(__always)
    func isFlushed(_ it: Item, now: UInt32) -> Bool {
        let live = oldestLive.pointee.load(ordering: .relaxed)
        if live == 0 || live > now { return false }
        // Last accessed at or before the mark (ages modulo 2^24 s, Item.swift).
        if it.idle(now: now) >= now &- live { return true }
        let ocas = oldestCAS.pointee.load(ordering: .relaxed)
        return ocas != 0 && it.cas != 0 && it.cas < ocas
    }

    // MARK: allocation

    /// The -I an item of this key length, value length and flags needs: memcached's size of it
    /// (`ItemLayout.memcachedSize`), so that what is refused as too large is what memcached
    /// refuses.
    @inline(__always)
    public func itemSizeNeeded(keyLength: Int, valueLength: Int, flags: UInt32) -> Int {
        ItemLayout.memcachedSize(keyLength: keyLength, valueLength: valueLength, flags: flags, cas: settings.useCAS)
    }

    /// A new, unlinked item holding one reference for the caller, with key, flags and expiry set
    /// and room for `valueLength` bytes of value (filled by the caller through `valueSegments`).
    /// `expiry` is process time (see `ProcessClock.expiry(fromClient:)`).
    /// `database` and `type`: a Redis key's (the memcached port stores database 0's strings);
    /// `database` is logical: the header gets the physical database it maps to now.
    /// `memcachedEviction`: the memcached port's store, which gives up (out of memory) when every
    /// item the segmented LRU tries at a tail is busy, as memcached's do_item_alloc_pull; other
    /// allocations then fall back to evicting by sampling (`allocChunk`), as redis would evict.
    public func allocate(key: UnsafeRawBufferPointer, flags: UInt32, expiry: UInt32, valueLength: Int,
                         database: Int = 0, type: ItemType = .string, memcachedEviction: Bool = false) -> AllocResult {
        let total = ItemLayout.totalSize(keyLength: key.count, valueLength: valueLength)
        if itemSizeNeeded(keyLength: key.count, valueLength: valueLength, flags: flags) > settings.itemSizeMax
            || key.count > ItemLayout.maxKeyLength {
            return .tooLarge
        }
        let chunkMax = slabs.table.chunkMax
        var it: Item
        if total <= chunkMax {
            let cls = slabs.table.classID(forSize: total)
            guard let h = allocChunk(classID: cls, evictFrom: cls, tailOnly: memcachedEviction) else { return .outOfMemory }
            it = Item(arena.pointer(h))
            it.flags = 0
            it.classAndSegment = UInt8(cls)
        } else {
            // memcached's chunked item: a header with a table of chunk handles, listed in the
            // largest class's LRU; full chunks from the largest class, the last from the class
            // that fits it (or a full chunk when that class has no memory).
            let n = (valueLength + chunkMax - 1) / chunkMax
            let largest = slabs.table.largest
            let headClass = chunkedHeaderClass(keyLength: key.count, chunks: n)
            guard let h = allocChunk(classID: headClass, evictFrom: largest, tailOnly: memcachedEviction) else { return .outOfMemory }
            it = Item(arena.pointer(h))
            it.keyLength = key.count
            it.flags = ItemFlag.chunked
            it.valueLength = valueLength
            let table = chunkTable(it)
            for i in 0..<n {
                var c: SlabHandle? = nil
                if i == n - 1 {
                    let lastClass = chunkClass(it, i, count: n)
                    c = lastClass == largest ? nil : allocChunk(classID: lastClass, evictFrom: lastClass, raw: true, tailOnly: memcachedEviction)
                    if c == nil { it.flags |= ItemFlag.lastChunkFull }
                }
                if c == nil { c = allocChunk(classID: largest, evictFrom: largest, raw: true, tailOnly: memcachedEviction) }
                guard let chunk = c else {
                    for j in 0..<i { slabs.free(table[j], classID: chunkClass(it, j, count: n)) }
                    slabs.free(h, classID: headClass)
                    return .outOfMemory
                }
                table[i] = chunk
            }
            it.classAndSegment = UInt8(largest)
        }
        let now = clock.current
        it.next = 0
        it.prev = 0
        it.hashNext = 0
        it.cas = 0
        it.accessWord = UInt32(LFU.initialCounter) << 24 | (now & 0xFF_FFFF)
        it.expiry = expiry
        it.valueLength = valueLength
        it.clientFlags = flags
        it.refcount.pointee.store(1, ordering: .relaxed)
        it.keyLength = key.count
        it.keyspace = type.rawValue | UInt8(physicalDatabase(database)) << 4
        it.expiryMs = 0
        memcpy(it.raw + ItemLayout.headerSize, key.baseAddress!, key.count)
        let segment: LRUSegment
        if tuning.isTempLRU && expiry != 0 && expiry &- now <= UInt32(clamping: tuning.temporaryTTL) {
            segment = .temp
        } else {
            segment = tuning.isSegmented ? .hot : .cold
        }
        it.classAndSegment = UInt8(it.slabClass | (segment.rawValue << 6))
        return .item(it)
    }

    /// A chunk of `classID`, evicting from the COLD tail of `lruClass` when memory is full
    /// (memcached's do_item_alloc_pull). When the LRU policies (segmented or flat) find every
    /// item they try at the tails busy ten times, an allocation that is not `tailOnly` (the
    /// memcached port's store) falls back to sampled LRU eviction over the whole class, which
    /// skips referenced items (`evictionFallbacks`): redis evicts rather than refuse a write
    /// while anything is evictable.
    func allocChunk(classID: Int, evictFrom lruClass: Int, raw: Bool = false, tailOnly: Bool = false) -> SlabHandle? {
        var nothingEvictable = false
        for attempt in 0..<10 {
            // The flat LRU (no maintainer) reclaims expired and flushed items from the COLD tail
            // before every allocation, as memcached's do_item_alloc_pull does: nothing else
            // would until a lookup or the crawler finds them.
            if !tuning.isSegmented {
                pullTail(classID: lruClass, segment: .cold, totalBytes: 0, flags: [])
            }
            let h = slabs.allocate(classID: classID, raw: raw)
            if h != 0 {
                // Every failed try before this one pulled a tail itself (memcached's direct_reclaims).
                if attempt > 0 { countDirectReclaims(attempt, lruClass) }
                return h
            }
            // Nodes of deleted lists waiting for the lazy freer are memory this allocation may
            // take back first (a bounded step), before evicting anything.
            if listFreeStep(maxNodes: Self.listInlineFreeNodes) > 0 { continue }
            let policy = tuning.policy
            if policy.samples {
                switch evictSampled(lruClass: lruClass, policy: policy) {
                case .evicted: continue
                case .nothingEvictable:
                    // volatile-* and no key with an expiry: redis's EVICT_FAIL.
                    nothingEvictable = true
                case .busy:
                    // Sampled nothing usable this time (the victim referenced by a reply not yet
                    // written, its lock busy, or no candidate found): the allkeys policies also
                    // try COLD's tail; then sample again, within the 10 tries.
                    if !policy.isVolatile { pullTail(classID: lruClass, segment: .cold, totalBytes: 0, flags: .evict) }
                    continue
                }
                break
            }
            if pullTail(classID: lruClass, segment: .cold, totalBytes: 0, flags: .evict) <= 0 {
                if tuning.isSegmented {
                    pullTail(classID: lruClass, segment: .hot, totalBytes: 0, flags: [])
                } else {
                    break
                }
            }
        }
        if !tailOnly && tuning.policy == .segmentedLRU && tuning.evictsToFree {
            for _ in 0..<10 {
                guard evictSampled(lruClass: lruClass, policy: .lru) == .evicted else { continue }
                let h = slabs.allocate(classID: classID, raw: raw)
                if h != 0 {
                    evictionFallbacks.add(1, ordering: .relaxed)
                    return h
                }
            }
        }
        let id = lruClass | (LRUSegment.cold.rawValue << 6)
        lruLock(id)
        lrus[id].stats.outOfMemory += 1
        lruUnlock(id)
        if !tuning.evictsToFree || nothingEvictable { memoryRefusing.store(true, ordering: .relaxed) }
        return nil
    }

    private func countDirectReclaims(_ n: Int, _ lruClass: Int) {
        let id = lruClass | (LRUSegment.cold.rawValue << 6)
        lruLock(id)
        lrus[id].stats.directReclaims += n
        lruUnlock(id)
    }

    @inline(__always)
    func chunkTableOffset(keyLength: Int) -> Int {
        (ItemLayout.headerSize + keyLength + 3) & ~3
    }

    @inline(__always)
    func chunkCount(_ it: Item) -> Int {
        (it.valueLength + slabs.table.chunkMax - 1) / slabs.table.chunkMax
    }

    @inline(__always)
    func chunkTable(_ it: Item) -> UnsafeMutablePointer<SlabHandle> {
        (it.raw + chunkTableOffset(keyLength: it.keyLength)).assumingMemoryBound(to: SlabHandle.self)
    }

    /// Queues the item's value on `output` straight from item memory, piece by piece; the
    /// caller's reference to the item travels with the last piece and is released (through the
    /// output's `releaseReference`) once it is written. A value of at most `copyLimit` bytes is
    /// copied into the output's own bytes instead and the reference released at once: a pipeline
    /// of small replies then leaves as one iovec rather than three a reply (the Redis port; the
    /// memcached ports keep the reference, whose count is memcached's per-item limit on a get).
    public func appendValue(of it: Item, to output: OutputBuffer, copyLimit: Int = 0) {
        if it.valueLength <= copyLimit && !it.isChunked {
            output.append(UnsafeRawBufferPointer(start: it.value, count: it.valueLength))
            refDecrement(it)
            return
        }
        let n = valueSegmentCount(it)
        for i in 0..<n {
            let seg = valueSegment(it, i)
            output.appendExternal(UnsafeRawPointer(seg.baseAddress!), count: seg.count, reference: i == n - 1 ? it.raw : nil)
        }
    }

    /// Number of contiguous pieces the item's value is stored in (1 unless chunked).
    @inline(__always)
    public func valueSegmentCount(_ it: Item) -> Int {
        it.isChunked ? chunkCount(it) : 1
    }

    /// Piece `i` of the item's value.
    @inline(__always)
    public func valueSegment(_ it: Item, _ i: Int) -> UnsafeMutableRawBufferPointer {
        if !it.isChunked {
            return UnsafeMutableRawBufferPointer(start: it.value, count: it.valueLength)
        }
        let chunkMax = slabs.table.chunkMax
        let n = chunkCount(it)
        let len = i == n - 1 ? it.valueLength - chunkMax * (n - 1) : chunkMax
        return UnsafeMutableRawBufferPointer(start: arena.pointer(chunkTable(it)[i]), count: len)
    }

    /// The contiguous item memory from value byte `offset` to the end of the piece holding it (a
    /// socket read can go straight there).
    public func valueSpace(_ it: Item, from offset: Int) -> UnsafeMutableRawBufferPointer {
        if !it.isChunked {
            return UnsafeMutableRawBufferPointer(start: it.value + offset, count: it.valueLength - offset)
        }
        let chunkMax = slabs.table.chunkMax
        let seg = valueSegment(it, offset / chunkMax)
        let inSeg = offset % chunkMax
        return UnsafeMutableRawBufferPointer(start: seg.baseAddress! + inSeg, count: seg.count - inSeg)
    }

    /// Copies `bytes` into the item's value starting at `offset`.
    public func writeValue(_ it: Item, at offset: Int, _ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        if !it.isChunked {
            memcpy(it.value + offset, bytes.baseAddress!, bytes.count)
            return
        }
        var done = 0
        while done < bytes.count {
            let space = valueSpace(it, from: offset + done)
            let n = min(space.count, bytes.count - done)
            memcpy(space.baseAddress!, bytes.baseAddress! + done, n)
            done += n
        }
    }

    /// Copies the whole value of `src` into `dst` at `offset`.
    public func copyValue(from src: Item, to dst: Item, at offset: Int) {
        var pos = offset
        for i in 0..<valueSegmentCount(src) {
            let seg = valueSegment(src, i)
            writeValue(dst, at: pos, UnsafeRawBufferPointer(seg))
            pos += seg.count
        }
    }

    // MARK: linking

    /// memcached's do_item_link. Item lock held; the item gains the table's reference. `cas`
    /// overrides the next CAS unique (meta commands' E flag).
    func lockedLink(_ it: Item, _ hv: UInt32, cas: UInt64? = nil) {
        it.flags |= ItemFlag.linked
        it.setAccessTime(clock.current)
        it.cas = cas ?? nextCAS()
        lockedHashInsert(it, hv)
        let id = it.lruID
        lruLock(id)
        lockedLinkQ(it)
        lrus[id].stats.totalItems += 1
        lruUnlock(id)
        refIncrement(it)
        sizes.linked(keyLength: it.keyLength, valueLength: it.valueLength)
        databaseCounts.linked(it)
    }

    /// memcached's do_item_unlink. Item lock held; drops the table's reference.
    func lockedUnlink(_ it: Item, _ hv: UInt32) {
        guard it.flags & ItemFlag.linked != 0 else { return }
        it.flags &= ~ItemFlag.linked
        lockedHashDelete(it, hv)
        unlinkQ(it)
        sizes.unlinked(keyLength: it.keyLength, valueLength: it.valueLength)
        databaseCounts.unlinked(it)
        refDecrement(it)
    }

    func lockedReplace(_ old: Item, with new: Item, _ hv: UInt32, cas: UInt64? = nil) {
        // Under LFU an overwrite is an access of the key and keeps its frequency (redis's
        // dbOverwrite keeps the old object's LFU field).
        if tuning.policy.usesLFU { new.lfuCounter = lfuAccessed(old, now: clock.current) }
        lockedUnlink(old, hv)
        lockedLink(new, hv, cas: cas)
    }

    /// Runs `body` with the item lock of `hv` held (the page mover's steps on one item).
    @inline(__always)
    func withItemLock<T>(_ hv: UInt32, _ body: () throws -> T) rethrows -> T {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        return try body()
    }

    /// A read that counts as an access (sets FETCHED/ACTIVE). Item lock held.
    func lockedBump(_ it: Item) { lockedBump(it, now: clock.current) }

    /// Changes a linked item's expiry, keeping its list's count of expiring items true.
    /// Item lock held.
    func lockedSetExpiry(_ it: Item, _ expiry: UInt32, milliseconds: UInt16 = 0) {
        let linked = it.flags & ItemFlag.linked != 0
        if linked { databaseCounts.unlinkedExpiry(it) }
        defer { if linked { databaseCounts.linkedExpiry(it) } }
        it.expiryMs = milliseconds
        if (it.expiry == 0) != (expiry == 0) && it.flags & ItemFlag.linked != 0 {
            let id = it.lruID
            lruLock(id)
            lrus[id].expiring += expiry == 0 ? -1 : 1
            it.expiry = expiry
            lruUnlock(id)
        } else {
            it.expiry = expiry
        }
    }

    /// memcached's do_item_get: the live item with a new reference, or nil. Expired and flushed
    /// items found on the way are unlinked. Item lock held.
    /// `anyType`: a Redis list, hash, set... is returned too (else it is a miss, as the memcached
    /// port sees only strings).
    /// `database` is logical (the SWAPDB map applies); `lockedGet(physical:)` takes a physical one.
    @inline(__always)
    func lockedGet(_ key: UnsafeRawBufferPointer, _ hv: UInt32, database: Int = 0, anyType: Bool = false,
                   bump: Bool, outcome: inout GetOutcome) -> Item? {
        lockedGet(key, hv, physical: physicalDatabase(database), anyType: anyType, bump: bump, outcome: &outcome)
    }

    /// `lockedGet` in a physical database (an item header's).
    @inline(__always)
    func lockedGet(_ key: UnsafeRawBufferPointer, _ hv: UInt32, physical database: Int, anyType: Bool = false,
                   bump: Bool, outcome: inout GetOutcome) -> Item? {
        guard let it = lockedHashFind(key, hv, database: database) else { outcome = .miss; return nil }
        let now = clock.current
        if isFlushed(it, now: now) {
            lockedUnlink(it, hv)
            outcome = .flushed
            return nil
        }
        if expired(it, now: now) {
            // Reported once unlinked (a subscriber that asks at once finds the key gone), under
            // a reference of its own that keeps the key readable.
            refIncrement(it)
            lockedUnlink(it, hv)
            reportRemoval(it, .expired)
            refDecrement(it)
            expiredOnLookup.add(1, ordering: .relaxed)
            outcome = .expired
            return nil
        }
        if !anyType && it.type != .string {
            outcome = .miss
            return nil
        }
        refIncrement(it)
        if bump { lockedBump(it, now: now) }
        outcome = .hit
        return it
    }

    // MARK: public operations (each takes the item lock)

    /// Hash of a key, as every operation below takes it.
    @inline(__always)
    public static func hash(_ key: UnsafeRawBufferPointer) -> UInt32 { murmur3(key) }

    /// The live item for `key` with a reference the caller must `release`.
    /// `database` and `anyType` are the Redis port's: a key of database 0-15, and a value of any
    /// type (the caller checks `Item.type`); the memcached port sees database 0's strings.
    @inline(__always)
    public func get(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int = 0, anyType: Bool = false,
                    outcome: inout GetOutcome) -> Item? {
        itemLocks.lock(hv)
        lockedPrefetchHinted()
        let it = lockedGet(key, hv, database: database, anyType: anyType, bump: true, outcome: &outcome)
        if let it { classCommands.addHit(it.slabClass, segment: Int(it.classAndSegment >> 6), hash: hv) }
        itemLocks.unlock(hv)
        return limited(it, &outcome)
    }

    /// memcached's IT_REFCOUNT_LIMIT: a reader may not take a reference past it.
    public static let referenceLimit: UInt16 = 60_000

    /// True when `it` already has more than `referenceLimit` references.
    @inline(__always)
    public func isOverReferenced(_ it: Item) -> Bool {
        it.refcount.pointee.load(ordering: .relaxed) > Self.referenceLimit
    }

    /// A reader's item, or nil with `.overflow` past the reference limit (clients that never
    /// read their replies could otherwise wrap the 16-bit count).
    @inline(__always)
    func limited(_ it: Item?, _ outcome: inout GetOutcome) -> Item? {
        guard let it, it.refcount.pointee.load(ordering: .relaxed) > Self.referenceLimit else { return it }
        refDecrement(it)
        outcome = .overflow
        return nil
    }

    /// memcached's do_item_touch (touch, gat): a new expiry and the item with a reference.
    public func touch(_ key: UnsafeRawBufferPointer, hash hv: UInt32, expiry: UInt32, outcome: inout GetOutcome) -> Item? {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        lockedPrefetchHinted()
        let it = lockedGet(key, hv, bump: true, outcome: &outcome)
        if let it {
            classCommands.add(.touchHits, it.slabClass, hash: hv)
            lockedSetExpiry(it, expiry)
        }
        return limited(it, &outcome)
    }

    /// Unlinks whatever is stored under `key` (a failed set must not leave the old value).
    public func unlink(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int = 0) {
        itemLocks.lock(hv)
        if let it = lockedHashFind(key, hv, database: physicalDatabase(database)) { lockedUnlink(it, hv) }
        itemLocks.unlock(hv)
    }

    /// flush_all: everything stored up to `delay` seconds from now (0 = now) becomes invisible then.
    public func flushAll(delay: Int64) {
        let now = clock.current
        let newOldest = delay > 0 ? clock.expiry(fromClient: delay) : now
        if settings.useCAS {
            oldestLive.pointee.store(newOldest &- 1, ordering: .relaxed)
            if newOldest &- 1 <= now {
                // memcached's `oldest_cas = get_cas_id()`: takes a unique, so the uniques handed
                // out after a flush are memcached's, and a store racing the flush gets one past it.
                oldestCAS.pointee.store(nextCAS(), ordering: .relaxed)
            }
        } else {
            oldestLive.pointee.store(newOldest, ordering: .relaxed)
        }
    }

    // MARK: stats

    /// The sum of every LRU list's counters for one class (id 1...63) or for all (nil).
    public func itemStats(classID: Int? = nil) -> ItemStats {
        var s = ItemStats()
        guard let cls = classID else {
            for id in 0..<Self.lruCount { addListStats(id, into: &s) }
            for c in 1..<64 { s.totalItems += Int(classCommands.value(.overwrites, c)) }
            return s
        }
        // Only the class's own lists (one per segment, id = class | segment << 6): `stats items`
        // and the maintainer ask once per class, and a scan of all 256 for each made a class's
        // figures cost as much as the whole table's.
        guard cls >= 0 && cls < 64 else { return s }
        for seg in LRUSegment.allCases { addListStats(cls | (seg.rawValue << 6), into: &s) }
        s.totalItems += Int(classCommands.value(.overwrites, cls))
        return s
    }

    private func addListStats(_ id: Int, into s: inout ItemStats) {
        lruLock(id)
        s.add(lrus[id].stats)
        lruUnlock(id)
    }

    /// Items per segment for a class: (hot, warm, cold, temp).
    public func segmentCounts(classID: Int) -> [Int] {
        LRUSegment.allCases.map { seg in
            let id = classID | (seg.rawValue << 6)
            lruLock(id)
            defer { lruUnlock(id) }
            return lrus[id].stats.number
        }
    }

    func currentItemCount() -> Int {
        var n = 0
        for id in 0..<Self.lruCount {
            lruLock(id)
            n += lrus[id].stats.number
            lruUnlock(id)
        }
        return n
    }

    public var stats: EngineStats {
        var s = EngineStats()
        s.items = itemStats()
        s.totalMalloced = slabs.totalMalloced
        itemLocks.lock(0)
        s.hashPower = hashTable.pointee.power
        s.hashIsExpanding = hashTable.pointee.expanding
        itemLocks.unlock(0)
        s.hashBytes = (1 << s.hashPower) * MemoryLayout<SlabHandle>.size
        s.crawlerRunning = crawler.isRunning
        s.crawlerStarts = crawler.starts
        s.maintainerJuggles = maintainerJuggles.load(ordering: .relaxed)
        return s
    }
}

/// What a lookup found.
public enum GetOutcome: Sendable {
    case hit, miss, expired, flushed
    /// The item has more than `CacheEngine.referenceLimit` references (memcached's
    /// limited_get): refused so that the 16-bit count cannot wrap.
    case overflow
}
