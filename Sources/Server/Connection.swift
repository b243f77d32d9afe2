// A connection: its socket, its unconsumed input, its protocol handler and its output. It lives on one
// worker for its whole life and is driven by that worker's event loop: read what is there, let
// the handler consume every complete request, answer the whole batch with one writev, and only
// then read again. A write that would block parks the connection on EV_WRITE until it drains.
// A handler may park the connection (a blocked queue read, a wait for fsync): its output is held
// and no further request is processed until the handler's waker or a timer resumes it (unless the
// handler says it is parked only for an fsync of held replies, `processesWhileParked`: then the
// requests that arrive are processed and their replies held too); reads go on meanwhile so that a
// client hanging up is seen at once. The same waker, called while the
// connection is not parked, asks the handler for pushed output (`watch` lines, pub/sub) between
// requests; while earlier output is still being written the ask waits until it has drained.
// A handler with a long reply (`.stream`) gets asked for its next piece each time the client
// has read the previous one, and no request is processed meanwhile.
// On a TLS listener the same happens through the connection's session (Connection+TLS.swift).
import CLibevent
import COpenSSL
import Platform
#if canImport(Glibc)
import Glibc
#endif

final class Connection {
    let fd: Int32
    // The worker owns its connections and outlives them: no reference counting on this hot path.
    unowned(unsafe) let worker: Worker
    let output: OutputBuffer
    let handler: ConnectionHandler
    let record: ConnectionRecord
    let generation: UInt64
    var event: OpaquePointer?
    /// The TLS session of a connection accepted on a TLS listener; nil on a plain one.
    private(set) var tls: TLSSession?
    private(set) var parked = false
    /// The waker was called and the handler has not been asked for pushed output since.
    private var pushPending = false
    /// The handler returned `.stream`: it has more output once this has been written.
    private var streaming = false
    private(set) var readPaused = false
    private var parkTimer: OpaquePointer?
    /// Unconsumed input; none while idle (ConnectionInput.swift).
    private var input = ConnectionInput()
    private(set) var writing = false
    /// Whether the event waits for the socket to be writable (else readable).
    private var armedForWrite = false
    private var closing = false
    private(set) var closed = false
    /// A parked connection stops reading once this much input waits behind the parked request.
    static let parkedInputLimit = Worker.readBufferCapacity
    // What every read uses of the server, taken once: through the worker's unowned `server`
    // each use was a strong retain and release (about nine per read, measured with callgrind).
    private let serverStats: ServerStats
    private let clock: ProcessClock
    private let readBufferLimit: Int

    init(fd: Int32, worker: Worker, factory: ConnectionHandlerFactory, generation: UInt64, tls: OpaquePointer? = nil) {
        self.fd = fd
        self.worker = worker
        self.generation = generation
        let server = worker.server
        serverStats = server.stats
        clock = server.clock
        readBufferLimit = server.settings.readBufferLimit
        let output = OutputBuffer(pool: worker.outputPool)
        self.output = output
        self.record = ConnectionRecord(fd: fd, now: server.clock.current)
        self.handler = factory.makeHandler(workerIndex: worker.index, fd: fd, output: output,
                                           waker: worker.makeWaker(fd: fd, generation: generation))
        if let tls {
            self.tls = TLSSession(ssl: tls)
            // OpenSSL's callbacks find the connection (and its worker's counters) through this.
            copenssl_set_connection(tls, Unmanaged.passUnretained(self).toOpaque())
        }
        if let observer = worker.server.observer, observer.isObserving {
            observer.connectionOpened(fd: fd, peer: record.peer)
        }
    }

    deinit {
        input.release()
    }

    /// The event loop says the socket is readable or writable (or a yield re-ran us).
    func handleEvent(_ what: Int16) {
        if closed { return }
        if let tls, !tls.established, !continueHandshake(tls) { return }
        if writing {
            guard flush() else { return }
            if closing { close(); return }
            if streaming {
                // The client read the last piece: the next one (progress, so not idle).
                streaming = false
                record.lastCommand.store(clock.current, ordering: .relaxed)
                guard complete(handler.continueStream(output: output)) else { return }
                if streaming || !output.isEmpty { return }
            }
            setWriting(false)
            // The reader caught up: what was pushed meanwhile goes out now.
            if pushPending && !parked && (!deliverPushes() || writing) { return }
        }
        if parked && handler.processesWhileParked(output: output) {
            // Parked only until the held replies may go (an fsync): later requests are processed
            // meanwhile, so that they join the next fsync instead of waiting for this one.
            if !readValue() || !readAvailable() { return }
            runHandler()
            return
        }
        if parked {
            // Only watch for a hang-up; the bytes wait until the parked request is done. Past
            // the limit the watching stops (level-triggered reads would spin) until the resume.
            if input.count >= Self.parkedInputLimit {
                event_del(event)
                readPaused = true
                worker.stats.add(ServerCounter.parkedInputPauses.rawValue)
                return
            }
            if readAvailable() { settleInput() }
            return
        }
        if !readValue() || !readAvailable() { return }
        runHandler()
    }

    /// The rest of a value announced by a command line is read straight into item memory, not
    /// into the buffer and copied (memcached's conn_nread). True when the value is complete (or
    /// none is pending) and what follows it may be read; false when more is to come or the
    /// connection closed.
    private func readValue() -> Bool {
        while input.isEmpty, let dest = handler.pendingValue() {
            let n = receive(dest.baseAddress!, dest.count)
            if n <= 0 {
                if n == 0 { close(); return false }
                if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return false }
                close()
                return false
            }
            handler.valueReceived(n)
            worker.stats.add(ServerCounter.bytesRead.rawValue, UInt64(n))
            record.lastCommand.store(clock.current, ordering: .relaxed)
            if n < dest.count { return false }
        }
        return true
    }

    /// The waker: a parked request may be finished, or pushed output may be waiting.
    func wake() {
        if closed { return }
        pushPending = true
        if parked {
            resume(timedOut: false)
        } else if !writing {
            _ = deliverPushes()
        } else if handler.pushesOverflowed() {
            close()
        }
        if let tls { settleTLS(tls) }
    }

    /// Asks the handler for pushed output and writes it; false when the connection closed.
    private func deliverPushes() -> Bool {
        pushPending = false
        return complete(handler.deliverPushes(output: output))
    }

    /// The waker or the park timer: let the handler finish the parked request.
    func resume(timedOut: Bool) {
        if closed || !parked { return }
        // A client that hung up while parked must not be handed what its wait collected: a queue
        // message written to a closed socket is lost. When the producer ran on another worker,
        // this wake-up can come before the hang-up in this worker's loop, so read what is there
        // first (the parked path's own read, which closes on end of file; the close gives the
        // handler's collected value back through `connectionClosed`).
        if input.count < Self.parkedInputLimit {
            guard readAvailable() else { return }
            settleInput()
        }
        let action = handler.resume(output: output, timedOut: timedOut)
        if case .park = action { return }
        unpark()
        if !complete(action) { return }
        // Requests that arrived while parked (after the reply is out: a handler that parks again
        // must find its held output still held).
        if !input.isEmpty && !writing { runHandler() }
        if pushPending && !parked && !writing && !closed { _ = deliverPushes() }
    }

    /// Leaves the parked state: reads watched again, the park timer gone.
    private func unpark() {
        parked = false
        record.phase.store(ConnectionPhase.waiting.rawValue, ordering: .relaxed)
        if readPaused {
            readPaused = false
            event_add(event, nil)
        }
        if let parkTimer {
            event_del(parkTimer)
            event_free(parkTimer)
            self.parkTimer = nil
        }
    }

    private func park(timeoutMs: Int) {
        parked = true
        // Already parked with a timer (a request processed while parked): the first one stands.
        guard timeoutMs >= 0, parkTimer == nil else { return }
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        parkTimer = event_new(worker.base, -1, 0, { _, _, ctx in
            let c = Unmanaged<Connection>.fromOpaque(ctx!).takeUnretainedValue()
            withExtendedLifetime(c) {
                if let t = c.parkTimer { event_free(t); c.parkTimer = nil }
                c.resume(timedOut: true)
                if let tls = c.tls { c.settleTLS(tls) }
            }
        }, ctx)
        // Saturated: a timeout of up to Int.max ms (redis 7.0.15 takes any long long) gets a
        // timer of at most `longestParkSeconds`, so no deadline libevent computes from it can
        // overflow; that long is for ever to a client.
        let seconds = min(timeoutMs / 1000, Self.longestParkSeconds)
        var tv = timeval(tv_sec: seconds, tv_usec: (timeoutMs % 1000) * 1000)
        event_add(parkTimer, &tv)
    }

    /// The longest park timer: about 68 years.
    static let longestParkSeconds = Int(Int32.max)

    /// Reads once into the free space (the worker's read buffer unless much input is held); false
    /// when the connection was closed. The caller settles the input before the worker moves on.
    private func readAvailable() -> Bool {
        let growth = input.growthBeforeRead(sharedCapacity: Worker.readBufferCapacity)
        let stats = serverStats
        let limit = readBufferLimit
        if growth > 0 && limit > 0 && stats.readBufferByteCount + growth > limit {
            // read_buf_mem_limit: this request would take the connections' read buffers past it.
            stats.readBufferOOM.wrappingAdd(1, ordering: .relaxed)
            handler.readBufferExhausted(output: output)
            _ = complete(.close)
            return false
        }
        let before = input.ownBytes
        let space = input.readSpace(shared: worker.readBuffer, sharedCapacity: Worker.readBufferCapacity)
        accountOwnBuffer(before)
        let n = receive(space.baseAddress!, space.count)
        if n > 0 {
            input.received(n)
            worker.stats.add(ServerCounter.bytesRead.rawValue, UInt64(n))
            record.lastCommand.store(clock.current, ordering: .relaxed)
            return true
        }
        if n == 0 { close(); return false }
        if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return true }
        close()
        return false
    }

    /// read(2) on a plain connection, SSL_read with read(2)'s answers on a TLS one.
    @inline(__always)
    private func receive(_ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
        if let tls { return tlsReceive(tls, buffer, count) }
        return read(fd, buffer, count)
    }

    /// Lets the handler consume the input, acts on its answer, and settles what is left into the
    /// connection's own buffer (or frees that buffer when nothing is).
    private func runHandler() {
        record.phase.store(ConnectionPhase.processing.rawValue, ordering: .relaxed)
        let (consumed, action) = handler.process(input.bytes, output: output)
        let after: ConnectionPhase = if case .park = action { .parked } else if handler.pendingValue() != nil { .readingValue } else { .waiting }
        record.phase.store(after.rawValue, ordering: .relaxed)
        input.consume(consumed)
        if case .park(let timeoutMs) = action {
            park(timeoutMs: timeoutMs)
            // The replies to the requests before the parked one go out now when the handler says
            // so (redis writes them while a blocked request waits: `SELECT 1` pipelined with a
            // BLPOP); otherwise they wait for it (the broker's durable acknowledgements).
            if handler.writesBeforeParking && !output.isEmpty && !flush() && !closed { setWriting(true) }
        } else {
            // Processed while parked (`processesWhileParked`) and done waiting: as a resume.
            if parked {
                unpark()
                record.phase.store(after.rawValue, ordering: .relaxed)
            }
            _ = complete(action)
        }
        if !closed { settleInput() }
    }

    /// Settles the input before the worker moves on (ConnectionInput.settle), counting the
    /// connection's own buffer in read_buf_count / read_buf_bytes.
    private func settleInput() {
        let before = input.ownBytes
        input.settle()
        accountOwnBuffer(before)
    }

    /// The connection's own read buffer went from `before` bytes to `input.ownBytes`.
    private func accountOwnBuffer(_ before: Int) {
        let now = input.ownBytes
        guard now != before else { return }
        let stats = serverStats
        stats.readBufferBytes.wrappingAdd(now - before, ordering: .relaxed)
        if before == 0 { stats.readBuffers.wrappingAdd(1, ordering: .relaxed) }
        if now == 0 { stats.readBuffers.wrappingSubtract(1, ordering: .relaxed) }
    }

    /// Acts on what the handler returned and writes the output; false when the connection closed.
    private func complete(_ action: HandlerAction) -> Bool {
        switch action {
        case .closeNow:
            close()
            return false
        case .close:
            closing = true
        case .yield:
            worker.stats.add(ServerCounter.connYields.rawValue)
        case .stream:
            streaming = true
        case .proceed, .park:
            break
        }
        if !output.isEmpty {
            guard flush() else {
                if !closed {
                    // Reads stop until the client has taken the replies: what it can pin is one
                    // batch (a streamed reply waits on EV_WRITE by design and is not counted).
                    if !writing { worker.stats.add(ServerCounter.outputStalls.rawValue) }
                    setWriting(true)
                }
                return !closed
            }
        } else if output.hasStorage {
            // Replies withdrawn, or none: the storage goes back to the worker all the same.
            output.compact()
        }
        if closing { close(); return false }
        // The next piece on a later turn of the loop, when the socket is writable: other
        // connections of the worker get their turn between pieces.
        if streaming {
            setWriting(true)
            return true
        }
        if case .yield = action {
            event_active(event, Int32(EV_READ), 1)
        }
        return true
    }

    /// Writes queued output; true when all of it is out. Closes on a hard error.
    private func flush() -> Bool {
        if let tls { return flushTLS(tls) }
        while !output.isEmpty {
            let n = output.fill(worker.iov, capacity: Worker.iovecCapacity)
            // One piece (a pipeline-1 reply) goes out with write(2): the kernel's writev path
            // imports the iovec array first (measured with perf against redis-server's write).
            let written = n == 1 ? write(fd, worker.iov[0].iov_base, worker.iov[0].iov_len) : writev(fd, worker.iov, Int32(n))
            if written > 0 {
                worker.stats.add(ServerCounter.bytesWritten.rawValue, UInt64(written))
                output.consume(written)
                continue
            }
            if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return false }
            if written < 0 && errno == EINTR { continue }
            close()
            return false
        }
        output.compact()
        return true
    }

    private func setWriting(_ on: Bool) {
        if closed || writing == on { return }
        writing = on
        record.writing.store(on, ordering: .relaxed)
        arm(forWrite: on)
    }

    /// Makes the event wait for the socket to be writable, or readable.
    func arm(forWrite: Bool) {
        if armedForWrite == forWrite { return }
        armedForWrite = forWrite
        event_del(event)
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        event_assign(event, worker.base, fd, Int16(forWrite ? EV_WRITE : EV_READ) | Int16(EV_PERSIST), connectionEventCallback, ctx)
        event_add(event, nil)
    }

    /// Idle past `-o idle_timeout` while waiting for a request (not while writing a reply, but
    /// while a streamed reply waits for a client that stopped reading)?
    func isIdle(now: UInt32, timeout: UInt32) -> Bool {
        (!writing || streaming) && !closed && now &- record.lastCommand.load(ordering: .relaxed) > timeout
    }

    func close(reason: ConnectionCloseReason = .normal) {
        if closed { return }
        if let observer = worker.server.observer, observer.isObserving {
            observer.connectionClosed(fd: fd, peer: record.peer, reason: reason)
        }
        closed = true
        event_del(event)
        event_free(event)
        event = nil
        if let parkTimer {
            event_del(parkTimer)
            event_free(parkTimer)
            self.parkTimer = nil
        }
        output.reset()
        if let tls {
            tls.shutdown()
            self.tls = nil
        }
        let held = input.ownBytes
        input.release()
        accountOwnBuffer(held)
        handler.connectionClosed()
        Glibc.close(fd)
        worker.connectionClosed(self)
    }
}

/// libevent's callback for every connection event; `ctx` is the unretained Connection. The
/// callback holds its own reference for the duration: a close inside drops the worker's, and the
/// connection must outlive the frames still running on it.
func connectionEventCallback(_ fd: Int32, _ what: Int16, _ ctx: UnsafeMutableRawPointer?) {
    let connection = Unmanaged<Connection>.fromOpaque(ctx!).takeUnretainedValue()
    withExtendedLifetime(connection) {
        connection.handleEvent(what)
        if let tls = connection.tls { connection.settleTLS(tls) }
    }
}
