// A connection's group reads and batch appends on topics. The session is the owner of its open
// reads (its consumer id) and remembers the groups it joined or holds open reads in, so that its
// close returns those reads and leaves those members (a rebalance). A read or seek whose commit
// went to the offsets log, and a batch append, hold the replies for the flusher cycle that
// writes them under --fsync=always, as a queue read's record does. A read parked on a topic keeps
// the session's members alive (`logReadParked`) as its requests do (`logHeartbeat`).
import Platform

extension BrokerSession {
    /// Groups one session may be a member of or hold open reads in (its close visits each).
    public static let maxLogGroups = 64

    /// A group read (`owner`, `nowMs` and `visibilityMs` are filled in here).
    public func readLog(_ topic: LogTopic, _ request: LogTopic.GroupRead,
                        _ visit: (Int, LogRecordView) -> Void) -> Result<Int, LogTopic.GroupRefusal> {
        var r = request
        r.owner = consumer
        r.nowMs = broker.clockMs()
        r.visibilityMs = broker.settings.visibilityTimeoutMs
        let known = logGroups.contains { $0.topic === topic && $0.group == r.group }
        if !known && (r.consumer != nil || r.open) && logGroups.count >= Self.maxLogGroups {
            broker.logs.memory.limitRefusals.wrappingAdd(1, ordering: .relaxed)
            return .failure(.tooManyGroupsOnConnection)
        }
        switch topic.groupRead(r, visit) {
        case .failure(let f):
            return .failure(f)
        case .success(let o):
            if o.tracked && !known { logGroups.append((topic, r.group)) }
            if o.logged { holdForCommit() }
            return .success(o.count)
        }
    }

    /// A seek committed offsets: with --fsync=always its reply waits for them to be on disk.
    public func noteLogCommit() {
        if broker.logs.offsetsLog != nil { holdForCommit() }
    }

    private func holdForCommit() {
        if broker.settings.fsync == .always, let flusher = broker.flusher { hold(flusher.ticket()) }
    }

    /// `produce`: the records as one batch of one partition (given, the key's, or round-robin).
    public func appendLogBatch(_ topic: LogTopic, partition: Int?, key: UnsafeRawBufferPointer?, flags: UInt32,
                               block: UnsafeRawBufferPointer, values: [Range<Int>]) -> Broker.LogAppendOutcome {
        let (outcome, ticket) = broker.appendLogBatch(topic, partition: partition, key: key, flags: flags, block: block,
                                                      values: values)
        hold(ticket)
        return outcome
    }

    /// A member's heartbeats are at most this often (each takes its topics' locks).
    static let heartbeatIntervalMs: UInt64 = 100

    /// A request arrived on this session's connection: its members are alive (Kafka's heartbeat;
    /// a member leaves after `session_timeout_ms` without one). Nothing while in no group.
    public func logHeartbeat() {
        guard !logGroups.isEmpty else { return }
        let now = broker.clockMs()
        guard now &- lastLogHeartbeatMs >= Self.heartbeatIntervalMs else { return }
        lastLogHeartbeatMs = now
        forEachLogTopic { t, groups in t.heartbeat(consumer, groups: groups, nowMs: now) }
    }

    /// A topic read of this connection parks (`/timeout=`, true) or is answered (false). While
    /// parked the connection sends no request, so no heartbeat: its members are kept alive by the
    /// park itself (Kafka: the poll is the heartbeat), and seen again when it ends. One call per
    /// park and per answer (a re-park after a lost race changes nothing).
    public func logReadParked(_ parked: Bool) {
        guard parked != isLogReadParked else { return }
        isLogReadParked = parked
        guard !logGroups.isEmpty else { return }
        let now = broker.clockMs()
        forEachLogTopic { t, groups in t.readParked(consumer, groups: groups, parked: parked, nowMs: now) }
    }

    /// `body` once per topic with this session's groups in it (each call takes the topic's lock
    /// once). A session in one topic, the usual case, builds no table.
    private func forEachLogTopic(_ body: (LogTopic, [String]) -> Void) {
        if logGroups.allSatisfy({ $0.topic === logGroups[0].topic }) {
            return body(logGroups[0].topic, logGroups.map(\.group))
        }
        var byTopic: [ObjectIdentifier: (LogTopic, [String])] = [:]
        for (t, g) in logGroups { byTopic[ObjectIdentifier(t), default: (t, [])].1.append(g) }
        for (_, (t, groups)) in byTopic { body(t, groups) }
    }

    /// At close: open reads go back to their groups, members lose this session.
    func closeLogGroups() {
        guard !logGroups.isEmpty else { return }
        forEachLogTopic { t, groups in t.sessionClosed(consumer, groups: groups) }
        logGroups.removeAll()
    }
}

extension Broker {
    /// Appends a batch to `topic`; the flusher ticket to wait for under --fsync=always.
    public func appendLogBatch(_ topic: LogTopic, partition: Int?, key: UnsafeRawBufferPointer?, flags: UInt32,
                               block: UnsafeRawBufferPointer, values: [Range<Int>]) -> (LogAppendOutcome, UInt64) {
        let p = partition ?? topic.partition(forKey: key)
        guard p >= 0 && p < topic.partitions.count else { return (.badPartition, 0) }
        if let flusher, flusher.isFailing {
            journalRefusedCount.wrappingAdd(1, ordering: .relaxed)
            return (.notWritable, 0)
        }
        // No lock held: a missing chunk may have a page moved to its class (LogPartition.appendFramed).
        switch topic.partitions[p].appendBatch(key: key, flags: flags, block: block, values: values, nowMs: clockMs(),
                                               noChunk: .makeRoom) {
        case .appended(let offset):
            logs.appendedToStreamTopic(topic)
            return (.appended(partition: p, offset: offset), logAppendTicket())
        case .outOfMemory, .noChunk:
            return (.outOfMemory, 0)
        }
    }
}
