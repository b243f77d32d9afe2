// Group reads with membership and reliable reads (LogGroupState.swift holds the bookkeeping).
// Under the topic's lock a read joins its member (a rebalance when new), confirms or returns
// its session's open reads (`/close`, `/abort`), claims the next offsets of the partitions it
// may read (ranges to read again first, then new records), records them as open (`/open`) or
// moves past them (a plain read), and appends every committed offset that moved to the
// consumer-offsets log. The records are then read with no topic lock held, as `read` does.
// The broker's timer expires members past their session timeout (no request on their
// connections for that long: `heartbeat`) and open reads past their visibility timeout; a
// session's close returns its open reads and leaves its members. Every rebalance revokes the
// open reads of the partitions a member lost (LogGroupState.rebalance).
import Durability
import Platform
import Synchronization

extension LogTopic {
    /// One group read's request.
    public struct GroupRead: Sendable {
        public var group: String
        /// `/consumer=<name>`: read as this member of the group (nil: anonymous).
        public var consumer: String?
        /// `/session=<ms>`: this member's session timeout (nil: the topic's `session_timeout_ms`).
        public var sessionTimeoutMs: UInt64?
        public var partition: Int?
        public var maxRecords = 1
        public var open = false
        public var close = false
        public var abort = false
        /// The reading session's consumer id (open reads are its).
        public var owner: UInt64 = 0
        public var nowMs: UInt64 = 0
        /// An open read goes back to the group after this long (0: only on abort or disconnect).
        public var visibilityMs: UInt64 = 0
        public init(group: String) { self.group = group }
        /// Whether it reads (a bare `/close` or `/abort` does not).
        public var reads: Bool { open || !(close || abort) }
    }

    public enum GroupRefusal: Error, Equatable {
        case badPartition
        case tooManyGroups
        /// `/partition=` names a partition assigned to another member.
        case notAssigned
        /// The group has members: an anonymous read would bypass the assignment.
        case needsConsumer
        /// `/open` while this session has a read open in the group (close or abort it first).
        case alreadyOpen
        case tooManyOpen
        /// The group has `LogGroupState.maxMembers` members and the read names a new one.
        case tooManyMembers
        /// The session is in `BrokerSession.maxLogGroups` groups already.
        case tooManyGroupsOnConnection
    }

    public struct GroupReadOutcome: Equatable, Sendable {
        /// Records visited.
        public var count: Int
        /// A commit was appended to the offsets log (its fsync is the reply's to wait for).
        public var logged: Bool
        /// The session now has state in the group (a member or an open read): it must call
        /// `sessionClosed` when it closes.
        public var tracked: Bool
    }

    /// Kafka's session.timeout.ms default (since 3.0).
    public static let defaultSessionTimeoutMs: UInt64 = 45_000

    /// Reads as `r` says and visits the records claimed (partition, record).
    public func groupRead(_ r: GroupRead, _ visit: (Int, LogRecordView) -> Void) -> Result<GroupReadOutcome, GroupRefusal> {
        let n = partitions.count
        if let p = r.partition, p < 0 || p >= n { return .failure(.badPartition) }
        let counters = partitions[0].memory.groups
        typealias Claim = (p: Int, range: Range<UInt64>)
        var wakeAfter = false
        let decided: Result<(claims: [Claim], logged: Bool, tracked: Bool), GroupRefusal> = lock.withLock {
            guard var next = lockedGroup(r.group) else { return .failure(.tooManyGroups) }
            // Taken out of the table (and put back below) so its arrays are mutated in place, not copied.
            var st = groupStates.removeValue(forKey: r.group) ?? LogGroupState(partitions: n, committed: next)
            var tracked = false
            var refusal: GroupRefusal?
            var revokedBack: UInt64 = 0
            if let c = r.consumer, st.members[c] == nil, st.members.count >= LogGroupState.maxMembers {
                partitions[0].memory.limitRefusals.wrappingAdd(1, ordering: .relaxed)
                refusal = .tooManyMembers
            } else if let c = r.consumer {
                if st.join(c, owner: r.owner, nowMs: r.nowMs, sessionTimeoutMs: r.sessionTimeoutMs ?? config.sessionTimeoutMs) {
                    counters.rebalances.wrappingAdd(1, ordering: .relaxed)
                    revokedBack = st.takeRevoked()
                    counters.redelivered.wrappingAdd(revokedBack, ordering: .relaxed)
                    counters.revoked.wrappingAdd(revokedBack, ordering: .relaxed)
                }
                tracked = true
            } else if !st.members.isEmpty && r.reads {
                refusal = .needsConsumer
            }
            if refusal == nil && r.close { counters.confirmed.wrappingAdd(st.close(r.owner), ordering: .relaxed) }
            if refusal == nil && r.abort { counters.redelivered.wrappingAdd(st.abort(r.owner), ordering: .relaxed) }
            var claims: [Claim] = []
            if refusal == nil && r.reads {
                if r.open && st.hasOpen(r.owner) {
                    refusal = .alreadyOpen
                } else if r.open && st.open.count >= LogGroupState.maxOpenReads {
                    refusal = .tooManyOpen
                    partitions[0].memory.limitRefusals.wrappingAdd(1, ordering: .relaxed)
                }
                let allowed = r.consumer.map { st.partitions(of: $0) } ?? Array(0..<n)
                if refusal == nil, let p = r.partition, !allowed.contains(p) { refusal = .notAssigned }
                if refusal == nil && !allowed.isEmpty {
                    let order: [Int]
                    if let p = r.partition {
                        order = [p]
                    } else {
                        // Each member turns over its own partitions; anonymous readers share the group's turn.
                        let cursor = r.consumer.flatMap { st.members[$0]?.cursor } ?? st.cursor
                        let first = cursor % allowed.count
                        order = Array(allowed[first...] + allowed[..<first])
                        if let c = r.consumer { st.members[c]?.cursor = first + 1 } else { st.cursor = first + 1 }
                    }
                    var left = r.maxRecords
                    for p in order where left > 0 {
                        let part = partitions[p]
                        let start = part.lock.withLock { part.lockedStartOffset }
                        while left > 0, let again = st.takeRetry(p, max: left, start: start) {
                            claims.append((p, again))
                            left -= again.count
                        }
                        // Records, not offsets: a compacted partition's gaps are stepped over.
                        let c = part.lock.withLock { part.lockedClaim(from: max(next[p], start), records: left) }
                        if c.count > 0 { claims.append((p, c.from..<c.upper)) }
                        next[p] = max(next[p], c.upper)
                        left -= c.count
                    }
                    if r.open && !claims.isEmpty {
                        let deadline = r.visibilityMs > 0 ? r.nowMs + r.visibilityMs : 0
                        for c in claims {
                            st.open.append(LogOpenRead(owner: r.owner, member: r.consumer, partition: c.p, range: c.range,
                                                       deadlineMs: deadline))
                        }
                        tracked = true
                    }
                }
            }
            groups[r.group] = next
            let logged = lockedCommit(r.group, &st, next)
            groupStates[r.group] = st
            if revokedBack > 0 { wakeAfter = true }
            if let refusal { return .failure(refusal) }
            return .success((claims, logged, tracked))
        }
        // Records a join revoked from another member: its partitions' parked readers read them.
        if wakeAfter { wakeReaders() }
        switch decided {
        case .failure(let f): return .failure(f)
        case .success(let d):
            var total = 0
            for c in d.claims {
                let (_, got) = partitions[c.p].read(from: c.range.lowerBound, maxRecords: c.range.count,
                                                    until: c.range.upperBound) { visit(c.p, $0) }
                total += got
            }
            return .success(GroupReadOutcome(count: total, logged: d.logged, tracked: d.tracked))
        }
    }

    /// Topic lock held: appends to the offsets log every partition's committed offset that
    /// moved; true when one was appended.
    private func lockedCommit(_ group: String, _ st: inout LogGroupState, _ next: [UInt64]) -> Bool {
        var logged = false
        for p in 0..<partitions.count {
            let c = st.committedOffset(p, next: next[p])
            guard c != st.committed[p] else { continue }
            st.committed[p] = c
            if let offsetsLog {
                offsetsLog.commit(topic: name, group: group, partition: p, offset: c)
                logged = true
            } else {
                // No offsets log (no data directory, or it could not be opened): the offsets file.
                groupsDirty = true
            }
        }
        return logged
    }

    /// A group's state made after its offsets moved: no commit known, so every partition's is written.
    private func lockedUnknownState() -> LogGroupState {
        LogGroupState(partitions: partitions.count, committed: Array(repeating: .max, count: partitions.count))
    }

    /// Topic lock held: a plain `read` moved `group`'s next offsets; they are its commits.
    func lockedCommitGroup(_ group: String) {
        guard let next = groups[group] else { return }
        var st = groupStates[group] ?? lockedUnknownState()
        _ = lockedCommit(group, &st, next)
        groupStates[group] = st
    }

    /// Topic lock held: a seek set `partitions` of `group`'s next offsets; their open reads and
    /// ranges to read again are forgotten and the new offsets committed. True when the offsets
    /// log took them (else the caller marks the legacy offsets file dirty).
    func lockedNoteSeek(group: String, partitions which: [Int]) -> Bool {
        guard let next = groups[group] else { return false }
        var st = groupStates[group] ?? lockedUnknownState()
        for p in which { st.forget(partition: p) }
        _ = lockedCommit(group, &st, next)
        groupStates[group] = st
        return offsetsLog != nil
    }

    /// A session closed: its open reads go back to its groups, its members lose it (a member
    /// with no session left leaves and its partitions are reassigned).
    public func sessionClosed(_ owner: UInt64, groups names: [String]) {
        let counters = partitions[0].memory.groups
        var wake = false
        lock.withLock {
            for g in names {
                guard var st = groupStates[g] else { continue }
                let (rebalanced, closedBack) = st.sessionClosed(owner)
                let revoked = st.takeRevoked()
                let back = closedBack + revoked
                if rebalanced { counters.rebalances.wrappingAdd(1, ordering: .relaxed) }
                counters.redelivered.wrappingAdd(back, ordering: .relaxed)
                counters.revoked.wrappingAdd(revoked, ordering: .relaxed)
                if back > 0 { wake = true }
                groupStates[g] = st
            }
        }
        if wake { wakeReaders() }
    }

    /// Timer thread: members past their session timeout leave, open reads past their
    /// visibility deadline go back to be read again.
    func expireGroupState(nowMs: UInt64) {
        let counters = partitions[0].memory.groups
        var wake = false
        lock.withLock {
            guard !groupStates.isEmpty else { return }
            for (g, var st) in groupStates where !st.members.isEmpty || !st.open.isEmpty {
                let gone = st.expireMembers(nowMs: nowMs)
                if !gone.isEmpty {
                    counters.expiredMembers.wrappingAdd(UInt64(gone.count), ordering: .relaxed)
                    counters.rebalances.wrappingAdd(UInt64(gone.count), ordering: .relaxed)
                    // The expired members' open reads came back with their leave; others' revoked.
                    let revoked = st.takeRevoked()
                    counters.revoked.wrappingAdd(revoked, ordering: .relaxed)
                    counters.redelivered.wrappingAdd(revoked, ordering: .relaxed)
                }
                let back = st.expireOpen(nowMs: nowMs)
                counters.redelivered.wrappingAdd(back, ordering: .relaxed)
                counters.visibilityTimeouts.wrappingAdd(back, ordering: .relaxed)
                if back > 0 || !gone.isEmpty { wake = true }
                groupStates[g] = st
            }
        }
        if wake { wakeReaders() }
    }

    /// A request on session `owner`'s connection: its members in `names` are seen now (Kafka's
    /// heartbeat; BrokerSession.logHeartbeat calls it at most every `heartbeatIntervalMs`).
    public func heartbeat(_ owner: UInt64, groups names: [String], nowMs: UInt64) {
        lock.withLock {
            for g in names where groupStates[g] != nil { groupStates[g]!.heartbeat(owner, nowMs: nowMs) }
        }
    }

    /// Session `owner` parked a read (`parked`), or its parked read ended: its members in `names`
    /// are seen now, and while it is parked none of them expires (LogGroupState.setParked).
    public func readParked(_ owner: UInt64, groups names: [String], parked: Bool, nowMs: UInt64) {
        lock.withLock {
            for g in names where groupStates[g] != nil { groupStates[g]!.setParked(owner, parked, nowMs: nowMs) }
        }
    }

    /// Parked readers read again (records came back to be read again).
    func wakeReaders() { for p in partitions { p.wakeWaiters() } }

    // MARK: figures

    public struct GroupFigures: Sendable {
        public let group: String
        public let generation: UInt64
        /// Members by name with their partitions.
        public let members: [(name: String, partitions: [Int])]
        /// Per partition: committed offset, owner, open records.
        public let committed: [UInt64]
        public let owners: [String?]
        public let open: [UInt64]
    }

    /// Every group (sorted by name) as `stats logs` shows it.
    public var groupFigures: [GroupFigures] {
        lock.withLock {
            groups.keys.sorted().map { g in
                let next = groups[g]!
                guard let st = groupStates[g] else {
                    return GroupFigures(group: g, generation: 0, members: [], committed: next,
                                        owners: Array(repeating: nil, count: partitions.count),
                                        open: Array(repeating: 0, count: partitions.count))
                }
                return GroupFigures(group: g, generation: st.generation,
                                    members: st.members.keys.sorted().map { (name: $0, partitions: st.partitions(of: $0)) },
                                    committed: (0..<partitions.count).map { st.committedOffset($0, next: next[$0]) },
                                    owners: st.assignment, open: (0..<partitions.count).map { st.openRecords($0) })
            }
        }
    }

    /// Start-up: a committed offset replayed from the offsets log (the latest wins).
    func restoreCommitted(group: String, partition p: Int, offset: UInt64) {
        guard p >= 0 && p < partitions.count else { return }
        lock.withLock {
            if groups[group] == nil {
                guard groups.count < Self.maxGroups else { return }
                groups[group] = Array(repeating: 0, count: partitions.count)
            }
            groups[group]![p] = offset
            groupStates[group]?.committed[p] = offset
        }
    }
}

extension LogTopic {
    /// Start-up, after the committed offsets are replayed: an offset past its partition's end (the
    /// segments holding it were cut for a torn or damaged tail, so the offsets after the cut will
    /// be given to new records) is set back to the end and committed again. Left past the end, the
    /// group would skip every record appended up to the old offset (Kafka's consumer finds such an
    /// offset out of range and resets it; the end is where this group's unread records begin).
    func clampCommittedToEnd(notes: inout [String]) {
        let ends = partitions.map(\.endOffset)
        lock.withLock {
            for g in groups.keys.sorted() {
                for p in 0..<ends.count where groups[g]![p] > ends[p] {
                    notes.append("log \(name): group \(g) partition \(p) committed offset \(groups[g]![p]) past the end \(ends[p]); set to the end")
                    groups[g]![p] = ends[p]
                    groupStates[g]?.committed[p] = ends[p]
                    if let offsetsLog {
                        offsetsLog.commit(topic: name, group: g, partition: p, offset: ends[p])
                    } else {
                        groupsDirty = true
                    }
                }
            }
        }
    }
}

/// Counters of the groups' membership and reliable reads, for `stats logs`.
public final class LogGroupCounters: Sendable {
    public let rebalances = Atomic<UInt64>(0)
    public let expiredMembers = Atomic<UInt64>(0)
    /// Open records confirmed by `/close`.
    public let confirmed = Atomic<UInt64>(0)
    /// Records sent back to be read again (abort, disconnect, member gone, visibility timeout).
    public let redelivered = Atomic<UInt64>(0)
    public let visibilityTimeouts = Atomic<UInt64>(0)
    /// Open records revoked by a rebalance from a member that lost their partition.
    public let revoked = Atomic<UInt64>(0)
    public init() {}
}
