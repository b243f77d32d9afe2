// Start-up of the logs (LogPartition+Recovery.swift, LogSegment.loadIndexes) and what a kill -9
// during compaction leaves (LogPartition+Compaction.swift's swap): sealed segments are recovered
// from their indexes with only their tail read, the active segment's tail is checked batch by
// batch, an index that disagrees makes its segment be read whole and rebuilt; a compaction stopped
// at any step of its file swap recovers as the old segment or the new one, whole, with no
// temporary file left; a topic deleted mid-compaction leaves no file behind.
@testable import Broker
import Durability
import Platform
import Synchronization
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite struct LogStartupTests {
    // MARK: recovery from the indexes

    /// 64 KB segments of ~130-byte batches: 16 index entries each.
    static let config = "segment_bytes=65536 retention_ms=-1"
    static let records = 3000

    @Test func sealedSegmentsAreRecoveredFromTheirIndexesWithoutReadingThemWhole() throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        try fill(dir, "ix", count: Self.records, config: Self.config)
        let part = dir.path + "/logs/ix/0"
        let bases = LogPartition.segmentBases(part)
        #expect(bases.count >= 4)
        // A byte damaged in the first batch of the second segment, before its last index entry:
        // start-up does not read it (Kafka's recovery), so nothing is cut.
        let second = part + "/" + LogSegment.fileName(bases[1]) + ".log"
        var bytes = readFile(second)
        bytes[30] ^= 0x40
        writeFile(second, bytes)
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        let m = h.broker.logs.memory
        let t = try #require(h.broker.logTopic(named: "ix"))
        let p = t.partitions[0]
        #expect(m.recoveryFullScans.load(ordering: .relaxed) == 0)
        #expect(m.indexesRebuilt.load(ordering: .relaxed) == 0)
        #expect(p.figures.endOffset == UInt64(Self.records))
        #expect(m.recoveryTruncatedBytes.load(ordering: .relaxed) == 0)
        #expect(LogPartition.segmentBases(part) == bases)
        // The read that reaches the damaged batch finds it by its CRC and stops there (counted).
        var offsets: [UInt64] = []
        _ = p.read(from: 0, maxRecords: Self.records) { offsets.append($0.offset) }
        #expect(offsets == Array(0..<bases[1]))
        #expect(m.diskReadErrors.load(ordering: .relaxed) >= 1)
        // Every other segment reads whole, each record at its offset.
        var later: [(UInt64, String)] = []
        _ = p.read(from: bases[2], maxRecords: Self.records) { later.append(($0.offset, value($0))) }
        #expect(later.map(\.0) == Array(bases[2]..<UInt64(Self.records)))
        #expect(later.allSatisfy { $0.1 == record(Int($0.0)) })
        #expect(h.appendRecord(t, "next") == .appended(partition: 0, offset: UInt64(Self.records)))
        h.broker.stop()
    }

    @Test func aSealedSegmentsDamagedTailIsFoundAtStartUpAndCutThere() throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        try fill(dir, "tail", count: Self.records, config: Self.config)
        let part = dir.path + "/logs/tail/0"
        let bases = LogPartition.segmentBases(part)
        // The last batch of the second segment (after its last index entry): read at start-up.
        let second = part + "/" + LogSegment.fileName(bases[1]) + ".log"
        var bytes = readFile(second)
        let batch = bytes.count / Int(bases[2] - bases[1])
        bytes[bytes.count - batch + 30] ^= 0x40
        writeFile(second, bytes)
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        let m = h.broker.logs.memory
        let t = try #require(h.broker.logTopic(named: "tail"))
        #expect(t.partitions[0].figures.endOffset == bases[2] - 1)
        #expect(LogPartition.segmentBases(part) == [bases[0], bases[1]])
        #expect(m.recoverySegmentsRemoved.load(ordering: .relaxed) == bases.count - 2)
        // The second segment was read whole to find where to cut it; the first was not.
        #expect(m.recoveryFullScans.load(ordering: .relaxed) == 1)
        #expect(readFile(second).count == bytes.count - batch)
        h.broker.stop()
    }

    @Test func afterAKillTheActiveSegmentWithoutIndexesIsReadWholeAndItsTornTailCut() throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        try fill(dir, "kill", count: Self.records, config: Self.config)
        let part = dir.path + "/logs/kill/0"
        let bases = LogPartition.segmentBases(part)
        let last = part + "/" + LogSegment.fileName(bases[bases.count - 1])
        // As after a kill -9: the active segment's indexes were never written, its last batch torn.
        unlink(last + ".index")
        unlink(last + ".timeindex")
        let bytes = readFile(last + ".log")
        writeFile(last + ".log", Array(bytes[0..<(bytes.count - 7)]))
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        let m = h.broker.logs.memory
        let t = try #require(h.broker.logTopic(named: "kill"))
        #expect(m.recoveryFullScans.load(ordering: .relaxed) == 1)
        #expect(t.partitions[0].figures.endOffset == UInt64(Self.records - 1))
        #expect(m.recoveryTruncatedBytes.load(ordering: .relaxed) > 0)
        #expect(h.appendRecord(t, "again") == .appended(partition: 0, offset: UInt64(Self.records - 1)))
        var tail: [String] = []
        _ = t.partitions[0].read(from: UInt64(Self.records - 3), maxRecords: 10) { tail.append(value($0)) }
        #expect(tail == [record(Self.records - 3), record(Self.records - 2), "again"])
        h.broker.stop()
    }

    @Test func anActiveSegmentsOlderIndexesAreAPrefixItsNewBatchesAreReadAfter() throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        try fill(dir, "stale", count: Self.records, config: Self.config)
        do {
            // Restarted, more appended and written, then killed: the active segment's index files
            // are those of the clean stop, a prefix of its batches.
            let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
            let t = try #require(h.broker.logTopic(named: "stale"))
            for i in Self.records..<(Self.records + 50) { h.appendRecord(t, record(i)) }
            _ = t.flush(sync: false)
        }
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        let m = h.broker.logs.memory
        let t = try #require(h.broker.logTopic(named: "stale"))
        #expect(m.recoveryFullScans.load(ordering: .relaxed) == 0)
        #expect(t.partitions[0].figures.endOffset == UInt64(Self.records + 50))
        var all: [(UInt64, String)] = []
        _ = t.partitions[0].read(from: 0, maxRecords: .max) { all.append(($0.offset, value($0))) }
        #expect(all.count == Self.records + 50)
        #expect(all.enumerated().allSatisfy { $0.offset == Int($0.element.0) && $0.element.1 == record($0.offset) })
        h.broker.stop()
    }

    @Test func anIndexThatDisagreesWithItsSegmentMakesItBeReadWholeAndRebuilt() throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        try fill(dir, "bad", count: Self.records, config: Self.config)
        let part = dir.path + "/logs/bad/0"
        let bases = LogPartition.segmentBases(part)
        let index = part + "/" + LogSegment.fileName(bases[1]) + ".index"
        let good = readFile(index)
        #expect(good.count >= 16 * 8)
        // The last entry's position moved by 3 bytes: it passes the sanity checks but names no batch
        // (as an index of another version of the file would).
        var bad = good
        bad[bad.count - 4] &+= 3
        writeFile(index, bad)
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        let m = h.broker.logs.memory
        let t = try #require(h.broker.logTopic(named: "bad"))
        #expect(m.recoveryFullScans.load(ordering: .relaxed) == 1)
        #expect(m.indexesRebuilt.load(ordering: .relaxed) == 1)
        #expect(readFile(index) == good)
        #expect(t.partitions[0].figures.endOffset == UInt64(Self.records))
        #expect(m.recoveryTruncatedBytes.load(ordering: .relaxed) == 0)
        h.broker.stop()
    }

    // MARK: kill -9 during compaction

    @Test(arguments: [LogPartition.CompactionStep.written, .committed, .indexesInPlace])
    func aCompactionStoppedAtAnyStepRecoversWholeWithNoTemporaryFileLeft(_ step: LogPartition.CompactionStep) throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        let keys = (0..<80).map { "k\($0 % 5)" }
        let part = dir.path + "/logs/cc/0"
        var closedEnd = 0
        do {
            let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
            let t = try h.declareTopic("cc", "cleanup=compact segment_bytes=1024")
            for (i, k) in keys.enumerated() { h.appendRecord(t, keyedValue(i), key: k) }
            _ = t.flush(sync: false)
            _ = t.flush(sync: false)
            let p = t.partitions[0]
            closedEnd = Int(p.lock.withLock { p.segments.last!.baseOffset })
            #expect(closedEnd > 20)
            // Every segment's swap stops at `step`, as a kill -9 there would; the broker is not stopped.
            p.compactionHook = { $0 != step }
            _ = p.compact(nowMs: h.clock.now)
            let names = files(part)
            #expect(names.contains { $0.hasSuffix(step == .written ? ".log.cleaned" : ".log.swap") })
        }
        // An index replacement a crash interrupted, and the indexes of a segment whose file is gone.
        writeFile(part + "/" + LogSegment.fileName(0) + ".index.tmp", [1, 2, 3], create: true)
        writeFile(part + "/" + LogSegment.fileName(99_999) + ".index", [1, 2, 3], create: true)
        writeFile(part + "/" + LogSegment.fileName(99_999) + ".timeindex", [1, 2, 3], create: true)
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        let m = h.broker.logs.memory
        let t = try #require(h.broker.logTopic(named: "cc"))
        let p = t.partitions[0]
        #expect(!files(part).contains { $0.hasSuffix(".cleaned") || $0.hasSuffix(".swap") || $0.hasSuffix(".tmp") })
        #expect(!files(part).contains { $0.hasPrefix(LogSegment.fileName(99_999)) })
        var got: [(UInt64, String, String)] = []
        _ = p.read(from: 0, maxRecords: .max) { r in
            got.append((r.offset, String(decoding: r.key!, as: UTF8.self), value(r)))
        }
        // Offsets rising, never twice; each record as written.
        #expect(zip(got, got.dropFirst()).allSatisfy { $0.0 < $1.0 })
        #expect(got.allSatisfy { keys[Int($0.0)] == $0.1 && keyedValue(Int($0.0)) == $0.2 })
        // Every key's newest record is there.
        var newest: [String: Int] = [:]
        for (i, k) in keys.enumerated() { newest[k] = i }
        for (_, o) in newest { #expect(got.contains { $0.0 == UInt64(o) }) }
        // Stopped before its commit point: each rewritten segment is the old one, whole (those
        // compaction emptied were removed, no file phase); after it: the compacted ones, completed.
        var last: [String: Int] = [:]
        for i in 0..<closedEnd { last[keys[i]] = i }
        let kept = (0..<keys.count).filter { $0 >= closedEnd || last[keys[$0]] == $0 }.map(UInt64.init)
        if step == .written {
            #expect(Set(kept).isSubset(of: Set(got.map(\.0))))
            #expect(got.count > kept.count)
        } else {
            #expect(got.map(\.0) == kept)
        }
        // The segments' index files are their own (only the active one, never written, is rebuilt).
        #expect(m.indexesRebuilt.load(ordering: .relaxed) == 1)
        #expect(m.recoveryTruncatedBytes.load(ordering: .relaxed) == 0)
        #expect(p.figures.endOffset == UInt64(keys.count))
        h.broker.stop()
    }

    @Test func aTopicDeletedMidCompactionLeavesNoFileBehind() throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        let t = try h.declareTopic("gone", "cleanup=compact segment_bytes=1024")
        for i in 0..<80 { h.appendRecord(t, keyedValue(i), key: "k\(i % 5)") }
        _ = t.flush(sync: false)
        _ = t.flush(sync: false)
        let p = t.partitions[0]
        let broker = h.broker
        let state = DeletionState()
        var deleter: BackgroundThread?
        p.compactionHook = { step in
            // The first segment's output is written: the topic is deleted now, from another thread.
            if step == .written && deleter == nil {
                deleter = BackgroundThread(name: "deleter") {
                    state.result.withLock { $0 = broker.deleteLog("gone") }
                    state.done.store(true, ordering: .releasing)
                }
                usleep(300_000)
                // The deletion waits for this compaction's files to be in place before removing any.
                state.waitedForCompaction.store(!state.done.load(ordering: .acquiring), ordering: .relaxed)
            }
            return true
        }
        _ = p.compact(nowMs: h.clock.now)
        deleter?.join()
        let waited = state.waitedForCompaction.load(ordering: .relaxed)
        #expect(waited)
        #expect(state.result.withLock { $0 } == .deleted)
        #expect(access(dir.path + "/logs/gone", F_OK) != 0, "left: \(files(dir.path + "/logs/gone/0"))")
        h.broker.stop()
    }
}

private final class DeletionState: Sendable {
    let done = Atomic<Bool>(false)
    let waitedForCompaction = Atomic<Bool>(false)
    let result = Mutex<LogDeletion?>(nil)
}

// MARK: helpers

/// Record `i`'s value: 100 bytes.
private func record(_ i: Int) -> String {
    let head = "record-\(i)-"
    return head + String(repeating: "x", count: 100 - head.count)
}

private func keyedValue(_ i: Int) -> String { "v\(i)-" + String(repeating: "y", count: 60) }

private func value(_ r: LogRecordView) -> String { String(decoding: r.value, as: UTF8.self) }

/// A log of `count` 100-byte records written and the broker stopped (clean: every index written).
private func fill(_ dir: ScratchDirectory, _ name: String, count: Int, config: String) throws {
    let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
    let t = try h.declareTopic(name, config)
    for i in 0..<count { h.appendRecord(t, record(i)) }
    h.broker.stop()
}

private func files(_ dir: String) -> [String] {
    guard let d = opendir(dir) else { return [] }
    defer { closedir(d) }
    var out: [String] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
        if name != "." && name != ".." { out.append(name) }
    }
    return out.sorted()
}

