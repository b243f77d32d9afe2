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
        self.peer = socketAddress(fd, peer: true)
        self.local = socketAddress(fd, peer: false)
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
    func remove(_ fd: Int32) { mutex.withLock { records[fd] = nil } }
    func snapshot() -> [ConnectionFacts] { mutex.withLock { records.values.sorted { $0.fd < $1.fd }.map(\.facts) } }
}

/// The address of a socket's peer (or its own).
func socketAddress(_ fd: Int32, peer: Bool) -> SocketAddress {
    var storage = sockaddr_storage()
    var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let rc = withUnsafeMutablePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            peer ? getpeername(fd, $0, &len) : getsockname(fd, $0, &len)
        }
    }
    guard rc == 0 else { return .unknown }
    if storage.ss_family == sa_family_t(AF_UNIX) {
        let path = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_un.self, capacity: 1) { un in
                withUnsafeBytes(of: un.pointee.sun_path) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            }
        }
        return .unix(path: path)
    }
    var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
    var port = [CChar](repeating: 0, count: Int(NI_MAXSERV))
    let ok = withUnsafePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            getnameinfo($0, len, &host, socklen_t(host.count), &port, socklen_t(port.count), NI_NUMERICHOST | NI_NUMERICSERV)
        }
    }
    guard ok == 0 else { return .unknown }
    let h = String(cString: host)
    let p = Int(String(cString: port)) ?? 0
    return storage.ss_family == sa_family_t(AF_INET6) ? .ipv6(host: h, port: p) : .ipv4(host: h, port: p)
}
