// A worker thread: one libevent event_base (no locking: only this thread touches it), the
// connections handed to it, and a notify pipe through which the listener passes new sockets
// (memcached's dispatch_conn_new / thread_libevent_process) and other threads wake parked
// connections (a producer for a blocked queue read, the journal flusher after an fsync).
import CLibevent
import Platform
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

final class Worker: @unchecked Sendable {
    // Safe to share: other threads only call `dispatch`, `wake` and `requestStop`, which go through
    // the mutex-guarded queues and the notify pipe; everything else runs on the worker's own thread.
    let index: Int
    let base: OpaquePointer
    let stats: StatCounters
    unowned let server: Server
    private let notifyRead: Int32
    private let notifyWrite: Int32
    private var notifyEvent: OpaquePointer?
    private let queueLock = PlainMutex()
    /// New sockets, the factory of the listener that accepted each, and whether it speaks TLS.
    private var queue: [(fd: Int32, factory: any ConnectionHandlerFactory, tls: Bool)] = []
    /// Connections to wake, by fd and generation (an fd number is reused after a close).
    private var wakeQueue: [(fd: Int32, generation: UInt64)] = []
    private var wakePending = false
    private var generations: UInt64 = 0
    /// The worker's own thread, so that a wake-up from it (a producer waking a reader on the
    /// same worker) skips the pipe: it is queued here and run by a libevent user event.
    private let ownerThread = Atomic<UInt>(0)
    private var localWakes: [(fd: Int32, generation: UInt64)] = []
    private var localWakeEvent: OpaquePointer?
    private var localWakePending = false
    private var stopRequested = false
    private var connections: [Int32: Connection] = [:]
    private var thread: BackgroundThread?
    private var idleEvent: OpaquePointer?
    private var datagramTransports: [DatagramTransport] = []
    /// Memory lent to one connection at a time, so that an idle connection holds none: the read
    /// buffer every read goes into (`ConnectionInput`), the iovec array of a writev, and the
    /// storage of replies until they are written (`OutputStoragePool`).
    let readBuffer: UnsafeMutableRawPointer
    static let readBufferCapacity = 16 * 1024
    /// Where the read buffer is counted (read_buf_count, read_buf_bytes); held strongly because
    /// a worker can outlive its server (`server` is unowned) and uncounts its buffer in deinit.
    private let readBufferStats: ServerStats
    let iov: UnsafeMutablePointer<iovec>
    static let iovecCapacity = 256
    let outputPool = OutputStoragePool()
    /// Where a TLS connection's small reply pieces are gathered into one record (memcached's
    /// per-thread ssl_wbuf, `ssl_wbuf_size`); nil without TLS.
    let tlsWriteBuffer: UnsafeMutableRawPointer?
    let tlsWriteBufferCapacity: Int

    init(index: Int, server: Server, stats: StatCounters) {
        self.index = index
        self.server = server
        self.stats = stats
        readBuffer = .allocate(byteCount: Self.readBufferCapacity, alignment: 8)
        readBufferStats = server.stats
        readBufferStats.readBuffers.wrappingAdd(1, ordering: .relaxed)
        readBufferStats.readBufferBytes.wrappingAdd(Self.readBufferCapacity, ordering: .relaxed)
        iov = .allocate(capacity: Self.iovecCapacity)
        tlsWriteBufferCapacity = server.tls?.settings.writeBufferSize ?? 0
        tlsWriteBuffer = server.tls == nil ? nil : .allocate(byteCount: tlsWriteBufferCapacity, alignment: 8)
        let cfg = event_config_new()
        event_config_set_flag(cfg, Int32(EVENT_BASE_FLAG_NOLOCK.rawValue))
        base = event_base_new_with_config(cfg)!
        event_config_free(cfg)
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0, "pipe failed")
        notifyRead = fds[0]
        notifyWrite = fds[1]
        _ = fcntl(notifyRead, F_SETFL, fcntl(notifyRead, F_GETFL) | O_NONBLOCK)
    }

    deinit {
        readBufferStats.readBuffers.wrappingSubtract(1, ordering: .relaxed)
        readBufferStats.readBufferBytes.wrappingSubtract(Self.readBufferCapacity, ordering: .relaxed)
        readBuffer.deallocate()
        iov.deallocate()
        tlsWriteBuffer?.deallocate()
    }

    func start() {
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        localWakeEvent = event_new(base, -1, 0, { _, _, ctx in
            Unmanaged<Worker>.fromOpaque(ctx!).takeUnretainedValue().runLocalWakes()
        }, ctx)
        notifyEvent = event_new(base, notifyRead, Int16(EV_READ | EV_PERSIST), { _, _, ctx in
            Unmanaged<Worker>.fromOpaque(ctx!).takeUnretainedValue().drainNotifications()
        }, ctx)
        event_add(notifyEvent, nil)
        for socket in server.datagramSockets {
            guard case .datagram(let factory) = server.configurations[socket.listener].handler else {
                preconditionFailure("a datagram listener needs a datagram handler factory")
            }
            let transport = DatagramTransport(socket: socket, worker: self,
                                              handler: factory.makeDatagramHandler(workerIndex: index, fd: socket.fd))
            let tctx = Unmanaged.passUnretained(transport).toOpaque()
            transport.event = event_new(base, socket.fd, Int16(EV_READ | EV_PERSIST), { _, _, ctx in
                Unmanaged<DatagramTransport>.fromOpaque(ctx!).takeUnretainedValue().drain()
            }, tctx)
            event_add(transport.event, nil)
            datagramTransports.append(transport)
        }
        if server.settings.idleTimeout > 0 {
            idleEvent = event_new(base, -1, Int16(EV_PERSIST), { _, _, ctx in
                Unmanaged<Worker>.fromOpaque(ctx!).takeUnretainedValue().kickIdleConnections()
            }, ctx)
            var second = timeval(tv_sec: 1, tv_usec: 0)
            event_add(idleEvent, &second)
        }
        thread = BackgroundThread(name: "worker") { [self] in
            self.ownerThread.store(UInt(pthread_self()), ordering: .releasing)
            event_base_dispatch(self.base)
        }
    }

    /// Listener thread: hand a new socket, the factory of its listener and whether the listener
    /// speaks TLS, to this worker.
    func dispatch(fd: Int32, factory: any ConnectionHandlerFactory, tls: Bool) {
        queueLock.withLock { queue.append((fd, factory, tls)) }
        var b: UInt8 = 0x63
        _ = write(notifyWrite, &b, 1)
    }

    /// Any thread: wake a connection (resume it if parked, else deliver its pushed output). One
    /// pipe byte per batch of wake-ups; none when the caller is this worker's own thread.
    func wake(fd: Int32, generation: UInt64) {
        if UInt(pthread_self()) == ownerThread.load(ordering: .acquiring) {
            localWakes.append((fd, generation))
            if !localWakePending {
                localWakePending = true
                event_active(localWakeEvent, 0, 0)
            }
            return
        }
        let notify = queueLock.withLock { () -> Bool in
            wakeQueue.append((fd, generation))
            if wakePending { return false }
            wakePending = true
            return true
        }
        if notify {
            var b: UInt8 = 0x77
            _ = write(notifyWrite, &b, 1)
        }
    }

    /// The waker handed to the handler of connection `fd`, generation `generation`.
    func makeWaker(fd: Int32, generation: UInt64) -> ConnectionWaker {
        ConnectionWaker { [self] in self.wake(fd: fd, generation: generation) }
    }

    /// Any thread: stop the loop and close every connection.
    func requestStop() {
        queueLock.withLock { stopRequested = true }
        var b: UInt8 = 0x71
        _ = write(notifyWrite, &b, 1)
    }

    func join() {
        thread?.join()
    }

    private func runLocalWakes() {
        localWakePending = false
        let wakes = localWakes
        localWakes.removeAll(keepingCapacity: true)
        deliver(wakes)
    }

    private func deliver(_ wakes: [(fd: Int32, generation: UInt64)]) {
        for (fd, generation) in wakes {
            if let c = connections[fd], c.generation == generation {
                withExtendedLifetime(c) { c.wake() }
            }
        }
    }

    private func drainNotifications() {
        var scratch = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        _ = withUnsafeMutableBytes(of: &scratch) { read(notifyRead, $0.baseAddress, $0.count) }
        let (fds, wakes, stop) = queueLock.withLock { () -> ([(fd: Int32, factory: any ConnectionHandlerFactory, tls: Bool)], [(fd: Int32, generation: UInt64)], Bool) in
            let q = queue
            queue.removeAll(keepingCapacity: true)
            let w = wakeQueue
            wakeQueue.removeAll(keepingCapacity: true)
            wakePending = false
            return (q, w, stopRequested)
        }
        for (fd, factory, tls) in fds { open(fd, factory: factory, tls: tls) }
        deliver(wakes)
        if stop {
            if let idleEvent {
                event_del(idleEvent)
                event_free(idleEvent)
                self.idleEvent = nil
            }
            for c in Array(connections.values) { c.close(reason: .shutdown) }
            for e in datagramTransports {
                event_del(e.event)
                event_free(e.event)
                e.event = nil
            }
            event_del(notifyEvent)
            event_free(notifyEvent)
            notifyEvent = nil
            event_del(localWakeEvent)
            event_free(localWakeEvent)
            localWakeEvent = nil
            event_base_loopbreak(base)
        }
    }

    /// `-o idle_timeout`: close connections that sent nothing for longer (memcached's idle_kicks).
    private func kickIdleConnections() {
        let now = server.clock.current
        let timeout = UInt32(clamping: server.settings.idleTimeout)
        for c in Array(connections.values) where c.isIdle(now: now, timeout: timeout) {
            stats.add(ServerCounter.idleKicks.rawValue)
            c.close(reason: .idleTimeout)
        }
    }

    private func open(_ fd: Int32, factory: any ConnectionHandlerFactory, tls: Bool) {
        var session: OpaquePointer?
        if tls {
            session = server.tls?.makeSession(fd: fd)
            if session == nil {
                // OpenSSL could not make a session (out of memory): closed as a failed accept.
                Glibc.close(fd)
                server.stats.current.wrappingSubtract(1, ordering: .relaxed)
                return
            }
        }
        generations += 1
        let c = Connection(fd: fd, worker: self, factory: factory, generation: generations, tls: session)
        server.stats.registry.add(c.record)
        let ctx = Unmanaged.passUnretained(c).toOpaque()
        c.event = event_new(base, fd, Int16(EV_READ | EV_PERSIST), connectionEventCallback, ctx)
        event_add(c.event, nil)
        connections[fd] = c
        server.stats.connectionOpened()
    }

    func connectionClosed(_ c: Connection) {
        connections[c.fd] = nil
        server.stats.registry.remove(c.record)
        server.stats.current.wrappingSubtract(1, ordering: .relaxed)
        server.stats.structures.wrappingSubtract(1, ordering: .relaxed)
        if !server.stats.accepting.load(ordering: .relaxed) {
            server.stats.closedWhileNotAccepting.store(true, ordering: .relaxed)
        }
    }
}
