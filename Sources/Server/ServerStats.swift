// Connection counters. Per worker: bytes read and written, yields (single writer each). Shared:
// current and total connections, changed only on accept and close, never per request, and the
// listener's pauses when descriptors run out.
import Platform
import Synchronization

public enum ServerCounter: Int, CaseIterable {
    case bytesRead, bytesWritten, connYields, idleKicks
}

public final class ServerStats: Sendable {
    public let workers: [StatCounters]
    let current = Atomic<Int>(0)
    let total = Atomic<Int>(0)
    let rejected = Atomic<Int>(0)
    let structures = Atomic<Int>(0)
    let registry = ConnectionRegistry()
    /// Times accepting stopped because descriptors ran out (memcached's listen_disabled_num).
    let listenDisabled = Atomic<Int>(0)
    /// Microseconds spent not accepting, counted when accepting resumes.
    let listenDisabledMicroseconds = Atomic<Int>(0)
    /// Whether the listener accepts (memcached's accepting_conns).
    let accepting = Atomic<Bool>(true)
    /// Set when a connection closes while accepting is stopped: a descriptor is free again.
    let closedWhileNotAccepting = Atomic<Bool>(false)

    init(workers: Int) {
        self.workers = (0..<workers).map { _ in StatCounters(count: ServerCounter.allCases.count) }
    }

    public var currentConnections: Int { current.load(ordering: .relaxed) }
    public var totalConnections: Int { total.load(ordering: .relaxed) }
    public var rejectedConnections: Int { rejected.load(ordering: .relaxed) }
    public var connectionStructures: Int { structures.load(ordering: .relaxed) }
    public var listenDisabledCount: Int { listenDisabled.load(ordering: .relaxed) }
    public var timeInListenDisabledMicroseconds: Int { listenDisabledMicroseconds.load(ordering: .relaxed) }
    public var isAccepting: Bool { accepting.load(ordering: .relaxed) }

    /// `stats conns`: memcached's lines for every listening socket and connection.
    public func connectionLines(listeners: [(fd: Int32, address: String)], now t: UInt32) -> [(String, String)] {
        var lines: [(String, String)] = []
        for l in listeners {
            lines.append(("\(l.fd):addr", l.address))
            lines.append(("\(l.fd):state", "conn_listening"))
            lines.append(("\(l.fd):secs_since_last_cmd", "0"))
        }
        for r in registry.snapshot() {
            lines.append(("\(r.fd):addr", r.address))
            lines.append(("\(r.fd):listen_addr", r.listenAddress))
            lines.append(("\(r.fd):state", r.writing.load(ordering: .relaxed) ? "conn_mwrite" : "conn_waiting"))
            lines.append(("\(r.fd):secs_since_last_cmd", String(t &- r.lastCommand.load(ordering: .relaxed))))
        }
        return lines
    }

    public func sum(_ c: ServerCounter) -> UInt64 {
        workers.reduce(0) { $0 &+ $1[c.rawValue] }
    }

    public func reset() {
        for w in workers { for c in ServerCounter.allCases { w.reset(c.rawValue) } }
        total.store(0, ordering: .relaxed)
        rejected.store(0, ordering: .relaxed)
        listenDisabled.store(0, ordering: .relaxed)
        listenDisabledMicroseconds.store(0, ordering: .relaxed)
    }
}
