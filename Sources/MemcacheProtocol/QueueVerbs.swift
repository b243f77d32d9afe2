// One broker-port connection: Kestrel's verbs over the memcached text protocol.
//   set <queue>[/priority=N] <flags> <exptime> <bytes> [noreply]   enqueue
//   get|gets <queue>[/t=MS][/open][/close][/abort][/peek]           dequeue (gets: id as CAS)
//   delete <queue> | flush <queue> | flush_all | stats | version | quit
// plus the RabbitMQ-model verbs of BrokerVerbs.swift. A read with /t= on an empty queue parks
// the connection (no thread waits); with --fsync=always the batch's STORED replies are held
// until the journal flusher says their records are on disk.
import Broker
import CacheEngine
import Platform

final class QueueConnection: ConnectionHandler {
    let service: QueueService
    let broker: Broker
    let engine: CacheEngine
    let settings: ProtocolSettings
    let waker: ConnectionWaker
    let consumer: UInt64

    /// A `set` or `publish` waiting for its data block.
    struct PendingMessage {
        enum Target {
            case queue(BrokerQueue, priority: UInt8)
            case exchange(String, routingKey: String, headers: [HeaderPair], priority: UInt8)
        }
        var item: Item
        var target: Target
        var expiresMs: UInt64
        var noreply: Bool
        var block = ValueBlock(terminated: true)
    }
    var pending: PendingMessage?
    var swallowRemaining = 0

    /// A blocking read in progress.
    struct ParkedRead {
        let queue: BrokerQueue
        let waiter: QueueWaiter
        let keyStart: Int
        let keyCount: Int
        let withCAS: Bool
        let open: Bool
    }
    var parked: ParkedRead?
    /// The key of the parked read, copied (the input buffer moves on).
    var parkedKey: [UInt8] = []

    /// Highest flusher ticket whose STORED is held until durable.
    var durableTicket: UInt64 = 0
    /// `quit` came while replies were held for an fsync.
    var closeWhenDurable = false

    /// Open reads of this connection, per queue.
    var openReads: [ObjectIdentifier: (queue: BrokerQueue, ids: [UInt64])] = [:]

    /// -Y applies to the broker port too.
    var auth: AsciiAuth

    /// The last queue named on this connection (saves the registry lookup and a String).
    var cachedName: [UInt8] = []
    var cachedQueue: BrokerQueue?

    init(service: QueueService, waker: ConnectionWaker) {
        self.service = service
        self.broker = service.broker
        self.engine = service.broker.engine
        self.settings = service.settings
        self.waker = waker
        self.consumer = service.broker.newConsumerID()
        self.auth = AsciiAuth(entries: service.settings.authEntries)
    }

    func connectionClosed() {
        if let p = pending {
            engine.release(p.item)
            pending = nil
        }
        if let p = parked {
            parked = nil
            if case .message(let m) = broker.collect(p.queue, p.waiter, giveUp: true) {
                broker.giveBack(p.queue, m, consumer: consumer, wasOpen: p.open)
            }
        }
        // Open reads return to their queues, counted as redelivered (RabbitMQ: consumer gone).
        for (_, entry) in openReads { requeueInOrder(entry.queue, entry.ids) }
        openReads.removeAll()
    }

    // MARK: the request loop

    func process(_ input: UnsafeRawBufferPointer, output: OutputBuffer) -> (consumed: Int, action: HandlerAction) {
        var pos = 0
        var requests = 0
        while true {
            if swallowRemaining > 0 {
                if swallow(&swallowRemaining, input, &pos) { return (pos, .proceed) }
                continue
            }
            if pending != nil {
                pos = fillPending(input, pos, output)
                if pending != nil { return (pos, heldForDisk()) }
                continue
            }
            if pos == input.count { return (pos, heldForDisk()) }
            if !auth.authenticated {
                guard let next = auth.consume(input, pos, output, counted: { _ in }) else { return (pos, .proceed) }
                if next < 0 { return (pos, .closeNow) }
                pos = next
                continue
            }
            guard let nl = TextParser.findNewline(input, from: pos) else {
                if input.count - pos > settings.maxPlainLine { return (pos, .closeNow) }
                return (pos, heldForDisk())
            }
            if requests == settings.requestsPerEvent {
                let held = heldForDisk()
                if case .park = held { return (pos, held) }
                return (pos, .yield)
            }
            requests += 1
            var end = nl
            if end > pos && input[end - 1] == 0x0d { end -= 1 }
            let start = pos
            pos = nl + 1
            let action = dispatch(input, start, end, output)
            if case .proceed = action { continue }
            return (pos, action)
        }
    }

    func resume(output: OutputBuffer, timedOut: Bool) -> HandlerAction {
        if let p = parked {
            switch broker.collect(p.queue, p.waiter, giveUp: timedOut) {
            case .waiting:
                return .park(timeoutMs: -1)
            case .message(let m):
                parked = nil
                if p.open { noteOpen(p.queue, m.id) }
                holdReadForDisk()
                parkedKey.withUnsafeBytes { appendMessage(m, key: $0, withCAS: p.withCAS, output) }
                output.append(Reply.end)
            case .nothing:
                parked = nil
                output.append(Reply.end)
            }
        }
        return heldForDisk()
    }

    /// With `--fsync=always` a read is answered once its open (or removal) record is on disk, so
    /// that a crash can neither hand the message out again unmarked nor lose the mark.
    private func holdReadForDisk() {
        guard broker.settings.fsync == .always, let flusher = broker.flusher else { return }
        durableTicket = max(durableTicket, flusher.ticket())
    }

    /// `.park` while STORED replies wait for the journal's fsync, else `.proceed` (`.close`
    /// after a `quit`).
    private func heldForDisk() -> HandlerAction {
        if durableTicket != 0, let flusher = broker.flusher {
            switch flusher.waitDurable(durableTicket, waker: waker) {
            case .waiting:
                return .park(timeoutMs: -1)
            case .failed:
                // The journal cannot be written: the held STORED replies must not go out.
                return .closeNow
            case .durable:
                durableTicket = 0
            }
        }
        return closeWhenDurable ? .close : .proceed
    }

    private func dispatch(_ input: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ output: OutputBuffer) -> HandlerAction {
        var tokens = Tokens()
        let more = TextParser.tokenize(input, start: start, end: end, into: &tokens)
        if tokens.count == 0 {
            output.append(Reply.error)
            return .proceed
        }
        let cmd = tokens[0]
        if TextParser.equals(input, cmd, "get") { return processGet(input, tokens, end, output, withCAS: false) }
        if TextParser.equals(input, cmd, "gets") { return processGet(input, tokens, end, output, withCAS: true) }
        if TextParser.equals(input, cmd, "set") { return processSet(input, tokens, more, output) }
        if TextParser.equals(input, cmd, "delete") { return processDelete(input, tokens, output) }
        if TextParser.equals(input, cmd, "flush") { return processFlush(input, tokens, output) }
        if TextParser.equals(input, cmd, "flush_all") {
            broker.flushAll()
            if !(tokens.count > 1 && TextParser.equals(input, tokens[tokens.count - 1], "noreply")) {
                output.append(Reply.ok)
            }
            return .proceed
        }
        if TextParser.equals(input, cmd, "version") {
            output.append("VERSION \(settings.version)\r\n")
            return .proceed
        }
        if TextParser.equals(input, cmd, "quit") {
            // Replies still waiting for their fsync go out first, then the connection closes.
            closeWhenDurable = true
            return durableTicket == 0 ? .close : heldForDisk()
        }
        if TextParser.equals(input, cmd, "stats") {
            if tokens.count == 1 { return processStats(output) }
            if tokens.count == 2 && TextParser.equals(input, tokens[1], "settings") {
                for (k, v) in service.sources.settings() { output.append("STAT \(k) \(v)\r\n") }
                output.append(Reply.end)
                return .proceed
            }
            output.append(Reply.error)
            return .proceed
        }
        return dispatchBrokerVerb(input, tokens, start, end, output)
    }

    // MARK: queue lookup

    /// The queue named by `name` (created on first use, as Kestrel does), or nil for a bad name
    /// or past the broker's queue limit (both answered as a bad queue name).
    func queue(_ name: UnsafeRawBufferPointer) -> BrokerQueue? {
        if let q = cachedQueue, !q.isDeleted, cachedName.count == name.count,
           cachedName.withUnsafeBytes({ memcmp($0.baseAddress!, name.baseAddress!, name.count) == 0 }) {
            return q
        }
        guard Broker.isValidName(name), let q = broker.queue(named: String(decoding: name, as: UTF8.self)) else {
            return nil
        }
        cachedName = Array(name)
        cachedQueue = q
        return q
    }

    // MARK: set

    private func processSet(_ input: UnsafeRawBufferPointer, _ tokens: Tokens, _ more: Bool, _ output: OutputBuffer) -> HandlerAction {
        guard !more, tokens.count == 5 || tokens.count == 6 else {
            output.append(Reply.error)
            return .proceed
        }
        let noreply = tokens.count == 6 && TextParser.equals(input, tokens[5], "noreply")
        let keyToken = tokens[1]
        let key = UnsafeRawBufferPointer(rebasing: input[keyToken.start..<keyToken.start + keyToken.count])
        guard let spec = QueueKey(key),
              let flags = TextParser.parseUnsigned(input, tokens[2], max: UInt64(UInt32.max)),
              let exptime = TextParser.parseInt32(input, tokens[3]),
              let length = TextParser.parseInt32(input, tokens[4]), length >= 0, length <= Int32.max - 2
        else {
            if !noreply { output.append(Reply.badFormat) }
            if let length = TextParser.parseInt32(input, tokens[4]), length >= 0 { swallowRemaining = Int(length) + 2 }
            return .proceed
        }
        guard let q = queue(UnsafeRawBufferPointer(rebasing: key[0..<spec.nameLength])) else {
            if !noreply { output.append(Reply.badQueueName) }
            swallowRemaining = Int(length) + 2
            return .proceed
        }
        return beginMessage(flags: UInt32(flags), exptime: exptime, length: Int(length), noreply: noreply,
                            target: .queue(q, priority: spec.priority), output)
    }

    /// Allocates the body and waits for the data block.
    func beginMessage(flags: UInt32, exptime: Int32, length: Int, noreply: Bool,
                      target: PendingMessage.Target, _ output: OutputBuffer) -> HandlerAction {
        let empty = UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: 8), count: 0)
        switch engine.allocate(key: empty, flags: flags, expiry: 0, valueLength: length) {
        case .item(let item):
            pending = PendingMessage(item: item, target: target, expiresMs: expiresMs(exptime), noreply: noreply)
        case .tooLarge:
            if !noreply { output.append(Reply.tooLarge) }
            swallowRemaining = length + 2
        case .outOfMemory:
            if !noreply { output.append(Reply.outOfMemory) }
            swallowRemaining = length + 2
        }
        return .proceed
    }

    /// memcached's exptime rules, in unix ms (0 = never).
    private func expiresMs(_ exptime: Int32) -> UInt64 {
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
        case .queue(let q, let priority):
            let (result, ticket) = broker.enqueue(q, item: p.item, expiresMs: p.expiresMs, priority: priority)
            switch result {
            case .stored:
                durableTicket = max(durableTicket, ticket)
                if !p.noreply { output.append(Reply.stored) }
            case .full:
                engine.release(p.item)
                if !p.noreply { output.append(Reply.notStored) }
            case .outOfMemory:
                engine.release(p.item)
                if !p.noreply { output.append(Reply.deltaOutOfMemory) }
            }
        case .exchange(let name, let routingKey, let headers, let priority):
            let (taken, ticket) = broker.publish(exchange: name, routingKey: routingKey, headers: headers,
                                                 item: p.item, expiresMs: p.expiresMs, priority: priority)
            engine.release(p.item)
            durableTicket = max(durableTicket, ticket)
            if !p.noreply {
                if let taken { output.append("ROUTED \(taken)\r\n") } else { output.append(Reply.notFound) }
            }
        }
        return pos
    }

    // MARK: get

    /// Keys one broker `get` may name: a multi-get holds one item reference per message in the
    /// output, and item refcounts are 16-bit.
    static let maxKeysPerGet = 16

    private func processGet(_ input: UnsafeRawBufferPointer, _ tokens: Tokens, _ end: Int, _ output: OutputBuffer,
                            withCAS: Bool) -> HandlerAction {
        guard tokens.count > 1 else {
            output.append(Reply.error)
            return .proceed
        }
        if let error = validateGet(input, tokens, end) {
            output.append(error)
            return .proceed
        }
        // Nothing below can fail: every key was checked before any message was taken.
        var next: Token? = tokens[1]
        let single = TextParser.nextToken(input, from: tokens[1].start + tokens[1].count, end: end) == nil
        while let keyToken = next {
            next = TextParser.nextToken(input, from: keyToken.start + keyToken.count, end: end)
            let key = UnsafeRawBufferPointer(rebasing: input[keyToken.start..<keyToken.start + keyToken.count])
            let spec = QueueKey(key)!
            let q = queue(UnsafeRawBufferPointer(rebasing: key[0..<spec.nameLength]))!
            if spec.close { confirmAll(q) }
            if spec.abort { abortAll(q) }
            guard spec.open || spec.peek || !(spec.close || spec.abort) else { continue }
            let canWait = single && spec.timeoutMs > 0 && !spec.peek
            switch broker.take(q, consumer: consumer, open: spec.open, peek: spec.peek, waitWith: canWait ? waker : nil) {
            case .message(let m):
                if spec.open { noteOpen(q, m.id) }
                if !spec.peek { holdReadForDisk() }
                appendMessage(m, key: key, withCAS: withCAS, output)
            case .empty:
                break
            case .waiting(let w):
                parked = ParkedRead(queue: q, waiter: w, keyStart: 0, keyCount: key.count, withCAS: withCAS, open: spec.open)
                parkedKey = Array(key)
                return .park(timeoutMs: spec.timeoutMs)
            }
        }
        output.append(Reply.end)
        return .proceed
    }

    /// The error line for a get that must not run (a bad key, a blocking multi-get, too many
    /// keys, an open read past --prefetch), or nil.
    private func validateGet(_ input: UnsafeRawBufferPointer, _ tokens: Tokens, _ end: Int) -> StaticString? {
        // Opens this request asks for, per queue: at most 16 entries, on the stack (no
        // allocation on the consumers' path).
        withUnsafeTemporaryAllocation(of: (queue: ObjectIdentifier, opens: Int).self, capacity: Self.maxKeysPerGet) { asked in
            var askedCount = 0
            func slot(_ id: ObjectIdentifier) -> Int {
                for i in 0..<askedCount where asked[i].queue == id { return i }
                asked[askedCount] = (id, 0)
                askedCount += 1
                return askedCount - 1
            }
            var next: Token? = tokens[1]
            var keys = 0
            let single = TextParser.nextToken(input, from: tokens[1].start + tokens[1].count, end: end) == nil
            while let keyToken = next {
                next = TextParser.nextToken(input, from: keyToken.start + keyToken.count, end: end)
                keys += 1
                if keys > Self.maxKeysPerGet { return Reply.tooManyQueueKeys }
                let key = UnsafeRawBufferPointer(rebasing: input[keyToken.start..<keyToken.start + keyToken.count])
                guard keyToken.count <= 250, let spec = QueueKey(key),
                      let q = queue(UnsafeRawBufferPointer(rebasing: key[0..<spec.nameLength])) else {
                    return Reply.badFormat
                }
                if spec.timeoutMs >= 0 && !single { return Reply.blockingMultiGet }
                guard spec.open else { continue }
                let id = ObjectIdentifier(q)
                let i = slot(id)
                // /close or /abort first ends every open read of this connection on the queue,
                // including those opened earlier in this request.
                let closing = spec.close || spec.abort
                if closing { asked[i].opens = 0 }
                if !closing && openCount(q) + asked[i].opens >= broker.settings.prefetch {
                    // Some may have timed out and gone back to the queue meanwhile.
                    let live = broker.openIDs(q, consumer: consumer)
                    openReads[id] = live.isEmpty ? nil : (q, live)
                }
                let current = closing ? 0 : openCount(q)
                if current + asked[i].opens >= broker.settings.prefetch { return Reply.prefetchFull }
                asked[i].opens += 1
            }
            return nil
        }
    }

    /// "VALUE <key> <flags> <bytes>[ <id>[ redelivered=N][ deaths=N reason=R]]" and the body
    /// straight from slab memory; the message's item reference goes with the output.
    func appendMessage(_ m: Message, key: UnsafeRawBufferPointer, withCAS: Bool, _ output: OutputBuffer) {
        output.append(Reply.value)
        output.append(key)
        output.append(byte: 0x20)
        output.append(decimal: UInt64(m.item.clientFlags))
        output.append(byte: 0x20)
        output.append(decimal: UInt64(m.item.valueLength))
        if withCAS {
            output.append(byte: 0x20)
            output.append(decimal: m.id)
            if m.redeliveries > 0 {
                output.append(" redelivered=" as StaticString)
                output.append(decimal: UInt64(m.redeliveries))
            }
            if m.deaths > 0 {
                output.append(" deaths=" as StaticString)
                output.append(decimal: UInt64(m.deaths))
                output.append(" reason=\(m.deathReason.name)")
            }
        }
        output.append(Reply.crlf)
        let n = engine.valueSegmentCount(m.item)
        for i in 0..<n {
            let seg = engine.valueSegment(m.item, i)
            output.appendExternal(UnsafeRawPointer(seg.baseAddress!), count: seg.count,
                                  reference: i == n - 1 ? m.item.raw : nil)
        }
        output.append(Reply.crlf)
    }

    // MARK: open reads of this connection

    func noteOpen(_ q: BrokerQueue, _ id: UInt64) {
        openReads[ObjectIdentifier(q), default: (q, [])].ids.append(id)
    }

    func openCount(_ q: BrokerQueue) -> Int {
        openReads[ObjectIdentifier(q)]?.ids.count ?? 0
    }

    /// Forgets `id` among this connection's open reads of `q`; false if it was not one.
    func forgetOpen(_ q: BrokerQueue, _ id: UInt64) -> Bool {
        let key = ObjectIdentifier(q)
        guard let i = openReads[key]?.ids.firstIndex(of: id) else { return false }
        openReads[key]!.ids.remove(at: i)
        if openReads[key]!.ids.isEmpty { openReads[key] = nil }
        return true
    }

    func confirmAll(_ q: BrokerQueue) {
        guard let entry = openReads.removeValue(forKey: ObjectIdentifier(q)) else { return }
        for id in entry.ids { _ = broker.confirm(q, id: id, consumer: consumer) }
    }

    func abortAll(_ q: BrokerQueue) {
        guard let entry = openReads.removeValue(forKey: ObjectIdentifier(q)) else { return }
        requeueInOrder(q, entry.ids)
    }

    /// Each returns to the head of its level: newest first, so they end up in their old order.
    @discardableResult
    func requeueInOrder(_ q: BrokerQueue, _ ids: [UInt64]) -> Int {
        var done = 0
        for id in ids.sorted(by: >) where broker.requeue(q, id: id, consumer: consumer) { done += 1 }
        return done
    }

    // MARK: delete, flush, stats

    private func processDelete(_ input: UnsafeRawBufferPointer, _ tokens: Tokens, _ output: OutputBuffer) -> HandlerAction {
        guard tokens.count == 2 || (tokens.count == 3 && TextParser.equals(input, tokens[2], "noreply")) else {
            output.append(Reply.deleteUsage)
            return .proceed
        }
        let name = String(decoding: UnsafeRawBufferPointer(rebasing: input[tokens[1].start..<tokens[1].start + tokens[1].count]), as: UTF8.self)
        let found = broker.deleteQueue(name)
        if found { openReads = openReads.filter { !$0.value.queue.isDeleted } }
        if tokens.count == 2 { output.append(found ? Reply.deleted : Reply.notFound) }
        return .proceed
    }

    private func processFlush(_ input: UnsafeRawBufferPointer, _ tokens: Tokens, _ output: OutputBuffer) -> HandlerAction {
        guard tokens.count == 2 else {
            output.append(Reply.error)
            return .proceed
        }
        let name = String(decoding: UnsafeRawBufferPointer(rebasing: input[tokens[1].start..<tokens[1].start + tokens[1].count]), as: UTF8.self)
        _ = broker.flushQueue(name)
        output.append(Reply.end)
        return .proceed
    }

    private func processStats(_ output: OutputBuffer) -> HandlerAction {
        for (k, v) in service.sources.general() + broker.statsLines() {
            output.append("STAT \(k) \(v)\r\n")
        }
        output.append(Reply.end)
        return .proceed
    }
}

/// A queue key with Kestrel's options: `name[/t=MS][/open][/close][/abort][/peek][/priority=N]`.
struct QueueKey {
    var nameLength = 0
    var timeoutMs = -1
    var open = false
    var close = false
    var abort = false
    var peek = false
    var priority: UInt8 = 0

    init?(_ key: UnsafeRawBufferPointer) {
        var i = 0
        while i < key.count && key[i] != UInt8(ascii: "/") { i += 1 }
        nameLength = i
        if nameLength == 0 { return nil }
        while i < key.count {
            i += 1
            let s = i
            while i < key.count && key[i] != UInt8(ascii: "/") { i += 1 }
            let opt = UnsafeRawBufferPointer(rebasing: key[s..<i])
            if Self.equals(opt, "open") { open = true }
            else if Self.equals(opt, "close") { close = true }
            else if Self.equals(opt, "abort") { abort = true }
            else if Self.equals(opt, "peek") { peek = true }
            else if opt.starts(with: "t=".utf8), let n = Self.number(opt.dropFirst(2)), n <= Int(Int32.max) { timeoutMs = n }
            else if opt.starts(with: "priority=".utf8), let n = Self.number(opt.dropFirst(9)), n <= 255 { priority = UInt8(n) }
            else { return nil }
        }
        if open && abort { return nil }
    }

    private static func equals(_ b: UnsafeRawBufferPointer, _ s: StaticString) -> Bool {
        b.count == s.utf8CodeUnitCount && memcmp(b.baseAddress!, s.utf8Start, b.count) == 0
    }

    private static func number(_ b: Slice<UnsafeRawBufferPointer>) -> Int? {
        guard !b.isEmpty, b.count <= 10 else { return nil }
        var v = 0
        for c in b {
            guard c >= 0x30 && c <= 0x39 else { return nil }
            v = v * 10 + Int(c - 0x30)
        }
        return v
    }
}

#if canImport(Glibc)
import Glibc
#endif
