// Topics and partitions (Sources/Broker/Log): Kafka's murmur2 vectors, the batch format on disk,
// the sparse indexes at every boundary, rolling, retention, recovery from a torn tail and from a
// byte flipped mid-segment, index rebuilds, memory-only logs dropping their oldest segment, and
// consumer groups' offsets across a restart.
@testable import Broker
import CacheEngine
import Durability
import Platform
import Synchronization
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct LogTests {
    // MARK: murmur2

    @Test func murmur2MatchesKafkasUtilsTestVectors() {
        // Kafka's clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2.
        let vectors: [(String, Int32)] = [
            ("21", -973_932_308),
            ("foobar", -790_332_482),
            ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
            ("abc", 479_470_107),
        ]
        for (s, expected) in vectors {
            #expect(Array(s.utf8).withUnsafeBytes { Murmur2.hash($0) } == expected, "\(s)")
        }
        // Kafka's partition: toPositive(murmur2) % N.
        #expect(Array("foobar".utf8).withUnsafeBytes { Murmur2.partition(forKey: $0, partitions: 7) }
                == Int(UInt32(bitPattern: -790_332_482) & 0x7fff_ffff) % 7)
    }

    // MARK: format, index, roll

    @Test func aSegmentFileHoldsFramedBatchesWithTheirCRCAndIsNamedByItsBaseOffset() throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        let t = try h.declareTopic("events")
        #expect(h.appendRecord(t, "hello", key: "k1", flags: 7) == .appended(partition: Murmur2Key.partition("k1", 1), offset: 0))
        #expect(h.appendRecord(t, "world") == .appended(partition: 0, offset: 1))
        _ = t.flush(sync: false)
        let path = dir.path + "/logs/events/0/00000000000000000000.log"
        let bytes = readFile(path)
        // [len][crc][baseOffset u64][count u32][maxTs u64][ts u64][flags u32][keyLen u32][valueLen u32][key][value]
        let first = 8 + 20 + 20 + 2 + 5
        #expect(bytes.count == first + 8 + 20 + 20 + 5)
        #expect(le32(bytes, 0) == UInt32(first - 8))
        let crc = bytes[8..<first].withUnsafeBytes { CRC32C.checksum($0) }
        #expect(le32(bytes, 4) == crc)
        #expect(le32(bytes, 8 + 8) == 1)
        #expect(le32(bytes, 8 + 20 + 8) == 7)
        #expect(le32(bytes, 8 + 20 + 12) == 2)
        #expect(Array(bytes[(first - 7)..<(first - 5)]) == Array("k1".utf8))
        #expect(le32(bytes, first + 8 + 20 + 12) == 0xffff_ffff, "an unkeyed record")
        #expect(readAll(t, group: "g") == ["hello", "world"])
    }

    @Test func everyOffsetIsFoundFromTheSparseIndexInMemoryAndOnDisk() throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        let t = try h.declareTopic("idx", "segment_bytes=65536")
        let n = 3000
        for i in 0..<n { _ = h.appendRecord(t, "record-\(i)-" + String(repeating: "x", count: i % 97)) }
        let p = t.partitions[0]
        // Before any flush every byte is in memory.
        try checkEveryOffset(p, n)
        _ = t.flush(sync: false)
        // Sealed segments' memory is gone once written: reads come from the files.
        try checkEveryOffset(p, n)
        let segs = p.lock.withLock { p.segments }
        #expect(segs.count > 3)
        for s in segs {
            // An entry at each segment's first batch, then one per 4 KB at most.
            #expect(s.index.first.map { $0 >> 32 } == 0)
            #expect(s.index.count >= s.size / (LogSegment.indexIntervalBytes + 200))
            for e in s.index {
                let rel = e >> 32, pos = Int(e & 0xffff_ffff)
                // Each entry's own offset maps to exactly its position, one before it to an earlier one.
                #expect(s.position(for: s.baseOffset + rel) == pos)
                if rel > 0 { #expect(s.position(for: s.baseOffset + rel - 1) < pos) }
            }
            #expect(s.position(for: s.baseOffset) == 0)
            #expect(s.position(for: s.nextOffset - 1) <= s.size)
        }
        // Segments follow each other densely and are named by their base offsets.
        for (a, b) in zip(segs, segs.dropFirst()) { #expect(a.nextOffset == b.baseOffset) }
        #expect(LogPartition.segmentBases(dir.path + "/logs/idx/0") == segs.map(\.baseOffset))
    }

    @Test func aSegmentRollsBySizeAndByAge() throws {
        let h = try BrokerHarness { _ in }
        let t = try h.declareTopic("roll", "segment_bytes=1024 segment_ms=1000")
        for _ in 0..<20 { _ = h.appendRecord(t, String(repeating: "a", count: 100)) }
        let p = t.partitions[0]
        // 148 bytes a batch: six in 1024.
        #expect(p.figures.segments == 4)
        #expect(p.lock.withLock { p.segments.map(\.baseOffset) } == [0, 6, 12, 18])
        h.clock.advance(1000)
        _ = h.appendRecord(t, "late")
        #expect(p.figures.segments == 5, "rolled by age")
        #expect(readAll(t, group: "g").count == 21)
    }

    @Test func theActiveSegmentKeepsOnlyItsHotTailInMemoryOnceWritten() throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        let t = try h.declareTopic("hot")
        let n = 30_000
        for i in 0..<n { _ = h.appendRecord(t, "record-\(i)-" + String(repeating: "h", count: 90)) }
        let p = t.partitions[0]
        #expect(p.figures.memoryBytes == p.figures.bytes, "nothing written yet: all in memory")
        _ = t.flush(sync: false)
        let f = p.figures
        #expect(f.segments == 1)
        #expect(f.memoryBytes <= h.broker.logs.memory.hotTailBytes * 2)
        #expect(f.memoryBytes >= h.broker.logs.memory.hotTailBytes)
        #expect(h.broker.logs.memory.memoryBytes.load(ordering: .relaxed) == f.memoryBytes)
        // Every record, across the boundary between the file and the hot tail.
        try checkEveryOffset(p, n)
        #expect(h.broker.logs.memory.diskReads.load(ordering: .relaxed) > 0)
        #expect(readAll(t, group: "g").count == n)
    }

    @Test func withFsyncAlwaysAnAppendWaitsForAGroupCommitCycle() throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .always }
        let t = try h.declareTopic("sync")
        let v = Array("durable".utf8)
        let (outcome, ticket) = h.broker.appendLog(t, partition: nil, key: nil, valueLength: v.count, flags: 0) { dst in
            v.withUnsafeBytes { dst.copyMemory(from: $0.baseAddress!, byteCount: v.count) }
        }
        #expect(outcome == .appended(partition: 0, offset: 0))
        let flusher = try #require(h.broker.flusher)
        #expect(ticket > 0)
        #expect(!flusher.isDurable(ticket))
        h.broker.start()
        var waited = 0
        while !flusher.isDurable(ticket) && waited < 5000 {
            usleep(1000)
            waited += 1
        }
        #expect(flusher.isDurable(ticket))
        // On disk once durable.
        #expect(readFile(dir.path + "/logs/sync/0/00000000000000000000.log").count == LogBatch.framedLength(keyLength: 0, valueLength: v.count))
        h.broker.stop()
    }

    @Test func anAppendWakesEveryReaderParkedOnItsPartition() throws {
        let h = try BrokerHarness { _ in }
        let t = try h.declareTopic("park", "partitions=2")
        let wakes = WakeCounter()
        let onBoth = Waiter<Void>(waker: wakes.waker)
        let onOne = Waiter<Void>(waker: wakes.waker)
        let onZero = Waiter<Void>(waker: wakes.waker)
        t.addWaiter(onBoth, partition: nil)
        t.addWaiter(onOne, partition: 1)
        t.addWaiter(onZero, partition: 0)
        let v = Array("x".utf8)
        _ = h.broker.appendLog(t, partition: 1, key: nil, valueLength: 1, flags: 0) { dst in
            v.withUnsafeBytes { dst.copyMemory(from: $0.baseAddress!, byteCount: 1) }
        }
        #expect(wakes.value == 2)
        guard case .delivered = onBoth.collect() else { Issue.record("the waiter on both partitions"); return }
        guard case .delivered = onOne.collect() else { Issue.record("the waiter on partition 1"); return }
        #expect(onZero.isArmed, "partition 0 got nothing")
        // Given up: the next append there wakes nobody.
        _ = onZero.cancel()
        t.removeWaiter(onZero, partition: 0)
        t.removeWaiter(onBoth, partition: nil)
        _ = h.broker.appendLog(t, partition: 0, key: nil, valueLength: 1, flags: 0) { dst in
            v.withUnsafeBytes { dst.copyMemory(from: $0.baseAddress!, byteCount: 1) }
        }
        #expect(wakes.value == 2)
        #expect(t.partitions[0].lock.withLock { !t.partitions[0].waiters.hasArmed })
    }

    @Test func concurrentProducersAndTwoReadersOfOneGroupSeeEachRecordOnce() throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        let t = try h.declareTopic("busy", "partitions=3 segment_bytes=16384")
        h.broker.start()
        defer { h.broker.stop() }
        let producers = 4, each = 2000
        let seen = PlainMutex()
        let counts = Counts(producers * each)
        let broker = h.broker
        var threads: [BackgroundThread] = []
        for p in 0..<producers {
            threads.append(BackgroundThread(name: "producer \(p)") {
                for i in 0..<each {
                    let v = Array("\(p * each + i)".utf8)
                    let k = Array("k\(i)".utf8)
                    k.withUnsafeBytes { kb in
                        _ = broker.appendLog(t, partition: nil, key: i % 3 == 0 ? kb : nil, valueLength: v.count, flags: 0) { dst in
                            v.withUnsafeBytes { dst.copyMemory(from: $0.baseAddress!, byteCount: v.count) }
                        }
                    }
                }
            })
        }
        for r in 0..<2 {
            threads.append(BackgroundThread(name: "reader \(r)") {
                // Until every record was read (by either reader), or 30 s without a record.
                var idle = 0
                while idle < 30_000 {
                    var got: [Int] = []
                    _ = t.read(group: "g", partition: nil, maxRecords: 50) { _, rec in got.append(Int(String(decoding: rec.value, as: UTF8.self))!) }
                    if got.isEmpty { idle += 1; usleep(1000) } else { idle = 0 }
                    let done = seen.withLock { () -> Bool in
                        for n in got { counts.values[n] += 1 }
                        counts.read += got.count
                        return counts.read >= producers * each
                    }
                    if done { break }
                }
            })
        }
        for th in threads { th.join() }
        let total = seen.withLock { counts.values }
        #expect(total.allSatisfy { $0 == 1 }, "every record read exactly once by the group")
        #expect(t.partitions.map { $0.figures.endOffset }.reduce(0, +) == UInt64(producers * each))
    }

    // MARK: retention

    @Test func retentionDeletesWholeSegmentsByBytesAndByTime() throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        let t = try h.declareTopic("ret", "segment_bytes=1024 retention_bytes=2048 retention_ms=60000")
        for _ in 0..<30 { _ = h.appendRecord(t, String(repeating: "b", count: 100)) }
        _ = t.flush(sync: false)
        let p = t.partitions[0]
        #expect(p.figures.segments == 5)
        // Bytes: the oldest segments go while the rest still hold 2048 bytes or more.
        #expect(p.applyRetention(nowMs: h.clock.now) == 2)
        #expect(p.figures.startOffset == 12)
        #expect(!exists(dir.path + "/logs/ret/0/00000000000000000000.log"))
        #expect(!exists(dir.path + "/logs/ret/0/00000000000000000006.log"))
        // A group that had not read past them starts at the new log start.
        #expect(readAll(t, group: "late").count == 18)
        // Time: everything is older than a minute, the active segment rolled first.
        h.clock.advance(61_000)
        #expect(p.applyRetention(nowMs: h.clock.now) == 3)
        #expect(p.figures.startOffset == 30)
        #expect(p.figures.endOffset == 30)
        #expect(h.appendRecord(t, "next") == .appended(partition: 0, offset: 30))
    }

    @Test func withoutADataDirectoryTheOldestSegmentIsDroppedWhenMemoryIsFull() throws {
        // 1 MB share: segments of 64 KB.
        let h = try BrokerHarness(memoryMB: 1) { _ in }
        let t = try h.declareTopic("mem")
        let value = String(repeating: "m", count: 1000)
        for _ in 0..<3000 { #expect(h.appendRecord(t, value) != .outOfMemory) }
        let f = t.partitions[0].figures
        #expect(f.startOffset > 0)
        #expect(f.endOffset == 3000)
        #expect(h.broker.share.inUse <= h.broker.share.limit)
        #expect(h.broker.logs.memory.segmentsDropped.load(ordering: .relaxed) > 0)
        let got = readAll(t, group: "g")
        #expect(got.count == Int(f.endOffset - f.startOffset))
    }

    // MARK: recovery

    @Test func aTornTailIsCutAtTheLastWholeBatchAndAppendsContinueDensely() throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        try fillLog(dir, "torn", count: 10)
        let path = dir.path + "/logs/torn/0/00000000000000000000.log"
        let bytes = readFile(path)
        writeFile(path, Array(bytes[0..<(bytes.count - 5)]))
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        let t = try #require(h.broker.logTopic(named: "torn"))
        #expect(t.partitions[0].figures.endOffset == 9)
        #expect(h.broker.logs.memory.recoveryTruncatedBytes.load(ordering: .relaxed) == bytes.count - 5 - (bytes.count / 10) * 9)
        #expect(readFile(path).count == (bytes.count / 10) * 9)
        #expect(h.appendRecord(t, "again") == .appended(partition: 0, offset: 9))
        #expect(readAll(t, group: "g") == (0..<9).map { "r\($0)" } + ["again"])
    }

    @Test func aByteFlippedMidSegmentCutsThereAndRemovesLaterSegments() throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        try fillLog(dir, "flip", count: 60, config: "segment_bytes=1024")
        let part = dir.path + "/logs/flip/0"
        let bases = LogPartition.segmentBases(part)
        #expect(bases.count >= 3)
        // Flip a byte in the third batch of the second segment.
        let second = part + "/" + LogSegment.fileName(bases[1]) + ".log"
        var bytes = readFile(second)
        let batch = bytes.count / Int(bases[2] - bases[1])
        bytes[2 * batch + 30] ^= 0x40
        writeFile(second, bytes)
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        let t = try #require(h.broker.logTopic(named: "flip"))
        #expect(t.partitions[0].figures.endOffset == bases[1] + 2)
        #expect(readFile(second).count == 2 * batch)
        #expect(LogPartition.segmentBases(part) == [bases[0], bases[1]])
        #expect(h.broker.logs.memory.recoverySegmentsRemoved.load(ordering: .relaxed) == bases.count - 2)
        #expect(readAll(t, group: "g") == (0..<Int(bases[1] + 2)).map { "r\($0)" })
        #expect(!h.broker.recoveryNotes.isEmpty)
    }

    @Test func recoveryAfterRandomDamageKeepsADensePrefix() throws {
        // 120 mutations (a flipped byte, a cut, garbage appended, a segment removed, a bad index)
        // of one three-segment log: recovery never crashes, what is read back is a prefix of what
        // was written, offsets dense, and appends continue at the end.
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        try fillLog(dir, "rnd", count: 60, config: "segment_bytes=1024")
        let part = dir.path + "/logs/rnd/0"
        let names = LogPartition.segmentBases(part).map { LogSegment.fileName($0) }
        #expect(names.count == 3)
        var originals: [String: [UInt8]] = [:]
        for n in names { for ext in [".log", ".index", ".timeindex"] { originals[n + ext] = readFile(part + "/" + n + ext) } }
        var rng = SplitMix64(seed: 0x5eed)
        for round in 0..<120 {
            for (file, bytes) in originals { writeFile(part + "/" + file, bytes, create: true) }
            let victim = names[Int(rng.next() % 3)]
            var log = originals[victim + ".log"]!
            switch rng.next() % 5 {
            case 0: log[Int(rng.next() % UInt64(log.count))] ^= UInt8(1 << (rng.next() % 8))
            case 1: log = Array(log[0..<Int(rng.next() % UInt64(log.count))])
            case 2: log += (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            case 3: unlink(part + "/" + victim + ".log")
            default: writeFile(part + "/" + victim + ".index", (0..<Int(rng.next() % 32)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, create: true)
            }
            if exists(part + "/" + victim + ".log") { writeFile(part + "/" + victim + ".log", log, create: true) }
            let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
            let t = try #require(h.broker.logTopic(named: "rnd"))
            let p = t.partitions[0]
            var offsets: [UInt64] = []
            var values: [String] = []
            _ = p.read(from: 0, maxRecords: 1000) { r in
                offsets.append(r.offset)
                values.append(String(decoding: r.value, as: UTF8.self))
            }
            let start = p.figures.startOffset
            #expect(offsets == Array(start..<p.figures.endOffset), "round \(round): dense")
            #expect(values == offsets.map { "r\($0)" }, "round \(round): a prefix of what was written")
            let end = p.figures.endOffset
            #expect(h.appendRecord(t, "more") == .appended(partition: 0, offset: end), "round \(round)")
            h.broker.stop()
            // Back to the three original segments (recovery may have removed or cut files).
            for n in LogPartition.segmentBases(part) where !names.contains(LogSegment.fileName(n)) {
                for ext in [".log", ".index", ".timeindex"] { unlink(part + "/" + LogSegment.fileName(n) + ext) }
            }
        }
    }

    @Test func indexFilesThatDisagreeAreRebuilt() throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        try fillLog(dir, "ix", count: 40, config: "segment_bytes=1024")
        let part = dir.path + "/logs/ix/0"
        let index = part + "/00000000000000000000.index"
        let good = readFile(index)
        #expect(!good.isEmpty)
        writeFile(index, [1, 2, 3])
        unlink(part + "/00000000000000000000.timeindex")
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        #expect(h.broker.logs.memory.indexesRebuilt.load(ordering: .relaxed) == 1)
        #expect(readFile(index) == good)
        #expect(exists(part + "/00000000000000000000.timeindex"))
    }

    // MARK: groups

    @Test func groupsReadIndependentlySeekAndKeepTheirOffsetsAcrossARestart() throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        do {
            let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
            let t = try h.declareTopic("orders", "partitions=3")
            for i in 0..<30 { _ = h.appendRecord(t, "o\(i)", key: "customer-\(i % 5)") }
            // Keys land where Kafka puts them.
            for i in 0..<5 {
                let p = Murmur2Key.partition("customer-\(i)", 3)
                #expect(readPartition(t, group: "probe\(i)", p).contains("o\(i)"))
            }
            #expect(readAll(t, group: "a").count == 30)
            #expect(read(t, group: "b", max: 4).count == 4)
            #expect(readAll(t, group: "a").isEmpty)
            // Seek back to the start of partition 1 and to a time before everything.
            guard case .success(let o) = t.seek(group: "a", partition: 1, to: .earliest) else { Issue.record("seek"); return }
            #expect(o == [0])
            #expect(readAll(t, group: "a").count == Int(t.partitions[1].figures.endOffset))
            guard case .success(let all) = t.seek(group: "a", partition: nil, to: .time(0)) else { Issue.record("seek"); return }
            #expect(all == [0, 0, 0])
            _ = read(t, group: "a", max: 7)
            h.broker.stop()
        }
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        let t = try #require(h.broker.logTopic(named: "orders"))
        #expect(t.partitions.count == 3)
        #expect(t.partitions.map { $0.figures.endOffset }.reduce(0, +) == 30)
        #expect(readAll(t, group: "a").count == 23)
        #expect(readAll(t, group: "b").count == 26)
        #expect(readAll(t, group: "fresh").count == 30)
    }

    @Test func aTopicWhoseNameAQueueHoldsAtStartUpIsNotLoaded() throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        try fillLog(dir, "both", count: 3)
        // A queue's journal of the same name (files from elsewhere): the queue is recovered first.
        writeFile(dir.path + "/both.journal", [], create: true)
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        #expect(h.broker.queue(named: "both", create: false) != nil)
        #expect(h.broker.logTopic(named: "both") == nil)
        #expect(h.broker.recoveryNotes.contains { $0.contains("a queue has the topic's name") })
    }

    @Test func aTopicAndAQueueCannotShareAName() throws {
        let h = try BrokerHarness { _ in }
        _ = h.broker.queue(named: "jobs")
        #expect(h.broker.declareLog("jobs", LogConfig()) == .isQueue)
        _ = try h.declareTopic("stream")
        #expect(h.broker.queue(named: "stream") == nil)
        var c = LogConfig()
        c.partitions = 2
        #expect(h.broker.declareLog("stream", c) == .partitionsDiffer(1))
    }
}

// MARK: helpers

/// Counts shared by test threads, guarded by the test's mutex.
final class Counts: @unchecked Sendable {
    var values: [Int]
    var read = 0
    init(_ n: Int) { values = Array(repeating: 0, count: n) }
}

enum Murmur2Key {
    static func partition(_ key: String, _ n: Int) -> Int { Array(key.utf8).withUnsafeBytes { Murmur2.partition(forKey: $0, partitions: n) } }
}

private func read(_ t: LogTopic, group: String, max: Int, partition: Int? = nil) -> [String] {
    var out: [String] = []
    _ = t.read(group: group, partition: partition, maxRecords: max) { _, r in out.append(String(decoding: r.value, as: UTF8.self)) }
    return out
}

private func readAll(_ t: LogTopic, group: String) -> [String] {
    var out: [String] = []
    while true {
        let got = read(t, group: group, max: 100)
        if got.isEmpty { return out }
        out += got
    }
}

private func readPartition(_ t: LogTopic, group: String, _ p: Int) -> [String] { read(t, group: group, max: 1000, partition: p) }

/// Reading from each offset finds exactly that record.
private func checkEveryOffset(_ p: LogPartition, _ n: Int) throws {
    for o in 0..<n {
        var got: [UInt64] = []
        var value = ""
        _ = p.read(from: UInt64(o), maxRecords: 1) { r in
            got.append(r.offset)
            value = String(decoding: r.value, as: UTF8.self)
        }
        #expect(got == [UInt64(o)])
        #expect(value.hasPrefix("record-\(o)-"))
        if got != [UInt64(o)] { return }
    }
}

/// A log of `count` records r0, r1, ... written and the broker stopped.
private func fillLog(_ dir: ScratchDirectory, _ name: String, count: Int, config: String = "") throws {
    let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
    let t = try h.declareTopic(name, config)
    for i in 0..<count { _ = h.appendRecord(t, "r\(i)") }
    h.broker.stop()
}

private func le32(_ b: [UInt8], _ at: Int) -> UInt32 {
    UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
}

/// Removes a directory and everything under it.
func removeTree(_ path: String) {
    if let d = opendir(path) {
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
            guard name != "." && name != ".." else { continue }
            let full = path + "/" + name
            var st = stat()
            if lstat(full, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { removeTree(full) } else { unlink(full) }
        }
        closedir(d)
    }
    rmdir(path)
}
