// One partition of a topic: its segments, oldest first, the last one active. Appends (one
// batch per `set`) go into the active segment's memory under the partition's lock; with a data
// directory the group-commit thread copies what is new out under the lock and writes it to the
// segment files outside it (`flush`), then trims the active segment's memory to the hot tail.
// Reads take the batches from memory under the lock, or from the file (pread, outside the lock)
// for what is only on disk. Retention runs on the broker's timer thread: whole segments are taken
// out under the lock and their files removed after it. Lock order: registry → topic → partition;
// no I/O under the partition lock (the descriptor cache's lock is not taken under it either).
import Durability
import Platform
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public enum LogAppendResult: Equatable, Sendable {
    case appended(offset: UInt64)
    /// No memory (no data directory, nothing older to drop) or the record is larger than a segment.
    case outOfMemory
    /// The engine had no chunk of `bytes` for the batch (only under `NoChunk.report`): nothing
    /// appended, nothing counted; the caller has a page moved outside its own lock and tries again.
    case noChunk(bytes: Int)
}

/// What an append does when the engine has no memory chunk for its batch and the partition
/// nothing of its own that would make room.
enum NoChunk {
    /// Refused, counted (`log_chunk_refusals`): the caller holds locks a page move's evictions
    /// may take (COPY's clone of a stream runs under item locks).
    case refuse
    /// The append leaves the partition lock, has the engine move a page of another slab class to
    /// the chunk's (`LogChunkAllocator.makeRoom`) and tries again, at most twice: the caller
    /// holds no lock (the broker port's `set` and `produce`).
    case makeRoom
    /// `.noChunk(bytes)` back to the caller, which holds a lock of its own (a stream's, XADD):
    /// it makes room once it has left it, and tries again.
    case report
}

public final class LogPartition: @unchecked Sendable {
    // Safe to share: every `var` is guarded by `lock` except `scratch` (flusher thread only),
    // `markedCompacted` (timer thread) and `compactionHook` (set by a test before compaction runs);
    // segments are classes whose fields the same lock guards.
    public let id: Int
    let lock = PlainMutex()
    let directory: String?
    let descriptors: DescriptorCache?
    let memory: LogMemory
    var config: LogConfig
    var segments: [LogSegment] = []
    var lastTimestamp: UInt64 = 0
    /// Parked reads (`/timeout=`): each is woken by the next append, and reads again.
    var waiters = WaitList<Void, Void>()
    private var scratch = ByteBuffer()
    /// Compaction (LogPartition+Compaction.swift): the end of the closed segments last cleaned,
    /// and when the oldest tombstone it kept expires.
    var cleanedEnd: UInt64 = 0
    var tombstoneDueMs: UInt64 = .max
    /// Timer thread and recovery only: the partition directory holds the `compacted` marker (its
    /// segments may have gaps, whatever `cleanup` says now).
    var markedCompacted = false
    /// `markedCompacted` as the flusher reads it (under `lock`): with it or `cleanup=compact`,
    /// sealed segments get a runs file (LogSegment+Runs.swift).
    var gapsMarked = false
    /// Held by compaction while it changes files (LogPartition+Compaction.swift) and by a topic's
    /// deletion before it removes them. Taken before the partition lock, never under it.
    let compactionLock = PlainMutex()
    /// Tests only: called at each step of compaction's file swap; false stops it there, as a
    /// kill -9 would. Set before the compacting thread runs, read by it only.
    var compactionHook: ((CompactionStep) -> Bool)?

    init(id: Int, config: LogConfig, directory: String?, descriptors: DescriptorCache?, memory: LogMemory, nowMs: UInt64) {
        self.id = id
        self.config = config
        self.directory = directory
        self.descriptors = descriptors
        self.memory = memory
        segments = [makeSegment(baseOffset: 0, createdMs: nowMs)]
    }

    /// A new segment of this partition (its file, if any, made later by the flusher).
    func makeSegment(baseOffset: UInt64, createdMs: UInt64) -> LogSegment {
        LogSegment(baseOffset: baseOffset, createdMs: createdMs, directory: directory, descriptors: descriptors, chunks: memory.chunks)
    }

    deinit {
        scratch.deallocate()
    }

    // MARK: figures

    public struct Figures: Sendable {
        public let startOffset: UInt64
        public let endOffset: UInt64
        public let segments: Int
        public let bytes: Int
        public let memoryBytes: Int
    }

    public var figures: Figures {
        lock.withLock {
            Figures(startOffset: segments[0].baseOffset, endOffset: segments[segments.count - 1].nextOffset,
                    segments: segments.count, bytes: segments.reduce(0) { $0 + $1.size },
                    memoryBytes: segments.reduce(0) { $0 + $1.memoryBytes })
        }
    }

    var startOffset: UInt64 { lock.withLock { segments[0].baseOffset } }
    var endOffset: UInt64 { lock.withLock { segments[segments.count - 1].nextOffset } }
    /// Lock held.
    var lockedEndOffset: UInt64 { segments[segments.count - 1].nextOffset }
    var lockedStartOffset: UInt64 { segments[0].baseOffset }

    // MARK: appending

    /// Appends one record as a batch of its own; `writeValue` fills `valueLength` bytes.
    /// `dropsOldest` and `noChunk` as `appendFramed`'s (false: a Redis stream's XADD on an adopted topic).
    func append(key: UnsafeRawBufferPointer?, valueLength: Int, flags: UInt32, nowMs: UInt64, dropsOldest: Bool = true,
                noChunk: NoChunk = .refuse, writeValue: (UnsafeMutableRawPointer) -> Void) -> LogAppendResult {
        let length = LogBatch.framedLength(keyLength: key?.count ?? 0, valueLength: valueLength)
        return appendFramed(length: length, count: 1, nowMs: nowMs, dropsOldest: dropsOldest, noChunk: noChunk) { segment, offset, ts in
            segment.memory.append(length: length) { b in
                LogBatch.appendOne(to: &b, offset: offset, timestamp: ts, flags: flags, key: key,
                                   valueLength: valueLength, writeValue: writeValue)
            }
        }
    }

    /// The one append path: a batch of `length` framed bytes holding `count` records goes to the
    /// active segment (rolled by size or age first), `write` framing it at the offset and
    /// timestamp given (into the segment's memory: false when it had no chunk for it, and
    /// nothing is appended). Without a data directory (README: logs without --data-dir) the
    /// partition's oldest segments are dropped, one at a time, while the memory share cannot hold
    /// the batch or the engine has no chunk for it (`lockedDropOldest`); only this partition's:
    /// a partition's memory is its own retention, as Kafka's, so another partition's or topic's
    /// records never go for it. `dropsOldest` false (a Redis stream: redis answers -OOM rather
    /// than losing entries) drops nothing. With a data directory nothing is dropped: the chunks
    /// are charged to the share and appends wait for the flusher (LogMemory.pressing).
    /// When the engine has no chunk, `noChunk` says what happens first: a page of another slab
    /// class (cache items evicted) moved to the chunk's outside the lock and the append tried
    /// again (`.makeRoom`: before dropping anything, so a log grows into evictable cache memory
    /// up to its share as a stream does; then the drops; once nothing is left, a last move), the
    /// shortfall handed back to a caller that holds a lock of its own (`.report`), or the drops
    /// alone (`.refuse`). A refusal for want of a chunk in the end is counted (`log_chunk_refusals`).
    /// Parked readers are claimed under the lock and woken after it.
    func appendFramed(length: Int, count: Int, nowMs: UInt64, dropsOldest: Bool = true, noChunk: NoChunk = .refuse,
                      write: (LogSegment, _ offset: UInt64, _ timestamp: UInt64) -> Bool) -> LogAppendResult {
        // Page moves this append may still have: with `.makeRoom` one before dropping anything
        // and one once nothing is left to drop; `.report` hands back the first.
        var moves = noChunk == .refuse ? 0 : noChunk == .report ? 1 : 2
        var asked = false
        while true {
            var toWake: [ConnectionWaker]?
            let result: LogAppendResult = lock.withLock {
                let segmentBytes = memory.segmentBytes(config)
                // Without a data directory one batch may take at most half the share (-I decides otherwise).
                if let share = memory.share, length > max(segmentBytes, share.limit / 2) { return .outOfMemory }
                var active = segments[segments.count - 1]
                if !active.isEmpty && (active.size + length > segmentBytes
                    || (config.segmentMs > 0 && nowMs &- active.createdMs >= config.segmentMs)) {
                    active = lockedRoll(nowMs)
                }
                if let share = memory.share {
                    while !share.reserve(length) {
                        guard dropsOldest, lockedDropOldest(&active, nowMs) else { return .outOfMemory }
                    }
                }
                let ts = max(lastTimestamp, nowMs)
                // A drop may have rolled the active segment: the offset stays, the position does not.
                while !write(active, active.nextOffset, ts) {
                    // The engine had no chunk: the memory of this partition's oldest segment goes
                    // back to the engine's slab class, and the write is tried again; or a page
                    // move outside the lock (above).
                    if moves > 0 && !asked {
                        memory.share?.release(length)
                        return .noChunk(bytes: length)
                    }
                    if memory.share != nil && dropsOldest && lockedDropOldest(&active, nowMs) { continue }
                    if moves > 0 {
                        memory.share?.release(length)
                        return .noChunk(bytes: length)
                    }
                    memory.share?.release(length)
                    memory.chunks.refusals.wrappingAdd(1, ordering: .relaxed)
                    return .outOfMemory
                }
                // The batch is in the segment's memory; its size and offset move on here.
                let offset = active.nextOffset
                lastTimestamp = ts
                memory.memoryBytes.wrappingAdd(length, ordering: .relaxed)
                active.noteBatch(LogBatchHeader(length: length, baseOffset: offset, count: count, maxTimestamp: ts), at: active.size)
                toWake = lockedClaimReaders()
                return .appended(offset: offset)
            }
            if let toWake { for w in toWake { w.wake() } }
            if case .noChunk(let bytes) = result {
                if noChunk == .report { return result }
                // No lock held here: the move may evict cache items (whose hooks take stream
                // and partition locks) and wait for their item locks.
                moves -= 1
                asked = true
                _ = memory.chunks.makeRoom(for: bytes)
                continue
            }
            if result == .outOfMemory { memory.appendsRefused.wrappingAdd(1, ordering: .relaxed) }
            return result
        }
    }

    /// Lock held, memory-only partition: drops its oldest segment for room (`log_segments_dropped`),
    /// the active one rolled first when it is the only one (so a partition whose active segment
    /// holds all the memory it can have starts again at its end rather than refusing every append
    /// from then on). False when nothing is left to drop (the active segment is the only one, and
    /// empty). `active` is the active segment after it.
    func lockedDropOldest(_ active: inout LogSegment, _ nowMs: UInt64) -> Bool {
        if segments.count == 1 {
            guard !active.isEmpty else { return false }
            active = lockedRoll(nowMs)
        }
        let oldest = segments.removeFirst()
        lockedForget(oldest)
        memory.segmentsDropped.wrappingAdd(1, ordering: .relaxed)
        return true
    }

    /// Lock held: seals the active segment and starts the next.
    func lockedRoll(_ nowMs: UInt64) -> LogSegment {
        let old = segments[segments.count - 1]
        old.sealed = true
        let next = makeSegment(baseOffset: old.nextOffset, createdMs: nowMs)
        segments.append(next)
        return next
    }

    /// Lock held: a segment taken out of the list gives its memory back.
    func lockedForget(_ s: LogSegment) {
        s.deleted = true
        memory.memoryBytes.wrappingSubtract(s.memory.count, ordering: .relaxed)
        if memory.share != nil { memory.share?.release(s.size) }
        s.freeMemory()
    }

    // MARK: waiting

    func addWaiter(_ w: Waiter<Void>) { lock.withLock { waiters.add(w, ()) } }
    func removeWaiter(_ w: Waiter<Void>) { lock.withLock { waiters.remove(w) } }

    // MARK: reading

    /// Visits the records from `offset` on (from the log start if it is older than that), at most
    /// `maxRecords`, none at or past `until` (a group's claimed range ends there); returns the
    /// offset after the last one visited (the log end if none) and the number visited. A batch
    /// that fails its check on disk ends the read (counted).
    func read(from offset: UInt64, maxRecords: Int, until: UInt64 = .max,
              _ visit: (LogRecordView) -> Void) -> (next: UInt64, count: Int) {
        readWhile(from: offset, maxRecords: maxRecords, until: until) { visit($0); return true }
    }

    /// What `accept` did with a record: not taken (past `until`: the read is over), taken, or
    /// taken as the last (its visit said stop).
    enum Taken { case refused, taken, last }

    /// `read`, over after the record for which `visit` returns false (so a stream's scan that has
    /// what it wants reads no record past it). `compose: false` (a stream's own scan): a stream
    /// batch's records are handed where they lie (`LogRecordView.entry`), none composed.
    func readWhile(from offset: UInt64, maxRecords: Int, until: UInt64 = .max, compose: Bool = true,
                   _ visit: (LogRecordView) -> Bool) -> (next: UInt64, count: Int) {
        var at = offset
        var count = 0
        var stopped = false
        // Where a stream batch's records are composed (allocated at the first one).
        var composed = ByteBuffer()
        defer { composed.deallocate() }
        func accept(_ r: LogRecordView) -> Taken {
            if r.offset >= until {
                stopped = true
                return .refused
            }
            if visit(r) { return .taken }
            stopped = true
            return .last
        }
        while count < maxRecords && !stopped {
            enum Step { case done, again, disk(LogSegment, Int, Int) }
            let step: Step = lock.withLock {
                if at < lockedStartOffset { at = lockedStartOffset }
                guard at < min(lockedEndOffset, until) else { return .done }
                var i = segments.count - 1
                while segments[i].baseOffset > at { i -= 1 }
                let s = segments[i]
                // Past this segment's last record (compaction may leave gaps): on at the next one.
                if at >= s.nextOffset { at = segments[i + 1].baseOffset; return .again }
                var pos = s.position(for: at)
                // The index entry may lie before the memory while the record is in it.
                if pos < s.memoryStart && s.memory.count > 0 {
                    let first = s.memory.chunk(0).bytes
                    if at >= LogBatch.u64(first, LogBatch.frameBytes) { pos = s.memoryStart }
                }
                guard pos >= s.memoryStart else { return .disk(s, pos, s.memoryStart) }
                // Batch by batch, each inside one chunk (SegmentMemory.swift).
                var chunk = -1
                var bytes = UnsafeRawBufferPointer(start: nil, count: 0)
                var chunkStart = pos
                while pos < s.size && count < maxRecords && !stopped {
                    if chunk < 0 || pos - chunkStart >= bytes.count {
                        chunk = chunk < 0 ? s.memory.chunkIndex(at: pos) : chunk + 1
                        (bytes, chunkStart) = s.memory.chunk(chunk)
                    }
                    let rel = pos - chunkStart
                    let length = Int(LogBatch.u32(bytes, rel)) + LogBatch.frameBytes
                    let payloadBase = LogBatch.u64(bytes, rel + LogBatch.frameBytes)
                    let n = LogBatch.count(LogBatch.u32(bytes, rel + LogBatch.frameBytes + 8))
                    if payloadBase + UInt64(n) > at {
                        LogBatch.forEachRecord(bytes, at: rel, from: at, scratch: &composed, compose: compose) { r in
                            let taken = accept(r)
                            guard taken != .refused else { return false }
                            count += 1
                            at = r.offset + 1
                            return taken == .taken && count < maxRecords
                        }
                    }
                    pos += length
                }
                // The segment's end reached: offsets compacted away at its tail are skipped.
                if pos >= s.size && !stopped && count < maxRecords { at = max(at, s.nextOffset) }
                return .again
            }
            switch step {
            case .done: return (at, count)
            case .again: continue
            case .disk(let s, let pos, let end):
                let before = (at, count)
                guard readFromDisk(s, pos, end, &at, &count, maxRecords, &composed, compose, accept) else {
                    // Replaced meanwhile (compaction swapped it, retention took it): read on in
                    // what is there now; the segment is out of the list, so this ends.
                    if !stopped && lock.withLock({ s.deleted }) { continue }
                    return (at, count)
                }
                // The whole file read and nothing left in memory: past a compacted tail too.
                if !stopped && count < maxRecords && lock.withLock({ !s.deleted && end == s.size }) {
                    at = max(at, s.nextOffset)
                }
                // Never again over the same bytes: a read that found nothing there ends.
                if before == (at, count) && !lock.withLock({ s.deleted }) { return (at, count) }
            }
        }
        return (at, count)
    }

    /// Reads batches of `s` between `pos` and `limit` from its file (no lock held) and visits
    /// their records from `at` while `accept` takes them. False when the file cannot be read or a
    /// batch fails its check.
    private func readFromDisk(_ s: LogSegment, _ pos: Int, _ limit: Int, _ at: inout UInt64, _ count: inout Int,
                              _ maxRecords: Int, _ composed: inout ByteBuffer, _ compose: Bool,
                              _ accept: (LogRecordView) -> Taken) -> Bool {
        guard let slot = s.slot, let descriptors, let (fd, dirty) = descriptors.pin(slot) else {
            // Deleted meanwhile: the next pass starts from the new log start.
            return lock.withLock { s.deleted }
        }
        defer { descriptors.unpin(slot, dirty: dirty) }
        memory.diskReads.wrappingAdd(1, ordering: .relaxed)
        var position = pos
        var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 << 10, alignment: 8)
        defer { buffer.deallocate() }
        var stopped = false
        while position < limit && count < maxRecords && !stopped {
            let got = pread(fd, buffer.baseAddress!, min(limit - position, buffer.count), off_t(position))
            guard got > 0 else {
                memory.diskReadErrors.wrappingAdd(1, ordering: .relaxed)
                return false
            }
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<got])
            var rel = 0
            var grew = false
            while rel < got && count < maxRecords && !stopped {
                if let h = LogBatch.check(bytes, at: rel, expected: nil) {
                    if h.nextOffset > at {
                        LogBatch.forEachRecord(bytes, at: rel, from: at, scratch: &composed, compose: compose) { r in
                            let taken = accept(r)
                            guard taken != .refused else {
                                stopped = true
                                return false
                            }
                            count += 1
                            at = r.offset + 1
                            if taken == .last { stopped = true }
                            return taken == .taken && count < maxRecords
                        }
                    }
                    rel += h.length
                    continue
                }
                // A batch cut by the end of the window: read again from its start.
                if rel > 0 { break }
                // A batch longer than the window: a window its size.
                if got >= LogBatch.frameBytes {
                    let need = Int(LogBatch.u32(bytes, 0)) + LogBatch.frameBytes
                    if need > buffer.count && need <= LogBatch.maxPayload + LogBatch.frameBytes && position + need <= limit {
                        buffer.deallocate()
                        buffer = .allocate(byteCount: need, alignment: 8)
                        grew = true
                    }
                }
                break
            }
            if rel == 0 && !grew && !stopped {
                memory.diskReadErrors.wrappingAdd(1, ordering: .relaxed)
                return false
            }
            position += rel
        }
        return true
    }

    /// The offset of the first record with a timestamp at or after `ms` (the log end if none).
    func offset(forTime ms: UInt64) -> UInt64 {
        let start: UInt64? = lock.withLock {
            guard let s = segments.first(where: { !$0.isEmpty && $0.maxTimestamp >= ms }) else { return nil }
            // Every batch before the last time-index entry below `ms` is older than `ms`.
            var best = s.baseOffset
            for e in s.timeIndex where e.timestamp < ms { best = s.baseOffset + UInt64(e.relative) }
            return max(best, lockedStartOffset)
        }
        guard var from = start else { return endOffset }
        while true {
            var found: UInt64?
            let (next, n) = read(from: from, maxRecords: 256) { r in
                if found == nil && r.timestamp >= ms { found = r.offset }
            }
            if let found { return found }
            if n == 0 { return next }
            from = next
        }
    }

    // MARK: flushing (group-commit thread)

    /// Writes what was appended since the last call to the segment files (fdatasync when
    /// `sync`), creates new segments' files, writes sealed segments' indexes, trims the hot tail.
    func flush(sync: Bool) -> FlushResult {
        guard let descriptors else { return .idle }
        struct Work { let segment: LogSegment; let from: Int; let to: Int; let at: Int }
        var work: [Work] = []
        lock.withLock {
            scratch.removeAll()
            for s in segments where !s.deleted && (s.flushed < s.size || !s.created) {
                let from = s.flushed, to = s.size
                let at = scratch.count
                s.memory.copy(from: from, to: to, into: &scratch)
                work.append(Work(segment: s, from: from, to: to, at: at))
            }
        }
        let indexesDue = { () -> [LogSegment] in
            self.lock.withLock { self.segments.filter { $0.sealed && !$0.indexesWritten && $0.flushed == $0.size && !$0.deleted } }
        }
        guard !work.isEmpty else {
            for s in indexesDue() { writeSealedIndexes(s) }
            return .idle
        }
        var result = FlushResult.idle
        for w in work {
            guard let slot = w.segment.slot, let (fd, _) = descriptors.pin(slot) else {
                if lock.withLock({ w.segment.deleted }) { continue }
                return .failed
            }
            if !w.segment.created {
                w.segment.created = true
                FileIO.syncDirectory(of: slot.path)
            }
            var ok = true
            var done = 0
            let count = w.to - w.from
            while ok && done < count {
                let n = pwrite(fd, scratch.base! + w.at + done, count - done, off_t(w.from + done))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { ok = false } else { done += n }
            }
            if ok && sync && count > 0 { ok = fdatasync(fd) == 0 }
            descriptors.unpin(slot, dirty: !(ok && sync))
            guard ok else { return .failed }
            if count > 0 { result = .wrote }
            lock.withLock {
                let s = w.segment
                s.flushed = max(s.flushed, w.to)
                lockedTrim(s)
            }
        }
        // A sealed segment's indexes no longer change: written once it is all on disk.
        for s in indexesDue() { writeSealedIndexes(s) }
        return result
    }

    /// Flusher: a sealed segment's indexes, written once. Retention or compaction may take the
    /// segment out meanwhile (marked deleted under the lock, its files removed after): written
    /// files of a segment found deleted after the write are removed here, so none outlives it.
    private func writeSealedIndexes(_ s: LogSegment) {
        s.writeIndexes()
        // A compacted partition's segment: its runs too, so start-up need not read it whole.
        let (runs, size): ([(base: UInt64, count: UInt64)]?, Int) = lock.withLock {
            (lockedKeepsRuns || s.runs != nil ? s.fileRuns(s.runs) : nil, s.size)
        }
        if let runs { s.writeRuns(runs, fileSize: size) }
        // Set once the files are there: compaction takes only such a segment (and so never swaps
        // its files while these are written).
        lock.withLock { s.indexesWritten = true }
        if lock.withLock({ s.deleted }) {
            for p in [s.indexPath, s.timeIndexPath, s.runsPath] { if let p { unlink(p) } }
        }
    }

    /// Lock held: the partition's segments may have gaps (they keep runs files).
    var lockedKeepsRuns: Bool { config.cleanup == .compact || gapsMarked }

    /// Lock held: memory of `s` no longer needed: all of a sealed, written segment; the front of
    /// the active one past the hot tail (whole batches already written).
    private func lockedTrim(_ s: LogSegment) {
        guard !s.deleted, s.memory.count > 0 else { return }
        if s.sealed && s.flushed == s.size {
            memory.memoryBytes.wrappingSubtract(s.memory.count, ordering: .relaxed)
            s.freeMemory()
            return
        }
        // Past the logs' memory bound (LogMemory.softLimit) every written byte goes.
        let tail = memory.pressing ? 0 : memory.hotTailBytes
        guard s.size - s.memoryStart > tail * 2 else { return }
        // Whole chunks before the kept position go (all their batches are written); the tail kept
        // is at most a chunk longer than `tail`.
        let freed = s.memory.release(before: min(s.flushed, s.size - tail))
        memory.memoryBytes.wrappingSubtract(freed, ordering: .relaxed)
    }

    // MARK: retention (timer thread)

    /// Deletes whole segments past `retention_ms` (their newest record) or `retention_bytes`;
    /// an expired active segment is rolled first. Files are removed after the lock.
    func applyRetention(nowMs: UInt64) -> Int {
        var gone: [LogSegment] = []
        var rolled: LogSegment?
        lock.withLock {
            var total = segments.reduce(0) { $0 + $1.size }
            // A compacted topic keeps its keys however old (Kafka's cleanup.policy=compact).
            while config.cleanup == .delete, let s = segments.first {
                let expired = config.retentionMs >= 0 && !s.isEmpty && nowMs > s.maxTimestamp
                    && nowMs - s.maxTimestamp > UInt64(config.retentionMs)
                let over = config.retentionBytes >= 0 && segments.count > 1 && total - s.size >= Int(config.retentionBytes)
                guard expired || over else { break }
                if segments.count == 1 { rolled = lockedRoll(nowMs) }
                segments.removeFirst()
                total -= s.size
                lockedForget(s)
                gone.append(s)
            }
        }
        // Every segment gone: the empty one rolled in their place holds the log end (its base,
        // its file name, as Kafka keeps it), so its file is made before theirs are removed. Else
        // a kill -9 before the flusher's next cycle would find no segment, and the partition
        // would start again at offset 0 and hand out offsets it had handed out before. When it
        // cannot be made (no room, no descriptor), theirs stay on disk: a restart loads them
        // (their end with them) and retention retires them again.
        if rolled.map({ createFile(of: $0) }) ?? true {
            for s in gone { s.removeFiles(descriptors: descriptors) }
        }
        memory.segmentsDeleted.wrappingAdd(UInt64(gone.count), ordering: .relaxed)
        return gone.count
    }

    /// Timer thread, no lock held: makes `s`'s (empty) file and syncs its directory, unless the
    /// topic was deleted (deletion takes `compactionLock` before removing files: none made after
    /// outlives it). The flusher, which also creates new segments' files, opens it as it is.
    /// False only when the file could not be made.
    func createFile(of s: LogSegment) -> Bool {
        guard let path = s.path else { return true }
        compactionLock.lock()
        defer { compactionLock.unlock() }
        guard !lock.withLock({ s.deleted }) else { return true }
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return false }
        close(fd)
        FileIO.syncDirectory(of: path)
        return true
    }

    /// At stop: the active segment's indexes too, so a clean restart finds them agreeing.
    func writeActiveIndexes() {
        let (s, runs, written) = lock.withLock {
            let s = segments[segments.count - 1]
            // Runs only of a segment all written: a clean restart reads none of it whole.
            return (s, lockedKeepsRuns && s.flushed == s.size ? s.fileRuns(s.runs) : nil, s.flushed)
        }
        guard s.created else { return }
        s.writeIndexes()
        if let runs { s.writeRuns(runs, fileSize: written) }
    }
}

extension LogPartition {
    /// Every parked reader, claimed after an append (each may be of another group and reads
    /// again), to be woken after the lock; nil, and no array made, while nobody waits. The
    /// partition's lock held.
    func lockedClaimReaders() -> [ConnectionWaker]? {
        guard waiters.hasArmed else { return nil }
        var wake: [ConnectionWaker] = []
        while let (w, _) = waiters.claimFirst() {
            w.deliver(())
            wake.append(w.waker)
        }
        return wake
    }
}
