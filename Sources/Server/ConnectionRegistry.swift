// Every open connection's public facts, readable from any thread: `stats conns` is answered on
// one worker about connections that live on others. Records are added and removed (rare) under a
// mutex; the facts that change per request are single-writer atomics in the record.
import Platform
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public final class ConnectionRecord: Sendable {
    public let fd: Int32
    /// "tcp:127.0.0.1:40312", as memcached prints it.
    public let address: String
    /// The local end, which memcached prints as listen_addr.
    public let listenAddress: String
    /// Server seconds (ServerClock) of the last request.
    let lastCommand: Atomic<UInt32>
    let writing = Atomic<Bool>(false)

    init(fd: Int32, now: UInt32) {
        self.fd = fd
        self.address = socketAddress(fd, peer: true)
        self.listenAddress = socketAddress(fd, peer: false)
        self.lastCommand = Atomic(now)
    }
}

final class ConnectionRegistry: @unchecked Sendable {
    // Safe to share: `records` is read and written with `mutex` held.
    private let mutex = PlainMutex()
    private var records: [Int32: ConnectionRecord] = [:]

    func add(_ r: ConnectionRecord) { mutex.withLock { records[r.fd] = r } }
    func remove(_ fd: Int32) { mutex.withLock { records[fd] = nil } }
    func snapshot() -> [ConnectionRecord] { mutex.withLock { records.values.sorted { $0.fd < $1.fd } } }
}

/// "rip=<address> rport=<port> transport=<tcp|local>" of a peer, as memcached's connevents print it.
func peerForLog(_ fd: Int32) -> String {
    let a = socketAddress(fd, peer: true)
    if a.hasPrefix("unix:") { return "rip=\(a.dropFirst(5)) rport=0 transport=local" }
    guard let colon = a.lastIndex(of: ":") else { return "rip=unknown rport=0 transport=tcp" }
    var host = a[a.index(after: a.firstIndex(of: ":")!)..<colon]
    if host.hasPrefix("[") { host = host.dropFirst().dropLast() }
    return "rip=\(host) rport=\(a[a.index(after: colon)...]) transport=tcp"
}

/// "tcp:HOST:PORT" ("tcp6:[HOST]:PORT", "unix:PATH") of a socket's peer (or its own address).
func socketAddress(_ fd: Int32, peer: Bool) -> String {
    var storage = sockaddr_storage()
    var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let rc = withUnsafeMutablePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            peer ? getpeername(fd, $0, &len) : getsockname(fd, $0, &len)
        }
    }
    guard rc == 0 else { return "tcp:unknown" }
    if storage.ss_family == sa_family_t(AF_UNIX) {
        let path = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_un.self, capacity: 1) { un in
                withUnsafeBytes(of: un.pointee.sun_path) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            }
        }
        return "unix:" + path
    }
    var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
    var port = [CChar](repeating: 0, count: Int(NI_MAXSERV))
    let ok = withUnsafePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            getnameinfo($0, len, &host, socklen_t(host.count), &port, socklen_t(port.count), NI_NUMERICHOST | NI_NUMERICSERV)
        }
    }
    guard ok == 0 else { return "tcp:unknown" }
    let h = String(cString: host)
    return storage.ss_family == sa_family_t(AF_INET6) ? "tcp6:[\(h)]:\(String(cString: port))" : "tcp:\(h):\(String(cString: port))"
}
