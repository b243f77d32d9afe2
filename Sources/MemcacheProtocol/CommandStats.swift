// The cache port's statistics, declared once: the per-worker command counters (their slots and
// `stats` names) and the tables `stats`, `stats items` and `stats slabs` render, in memcached's
// order. The engine's figures are gauges here because memcached's order interleaves them with
// the command counters.
import CacheEngine
import Platform

public enum CommandCounter: Int, StatCounter {
    case cmdGet, cmdSet, cmdFlush, cmdTouch, cmdMeta
    case getHits, getMisses, getExpired, getFlushed
    case deleteHits, deleteMisses
    case incrHits, incrMisses, decrHits, decrMisses
    case casHits, casMisses, casBadval
    case touchHits, touchMisses
    case storeTooLarge, storeNoMemory
    case authCmds, authErrors
    case binaryHeaderInvalid, metadumpBusy
    /// Connections closed for a request line longer than memcached allows (2048 bytes without a
    /// newline, a multi-get 1 MB): the bound on the input one connection can hold.
    case linesTooLong
    /// Multi-gets whose reply passed one piece and was written as the client read it
    /// (Retrieval+Stream.swift): the bound on the output one get can queue.
    case getsStreamed

    public var name: String {
        switch self {
        case .cmdGet: "cmd_get"
        case .cmdSet: "cmd_set"
        case .cmdFlush: "cmd_flush"
        case .cmdTouch: "cmd_touch"
        case .cmdMeta: "cmd_meta"
        case .getHits: "get_hits"
        case .getMisses: "get_misses"
        case .getExpired: "get_expired"
        case .getFlushed: "get_flushed"
        case .deleteHits: "delete_hits"
        case .deleteMisses: "delete_misses"
        case .incrHits: "incr_hits"
        case .incrMisses: "incr_misses"
        case .decrHits: "decr_hits"
        case .decrMisses: "decr_misses"
        case .casHits: "cas_hits"
        case .casMisses: "cas_misses"
        case .casBadval: "cas_badval"
        case .touchHits: "touch_hits"
        case .touchMisses: "touch_misses"
        case .storeTooLarge: "store_too_large"
        case .storeNoMemory: "store_no_memory"
        case .authCmds: "auth_cmds"
        case .authErrors: "auth_errors"
        case .binaryHeaderInvalid: "binary_header_invalid"
        case .metadumpBusy: "metadump_busy"
        case .linesTooLong: "conn_lines_too_long"
        case .getsStreamed: "get_streamed_replies"
        }
    }

    public var section: StatSection { .stats }
}

extension StatCounters {
    @inline(__always)
    func add(_ c: CommandCounter, _ n: UInt64 = 1) { add(c.rawValue, n) }

    /// memcached's do_item_get counts the dead item any lookup meets (get, touch, delete,
    /// incr/decr, meta), whatever the command then answers.
    @inline(__always)
    func addDeadLookup(_ outcome: GetOutcome) {
        switch outcome {
        case .expired: add(.getExpired)
        case .flushed: add(.getFlushed)
        default: break
        }
    }
}

/// What one `stats` reply is rendered from: the engine's figures are taken once, so the reply is
/// one snapshot.
public struct GeneralStatsSource: Sendable {
    let service: MemcacheService
    let engine: EngineStats
    let pageMoves: PageMoveStats

    // memcached prints some lines only while their mechanism is on: the page mover's with
    // slab_reassign, the crawler's while it is enabled, the maintainer's with its thread, the
    // segmented LRU's while `lru mode` is segmented.
    var segmented: Bool { service.engine.tuning.isSegmented }
    var crawlerOn: Bool { service.engine.crawler.isEnabled }
}

/// One slab class's `stats items` figures.
public struct ItemClassStats {
    let items: ItemStats
    /// Items in HOT, WARM, COLD.
    let segments: [Int]
    /// Seconds since the tail item of HOT, WARM, COLD was last accessed.
    let ages: [Int]
    /// Get hits on items in HOT, WARM, COLD, TEMP.
    let hits: [UInt64]
    /// memcached prints the segment lines only with the segmented LRU, number_temp only with
    /// the TEMP LRU.
    let segmented: Bool
    let tempLRU: Bool
}

/// One slab class's `stats slabs` figures: its memory and its command counts.
public struct SlabClassFigures {
    let slab: SlabStats
    let classID: Int
    let commands: ClassCommandCounts
}

/// The lines after the classes of `stats slabs`.
public struct SlabTotals {
    let activeSlabs: Int
    let totalMalloced: Int
}

extension MemcacheService {
    /// The protocol's lines of `stats`, in memcached's order. The executable interleaves the
    /// process and connection lines (declared by their modules) between slices of this table
    /// (`StatTable.slice`); without them, as in the protocol's tests, it renders alone.
    public static let generalStatTable = StatTable<GeneralStatsSource>(counterSets: { $0.service.workerStats }, [
        // memcached's response objects: replies here are written from each connection's
        // OutputBuffer, there is no pool of response objects to count (README).
        .gauge("response_obj_oom", .memory) { _ in "0" },
        .gauge("response_obj_count", .memory) { _ in "0" },
        .gauge("response_obj_bytes", .memory) { _ in "0" },
        .counter(CommandCounter.cmdGet),
        .counter(CommandCounter.cmdSet),
        .counter(CommandCounter.cmdFlush),
        .counter(CommandCounter.cmdTouch),
        .counter(CommandCounter.cmdMeta),
        .counter(CommandCounter.getHits),
        .counter(CommandCounter.getMisses),
        .counter(CommandCounter.getExpired),
        .counter(CommandCounter.getFlushed),
        .counter(CommandCounter.deleteMisses),
        .counter(CommandCounter.deleteHits),
        .counter(CommandCounter.incrMisses),
        .counter(CommandCounter.incrHits),
        .counter(CommandCounter.decrMisses),
        .counter(CommandCounter.decrHits),
        .counter(CommandCounter.casMisses),
        .counter(CommandCounter.casHits),
        .counter(CommandCounter.casBadval),
        .counter(CommandCounter.touchHits),
        .counter(CommandCounter.touchMisses),
        .counter(CommandCounter.storeTooLarge),
        .counter(CommandCounter.storeNoMemory),
        .counter(CommandCounter.authCmds),
        .counter(CommandCounter.authErrors),
        .gauge("limit_maxbytes", .memory) { String($0.service.engine.memoryLimit) },
        // One counter set is for callers that are not workers.
        .gauge("threads", .server) { String($0.service.workerStats.count - 1) },
        .gauge("hash_power_level", .memory) { String($0.engine.hashPower) },
        .gauge("hash_bytes", .memory) { String($0.engine.hashBytes) },
        .gauge("hash_is_expanding", .memory) { $0.engine.hashIsExpanding ? "1" : "0" },
        .gauge("slab_reassign_rescues", .memory) { $0.service.engine.settings.slabReassign ? String($0.pageMoves.rescues) : nil },
        .gauge("slab_reassign_chunk_rescues", .memory) { $0.service.engine.settings.slabReassign ? "0" : nil },
        .gauge("slab_reassign_evictions_nomem", .memory) { $0.service.engine.settings.slabReassign ? String($0.pageMoves.evictionsNoMemory) : nil },
        .gauge("slab_reassign_inline_reclaim", .memory) { $0.service.engine.settings.slabReassign ? "0" : nil },
        .gauge("slab_reassign_busy_items", .memory) { $0.service.engine.settings.slabReassign ? String($0.pageMoves.busyItems) : nil },
        .gauge("slab_reassign_busy_deletes", .memory) { $0.service.engine.settings.slabReassign ? "0" : nil },
        .gauge("slab_reassign_running", .memory) { $0.service.engine.settings.slabReassign ? ($0.pageMoves.running ? "1" : "0") : nil },
        .gauge("slabs_moved", .memory) { $0.service.engine.settings.slabReassign ? String($0.pageMoves.moved) : nil },
        .gauge("lru_crawler_running", .stats) { $0.crawlerOn ? ($0.engine.crawlerRunning ? "1" : "0") : nil },
        .gauge("lru_crawler_starts", .stats) { $0.crawlerOn ? String($0.engine.crawlerStarts) : nil },
        .gauge("lru_maintainer_juggles", .stats) { $0.service.engine.settings.lruMaintainer ? String($0.engine.maintainerJuggles) : nil },
        // Pages asked for past the address space reserved at start-up (cache_memlimit raised).
        .gauge("malloc_fails", .memory) { String($0.service.engine.pageReservationRefusals) },
        // Watch lines go straight to each watcher's buffer: there is no per-worker log buffer to
        // drop from (README); written counts the events logged.
        .gauge("log_worker_dropped", .stats) { _ in "0" },
        .gauge("log_worker_written", .stats) { String($0.service.watch.eventsLogged) },
        .gauge("log_watcher_skipped", .stats) { String($0.service.watch.linesSkipped) },
        .gauge("log_watcher_sent", .stats) { String($0.service.watch.linesSent) },
        .gauge("log_watchers", .stats) { String($0.service.watch.watcherCount) },
        // No -N (NAPI ids): connections go to workers round-robin only (README).
        .gauge("unexpected_napi_ids", .stats) { _ in "0" },
        .gauge("round_robin_fallback", .stats) { _ in "0" },
        .gauge("bytes", .memory) { String($0.engine.items.bytes) },
        .gauge("curr_items", .keyspace) { String($0.engine.items.number) },
        .gauge("total_items", .stats) { String($0.engine.items.totalItems) },
        .gauge("slab_global_page_pool", .memory) { _ in "0" },
        .gauge("expired_unfetched", .stats) { String($0.engine.items.expiredUnfetched) },
        .gauge("evicted_unfetched", .stats) { String($0.engine.items.evictedUnfetched) },
        .gauge("evicted_active", .stats) { $0.segmented ? String($0.engine.items.evictedActive) : nil },
        .gauge("evictions", .stats) { String($0.engine.items.evicted) },
        .gauge("reclaimed", .stats) { String($0.engine.items.reclaimed) },
        .gauge("crawler_reclaimed", .stats) { String($0.engine.items.crawlerReclaimed) },
        .gauge("crawler_items_checked", .stats) { String($0.engine.items.crawlerItemsChecked) },
        .gauge("lrutail_reflocked", .stats) { String($0.engine.items.lrutailReflocked) },
        .gauge("moves_to_cold", .stats) { $0.segmented ? String($0.engine.items.movesToCold) : nil },
        .gauge("moves_to_warm", .stats) { $0.segmented ? String($0.engine.items.movesToWarm) : nil },
        .gauge("moves_within_lru", .stats) { $0.segmented ? String($0.engine.items.movesWithinLRU) : nil },
        .gauge("direct_reclaims", .stats) { $0.segmented ? String($0.engine.items.directReclaims) : nil },
        // A hit sets the item's flags under its item lock; there is no bump queue to drop from.
        .gauge("lru_bumps_dropped", .stats) { $0.segmented ? "0" : nil },
        // swiftcached's own, after memcached's lines.
        // Binary headers refused before their body, metadumps refused BUSY, connections closed for
        // a line too long, multi-gets written piece by piece.
        .counter(CommandCounter.binaryHeaderInvalid),
        .counter(CommandCounter.metadumpBusy),
        .counter(CommandCounter.linesTooLong),
        .counter(CommandCounter.getsStreamed),
        .gauge("total_malloced", .memory) { String($0.engine.totalMalloced) },
        // Pages moved at once to a log's or stream's chunk class (SlabRebalancer+Forced.swift),
        // also in slabs_moved; only while pages may move, as the slab_reassign_* lines.
        .gauge("slab_reassign_forced", .memory) { $0.service.engine.settings.slabReassign ? String($0.pageMoves.forced) : nil },
        // After memcached's names: clients read `version` as memcached's.
        .gauge("swiftcached_version", .server) { $0.service.settings.serverVersion },
    ])

    /// `stats items`, per class with items, after "items:<class>:".
    public static let itemsStatTable = StatTable<ItemClassStats>([
        .gauge("number", .keyspace) { String($0.items.number) },
        .gauge("number_hot", .keyspace) { $0.segmented ? String($0.segments[0]) : nil },
        .gauge("number_warm", .keyspace) { $0.segmented ? String($0.segments[1]) : nil },
        .gauge("number_cold", .keyspace) { $0.segmented ? String($0.segments[2]) : nil },
        .gauge("number_temp", .keyspace) { $0.segmented && $0.tempLRU ? String($0.segments[3]) : nil },
        .gauge("age_hot", .keyspace) { $0.segmented ? String($0.ages[0]) : nil },
        .gauge("age_warm", .keyspace) { $0.segmented ? String($0.ages[1]) : nil },
        .gauge("age", .keyspace) { String($0.ages[2]) },
        .gauge("mem_requested", .memory) { String($0.items.bytes) },
        .gauge("evicted", .stats) { String($0.items.evicted) },
        .gauge("evicted_nonzero", .stats) { String($0.items.evictedNonzero) },
        .gauge("evicted_time", .stats) { String($0.items.evictedTime) },
        .gauge("outofmemory", .stats) { String($0.items.outOfMemory) },
        .gauge("tailrepairs", .stats) { String($0.items.tailRepairs) },
        .gauge("reclaimed", .stats) { String($0.items.reclaimed) },
        .gauge("expired_unfetched", .stats) { String($0.items.expiredUnfetched) },
        .gauge("evicted_unfetched", .stats) { String($0.items.evictedUnfetched) },
        .gauge("evicted_active", .stats) { $0.segmented ? String($0.items.evictedActive) : nil },
        .gauge("crawler_reclaimed", .stats) { String($0.items.crawlerReclaimed) },
        .gauge("crawler_items_checked", .stats) { String($0.items.crawlerItemsChecked) },
        .gauge("lrutail_reflocked", .stats) { String($0.items.lrutailReflocked) },
        .gauge("moves_to_cold", .stats) { $0.segmented ? String($0.items.movesToCold) : nil },
        .gauge("moves_to_warm", .stats) { $0.segmented ? String($0.items.movesToWarm) : nil },
        .gauge("moves_within_lru", .stats) { $0.segmented ? String($0.items.movesWithinLRU) : nil },
        .gauge("direct_reclaims", .stats) { $0.segmented ? String($0.items.directReclaims) : nil },
        .gauge("hits_to_hot", .stats) { $0.segmented ? String($0.hits[0]) : nil },
        .gauge("hits_to_warm", .stats) { $0.segmented ? String($0.hits[1]) : nil },
        .gauge("hits_to_cold", .stats) { $0.segmented ? String($0.hits[2]) : nil },
        .gauge("hits_to_temp", .stats) { $0.segmented ? String($0.hits[3]) : nil },
    ])

    /// `stats slabs`, per class with pages, after "<class>:".
    public static let slabClassStatTable = StatTable<SlabClassFigures>([
        .gauge("chunk_size", .memory) { String($0.slab.chunkSize) },
        .gauge("chunks_per_page", .memory) { String($0.slab.chunksPerPage) },
        .gauge("total_pages", .memory) { String($0.slab.totalPages) },
        .gauge("total_chunks", .memory) { String($0.slab.totalChunks) },
        .gauge("used_chunks", .memory) { String($0.slab.usedChunks) },
        .gauge("free_chunks", .memory) { String($0.slab.freeChunks) },
        // memcached 1.6 splits a page into its free list when it takes it, so its free_chunks_end
        // is always 0; the chunks not carved yet here are counted in free_chunks, as memcached's.
        .gauge("free_chunks_end", .memory) { _ in "0" },
        .gauge("get_hits", .stats) { String($0.commands.getHits($0.classID)) },
        .gauge("cmd_set", .stats) { String($0.commands.value(.cmdSet, $0.classID)) },
        .gauge("delete_hits", .stats) { String($0.commands.value(.deleteHits, $0.classID)) },
        .gauge("incr_hits", .stats) { String($0.commands.value(.incrHits, $0.classID)) },
        .gauge("decr_hits", .stats) { String($0.commands.value(.decrHits, $0.classID)) },
        .gauge("cas_hits", .stats) { String($0.commands.value(.casHits, $0.classID)) },
        .gauge("cas_badval", .stats) { String($0.commands.value(.casBadval, $0.classID)) },
        .gauge("touch_hits", .stats) { String($0.commands.value(.touchHits, $0.classID)) },
    ])

    /// The last lines of `stats slabs`.
    public static let slabTotalsStatTable = StatTable<SlabTotals>([
        .gauge("active_slabs", .memory) { String($0.activeSlabs) },
        .gauge("total_malloced", .memory) { String($0.totalMalloced) },
    ])
}
