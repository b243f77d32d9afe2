// Consumer groups on topics (Sources/Broker/Log/LogGroupState.swift, LogTopic+Groups.swift,
// ConsumerOffsetsLog.swift, LogPartition+Batch.swift): Kafka's range assignment, rebalancing on
// join, leave, session close and session timeout; reliable reads (open, close, abort, visibility
// timeout) and the committed offset they leave; the consumer-offsets log replayed at start-up
// (the latest commit wins, a torn tail is cut); batch appends as one multi-record batch.
@testable import Broker
import CacheEngine
import Durability
import Platform
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct LogGroupTests {
    // MARK: assignment

    @Test func rangeAssignmentSplitsPartitionsInMemberNameOrder() {
        #expect(LogGroupState.rangeAssign(members: ["b", "a"], partitions: 5) == ["a", "a", "a", "b", "b"])
        // A member past the partition count gets none.
        #expect(LogGroupState.rangeAssign(members: ["c", "a", "b"], partitions: 2) == ["a", "b"])
        #expect(LogGroupState.rangeAssign(members: ["x"], partitions: 3) == ["x", "x", "x"])
        #expect(LogGroupState.rangeAssign(members: [], partitions: 2) == [nil, nil])
        // Kafka's RangeAssignor: 7 partitions over 3 consumers → 3, 2, 2.
        #expect(LogGroupState.rangeAssign(members: ["m1", "m2", "m3"], partitions: 7)
                == ["m1", "m1", "m1", "m2", "m2", "m3", "m3"])
    }

    @Test func membersJoiningAndLeavingRebalance() {
        var st = LogGroupState(partitions: 4, committed: [0, 0, 0, 0])
        let joinedA = st.join("a", owner: 1, nowMs: 0, sessionTimeoutMs: 100)
        #expect(joinedA)
        #expect(st.partitions(of: "a") == [0, 1, 2, 3])
        let joinedB = st.join("b", owner: 2, nowMs: 0, sessionTimeoutMs: 100)
        #expect(joinedB)
        #expect(st.partitions(of: "a") == [0, 1] && st.partitions(of: "b") == [2, 3])
        #expect(st.generation == 2)
        // A second connection under the same name is the same member: no rebalance.
        let again = st.join("b", owner: 3, nowMs: 50, sessionTimeoutMs: 100)
        #expect(!again)
        // b's first connection closes: b stays (its other connection); a's closes: a leaves.
        let closedB = st.sessionClosed(2)
        #expect(closedB.rebalanced == false)
        #expect(st.members["b"]?.owners == [3])
        let closedA = st.sessionClosed(1)
        #expect(closedA.rebalanced)
        #expect(st.partitions(of: "b") == [0, 1, 2, 3])
        // b misses its session timeout (last seen at 50 ms, 100 ms allowed).
        let early = st.expireMembers(nowMs: 150)
        #expect(early.isEmpty)
        let late = st.expireMembers(nowMs: 151)
        #expect(late == ["b"])
        #expect(st.assignment == [nil, nil, nil, nil])
    }

    @Test func openReadsOfALeavingMemberAreReadAgain() {
        var st = LogGroupState(partitions: 2, committed: [0, 0])
        _ = st.join("a", owner: 1, nowMs: 0, sessionTimeoutMs: 100)
        st.open.append(LogOpenRead(owner: 1, member: "a", partition: 1, range: 5..<8, deadlineMs: 0))
        #expect(st.committedOffset(1, next: 8) == 5)
        let back = st.leave("a")
        #expect(back == 3)
        #expect(st.retry[1] == [5..<8])
        #expect(st.committedOffset(1, next: 8) == 5)
        let t1 = st.takeRetry(1, max: 2, start: 0), t2 = st.takeRetry(1, max: 10, start: 0), t3 = st.takeRetry(1, max: 10, start: 0)
        #expect(t1 == 5..<7 && t2 == 7..<8 && t3 == nil)
    }

    @Test func retryRangesMergeAndSkipWhatRetentionDeleted() {
        var st = LogGroupState(partitions: 1, committed: [0])
        st.addRetry(0, 10..<12)
        st.addRetry(0, 2..<4)
        st.addRetry(0, 4..<6)
        #expect(st.retry[0] == [2..<6, 10..<12])
        let a = st.takeRetry(0, max: 100, start: 5), b = st.takeRetry(0, max: 100, start: 11)
        #expect(a == 5..<6 && b == 11..<12)
        #expect(st.retry[0].isEmpty)
        for i in 0..<(LogGroupState.maxRetryRanges + 5) { st.addRetry(0, UInt64(i * 3)..<UInt64(i * 3 + 1)) }
        #expect(st.retry[0].count == LogGroupState.maxRetryRanges)
        #expect(st.retry[0][0].lowerBound == 0)
    }

    // MARK: reads through the topic

    @Test func openCloseAbortKeepTheCommittedOffsetAtTheFirstRecordNotDone() throws {
        let h = try BrokerHarness { _ in }
        let t = try h.declareTopic("jobs")
        for i in 0..<10 { h.appendRecord(t, "r\(i)") }
        // Owner 1 opens 3, owner 2 opens the next 3: neither is committed.
        #expect(try groupRead(t, "g", owner: 1, max: 3, open: true) == ["r0", "r1", "r2"])
        #expect(try groupRead(t, "g", owner: 2, max: 3, open: true) == ["r3", "r4", "r5"])
        #expect(committedOffsets(t, "g") == [0])
        // A second open without closing is refused.
        #expect(throws: LogTopic.GroupRefusal.alreadyOpen) { _ = try groupRead(t, "g", owner: 1, max: 1, open: true) }
        // Owner 2 confirms: still 0 (owner 1's are open). Owner 1 aborts: its records are read again first.
        _ = try groupRead(t, "g", owner: 2, max: 1, close: true)
        #expect(committedOffsets(t, "g") == [0])
        _ = try groupRead(t, "g", owner: 1, max: 1, abort: true)
        #expect(try groupRead(t, "g", owner: 3, max: 4) == ["r0", "r1", "r2", "r6"])
        #expect(committedOffsets(t, "g") == [7])
        // close + open in one request: confirms, then opens the next.
        #expect(try groupRead(t, "g", owner: 1, max: 2, open: true) == ["r7", "r8"])
        #expect(try groupRead(t, "g", owner: 1, max: 2, open: true, close: true) == ["r9"])
        #expect(committedOffsets(t, "g") == [9])
        t.sessionClosed(1, groups: ["g"])
        #expect(committedOffsets(t, "g") == [9])
        #expect(try groupRead(t, "g", owner: 4, max: 5) == ["r9"])
        #expect(committedOffsets(t, "g") == [10])
        #expect(h.broker.logs.memory.groups.redelivered.load(ordering: .relaxed) == 4)
    }

    @Test func aGroupHoldsAtMostMaxMembers() throws {
        let h = try BrokerHarness { _ in }
        let t = try h.declareTopic("many")
        for i in 0..<LogGroupState.maxMembers { _ = try groupRead(t, "g", owner: 1, consumer: "m\(i)", max: 1) }
        #expect(throws: LogTopic.GroupRefusal.tooManyMembers) { _ = try groupRead(t, "g", owner: 1, consumer: "one-more", max: 1) }
        // A member already there still reads.
        #expect(try groupRead(t, "g", owner: 2, consumer: "m7", max: 1) == [])
        #expect(h.broker.logs.memory.limitRefusals.load(ordering: .relaxed) == 1)
        t.sessionClosed(1, groups: ["g"])
        #expect(t.groupFigures.first?.members.map(\.name) == ["m7"])
    }

    @Test func aVisibilityTimeoutSendsAnOpenReadBack() throws {
        let h = try BrokerHarness { _ in }
        let t = try h.declareTopic("vis")
        for i in 0..<3 { h.appendRecord(t, "r\(i)") }
        var r = LogTopic.GroupRead(group: "g")
        r.owner = 1
        r.open = true
        r.maxRecords = 2
        r.nowMs = 1000
        r.visibilityMs = 500
        _ = t.groupRead(r) { _, _ in }
        t.expireGroupState(nowMs: 1499)
        #expect(try groupRead(t, "g", owner: 2, max: 5) == ["r2"])
        t.expireGroupState(nowMs: 1500)
        #expect(try groupRead(t, "g", owner: 2, max: 5) == ["r0", "r1"])
        #expect(h.broker.logs.memory.groups.visibilityTimeouts.load(ordering: .relaxed) == 2)
    }

    @Test func membersReadOnlyTheirPartitionsAndTakeOverALeaversOpenReads() throws {
        let h = try BrokerHarness { _ in }
        let t = try h.declareTopic("orders", "partitions=2")
        for i in 0..<4 { h.appendRecord(t, "p0-\(i)", partition: 0) }
        for i in 0..<4 { h.appendRecord(t, "p1-\(i)", partition: 1) }
        #expect(try groupRead(t, "g", owner: 1, consumer: "a", max: 1) == ["p0-0"])
        // b joins: a keeps partition 0, b gets partition 1.
        #expect(try groupRead(t, "g", owner: 2, consumer: "b", max: 2, open: true) == ["p1-0", "p1-1"])
        #expect(try groupRead(t, "g", owner: 1, consumer: "a", max: 10) == ["p0-1", "p0-2", "p0-3"])
        #expect(throws: LogTopic.GroupRefusal.notAssigned) { _ = try groupRead(t, "g", owner: 1, consumer: "a", max: 1, partition: 1) }
        #expect(throws: LogTopic.GroupRefusal.needsConsumer) { _ = try groupRead(t, "g", owner: 9, max: 1) }
        // b's connection closes: its open records and its partition go to a.
        t.sessionClosed(2, groups: ["g"])
        #expect(try groupRead(t, "g", owner: 1, consumer: "a", max: 10) == ["p1-0", "p1-1", "p1-2", "p1-3"])
        let f = try #require(t.groupFigures.first)
        #expect(f.members.map(\.name) == ["a"] && f.members[0].partitions == [0, 1])
        #expect(f.committed == [4, 4])
    }

    // MARK: session timeouts and revocation (issue 15's left-over items)

    @Test func theSessionTimeoutIsKafkasByDefaultAndATopicSetting() throws {
        #expect(LogConfig().sessionTimeoutMs == 45_000)
        #expect(LogTopic.defaultSessionTimeoutMs == 45_000)
        guard case .failure = LogConfig.parse(["session_timeout_ms=0"]) else { Issue.record("0 accepted"); return }
        let h = try BrokerHarness { _ in }
        let plain = try h.declareTopic("plain")
        _ = try groupRead(plain, "g", owner: 1, consumer: "a", max: 1)
        plain.expireGroupState(nowMs: 45_000)
        #expect(plain.groupFigures.first?.members.map(\.name) == ["a"])
        plain.expireGroupState(nowMs: 45_001)
        #expect(plain.groupFigures.first?.members.isEmpty == true)
        // Declared short (tests): the member is gone after 300 ms without a request.
        let short = try h.declareTopic("short", "session_timeout_ms=300")
        _ = try groupRead(short, "g", owner: 1, consumer: "a", max: 1)
        short.expireGroupState(nowMs: 300)
        #expect(short.groupFigures.first?.members.map(\.name) == ["a"])
        short.expireGroupState(nowMs: 301)
        #expect(short.groupFigures.first?.members.isEmpty == true)
        #expect(h.broker.logs.memory.groups.expiredMembers.load(ordering: .relaxed) == 2)
    }

    @Test func anyRequestOfTheMembersConnectionIsItsHeartbeat() throws {
        let h = try BrokerHarness { _ in }
        let t = try h.declareTopic("beat", "partitions=2 session_timeout_ms=1000")
        for i in 0..<4 { h.appendRecord(t, "r\(i)", partition: i % 2) }
        let s = BrokerSession(broker: h.broker, waker: ConnectionWaker {})
        var r = LogTopic.GroupRead(group: "g")
        r.consumer = "a"
        _ = s.readLog(t, r) { _, _ in }
        let joined = h.broker.clockMs()
        // No reads, but requests on the connection: still a member long past the timeout.
        for _ in 0..<5 {
            h.clock.advance(600)
            s.logHeartbeat()
            t.expireGroupState(nowMs: h.broker.clockMs())
        }
        #expect(h.broker.clockMs() - joined >= 3000)
        #expect(t.groupFigures.first?.members.map(\.name) == ["a"])
        // Silence for longer than the timeout: it leaves and its partitions are free.
        t.expireGroupState(nowMs: h.broker.clockMs() + 1001)
        #expect(t.groupFigures.first?.members.isEmpty == true)
        #expect(t.groupFigures.first?.owners == [nil, nil])
    }

    @Test func aReadParkedLongerThanTheSessionTimeoutKeepsItsMemberAlive() throws {
        let h = try BrokerHarness { _ in }
        let t = try h.declareTopic("parked", "partitions=2 session_timeout_ms=200")
        let parked = BrokerSession(broker: h.broker, waker: ConnectionWaker {})
        let idle = BrokerSession(broker: h.broker, waker: ConnectionWaker {})
        for (s, name) in [(parked, "a"), (idle, "b")] {
            var r = LogTopic.GroupRead(group: "g")
            r.consumer = name
            _ = s.readLog(t, r) { _, _ in }
        }
        // a's read finds nothing and parks (`/timeout=` longer than the session timeout); b's
        // connection sends nothing.
        parked.logReadParked(true)
        for _ in 0..<6 {
            h.clock.advance(150)
            t.expireGroupState(nowMs: h.broker.clockMs())
        }
        #expect(t.groupFigures.first?.members.map(\.name) == ["a"])
        #expect(t.groupFigures.first?.owners == ["a", "a"])
        #expect(h.broker.logs.memory.groups.expiredMembers.load(ordering: .relaxed) == 1)
        // Answered: seen then, and the session timeout counts from there.
        parked.logReadParked(false)
        t.expireGroupState(nowMs: h.broker.clockMs() + 200)
        #expect(t.groupFigures.first?.members.map(\.name) == ["a"])
        t.expireGroupState(nowMs: h.broker.clockMs() + 201)
        #expect(t.groupFigures.first?.members.isEmpty == true)
        // A connection closed while parked leaves no mark behind.
        var r = LogTopic.GroupRead(group: "g")
        r.consumer = "a"
        _ = parked.readLog(t, r) { _, _ in }
        parked.logReadParked(true)
        #expect(t.lock.withLock { t.groupStates["g"]?.parked.count } == 1)
        parked.close()
        #expect(t.lock.withLock { t.groupStates["g"]?.parked.isEmpty } == true)
        #expect(t.groupFigures.first?.members.isEmpty == true)
    }

    @Test func aRebalanceRevokesTheOpenReadsOfThePartitionsAMemberLoses() throws {
        let h = try BrokerHarness { _ in }
        let t = try h.declareTopic("revoke", "partitions=2")
        for i in 0..<3 { h.appendRecord(t, "p0-\(i)", partition: 0) }
        for i in 0..<3 { h.appendRecord(t, "p1-\(i)", partition: 1) }
        // a alone reads both partitions and opens two records of each.
        _ = try groupRead(t, "g", owner: 1, consumer: "a", max: 2, partition: 0, open: true)
        _ = try groupRead(t, "g", owner: 1, consumer: "a", max: 0, close: true)
        #expect(try groupRead(t, "g", owner: 1, consumer: "a", max: 4, open: true) == ["p0-2", "p1-0", "p1-1", "p1-2"])
        // b joins and gets partition 1: a's open records there are revoked and b reads them at once.
        #expect(try groupRead(t, "g", owner: 2, consumer: "b", max: 10) == ["p1-0", "p1-1", "p1-2"])
        #expect(h.broker.logs.memory.groups.revoked.load(ordering: .relaxed) == 3)
        // a's close confirms only what it still holds (partition 0's record).
        _ = try groupRead(t, "g", owner: 1, consumer: "a", max: 0, close: true)
        #expect(committedOffsets(t, "g") == [3, 3])
        #expect(try groupRead(t, "g", owner: 2, consumer: "b", max: 10) == [])
        #expect(try groupRead(t, "g", owner: 1, consumer: "a", max: 10) == [])
    }

    @Test func aLeaveRevokesTheRestsOpenReadsOfPartitionsTheyLose() {
        // a: 0,1  b: 2,3  c: 4,5 → c leaves → a: 0,1,2  b: 3,4,5: b's open read of partition 2 is revoked.
        var st = LogGroupState(partitions: 6, committed: Array(repeating: 0, count: 6))
        for (i, m) in ["a", "b", "c"].enumerated() { _ = st.join(m, owner: UInt64(i + 1), nowMs: 0, sessionTimeoutMs: 100) }
        #expect(st.partitions(of: "b") == [2, 3])
        st.open.append(LogOpenRead(owner: 2, member: "b", partition: 2, range: 0..<4, deadlineMs: 0))
        st.open.append(LogOpenRead(owner: 2, member: "b", partition: 3, range: 0..<2, deadlineMs: 0))
        _ = st.takeRevoked()
        st.leave("c")
        #expect(st.partitions(of: "a") == [0, 1, 2] && st.partitions(of: "b") == [3, 4, 5])
        #expect(st.takeRevoked() == 4)
        #expect(st.retry[2] == [0..<4])
        #expect(st.open.map(\.partition) == [3])
    }

    // MARK: the offsets log

    @Test func committedOffsetsAreReplayedFromTheOffsetsLogLatestWinning() throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        do {
            let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
            let t = try h.declareTopic("ev", "partitions=2")
            for i in 0..<6 { h.appendRecord(t, "a\(i)", partition: 0) }
            for i in 0..<6 { h.appendRecord(t, "b\(i)", partition: 1) }
            _ = try groupRead(t, "g", owner: 1, max: 3, partition: 0)
            _ = try groupRead(t, "g", owner: 1, max: 5, partition: 0)
            _ = try groupRead(t, "g", owner: 1, max: 2, partition: 1, open: true)
            _ = try groupRead(t, "h", owner: 2, max: 4, partition: 1)
            _ = t.seek(group: "h", partition: 1, to: .offset(1))
            h.broker.stop()
            #expect(h.broker.logOffsetCommits >= 4)
        }
        // No `offsets` file is written any more: the log alone brings them back.
        #expect(FileIO.readAll(dir.path + "/logs/ev/offsets") == nil)
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        let t = try #require(h.broker.logTopic(named: "ev"))
        // g: partition 0 at 6; partition 1's open read was never closed: read again from 0.
        #expect(committedOffsets(t, "g") == [6, 0])
        #expect(committedOffsets(t, "h") == [0, 1])
        #expect(try groupRead(t, "h", owner: 3, max: 10, partition: 1) == ["b1", "b2", "b3", "b4", "b5"])
    }

    @Test func aTornOffsetsLogTailIsCut() throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        do {
            let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
            let t = try h.declareTopic("ev")
            for i in 0..<5 { h.appendRecord(t, "r\(i)") }
            _ = try groupRead(t, "g", owner: 1, max: 2)
            _ = try groupRead(t, "g", owner: 1, max: 2)
            h.broker.stop()
        }
        let path = dir.path + "/" + ConsumerOffsetsLog.fileName
        let bytes = try #require(FileIO.readAll(path))
        let whole = Array(bytes)
        bytes.deallocate()
        // The last record cut in half: the one before it wins.
        writeBytes(path, Array(whole[0..<(whole.count - 6)]))
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        let t = try #require(h.broker.logTopic(named: "ev"))
        #expect(committedOffsets(t, "g") == [2])
        #expect(h.broker.recoveryNotes.contains { $0.contains("torn tail") })
    }

    @Test func aDeletedTopicTakesItsFilesAndCommitsAlongAcrossARestart() throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        do {
            let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
            let t = try h.declareTopic("gone", "partitions=2")
            for i in 0..<4 { h.appendRecord(t, "r\(i)") }
            _ = try groupRead(t, "g", owner: 1, max: 3)
            _ = t.flush(sync: false)
            #expect(h.broker.deleteLog("gone") == .deleted)
            #expect(h.broker.deleteLog("gone") == .notFound)
            #expect(h.broker.logTopic(named: "gone") == nil)
            #expect(FileIO.readAll(dir.path + "/logs/gone/topic.meta") == nil)
            #expect(opendir(dir.path + "/logs/gone") == nil)
            // The name is free: declared again it starts empty, with no group.
            let again = try h.declareTopic("gone", "partitions=2")
            #expect(again.partitions.map { $0.figures.endOffset } == [0, 0])
            #expect(again.groupFigures.isEmpty)
            h.appendRecord(again, "new")
            h.broker.stop()
        }
        // The offsets log's deletion record keeps the old commits from coming back.
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        let t = try #require(h.broker.logTopic(named: "gone"))
        #expect(t.groupFigures.isEmpty)
        #expect(try groupRead(t, "g", owner: 1, max: 10) == ["new"])
    }

    // MARK: batches

    @Test func aBatchAppendIsOneMultiRecordBatchReadBackAfterARestart() throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        do {
            let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
            let t = try h.declareTopic("bt")
            h.appendRecord(t, "first")
            let values = ["alpha", "", "gamma-gamma"]
            var block: [UInt8] = []
            var ranges: [Range<Int>] = []
            for v in values {
                ranges.append(block.count..<block.count + v.utf8.count)
                block += Array(v.utf8)
            }
            let outcome = block.withUnsafeBytes {
                h.broker.appendLogBatch(t, partition: nil, key: nil, flags: 9, block: $0, values: ranges).0
            }
            #expect(outcome == .appended(partition: 0, offset: 1))
            #expect(t.partitions[0].figures.endOffset == 4)
            h.appendRecord(t, "last")
            h.broker.stop()
        }
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        let t = try #require(h.broker.logTopic(named: "bt"))
        #expect(t.partitions[0].figures.endOffset == 5)
        var flags: [UInt32] = []
        var got: [String] = []
        _ = t.partitions[0].read(from: 2, maxRecords: 10) { r in
            got.append(String(decoding: r.value, as: UTF8.self))
            flags.append(r.flags)
        }
        #expect(got == ["", "gamma-gamma", "last"])
        #expect(flags == [9, 9, 0])
    }
}

// MARK: helpers

/// A group read's values; throws the refusal.
@discardableResult
private func groupRead(_ t: LogTopic, _ group: String, owner: UInt64, consumer: String? = nil, max: Int, partition: Int? = nil,
                       open: Bool = false, close: Bool = false, abort: Bool = false) throws -> [String] {
    var r = LogTopic.GroupRead(group: group)
    r.owner = owner
    r.consumer = consumer
    r.maxRecords = max
    r.partition = partition
    r.open = open
    r.close = close
    r.abort = abort
    var out: [String] = []
    switch t.groupRead(r, { _, rec in out.append(String(decoding: rec.value, as: UTF8.self)) }) {
    case .success: return out
    case .failure(let f): throw f
    }
}

private func writeBytes(_ path: String, _ bytes: [UInt8]) {
    _ = bytes.withUnsafeBytes { b in FileIO.replace(path) { fd in FileIO.writeAll(fd, b) ? b.count : nil } }
}
