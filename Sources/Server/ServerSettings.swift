// Server-wide settings (threads, connection limit, backlog, idle timeout) and the errors of
// binding a listener.

/// The settings every listener of a server shares.
public struct ServerSettings: Sendable {
    /// -t: worker threads.
    public var threads = 4
    /// -c: open connections over all stream listeners; more are refused with each listener's
    /// `overloadReply`.
    public var maxConnections = 1024
    /// `-o maxconns_fast` (memcached's default): a connection over -c is told and closed at once.
    /// Off (`no_maxconns_fast`), accepting stops at -c and the next connection waits in the
    /// backlog until one closes (counted in listen_disabled_num).
    public var maxConnsFast = true
    /// `-o read_buf_mem_limit`: bytes all connections' read buffers may take together (0 = no
    /// limit). A connection always has its first buffer; one that would grow past the limit is
    /// told and closed (read_buf_oom).
    public var readBufferLimit = 0
    /// The largest -c (Linux's default fs.nr_open is 1,048,576 descriptors per process).
    public static let maxConnectionsLimit = 1 << 20
    /// The largest -t.
    public static let maxThreads = 1024
    /// -b: listen(2) backlog of every stream listener.
    public var backlog = 1024
    /// `-o idle_timeout`: seconds a connection may sit without a request (0 = forever).
    public var idleTimeout = 0
    /// -Z and `-o ssl_*`: the TLS of the listeners configured for it (`ListenerConfig.tls`).
    public var tls = TLSSettings()
    /// `-o sock_cookie_id`: SO_MARK on every TCP and UDP listening socket (0 = none), for packet
    /// filters. Setting it needs CAP_NET_ADMIN; a refusal is printed and the server goes on, as
    /// memcached's perror("setsockopt").
    public var socketMark: UInt32 = 0

    // The cache port's addresses as the flags give them. The server does not read these: the
    // executable builds its `ListenerConfig` list from them (they move to the executable's
    // options when its flag handling is rewritten).

    /// -l: addresses to bind (comma-separated list; empty = all interfaces).
    public var hosts: [String] = []
    /// -p: TCP port (0 = off, -1 = a free one).
    public var port = 11211
    /// -s: listen on this UNIX socket instead of TCP and UDP.
    public var unixSocket: String?
    /// -a: its access mask.
    public var unixMask = 0o700
    /// -U: UDP port (0 = off, -1 = a free one).
    public var udpPort = 0

    /// The defaults above.
    public init() {}
}

/// Why a listener could not be bound.
public enum ServerError: Error, CustomStringConvertible {
    /// The host name did not resolve.
    case resolve(String, String)
    /// No address of the host could be bound (host, port as asked, the last error).
    case bind(String, Int, String)
    /// The UNIX socket could not be bound (path, error).
    case bindUnix(String, String)

    public var description: String {
        switch self {
        case .resolve(let host, let why): "getaddrinfo(\(host)): \(why)"
        case .bind(let host, let port, let why): "failed to listen on TCP port \(port) (\(host)): \(why)"
        case .bindUnix(let path, let why): "failed to listen on UNIX socket \(path): \(why)"
        }
    }
}
