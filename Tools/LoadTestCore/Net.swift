// Loopback socket helpers: addresses, connecting, free ports.
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

public enum Net {
    /// The IPv4 address (network byte order) of a dotted quad or "localhost"; no DNS.
    public static func ipv4Address(_ host: String) -> in_addr? {
        let h = host == "localhost" ? "127.0.0.1" : host
        var addr = in_addr()
        return inet_pton(AF_INET, h, &addr) == 1 ? addr : nil
    }

    static func sockaddr(_ addr: in_addr, _ port: UInt16) -> sockaddr_in {
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        sa.sin_addr = addr
        return sa
    }

    /// A connected TCP socket (blocking connect, then non-blocking if asked), or errno.
    public static func connect(host: String, port: UInt16, nonBlocking: Bool, noDelay: Bool = true) -> Result<Int32, SocketError> {
        guard let addr = ipv4Address(host) else { return .failure(SocketError(what: "bad address \(host)", code: EINVAL)) }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(SocketError(what: "socket", code: errno)) }
        var sa = sockaddr(addr, port)
        let rc = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if rc != 0 {
            let e = errno
            close(fd)
            return .failure(SocketError(what: "connect to \(host):\(port)", code: e))
        }
        if noDelay {
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        if nonBlocking {
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        }
        return .success(fd)
    }

    /// True if a TCP connection to 127.0.0.1:port succeeds right now.
    public static func canConnect(port: UInt16) -> Bool {
        switch connect(host: "127.0.0.1", port: port, nonBlocking: false, noDelay: false) {
        case .success(let fd): close(fd); return true
        case .failure: return false
        }
    }

    private static let handedOut = Mutex(Set<UInt16>())

    /// A loopback port that was free a moment ago (bind to port 0), never the same one twice in
    /// this process.
    public static func freePort() throws -> UInt16 {
        for _ in 0..<64 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw SocketError(what: "socket", code: errno) }
            defer { close(fd) }
            var sa = sockaddr(ipv4Address("127.0.0.1")!, 0)
            let rc = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard rc == 0 else { throw SocketError(what: "bind 127.0.0.1:0", code: errno) }
            var bound = sockaddr_in()
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &bound) {
                $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
            }
            let port = UInt16(bigEndian: bound.sin_port)
            if port != 0 && handedOut.withLock({ $0.insert(port).inserted }) { return port }
        }
        throw SocketError(what: "no fresh free loopback port", code: EADDRINUSE)
    }
}

public struct SocketError: Error, CustomStringConvertible, Sendable {
    public let what: String
    public let code: Int32
    public var description: String { "\(what): \(String(cString: strerror(code)))" }
}
