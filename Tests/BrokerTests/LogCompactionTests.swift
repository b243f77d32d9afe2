// Log compaction (`cleanup=compact`, LogPartition+Compaction.swift): the newest record per key kept
// in the closed segments, the active segment untouched, tombstones removing their key and then
// expiring, reads stepping over the offsets compaction removed, files rewritten and recovered
// (with a crash's leftover `.cleaned` file).
@testable import Broker
import Durability
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct LogCompaction {
    @Test func theCleanupWordsParseAndDeclareAgain() throws {
        guard case .success(let c) = LogConfig.parse(["cleanup=compact", "delete_retention_ms=5"]) else {
            Issue.record("cleanup=compact refused")
            return
        }
        #expect(c.cleanup == .compact && c.deleteRetentionMs == 5)
        guard case .success(let again) = LogConfig.parse(c.words.split(separator: " ")) else {
            Issue.record("words do not parse")
            return
        }
        #expect(again == c)
        #expect(LogConfig().deleteRetentionMs == 86_400_000)
        if case .success = LogConfig.parse(["cleanup=other"]) { Issue.record("cleanup=other accepted") }
    }

    @Test func closedSegmentsKeepTheNewestRecordPerKeyAndTheActiveSegmentIsUntouched() throws {
        let h = try BrokerHarness()
        let t = try declareCompacted(h, "c")
        #expect(t.isCompacted)
        let keys = (0..<60).map { "k\($0 % 5)" }
        for (i, k) in keys.enumerated() { put(h, t, k, "v\(i)-" + String(repeating: "x", count: 60)) }
        let p = t.partitions[0]
        let (closedEnd, active, activeSize, end) = p.lock.withLock {
            (p.segments.last!.baseOffset, p.segments.last!, p.segments.last!.size, p.lockedEndOffset)
        }
        #expect(closedEnd > 10, "several closed segments")
        let r = p.compact(nowMs: h.clock.now)
        #expect(r.records > 0 && r.segments > 0 && r.bytes > 0)
        #expect(h.broker.logs.memory.compactedRecords.load(ordering: .relaxed) == UInt64(r.records))
        #expect(h.broker.logs.memory.compactions.load(ordering: .relaxed) == UInt64(r.segments))
        let expected = expectedOffsets(keys, closedEnd: Int(closedEnd))
        #expect(allRecords(p).map(\.0) == expected.map(UInt64.init))
        #expect(allRecords(p).map(\.1) == expected.map { "v\($0)-" + String(repeating: "x", count: 60) })
        p.lock.withLock {
            #expect(p.segments.last! === active && active.size == activeSize)
            #expect(p.lockedEndOffset == end)
        }
        #expect(h.broker.logs.memory.memoryBytes.load(ordering: .relaxed) == p.figures.memoryBytes, "memory given back")
        // Nothing more to do until another segment closes.
        #expect(p.compact(nowMs: h.clock.now) == LogPartition.CompactionResult())
    }

    @Test func aReadFromACompactedOffsetContinuesAtTheNextRecordKept() throws {
        let h = try BrokerHarness()
        let t = try declareCompacted(h, "gaps")
        let keys = (0..<40).map { "k\($0 % 3)" }
        for (i, k) in keys.enumerated() { put(h, t, k, "v\(i)-" + String(repeating: "y", count: 100)) }
        let p = t.partitions[0]
        let closedEnd = p.lock.withLock { p.segments.last!.baseOffset }
        p.compact(nowMs: h.clock.now)
        let kept = expectedOffsets(keys, closedEnd: Int(closedEnd)).map(UInt64.init)
        for o in 0..<UInt64(keys.count) {
            var got: [UInt64] = []
            _ = p.read(from: o, maxRecords: 1) { got.append($0.offset) }
            #expect(got == [kept.first { $0 >= o }!], "from \(o)")
        }
        // A group reads across the gaps to the end.
        var values: [String] = []
        while true {
            var n = 0
            _ = t.read(group: "g", partition: nil, maxRecords: 7) { _, r in
                values.append(String(decoding: r.value, as: UTF8.self))
                n += 1
            }
            if n == 0 { break }
        }
        #expect(values.count == kept.count)
        // One record a read: never an empty read before the end (a claim counts records, not offsets).
        #expect(groupOffsetsOneByOne(t, "one") == kept)
    }

    @Test func aTombstoneRemovesItsKeyThenExpires() throws {
        let h = try BrokerHarness()
        let t = try declareCompacted(h, "tomb", "delete_retention_ms=1000")
        let pad = String(repeating: "z", count: 300)
        put(h, t, "a", "a1" + pad)
        put(h, t, "b", "b1" + pad)
        put(h, t, "a", "")
        for i in 0..<12 { put(h, t, "f\(i)", pad) }
        let p = t.partitions[0]
        p.compact(nowMs: h.clock.now)
        var recs = allRecords(p)
        #expect(!recs.contains { $0.0 == 0 }, "a's old value is gone")
        #expect(recs.contains { $0.0 == 2 && $0.1.isEmpty }, "the tombstone stays while young")
        #expect(recs.contains { $0.0 == 1 })
        h.clock.advance(1500)
        let r = p.compact(nowMs: h.clock.now)
        #expect(r.records == 1)
        recs = allRecords(p)
        #expect(!recs.contains { $0.0 == 2 }, "the tombstone expired")
        #expect(recs.first?.0 == 1)
    }

    @Test func onDiskTheSegmentFilesAreRewrittenAndRecovered() throws {
        let dir = "/tmp/compaction-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        mkdir(dir, 0o755)
        defer { removeTree(dir) }
        let keys = (0..<60).map { "k\($0 % 4)" }
        var expected: [Int] = []
        do {
            let h = try BrokerHarness(dataDirectory: dir) { $0.fsync = .never }
            let t = try declareCompacted(h, "disk")
            for (i, k) in keys.enumerated() { put(h, t, k, "v\(i)-" + String(repeating: "x", count: 60)) }
            _ = t.flush(sync: false)
            _ = t.flush(sync: false)
            let p = t.partitions[0]
            let closedEnd = p.lock.withLock { p.segments.last!.baseOffset }
            let r = p.compact(nowMs: h.clock.now)
            #expect(r.segments > 0)
            expected = expectedOffsets(keys, closedEnd: Int(closedEnd))
            #expect(allRecords(p).map(\.0) == expected.map(UInt64.init))
            // Declared `cleanup=delete` (and no retention) afterwards: the gaps must still recover.
            guard case .success(var c) = LogConfig.parse(["segment_bytes=1024", "retention_ms=-1"]) else { return }
            c.cleanup = .delete
            #expect(h.broker.declareLog("disk", c) == .ok)
            h.broker.stop()
        }
        // A crash's leftover: recovery removes it and keeps the segment it did not replace.
        let part = dir + "/logs/disk/0"
        let leftover = part + "/" + LogSegment.fileName(0) + ".log" + LogPartition.cleanedSuffix
        let fd = open(leftover, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        _ = write(fd, "garbage", 7)
        close(fd)
        // A crash after the rename, before the indexes were rewritten: a compacted segment's
        // index still the old one's (here: garbage), rebuilt by recovery.
        let bases = LogPartition.segmentBases(part)
        let compactedBase = try #require(bases.first)
        let index = part + "/" + LogSegment.fileName(compactedBase) + ".index"
        let ifd = open(index, O_WRONLY | O_TRUNC)
        _ = write(ifd, "0123456789abcdef", 16)
        close(ifd)
        let h = try BrokerHarness(dataDirectory: dir) { $0.fsync = .never }
        #expect(access(leftover, F_OK) != 0)
        #expect(access(part + "/" + LogPartition.compactedMarker, F_OK) == 0)
        let t = try #require(h.broker.logTopic(named: "disk"))
        let p = t.partitions[0]
        #expect(allRecords(p).map(\.0) == expected.map(UInt64.init))
        #expect(p.figures.endOffset == UInt64(keys.count))
        #expect(groupOffsetsOneByOne(t, "after") == expected.map(UInt64.init), "runs rebuilt by recovery")
        #expect(h.broker.logs.memory.indexesRebuilt.load(ordering: .relaxed) == 1)
        #expect(h.broker.logs.memory.recoverySegmentsRemoved.load(ordering: .relaxed) == 0)
        #expect(h.broker.logs.memory.recoveryTruncatedBytes.load(ordering: .relaxed) == 0)
        h.broker.stop()
    }
}

private func declareCompacted(_ h: BrokerHarness, _ name: String, _ words: String = "") throws -> LogTopic {
    guard case .success(let c) = LogConfig.parse(("cleanup=compact segment_bytes=1024 " + words).split(separator: " ")) else {
        throw CompactionTestError.badConfig
    }
    #expect(h.broker.declareLog(name, c) == .ok)
    return try #require(h.broker.logTopic(named: name))
}

private enum CompactionTestError: Error { case badConfig }

private func put(_ h: BrokerHarness, _ t: LogTopic, _ key: String, _ value: String) {
    let v = Array(value.utf8), k = Array(key.utf8)
    _ = k.withUnsafeBytes { kb in
        h.broker.appendLog(t, partition: 0, key: kb, valueLength: v.count, flags: 0) { dst in
            v.withUnsafeBytes { if let b = $0.baseAddress { dst.copyMemory(from: b, byteCount: v.count) } }
        }
    }
}

/// Every record of the partition, by offset.
private func allRecords(_ p: LogPartition) -> [(UInt64, String)] {
    var out: [(UInt64, String)] = []
    _ = p.read(from: 0, maxRecords: .max) { out.append(($0.offset, String(decoding: $0.value, as: UTF8.self))) }
    return out
}

/// The offsets compaction keeps: every one from the active segment on, and before it the last of each key.
private func expectedOffsets(_ keys: [String], closedEnd: Int) -> [Int] {
    var last: [String: Int] = [:]
    for i in 0..<closedEnd { last[keys[i]] = i }
    return (0..<keys.count).filter { $0 >= closedEnd || last[keys[$0]] == $0 }
}

/// The offsets a new group reads one record a read, until a read is empty.
private func groupOffsetsOneByOne(_ t: LogTopic, _ group: String) -> [UInt64] {
    var out: [UInt64] = []
    while true {
        var n = 0
        _ = t.read(group: group, partition: nil, maxRecords: 1) { _, r in
            out.append(r.offset)
            n += 1
        }
        if n == 0 || out.count > 10_000 { return out }
    }
}
