// The Redis port as a connection handler factory: what every RESP connection shares (the cache
// engine, the command table, settings and what CONFIG SET changed, per-worker counters, what
// INFO asks the executable about the process) and how a handler is made.
import Broker
import CacheEngine
import Platform
import Synchronization

public struct RESPSettings: Sendable {
    /// --requirepass: connections must AUTH (or HELLO ... AUTH) first; nil = no password.
    public var requirePassword: [UInt8]? = nil
    public var limits = RESPLimits()
    /// -R: requests handled per read event before yielding to other connections.
    public var requestsPerEvent = 20
    /// What HELLO and INFO report as the server's version: the redis-server release whose
    /// behaviour this port follows (clients gate features on it).
    public var redisVersion: StaticString = "7.0.15"
    /// redis's `client-output-buffer-limit pubsub` hard limit: messages a subscriber has not
    /// read yet, past which it is disconnected.
    public var pubsubOutputLimit = PubSubRegistry.defaultOutputLimit
    /// Request bytes a connection may queue between MULTI and EXEC (redis bounds them only by
    /// client-query-buffer-limit's 1 GB); past it the command is refused and the transaction
    /// fails at EXEC (`resp_multi_queue_refusals`).
    public var transactionQueueLimit = 64 << 20
    /// Distinct keys a connection may WATCH at once; a WATCH that would pass it is refused
    /// (`resp_watch_refusals`).
    public var watchedKeysLimit = 65_536
    public init() {}
}

/// Counters of the Redis port, one set per worker.
public enum RESPCounter: Int, StatCounter {
    case commands
    case errorReplies
    case protocolErrors
    case authFailures
    case connectionsAccepted
    case keyspaceHits
    case keyspaceMisses
    /// MGETs past one piece, written as the client read them (RESPConnection+MGetStream.swift).
    case mgetsStreamed
    /// Commands refused inside MULTI because the transaction's queue was full.
    case transactionQueueRefusals
    /// WATCHes refused for passing the watched-keys bound.
    case watchRefusals
    /// Connections closed by CLIENT KILL.
    case clientsKilled
    /// Blocked connections released by CLIENT UNBLOCK.
    case clientsUnblocked
    /// LCS refused: its table would pass proto-max-bulk-len.
    case lcsRefused
    /// BITOP refused: its result would pass the largest item (-I).
    case bitopRefused
    /// DEBUG SLEEP waits, and those cut to the longest wait (DEBUG SLEEP past 24 days).
    case debugSleeps
    case debugSleepsClamped
    /// Connections closed because a request they had not finished passed client-query-buffer-limit.
    case queryBufferLimitDisconnections
    /// SCAN calls whose bucket budget ended them before COUNT keys (RESPConnection+Keyspace.swift).
    case scanCutShort
    /// RENAME, COPY, MOVE, OBJECT refused for a type they cannot handle yet.
    case unsupportedTypes
    /// List elements refused for being larger than an item may be (-I).
    case listElementsTooLarge
    /// Hash fields and values refused for being larger together than an item may be (-I).
    case hashPairsTooLarge
    /// HRANDFIELD calls refused for asking more repeated picks than `hashRandomRepeatLimit`.
    case hashRandomRefused

    public var name: String {
        switch self {
        case .commands: return "total_commands_processed"
        case .errorReplies: return "total_error_replies"
        case .protocolErrors: return "resp_protocol_errors"
        case .authFailures: return "resp_auth_failures"
        case .connectionsAccepted: return "total_connections_received"
        case .keyspaceHits: return "keyspace_hits"
        case .keyspaceMisses: return "keyspace_misses"
        case .mgetsStreamed: return "resp_mget_streamed_replies"
        case .transactionQueueRefusals: return "resp_multi_queue_refusals"
        case .watchRefusals: return "resp_watch_refusals"
        case .clientsKilled: return "resp_clients_killed"
        case .clientsUnblocked: return "resp_clients_unblocked"
        case .lcsRefused: return "resp_lcs_refused"
        case .bitopRefused: return "resp_bitop_refused"
        case .debugSleeps: return "resp_debug_sleeps"
        case .debugSleepsClamped: return "resp_debug_sleeps_clamped"
        case .queryBufferLimitDisconnections: return "client_query_buffer_limit_disconnections"
        case .scanCutShort: return "resp_scan_cut_short"
        case .unsupportedTypes: return "resp_unsupported_type_errors"
        case .listElementsTooLarge: return "resp_list_elements_too_large"
        case .hashPairsTooLarge: return "resp_hash_pairs_too_large"
        case .hashRandomRefused: return "resp_hrandfield_refused"
        }
    }

    public var section: StatSection { .stats }
}

public final class RESPService: ConnectionHandlerFactory, @unchecked Sendable {
    // Safe to share: all `let`; `workerStats[i]` and `commandStats[i]` are written only by worker
    // i; `clientIDs` and `openConnections` are atomic; `config`, `pubsub` and `slowLog` are their own locks'.
    public let engine: CacheEngine
    public let settings: RESPSettings
    public let workerStats: [StatCounters]
    /// INFO commandstats and errorstats, one set per worker (`RESPCommandStats`).
    let commandStats: [StatCounters]
    let table: RESPCommandTable
    /// What CONFIG GET reports and CONFIG SET changes.
    let config: RESPConfig
    /// What INFO reports about the process, taken from the executable when INFO runs.
    let host: @Sendable () -> RESPHostFacts
    /// The server log (DEBUG LOG writes to it).
    let log: @Sendable (String) -> Void
    /// INFO server's run_id: 40 random hex digits, new with every start, as redis's.
    let runID: String
    private let clientIDs = Atomic<UInt64>(0)
    /// INFO clients' connected_clients: this port's open connections.
    let openConnections = Atomic<Int>(0)
    /// Connections watching at least one key (WATCH until EXEC, DISCARD, UNWATCH, RESET or the
    /// connection's end): while none does, a stream write skips renewing its key's CAS unique
    /// (`RESPConnection.signalStreamModified`). Sequentially consistent on both sides: a WATCH counts
    /// itself before it reads its keys' uniques, a stream write reads the count after its change,
    /// so a write that sees none watching happened before every WATCH it could have concerned.
    let watchingClients = Atomic<Int>(0)
    /// Who subscribes to what, for publishers on every worker.
    let pubsub = PubSubRegistry()
    /// Every open connection of this port, for CLIENT LIST, KILL and UNBLOCK on any worker.
    let clients = RESPClientRegistry()
    /// SLOWLOG's entries and settings.
    let slowLog = SlowLog()
    /// Clients blocked on list keys (BLPOP and its family), for pushers on every worker.
    let listWaits = ListWaits()
    /// Bytes of messages a subscriber may have waiting before it is disconnected.
    let pubsubOutputLimit: Int
    /// Keeps other workers' commands out while an EXEC runs (CommandGate.swift).
    let gate: CommandGate
    /// Redis streams' logs (Broker/Log/Streams): the broker's log memory, or a share of their own.
    public let streams: StreamStore

    public init(engine: CacheEngine, settings: RESPSettings, workers: Int,
                host: @escaping @Sendable () -> RESPHostFacts = { RESPHostFacts() },
                log: @escaping @Sendable (String) -> Void = { _ in }, gate: CommandGate? = nil,
                streams: StreamStore? = nil) {
        self.engine = engine
        let clock = engine.clock
        self.streams = streams ?? StreamStore(memoryLimit: engine.settings.memoryLimit / 2, engine: engine, clockMs: { clock.milliseconds })
        self.streams.install(on: engine)
        self.settings = settings
        self.host = host
        self.log = log
        pubsubOutputLimit = settings.pubsubOutputLimit
        self.gate = gate ?? CommandGate(workers: workers)
        // One extra set for callers that are not workers (tests).
        workerStats = (0...workers).map { _ in RESPCounter.makeCounters() }
        let table = RESPCommandTable(RESPConnection.commands)
        self.table = table
        commandStats = (0...workers).map { _ in RESPCommandStats.makeCounters(commands: table.statCount) }
        config = RESPConfig(settings: settings, engine: engine, slowLog: slowLog)
        var random = SystemRandomNumberGenerator()
        runID = String((0..<40).map { _ in "0123456789abcdef".randomElement(using: &random)! })
        // Keyspace events `evicted` (class e), for evictions any port's allocation made, and
        // `expired` (class x), for keys a lookup of either port found expired or background expiry
        // (LRU tail, maintainer, crawler) reclaimed: published from the removing thread (the item
        // lock held; the pub/sub registry takes no engine lock, so the order item → pub/sub holds).
        // A broker-port append to a topic a stream of database 0 reads is an XADD there: WATCH,
        // the `xadd` event, the blocked readers (RESPService+StreamBrokerAppends.swift).
        self.streams.onBrokerAppend { [weak self] topic in self?.brokerAppended(to: topic) }
        engine.onKeyRemoval { [weak self] key, database, why in
            guard let self else { return }
            let flags = self.config.keyspaceEvents.load(ordering: .relaxed)
            switch why {
            case .evicted:
                guard flags & KeyspaceEvents.evicted != 0 else { return }
                self.publishKeyspaceEvent(flags, "evicted", key: key, database: database)
            case .expired:
                guard flags & KeyspaceEvents.expired != 0 else { return }
                self.publishKeyspaceEvent(flags, "expired", key: key, database: database)
            }
        }
    }

    public func makeHandler(workerIndex: Int, fd: Int32, output: OutputBuffer, waker: ConnectionWaker) -> ConnectionHandler {
        let engine = self.engine
        output.releaseReference = { raw in engine.release(Item(raw)) }
        let slot = min(workerIndex, workerStats.count - 1)
        workerStats[slot].add(RESPCounter.connectionsAccepted.rawValue)
        openConnections.add(1, ordering: .relaxed)
        return RESPConnection(service: self, stats: workerStats[slot], commandStats: commandStats[slot],
                              id: clientIDs.add(1, ordering: .relaxed).newValue, waker: waker, fd: fd, gateSlot: slot)
    }

    /// A message for the subscribers of `channel` (and of the patterns that match it) from outside
    /// the Redis port: the broker port's `publish` to an exchange of that name. Returns how many
    /// received it.
    @discardableResult
    public func publish(channel: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer) -> Int {
        publish(channel: channel, message: message, shard: false)
    }

    /// PUBLISH, SPUBLISH (`shard`), and the broker's, under CONFIG's pubsub output limit.
    func publish(channel: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer, shard: Bool) -> Int {
        pubsub.publish(channel: channel, message: message, shard: shard, limit: config.outputLimit(.pubsub),
                       nowMs: engine.clock.milliseconds)
    }

    /// The sum of one counter over the workers.
    public func total(_ c: RESPCounter) -> UInt64 { c.total(workerStats) }

    /// CONFIG RESETSTAT: the port's counters, its command and error statistics.
    func resetStatistics() {
        for set in workerStats + commandStats { set.resetAll() }
    }
}
