// Every open connection's facts, readable from any thread: a protocol's connection listing
// (`stats conns`) is answered on one worker about connections that live on others. Records are
// added and removed (rare) under a mutex; the facts that change per request are single-writer
// atomics in the record.
import Platform
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

final class ConnectionRecord: Sendable {
    let fd: Int32
    let peer: SocketAddress
    /// The listener's end.
    let local: SocketAddress
    /// Server seconds (ProcessClock) of the last request.
    let lastCommand: Atomic<UInt32>
    let writing = Atomic<Bool>(false)
    /// `ConnectionPhase` raw value, written by the connection's worker only.
    let phase = Atomic<UInt8>(ConnectionPhase.fresh.rawValue)

    init(fd: Int32, now: UInt32) {
        self.fd = fd
        self.peer = SocketAddress(socket: fd, peer: true)
        self.local = SocketAddress(socket: fd, peer: false)
        self.lastCommand = Atomic(now)
    }

    var facts: ConnectionFacts {
        ConnectionFacts(fd: fd, peer: peer, local: local, isWriting: writing.load(ordering: .relaxed),
                        lastRequest: lastCommand.load(ordering: .relaxed),
                        phase: ConnectionPhase(rawValue: phase.load(ordering: .relaxed)) ?? .fresh)
    }
}

final class ConnectionRegistry: @unchecked Sendable {
    // Safe to share: `records` is read and written with `mutex` held.
    private let mutex = PlainMutex()
    private var records: [Int32: ConnectionRecord] = [:]

    func add(_ r: ConnectionRecord) { mutex.withLock { records[r.fd] = r } }
    /// Only `r` itself: its descriptor is closed before this runs, so another worker may have
    /// accepted a connection on the same number and registered it already (that one was lost
    /// from `stats conns`: CommandLineTests' idle_timeout case, under load).
    func remove(_ r: ConnectionRecord) { mutex.withLock { if records[r.fd] === r { records[r.fd] = nil } } }
    func snapshot() -> [ConnectionFacts] { mutex.withLock { records.values.sorted { $0.fd < $1.fd }.map(\.facts) } }
}

