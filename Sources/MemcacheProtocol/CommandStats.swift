// The cache port's statistics, declared once: the per-worker command counters (their slots and
// `stats` names) and the tables `stats`, `stats items` and `stats slabs` render, in memcached's
// order. The engine's figures are gauges here because memcached's order interleaves them with
// the command counters.
import CacheEngine
import Platform

public enum CommandCounter: Int, StatCounter {
    case cmdGet, cmdSet, cmdFlush, cmdTouch
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

    public var name: String {
        switch self {
        case .cmdGet: "cmd_get"
        case .cmdSet: "cmd_set"
        case .cmdFlush: "cmd_flush"
        case .cmdTouch: "cmd_touch"
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
        }
    }

    public var section: StatSection { .stats }
}

extension StatCounters {
    @inline(__always)
    func add(_ c: CommandCounter, _ n: UInt64 = 1) { add(c.rawValue, n) }
}

/// What one `stats` reply is rendered from: the engine's figures are taken once, so the reply is
/// one snapshot.
public struct GeneralStatsSource {
    let service: MemcacheService
    let engine: EngineStats
    let pageMoves: PageMoveStats
}

/// One slab class's `stats items` figures.
public struct ItemClassStats {
    let items: ItemStats
    /// Items in HOT, WARM, COLD.
    let segments: [Int]
    /// Seconds since the tail item of HOT, WARM, COLD was last accessed.
    let ages: [Int]
}

/// The lines after the classes of `stats slabs`.
public struct SlabTotals {
    let activeSlabs: Int
    let totalMalloced: Int
}

extension MemcacheService {
    /// The protocol's lines of `stats`, after the process and server lines (`StatsSources.general`).
    public static let generalStatTable = StatTable<GeneralStatsSource>(counterSets: { $0.service.workerStats }, [
        .counter(CommandCounter.cmdGet),
        .counter(CommandCounter.cmdSet),
        .counter(CommandCounter.cmdFlush),
        .counter(CommandCounter.cmdTouch),
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
        .counter(CommandCounter.authCmds),
        .counter(CommandCounter.authErrors),
        .gauge("limit_maxbytes", .memory) { String($0.service.engine.memoryLimit) },
        // One counter set is for callers that are not workers.
        .gauge("threads", .server) { String($0.service.workerStats.count - 1) },
        .gauge("hash_power_level", .memory) { String($0.engine.hashPower) },
        .gauge("hash_bytes", .memory) { String($0.engine.hashBytes) },
        .gauge("hash_is_expanding", .memory) { $0.engine.hashIsExpanding ? "1" : "0" },
        .gauge("slab_reassign_rescues", .memory) { String($0.pageMoves.rescues) },
        .gauge("slab_reassign_chunk_rescues", .memory) { _ in "0" },
        .gauge("slab_reassign_evictions_nomem", .memory) { String($0.pageMoves.evictionsNoMemory) },
        .gauge("slab_reassign_inline_reclaim", .memory) { _ in "0" },
        .gauge("slab_reassign_busy_items", .memory) { String($0.pageMoves.busyItems) },
        .gauge("slab_reassign_busy_deletes", .memory) { _ in "0" },
        .gauge("slab_reassign_running", .memory) { $0.pageMoves.running ? "1" : "0" },
        .gauge("slabs_moved", .memory) { String($0.pageMoves.moved) },
        .gauge("malloc_fails", .memory) { String($0.service.engine.pageReservationRefusals) },
        .gauge("slab_global_page_pool", .memory) { _ in "0" },
        .gauge("expired_unfetched", .stats) { String($0.engine.items.expiredUnfetched) },
        .gauge("evicted_unfetched", .stats) { String($0.engine.items.evictedUnfetched) },
        .gauge("evicted_active", .stats) { String($0.engine.items.evictedActive) },
        .gauge("evictions", .stats) { String($0.engine.items.evicted) },
        .gauge("reclaimed", .stats) { String($0.engine.items.reclaimed) },
        .gauge("crawler_reclaimed", .stats) { String($0.engine.items.crawlerReclaimed) },
        .gauge("crawler_items_checked", .stats) { String($0.engine.items.crawlerItemsChecked) },
        .gauge("lrutail_reflocked", .stats) { String($0.engine.items.lrutailReflocked) },
        .gauge("moves_to_cold", .stats) { String($0.engine.items.movesToCold) },
        .gauge("moves_to_warm", .stats) { String($0.engine.items.movesToWarm) },
        .gauge("moves_within_lru", .stats) { String($0.engine.items.movesWithinLRU) },
        .gauge("curr_items", .keyspace) { String($0.engine.items.number) },
        .gauge("total_items", .stats) { String($0.engine.items.totalItems) },
        .gauge("bytes", .memory) { String($0.engine.items.bytes) },
        .counter(CommandCounter.storeTooLarge),
        .counter(CommandCounter.storeNoMemory),
        // swiftcached's own: binary headers refused before their body, metadumps refused BUSY,
        // connections closed for a line too long.
        .counter(CommandCounter.binaryHeaderInvalid),
        .counter(CommandCounter.metadumpBusy),
        .counter(CommandCounter.linesTooLong),
        .gauge("total_malloced", .memory) { String($0.engine.totalMalloced) },
        // After memcached's names: clients read `version` as memcached's.
        .gauge("swiftcached_version", .server) { $0.service.settings.serverVersion },
    ])

    /// `stats items`, per class with items, after "items:<class>:".
    public static let itemsStatTable = StatTable<ItemClassStats>([
        .gauge("number", .keyspace) { String($0.items.number) },
        .gauge("number_hot", .keyspace) { String($0.segments[0]) },
        .gauge("number_warm", .keyspace) { String($0.segments[1]) },
        .gauge("number_cold", .keyspace) { String($0.segments[2]) },
        .gauge("age_hot", .keyspace) { String($0.ages[0]) },
        .gauge("age_warm", .keyspace) { String($0.ages[1]) },
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
        .gauge("evicted_active", .stats) { String($0.items.evictedActive) },
        .gauge("crawler_reclaimed", .stats) { String($0.items.crawlerReclaimed) },
        .gauge("crawler_items_checked", .stats) { String($0.items.crawlerItemsChecked) },
        .gauge("lrutail_reflocked", .stats) { String($0.items.lrutailReflocked) },
        .gauge("moves_to_cold", .stats) { String($0.items.movesToCold) },
        .gauge("moves_to_warm", .stats) { String($0.items.movesToWarm) },
        .gauge("moves_within_lru", .stats) { String($0.items.movesWithinLRU) },
    ])

    /// `stats slabs`, per class with pages, after "<class>:".
    public static let slabClassStatTable = StatTable<SlabStats>([
        .gauge("chunk_size", .memory) { String($0.chunkSize) },
        .gauge("chunks_per_page", .memory) { String($0.chunksPerPage) },
        .gauge("total_pages", .memory) { String($0.totalPages) },
        .gauge("total_chunks", .memory) { String($0.totalChunks) },
        .gauge("used_chunks", .memory) { String($0.usedChunks) },
        .gauge("free_chunks", .memory) { String($0.freeChunks) },
        .gauge("free_chunks_end", .memory) { String($0.freeChunksEnd) },
    ])

    /// The last lines of `stats slabs`.
    public static let slabTotalsStatTable = StatTable<SlabTotals>([
        .gauge("active_slabs", .memory) { String($0.activeSlabs) },
        .gauge("total_malloced", .memory) { String($0.totalMalloced) },
    ])
}
