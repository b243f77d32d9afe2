// Connection counters, declared with their `stats` names in `statTable`. Per worker: bytes read and
// written, yields, idle kicks, reads stopped by a bound (single writer each). Shared: current and
// total connections, changed only on accept and close, never per request, and the listener's
// pauses when descriptors run out.
import Platform
import Synchronization

public enum ServerCounter: Int, StatCounter {
    case bytesRead, bytesWritten, connYields, idleKicks
    /// Times a connection stopped reading because its replies could not all be written (the
    /// client is not reading them): the bound on what a client that never reads can pin.
    case outputStalls
    /// Times a parked connection stopped reading because `Connection.parkedInputLimit` bytes of
    /// requests waited behind the parked one.
    case parkedInputPauses
    /// TLS handshakes that failed after the client sent something (memcached's).
    case tlsHandshakeErrors
    /// Sessions OpenSSL offered to cache, with `ssl_session_cache` (memcached's).
    case tlsNewSessions

    public var name: String {
        switch self {
        case .bytesRead: "bytes_read"
        case .bytesWritten: "bytes_written"
        case .connYields: "conn_yields"
        case .idleKicks: "idle_kicks"
        case .outputStalls: "conn_output_stalls"
        case .parkedInputPauses: "conn_parked_input_pauses"
        case .tlsHandshakeErrors: "ssl_handshake_errors"
        case .tlsNewSessions: "ssl_new_sessions"
        }
    }

    public var section: StatSection { .stats }
}

public final class ServerStats: Sendable {
    public let workers: [StatCounters]
    let current = Atomic<Int>(0)
    let total = Atomic<Int>(0)
    let rejected = Atomic<Int>(0)
    let structures = Atomic<Int>(0)
    /// The most connections open at once (memcached keeps a connection structure per descriptor
    /// it has used and never frees one: its connection_structures is a high-water mark).
    let structuresPeak = Atomic<Int>(0)
    /// memcached's listening connections: one per listening socket, and one per worker for each
    /// UDP socket. memcached counts them in curr_conns, total_conns and conn_structures (and
    /// prints curr_conns - 1); set once the sockets are bound.
    let listenerConnections = Atomic<Int>(0)
    let registry = ConnectionRegistry()
    /// Times accepting stopped because descriptors ran out (memcached's listen_disabled_num).
    let listenDisabled = Atomic<Int>(0)
    /// Microseconds spent not accepting, counted when accepting resumes.
    let listenDisabledMicroseconds = Atomic<Int>(0)
    /// Whether the listener accepts (memcached's accepting_conns).
    let accepting = Atomic<Bool>(true)
    /// Set when a connection closes while accepting is stopped: a descriptor is free again.
    let closedWhileNotAccepting = Atomic<Bool>(false)
    /// Connection read buffers allocated now, and their bytes (memcached's read_buf_count and
    /// read_buf_bytes; each connection owns one, grown while a request does not fit).
    let readBuffers = Atomic<Int>(0)
    let readBufferBytes = Atomic<Int>(0)
    /// Read buffers refused by read_buf_mem_limit (memcached's read_buf_oom).
    let readBufferOOM = Atomic<Int>(0)

    /// Whether connections over -c are refused (maxconns_fast): only then does memcached print
    /// rejected_connections.
    let refusesOverLimit: Bool
    /// The TLS context, if any listener speaks TLS: only then does memcached print its TLS lines.
    let tls: TLSContext?
    /// Whether -o idle_timeout is set (not 0): only then does memcached print idle_kicks.
    let idleTimeoutSet: Bool

    init(workers: Int, refusesOverLimit: Bool = true, tls: TLSContext? = nil, idleTimeoutSet: Bool = false) {
        self.workers = (0..<workers).map { _ in ServerCounter.makeCounters() }
        self.refusesOverLimit = refusesOverLimit
        self.tls = tls
        self.idleTimeoutSet = idleTimeoutSet
    }

    public var currentConnections: Int { current.load(ordering: .relaxed) }
    /// Set once, when the sockets are bound: the listening connections are counted from then on,
    /// in total_connections too until a `stats reset` (memcached's conn_new for each listener).
    func countListeners(_ n: Int) {
        listenerConnections.store(n, ordering: .relaxed)
        total.wrappingAdd(n, ordering: .relaxed)
    }
    /// A connection opened: the high-water mark follows.
    func connectionOpened() {
        let now = structures.wrappingAdd(1, ordering: .relaxed).newValue
        var peak = structuresPeak.load(ordering: .relaxed)
        while now > peak {
            let (exchanged, original) = structuresPeak.compareExchange(expected: peak, desired: now, ordering: .relaxed)
            if exchanged { break }
            peak = original
        }
    }
    public var totalConnections: Int { total.load(ordering: .relaxed) }
    public var rejectedConnections: Int { rejected.load(ordering: .relaxed) }
    public var connectionStructures: Int { structures.load(ordering: .relaxed) }
    public var listenDisabledCount: Int { listenDisabled.load(ordering: .relaxed) }
    public var timeInListenDisabledMicroseconds: Int { listenDisabledMicroseconds.load(ordering: .relaxed) }
    public var isAccepting: Bool { accepting.load(ordering: .relaxed) }
    public var readBufferCount: Int { readBuffers.load(ordering: .relaxed) }
    public var readBufferByteCount: Int { readBufferBytes.load(ordering: .relaxed) }

    /// Every open connection, in descriptor order (any thread).
    public func connectionFacts() -> [ConnectionFacts] { registry.snapshot() }

    /// The connection lines of `stats`, in memcached's relative order (a protocol's `stats`
    /// interleaves slices of this table with its own lines: `StatTable.slice`).
    public static let statTable = StatTable<ServerStats>(counterSets: { $0.workers }, [
        // memcached prints its curr_conns less one listener: the other listeners show.
        .gauge("curr_connections", .clients) { String($0.currentConnections + max(0, $0.listenerConnections.load(ordering: .relaxed) - 1)) },
        .gauge("total_connections", .stats) { String($0.totalConnections) },
        .gauge("rejected_connections", .stats) { $0.refusesOverLimit ? String($0.rejectedConnections) : nil },
        .gauge("connection_structures", .clients) {
            String($0.structuresPeak.load(ordering: .relaxed) + $0.listenerConnections.load(ordering: .relaxed))
        },
        .gauge("read_buf_count", .memory) { String($0.readBufferCount) },
        .gauge("read_buf_bytes", .memory) { String($0.readBufferByteCount) },
        // Buffers go back to the allocator when a connection closes: none are kept free.
        .gauge("read_buf_bytes_free", .memory) { _ in "0" },
        .gauge("read_buf_oom", .memory) { String($0.readBufferOOM.load(ordering: .relaxed)) },
        .counter(ServerCounter.bytesRead),
        .counter(ServerCounter.bytesWritten),
        .gauge("accepting_conns", .stats) { $0.isAccepting ? "1" : "0" },
        .gauge("listen_disabled_num", .stats) { String($0.listenDisabledCount) },
        .gauge("time_in_listen_disabled_us", .stats) { String($0.timeInListenDisabledMicroseconds) },
        .counter(ServerCounter.connYields),
        .counter(ServerCounter.tlsNewSessions) { $0.tls?.settings.sessionCache == true },
        .counter(ServerCounter.tlsHandshakeErrors) { $0.tls != nil },
        .gauge("time_since_server_cert_refresh", .stats) { $0.tls.map { String($0.secondsSinceRefresh) } },
        .counter(ServerCounter.idleKicks) { $0.idleTimeoutSet },
        .counter(ServerCounter.outputStalls),
        .counter(ServerCounter.parkedInputPauses),
    ])

    public func reset() {
        for w in workers { w.resetAll() }
        total.store(0, ordering: .relaxed)
        rejected.store(0, ordering: .relaxed)
        listenDisabled.store(0, ordering: .relaxed)
        listenDisabledMicroseconds.store(0, ordering: .relaxed)
        readBufferOOM.store(0, ordering: .relaxed)
    }
}
