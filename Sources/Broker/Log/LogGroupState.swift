// A consumer group's state on one topic beside the offset it hands out next per partition
// (`LogTopic.groups`): its members and their range assignment, the reads it has open (`/open`,
// committed only on `/close`) and the ranges it must read again (after `/abort`, a disconnect, a
// member's session timeout or a visibility timeout: at least once). A plain value, guarded by
// the topic's lock; no I/O, so the bookkeeping is unit-tested alone.
//
// Membership follows Kafka's group protocol in spirit, not on the wire: a member is a consumer
// name (`/consumer=<name>`) with the connections reading under it; it joins on its first read,
// leaves when its last connection closes or when its connections sent no request for its session
// timeout (`session_timeout_ms`, Kafka's 45 s by default; a connection parked in a read counts
// as seen throughout), and every join or leave reassigns the partitions with Kafka's RangeAssignor (members in name order,
// each takes partitions/members consecutive partitions, the first partitions%members one more).
// A partition belongs to one member at a time, so one member of the group reads it: a rebalance
// revokes the open reads of the partitions a member loses (read again by the new owner).
//
// The committed offset of a partition is the first offset not yet done: the lowest open or
// to-be-read-again offset, else the next one to hand out. That single number is what the
// consumer-offsets log keeps (as Kafka's), so a restart reads open records again.

struct LogGroupMember: Equatable {
    /// The sessions (consumer ids) reading under this name now.
    var owners: [UInt64]
    var lastSeenMs: UInt64
    var sessionTimeoutMs: UInt64
    /// Where this member's next read over its partitions starts (they are read in turn).
    var cursor = 0
}

struct LogOpenRead: Equatable {
    /// The session that opened it (its consumer id).
    let owner: UInt64
    /// The member it was read as (nil: an anonymous reader).
    let member: String?
    let partition: Int
    let range: Range<UInt64>
    /// When it goes back to the group unconfirmed (0: only on abort or disconnect).
    let deadlineMs: UInt64
}

struct LogGroupState {
    let partitionCount: Int
    var members: [String: LogGroupMember] = [:]
    /// Per partition, the member that reads it (nil while the group has no members).
    var assignment: [String?]
    /// Bumped by every rebalance (Kafka's generation id).
    var generation: UInt64 = 0
    var open: [LogOpenRead] = []
    /// Per partition, offsets to hand out again before new ones: sorted, disjoint.
    var retry: [[Range<UInt64>]]
    /// Per partition, the committed offset last written to the offsets log.
    var committed: [UInt64]
    /// Where a read over several partitions starts next (they are read in turn).
    var cursor = 0
    /// Sessions with a read parked (`/timeout=`): their members do not expire while it waits (a
    /// parked read is its consumer's poll, Kafka's heartbeat). One entry per session at most.
    private(set) var parked: Set<UInt64> = []
    /// Open records a rebalance sent back, not yet taken by `takeRevoked`.
    private(set) var revoked: UInt64 = 0

    /// Open reads one group may hold (each names a session; a session holds one per group).
    static let maxOpenReads = 10_000
    /// Members one group may have (one connection may read under any number of names).
    static let maxMembers = 1000
    /// Ranges to read again one partition may hold; past it the oldest merge (re-reading more).
    static let maxRetryRanges = 1024

    init(partitions: Int, committed: [UInt64]) {
        partitionCount = partitions
        assignment = Array(repeating: nil, count: partitions)
        retry = Array(repeating: [], count: partitions)
        self.committed = committed
    }

    // MARK: assignment

    /// Kafka's RangeAssignor for one topic: members sorted by name, partitions split in
    /// consecutive runs, the first `partitions % members` members one partition more.
    static func rangeAssign(members: [String], partitions: Int) -> [String?] {
        var out = [String?](repeating: nil, count: partitions)
        let sorted = members.sorted()
        guard !sorted.isEmpty else { return out }
        let each = partitions / sorted.count, extra = partitions % sorted.count
        var p = 0
        for (i, m) in sorted.enumerated() {
            for _ in 0..<(each + (i < extra ? 1 : 0)) {
                out[p] = m
                p += 1
            }
        }
        return out
    }

    /// The partitions `member` reads, ascending.
    func partitions(of member: String) -> [Int] {
        (0..<partitionCount).filter { assignment[$0] == member }
    }

    /// Reassigns the partitions. A member's open reads of a partition it no longer reads are
    /// revoked (Kafka's consumer commits or drops them in onPartitionsRevoked): they go back to be
    /// read again, by the partition's new owner, as after `/abort`; counted in `revoked` until
    /// `takeRevoked`.
    private mutating func rebalance() {
        assignment = Self.rangeAssign(members: Array(members.keys), partitions: partitionCount)
        generation &+= 1
        let owners = assignment
        revoked += sendBack { o in o.member.map { owners[o.partition] != $0 } ?? false }
    }

    /// The records rebalances revoked since the last call (for the counters and a wake-up).
    mutating func takeRevoked() -> UInt64 {
        defer { revoked = 0 }
        return revoked
    }

    /// `owner` reads as `name`: joins it (a rebalance when the member is new) and marks it seen.
    /// Returns whether the group was rebalanced.
    mutating func join(_ name: String, owner: UInt64, nowMs: UInt64, sessionTimeoutMs: UInt64) -> Bool {
        if var m = members[name] {
            if !m.owners.contains(owner) { m.owners.append(owner) }
            m.lastSeenMs = nowMs
            m.sessionTimeoutMs = sessionTimeoutMs
            members[name] = m
            return false
        }
        members[name] = LogGroupMember(owners: [owner], lastSeenMs: nowMs, sessionTimeoutMs: sessionTimeoutMs)
        rebalance()
        return true
    }

    /// The member leaves: its open reads go back to be read again, its partitions to the rest.
    /// Returns the records sent back.
    @discardableResult
    mutating func leave(_ name: String) -> UInt64 {
        guard members.removeValue(forKey: name) != nil else { return 0 }
        let back = sendBack { $0.member == name }
        rebalance()
        return back
    }

    /// `owner`'s members are seen now (a request on its connection: Kafka's heartbeat).
    mutating func heartbeat(_ owner: UInt64, nowMs: UInt64) {
        for (name, m) in members where m.owners.contains(owner) && m.lastSeenMs < nowMs {
            members[name]!.lastSeenMs = nowMs
        }
    }

    /// `owner` parked a read (`on`) or its parked read ended: its members are seen now either way.
    mutating func setParked(_ owner: UInt64, _ on: Bool, nowMs: UInt64) {
        if on { parked.insert(owner) } else { parked.remove(owner) }
        heartbeat(owner, nowMs: nowMs)
    }

    /// Members not seen for their session timeout leave, unless one of their sessions is parked
    /// in a read; returns their names.
    mutating func expireMembers(nowMs: UInt64) -> [String] {
        let parked = parked
        let gone = members.filter { nowMs > $0.value.lastSeenMs && nowMs - $0.value.lastSeenMs > $0.value.sessionTimeoutMs }
            .filter { m in parked.isEmpty || !m.value.owners.contains { parked.contains($0) } }
            .map { $0.key }.sorted()
        for g in gone { leave(g) }
        return gone
    }

    /// A session closed: it stops being an owner of any member (a member with no owner left
    /// leaves), and its open reads go back to be read again. Returns (rebalanced, records back).
    mutating func sessionClosed(_ owner: UInt64) -> (rebalanced: Bool, back: UInt64) {
        parked.remove(owner)
        var back = abort(owner)
        var rebalanced = false
        for (name, var m) in members where m.owners.contains(owner) {
            m.owners.removeAll { $0 == owner }
            if m.owners.isEmpty {
                back += leave(name)
                rebalanced = true
            } else {
                members[name] = m
            }
        }
        return (rebalanced, back)
    }

    // MARK: open reads

    func hasOpen(_ owner: UInt64) -> Bool { open.contains { $0.owner == owner } }

    /// Confirms `owner`'s open reads (`/close`): they are done. Returns the records confirmed.
    @discardableResult
    mutating func close(_ owner: UInt64) -> UInt64 {
        var n: UInt64 = 0
        open.removeAll { o in
            guard o.owner == owner else { return false }
            n += UInt64(o.range.count)
            return true
        }
        return n
    }

    /// `owner`'s open reads go back to be read again (`/abort`, a disconnect). Returns the records.
    @discardableResult
    mutating func abort(_ owner: UInt64) -> UInt64 {
        sendBack { $0.owner == owner }
    }

    /// Open reads past their visibility deadline go back to be read again. Returns the records.
    mutating func expireOpen(nowMs: UInt64) -> UInt64 {
        sendBack { $0.deadlineMs != 0 && nowMs >= $0.deadlineMs }
    }

    /// The open reads `which` picks go back to be read again; returns their records.
    private mutating func sendBack(_ which: (LogOpenRead) -> Bool) -> UInt64 {
        guard open.contains(where: which) else { return 0 }
        var kept: [LogOpenRead] = []
        var n: UInt64 = 0
        for o in open {
            if which(o) {
                addRetry(o.partition, o.range)
                n += UInt64(o.range.count)
            } else {
                kept.append(o)
            }
        }
        open = kept
        return n
    }

    /// A seek: the partition's open reads and ranges to read again are forgotten.
    mutating func forget(partition p: Int) {
        open.removeAll { $0.partition == p }
        retry[p].removeAll()
    }

    // MARK: ranges to read again

    /// Adds `r` to partition `p`'s ranges to read again, merged with its neighbours.
    mutating func addRetry(_ p: Int, _ r: Range<UInt64>) {
        guard !r.isEmpty else { return }
        var list = retry[p]
        var merged = r
        list.removeAll { x in
            guard x.overlaps(merged) || x.upperBound == merged.lowerBound || merged.upperBound == x.lowerBound else { return false }
            merged = min(x.lowerBound, merged.lowerBound)..<max(x.upperBound, merged.upperBound)
            return true
        }
        let at = list.firstIndex { $0.lowerBound > merged.lowerBound } ?? list.count
        list.insert(merged, at: at)
        // Bounded: the two oldest ranges merge (the offsets between them are read again too).
        while list.count > Self.maxRetryRanges {
            list[1] = list[0].lowerBound..<list[1].upperBound
            list.removeFirst()
        }
        retry[p] = list
    }

    /// Takes up to `max` offsets to read again from partition `p`, at or after `start` (the log
    /// start: older ones are gone). Nil when there are none.
    mutating func takeRetry(_ p: Int, max: Int, start: UInt64) -> Range<UInt64>? {
        while let first = retry[p].first {
            let lower = Swift.max(first.lowerBound, start)
            if lower >= first.upperBound {
                retry[p].removeFirst()
                continue
            }
            let upper = Swift.min(first.upperBound, lower + UInt64(max))
            if upper == first.upperBound { retry[p].removeFirst() } else { retry[p][0] = upper..<first.upperBound }
            return lower..<upper
        }
        return nil
    }

    // MARK: committed offsets

    /// The first offset of `p` not yet done, given the next one to hand out.
    func committedOffset(_ p: Int, next: UInt64) -> UInt64 {
        var c = next
        if let r = retry[p].first { c = min(c, r.lowerBound) }
        for o in open where o.partition == p { c = min(c, o.range.lowerBound) }
        return c
    }

    /// Open records of partition `p` (for stats).
    func openRecords(_ p: Int) -> UInt64 {
        open.reduce(0) { $0 + ($1.partition == p ? UInt64($1.range.count) : 0) }
    }
}
