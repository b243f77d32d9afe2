// One segment of a partition: the batches from `baseOffset` on, a file named by that offset
// (20 digits + `.log`, as Kafka names it) with a sparse offset index (`.index`: relative offset
// u32, position u32 — an entry at the segment's first batch and then at the first batch past every
// `indexIntervalBytes`) and a time index (`.timeindex`: the largest timestamp so far u64, relative
// offset u32) at the same batches. The indexes are kept in memory and written beside a segment
// once it is sealed; recovery rebuilds them from the batches and rewrites the files when they
// disagree. A segment of a compacted partition also gets a runs file (LogSegment+Runs.swift).
//
// The bytes `[memoryStart, size)` are also held in memory (`memory`, in chunks that each hold whole
// batches: SegmentMemory.swift): the hot tail of a partition with a data directory, the whole
// segment without one. Everything here is guarded by the
// partition's lock, except the fields marked "flusher only".
import Durability
#if canImport(Glibc)
import Glibc
#endif

final class LogSegment {
    let baseOffset: UInt64
    /// One past the last record.
    var nextOffset: UInt64
    /// Bytes of batches (written or not).
    var size = 0
    /// The newest timestamp in the segment (0 while empty).
    var maxTimestamp: UInt64 = 0
    /// When the segment was started (process ms), for `segment_ms`.
    let createdMs: UInt64
    /// Sparse offset index: `(relative offset << 32) | position`.
    var index: [UInt64] = []
    /// Time index: `(max timestamp so far, relative offset)` at the same batches as `index`.
    var timeIndex: [(timestamp: UInt64, relative: UInt32)] = []
    private var lastIndexedPosition = -1
    /// `[memoryStart, size)` of the segment's bytes, in memory.
    var memory: SegmentMemory
    var memoryStart: Int { memory.start }
    /// Bytes written to the file (data directory), a batch boundary.
    var flushed = 0
    /// No more appends: a newer segment took over.
    var sealed = false
    /// Deleted (retention, or dropped for memory): readers holding it find nothing.
    var deleted = false
    /// A compacted segment's records, as runs of dense offsets (nil: every offset of
    /// `[baseOffset, nextOffset)` holds a record). Lets a group claim records, not offsets.
    var runs: [(base: UInt64, count: UInt64)]?
    /// The file (data directory only).
    let path: String?
    let slot: DescriptorCache.Slot?
    /// Flusher only: the file was created (and its directory synced); its indexes were written.
    var created = false
    var indexesWritten = false

    static let indexIntervalBytes = 4096

    init(baseOffset: UInt64, createdMs: UInt64, directory: String?, descriptors: DescriptorCache?, chunks: LogChunkAllocator) {
        self.baseOffset = baseOffset
        memory = SegmentMemory(allocator: chunks)
        nextOffset = baseOffset
        self.createdMs = createdMs
        if let directory, let descriptors {
            let p = directory + "/" + Self.fileName(baseOffset) + ".log"
            path = p
            slot = descriptors.slot(path: p, flags: O_RDWR | O_CREAT)
        } else {
            path = nil
            slot = nil
        }
    }

    deinit { memory.freeAll(restartingAt: 0) }

    /// Kafka's segment file stem: the base offset in 20 digits.
    static func fileName(_ offset: UInt64) -> String {
        let digits = String(offset)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }

    var isEmpty: Bool { nextOffset == baseOffset }
    var memoryBytes: Int { memory.count }

    /// Frees the segment's memory (retention, deletion, a sealed segment written, recovery): none
    /// held from here on, the next append (if any) starting at `size`.
    func freeMemory() { memory.freeAll(restartingAt: size) }

    /// Adds a batch's offsets to `runs` (merged with the last run when they follow it).
    func noteRun(_ h: LogBatchHeader) {
        if runs == nil { runs = [] }
        if let last = runs!.last, last.base + last.count == h.baseOffset {
            runs![runs!.count - 1].count += UInt64(h.count)
        } else {
            runs!.append((h.baseOffset, UInt64(h.count)))
        }
    }

    /// Notes a batch of `header` at `position` (appended or recovered): offsets, timestamps and
    /// the sparse indexes.
    func noteBatch(_ header: LogBatchHeader, at position: Int) {
        if lastIndexedPosition < 0 || position - lastIndexedPosition >= Self.indexIntervalBytes {
            let rel = UInt32(truncatingIfNeeded: header.baseOffset - baseOffset)
            index.append(UInt64(rel) << 32 | UInt64(UInt32(truncatingIfNeeded: position)))
            timeIndex.append((max(maxTimestamp, header.maxTimestamp), rel))
            lastIndexedPosition = position
        }
        nextOffset = header.nextOffset
        maxTimestamp = max(maxTimestamp, header.maxTimestamp)
        size = position + header.length
    }

    /// The position of the batch holding `offset`, or of an earlier batch of this segment to
    /// scan forward from (the index is sparse): the last index entry at or before it.
    func position(for offset: UInt64) -> Int {
        guard offset > baseOffset, !index.isEmpty else { return 0 }
        let rel = offset - baseOffset
        var lo = 0, hi = index.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if index[mid] >> 32 <= rel { lo = mid } else { hi = mid - 1 }
        }
        return index[lo] >> 32 <= rel ? Int(index[lo] & 0xffff_ffff) : 0
    }

    /// The position to scan from for the first record with a timestamp at or after `ms`: the
    /// last time-index entry whose maximum so far is below it (every batch before it is older).
    func position(forTime ms: UInt64) -> Int {
        var lo = 0, hi = timeIndex.count - 1, found = -1
        while lo <= hi {
            let mid = (lo + hi) / 2
            if timeIndex[mid].timestamp < ms { found = mid; lo = mid + 1 } else { hi = mid - 1 }
        }
        guard found >= 0 else { return 0 }
        return position(for: baseOffset + UInt64(timeIndex[found].relative))
    }

    // MARK: index files

    var indexPath: String? { path.map { String($0.dropLast(4)) + ".index" } }
    var timeIndexPath: String? { path.map { String($0.dropLast(4)) + ".timeindex" } }

    /// The offset index as its file holds it.
    func encodedIndex() -> ByteBuffer {
        var b = ByteBuffer()
        for e in index { b.append(UInt32(e >> 32)); b.append(UInt32(e & 0xffff_ffff)) }
        return b
    }

    func encodedTimeIndex() -> ByteBuffer {
        var b = ByteBuffer()
        for e in timeIndex { b.append(e.timestamp); b.append(e.relative) }
        return b
    }

    /// Writes both index files (atomically each). Flusher (or recovery) only.
    @discardableResult
    func writeIndexes() -> Bool {
        guard let ip = indexPath, let tp = timeIndexPath else { return false }
        var ok = true
        for (p, time) in [(ip, false), (tp, true)] {
            var b = time ? encodedTimeIndex() : encodedIndex()
            ok = FileIO.replace(p) { fd in FileIO.writeAll(fd, b.bytes) ? b.count : nil } && ok
            b.deallocate()
        }
        return ok
    }

    /// Whether the index files hold exactly the indexes rebuilt from the batches.
    func indexFilesAgree() -> Bool {
        guard let ip = indexPath, let tp = timeIndexPath else { return true }
        // Each encoding made in its turn: an early return must leave none allocated.
        for (p, time) in [(ip, false), (tp, true)] {
            var b = time ? encodedTimeIndex() : encodedIndex()
            defer { b.deallocate() }
            guard let data = FileIO.readAll(p) else { return false }
            defer { data.deallocate() }
            guard data.count == b.count, b.count == 0 || memcmp(data.baseAddress!, b.base!, b.count) == 0 else { return false }
        }
        return true
    }

    /// Recovery: the indexes as their files hold them, if they pass Kafka's sanity checks (both
    /// files whole entries, as many of each, the first at relative offset 0 and position 0,
    /// offsets, positions and timestamps rising, positions `indexIntervalBytes` apart and inside
    /// the segment's file). Returns the last entry's position and offset, from where the caller
    /// reads the rest of the segment; nil (nothing kept) when the files are missing or fail.
    /// With `gaps` (a compacted partition) the first entry may be past relative offset 0: the
    /// segment's first records may have been compacted away.
    func loadIndexes(gaps: Bool = false) -> (position: Int, offset: UInt64)? {
        guard let path, let ip = indexPath, let tp = timeIndexPath else { return nil }
        var st = stat()
        guard stat(path, &st) == 0, st.st_size > 0 else { return nil }
        let fileSize = Int(st.st_size)
        guard let idx = FileIO.readAll(ip) else { return nil }
        defer { idx.deallocate() }
        guard let tix = FileIO.readAll(tp) else { return nil }
        defer { tix.deallocate() }
        let n = idx.count / 8
        guard n > 0, idx.count == n * 8, tix.count == n * 12 else { return nil }
        let ib = UnsafeRawBufferPointer(idx), tb = UnsafeRawBufferPointer(tix)
        var entries: [UInt64] = []
        var times: [(timestamp: UInt64, relative: UInt32)] = []
        entries.reserveCapacity(n)
        times.reserveCapacity(n)
        var previous: (rel: UInt32, pos: Int, ts: UInt64)?
        for k in 0..<n {
            let rel = LogBatch.u32(ib, 8 * k), pos = Int(LogBatch.u32(ib, 8 * k + 4))
            let ts = LogBatch.u64(tb, 12 * k), trel = LogBatch.u32(tb, 12 * k + 8)
            guard trel == rel, pos < fileSize else { return nil }
            if let p = previous {
                guard rel > p.rel, pos - p.pos >= Self.indexIntervalBytes, ts >= p.ts else { return nil }
            } else {
                guard gaps || rel == 0, pos == 0 else { return nil }
            }
            entries.append(UInt64(rel) << 32 | UInt64(pos))
            times.append((ts, rel))
            previous = (rel, pos, ts)
        }
        guard let last = previous else { return nil }
        index = entries
        timeIndex = times
        lastIndexedPosition = last.pos
        maxTimestamp = last.ts
        return (last.pos, baseOffset + UInt64(last.rel))
    }

    /// Recovery: indexes (and runs) loaded from files that the batches then disagreed with are
    /// dropped (the segment is read whole and they are rebuilt).
    func forgetIndexes() {
        runs = nil
        index = []
        timeIndex = []
        lastIndexedPosition = -1
        maxTimestamp = 0
        size = 0
        nextOffset = baseOffset
    }

    /// Removes the files (retention). Flusher or maintenance thread, outside the partition lock.
    func removeFiles(descriptors: DescriptorCache?) {
        if let slot { descriptors?.close(slot, forGood: true) }
        for p in [path, indexPath, timeIndexPath, runsPath] { if let p { unlink(p) } }
    }
}
