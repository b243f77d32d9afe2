// A log's memory chunks as the engine's slab items (SegmentMemory.swift's LogChunkAllocator): in
// the chunk's slab class's used chunks while held and back when a topic is deleted or retention
// drops segments; the chunk size filling its class's chunks exactly; a log larger than its memory
// with a data directory whose old offsets are read from the files without dropping the hot tail;
// and an engine with no memory for a chunk: a memory-only topic drops its own partition's oldest
// segments and goes on (never another topic's, refusing when it has nothing older), a stream
// refuses (redis's -OOM), both counted, without a crash.
@testable import Broker
import CacheEngine
import Platform
import TestSupport
import Testing

@Suite struct LogSlabMemoryTests {
    /// Used chunks of the class log chunks live in.
    func usedChunks(_ h: BrokerHarness) -> Int {
        let c = h.broker.logs.memory.chunks
        let id = h.engine.slabClassID(forItemSize: ItemLayout.totalSize(keyLength: 0, valueLength: c.chunkBytes))
        return h.engine.slabClassStats(id).usedChunks
    }

    @Test func theChunkSizeFillsTheLargestSlabClassAtMost64KBExactly() throws {
        let h = try BrokerHarness()
        let c = h.broker.logs.memory.chunks
        let total = ItemLayout.totalSize(keyLength: 0, valueLength: c.chunkBytes)
        let id = h.engine.slabClassID(forItemSize: total)
        #expect(h.engine.slabClassStats(id).chunkSize == total, "no byte of the slab chunk unused")
        #expect(total <= 64 << 10)
        #expect(id < h.engine.largestSlabClass)
        // memcached's default classes (-f 1.25, -n 48): 52,984 bytes, 19 to a 1 MB page.
        #expect(total == 52_984 && h.engine.slabClassStats(id).chunksPerPage == 19)
        // The next class up is past 64 KB.
        #expect(h.engine.slabClassStats(id + 1).chunkSize > 64 << 10)
    }

    @Test func aTopicsChunksAreSlabItemsGivenBackWhenItIsDeleted() throws {
        let h = try BrokerHarness()
        let before = usedChunks(h)
        let t = try h.declareTopic("slab")
        for i in 0..<3000 { h.appendRecord(t, "record-\(i)-" + String(repeating: "s", count: 200)) }
        let chunks = h.broker.logs.memory.chunks
        let held = chunks.held.load(ordering: .relaxed)
        #expect(held >= 3000 * 250 / chunks.chunkBytes)
        #expect(usedChunks(h) == before + held, "every chunk a slab item of its class")
        #expect(chunks.heldBytes.load(ordering: .relaxed) == held * ItemLayout.totalSize(keyLength: 0, valueLength: chunks.chunkBytes))
        #expect(h.broker.deleteLog("slab") == .deleted)
        #expect(chunks.held.load(ordering: .relaxed) == 0 && chunks.heldBytes.load(ordering: .relaxed) == 0)
        #expect(usedChunks(h) == before)
        #expect(h.broker.logs.memory.memoryBytes.load(ordering: .relaxed) == 0)
        #expect(h.broker.share.inUse == 0)
    }

    @Test func retentionGivesDroppedSegmentsChunksBack() throws {
        let h = try BrokerHarness()
        let before = usedChunks(h)
        let t = try h.declareTopic("ret", "segment_bytes=65536 retention_bytes=1")
        for i in 0..<2000 { h.appendRecord(t, "record-\(i)-" + String(repeating: "r", count: 200)) }
        let p = t.partitions[0]
        #expect(p.figures.segments > 4)
        let deleted = p.applyRetention(nowMs: h.clock.now)
        #expect(deleted > 0 && p.figures.segments == 1)
        let chunks = h.broker.logs.memory.chunks
        // What is left: the active segment's chunks only.
        let left = p.lock.withLock { p.segments[0].memory.chunks.count }
        #expect(chunks.held.load(ordering: .relaxed) == left)
        #expect(usedChunks(h) == before + left)
        #expect(h.broker.logs.memory.memoryBytes.load(ordering: .relaxed) == p.figures.memoryBytes)
        #expect(h.broker.share.inUse == p.figures.bytes)
    }

    @Test func aLogLargerThanItsMemoryReadsOldOffsetsFromItsFilesAndKeepsItsHotTail() throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        // 1 MB of broker memory: a 128 KB hot tail, a 512 KB bound; about 6 MB of records.
        let h = try BrokerHarness(dataDirectory: dir.path, memoryMB: 1) { $0.fsync = .never }
        let t = try h.declareTopic("big")
        let n = 20_000
        let p = t.partitions[0]
        for i in 0..<n {
            h.appendRecord(t, "record-\(i)-" + String(repeating: "b", count: 300))
            if i % 200 == 199 { _ = t.flush(sync: false) }
        }
        _ = t.flush(sync: false)
        let m = h.broker.logs.memory
        let f = p.figures
        #expect(f.bytes > 6 * m.softLimit, "the log is many times its memory")
        #expect(f.memoryBytes >= m.hotTailBytes && f.memoryBytes <= m.hotTailBytes + m.chunks.chunkBytes)
        let tail = p.lock.withLock { (p.segments.last!.memoryStart, p.segments.last!.memory.chunks.count) }
        let reads = m.diskReads.load(ordering: .relaxed)
        // Every record from the oldest: the old ones from the files, the tail from memory.
        var seen = 0
        var next: UInt64 = 0
        while next < UInt64(n) {
            let (after, got) = p.read(from: next, maxRecords: 1000) { r in
                if String(decoding: r.value, as: UTF8.self).hasPrefix("record-\(seen)-") { seen += 1 }
            }
            #expect(got > 0)
            if got == 0 { break }
            next = after
        }
        #expect(seen == n)
        #expect(m.diskReads.load(ordering: .relaxed) > reads)
        // The hot tail is where it was: reading old offsets evicted none of it.
        #expect(p.figures.memoryBytes == f.memoryBytes)
        #expect(p.lock.withLock { (p.segments.last!.memoryStart, p.segments.last!.memory.chunks.count) } == tail)
        #expect(m.chunks.held.load(ordering: .relaxed) == tail.1)
        // The chunks are charged to the broker's share (one bound for queues and logs).
        #expect(h.broker.share.inUse == m.chunks.heldBytes.load(ordering: .relaxed))
        #expect(h.broker.deleteLog("big") == .deleted)
        #expect(h.broker.share.inUse == 0 && m.chunks.held.load(ordering: .relaxed) == 0)
    }

    @Test func withADataDirectoryAFullShareMakesLogAppendsWaitForTheFlusherNotFail() throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        let h = try BrokerHarness(dataDirectory: dir.path, memoryMB: 1) { $0.fsync = .never }
        let t = try h.declareTopic("press")
        let m = h.broker.logs.memory
        h.appendRecord(t, "first")
        #expect(!m.pressing && h.broker.logAppendTicket() == 0)
        // Queue messages fill the rest of the share.
        let forced = h.broker.share.limit - h.broker.share.inUse
        h.broker.share.force(forced)
        #expect(m.pressing, "the share full: the logs press")
        #expect(h.broker.logAppendTicket() != 0 && m.memoryWaits.load(ordering: .relaxed) == 1)
        // Appends go on (never refused); the flusher's trim keeps no hot tail meanwhile.
        for i in 0..<1000 { #expect(h.appendRecord(t, "record-\(i)-" + String(repeating: "p", count: 200)) != .outOfMemory) }
        _ = t.flush(sync: false)
        #expect(t.partitions[0].figures.memoryBytes <= m.chunks.chunkBytes)
        h.broker.share.release(forced)
        #expect(h.broker.share.inUse == m.chunks.heldBytes.load(ordering: .relaxed))
    }

    /// A 2 MB engine (two slab pages) under a 64 MB share: the engine runs out of log chunks long
    /// before the share is full.
    func smallEngine() throws -> BrokerHarness { try BrokerHarness(memoryMB: 64, engineMemoryMB: 2) }

    /// Appends `n` records `record-<i>-...` from `first`; the appends refused and those whose
    /// offset was not `i`. `onAppend` sees the partition after each one.
    func produce(_ h: BrokerHarness, _ t: LogTopic, _ range: Range<Int>,
                 onAppend: (LogPartition) -> Void = { _ in }) -> (refused: Int, misplaced: Int) {
        var refused = 0, misplaced = 0
        for i in range {
            switch h.appendRecord(t, "record-\(i)-" + String(repeating: "t", count: 200)) {
            case .appended(_, let offset): if offset != UInt64(i) { misplaced += 1 }
            default: refused += 1
            }
            onAppend(t.partitions[0])
        }
        return (refused, misplaced)
    }

    /// Reads the partition from offset 0: it must start at the log start and be dense to the end,
    /// each record the one appended at its offset.
    func expectDenseFromStart(_ p: LogPartition, end: UInt64) {
        let start = p.figures.startOffset
        var expected = start
        var wrong = 0
        var next: UInt64 = 0
        while next < end {
            let (after, got) = p.read(from: next, maxRecords: 1000) { r in
                if r.offset != expected || !String(decoding: r.value, as: UTF8.self).hasPrefix("record-\(r.offset)-") { wrong += 1 }
                expected = r.offset + 1
            }
            if got == 0 { break }
            next = after
        }
        #expect(wrong == 0 && expected == end, "every record from the log start \(start) to the end, dense")
    }

    /// Every bound counted: the share holds the partition's bytes, the chunks held are its segments'.
    func expectAccounted(_ h: BrokerHarness, _ p: LogPartition) {
        let m = h.broker.logs.memory
        let chunks = p.lock.withLock { p.segments.reduce(0) { $0 + $1.memory.chunks.count } }
        #expect(m.chunks.held.load(ordering: .relaxed) == chunks)
        #expect(h.broker.share.inUse == p.figures.bytes)
        #expect(m.memoryBytes.load(ordering: .relaxed) == p.figures.memoryBytes)
    }

    @Test func aMemoryOnlyLogWithoutAChunkInTheEngineDropsItsOldestSegmentsAndGoesOn() throws {
        let h = try smallEngine()
        let t = try h.declareTopic("tiny", "segment_bytes=131072")
        let m = h.broker.logs.memory
        let n = 40_000  // about 10 MB of records through 2 MB of slab memory
        var starts: [UInt64] = []
        let (refused, misplaced) = produce(h, t, 0..<n) { p in
            let s = p.figures.startOffset
            if s != starts.last { starts.append(s) }
        }
        #expect(refused == 0 && misplaced == 0, "every append kept, at the next offset")
        #expect(m.chunks.refusals.load(ordering: .relaxed) == 0 && m.appendsRefused.load(ordering: .relaxed) == 0)
        let p = t.partitions[0]
        let f = p.figures
        #expect(f.endOffset == UInt64(n) && f.startOffset > 0 && f.segments > 1)
        #expect(starts.count > 10 && starts == starts.sorted(), "the log start moves on, never back")
        #expect(m.segmentsDropped.load(ordering: .relaxed) >= UInt64(starts.count - 1))
        #expect(h.broker.share.inUse < h.broker.share.limit / 4, "the engine, not the share, was full")
        expectDenseFromStart(p, end: UInt64(n))
        expectAccounted(h, p)
    }

    @Test func aMemoryOnlySegmentLargerThanTheEngineIsRolledAndDroppedNotRefusedForever() throws {
        // Default segments: a sixteenth of the 64 MB share (4 MB), twice the engine's memory, so
        // the active segment is the only one when the engine runs out.
        let h = try smallEngine()
        let t = try h.declareTopic("whole")
        let m = h.broker.logs.memory
        let n = 30_000
        let (refused, misplaced) = produce(h, t, 0..<n)
        #expect(refused == 0 && misplaced == 0)
        #expect(m.chunks.refusals.load(ordering: .relaxed) == 0)
        let p = t.partitions[0]
        #expect(p.figures.startOffset > 0 && m.segmentsDropped.load(ordering: .relaxed) > 0)
        expectDenseFromStart(p, end: UInt64(n))
        expectAccounted(h, p)
    }

    @Test func aMemoryOnlyAppendDropsOnlyItsOwnPartitionsSegmentsAndIsRefusedWhenItHasNothingOlder() throws {
        let h = try smallEngine()
        let a = try h.declareTopic("a", "segment_bytes=131072")
        let m = h.broker.logs.memory
        #expect(produce(h, a, 0..<1000).refused == 0)
        // Whatever is left of the log chunks' class taken here (held, never evictable).
        var held: [Item] = []
        while let it = h.engine.allocateBuffer(m.chunks.chunkBytes) { held.append(it) }
        defer { for it in held { h.engine.release(it) } }
        let aBefore = a.partitions[0].figures
        // Another topic with nothing to drop of its own: refused, counted; `a` keeps its records.
        let b = try h.declareTopic("b")
        #expect(h.appendRecord(b, "first") == .outOfMemory)
        #expect(m.chunks.refusals.load(ordering: .relaxed) == 1 && m.appendsRefused.load(ordering: .relaxed) == 1)
        #expect(m.segmentsDropped.load(ordering: .relaxed) == 0)
        #expect(a.partitions[0].figures.startOffset == aBefore.startOffset && aBefore.startOffset == 0)
        #expect(h.broker.share.inUse == aBefore.bytes, "nothing reserved for the refused append")
        // `a` goes on in the memory of its own oldest segments.
        #expect(produce(h, a, 1000..<10_000) == (0, 0))
        #expect(a.partitions[0].figures.startOffset > 0 && m.segmentsDropped.load(ordering: .relaxed) > 0)
        #expect(m.chunks.refusals.load(ordering: .relaxed) == 1)
        expectDenseFromStart(a.partitions[0], end: 10_000)
        #expect(b.partitions[0].figures.endOffset == 0)
    }

    /// Cache strings of 100 bytes stored until the engine has evicted (about 55,000 fit in 8 MB).
    func fillWithStrings(_ h: BrokerHarness, count: Int = 120_000) {
        let value = [UInt8](repeating: 0x73, count: 100)
        for i in 0..<count {
            let key = Array("k\(i)".utf8)
            key.withUnsafeBytes { k in
                guard case .item(let it) = h.engine.allocate(key: k, flags: 0, expiry: 0, valueLength: value.count) else { return }
                value.withUnsafeBytes { h.engine.writeValue(it, at: 0, $0) }
                _ = h.engine.store(it, hash: CacheEngine.hash(k), mode: .set, casIn: 0)
                h.engine.release(it)
            }
        }
        #expect(h.engine.itemStats().evicted > 0, "the strings filled the engine")
    }

    @Test func aMemoryOnlyLogOnAnEngineFullOfCacheItemsGetsTheirPagesRatherThanDroppingItsOwn() throws {
        let h = try BrokerHarness(memoryMB: 64, engineMemoryMB: 8)
        fillWithStrings(h)
        let malloced = h.engine.totalMalloced
        let t = try h.declareTopic("grow")
        let m = h.broker.logs.memory
        // About 2.7 MB of records: three pages of chunks and more, under one 4 MB segment.
        let n = 12_000
        #expect(produce(h, t, 0..<n) == (0, 0))
        #expect(m.chunks.refusals.load(ordering: .relaxed) == 0 && m.segmentsDropped.load(ordering: .relaxed) == 0)
        #expect(t.partitions[0].figures.startOffset == 0, "no record dropped for room")
        #expect(h.engine.forcedPageMoves >= 2)
        #expect(h.engine.pageMoveStats.moved >= h.engine.forcedPageMoves)
        #expect(h.engine.totalMalloced <= max(malloced, h.engine.memoryLimit) + (1 << 20), "-m kept: pages changed class")
        expectDenseFromStart(t.partitions[0], end: UInt64(n))
        expectAccounted(h, t.partitions[0])
    }

    @Test func aBatchOfAClassOfItsOwnGetsAPageOfTheOrdinaryChunksItsPartitionDropped() throws {
        // Without cache items to evict, a batch larger than an ordinary chunk whose slab class is
        // full: dropping the partition's ordinary chunks frees nothing in its class, but their
        // pages, once free, move to it.
        let h = try BrokerHarness(memoryMB: 64, engineMemoryMB: 4)
        let t = try h.declareTopic("mixed", "segment_bytes=131072")
        let m = h.broker.logs.memory
        #expect(produce(h, t, 0..<20_000).refused == 0)
        let big = 100_000
        let length = LogBatch.framedLength(keyLength: 0, valueLength: big)
        #expect(length > m.chunks.chunkBytes)
        // The big batch's class taken whole (its first page, which any class may take past -m).
        var held: [Item] = []
        while let it = h.engine.allocateBuffer(length) { held.append(it) }
        defer { for it in held { h.engine.release(it) } }
        #expect(!held.isEmpty)
        let r = h.appendRecord(t, "record-20000-" + String(repeating: "b", count: big - 13))
        #expect(r == .appended(partition: 0, offset: 20_000))
        #expect(m.chunks.refusals.load(ordering: .relaxed) == 0 && m.appendsRefused.load(ordering: .relaxed) == 0)
        #expect(h.engine.forcedPageMoves >= 1)
        #expect(m.segmentsDropped.load(ordering: .relaxed) > 0)
        expectAccounted(h, t.partitions[0])
    }

    @Test func aStreamOnAnEngineWithoutAChunkRefusesAndKeepsItsEntries() throws {
        let h = try smallEngine()
        let store = StreamStore(memoryLimit: 64 << 20, engine: h.engine, clockMs: { 1 })
        let s = store.makeStream(name: "full")
        let value = [UInt8](repeating: 0x76, count: 1000)
        var added = 0
        var refused = false
        for i in 1...10_000 {
            let fields: [[UInt8]] = [Array("f".utf8), value]
            let r = fields[0].withUnsafeBytes { f in
                fields[1].withUnsafeBytes { v in
                    s.append(requested: StreamID(UInt64(i), 0), seqGiven: true, nowMs: 1, fieldCount: 2) { $0 == 0 ? f : v }
                }
            }
            if r == .outOfMemory {
                refused = true
                break
            }
            #expect(r == .added(StreamID(UInt64(i), 0)))
            added += 1
        }
        #expect(refused && added > 100, "refused once the engine had no chunk, after \(added)")
        #expect(store.memory.chunks.refusals.load(ordering: .relaxed) == 1)
        #expect(store.appendsRefused.load(ordering: .relaxed) == 1)
        #expect(store.memory.segmentsDropped.load(ordering: .relaxed) == 0)
        // Nothing of the stream went for it: every entry from the first is there.
        var seen: [StreamID] = []
        s.range(start: .zero, end: .max, count: 0) { seen.append($0.id) }
        #expect(seen.count == added && seen.first == StreamID(1, 0) && seen.last == StreamID(UInt64(added), 0))
    }

    /// A Redis stream whose entries span many slab chunks (open batches closed at a chunk's end)
    /// reads every entry back as written, and a trim gives the dropped segments' chunks back.
    @Test func aStreamReadsTheSameEntriesAcrossSlabChunksAndTrimsGiveThemBack() throws {
        let h = try BrokerHarness()
        let store = StreamStore(memoryLimit: 16 << 20, engine: h.engine, clockMs: { 1 })
        let chunks = store.memory.chunks
        let before = h.engine.slabClassStats(
            h.engine.slabClassID(forItemSize: ItemLayout.totalSize(keyLength: 0, valueLength: chunks.chunkBytes))).usedChunks
        let s = store.makeStream(name: "chunked")
        let n = 1000
        func value(_ i: Int) -> [UInt8] { [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: 900 + i % 200) }
        for i in 1...n {
            let fields: [[UInt8]] = [Array("f".utf8), value(i)]
            var all: [UInt8] = []
            var ranges: [Range<Int>] = []
            for f in fields {
                ranges.append(all.count..<(all.count + f.count))
                all += f
            }
            let r = all.withUnsafeBytes { b in
                s.append(requested: StreamID(UInt64(i), 0), seqGiven: true, nowMs: 1, fieldCount: 2) {
                    UnsafeRawBufferPointer(rebasing: b[ranges[$0]])
                }
            }
            #expect(r == .added(StreamID(UInt64(i), 0)))
        }
        #expect(chunks.held.load(ordering: .relaxed) > 15)
        let id = h.engine.slabClassID(forItemSize: ItemLayout.totalSize(keyLength: 0, valueLength: chunks.chunkBytes))
        #expect(h.engine.slabClassStats(id).usedChunks == before + chunks.held.load(ordering: .relaxed))
        var seen = 0
        var intact = true
        s.range(start: .zero, end: .max, count: 0) { e in
            seen += 1
            let resp = e.fields.resp
            let v = value(seen)
            // `*2\r\n$1\r\nf\r\n$<len>\r\n<value>\r\n`
            let header = "*2\r\n$1\r\nf\r\n$\(v.count)\r\n".utf8.count
            intact = intact && e.id == StreamID(UInt64(seen), 0) && Array(resp[header..<(header + v.count)]) == v
        }
        #expect(seen == n && intact)
        // Every batch checks once the open one is closed; none straddles two chunks.
        s.lock.withLock { s.partition.closeStreamBatch(&s.openBatch) }
        let valid = s.partition.lock.withLock { () -> Bool in
            var ok = true
            for seg in s.partition.segments {
                seg.memory.forEachBatch { bytes, at in ok = ok && LogBatch.check(bytes, at: at, expected: nil) != nil }
            }
            return ok
        }
        #expect(valid)
        // Trimmed to its last entry: every segment but the active one goes, with its chunks.
        #expect(s.trim(.maxLength(1), approximate: false, limit: 0) == n - 1)
        let left = s.partition.lock.withLock { s.partition.segments.reduce(0) { $0 + $1.memory.chunks.count } }
        #expect(chunks.held.load(ordering: .relaxed) == left)
        #expect(h.engine.slabClassStats(id).usedChunks == before + left)
    }
}
