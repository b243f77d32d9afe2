// The server: a listener thread that accepts on every bound address and hands each socket to the
// next worker round-robin, ticks the process clock once a second, and stops everything on
// SIGINT/SIGTERM or `stop()`. Over -c connections, the new socket gets memcached's
// "ERROR Too many open connections" and is closed.
import CLibevent
import Platform
#if canImport(Glibc)
import Glibc
#endif

public struct ServerSettings: Sendable {
    /// -l: addresses to bind (memcached: comma-separated list; empty = all interfaces).
    public var hosts: [String] = []
    /// -p
    public var port = 11211
    /// -t
    public var threads = 4
    /// -c
    public var maxConnections = 1024
    /// -b
    public var backlog = 1024
    /// `-o idle_timeout`: seconds a connection may sit without a request (0 = forever).
    public var idleTimeout = 0
    /// -s: listen on this UNIX socket instead of TCP.
    public var unixSocket: String?
    /// -a: its access mask.
    public var unixMask = 0o700
    /// -U: UDP port (0 = off, -1 = a free one).
    public var udpPort = 0
    public init() {}
}

public enum ServerError: Error, CustomStringConvertible {
    case resolve(String, String)
    case bind(String, Int, String)
    case bindUnix(String, String)

    public var description: String {
        switch self {
        case .resolve(let host, let why): "getaddrinfo(\(host)): \(why)"
        case .bind(let host, let port, let why): "failed to listen on TCP port \(port) (\(host)): \(why)"
        case .bindUnix(let path, let why): "failed to listen on UNIX socket \(path): \(why)"
        }
    }
}

public final class Server: @unchecked Sendable {
    // Safe to share: `stop()` only writes to the control pipe; the rest is touched by the thread
    // that calls `run()` (workers are created before their threads start).
    public let settings: ServerSettings
    public let stats: ServerStats
    /// Handler factories by listener: 0 is the cache port's, then one per `addListener`.
    let factories: [ConnectionHandlerFactory]
    private let tick: @Sendable () -> Void
    private var workers: [Worker] = []
    private var listenFDs: [Int32] = []
    /// UDP sockets (-U), watched by every worker.
    private(set) var udpFDs: [Int32] = []
    /// The factory index serving each of `listenFDs`.
    private var listenFactory: [Int] = []
    private var nextWorker = 0
    private let base: OpaquePointer
    private let controlRead: Int32
    private let controlWrite: Int32
    private var events: [OpaquePointer] = []

    /// `watch connevents` lines go here.
    let watch: WatchLog?

    /// `factory` serves the cache port; each of `extraFactories` gets its own port through
    /// `bind(port:listener:)` (the broker port).
    public init(settings: ServerSettings, factory: ConnectionHandlerFactory, extraFactories: [ConnectionHandlerFactory] = [],
                watch: WatchLog? = nil, tick: @escaping @Sendable () -> Void) {
        self.settings = settings
        self.watch = watch
        self.factories = [factory] + extraFactories
        self.tick = tick
        self.stats = ServerStats(workers: settings.threads)
        base = event_base_new()
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0, "pipe failed")
        controlRead = fds[0]
        controlWrite = fds[1]
    }

    /// Binds every listening socket (before `run`, so errors surface at start-up).
    public func bind() throws {
        if let path = settings.unixSocket {
            try bindUnix(path)
            return
        }
        if settings.udpPort != 0 { try bindUDP(port: settings.udpPort) }
        if settings.port == 0 { return }
        try bind(port: settings.port, listener: 0)
    }

    /// One UDP socket per address of -l (memcached's server_socket with SOCK_DGRAM).
    private func bindUDP(port requested: Int) throws {
        udpFDs += try bindEverywhere(port: requested, datagram: true)
    }

    /// Binds `port` on every `-l` address for listener `listener` (an index into the factories).
    public func bind(port requested: Int, listener: Int) throws {
        for fd in try bindEverywhere(port: requested, datagram: false) {
            listenFDs.append(fd)
            listenFactory.append(listener)
        }
    }

    /// A non-blocking socket bound (and, for TCP, listening) on every address of every -l host;
    /// port -1 asks the kernel for one (memcached's -p -1).
    private func bindEverywhere(port requested: Int, datagram: Bool) throws -> [Int32] {
        let port = requested < 0 ? 0 : requested
        let hosts = settings.hosts.isEmpty ? [nil] : settings.hosts.map { Optional($0) }
        var fds: [Int32] = []
        for host in hosts {
            var hints = addrinfo()
            hints.ai_flags = AI_PASSIVE
            hints.ai_family = AF_UNSPEC
            hints.ai_socktype = Int32(datagram ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue)
            var res: UnsafeMutablePointer<addrinfo>?
            let rc = getaddrinfo(host, String(port), &hints, &res)
            if rc != 0 { throw ServerError.resolve(host ?? "*", String(cString: gai_strerror(rc))) }
            defer { freeaddrinfo(res) }
            var ai = res
            var bound = 0
            var lastError = ""
            while let a = ai {
                defer { ai = a.pointee.ai_next }
                let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype, a.pointee.ai_protocol)
                if fd < 0 { continue }
                var one: Int32 = 1
                if !datagram { setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)) }
                if a.pointee.ai_family == AF_INET6 {
                    setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
                }
                if Glibc.bind(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) != 0
                    || (!datagram && listen(fd, Int32(settings.backlog)) != 0) {
                    lastError = String(cString: strerror(errno))
                    Glibc.close(fd)
                    continue
                }
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                fds.append(fd)
                bound += 1
            }
            if bound == 0 { throw ServerError.bind(host ?? "*", requested, (datagram ? "UDP: " : "") + lastError) }
        }
        return fds
    }

    /// memcached's server_socket_unix: a stale socket file is replaced; the mask applies to it.
    private func bindUnix(_ path: String) throws {
        var st = stat()
        if lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK { unlink(path) }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ServerError.bindUnix(path, String(cString: strerror(errno))) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            Glibc.close(fd)
            throw ServerError.bindUnix(path, "path too long")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        let old = umask(mode_t(~settings.unixMask & 0o777))
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        umask(old)
        guard rc == 0, listen(fd, Int32(settings.backlog)) == 0 else {
            let why = String(cString: strerror(errno))
            Glibc.close(fd)
            throw ServerError.bindUnix(path, why)
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        listenFDs.append(fd)
        listenFactory.append(0)
    }

    /// Runs until SIGINT, SIGTERM or `stop()`; then stops the workers and closes every connection.
    public func run() {
        for i in 0..<settings.threads {
            workers.append(Worker(index: i, server: self, factories: factories, stats: stats.workers[i]))
        }
        for w in workers { w.start() }
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        for fd in listenFDs {
            let ev = event_new(base, fd, Int16(EV_READ | EV_PERSIST), { fd, _, ctx in
                let server = Unmanaged<Server>.fromOpaque(ctx!).takeUnretainedValue()
                server.acceptAll(fd, listener: server.listenFactory[server.listenFDs.firstIndex(of: fd)!])
            }, ctx)!
            event_add(ev, nil)
            events.append(ev)
        }
        let clockEvent = event_new(base, -1, Int16(EV_PERSIST), { _, _, ctx in
            let server = Unmanaged<Server>.fromOpaque(ctx!).takeUnretainedValue()
            server.stats.now.wrappingAdd(1, ordering: .relaxed)
            server.tick()
        }, ctx)!
        var second = timeval(tv_sec: 1, tv_usec: 0)
        event_add(clockEvent, &second)
        events.append(clockEvent)
        let stopEvent: event_callback_fn = { _, _, ctx in
            let server = Unmanaged<Server>.fromOpaque(ctx!).takeUnretainedValue()
            event_base_loopbreak(server.base)
        }
        events.append(event_new(base, controlRead, Int16(EV_READ | EV_PERSIST), stopEvent, ctx)!)
        events.append(event_new(base, SIGINT, Int16(EV_SIGNAL | EV_PERSIST), stopEvent, ctx)!)
        events.append(event_new(base, SIGTERM, Int16(EV_SIGNAL | EV_PERSIST), stopEvent, ctx)!)
        for ev in events.suffix(3) { event_add(ev, nil) }

        event_base_dispatch(base)

        for ev in events { event_del(ev); event_free(ev) }
        events.removeAll()
        for fd in listenFDs { Glibc.close(fd) }
        listenFDs.removeAll()
        for w in workers { w.requestStop() }
        for w in workers { w.join() }
        for fd in udpFDs { Glibc.close(fd) }
        udpFDs.removeAll()
    }

    /// The TCP ports actually bound for `listener` (`-p -1` asks the kernel for one), with their family.
    public func boundPorts(listener: Int = 0) -> [(ipv6: Bool, port: Int)] {
        zip(listenFDs, listenFactory).filter { $0.1 == listener }.compactMap { Self.localPort($0.0) }
    }

    /// The UDP ports bound (-U).
    public var boundUDPPorts: [(ipv6: Bool, port: Int)] { udpFDs.compactMap(Self.localPort) }

    private static func localPort(_ fd: Int32) -> (ipv6: Bool, port: Int)? {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        guard rc == 0 else { return nil }
        if storage.ss_family == sa_family_t(AF_INET6) {
            let port = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_port } }
            return (true, Int(UInt16(bigEndian: port)))
        }
        let port = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_port } }
        return (false, Int(UInt16(bigEndian: port)))
    }

    /// The bound listening sockets and their addresses (`stats conns`).
    public var listeners: [(fd: Int32, address: String)] {
        listenFDs.map { ($0, socketAddress($0, peer: false)) }
    }

    /// Any thread (a `shutdown` command): make `run()` return.
    public func stop() {
        var b: UInt8 = 0x71
        _ = write(controlWrite, &b, 1)
    }

    private func acceptAll(_ listenFD: Int32, listener: Int) {
        while true {
            let fd = accept(listenFD, nil, nil)
            if fd < 0 {
                if errno == EINTR { continue }
                return
            }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            stats.total.wrappingAdd(1, ordering: .relaxed)
            if stats.current.load(ordering: .relaxed) >= settings.maxConnections {
                stats.rejected.wrappingAdd(1, ordering: .relaxed)
                let msg: StaticString = "ERROR Too many open connections\r\n"
                _ = write(fd, msg.utf8Start, msg.utf8CodeUnitCount)
                Glibc.close(fd)
                continue
            }
            stats.current.wrappingAdd(1, ordering: .relaxed)
            workers[nextWorker].dispatch(fd: fd, listener: listener)
            nextWorker = (nextWorker + 1) % workers.count
        }
    }
}
