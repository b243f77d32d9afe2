// The server: a listener thread that binds every configured listener, accepts on its stream
// sockets and hands each new socket to the next worker round-robin, ticks the process clock once
// a second, and stops everything on SIGINT/SIGTERM, SIGUSR1 (memcached's graceful stop, which
// saves a warm restart with -e) or `stop()`. Datagram sockets are watched by
// every worker (DatagramTransport). Over -c connections, a new socket gets its listener's
// overload reply and is closed. When descriptors run out before -c (EMFILE, ENFILE), the one
// connection waiting is refused the same way through a spare descriptor, and accepting stops
// (memcached's accept_new_conns(false), counted in listen_disabled_num) until a connection closes
// or a second passes, instead of the accept event firing again at once, forever.
// A listener configured for TLS hands its connections a session of the server's `TLSContext`.
// What the bytes mean is the listeners' handlers' business.
import CLibevent
import Platform
#if canImport(Glibc)
import Glibc
#endif

/// A port bound by a TCP or UDP listener (`-p -1` asks the kernel for one).
public struct BoundPort: Sendable, Equatable {
    /// The listener's index in the server's `configurations`.
    public let listener: Int
    /// The listener's transport (`.tcp` or `.udp`).
    public let transport: ListenerConfig.Transport
    /// The listener's `portFileLabel`.
    public let portFileLabel: String?
    /// Whether the socket is IPv6.
    public let ipv6: Bool
    /// The port number.
    public let port: Int
}

public final class Server: @unchecked Sendable {
    // Safe to share: `stop()` only writes to the control pipe; the rest is touched by the thread
    // that calls `bind()` and `run()` (workers are created before their threads start, and read
    // only `let`s and the sockets bound before; `datagramSockets` is not changed while they run,
    // and its records' last-datagram times are atomics).
    public let settings: ServerSettings
    public let stats: ServerStats
    /// The listeners, in the order they are bound; a listener's index names it.
    public let configurations: [ListenerConfig]
    /// The process clock: ticked here once a second; connections stamp their last command with it.
    public let clock: ProcessClock
    /// Certificates and handshake rules of the listeners configured for TLS (nil: none is).
    public let tls: TLSContext?
    private var workers: [Worker] = []
    /// Stream listeners' listening sockets, in bind order.
    private var streamSockets: [ListeningSocket] = []
    /// Datagram listeners' sockets, watched by every worker.
    private(set) var datagramSockets: [DatagramSocket] = []
    /// Server seconds when `bind()` ran (a listener's age in connection listings).
    public private(set) var boundAt: UInt32 = 0
    private var nextWorker = 0
    /// Open connections at which the next is refused (maxconns_fast) or accepting pauses
    /// (`limitAdmission`; -c until it is called).
    private var admissionRefuseAt: Int
    private var admissionPauseAt: Int
    private let base: OpaquePointer
    private let controlRead: Int32
    private let controlWrite: Int32
    private var events: [OpaquePointer] = []
    /// The accept events of `streamSockets`, removed from the loop while accepting is stopped.
    private var acceptEvents: [OpaquePointer] = []
    /// Held open so that, once descriptors run out, one can be given up to accept and refuse the
    /// waiting connection (-1 while given up).
    private var spareDescriptor: Int32 = -1
    /// Checks every 10 ms whether accepting may resume (memcached's maxconns_handler).
    private var resumeEvent: OpaquePointer?
    /// When accepting stopped (CLOCK_MONOTONIC, microseconds); nil while accepting.
    private var stoppedAcceptingAt: Int?
    /// Whether `run()` returned for SIGUSR1 (memcached's graceful stop). Read by the thread
    /// that called `run()` once it has returned.
    public private(set) var stoppedGracefully = false
    /// Accepting resumes at the latest this long after it stopped, whether or not a connection
    /// closed (descriptors held by something else, such as journals, may have been freed).
    static let acceptPauseMicroseconds = 1_000_000

    /// Told of every connection opened and closed.
    let observer: (any ConnectionObserver)?

    /// A server for `listeners`, bound by `bind()` in their order; the listener thread ticks
    /// `clock` once a second.
    /// `tls` serves the listeners configured for TLS; they are plain without it.
    public init(settings: ServerSettings, listeners: [ListenerConfig], observer: (any ConnectionObserver)? = nil,
                clock: ProcessClock, tls: TLSContext? = nil) {
        self.settings = settings
        self.configurations = listeners
        self.observer = observer
        self.clock = clock
        self.tls = tls
        admissionRefuseAt = settings.maxConnections
        admissionPauseAt = settings.maxConnections
        self.stats = ServerStats(workers: settings.threads, refusesOverLimit: settings.maxConnsFast, tls: tls,
                                 idleTimeoutSet: settings.idleTimeout != 0)
        base = event_base_new()
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0, "pipe failed")
        controlRead = fds[0]
        controlWrite = fds[1]
    }

    /// Binds every listener, in order (before `run`, so errors surface at start-up).
    public func bind() throws {
        boundAt = clock.current
        for (index, config) in configurations.enumerated() {
            switch config.transport {
            case .tcp:
                for fd in try SocketBinding.bindEverywhere(hosts: config.hosts, port: config.port, datagram: false,
                                                           backlog: settings.backlog, mark: settings.socketMark) {
                    streamSockets.append(ListeningSocket(fd: fd, listener: index, config: config, server: self))
                }
            case .unix:
                let fd = try SocketBinding.bindUnix(path: config.unixPath, mask: config.unixMask, backlog: settings.backlog)
                streamSockets.append(ListeningSocket(fd: fd, listener: index, config: config, server: self))
            case .udp:
                for fd in try SocketBinding.bindEverywhere(hosts: config.hosts, port: config.port, datagram: true,
                                                           backlog: settings.backlog, mark: settings.socketMark) {
                    datagramSockets.append(DatagramSocket(fd: fd, listener: index, boundAt: clock.current))
                }
            }
        }
        stats.countListeners(streamSockets.count + datagramSockets.count * settings.threads)
    }

    /// Runs until SIGINT, SIGTERM, SIGUSR1 or `stop()`; then stops the workers and closes every connection.
    public func run() {
        for i in 0..<settings.threads {
            workers.append(Worker(index: i, server: self, stats: stats.workers[i]))
        }
        for w in workers { w.start() }
        for socket in streamSockets {
            let ev = event_new(base, socket.fd, Int16(EV_READ | EV_PERSIST), { _, _, ctx in
                let socket = Unmanaged<ListeningSocket>.fromOpaque(ctx!).takeUnretainedValue()
                socket.server.acceptAll(socket)
            }, Unmanaged.passUnretained(socket).toOpaque())!
            event_add(ev, nil)
            events.append(ev)
            acceptEvents.append(ev)
        }
        spareDescriptor = open("/dev/null", O_RDONLY | O_CLOEXEC)
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        resumeEvent = event_new(base, -1, 0, { _, _, ctx in
            Unmanaged<Server>.fromOpaque(ctx!).takeUnretainedValue().maybeResumeAccepting()
        }, ctx)
        events.append(resumeEvent!)
        let clockEvent = event_new(base, -1, Int16(EV_PERSIST), { _, _, ctx in
            let server = Unmanaged<Server>.fromOpaque(ctx!).takeUnretainedValue()
            server.clock.tick()
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
        events.append(event_new(base, SIGUSR1, Int16(EV_SIGNAL | EV_PERSIST), { _, _, ctx in
            let server = Unmanaged<Server>.fromOpaque(ctx!).takeUnretainedValue()
            server.stoppedGracefully = true
            event_base_loopbreak(server.base)
        }, ctx)!)
        for ev in events.suffix(4) { event_add(ev, nil) }

        event_base_dispatch(base)

        for ev in events { event_del(ev); event_free(ev) }
        events.removeAll()
        acceptEvents.removeAll()
        resumeEvent = nil
        if spareDescriptor >= 0 { Glibc.close(spareDescriptor) }
        spareDescriptor = -1
        for socket in streamSockets { Glibc.close(socket.fd) }
        streamSockets.removeAll()
        for w in workers { w.requestStop() }
        for w in workers { w.join() }
        for socket in datagramSockets { Glibc.close(socket.fd) }
        datagramSockets.removeAll()
    }

    /// The TCP and UDP ports bound, in listener order (a listener's addresses in bind order).
    public var boundPorts: [BoundPort] {
        var ports: [BoundPort] = []
        for (index, config) in configurations.enumerated() {
            let fds = config.transport == .udp
                ? datagramSockets.filter { $0.listener == index }.map(\.fd)
                : streamSockets.filter { $0.listener == index && config.transport == .tcp }.map(\.fd)
            for fd in fds {
                guard let (ipv6, port) = SocketBinding.localPort(fd) else { continue }
                ports.append(BoundPort(listener: index, transport: config.transport, portFileLabel: config.portFileLabel, ipv6: ipv6, port: port))
            }
        }
        return ports
    }

    /// Sockets `bind()` opened for listener `index` (stream and datagram).
    public func socketCount(listener index: Int) -> Int {
        streamSockets.filter { $0.listener == index }.count + datagramSockets.filter { $0.listener == index }.count
    }

    /// The connections admitted at once (below -c: memcached's own descriptors come out of its
    /// -c, swiftcached/Admission.swift). Set after `bind()`, before `run()`: `refuseAt` open
    /// connections refuse the next (maxconns_fast), `pauseAt` stop accepting (without it).
    public func limitAdmission(refuseAt: Int, pauseAt: Int) {
        admissionRefuseAt = refuseAt
        admissionPauseAt = pauseAt
    }

    /// The stream listeners' listening sockets and their addresses (for connection listings).
    public var listeningSockets: [(fd: Int32, address: SocketAddress)] {
        streamSockets.map { ($0.fd, SocketAddress(socket: $0.fd, peer: false)) }
    }

    /// The datagram sockets, their addresses and their last datagram (for connection listings).
    /// Any thread: the list is fixed from `bind()` until the workers have stopped.
    public var datagramSocketFacts: [DatagramSocketFacts] {
        datagramSockets.map {
            DatagramSocketFacts(fd: $0.fd, local: SocketAddress(socket: $0.fd, peer: false),
                                lastRequest: $0.lastRequest.load(ordering: .relaxed))
        }
    }

    /// Any thread (a `shutdown` command): make `run()` return.
    public func stop() {
        var b: UInt8 = 0x71
        _ = write(controlWrite, &b, 1)
    }

    private func acceptAll(_ socket: ListeningSocket) {
        while true {
            // Without a descriptor left under -c memcached's accept fails and accepting pauses
            // (with maxconns_fast too, when no descriptor is left for it to refuse with).
            if stats.current.load(ordering: .relaxed) >= admissionPauseAt {
                stopAccepting()
                return
            }
            let fd = accept(socket.fd, nil, nil)
            if fd < 0 {
                let error = errno
                if error == EINTR || error == ECONNABORTED { continue }
                if error == EMFILE || error == ENFILE { outOfDescriptors(socket) }
                return
            }
            SocketBinding.setNonBlocking(fd)
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            // A refused connection is not counted in total_connections (memcached refuses it
            // before conn_new, which counts).
            if settings.maxConnsFast && stats.current.load(ordering: .relaxed) >= admissionRefuseAt {
                stats.rejected.wrappingAdd(1, ordering: .relaxed)
                refuse(fd, socket)
                continue
            }
            stats.total.wrappingAdd(1, ordering: .relaxed)
            stats.current.wrappingAdd(1, ordering: .relaxed)
            workers[nextWorker].dispatch(fd: fd, factory: socket.factory, tls: socket.tls)
            nextWorker = (nextWorker + 1) % workers.count
        }
    }

    /// Tells a connection accepted over a limit why, and closes it. What the client sent first is
    /// read and dropped before the close: closing with unread input sends a reset, which can
    /// reach the client before it has read the reply, and then the reply is lost to it.
    private func refuse(_ fd: Int32, _ socket: ListeningSocket) {
        if !socket.overloadReply.isEmpty {
            _ = socket.overloadReply.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        }
        shutdown(fd, Int32(SHUT_WR))
        withUnsafeTemporaryAllocation(byteCount: 4096, alignment: 8) { scratch in
            for _ in 0..<4 where read(fd, scratch.baseAddress, scratch.count) > 0 {}
        }
        Glibc.close(fd)
    }

    /// accept(2) failed for want of descriptors: the waiting connection is refused through the
    /// spare descriptor (so that it is told, not left waiting), and accepting stops for a while.
    /// Linux takes the descriptor before it looks for a connection, so the accept after the one
    /// that took the last descriptor fails so even when nobody waits: then nothing is refused and
    /// accepting goes on (the accept event fires again only when someone connects).
    private func outOfDescriptors(_ socket: ListeningSocket) {
        if spareDescriptor >= 0 {
            Glibc.close(spareDescriptor)
            let fd = accept(socket.fd, nil, nil)
            let nobodyWaiting = fd < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
            if fd >= 0 {
                stats.rejected.wrappingAdd(1, ordering: .relaxed)
                SocketBinding.setNonBlocking(fd)
                refuse(fd, socket)
            }
            spareDescriptor = open("/dev/null", O_RDONLY | O_CLOEXEC)
            // Without a spare, a waiting connection would make the accept event spin: stop.
            if nobodyWaiting && spareDescriptor >= 0 { return }
        }
        stopAccepting()
    }

    /// memcached's accept_new_conns(false): every listener's accept event leaves the loop until
    /// `maybeResumeAccepting` puts it back.
    private func stopAccepting() {
        guard stoppedAcceptingAt == nil else { return }
        for ev in acceptEvents { event_del(ev) }
        stoppedAcceptingAt = Self.monotonicMicroseconds()
        stats.closedWhileNotAccepting.store(false, ordering: .relaxed)
        stats.accepting.store(false, ordering: .relaxed)
        stats.listenDisabled.wrappingAdd(1, ordering: .relaxed)
        scheduleResumeCheck()
    }

    /// Every 10 ms while not accepting: resume once a connection closed or the pause is over.
    private func maybeResumeAccepting() {
        guard let since = stoppedAcceptingAt else { return }
        let now = Self.monotonicMicroseconds()
        guard stats.closedWhileNotAccepting.load(ordering: .relaxed) || now - since >= Self.acceptPauseMicroseconds else {
            scheduleResumeCheck()
            return
        }
        stoppedAcceptingAt = nil
        stats.listenDisabledMicroseconds.wrappingAdd(now - since, ordering: .relaxed)
        stats.accepting.store(true, ordering: .relaxed)
        if spareDescriptor < 0 { spareDescriptor = open("/dev/null", O_RDONLY | O_CLOEXEC) }
        for ev in acceptEvents { event_add(ev, nil) }
    }

    private func scheduleResumeCheck() {
        var tenMs = timeval(tv_sec: 0, tv_usec: 10_000)
        event_add(resumeEvent, &tenMs)
    }

    private static func monotonicMicroseconds() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return ts.tv_sec * 1_000_000 + ts.tv_nsec / 1000
    }
}

/// A stream listener's listening socket: the libevent context of its accept event.
private final class ListeningSocket {
    let fd: Int32
    /// Index of its listener in `Server.configurations`.
    let listener: Int
    let factory: any ConnectionHandlerFactory
    let overloadReply: [UInt8]
    /// Its connections speak TLS.
    let tls: Bool
    // The server owns its listening sockets and outlives them: no reference counting on accept.
    unowned(unsafe) let server: Server

    init(fd: Int32, listener: Int, config: ListenerConfig, server: Server) {
        guard case .stream(let factory) = config.handler else {
            preconditionFailure("a stream listener needs a stream handler factory")
        }
        self.fd = fd
        self.listener = listener
        self.factory = factory
        self.tls = config.tls && config.transport == .tcp && server.tls != nil
        // A TLS client would read the plain overload reply as a broken record: it is closed
        // without a word.
        self.overloadReply = tls ? [] : config.overloadReply
        self.server = server
    }
}
