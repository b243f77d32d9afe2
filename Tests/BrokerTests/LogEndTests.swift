// A partition's log end offset never goes back, across a restart too (Kafka never reuses an
// offset): retention that deleted every segment leaves an empty active segment named by the end,
// whose file is there before the old ones go (a kill -9 between the two found no segment and
// started again at 0); a segment rolled by size or age, then a restart; a compacted topic whose
// last closed segment lost its final records (tombstones past `delete_retention_ms`). After each
// restart, clean or killed, the end is what it was, the next append gets it, and a group's
// committed offset is not past it; where a torn tail was cut below a group's commit, the commit
// comes back to the end.
@testable import Broker
import Durability
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite struct LogEndTests {
    /// How the broker before the restart ends: `stop()` (the flusher's last cycle and the active
    /// segment's indexes), or nothing more written, as after a kill -9.
    enum Ending: CaseIterable, Sendable { case clean, killed }

    @Test(arguments: Ending.allCases)
    func retentionOfEverySegmentKeepsTheEndAcrossARestart(_ ending: Ending) throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        let part = dir.path + "/logs/re/0"
        do {
            let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
            let t = try fortyWrittenRecords(h)
            #expect(try groupRead(t, "g", max: 40).count == 40)
            _ = h.broker.logs.offsetsLog?.flush(sync: false)
            let p = t.partitions[0]
            #expect(p.figures.segments > 2)
            // Every segment expired, the active one too: rolled first, then all deleted.
            #expect(p.applyRetention(nowMs: h.clock.now + 5000) > 2)
            #expect(p.figures.startOffset == 40)
            #expect(p.figures.endOffset == 40)
            // The empty active segment's file is there as soon as the old ones are gone.
            #expect(LogPartition.segmentBases(part) == [40])
            if ending == .clean { h.broker.stop() }
        }
        for restart in 0..<2 {
            let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
            let t = try #require(h.broker.logTopic(named: "re"))
            let f = t.partitions[0].figures
            #expect(f.startOffset == 40, "restart \(restart)")
            #expect(f.endOffset == 40, "restart \(restart)")
            #expect(LogPartition.segmentBases(part) == [40])
            #expect(committedOffsets(t, "g") == [40])
            #expect(committedOffsets(t, "g").allSatisfy { $0 <= f.endOffset })
            if restart == 1 {
                #expect(h.appendRecord(t, "next") == .appended(partition: 0, offset: 40))
                #expect(try groupRead(t, "g", max: 10) == ["next"])
            }
            // The first start-up appends nothing: the second finds the same empty segment.
            h.broker.stop()
        }
    }

    /// The empty segment's file cannot be made (here a directory stands at its path, as a full
    /// disk or no descriptor would refuse it): the old segments' files stay, so a kill -9 then
    /// finds them and the end with them, never no segment at all.
    @Test func retentionWhoseNewSegmentCannotBeMadeKeepsTheOldFiles() throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        let part = dir.path + "/logs/re/0"
        let blocker = part + "/" + LogSegment.fileName(40) + ".log"
        var bases: [UInt64] = []
        do {
            let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
            let t = try fortyWrittenRecords(h)
            bases = LogPartition.segmentBases(part)
            #expect(bases.count > 2)
            #expect(mkdir(blocker, 0o755) == 0)
            #expect(t.partitions[0].applyRetention(nowMs: h.clock.now + 5000) > 2)
            // Gone from the partition, not from the disk.
            #expect(t.partitions[0].figures.endOffset == 40)
            #expect(LogPartition.segmentBases(part).filter { $0 != 40 } == bases)
        }
        // Killed; the disk has room again at the restart.
        #expect(rmdir(blocker) == 0)
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        let t = try #require(h.broker.logTopic(named: "re"))
        #expect(t.partitions[0].figures.endOffset == 40)
        #expect(h.appendRecord(t, "next") == .appended(partition: 0, offset: 40))
        h.broker.stop()
    }

    @Test(arguments: Ending.allCases)
    func aSegmentRolledBySizeOrAgeKeepsTheEndAcrossARestart(_ ending: Ending) throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        var end: UInt64 = 0
        do {
            let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
            let t = try h.declareTopic("roll", "segment_bytes=1024 segment_ms=1000 retention_ms=-1")
            let p = t.partitions[0]
            // By size: appended until the active segment is a new one with one record.
            var i = 0
            while p.figures.segments < 3 || p.lock.withLock({ p.segments.last!.nextOffset - p.segments.last!.baseOffset }) != 1 {
                h.appendRecord(t, value(i))
                i += 1
            }
            // By age: the next append rolls first.
            h.clock.advance(2000)
            let before = p.figures.segments
            h.appendRecord(t, value(i))
            #expect(p.figures.segments == before + 1)
            _ = t.flush(sync: false)
            _ = t.flush(sync: false)
            end = p.figures.endOffset
            if ending == .clean { h.broker.stop() }
        }
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        let t = try #require(h.broker.logTopic(named: "roll"))
        #expect(t.partitions[0].figures.endOffset == end)
        #expect(h.appendRecord(t, "next") == .appended(partition: 0, offset: end))
        h.broker.stop()
    }

    @Test(arguments: Ending.allCases)
    func aCompactedTopicWhoseLastClosedSegmentLostItsTailKeepsTheEnd(_ ending: Ending) throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        let part = dir.path + "/logs/cx/0"
        var end: UInt64 = 0
        do {
            let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
            let t = try h.declareTopic("cx", "cleanup=compact segment_bytes=1024 delete_retention_ms=0")
            let p = t.partitions[0]
            for i in 0..<6 { h.appendRecord(t, value(i), key: "k\(i)") }
            // Tombstones of other keys fill the rest of the first segment; the one that rolls it
            // opens the active segment.
            var i = 0
            while p.figures.segments < 2 {
                h.appendRecord(t, "", key: "gone\(i)")
                i += 1
            }
            #expect(i > 3)
            _ = t.flush(sync: false)
            _ = t.flush(sync: false)
            end = p.figures.endOffset
            let closedEnd = p.lock.withLock { p.segments[0].nextOffset }
            #expect(try groupRead(t, "g", max: 100).count == Int(end))
            _ = h.broker.logs.offsetsLog?.flush(sync: false)
            // Past delete_retention_ms the closed segment's tombstones go: its last records.
            let r = p.compact(nowMs: h.clock.now + 10_000)
            #expect(r.records == i - 1)
            #expect(p.lock.withLock { p.segments[0].runs.map { $0.last!.base + $0.last!.count } } == 6)
            #expect(p.lock.withLock { p.segments[0].nextOffset } == closedEnd)
            #expect(p.figures.endOffset == end)
            if ending == .clean { h.broker.stop() }
        }
        for restart in 0..<2 {
            let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
            let t = try #require(h.broker.logTopic(named: "cx"))
            let f = t.partitions[0].figures
            #expect(f.endOffset == end, "restart \(restart)")
            #expect(committedOffsets(t, "g").allSatisfy { $0 <= f.endOffset })
            #expect(committedOffsets(t, "g") == [end])
            var keys: [String] = []
            _ = t.partitions[0].read(from: 0, maxRecords: .max) { keys.append(String(decoding: $0.key!, as: UTF8.self)) }
            #expect(Array(keys.prefix(6)) == (0..<6).map { "k\($0)" })
            if restart == 1 {
                #expect(h.appendRecord(t, "new", key: "k0") == .appended(partition: 0, offset: end))
            }
            h.broker.stop()
        }
        #expect(!LogPartition.segmentBases(part).isEmpty)
    }

    /// A kill -9 tore the active segment's tail after a group had read and committed past it:
    /// recovery cuts the segment at its last whole batch, the offsets after the cut go to new
    /// records, and the group's commit is set back to the end and committed so (before, it stayed
    /// past the end and the group skipped every new record up to it, and did so after a second
    /// restart too).
    @Test func aCommitPastACutTailIsSetBackToTheEndAndStaysThere() throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        let segment = dir.path + "/logs/cut/0/" + String(repeating: "0", count: 20) + ".log"
        do {
            let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
            let t = try h.declareTopic("cut")
            for i in 0..<8 { h.appendRecord(t, value(i)) }
            _ = t.flush(sync: false)
            #expect(try groupRead(t, "g", max: 8).count == 8)
            _ = h.broker.logs.offsetsLog?.flush(sync: false)
        }
        // The segment file loses the last 3 batches and a half (one record a batch).
        let bytes = try #require(FileIO.readAll(segment))
        let whole = Array(bytes)
        bytes.deallocate()
        #expect(whole.count % 8 == 0)
        let batch = whole.count / 8
        let fd = open(segment, O_WRONLY)
        #expect(fd >= 0 && ftruncate(fd, off_t(batch * 5 - batch / 2)) == 0)
        close(fd)
        do {
            let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
            let t = try #require(h.broker.logTopic(named: "cut"))
            #expect(t.partitions[0].figures.endOffset == 4)
            #expect(committedOffsets(t, "g") == [4])
            #expect(h.broker.recoveryNotes.contains { $0.contains("group g partition 0 committed offset 8 past the end 4") })
            // Two new records at 4 and 5, not read before the next restart.
            #expect(h.appendRecord(t, "new-4") == .appended(partition: 0, offset: 4))
            #expect(h.appendRecord(t, "new-5") == .appended(partition: 0, offset: 5))
            h.broker.stop()
        }
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        let t = try #require(h.broker.logTopic(named: "cut"))
        #expect(committedOffsets(t, "g") == [4])
        #expect(try groupRead(t, "g", max: 10) == ["new-4", "new-5"])
        h.broker.stop()
    }
}

// MARK: helpers

private func value(_ i: Int) -> String { "record-\(i)-" + String(repeating: "z", count: 60) }

/// Topic `re` (1 KB segments, 1 s retention) with 40 records, all of them written to its files.
private func fortyWrittenRecords(_ h: BrokerHarness) throws -> LogTopic {
    let t = try h.declareTopic("re", "segment_bytes=1024 retention_ms=1000")
    for i in 0..<40 { h.appendRecord(t, value(i)) }
    _ = t.flush(sync: false)
    _ = t.flush(sync: false)
    return t
}

/// A plain group read's values (commits as it reads).
private func groupRead(_ t: LogTopic, _ group: String, max: Int) throws -> [String] {
    var r = LogTopic.GroupRead(group: group)
    r.owner = 1
    r.maxRecords = max
    var out: [String] = []
    switch t.groupRead(r, { _, rec in out.append(String(decoding: rec.value, as: UTF8.self)) }) {
    case .success: return out
    case .failure(let f): throw f
    }
}

