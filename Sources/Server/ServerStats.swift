// Connection counters. Per worker: bytes read and written, yields (single writer each). Shared:
// current and total connections, changed only on accept and close, never per request.
import Platform
import Synchronization

public enum ServerCounter: Int, CaseIterable {
    case bytesRead, bytesWritten, connYields
}

public final class ServerStats: Sendable {
    public let workers: [StatCounters]
    let current = Atomic<Int>(0)
    let total = Atomic<Int>(0)
    let rejected = Atomic<Int>(0)
    let structures = Atomic<Int>(0)

    init(workers: Int) {
        self.workers = (0..<workers).map { _ in StatCounters(count: ServerCounter.allCases.count) }
    }

    public var currentConnections: Int { current.load(ordering: .relaxed) }
    public var totalConnections: Int { total.load(ordering: .relaxed) }
    public var rejectedConnections: Int { rejected.load(ordering: .relaxed) }
    public var connectionStructures: Int { structures.load(ordering: .relaxed) }

    public func sum(_ c: ServerCounter) -> UInt64 {
        workers.reduce(0) { $0 &+ $1[c.rawValue] }
    }

    public func reset() {
        for w in workers { for c in ServerCounter.allCases { w.reset(c.rawValue) } }
        total.store(0, ordering: .relaxed)
        rejected.store(0, ordering: .relaxed)
    }
}
