// One broker-port connection: memcached's text request loop (MemcacheProtocol's TextRequestLoop)
// with the broker's command set plugged in, Kestrel's verbs (QueueVerbs.swift) and the RabbitMQ
// model's (ExchangeVerbs.swift, AckVerbs.swift), over a BrokerSession that keeps the consumer
// state. A read with /t= on an empty queue parks the connection (no thread waits); with
// --fsync=always the batch's replies are held until the journal flusher says their records are on
// disk. A connection whose first byte is 0x80 speaks the binary protocol instead
// (BrokerConnection+Binary.swift).
import Broker
import CacheEngine
import MemcacheProtocol
import Platform

final class BrokerConnection: TextRequestLoop {
    let service: BrokerService
    let broker: Broker
    let engine: CacheEngine
    let settings: ProtocolSettings
    /// Consumer state: open reads, the parked read, the fsync the replies wait for.
    let session: BrokerSession

    /// A `set` or `publish` waiting for its data block.
    struct PendingMessage {
        enum Target {
            case queue(BrokerQueue, priority: UInt8)
            case exchange(String, routingKey: String, headers: [HeaderPair], priority: UInt8)
            /// A topic's record; its key, when `keyed`, waits in `logKey`.
            case log(LogTopic, partition: Int?, keyed: Bool)
            /// A `produce` block of `count` records (LogBatchVerbs.swift).
            case logBatch(LogTopic, partition: Int?, keyed: Bool, count: Int)
        }
        var item: Item
        var target: Target
        var expiresMs: UInt64
        var noreply: Bool
        /// Set for a binary-protocol `set`: how to answer (its value has no `\r\n`).
        var binary: BinaryStoreReply?
        var block: ValueBlock
    }
    var pending: PendingMessage?
    var swallowRemaining = 0
    /// The last name looked up as a topic (LogVerbs.swift), and a pending record's key.
    var logNames = LogNameCache()
    var logKey: [UInt8] = []
    /// A `produce` block's records, and its bytes when chunked (reused: LogBatchVerbs.swift).
    var batchRanges: [Range<Int>] = []
    var batchScratch: [UInt8] = []
    /// A topic read parked by `/timeout=` (LogVerbs.swift).
    var parkedLog: ParkedLogRead?
    /// Wakes this connection (a parked topic read's waiter).
    let waker: ConnectionWaker

    /// The key of the parked read as sent, copied (the input buffer moves on), and whether it
    /// was a `gets`.
    var parkedKey: [UInt8] = []
    var parkedWithCAS = false
    var parkedRedelivery = false
    /// Set when the parked read is a binary get.
    var parkedBinary: ParkedBinaryRead?

    /// Decided by the first byte the connection sends (0x80: binary), as on the cache port.
    var binary: Bool?

    /// `quit` came while replies were held for an fsync.
    var closeWhenDurable = false
    /// The held-reply cap was counted during the current wait for the disk.
    var heldReplyCapCounted = false

    /// Where STORED replies waiting for the disk were appended (their tokens index its segments).
    var heldOutput: OutputBuffer?
    /// The binary sets whose responses wait for the disk (`finishBinaryEnqueue`), by the reply
    /// token the session keeps for each (the index of the response's held segment).
    var heldBinary: [(token: Int, reply: BinaryStoreReply)] = []
    /// A STORED held for the disk (a held segment of its own, `OutputBuffer.beginHeld`, as a
    /// binary set's response is), and what it becomes when the disk fails
    /// (`BrokerReply.journalFailing`).
    static var heldStored: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: Reply.stored.utf8Start, count: Reply.stored.utf8CodeUnitCount)
    }
    static var heldRefusal: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: BrokerReply.journalFailing.utf8Start, count: BrokerReply.journalFailing.utf8CodeUnitCount)
    }

    /// -Y applies to the broker port too.
    var auth: AsciiAuth

    init(service: BrokerService, waker: ConnectionWaker) {
        self.service = service
        self.broker = service.broker
        self.engine = service.broker.engine
        self.settings = service.settings
        self.session = BrokerSession(broker: service.broker, waker: waker)
        self.waker = waker
        self.auth = AsciiAuth(entries: service.settings.authEntries)
    }

    func connectionClosed() {
        forgetHeldReplies()
        if let p = pending {
            engine.release(p.item)
            pending = nil
        }
        if let p = parkedLog {
            parkedLog = nil
            _ = p.waiter.cancel()
            p.topic.removeWaiter(p.waiter, partition: p.partition)
        }
        session.close()
    }

    func process(_ input: UnsafeRawBufferPointer, output: OutputBuffer) -> (consumed: Int, action: HandlerAction) {
        // Requests keep the session's group members alive (their session timeout).
        session.logHeartbeat()
        return runRequestLoop(input, output)
    }

    /// A `set` or `publish` body not all in yet: the connection reads the rest into the item.
    func pendingValue() -> UnsafeMutableRawBufferPointer? {
        guard let p = pending else { return nil }
        return p.block.destination(p.item, engine: engine)
    }

    func valueReceived(_ n: Int) { pending?.block.received(n) }

    func readBufferExhausted(output: OutputBuffer) { output.append(Reply.readBufferOutOfMemory) }

    func resume(output: OutputBuffer, timedOut: Bool) -> HandlerAction {
        if parkedLog != nil {
            if let parked = resumeLogRead(output, timedOut: timedOut) { return parked }
            return heldForDisk()
        }
        if session.isWaiting {
            switch session.resumeWait(timedOut: timedOut) {
            case .waiting:
                return .park(timeoutMs: -1)
            case .message(let m):
                if let b = parkedBinary {
                    parkedKey.withUnsafeBytes { appendBinaryMessage(m, b.header, returnsKey: b.returnsKey, key: $0, output) }
                } else {
                    parkedKey.withUnsafeBytes { appendMessage(m, key: $0, withCAS: parkedWithCAS, redelivery: parkedRedelivery, output) }
                    output.append(Reply.end)
                }
            case .nothing:
                if let b = parkedBinary {
                    parkedKey.withUnsafeBytes { binaryMiss(b.header, b.quiet, returnsKey: b.returnsKey, $0, output) }
                } else {
                    output.append(Reply.end)
                }
            }
            parkedBinary = nil
        }
        return heldForDisk()
    }

    /// `.park` while replies wait for the journal's fsync, else `.proceed` (`.close` after a `quit`).
    func heldForDisk() -> HandlerAction {
        switch session.waitDurable() {
        case .waiting:
            return .park(timeoutMs: -1)
        case .failed:
            // The journal cannot be written: the held STOREDs must not go out. Their messages are
            // taken back out of the queues and the replies become the refusal of a set that came
            // while the disk was failing (nothing kept, so a retry stores the message once); when
            // that cannot be done for all of them (a reader was handed one), or other replies
            // wait for the disk, the connection is closed instead.
            let (tokens, replyable) = session.withdrawHeldStores()
            let output = heldOutput
            defer { forgetHeldReplies() }
            guard replyable else { return .closeNow }
            for t in tokens {
                guard let output, refuseHeldReply(at: t, output) else { return .closeNow }
            }
            output?.dropEmptyTail()
            return closeWhenDurable ? .close : .proceed
        case .durable:
            // A stored setq's held response stays empty: none may be left last for the writer.
            heldOutput?.dropEmptyTail()
            forgetHeldReplies()
            return closeWhenDurable ? .close : .proceed
        }
    }

    /// The held replies are out of our hands (written, refused or the connection closing); the
    /// binary list keeps its storage, so the next fsync cycle's first held set allocates nothing.
    private func forgetHeldReplies() {
        heldOutput = nil
        heldBinary.removeAll(keepingCapacity: true)
        heldReplyCapCounted = false
    }

    /// Changes the held reply at segment `index` (the session's reply token) to the refusal of a
    /// set that came while the journal was failing: a text STORED, or a binary set's response
    /// (`refuseHeldBinary`).
    private func refuseHeldReply(at index: Int, _ output: OutputBuffer) -> Bool {
        guard binary == true else {
            return output.replaceHeld(at: index, old: Self.heldStored, with: Self.heldRefusal)
        }
        guard let h = heldBinary.first(where: { $0.token == index }) else { return false }
        return refuseHeldBinary(h.reply, at: index, output)
    }

    // MARK: the text request loop's hooks

    var readingValue: Bool { pending != nil }

    func readValue(_ input: UnsafeRawBufferPointer, at pos: Int, _ output: OutputBuffer) -> Int {
        fillPending(input, pos, output)
    }

    func awaitInput() -> HandlerAction { heldForDisk() }

    func incompleteLine(_ input: UnsafeRawBufferPointer, at pos: Int) -> HandlerAction {
        if input.count - pos > settings.maxPlainLine {
            broker.noteLineTooLong()
            return .closeNow
        }
        return heldForDisk()
    }

    /// Replies already wait for an fsync: the rest of what was read joins them (one read at
    /// most), rather than parking behind that fsync every -R requests.
    func budgetWaived(_ output: OutputBuffer) -> Bool { processesWhileParked(output: output) }

    /// Parked only for the fsync of earlier replies (no read waiting, no `quit`): later requests
    /// are processed meanwhile, their records in the next fsync, until `heldReplyLimit` bytes of
    /// replies are held (then the connection waits as any parked one, reading no further).
    func processesWhileParked(output: OutputBuffer) -> Bool {
        guard session.holdsReplies && parkedLog == nil && !session.isWaiting && !closeWhenDurable else { return false }
        // The logs' memory is past its bound: no more appends until the flusher has written.
        if broker.logs.memory.pressing { return false }
        if output.pendingBytes < Self.heldReplyLimit { return true }
        // The cap acts: counted once per wait for the disk (`broker_held_reply_cap`).
        if !heldReplyCapCounted {
            heldReplyCapCounted = true
            broker.noteHeldReplyCap()
        }
        return false
    }

    /// Reply bytes held for an fsync past which no more requests are processed while parked.
    static let heldReplyLimit = 256 * 1024

    func budgetSpent() -> HandlerAction {
        let held = heldForDisk()
        if case .park = held { return held }
        return .yield
    }

    func execute(_ line: TextLine, _ output: OutputBuffer) -> HandlerAction {
        Self.commands.run(self, line, output)
    }

    /// `flush_all [noreply]`: every queue emptied.
    func processFlushAll(_ line: TextLine, _ output: OutputBuffer) -> HandlerAction {
        broker.flushAll()
        let tokens = line.tokens
        if !(tokens.count > 1 && TextParser.equals(line.input, tokens[tokens.count - 1], "noreply")) {
            output.append(Reply.ok)
        }
        return .proceed
    }

    func processQuit() -> HandlerAction {
        // Replies still waiting for their fsync go out first, then the connection closes.
        closeWhenDurable = true
        return session.holdsReplies ? heldForDisk() : .close
    }

    // MARK: message bodies (set, publish)

    /// Allocates the body and waits for the data block.
    /// `binary`: a binary-protocol `set`, whose value has no `\r\n` and whose errors are
    /// answered even when quiet.
    @discardableResult
    func beginMessage(flags: UInt32, exptime: Int64, length: Int, noreply: Bool,
                      target: PendingMessage.Target, binary: BinaryStoreReply? = nil, _ output: OutputBuffer) -> HandlerAction {
        let empty = UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: 8), count: 0)
        let terminator = binary == nil ? 2 : 0
        switch engine.allocate(key: empty, flags: flags, expiry: 0, valueLength: length) {
        case .item(let item):
            pending = PendingMessage(item: item, target: target, expiresMs: expiresMs(exptime), noreply: noreply,
                                     binary: binary, block: ValueBlock(terminated: binary == nil))
        case .tooLarge:
            if let binary {
                binaryAllocationRefused(binary, tooLarge: true, output)
            } else if !noreply {
                output.append(Reply.tooLarge)
            }
            swallowRemaining = length + terminator
        case .outOfMemory:
            if let binary {
                binaryAllocationRefused(binary, tooLarge: false, output)
            } else if !noreply {
                output.append(Reply.outOfMemory)
            }
            swallowRemaining = length + terminator
        }
        return .proceed
    }

    /// memcached's exptime rules, in unix ms (0 = never).
    private func expiresMs(_ exptime: Int64) -> UInt64 {
        if exptime == 0 { return 0 }
        let now = broker.clockMs()
        if exptime < 0 { return max(1, now - 1) }
        if exptime > 60 * 60 * 24 * 30 { return UInt64(exptime) * 1000 }
        return now + UInt64(exptime) * 1000
    }

    private func fillPending(_ input: UnsafeRawBufferPointer, _ start: Int, _ output: OutputBuffer) -> Int {
        guard var p = pending else { return start }
        let pos = p.block.take(input, at: start, into: p.item, engine: engine)
        if !p.block.isComplete(p.item) {
            pending = p
            return pos
        }
        pending = nil
        guard p.block.terminatorValid else {
            engine.release(p.item)
            if !p.noreply { output.append(Reply.badDataChunk) }
            return pos
        }
        switch p.target {
        case .log(let topic, let partition, let keyed):
            finishLogSet(topic, partition: partition, keyed: keyed, item: p.item, noreply: p.noreply, binary: p.binary, output)
        case .logBatch(let topic, let partition, let keyed, let count):
            finishProduce(topic, partition: partition, keyed: keyed, count: count, item: p.item, noreply: p.noreply, output)
        case .queue(let q, let priority):
            // A reply waiting for the disk can be changed (heldForDisk): a text STORED, or a binary
            // set's response, quiet or not (a failed setq must answer). A text noreply has none.
            let token = p.binary != nil || !p.noreply ? output.nextSegmentIndex : nil
            let result = session.enqueue(q, item: p.item, expiresMs: p.expiresMs, priority: priority,
                                         replyToken: token, replyChangeable: true)
            if let binary = p.binary {
                if result != .stored { engine.release(p.item) }
                finishBinaryEnqueue(binary, result, token: token, output)
                return pos
            }
            switch result {
            case .stored:
                if !p.noreply {
                    if session.holdsReplies {
                        _ = output.beginHeld()
                        output.append(Reply.stored)
                        output.endHeld()
                        heldOutput = output
                    } else {
                        output.append(Reply.stored)
                    }
                }
            case .full:
                engine.release(p.item)
                if !p.noreply { output.append(Reply.notStored) }
            case .outOfMemory:
                engine.release(p.item)
                if !p.noreply { output.append(Reply.deltaOutOfMemory) }
            case .journalFailed:
                engine.release(p.item)
                if !p.noreply { output.append(BrokerReply.journalFailing) }
            }
        case .exchange(let name, let routingKey, let headers, let priority):
            let (taken, refused) = session.publish(exchange: name, routingKey: routingKey, headers: headers,
                                                   item: p.item, expiresMs: p.expiresMs, priority: priority)
            if taken != nil, let tell = service.exchangePublished { tellSubscribers(tell, exchange: name, p.item) }
            engine.release(p.item)
            if !p.noreply {
                // Refused by every queue it reached: an error, so that the producer sends it again.
                if taken == 0 && refused > 0 {
                    output.append(BrokerReply.journalFailing)
                } else if let taken {
                    output.append("ROUTED \(taken)\r\n")
                } else {
                    output.append(Reply.notFound)
                }
            }
        }
                return pos
    }

    /// The published message, whole, to `tell` (a chunked value is gathered first).
    private func tellSubscribers(_ tell: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void, exchange: String, _ item: Item) {
        var name = exchange
        name.withUTF8 { channel in
            if engine.valueSegmentCount(item) == 1 {
                tell(UnsafeRawBufferPointer(channel), UnsafeRawBufferPointer(engine.valueSegment(item, 0)))
                return
            }
            var whole: [UInt8] = []
            whole.reserveCapacity(item.valueLength)
            for i in 0..<engine.valueSegmentCount(item) { whole.append(contentsOf: UnsafeRawBufferPointer(engine.valueSegment(item, i))) }
            whole.withUnsafeBytes { tell(UnsafeRawBufferPointer(channel), $0) }
        }
    }
}
