// Start-up of a compacted partition (LogPartition+Recovery.swift, LogSegment+Runs.swift): its
// sealed segments are recovered from their indexes and runs files, none read whole, with the same
// segments, runs, records and claims as a start-up that reads every segment whole; a runs file
// missing, damaged, of another segment or of the segment before its compaction makes that segment
// be read whole (counted) with the same result, and is written anew; after a kill -9 the active
// segment's runs file (of the clean stop before) is a prefix its new batches extend; a compaction
// stopped at any step of its swap restarts with only the unindexed active segment read whole (and
// a runs file whose segment is gone is removed).
@testable import Broker
import Durability
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite struct LogCompactedStartupTests {
    /// 8 KB segments of ~100-byte batches: two index entries each.
    static let config = "cleanup=compact segment_bytes=8192"
    static let records = 1200

    @Test func aCompactedPartitionRestartsFromItsIndexesAndRunsFilesWithoutFullScans() throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        let before = try fillCompacted(dir, "cs")
        let part = dir.path + "/logs/cs/0"
        let bases = LogPartition.segmentBases(part)
        #expect(bases.count >= 6)
        // Every segment has its runs file (sealed, compacted, and the active one at the stop).
        #expect(bases.allSatisfy { exists(part + "/" + LogSegment.fileName($0) + ".runs") })
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        let m = h.broker.logs.memory
        let t = try #require(h.broker.logTopic(named: "cs"))
        #expect(m.recoveryFullScans.load(ordering: .relaxed) == 0)
        #expect(m.indexesRebuilt.load(ordering: .relaxed) == 0)
        let fast = snapshot(t.partitions[0])
        #expect(fast.records == before.records)
        #expect(fast.end == before.end)
        #expect(fast.runs.contains { $0.count > 2 }, "some segment has gaps")
        h.broker.stop()

        // The same start-up reading every segment whole: the same segments, runs, records, claims.
        for b in bases { unlink(part + "/" + LogSegment.fileName(b) + ".runs") }
        let h2 = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        let m2 = h2.broker.logs.memory
        let t2 = try #require(h2.broker.logTopic(named: "cs"))
        let nonEmpty = bases.filter { !readFile(part + "/" + LogSegment.fileName($0) + ".log").isEmpty }.count
        #expect(m2.recoveryFullScans.load(ordering: .relaxed) == nonEmpty)
        #expect(snapshot(t2.partitions[0]) == fast)
        // The runs files were written anew: the next start-up reads nothing whole again.
        #expect(bases.allSatisfy { exists(part + "/" + LogSegment.fileName($0) + ".runs") })
        h2.broker.stop()
        let h3 = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        #expect(h3.broker.logs.memory.recoveryFullScans.load(ordering: .relaxed) == 0)
        #expect(snapshot(try #require(h3.broker.logTopic(named: "cs")).partitions[0]) == fast)
        h3.broker.stop()
    }

    enum Damage: CaseIterable, Sendable { case missing, flippedByte, truncated, anotherSegments, beforeCompaction }

    @Test(arguments: Damage.allCases)
    func aBadRunsFileMakesItsSegmentBeReadWholeWithTheSameResult(_ damage: Damage) throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        let before = try fillCompacted(dir, "bad")
        let part = dir.path + "/logs/bad/0"
        let bases = LogPartition.segmentBases(part)
        let good: Snapshot
        do {
            let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
            good = snapshot(try #require(h.broker.logTopic(named: "bad")).partitions[0])
            h.broker.stop()
        }
        // The compacted segment whose pre-compaction runs file `fillCompacted` kept.
        let victim = part + "/" + LogSegment.fileName(before.compactedBase) + ".runs"
        let goodBytes = readFile(victim)
        switch damage {
        case .missing:
            unlink(victim)
        case .flippedByte:
            var b = goodBytes
            b[b.count / 2] ^= 0x10
            writeFile(victim, b)
        case .truncated:
            writeFile(victim, Array(goodBytes.dropLast(16)))
        case .anotherSegments:
            // A whole, valid file, but of the next sealed segment.
            let other = bases[try #require(bases.firstIndex(of: before.compactedBase)) + 1]
            writeFile(victim, readFile(part + "/" + LogSegment.fileName(other) + ".runs"))
        case .beforeCompaction:
            // A whole, valid file, but of the segment as it was before compaction rewrote it.
            #expect(before.runsBeforeCompaction != goodBytes)
            writeFile(victim, before.runsBeforeCompaction)
        }
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        let m = h.broker.logs.memory
        let t = try #require(h.broker.logTopic(named: "bad"))
        #expect(m.recoveryFullScans.load(ordering: .relaxed) == 1)
        #expect(m.recoveryTruncatedBytes.load(ordering: .relaxed) == 0)
        #expect(snapshot(t.partitions[0]) == good)
        #expect(readFile(victim) == goodBytes)
        h.broker.stop()
    }

    @Test func afterAKillTheActiveSegmentsRunsFileIsAPrefixItsNewBatchesExtend() throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        let before = try fillCompacted(dir, "kill")
        var expected = before.records
        do {
            // Restarted, more appended and written, then killed: the active segment's indexes and
            // runs file are those of the clean stop, a prefix of its batches.
            let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
            let t = try #require(h.broker.logTopic(named: "kill"))
            #expect(h.broker.logs.memory.recoveryFullScans.load(ordering: .relaxed) == 0)
            let end = t.partitions[0].figures.endOffset
            // Appends that fit in the active segment (a roll would make a new, unindexed one).
            let active = t.partitions[0].lock.withLock { t.partitions[0].segments.last!.size }
            let n = max(1, min(20, (8192 - active) / 150))
            for i in 0..<n {
                let key = "late\(i % 3)"
                h.appendRecord(t, keyedValue(i), key: key)
                expected.append(Rec(offset: end + UInt64(i), key: key, value: keyedValue(i)))
            }
            _ = t.flush(sync: false)
        }
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        let m = h.broker.logs.memory
        let t = try #require(h.broker.logTopic(named: "kill"))
        #expect(m.recoveryFullScans.load(ordering: .relaxed) == 0)
        let fast = snapshot(t.partitions[0])
        #expect(fast.records == expected)
        h.broker.stop()
        // The same as reading every segment whole.
        for b in LogPartition.segmentBases(dir.path + "/logs/kill/0") {
            unlink(dir.path + "/logs/kill/0/" + LogSegment.fileName(b) + ".runs")
        }
        let h2 = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        #expect(snapshot(try #require(h2.broker.logTopic(named: "kill")).partitions[0]) == fast)
        h2.broker.stop()
    }

    @Test(arguments: [LogPartition.CompactionStep.written, .committed, .indexesInPlace])
    func aCompactionStoppedAtAnyStepRestartsReadingOnlyTheActiveSegmentWhole(_ step: LogPartition.CompactionStep) throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        let part = dir.path + "/logs/cc/0"
        do {
            let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
            let t = try h.declareTopic("cc", "cleanup=compact segment_bytes=1024")
            for i in 0..<80 { h.appendRecord(t, keyedValue(i), key: "k\(i % 5)") }
            _ = t.flush(sync: false)
            _ = t.flush(sync: false)
            let p = t.partitions[0]
            // Every segment's swap stops at `step`, as a kill -9 there would; the broker is not stopped.
            p.compactionHook = { $0 != step }
            _ = p.compact(nowMs: h.clock.now)
            if step != .written {
                #expect(files(part).contains { $0.hasSuffix(step == .committed ? ".runs.cleaned" : ".log.swap") })
            }
        }
        // The runs file of a segment whose file is gone (a crash between a segment's removals).
        writeFile(part + "/" + LogSegment.fileName(99_999) + ".runs", [1, 2, 3], create: true)
        let fast: Snapshot
        do {
            let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
            // Only the active segment (never indexed: killed) is read whole.
            let last = try #require(LogPartition.segmentBases(part).last)
            let activeWritten = !readFile(part + "/" + LogSegment.fileName(last) + ".log").isEmpty
            #expect(h.broker.logs.memory.recoveryFullScans.load(ordering: .relaxed) == (activeWritten ? 1 : 0))
            #expect(!files(part).contains { $0.hasSuffix(".cleaned") || $0.hasSuffix(".swap") || $0.hasSuffix(".tmp") })
            #expect(!exists(part + "/" + LogSegment.fileName(99_999) + ".runs"))
            fast = snapshot(try #require(h.broker.logTopic(named: "cc")).partitions[0])
            #expect(fast.end == 80)
            h.broker.stop()
        }
        for b in LogPartition.segmentBases(part) { unlink(part + "/" + LogSegment.fileName(b) + ".runs") }
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        #expect(snapshot(try #require(h.broker.logTopic(named: "cc")).partitions[0]) == fast)
        h.broker.stop()
    }
}

// MARK: helpers

private struct Rec: Equatable {
    let offset: UInt64
    let key: String?
    let value: String
}

/// What a restart must give back: records, log start and end, each segment's offsets, size,
/// runs and indexes, and what groups claim from a few offsets.
private struct Snapshot: Equatable {
    var records: [Rec] = []
    var start: UInt64 = 0
    var end: UInt64 = 0
    var segments: [[UInt64]] = []
    var runs: [[UInt64]] = []
    var claims: [[UInt64]] = []
}

private func snapshot(_ p: LogPartition) -> Snapshot {
    var s = Snapshot()
    _ = p.read(from: 0, maxRecords: .max) { r in
        s.records.append(Rec(offset: r.offset, key: r.key.map { String(decoding: $0, as: UTF8.self) },
                             value: String(decoding: r.value, as: UTF8.self)))
    }
    let f = p.figures
    s.start = f.startOffset
    s.end = f.endOffset
    p.lock.withLock {
        for seg in p.segments {
            s.segments.append([seg.baseOffset, seg.nextOffset, UInt64(seg.size), seg.maxTimestamp] + seg.index
                              + seg.timeIndex.map { $0.timestamp })
            s.runs.append(seg.runs.map { $0.flatMap { [$0.base, $0.count] } } ?? [UInt64.max])
        }
        for from in stride(from: UInt64(0), to: f.endOffset + 2, by: 97) {
            for n in [1, 5, 40] {
                let c = p.lockedClaim(from: from, records: n)
                s.claims.append([c.from, c.upper, UInt64(c.count)])
            }
        }
    }
    return s
}

private struct Filled {
    let records: [Rec]
    let end: UInt64
    /// A segment compaction rewrote (records kept), and its runs file from before.
    let compactedBase: UInt64
    let runsBeforeCompaction: [UInt8]
}

/// A compacted topic: keyed records (some keys updated often, every seventh record unkeyed) over
/// many segments, compacted once, more appended (new sealed segments not compacted yet), and the
/// broker stopped cleanly. Returns what it reads before the stop.
private func fillCompacted(_ dir: ScratchDirectory, _ name: String) throws -> Filled {
    let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
    let t = try h.declareTopic(name, LogCompactedStartupTests.config)
    let p = t.partitions[0]
    let part = dir.path + "/logs/\(name)/0"
    func key(_ i: Int) -> String? { i % 7 == 0 ? nil : "k\(i % 7 == 1 ? i : i % 29)" }
    let first = LogCompactedStartupTests.records
    for i in 0..<first { h.appendRecord(t, keyedValue(i), key: key(i)) }
    _ = t.flush(sync: false)
    _ = t.flush(sync: false)
    // The sealed segment that keeps records once compacted: the one holding record 8 (its own key).
    let bases = LogPartition.segmentBases(part)
    let compactedBase = bases.last { $0 <= 8 }!
    let runsBefore = readFile(part + "/" + LogSegment.fileName(compactedBase) + ".runs")
    #expect(!runsBefore.isEmpty)
    let result = p.compact(nowMs: h.clock.now)
    #expect(result.segments > 0)
    for i in first..<(first + 400) { h.appendRecord(t, keyedValue(i), key: key(i)) }
    _ = t.flush(sync: false)
    _ = t.flush(sync: false)
    let s = snapshot(p)
    #expect(p.lock.withLock { p.segments.contains { $0.baseOffset == compactedBase && $0.runs != nil } })
    h.broker.stop()
    return Filled(records: s.records, end: s.end, compactedBase: compactedBase, runsBeforeCompaction: runsBefore)
}

private func keyedValue(_ i: Int) -> String { "v\(i)-" + String(repeating: "y", count: 60) }

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
