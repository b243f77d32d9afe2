// Kestrel's verbs on the broker port, over the memcached text protocol:
//   set <queue>[/priority=N] <flags> <exptime> <bytes> [noreply]   enqueue
//   get|gets <queue>[/t=MS][/open][/close][/abort][/peek]           dequeue (gets: id as CAS)
//   delete <queue> | flush <queue> | stats
// (flush_all, version and quit are in BrokerConnection.swift; the port's command table is
// BrokerConnection+Commands.swift). The consumer state
// they change (open reads, the parked read, the fsync a reply waits for) is the connection's
// BrokerSession.
import Broker
import CacheEngine
import MemcacheProtocol
import Platform

extension BrokerConnection {
    // MARK: set

    /// Five or six tokens (BrokerConnection+Commands.swift).
    func processSet(_ input: UnsafeRawBufferPointer, _ tokens: Tokens, _ output: OutputBuffer) -> HandlerAction {
        let noreply = tokens.count == 6 && TextParser.equals(input, tokens[5], "noreply")
        let keyToken = tokens[1]
        let key = UnsafeRawBufferPointer(rebasing: input[keyToken.start..<keyToken.start + keyToken.count])
        if let topic = logTopic(Self.namePart(key)) {
            return processLogSet(topic, key, input, tokens, noreply: noreply, output)
        }
        guard let spec = QueueKey(key),
              let flags = TextParser.parseUnsigned(input, tokens[2], max: UInt64(UInt32.max)),
              let exptime = TextParser.parseInt32(input, tokens[3]),
              let length = TextParser.parseInt32(input, tokens[4]), length >= 0, length <= Int32.max - 2
        else {
            if !noreply { output.append(Reply.badFormat) }
            if let length = TextParser.parseInt32(input, tokens[4]), length >= 0 { swallowRemaining = Int(length) + 2 }
            return .proceed
        }
        let q: BrokerQueue
        switch session.openQueue(named: UnsafeRawBufferPointer(rebasing: key[0..<spec.nameLength])) {
        case .queue(let found):
            q = found
        case .none:
            if !noreply { output.append(BrokerReply.badQueueName) }
            swallowRemaining = Int(length) + 2
            return .proceed
        case .journalUnavailable:
            if !noreply { output.append(BrokerReply.journalUnavailable) }
            swallowRemaining = Int(length) + 2
            return .proceed
        }
        return beginMessage(flags: UInt32(flags), exptime: Int64(exptime), length: Int(length), noreply: noreply,
                            target: .queue(q, priority: spec.priority), output)
    }

    // MARK: get

    /// Keys one broker `get` may name: a multi-get holds one item reference per message in the
    /// output, and item refcounts are 16-bit.
    static let maxKeysPerGet = 16

    /// At least one key (BrokerConnection+Commands.swift).
    func processGet(_ input: UnsafeRawBufferPointer, _ tokens: Tokens, _ end: Int, _ output: OutputBuffer,
                    withCAS: Bool) -> HandlerAction {
        let first = tokens[1]
        if let topic = logTopic(Self.namePart(UnsafeRawBufferPointer(rebasing: input[first.start..<first.start + first.count]))) {
            return processLogGet(topic, first, input, tokens, end, output, withCAS: withCAS)
        }
        // The queues are looked up once, by the validation, and used from there: another
        // connection may delete a queue (and fill the queue limit) meanwhile, and a second lookup
        // would then find none. A queue deleted after its lookup reads as empty. At most 16
        // entries, on the stack (no allocation on the consumers' path).
        return withUnsafeTemporaryAllocation(of: (key: Token, spec: QueueKey, queue: BrokerQueue).self,
                                              capacity: Self.maxKeysPerGet) { resolved in
            var count = 0
            defer { resolved.baseAddress!.deinitialize(count: count) }
            if let error = validateGet(input, tokens, end, into: resolved, count: &count) {
                output.append(error)
                return .proceed
            }
            // Nothing below can fail: every key was checked before any message was taken.
            let single = count == 1
            for i in 0..<count {
                let (keyToken, spec, q) = resolved[i]
                let key = UnsafeRawBufferPointer(rebasing: input[keyToken.start..<keyToken.start + keyToken.count])
                if spec.close { session.confirmOpenReads(q) }
                if spec.abort { session.abortOpenReads(q) }
                guard spec.open || spec.peek || !(spec.close || spec.abort) else { continue }
                switch session.read(q, open: spec.open, peek: spec.peek, waitMs: single ? spec.timeoutMs : 0) {
                case .message(let m):
                    appendMessage(m, key: key, withCAS: withCAS, redelivery: spec.redelivery, output)
                case .empty:
                    break
                case .waiting:
                    parkedKey = Array(key)
                    parkedWithCAS = withCAS
                    parkedRedelivery = spec.redelivery
                    return .park(timeoutMs: spec.timeoutMs)
                }
            }
            output.append(Reply.end)
            return .proceed
        }
    }

    /// Checks every key of a get and looks its queue up once, into `resolved` (`count` entries
    /// initialized, whatever the outcome). The error line for a get that must not run (a bad key,
    /// a blocking multi-get, too many keys, an open read past --prefetch), or nil.
    private func validateGet(_ input: UnsafeRawBufferPointer, _ tokens: Tokens, _ end: Int,
                             into resolved: UnsafeMutableBufferPointer<(key: Token, spec: QueueKey, queue: BrokerQueue)>,
                             count: inout Int) -> StaticString? {
        // Opens this request asks for, per queue: at most 16 entries, on the stack.
        withUnsafeTemporaryAllocation(of: (queue: ObjectIdentifier, opens: Int).self, capacity: Self.maxKeysPerGet) { asked in
            var askedCount = 0
            func slot(_ id: ObjectIdentifier) -> Int {
                for i in 0..<askedCount where asked[i].queue == id { return i }
                asked[askedCount] = (id, 0)
                askedCount += 1
                return askedCount - 1
            }
            var next: Token? = tokens[1]
            let single = TextParser.nextToken(input, from: tokens[1].start + tokens[1].count, end: end) == nil
            while let keyToken = next {
                next = TextParser.nextToken(input, from: keyToken.start + keyToken.count, end: end)
                if count >= Self.maxKeysPerGet { return BrokerReply.tooManyQueueKeys }
                let key = UnsafeRawBufferPointer(rebasing: input[keyToken.start..<keyToken.start + keyToken.count])
                guard keyToken.count <= 250, let spec = QueueKey(key),
                      let q = session.queue(named: UnsafeRawBufferPointer(rebasing: key[0..<spec.nameLength])) else {
                    return Reply.badFormat
                }
                (resolved.baseAddress! + count).initialize(to: (keyToken, spec, q))
                count += 1
                if spec.timeoutMs >= 0 && !single { return BrokerReply.blockingMultiGet }
                guard spec.open else { continue }
                let i = slot(ObjectIdentifier(q))
                // /close or /abort first ends every open read of this connection on the queue,
                // including those opened earlier in this request.
                let closing = spec.close || spec.abort
                if closing { asked[i].opens = 0 }
                guard session.hasRoomToOpen(q, pending: asked[i].opens, afterClosing: closing) else {
                    return BrokerReply.prefetchFull
                }
                asked[i].opens += 1
            }
            return nil
        }
    }

    /// "VALUE <key> <flags> <bytes>[ <id>]" (memcached's line, which pymemcache, python-memcached
    /// and Cache::Memcached::Fast parse strictly), then, only when the key asked for it with
    /// `/redelivery`, "[ redelivered=N][ deaths=N reason=R]"; and the body straight from slab
    /// memory, the message's item reference going with the output.
    func appendMessage(_ m: Message, key: UnsafeRawBufferPointer, withCAS: Bool, redelivery: Bool, _ output: OutputBuffer) {
        output.append(Reply.value)
        output.append(key)
        output.append(byte: 0x20)
        output.append(decimal: UInt64(m.item.clientFlags))
        output.append(byte: 0x20)
        output.append(decimal: UInt64(m.item.valueLength))
        if withCAS {
            output.append(byte: 0x20)
            output.append(decimal: m.id)
        }
        if redelivery {
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
        engine.appendValue(of: m.item, to: output)
        output.append(Reply.crlf)
    }

    /// A key's name: the bytes before its first `/`.
    static func namePart(_ key: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var i = 0
        while i < key.count && key[i] != UInt8(ascii: "/") { i += 1 }
        return UnsafeRawBufferPointer(rebasing: key[0..<i])
    }

    // MARK: delete, flush, stats

    func processDelete(_ input: UnsafeRawBufferPointer, _ tokens: Tokens, _ output: OutputBuffer) -> HandlerAction {
        guard tokens.count == 2 || (tokens.count == 3 && TextParser.equals(input, tokens[2], "noreply")) else {
            output.append(Reply.deleteUsage)
            return .proceed
        }
        let name = String(decoding: UnsafeRawBufferPointer(rebasing: input[tokens[1].start..<tokens[1].start + tokens[1].count]), as: UTF8.self)
        // A topic and a queue never share a name: whichever it is goes (a topic a Redis stream
        // reads goes with the stream's key).
        let outcome: LogDeletion = session.deleteQueue(name) ? .deleted : broker.deleteLog(name)
        if tokens.count == 2 {
            switch outcome {
            case .deleted: output.append(Reply.deleted)
            case .notFound: output.append(Reply.notFound)
            case .readByStream: output.append(LogReply.readByStream)
            }
        }
        return .proceed
    }

    /// `flush <queue>`.
    func processFlush(_ input: UnsafeRawBufferPointer, _ tokens: Tokens, _ output: OutputBuffer) -> HandlerAction {
        let name = String(decoding: UnsafeRawBufferPointer(rebasing: input[tokens[1].start..<tokens[1].start + tokens[1].count]), as: UTF8.self)
        _ = broker.flushQueue(name)
        output.append(Reply.end)
        return .proceed
    }

    /// `stats` or `stats settings`.
    func processStats(_ input: UnsafeRawBufferPointer, _ tokens: Tokens, _ output: OutputBuffer) -> HandlerAction {
        let lines: [(String, String)]
        if tokens.count == 1 {
            lines = service.sources.general() + broker.statsLines()
        } else if TextParser.equals(input, tokens[1], "settings") {
            lines = service.sources.settings()
        } else if TextParser.equals(input, tokens[1], "logs") {
            lines = logStatsLines()
        } else {
            output.append(Reply.error)
            return .proceed
        }
        // Piece by piece: no line string is built (and allocated) per stat.
        for (k, v) in lines {
            output.append("STAT " as StaticString)
            output.append(k)
            output.append(byte: 0x20)
            output.append(v)
            output.append(Reply.crlf)
        }
        output.append(Reply.end)
        return .proceed
    }
}
