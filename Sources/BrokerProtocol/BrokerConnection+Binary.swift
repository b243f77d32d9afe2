// memcached's binary protocol on the broker port, for the clients that speak only it (pylibmc and
// php-memcached with binary on, Dalli): a connection whose first byte is 0x80 is binary and stays
// so, as on the cache port. Frames are read and judged by MemcacheProtocol's `BinaryFrame` (the
// cache port's header check and opcode table); the broker serves the opcodes that mean something
// on queues, with the text verbs' meaning:
//   get getq getk getkq   dequeue (the key is a queue key with its slash options; the message id
//                         is the CAS, a blocking `/t=` read parks as in text); on a topic's name,
//                         a group read of one record (BrokerConnection+BinaryLogs.swift)
//   set setq              enqueue (`/priority=N` in the key; flags and exptime as in text); on a
//                         topic's name, an append
//   delete deleteq        delete the queue, or the topic of that name
//   flush flushq          flush every queue (text flush_all; a delay is ignored, as in text)
//   version noop stat quit quitq
// Every other opcode (add, replace, append, prepend, incr, decr, touch, gat, verbosity, ...) is
// answered "Unknown command" and its body skipped, the connection staying open.
import Broker
import CacheEngine
import MemcacheProtocol
import Platform

extension BrokerConnection {
    /// memcached's "Internal error" and "Temporary failure" statuses, for the journal's refusals.
    static let binaryInternalError: UInt16 = 0x84
    static let binaryTemporaryFailure: UInt16 = 0x86

    /// The opcodes the broker port runs, among those `BinaryCommandTable` declares.
    @inline(__always)
    static func servesBinary(_ c: BinaryCommand) -> Bool {
        switch c.handler {
        case .get(let touch, _): return !touch
        case .store(let mode): return mode == .set
        case .delete, .quit, .flush, .noop, .version, .stat: return true
        case .delta: return false
        }
    }

    /// The first byte decides the protocol (0x80: binary), as on the cache port. `-B ascii` (and
    /// -Y, which implies it, as in memcached) closes binary clients; text is always the broker
    /// port's own protocol, whatever `-B` says.
    func nextRequest(_ input: UnsafeRawBufferPointer, at pos: Int, _ output: OutputBuffer,
                     requests: inout Int) -> RequestStep {
        if binary == nil {
            let isBinary = input[pos] == 0x80
            if isBinary && settings.bindingProtocol == "ascii" { return .stop(consumed: pos, .closeNow) }
            binary = isBinary
        }
        guard binary! else { return .text }
        if requests == settings.requestsPerEvent {
            if !budgetWaived(output) { return .stop(consumed: pos, budgetSpent()) }
            requests = 0
        }
        let h: BinaryHeader, command: BinaryCommand, bodyStart: Int
        switch BinaryFrame.read(input, at: pos, output, serving: Self.servesBinary) {
        case .needMore:
            return .stop(consumed: pos, awaitInput())
        case .request(let header, let c, let start):
            h = header
            command = c
            bodyStart = start
        case .refused(let next, let action):
            broker.noteBinaryHeaderInvalid()
            return .stop(consumed: next, action)
        case .unknown(let next, let swallow):
            requests += 1
            swallowRemaining = swallow
            return .next(next)
        }
        requests += 1
        if case .store = command.handler {
            // The value streams into the message's item: only extras and key must be here.
            guard input.count - bodyStart >= h.extrasLength + h.keyLength else { return .stop(consumed: pos, awaitInput()) }
            return .next(binaryEnqueue(input, bodyStart, h, command, output))
        }
        // Any other served body is its extras and key, a few hundred bytes at most.
        guard input.count - bodyStart >= h.bodyLength else { return .stop(consumed: pos, awaitInput()) }
        let key = UnsafeRawBufferPointer(rebasing: input[(bodyStart + h.extrasLength)..<(bodyStart + h.extrasLength + h.keyLength)])
        let next = bodyStart + h.bodyLength
        let action: HandlerAction
        switch command.handler {
        case .get:
            action = binaryDequeue(h, command, key, output)
        case .store, .delta:
            preconditionFailure("storage opcodes are handled above; delta is not served")
        case .delete:
            // A topic and a queue never share a name: whichever it is goes, as with text `delete`.
            let name = String(decoding: key, as: UTF8.self)
            let outcome: LogDeletion = session.deleteQueue(name) ? .deleted : broker.deleteLog(name)
            switch outcome {
            case .deleted: if !command.quiet { output.appendBinaryResponse(h, BinaryStatus.ok) }
            case .notFound: output.appendBinaryError(h, BinaryStatus.keyNotFound)
            case .readByStream: binaryRefusal(h, LogReply.readByStream, output)
            }
            action = .proceed
        case .flush:
            broker.flushAll()
            if !command.quiet { output.appendBinaryResponse(h, BinaryStatus.ok) }
            action = .proceed
        case .quit:
            if !command.quiet { output.appendBinaryResponse(h, BinaryStatus.ok) }
            action = processQuit()
        case .noop:
            output.appendBinaryResponse(h, BinaryStatus.ok)
            action = .proceed
        case .version:
            let v = settings.version
            output.appendBinaryResponse(h, BinaryStatus.ok, bodyLength: v.utf8.count)
            output.append(v)
            action = .proceed
        case .stat:
            binaryStats(h, key, output)
            action = .proceed
        }
        if case .proceed = action { return .next(next) }
        return .stop(consumed: next, action)
    }

    // MARK: get (dequeue)

    /// One queue read; a blocking `/t=` read parks, answered by `resume`.
    private func binaryDequeue(_ h: BinaryHeader, _ command: BinaryCommand, _ key: UnsafeRawBufferPointer,
                               _ output: OutputBuffer) -> HandlerAction {
        if let topic = logTopic(Self.namePart(key)) { return binaryLogRead(topic, h, command, key, output) }
        guard let spec = QueueKey(key),
              let q = session.queue(named: UnsafeRawBufferPointer(rebasing: key[0..<spec.nameLength])) else {
            output.appendBinaryError(h, BinaryStatus.invalidArguments)
            return .proceed
        }
        if spec.open && !session.hasRoomToOpen(q, pending: 0, afterClosing: spec.close || spec.abort) {
            binaryError(h, BinaryStatus.invalidArguments, text: BrokerReply.prefetchFullText, output)
            return .proceed
        }
        if spec.close { session.confirmOpenReads(q) }
        if spec.abort { session.abortOpenReads(q) }
        guard spec.open || spec.peek || !(spec.close || spec.abort) else {
            binaryMiss(h, command, key, output)
            return .proceed
        }
        switch session.read(q, open: spec.open, peek: spec.peek, waitMs: spec.timeoutMs) {
        case .message(let m):
            appendBinaryMessage(m, h, returnsKey: command.returnsKey, key: key, output)
        case .empty:
            binaryMiss(h, command, key, output)
        case .waiting:
            parkedKey = Array(key)
            parkedBinary = ParkedBinaryRead(header: h, quiet: command.quiet, returnsKey: command.returnsKey)
            return .park(timeoutMs: spec.timeoutMs)
        }
        return .proceed
    }

    /// The reply to a read that found nothing: "Not found" (getk's with the key), nothing when quiet.
    func binaryMiss(_ h: BinaryHeader, _ quiet: Bool, returnsKey: Bool, _ key: UnsafeRawBufferPointer,
                    _ output: OutputBuffer) {
        if quiet { return }
        if returnsKey {
            output.appendBinaryResponse(h, BinaryStatus.keyNotFound, keyLength: key.count, bodyLength: key.count)
            output.append(key)
        } else {
            output.appendBinaryError(h, BinaryStatus.keyNotFound)
        }
    }

    private func binaryMiss(_ h: BinaryHeader, _ command: BinaryCommand, _ key: UnsafeRawBufferPointer,
                            _ output: OutputBuffer) {
        binaryMiss(h, command.quiet, returnsKey: command.returnsKey, key, output)
    }

    /// A message as a get's reply: the flags as extras, the key for getk, the message id as CAS,
    /// the body straight from slab memory (the reader's item reference goes with the output).
    func appendBinaryMessage(_ m: Message, _ h: BinaryHeader, returnsKey: Bool, key: UnsafeRawBufferPointer,
                             _ output: OutputBuffer) {
        let keyLength = returnsKey ? key.count : 0
        output.appendBinaryResponse(h, BinaryStatus.ok, keyLength: keyLength, extrasLength: 4,
                                    bodyLength: 4 + keyLength + m.item.valueLength, cas: m.id)
        output.appendBigEndian32(m.item.clientFlags)
        if returnsKey { output.append(key) }
        engine.appendValue(of: m.item, to: output)
    }

    // MARK: set (enqueue)

    /// Allocates the message's item and starts reading the value into it; returns the position
    /// after the key (the value follows, read by the pending message).
    private func binaryEnqueue(_ input: UnsafeRawBufferPointer, _ bodyStart: Int, _ h: BinaryHeader,
                               _ command: BinaryCommand, _ output: OutputBuffer) -> Int {
        let valueLength = h.bodyLength - h.extrasLength - h.keyLength
        let afterKey = bodyStart + h.extrasLength + h.keyLength
        let key = UnsafeRawBufferPointer(rebasing: input[(bodyStart + h.extrasLength)..<afterKey])
        let extras = UnsafeRawBufferPointer(rebasing: input[bodyStart..<bodyStart + 8])
        let flags = UInt32(bigEndian: extras.loadUnaligned(as: UInt32.self))
        // Unsigned, as memcached's binary protocol reads it (Dalli sends absolute times past 2^31).
        let exptime = Int64(UInt32(bigEndian: extras.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
        let reply = BinaryStoreReply(opcode: h.opcode, opaque: h.opaque, quiet: command.quiet)
        if let topic = logTopic(Self.namePart(key)) {
            binaryLogSet(topic, key, flags: flags, valueLength: valueLength, h, reply, output)
            return afterKey
        }
        guard let spec = QueueKey(key) else {
            output.appendBinaryError(h, BinaryStatus.invalidArguments)
            swallowRemaining = valueLength
            return afterKey
        }
        switch session.openQueue(named: UnsafeRawBufferPointer(rebasing: key[0..<spec.nameLength])) {
        case .queue(let q):
            beginMessage(flags: flags, exptime: exptime, length: valueLength, noreply: command.quiet,
                         target: .queue(q, priority: spec.priority), binary: reply, output)
        case .none:
            output.appendBinaryError(h, BinaryStatus.invalidArguments)
            swallowRemaining = valueLength
        case .journalUnavailable:
            binaryError(h, Self.binaryInternalError, text: BrokerReply.journalUnavailableText, output)
            swallowRemaining = valueLength
        }
        return afterKey
    }

    /// How a binary `set` ends once its value is in (or could not be kept). A response waiting
    /// for the disk (`--fsync=always`) is a segment of its own, empty for a setq, which
    /// `refuseHeldBinary` changes if that fsync fails for good.
    func finishBinaryEnqueue(_ reply: BinaryStoreReply, _ result: EnqueueResult, token: Int?, _ output: OutputBuffer) {
        guard result == .stored && session.holdsReplies else {
            Self.appendBinaryEnqueueReply(reply, result, output)
            return
        }
        // A binary set always has a token (`fillPending`); a held response must be findable by it.
        guard let token, output.beginHeld() == token else {
            preconditionFailure("a held binary response without its session's reply token")
        }
        heldBinary.append((token, reply))
        Self.appendBinaryEnqueueReply(reply, result, output)
        output.endHeld()
        heldOutput = output
    }

    /// A held binary set's response (`finishBinaryEnqueue`) becomes the one a set gets when the
    /// journal refuses it up front (`.journalFailed`), with the request's opcode and opaque; a
    /// setq's, empty until now, too. False when that response is not there unwritten any more.
    func refuseHeldBinary(_ reply: BinaryStoreReply, at index: Int, _ output: OutputBuffer) -> Bool {
        let stored = Self.binaryEnqueueReply(reply, .stored)
        let refused = Self.binaryEnqueueReply(reply, .journalFailed)
        return stored.withUnsafeBytes { old in
            refused.withUnsafeBytes { output.replaceHeld(at: index, old: old, with: $0) }
        }
    }

    /// The bytes `appendBinaryEnqueueReply` appends.
    private static func binaryEnqueueReply(_ reply: BinaryStoreReply, _ result: EnqueueResult) -> [UInt8] {
        let scratch = OutputBuffer(textCapacity: 256, segmentCapacity: 4)
        appendBinaryEnqueueReply(reply, result, scratch)
        var bytes: [UInt8] = []
        scratch.drain { bytes += $0 }
        return bytes
    }

    private static func appendBinaryEnqueueReply(_ reply: BinaryStoreReply, _ result: EnqueueResult, _ output: OutputBuffer) {
        let h = BinaryHeader(opcode: reply.opcode, keyLength: 0, extrasLength: 0, bodyLength: 0, opaque: reply.opaque, cas: 0)
        switch result {
        case .stored:
            if !reply.quiet { output.appendBinaryResponse(h, BinaryStatus.ok) }
        case .full:
            output.appendBinaryError(h, BinaryStatus.notStored)
        case .outOfMemory:
            output.appendBinaryError(h, BinaryStatus.outOfMemory)
        case .journalFailed:
            binaryError(h, Self.binaryTemporaryFailure, text: BrokerReply.journalFailingText, output)
        }
    }

    /// A refused allocation of a binary `set` (the value is skipped by the caller).
    func binaryAllocationRefused(_ reply: BinaryStoreReply, tooLarge: Bool, _ output: OutputBuffer) {
        let h = BinaryHeader(opcode: reply.opcode, keyLength: 0, extrasLength: 0, bodyLength: 0, opaque: reply.opaque, cas: 0)
        output.appendBinaryError(h, tooLarge ? BinaryStatus.tooLarge : BinaryStatus.outOfMemory)
    }

    // MARK: stat

    /// The text port's `stats` (general and broker lines) for no key, `stats settings` for
    /// "settings": one response per line, then an empty one. Any other group: "Not found".
    private func binaryStats(_ h: BinaryHeader, _ key: UnsafeRawBufferPointer, _ output: OutputBuffer) {
        let lines: [(String, String)]
        if key.isEmpty {
            lines = service.sources.general() + broker.statsLines()
        } else if key.elementsEqual("settings".utf8) {
            lines = service.sources.settings()
        } else {
            output.appendBinaryError(h, BinaryStatus.keyNotFound)
            return
        }
        for (name, value) in lines {
            output.appendBinaryResponse(h, BinaryStatus.ok, keyLength: name.utf8.count,
                                        bodyLength: name.utf8.count + value.utf8.count)
            output.append(name)
            output.append(value)
        }
        output.appendBinaryResponse(h, BinaryStatus.ok)
    }

    /// An error response with the broker's own text as its body.
    private func binaryError(_ h: BinaryHeader, _ status: UInt16, text: StaticString, _ output: OutputBuffer) {
        Self.binaryError(h, status, text: text, output)
    }

    private static func binaryError(_ h: BinaryHeader, _ status: UInt16, text: StaticString, _ output: OutputBuffer) {
        output.appendBinaryResponse(h, status, bodyLength: text.utf8CodeUnitCount)
        output.append(text)
    }
}

/// A binary read parked on an empty queue: how to answer it when it resumes.
struct ParkedBinaryRead {
    var header: BinaryHeader
    var quiet: Bool
    var returnsKey: Bool
}
