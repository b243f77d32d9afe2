// Topics over the broker port's binary protocol, for the clients that speak only it: the same
// keys and meaning as the text verbs (LogVerbs.swift), one record per request as a binary get
// returns one value.
//   set setq        appends (`<topic>[/key=<k>][/partition=<p>]`; the flags are the record's,
//                   the exptime is ignored as in text)
//   get getq getk getkq   reads the group's next record (`<topic>/group=<g>` and the text's slash
//                   options; `/max=` above 1 is refused): the flags as extras, the offset as CAS;
//                   "Not found" (nothing from a quiet get) when there is none, after `/timeout=`
//                   if given (parked as the text read is); "Invalid arguments", as for a topic
//                   that does not exist, when the topic is deleted under a parked read
// A refusal is the text reply's words as the body of "Invalid arguments" (CLIENT_ERROR) or
// "Temporary failure" (SERVER_ERROR: a limit, no memory, the log not writable).
import Broker
import CacheEngine
import MemcacheProtocol
import Platform

extension BrokerConnection {
    // MARK: set

    /// A binary `set` whose key names a topic: starts reading the value into an item (appended
    /// by `finishLogSet`), or refuses and skips the value. Returns nothing: the caller moves on
    /// past the key either way.
    func binaryLogSet(_ topic: LogTopic, _ key: UnsafeRawBufferPointer, flags: UInt32, valueLength: Int,
                      _ h: BinaryHeader, _ reply: BinaryStoreReply, _ output: OutputBuffer) {
        var refusal: StaticString?
        if let spec = LogKey(key), spec.isProducerKey {
            if let p = spec.partition, p >= topic.partitions.count {
                refusal = LogReply.badPartition
            } else if spec.key == nil && topic.isCompacted {
                broker.logs.memory.keylessRefused.wrappingAdd(1, ordering: .relaxed)
                refusal = LogReply.needsKey
            } else {
                logKey.removeAll(keepingCapacity: true)
                if let k = spec.key { logKey.append(contentsOf: UnsafeRawBufferPointer(rebasing: key[k])) }
                beginMessage(flags: flags, exptime: 0, length: valueLength, noreply: reply.quiet,
                             target: .log(topic, partition: spec.partition, keyed: spec.key != nil), binary: reply, output)
                return
            }
        } else {
            refusal = LogReply.badKey
        }
        if let refusal { binaryRefusal(h, refusal, output) }
        swallowRemaining = valueLength
    }

    /// How a binary `set` on a topic ends once its value is appended (or refused).
    func finishBinaryLogSet(_ reply: BinaryStoreReply, _ outcome: Broker.LogAppendOutcome, _ output: OutputBuffer) {
        let h = BinaryHeader(opcode: reply.opcode, keyLength: 0, extrasLength: 0, bodyLength: 0, opaque: reply.opaque, cas: 0)
        switch outcome {
        case .appended: if !reply.quiet { output.appendBinaryResponse(h, BinaryStatus.ok) }
        case .badPartition: binaryRefusal(h, LogReply.badPartition, output)
        case .outOfMemory: output.appendBinaryError(h, BinaryStatus.outOfMemory)
        case .notWritable: binaryRefusal(h, LogReply.notWritable, output)
        }
    }

    // MARK: get

    /// A binary get whose key names a topic: the group's next record, or a miss.
    func binaryLogRead(_ topic: LogTopic, _ h: BinaryHeader, _ command: BinaryCommand, _ key: UnsafeRawBufferPointer,
                       _ output: OutputBuffer) -> HandlerAction {
        guard key.count <= 250, let spec = LogKey(key), spec.maxRecords == 1 else {
            binaryRefusal(h, LogReply.badKey, output)
            return .proceed
        }
        let request: LogTopic.GroupRead
        switch LogReadRequest(key, spec) {
        case .read(let r): request = r
        case .refused(let text):
            binaryRefusal(h, text, output)
            return .proceed
        }
        let parked = ParkedBinaryRead(header: h, quiet: command.quiet, returnsKey: command.returnsKey)
        switch appendBinaryRecord(topic, key, request, parked, output) {
        case .success(let n):
            if n > 0 { return .proceed }
            if spec.timeoutMs > 0 && request.reads {
                var again = request
                again.close = false
                again.abort = false
                let p = ParkedLogRead(topic: topic, key: Array(key), request: again, withCAS: true,
                                      waiter: Waiter<Void>(waker: waker),
                                      deadlineMs: broker.clockMs() + UInt64(spec.timeoutMs), binary: parked)
                if case .parked(let action) = park(p, output) { return action }
                return .proceed
            }
            binaryMiss(h, command.quiet, returnsKey: command.returnsKey, key, output)
        case .failure(let f):
            binaryRefusal(h, LogReply.refusal(f), output)
        }
        return .proceed
    }

    /// The group's next record (at most one) as a binary get's reply: flags as extras, the key
    /// for getk, the offset as CAS.
    func appendBinaryRecord(_ topic: LogTopic, _ key: UnsafeRawBufferPointer, _ request: LogTopic.GroupRead,
                            _ b: ParkedBinaryRead, _ output: OutputBuffer) -> Result<Int, LogTopic.GroupRefusal> {
        var one = request
        one.maxRecords = 1
        return session.readLog(topic, one) { _, r in
            let keyLength = b.returnsKey ? key.count : 0
            output.appendBinaryResponse(b.header, BinaryStatus.ok, keyLength: keyLength, extrasLength: 4,
                                        bodyLength: 4 + keyLength + r.value.count, cas: r.offset)
            output.appendBigEndian32(r.flags)
            if b.returnsKey { output.append(key) }
            output.append(r.value)
        }
    }

    /// A text refusal (`CLIENT_ERROR ...` / `SERVER_ERROR ...`) as a binary error: its words,
    /// without the prefix and line end, under "Invalid arguments" or "Temporary failure".
    func binaryRefusal(_ h: BinaryHeader, _ text: StaticString, _ output: OutputBuffer) {
        let all = UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)
        let server = all.starts(with: "SERVER_ERROR ".utf8)
        let prefix = server ? 13 : (all.starts(with: "CLIENT_ERROR ".utf8) ? 13 : 0)
        let end = all.count >= 2 && all[all.count - 2] == 0x0d ? all.count - 2 : all.count
        let words = UnsafeRawBufferPointer(rebasing: all[prefix..<end])
        output.appendBinaryResponse(h, server ? Self.binaryTemporaryFailure : BinaryStatus.invalidArguments, bodyLength: words.count)
        output.append(words)
    }
}
