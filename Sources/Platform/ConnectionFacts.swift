// What the server tells the protocols about connections, in no protocol's words: the facts behind
// memcached's `stats conns` and `watch connevents`, and tomorrow Redis's CLIENT LIST. The server
// gathers them; each protocol module renders them its own way.

#if canImport(Glibc)
import Glibc
#endif

/// Where one end of a socket is.
public enum SocketAddress: Sendable, Equatable {
    case ipv4(host: String, port: Int)
    case ipv6(host: String, port: Int)
    case unix(path: String)
    /// The socket could not be asked (it closed meanwhile).
    case unknown
}

/// What a connection is doing, as a listing shows it.
public enum ConnectionPhase: UInt8, Sendable {
    /// Accepted, no request yet.
    case fresh
    /// Nothing to do: waiting for the client's next bytes.
    case waiting
    /// Its handler is running its requests.
    case processing
    /// A value announced by a request is being read into item memory.
    case readingValue
    /// A reply is being written and the client has not read it all.
    case writing
    /// Its handler waits for a producer (a blocking read).
    case parked
}

/// One open connection, as another thread may read it.
public struct ConnectionFacts: Sendable {
    public let fd: Int32
    public let peer: SocketAddress
    /// The listener's end.
    public let local: SocketAddress
    /// A reply is being written and the client has not read it all.
    public let isWriting: Bool
    /// Server seconds (`ProcessClock.current`) of the connection's last request.
    public let lastRequest: UInt32
    public let phase: ConnectionPhase

    public init(fd: Int32, peer: SocketAddress, local: SocketAddress, isWriting: Bool, lastRequest: UInt32,
                phase: ConnectionPhase = .fresh) {
        self.phase = isWriting ? .writing : phase
        self.fd = fd
        self.peer = peer
        self.local = local
        self.isWriting = isWriting
        self.lastRequest = lastRequest
    }
}

/// A datagram socket, served by every worker.
public struct DatagramSocketFacts: Sendable {
    public let fd: Int32
    /// Its bound address.
    public let local: SocketAddress
    /// Server seconds of the last datagram read on it (of its binding before the first).
    public let lastRequest: UInt32

    public init(fd: Int32, local: SocketAddress, lastRequest: UInt32) {
        self.fd = fd
        self.local = local
        self.lastRequest = lastRequest
    }
}

/// Every listening socket (stream and datagram) and open connection at one moment.
public struct ConnectionsSnapshot: Sendable {
    public let listeners: [(fd: Int32, address: SocketAddress)]
    /// Server seconds when the listeners were bound (they take no requests of their own).
    public let listenersBound: UInt32
    public let datagramSockets: [DatagramSocketFacts]
    /// In descriptor order.
    public let connections: [ConnectionFacts]
    /// Server seconds when the snapshot was taken.
    public let now: UInt32

    public init(listeners: [(fd: Int32, address: SocketAddress)], listenersBound: UInt32 = 0,
                datagramSockets: [DatagramSocketFacts] = [], connections: [ConnectionFacts], now: UInt32) {
        self.listeners = listeners
        self.listenersBound = listenersBound
        self.datagramSockets = datagramSockets
        self.connections = connections
        self.now = now
    }

    public static let empty = ConnectionsSnapshot(listeners: [], connections: [], now: 0)
}

/// Why the server closed a connection.
public enum ConnectionCloseReason: Sendable {
    /// The client closed it, or a protocol asked for the close, or a socket error.
    case normal
    /// Idle past the idle timeout.
    case idleTimeout
    /// The server is stopping.
    case shutdown
}

/// Told of every connection opened and closed on the listeners it is given to (memcached's
/// `watch connevents`). Called on the connection's worker; `isObserving` is checked first, so an
/// observer nobody listens to costs one call per connection.
public protocol ConnectionObserver: Sendable {
    var isObserving: Bool { get }
    func connectionOpened(fd: Int32, peer: SocketAddress)
    func connectionClosed(fd: Int32, peer: SocketAddress, reason: ConnectionCloseReason)
}

extension SocketAddress {
    /// The address of a socket's peer (or its own), `.unknown` when the socket cannot say.
    public init(socket fd: Int32, peer: Bool) {
        self = Self.of(fd, peer: peer)
    }

    /// "host:port" as redis formats a client's address ("[host]:port" for IPv6, "path:0" for a
    /// UNIX socket).
    public var redisFormat: String {
        switch self {
        case .ipv4(let host, let port): "\(host):\(port)"
        case .ipv6(let host, let port): "[\(host)]:\(port)"
        case .unix(let path): "\(path):0"
        case .unknown: "?:0"
        }
    }
}

private extension SocketAddress {
static func of(_ fd: Int32, peer: Bool) -> SocketAddress {
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
}
