// Topics on the broker port (Log/ in the Broker module), Kestrel's spirit over memcached's text
// protocol, so any memcached client produces and consumes:
//   log <topic> [partitions=N] [retention_ms=MS] [retention_bytes=N] [segment_bytes=N]
//       [segment_ms=MS] [cleanup=delete]                                        -> OK
//   set <topic>[/key=<k>][/partition=<p>] <flags> <exptime> <bytes> [noreply]    -> STORED
//   get|gets <topic>/group=<g>[/consumer=<c>][/session=<ms>][/partition=<p>][/max=<n>][/timeout=<ms>]
//            [/open][/close][/abort]                     -> VALUE <key> <flags> <bytes>[ <offset>] ... END
//   produce <topic>[/key=<k>][/partition=<p>] <flags> <count> <bytes> [noreply] -> PRODUCED ... (LogBatchVerbs.swift)
//   seek <topic> group=<g> [partition=<p>] offset=<n>|earliest|latest|time=<ms> -> OFFSETS <o>...
//   stats logs                                         -> per topic, partition and group lines
// A `set` or `get` whose name is a topic takes these paths; every other name is a queue's.
// exptime is ignored (retention decides); `gets` puts the record's offset in the CAS field.
import Broker
import CacheEngine
import MemcacheProtocol
import Platform
import Synchronization

/// The last name a connection looked up, and the topic it is (or is not, while no topic is new).
struct LogNameCache {
    var name: [UInt8] = []
    var topic: LogTopic?
    var generation: UInt64 = .max
}

/// A topic read waiting for a record (`/timeout=`): what to read again once woken.
struct ParkedLogRead {
    let topic: LogTopic
    /// The key as sent (the input buffer moves on).
    let key: [UInt8]
    /// What to read again once woken (never `/close` or `/abort` again: done before parking).
    var request: LogTopic.GroupRead
    var partition: Int? { request.partition }
    let withCAS: Bool
    var waiter: Waiter<Void>
    let deadlineMs: UInt64
    /// Set for a binary get (BrokerConnection+BinaryLogs.swift): one record, answered in binary.
    var binary: ParkedBinaryRead? = nil
}

/// The group read a topic key names (`get <topic>/group=<g>[/consumer=..][/partition=..]...`),
/// or the reply that refuses it: one topic key, no `/key=`, a valid group and consumer name.
enum LogReadRequest {
    case read(LogTopic.GroupRead)
    case refused(StaticString)

    init(_ key: UnsafeRawBufferPointer, _ spec: LogKey) {
        guard spec.key == nil else { self = .refused(LogReply.badKey); return }
        guard let g = spec.group else { self = .refused(LogReply.needsGroup); return }
        let groupBytes = UnsafeRawBufferPointer(rebasing: key[g])
        guard Broker.isValidName(groupBytes) else { self = .refused(LogReply.badKey); return }
        var request = LogTopic.GroupRead(group: String(decoding: groupBytes, as: UTF8.self))
        if let c = spec.consumer {
            let name = UnsafeRawBufferPointer(rebasing: key[c])
            guard Broker.isValidName(name) else { self = .refused(LogReply.badKey); return }
            request.consumer = String(decoding: name, as: UTF8.self)
        }
        if let ms = spec.sessionMs { request.sessionTimeoutMs = UInt64(ms) }
        request.partition = spec.partition
        request.maxRecords = spec.maxRecords
        request.open = spec.open
        request.close = spec.close
        request.abort = spec.abort
        self = .read(request)
    }
}

enum LogReply {
    static let badOption: StaticString = "CLIENT_ERROR bad log option\r\n"
    static let badKey: StaticString = "CLIENT_ERROR bad topic key\r\n"
    /// Kafka refuses a record without a key on a compacted topic too.
    static let needsKey: StaticString = "CLIENT_ERROR compacted topic cannot accept a record without a key\r\n"
    static let needsGroup: StaticString = "CLIENT_ERROR a topic read needs /group=<name>\r\n"
    static let oneTopic: StaticString = "CLIENT_ERROR a topic read names one topic\r\n"
    static let badPartition: StaticString = "CLIENT_ERROR no such partition\r\n"
    static let tooManyGroups: StaticString = "SERVER_ERROR too many groups on this topic\r\n"
    static let outOfMemory: StaticString = "SERVER_ERROR out of memory storing record\r\n"
    static let notWritable: StaticString = "SERVER_ERROR log not writable; not stored\r\n"
    static let notTopic: StaticString = "NOT_FOUND\r\n"
    static let readByStream: StaticString = "CLIENT_ERROR topic is a Redis stream; DEL its key on the Redis port\r\n"
    static let streamSettings: StaticString = "CLIENT_ERROR topic is a Redis stream; XADD and XTRIM bound it on the Redis port\r\n"
    static let notAssigned: StaticString = "CLIENT_ERROR partition not assigned to this consumer\r\n"
    static let needsConsumer: StaticString = "CLIENT_ERROR group has members; read with /consumer=<name>\r\n"
    static let alreadyOpen: StaticString = "CLIENT_ERROR close or abort the open read first\r\n"
    static let tooManyOpen: StaticString = "SERVER_ERROR too many open reads in this group\r\n"
    static let tooManyMembers: StaticString = "SERVER_ERROR too many members in this group\r\n"
    static let tooManyGroupsOnConnection: StaticString = "SERVER_ERROR too many groups on this connection\r\n"

    static func refusal(_ f: LogTopic.GroupRefusal) -> StaticString {
        switch f {
        case .badPartition: return badPartition
        case .tooManyGroups: return tooManyGroups
        case .notAssigned: return notAssigned
        case .needsConsumer: return needsConsumer
        case .alreadyOpen: return alreadyOpen
        case .tooManyOpen: return tooManyOpen
        case .tooManyGroupsOnConnection: return tooManyGroupsOnConnection
        case .tooManyMembers: return tooManyMembers
        }
    }
}

extension BrokerConnection {
    /// The topic `name` is, or nil (a queue's name, or nothing yet). Allocates only on a miss.
    func logTopic(_ name: UnsafeRawBufferPointer) -> LogTopic? {
        let generation = broker.logs.generation.load(ordering: .relaxed)
        if generation == 0 { return nil }
        if logNames.name.count == name.count && logNames.name.withUnsafeBytes({ $0.elementsEqual(name) })
            && logNames.generation == generation {
            return logNames.topic
        }
        let t = broker.logTopic(named: String(decoding: name, as: UTF8.self))
        logNames.name.removeAll(keepingCapacity: true)
        logNames.name.append(contentsOf: name)
        logNames.topic = t
        logNames.generation = generation
        return t
    }

    // MARK: log

    func declareLog(_ w: [Substring], _ output: OutputBuffer) {
        guard w.count >= 2, Broker.isValidName(String(w[1])) else {
            output.append(BrokerReply.badQueueName)
            return
        }
        guard case .success(let config) = LogConfig.parse(Array(w.dropFirst(2))) else {
            output.append(LogReply.badOption)
            return
        }
        switch broker.declareLog(String(w[1]), config) {
        case .ok: output.append(Reply.ok)
        case .isQueue: output.append("CLIENT_ERROR \(w[1]) is a queue\r\n")
        case .partitionsDiffer(let n): output.append("CLIENT_ERROR topic \(w[1]) has \(n) partitions\r\n")
        case .tooManyTopics: output.append("SERVER_ERROR too many topics (\(LogRegistry.maxTopics))\r\n")
        case .stream: output.append(LogReply.streamSettings)
        case .unwritable: output.append("SERVER_ERROR cannot write the topic's files\r\n")
        }
    }

    // MARK: set

    /// `set` on a topic: the value is read into an item as a queue message's is, then appended.
    func processLogSet(_ topic: LogTopic, _ key: UnsafeRawBufferPointer, _ input: UnsafeRawBufferPointer, _ tokens: Tokens,
                       noreply: Bool, _ output: OutputBuffer) -> HandlerAction {
        let length = TextParser.parseInt32(input, tokens[4])
        guard let spec = LogKey(key), spec.isProducerKey,
              let flags = TextParser.parseUnsigned(input, tokens[2], max: UInt64(UInt32.max)),
              TextParser.parseInt32(input, tokens[3]) != nil,
              let length, length >= 0, length <= Int32.max - 2
        else {
            if !noreply { output.append(Reply.badFormat) }
            if let length, length >= 0 { swallowRemaining = Int(length) + 2 }
            return .proceed
        }
        if let p = spec.partition, p >= topic.partitions.count {
            if !noreply { output.append(LogReply.badPartition) }
            swallowRemaining = Int(length) + 2
            return .proceed
        }
        if spec.key == nil && topic.isCompacted {
            broker.logs.memory.keylessRefused.wrappingAdd(1, ordering: .relaxed)
            if !noreply { output.append(LogReply.needsKey) }
            swallowRemaining = Int(length) + 2
            return .proceed
        }
        logKey.removeAll(keepingCapacity: true)
        if let k = spec.key { logKey.append(contentsOf: UnsafeRawBufferPointer(rebasing: key[k])) }
        return beginMessage(flags: UInt32(flags), exptime: 0, length: Int(length), noreply: noreply,
                            target: .log(topic, partition: spec.partition, keyed: spec.key != nil), output)
    }

    /// The value is in: appends it and answers.
    func finishLogSet(_ topic: LogTopic, partition: Int?, keyed: Bool, item: Item, noreply: Bool,
                      binary: BinaryStoreReply? = nil, _ output: OutputBuffer) {
        let outcome = logKey.withUnsafeBytes { k in
            session.appendLog(topic, partition: partition, key: keyed ? k : nil, valueLength: item.valueLength,
                              flags: item.clientFlags) { dst in
                var at = 0
                for i in 0..<engine.valueSegmentCount(item) {
                    let seg = UnsafeRawBufferPointer(engine.valueSegment(item, i))
                    guard let base = seg.baseAddress, seg.count > 0 else { continue }
                    (dst + at).copyMemory(from: base, byteCount: seg.count)
                    at += seg.count
                }
            }
        }
        engine.release(item)
        if let binary { return finishBinaryLogSet(binary, outcome, output) }
        guard !noreply else { return }
        switch outcome {
        case .appended: output.append(Reply.stored)
        case .badPartition: output.append(LogReply.badPartition)
        case .outOfMemory: output.append(LogReply.outOfMemory)
        case .notWritable: output.append(LogReply.notWritable)
        }
    }

    // MARK: get

    /// `get`/`gets` whose first key names a topic: one key only, a group required.
    func processLogGet(_ topic: LogTopic, _ keyToken: Token, _ input: UnsafeRawBufferPointer, _ tokens: Tokens, _ end: Int,
                       _ output: OutputBuffer, withCAS: Bool) -> HandlerAction {
        guard TextParser.nextToken(input, from: keyToken.start + keyToken.count, end: end) == nil else {
            output.append(LogReply.oneTopic)
            return .proceed
        }
        let key = UnsafeRawBufferPointer(rebasing: input[keyToken.start..<keyToken.start + keyToken.count])
        guard keyToken.count <= 250, let spec = LogKey(key) else {
            output.append(LogReply.badKey)
            return .proceed
        }
        let request: LogTopic.GroupRead
        switch LogReadRequest(key, spec) {
        case .read(let r): request = r
        case .refused(let text):
            output.append(text)
            return .proceed
        }
        switch appendRecords(topic, key, request, withCAS, output) {
        case .success(let n):
            if n == 0 && spec.timeoutMs > 0 && request.reads {
                var again = request
                again.close = false
                again.abort = false
                switch park(ParkedLogRead(topic: topic, key: Array(key), request: again, withCAS: withCAS,
                                          waiter: Waiter<Void>(waker: waker),
                                          deadlineMs: broker.clockMs() + UInt64(spec.timeoutMs)), output) {
                case .parked(let action): return action
                case .topicGone: return .proceed
                case .read: break
                }
            }
            output.append(Reply.end)
        case .failure(let f): output.append(LogReply.refusal(f))
        }
        return .proceed
    }

    /// The group's next records as VALUE lines (no END).
    private func appendRecords(_ topic: LogTopic, _ key: UnsafeRawBufferPointer, _ request: LogTopic.GroupRead,
                               _ withCAS: Bool, _ output: OutputBuffer) -> Result<Int, LogTopic.GroupRefusal> {
        session.readLog(topic, request) { _, r in
            output.append(Reply.value)
            output.append(key)
            output.append(byte: 0x20)
            output.append(decimal: UInt64(r.flags))
            output.append(byte: 0x20)
            output.append(decimal: UInt64(r.value.count))
            if withCAS {
                output.append(byte: 0x20)
                output.append(decimal: r.offset)
            }
            output.append(Reply.crlf)
            output.append(r.value)
            output.append(Reply.crlf)
        }
    }

    // MARK: parked reads (/timeout=)

    /// How `park` ended.
    enum LogParkOutcome {
        /// Parked: the handler's action.
        case parked(HandlerAction)
        /// A record was appended between the empty read and the parking: its VALUE lines (or
        /// binary reply) are in the output; a text read still needs its END.
        case read
        /// The topic was deleted: answered whole, as a read of a missing topic (`answerTopicGone`).
        case topicGone
    }

    /// Parks `p` on its partitions; a record appended between the empty read and the parking is
    /// read at once instead, and a topic deleted meanwhile answers as a missing one.
    func park(_ p: ParkedLogRead, _ output: OutputBuffer) -> LogParkOutcome {
        p.topic.addWaiter(p.waiter, partition: p.partition)
        let n = appendParked(p, output)
        // `delete` sets the flag before it wakes the partitions' waiters: either it saw this
        // waiter, or this sees the flag (the partition lock orders them).
        if n > 0 || p.topic.isDeleted {
            _ = p.waiter.cancel()
            p.topic.removeWaiter(p.waiter, partition: p.partition)
            if n > 0 { return .read }
            answerTopicGone(p, output)
            return .topicGone
        }
        let now = broker.clockMs()
        parkedLog = p
        session.logReadParked(true)
        return .parked(.park(timeoutMs: Int(p.deadlineMs > now ? p.deadlineMs - now : 1)))
    }

    /// The reply of a read whose topic was deleted under it: what a read of a topic that does not
    /// exist gets (its key is then a queue's, which takes no `/group=`): `CLIENT_ERROR bad command
    /// line format`, binary "Invalid arguments".
    private func answerTopicGone(_ p: ParkedLogRead, _ output: OutputBuffer) {
        if let b = p.binary {
            output.appendBinaryError(b.header, BinaryStatus.invalidArguments)
        } else {
            output.append(Reply.badFormat)
        }
    }

    /// The parked read woken (an append, or its topic's deletion) or timed out: reads again and
    /// answers; parks again when another reader of its group took the records first and time is
    /// left. Returns the action while still parked, nil once answered (the session's members are
    /// then no longer kept alive by the park).
    func resumeLogRead(_ output: OutputBuffer, timedOut: Bool) -> HandlerAction? {
        let action = resumeParkedRead(output, timedOut: timedOut)
        if action == nil { session.logReadParked(false) }
        return action
    }

    private func resumeParkedRead(_ output: OutputBuffer, timedOut: Bool) -> HandlerAction? {
        guard let p = parkedLog else { return nil }
        let now = broker.clockMs()
        let expired = timedOut || now >= p.deadlineMs
        if !expired, !p.topic.isDeleted, case .waiting = p.waiter.collect() {
            // A wake-up meant for something else.
            return .park(timeoutMs: Int(p.deadlineMs - now))
        }
        parkedLog = nil
        _ = p.waiter.cancel()
        p.topic.removeWaiter(p.waiter, partition: p.partition)
        if p.topic.isDeleted {
            answerTopicGone(p, output)
            return nil
        }
        var n = appendParked(p, output)
        if n == 0 && !expired {
            var again = p
            again.waiter = Waiter<Void>(waker: waker)
            switch park(again, output) {
            case .parked(let action): return action
            case .topicGone: return nil
            // The re-park found records and answered them itself: a binary reply is then complete
            // (no miss after it); a text reply gets its END below either way.
            case .read: n = 1
            }
        }
        if let b = p.binary {
            if n == 0 { p.key.withUnsafeBytes { binaryMiss(b.header, b.quiet, returnsKey: b.returnsKey, $0, output) } }
        } else {
            output.append(Reply.end)
        }
        return nil
    }

    /// A parked read's records: VALUE lines, or a binary get's one record. A refusal (the group
    /// changed meanwhile) reads as none.
    private func appendParked(_ p: ParkedLogRead, _ output: OutputBuffer) -> Int {
        p.key.withUnsafeBytes { k in
            if let b = p.binary {
                return (try? appendBinaryRecord(p.topic, k, p.request, b, output).get()) ?? 0
            }
            return (try? appendRecords(p.topic, k, p.request, p.withCAS, output).get()) ?? 0
        }
    }

    // MARK: seek

    /// `seek <topic> group=<g> [partition=<p>] offset=<n>|earliest|latest|time=<ms>`:
    /// `OFFSETS <o> ...` (one per partition set), NOT_FOUND when there is no such topic.
    func seekLog(_ w: [Substring], _ output: OutputBuffer) {
        guard w.count >= 4, w.count <= 5 else {
            output.append(Reply.error)
            return
        }
        guard let topic = broker.logTopic(named: String(w[1])) else {
            output.append(LogReply.notTopic)
            return
        }
        var group: String?
        var partition: Int?
        var target: LogTopic.SeekTarget?
        for word in w.dropFirst(2) {
            if word.hasPrefix("group="), Broker.isValidName(String(word.dropFirst(6))) {
                group = String(word.dropFirst(6))
            } else if word.hasPrefix("partition="), let p = Int(word.dropFirst(10)), p >= 0 {
                partition = p
            } else if word == "offset=earliest" {
                target = .earliest
            } else if word == "offset=latest" {
                target = .latest
            } else if word.hasPrefix("offset="), let o = UInt64(word.dropFirst(7)) {
                target = .offset(o)
            } else if word.hasPrefix("time="), let ms = UInt64(word.dropFirst(5)) {
                target = .time(ms)
            } else {
                output.append(Reply.badFormat)
                return
            }
        }
        guard let group, let target else {
            output.append(Reply.badFormat)
            return
        }
        switch topic.seek(group: group, partition: partition, to: target) {
        case .success(let offsets):
            session.noteLogCommit()
            output.append("OFFSETS" as StaticString)
            for o in offsets {
                output.append(byte: 0x20)
                output.append(decimal: o)
            }
            output.append(Reply.crlf)
        case .failure(.badPartition): output.append(LogReply.badPartition)
        case .failure(.tooManyGroups): output.append(LogReply.tooManyGroups)
        }
    }

    // MARK: stats logs

    /// The lines of `stats logs`: the broker-wide log figures, then per topic and partition,
    /// then per group and partition (committed offset and lag).
    func logStatsLines() -> [(String, String)] {
        let m = broker.logs.memory
        var lines: [(String, String)] = [
            ("log_topics", String(broker.logs.count)),
            ("log_memory_bytes", String(m.memoryBytes.load(ordering: .relaxed))),
            ("log_chunks", String(m.chunks.held.load(ordering: .relaxed))),
            ("log_chunk_bytes", String(m.chunks.heldBytes.load(ordering: .relaxed))),
            ("log_chunk_refusals", String(m.chunks.refusals.load(ordering: .relaxed))),
            ("log_heap_chunks", String(m.chunks.heapChunks.load(ordering: .relaxed))),
            ("log_appends_refused", String(m.appendsRefused.load(ordering: .relaxed))),
            ("log_memory_waits", String(m.memoryWaits.load(ordering: .relaxed))),
            ("log_segments_deleted", String(m.segmentsDeleted.load(ordering: .relaxed))),
            ("log_segments_dropped", String(m.segmentsDropped.load(ordering: .relaxed))),
            ("log_compactions", String(m.compactions.load(ordering: .relaxed))),
            ("log_compacted_records", String(m.compactedRecords.load(ordering: .relaxed))),
            ("log_compacted_bytes", String(m.compactedBytes.load(ordering: .relaxed))),
            ("log_keyless_refused", String(m.keylessRefused.load(ordering: .relaxed))),
            ("log_disk_reads", String(m.diskReads.load(ordering: .relaxed))),
            ("log_disk_read_errors", String(m.diskReadErrors.load(ordering: .relaxed))),
            ("log_recovery_truncated_bytes", String(m.recoveryTruncatedBytes.load(ordering: .relaxed))),
            ("log_recovery_segments_removed", String(m.recoverySegmentsRemoved.load(ordering: .relaxed))),
            ("log_indexes_rebuilt", String(m.indexesRebuilt.load(ordering: .relaxed))),
            ("log_recovery_full_scans", String(m.recoveryFullScans.load(ordering: .relaxed))),
            ("log_limit_refusals", String(m.limitRefusals.load(ordering: .relaxed))),
            ("log_group_rebalances", String(m.groups.rebalances.load(ordering: .relaxed))),
            ("log_group_members_expired", String(m.groups.expiredMembers.load(ordering: .relaxed))),
            ("log_open_confirmed", String(m.groups.confirmed.load(ordering: .relaxed))),
            ("log_open_redelivered", String(m.groups.redelivered.load(ordering: .relaxed))),
            ("log_open_visibility_timeouts", String(m.groups.visibilityTimeouts.load(ordering: .relaxed))),
            ("log_open_revoked", String(m.groups.revoked.load(ordering: .relaxed))),
            ("log_offset_commits", String(broker.logOffsetCommits)),
            ("log_topics_deleted", String(m.topicsDeleted.load(ordering: .relaxed))),
        ]
        for t in broker.logs.all {
            lines.append(("\(t.name):partitions", String(t.partitions.count)))
            var ends: [UInt64] = []
            var starts: [UInt64] = []
            for p in t.partitions {
                let f = p.figures
                starts.append(f.startOffset)
                ends.append(f.endOffset)
                let prefix = "\(t.name):\(p.id):"
                lines.append((prefix + "log_start_offset", String(f.startOffset)))
                lines.append((prefix + "log_end_offset", String(f.endOffset)))
                lines.append((prefix + "segments", String(f.segments)))
                lines.append((prefix + "bytes", String(f.bytes)))
                lines.append((prefix + "memory_bytes", String(f.memoryBytes)))
            }
            for f in t.groupFigures {
                if !f.members.isEmpty || f.generation > 0 {
                    let prefix = "\(t.name):group:\(f.group):"
                    lines.append((prefix + "members", String(f.members.count)))
                    lines.append((prefix + "generation", String(f.generation)))
                    for m in f.members {
                        lines.append((prefix + "member:\(m.name):partitions", m.partitions.isEmpty ? "-" : m.partitions.map(String.init).joined(separator: ",")))
                    }
                }
                for (p, o) in f.committed.enumerated() {
                    let committed = max(o, starts[p])
                    let prefix = "\(t.name):\(p):group:\(f.group):"
                    lines.append((prefix + "committed", String(committed)))
                    lines.append((prefix + "lag", String(ends[p] > committed ? ends[p] - committed : 0)))
                    if !f.members.isEmpty { lines.append((prefix + "owner", f.owners[p] ?? "-")) }
                    if f.open[p] > 0 { lines.append((prefix + "open", String(f.open[p]))) }
                }
            }
        }
        return lines
    }
}
