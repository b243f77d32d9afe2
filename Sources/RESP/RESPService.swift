// The Redis port as a connection handler factory: what every RESP connection shares (the cache
// engine, the command table, settings, per-worker counters) and how a handler is made.
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
        }
    }

    public var section: StatSection { .stats }
}

public final class RESPService: ConnectionHandlerFactory, @unchecked Sendable {
    // Safe to share: all `let`; `workerStats[i]` is written only by worker i; `clientIDs` is atomic.
    public let engine: CacheEngine
    public let settings: RESPSettings
    public let workerStats: [StatCounters]
    let table: RESPCommandTable
    private let clientIDs = Atomic<UInt64>(0)

    public init(engine: CacheEngine, settings: RESPSettings, workers: Int) {
        self.engine = engine
        self.settings = settings
        // One extra set for callers that are not workers (tests).
        workerStats = (0...workers).map { _ in RESPCounter.makeCounters() }
        table = RESPCommandTable(RESPConnection.commands)
    }

    public func makeHandler(workerIndex: Int, fd: Int32, output: OutputBuffer, waker: ConnectionWaker) -> ConnectionHandler {
        let engine = self.engine
        output.releaseReference = { raw in engine.release(Item(raw)) }
        let stats = workerStats[min(workerIndex, workerStats.count - 1)]
        stats.add(RESPCounter.connectionsAccepted.rawValue)
        return RESPConnection(service: self, stats: stats, id: clientIDs.add(1, ordering: .relaxed).newValue)
    }

    /// The sum of one counter over the workers.
    public func total(_ c: RESPCounter) -> UInt64 { c.total(workerStats) }
}
