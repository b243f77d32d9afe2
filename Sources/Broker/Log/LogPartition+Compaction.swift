// Log compaction (Kafka's cleanup.policy=compact) of a `cleanup=compact` partition, on the broker's
// timer thread after retention. Only closed segments are cleaned (the active one is untouched, as
// Kafka's cleaner leaves the active segment): the newest record of each key among them is kept,
// every older one dropped; a tombstone (empty value) is kept until it is older than
// `delete_retention_ms`, then dropped too. Offsets stay as they were: a segment keeps its base
// offset (its file name) and its next offset, and its batches leave gaps that reads step over.
//
// No I/O and no rewrite under the partition lock: both passes read through `read` (which takes the
// lock per step, and preads outside it), the new segment is built in a buffer outside the lock and,
// with a data directory, written with its indexes and runs file to `.cleaned` files and swapped in through a
// `.swap` commit point (`writeSwap`, Kafka's protocol: a crash leaves the old segment or the new
// one with its own indexes, never a mix; recovery completes or removes what a crash left); only
// the swap in the segment list is done under the lock. Kept records are written one per batch (a
// batch's offsets are dense). The files change under `compactionLock` only, which a topic's
// deletion takes before removing its files (no compaction output outlives a deleted topic).
import Durability
#if canImport(Glibc)
import Glibc
#endif

extension LogPartition {
    /// The suffix of a compacted segment's file before it is renamed over the segment's.
    static let cleanedSuffix = ".cleaned"
    /// The file in a partition directory once compaction rewrote one of its segments.
    static let compactedMarker = "compacted"

    /// What one cleaning pass did.
    struct CompactionResult: Equatable {
        var segments = 0
        var records = 0
        var bytes = 0
    }

    /// Timer thread: compacts the closed segments when new ones closed since the last pass, or a
    /// kept tombstone is due to expire.
    @discardableResult
    func compact(nowMs: UInt64) -> CompactionResult {
        struct Plan { let closed: [LogSegment]; let end: UInt64; let deleteRetentionMs: UInt64 }
        let plan: Plan? = lock.withLock {
            guard config.cleanup == .compact, segments.count >= 2 else { return nil }
            // The closed segments from the oldest on that are all written (the flusher is done
            // with them): their bytes no longer change.
            var closed: [LogSegment] = []
            for s in segments.dropLast() {
                guard s.sealed, !s.deleted, directory == nil || (s.flushed == s.size && s.indexesWritten) else { break }
                closed.append(s)
            }
            guard let last = closed.last else { return nil }
            guard last.nextOffset != cleanedEnd || nowMs >= tombstoneDueMs else { return nil }
            return Plan(closed: closed, end: last.nextOffset, deleteRetentionMs: config.deleteRetentionMs)
        }
        guard let plan else { return CompactionResult() }

        // Pass 1: the newest offset of each key in the closed segments.
        var newest: [[UInt8]: UInt64] = [:]
        _ = read(from: plan.closed[0].baseOffset, maxRecords: .max, until: plan.end) { r in
            if let k = r.key { newest[Array(k)] = r.offset }
        }

        // Pass 2: each segment that loses a record is rebuilt.
        var result = CompactionResult()
        var due = UInt64.max
        for old in plan.closed {
            var buffer = ByteBuffer()
            var kept: [(LogBatchHeader, Int)] = []
            var removed = 0
            _ = read(from: old.baseOffset, maxRecords: .max, until: old.nextOffset) { r in
                if let k = r.key {
                    guard newest[Array(k)] == r.offset else { removed += 1; return }
                    if r.value.isEmpty {
                        let expiry = r.timestamp &+ plan.deleteRetentionMs
                        guard nowMs <= expiry else { removed += 1; return }
                        due = min(due, expiry &+ 1)
                    }
                }
                let position = buffer.count
                LogBatch.appendOne(to: &buffer, offset: r.offset, timestamp: r.timestamp, flags: r.flags, key: r.key,
                                   valueLength: r.value.count) { dst in
                    if let base = r.value.baseAddress { dst.copyMemory(from: base, byteCount: r.value.count) }
                }
                kept.append((LogBatchHeader(length: buffer.count - position, baseOffset: r.offset, count: 1,
                                            maxTimestamp: r.timestamp), position))
            }
            guard removed > 0 else {
                buffer.deallocate()
                continue
            }
            if swapCompacted(old, buffer: &buffer, kept: kept) {
                result.segments += 1
                result.records += removed
                result.bytes += old.size - buffer.count
            }
            buffer.deallocate()
        }
        lock.withLock {
            cleanedEnd = plan.end
            tombstoneDueMs = due
        }
        memory.compactions.wrappingAdd(UInt64(result.segments), ordering: .relaxed)
        memory.compactedRecords.wrappingAdd(UInt64(result.records), ordering: .relaxed)
        memory.compactedBytes.wrappingAdd(UInt64(max(0, result.bytes)), ordering: .relaxed)
        return result
    }

    /// Replaces `old` by a segment of `buffer`'s batches (none: `old` leaves the list). With a
    /// data directory the file is written and renamed first, outside the lock. False when `old`
    /// left the list meanwhile or the file could not be written (the old one stays).
    private func swapCompacted(_ old: LogSegment, buffer: inout ByteBuffer, kept: [(LogBatchHeader, Int)]) -> Bool {
        let fresh = makeSegment(baseOffset: old.baseOffset, createdMs: old.createdMs)
        fresh.runs = []
        for (h, at) in kept {
            fresh.noteBatch(h, at: at)
            fresh.noteRun(h)
        }
        fresh.nextOffset = old.nextOffset
        fresh.sealed = true
        var pinned: (DescriptorCache.Slot, Int32)?
        // The files change only under `compactionLock`, and only while the topic is not deleted:
        // `delete <topic>` marks the segments deleted, then takes this lock before removing the
        // files, so no compaction's output is made after (or left behind by) a deletion.
        compactionLock.lock()
        defer { compactionLock.unlock() }
        if directory != nil && lock.withLock({ old.deleted }) { return false }
        if let directory, !markedCompacted {
            // Before the first gap reaches a file: recovery must accept gaps in this partition even
            // if the topic is declared `cleanup=delete` later.
            let fd = open(directory + "/" + Self.compactedMarker, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else { return false }
            close(fd)
            FileIO.syncDirectory(of: directory + "/" + Self.compactedMarker)
            markedCompacted = true
            lock.withLock { gapsMarked = true }
        }
        if let path = fresh.path, let ip = fresh.indexPath, let tp = fresh.timeIndexPath, let rp = fresh.runsPath,
           !kept.isEmpty {
            // The old file stays open while its readers finish: its descriptor outlives the rename.
            if let slot = old.slot, let (fd, _) = descriptors?.pin(slot) { pinned = (slot, fd) }
            guard writeSwap(path: path, indexPath: ip, timeIndexPath: tp, runsPath: rp, buffer: buffer, fresh: fresh) else {
                if let (slot, _) = pinned { descriptors?.unpin(slot, dirty: false) }
                return false
            }
            fresh.created = true
            fresh.indexesWritten = true
            fresh.flushed = fresh.size
            fresh.freeMemory()
        }
        if directory == nil && !kept.isEmpty {
            // In memory the new segment's chunks get its batches, one by one (none straddles two),
            // before it is swapped in; without memory for them the old segment stays.
            for (h, at) in kept {
                let copied = fresh.memory.append(length: h.length) { b in
                    b.append(UnsafeRawBufferPointer(rebasing: buffer.bytes[at..<(at + h.length)]))
                }
                guard copied else {
                    memory.chunks.refusals.wrappingAdd(1, ordering: .relaxed)
                    fresh.freeMemory()
                    return false
                }
            }
        }
        let swapped: Bool = lock.withLock {
            guard let i = segments.firstIndex(where: { $0 === old }) else { return false }
            if kept.isEmpty {
                segments.remove(at: i)
            } else {
                segments[i] = fresh
            }
            old.deleted = true
            memory.memoryBytes.wrappingSubtract(old.memory.count, ordering: .relaxed)
            if directory == nil && !kept.isEmpty {
                // In memory the new segment holds its bytes; the share gives back the difference.
                memory.memoryBytes.wrappingAdd(fresh.memory.count, ordering: .relaxed)
                memory.share?.release(old.size - fresh.size)
            } else {
                memory.share?.release(old.size)
            }
            old.freeMemory()
            return true
        }
        if let (slot, _) = pinned { descriptors?.unpin(slot, dirty: false) }
        if swapped {
            if kept.isEmpty {
                old.removeFiles(descriptors: descriptors)
            } else if let slot = old.slot {
                // The path is the new file's now: the old descriptor closes, no file is removed.
                descriptors?.close(slot, forGood: true)
            }
        }
        return swapped
    }

    /// Lock held: claims up to `records` records from `from` (the log start if older): the first
    /// offset holding one, the offset after the last one claimed (past any gap compaction left
    /// before it, or up to the log end when fewer were there) and how many records.
    func lockedClaim(from: UInt64, records: Int) -> (from: UInt64, upper: UInt64, count: Int) {
        var at = max(from, lockedStartOffset)
        let end = lockedEndOffset
        guard at < end, records > 0 else { return (at, at, 0) }
        var i = segments.count - 1
        while segments[i].baseOffset > at { i -= 1 }
        var first: UInt64?
        var left = UInt64(records)
        while left > 0 && i < segments.count {
            let s = segments[i]
            at = max(at, s.baseOffset)
            if let runs = s.runs {
                // The first run that ends past `at`.
                var lo = 0, hi = runs.count
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if runs[mid].base + runs[mid].count <= at { lo = mid + 1 } else { hi = mid }
                }
                while lo < runs.count && left > 0 {
                    let start = max(at, runs[lo].base)
                    let take = min(left, runs[lo].base + runs[lo].count - start)
                    if first == nil { first = start }
                    at = start + take
                    left -= take
                    lo += 1
                }
                if left > 0 { at = max(at, s.nextOffset) }
            } else if s.nextOffset > at {
                let take = min(left, s.nextOffset - at)
                if first == nil { first = at }
                at += take
                left -= take
            }
            i += 1
        }
        return (first ?? at, at, records - Int(left))
    }

    /// The suffix of a compacted segment's file once its new indexes are written too: the
    /// compaction's commit point (Kafka's `.swap`).
    static let swapSuffix = ".swap"

    /// A step of the file swap, for tests that stop there as a kill -9 would.
    enum CompactionStep: Sendable { case written, committed, indexesInPlace }

    /// Writes the compacted segment beside the old one and swaps it in, as Kafka's cleaner does:
    /// `<seg>.log.cleaned`, `<seg>.index.cleaned`, `<seg>.timeindex.cleaned` and
    /// `<seg>.runs.cleaned` written and fdatasynced; the log renamed to `<seg>.log.swap` (the
    /// commit point, directory synced); the indexes and runs renamed over theirs; `.swap` renamed
    /// over the segment file (directory synced). A crash before the commit point leaves the old
    /// segment and `.cleaned` files recovery removes; after it, recovery finishes the renames
    /// (`finishInterruptedCompactions`). So the segment file and its indexes and runs are never of
    /// different compactions (a runs file of another version fails start-up's check anyway). False when a write fails
    /// (nothing changed, no file left) or the test hook stops it (the files left as a crash would).
    private func writeSwap(path: String, indexPath ip: String, timeIndexPath tp: String, runsPath rp: String,
                           buffer: ByteBuffer, fresh: LogSegment) -> Bool {
        let cleaned = [path, ip, tp, rp].map { $0 + Self.cleanedSuffix }
        var index = fresh.encodedIndex(), time = fresh.encodedTimeIndex()
        var runs = LogSegment.encodedRuns(fresh.fileRuns(fresh.runs), fileSize: buffer.count)
        defer {
            index.deallocate()
            time.deallocate()
            runs.deallocate()
        }
        let bytes = UnsafeRawBufferPointer(start: buffer.base, count: buffer.count)
        let written = [bytes, index.bytes, time.bytes, runs.bytes].enumerated().allSatisfy { file in
            FileIO.writeTemporary(cleaned[file.offset]) { fd in
                FileIO.writeAll(fd, file.element) ? file.element.count : nil
            } != nil
        }
        guard written else {
            for c in cleaned { unlink(c) }
            return false
        }
        guard compactionHook?(.written) ?? true else { return false }
        let swap = path + Self.swapSuffix
        guard rename(cleaned[0], swap) == 0 else {
            for c in cleaned { unlink(c) }
            return false
        }
        FileIO.syncDirectory(of: swap)
        // Committed: from here recovery completes the swap whatever stops it.
        guard compactionHook?(.committed) ?? true else { return false }
        rename(cleaned[1], ip)
        rename(cleaned[2], tp)
        rename(cleaned[3], rp)
        guard compactionHook?(.indexesInPlace) ?? true else { return false }
        rename(swap, path)
        FileIO.syncDirectory(of: path)
        return true
    }

    /// Recovery, before the segments are read: a compaction stopped after its commit point (a
    /// `<seg>.log.swap` is there) is completed, its `.cleaned` indexes renamed into place first;
    /// then every other unfinished file (`.cleaned`: a compaction stopped before its commit
    /// point, the old segment still in place; `.tmp`: an index file being replaced) is removed,
    /// and so are index and runs files whose segment file is gone.
    static func finishInterruptedCompactions(_ directory: String, notes: inout [String]) {
        guard let d = opendir(directory) else { return }
        var swaps: [String] = []
        var leftovers: [String] = []
        var indexes: [String] = []
        while let e = readdir(d) {
            let file = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if file.hasSuffix(".log" + swapSuffix) {
                swaps.append(directory + "/" + String(file.dropLast(swapSuffix.count)))
            } else if file.hasSuffix(cleanedSuffix) || file.hasSuffix(".tmp") {
                leftovers.append(directory + "/" + file)
            } else if file.hasSuffix(".index") || file.hasSuffix(".timeindex") || file.hasSuffix(".runs") {
                indexes.append(directory + "/" + file)
            }
        }
        closedir(d)
        for log in swaps {
            let stem = String(log.dropLast(4))
            for ext in [".index", ".timeindex", ".runs"] where access(stem + ext + cleanedSuffix, F_OK) == 0 {
                rename(stem + ext + cleanedSuffix, stem + ext)
            }
            rename(log + swapSuffix, log)
            notes.append("log \(log): a compaction stopped after its commit point; completed")
        }
        if let any = swaps.first { FileIO.syncDirectory(of: any) }
        for p in leftovers where access(p, F_OK) == 0 {
            unlink(p)
            notes.append("log \(p): an unfinished compaction's or index's file; removed")
        }
        // Index and runs files whose segment is gone (a crash between a segment's removals): removed.
        for p in indexes {
            let ext = p.hasSuffix(".index") ? 6 : p.hasSuffix(".runs") ? 5 : 10
            let stem = String(p.dropLast(ext))
            if access(stem + ".log", F_OK) != 0 {
                unlink(p)
                notes.append("log \(p): the index of a segment that is gone; removed")
            }
        }
    }
}
