// Start-up recovery of a partition from its segment files, before any other thread runs. As
// Kafka does, a segment is not read whole: its offset and time indexes are loaded from their files
// and checked (sizes, entries rising, the first at position 0, every position inside the file,
// entries at least `indexIntervalBytes` apart), then only the batches from the last index entry to
// the file's end are read and checked (frame, CRC-32C, records filling the payload, offsets dense
// from the entry's): that gives the segment's size, next offset and newest timestamp. A sealed
// segment whose tail does not end exactly at its file's end, any segment whose index files are
// missing or fail the checks (the active segment after a kill -9: its indexes are written when it
// is sealed or at a clean stop), and a segment of a compacted partition without a valid runs file
// (LogSegment+Runs.swift: its runs of offsets, which otherwise only every batch gives; its tail is
// read with gaps allowed) are read whole instead (`log_recovery_full_scans`). So start-up reads, of
// a sealed segment, its last index entry's batch and those after it (an entry every 4 KB: a few
// KB of small batches), plus the active segment's unindexed tail; a byte damaged earlier in a
// sealed segment is found by the read that reaches it (the batch's CRC, `log_disk_read_errors`),
// not at start-up, as in Kafka.
//
// At the first batch that fails — a torn tail after a crash, or a damaged byte in what is read —
// the segment is cut to its last valid batch and every later segment is removed (Kafka recovers
// the same way: offsets stay dense). Indexes rebuilt from the batches are written when they
// disagree with their files.
import Durability
#if canImport(Glibc)
import Glibc
#endif

extension LogPartition {
    /// The `<20 digits>.log` files of `directory`, by base offset.
    static func segmentBases(_ directory: String) -> [UInt64] {
        guard let d = opendir(directory) else { return [] }
        defer { closedir(d) }
        var bases: [UInt64] = []
        while let e = readdir(d) {
            let file = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            guard file.count == 24, file.hasSuffix(".log"), let base = UInt64(file.prefix(20)) else { continue }
            bases.append(base)
        }
        return bases.sorted()
    }

    /// Rebuilds the segment list from the files; lines of what was cut go to `notes`.
    func recover(nowMs: UInt64, notes: inout [String]) {
        guard let directory else { return }
        Self.finishInterruptedCompactions(directory, notes: &notes)
        markedCompacted = access(directory + "/" + Self.compactedMarker, F_OK) == 0
        lock.withLock { gapsMarked = markedCompacted }
        let bases = Self.segmentBases(directory)
        var found: [LogSegment] = []
        var expected: UInt64?
        var cutRest = false
        for (i, base) in bases.enumerated() {
            let seg = makeSegment(baseOffset: base, createdMs: nowMs)
            // In a compacted topic a gap may come before a segment (its predecessor's last
            // records, or a whole segment, removed): a base past the expected offset follows.
            // Elsewhere offsets are dense and a gap is a lost segment.
            let gaps = config.cleanup == .compact || markedCompacted
            if cutRest || (expected != nil && (gaps ? base < expected! : base != expected!)) {
                if !cutRest { notes.append("log \(directory): segment \(base) does not follow offset \(expected!); removed with every later one") }
                cutRest = true
                seg.removeFiles(descriptors: descriptors)
                memory.recoverySegmentsRemoved.wrappingAdd(1, ordering: .relaxed)
                continue
            }
            let isLast = i == bases.count - 1
            var valid = 0, fileSize = 0
            var fromIndex = false
            // With gaps, the runs come from the segment's runs file (none or a bad one: read whole).
            var runsFile: (runs: [(base: UInt64, count: UInt64)], fileSize: Int)?
            if let tail = seg.loadIndexes(gaps: gaps) {
                if gaps { runsFile = seg.loadRuns() }
                if !gaps || runsFile != nil {
                    seg.runs = runsFile?.runs
                    let runsEnd = runsFile.map { $0.runs.last.map { $0.base + $0.count } ?? base }
                    var at: UInt64?
                    (valid, fileSize, at) = Self.scan(seg, gaps: gaps, from: tail.position, offset: tail.offset,
                                                      runsFrom: runsFile?.fileSize ?? 0)
                    // The entry's batch itself must be valid; a sealed segment's tail must end at its end.
                    fromIndex = valid > tail.position && (valid == fileSize || isLast)
                    // The runs file must describe this file's batches up to a boundary the scan
                    // passed: its runs end where the batches before it end (or, when the scan began
                    // there, no later than the first one scanned); batches past it added theirs.
                    if let r = runsFile, let end = runsEnd {
                        let agrees = at.map { r.fileSize > tail.position ? end == $0 : end <= $0 } ?? false
                        fromIndex = fromIndex && agrees
                    }
                    if !fromIndex { seg.forgetIndexes() }
                }
            }
            if !fromIndex {
                runsFile = nil
                (valid, fileSize, _) = Self.scan(seg, gaps: gaps)
                if fileSize > 0 { memory.recoveryFullScans.wrappingAdd(1, ordering: .relaxed) }
            }
            if valid < fileSize {
                _ = RecordFile.truncate(path: seg.path!, to: valid)
                memory.recoveryTruncatedBytes.wrappingAdd(fileSize - valid, ordering: .relaxed)
                notes.append("log \(seg.path!): \(fileSize - valid) bytes after offset \(seg.nextOffset) failed their check; cut")
                cutRest = true
            }
            // An empty segment followed by another is left from a roll whose first batch never came.
            if seg.isEmpty && i < bases.count - 1 && !cutRest {
                seg.removeFiles(descriptors: descriptors)
                continue
            }
            if let prev = found.last, prev.nextOffset < base { prev.nextOffset = base }
            seg.flushed = seg.size
            seg.freeMemory()
            seg.created = true
            if !seg.indexFilesAgree() {
                memory.indexesRebuilt.wrappingAdd(1, ordering: .relaxed)
                seg.writeIndexes()
            }
            // The runs file made anew when it did not describe all of this segment (missing, bad,
            // or of a shorter file): the next start-up reads none of it whole.
            if gaps && runsFile?.fileSize != seg.size {
                seg.writeRuns(seg.fileRuns(seg.runs), fileSize: seg.size)
            }
            seg.indexesWritten = true
            lastTimestamp = max(lastTimestamp, seg.maxTimestamp)
            found.append(seg)
            expected = seg.nextOffset
        }
        guard !found.isEmpty else { return }
        // A compacted topic's segments that hold every offset of theirs need no runs; one with
        // gaps stays sealed (the last found gets a fresh active segment after it: appends are dense).
        for s in found {
            if let r = s.runs, r.count == 1, r[0].base == s.baseOffset, r[0].base + r[0].count == s.nextOffset { s.runs = nil }
            if let r = s.runs, r.isEmpty, s.isEmpty { s.runs = nil }
        }
        if let last = found.last, last.runs != nil {
            found.append(makeSegment(baseOffset: last.nextOffset, createdMs: nowMs))
        }
        for s in found.dropLast() { s.sealed = true }
        // The active segment's indexes grow again: written anew when it is sealed.
        found[found.count - 1].indexesWritten = false
        segments = found
    }

    /// Checks `seg`'s file batch by batch from `from` (a batch holding `offset`, else the start),
    /// noting each valid one; returns the bytes up to the last valid batch and the file's size.
    /// The file is mapped: only the pages read are.
    /// With `gaps`, the runs of batches from `runsFrom` on are noted (those before it came from
    /// the runs file), and `at` is the offset after the batches before `runsFrom` (the scan's first
    /// offset if it began there); nil when no batch boundary the scan passed is at `runsFrom`.
    static func scan(_ seg: LogSegment, gaps: Bool = false, from: Int = 0, offset: UInt64? = nil,
                     runsFrom: Int = 0) -> (valid: Int, size: Int, at: UInt64?) {
        guard let path = seg.path else { return (0, 0, nil) }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return (0, 0, nil) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return (0, 0, nil) }
        let size = Int(st.st_size)
        guard size > 0, let map = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else { return (0, size, nil) }
        defer { munmap(map, size) }
        let bytes = UnsafeRawBufferPointer(start: map, count: size)
        var pos = from
        var next = offset ?? seg.baseOffset
        var at: UInt64?
        // Offsets are dense from batch to batch; a compacted topic's rise with gaps.
        while let h = LogBatch.check(bytes, at: pos, expected: gaps ? nil : next), h.baseOffset >= next {
            if pos == runsFrom { at = next }
            seg.noteBatch(h, at: pos)
            if gaps && pos >= runsFrom { seg.noteRun(h) }
            pos += h.length
            next = h.nextOffset
        }
        if pos == runsFrom { at = next }
        return (pos, size, at)
    }
}
