// What a Redis stream needs of its partition beyond a topic's appends and reads: whole segments
// dropped once the stream is trimmed past them (XTRIM, XADD MAXLEN/MINID), so trimmed entries
// give their memory back in segment-sized pieces; and XADD's append, which grows the stream's
// open batch by one record rather than framing a batch per entry (`appendStreamRecord`). Kept in
// its own file so the log's own files stay as the broker's topics use them.
//
// XADD's batches are stream batches (LogBatch format 1, StreamBatch.swift: IDs as deltas against
// the batch's first, the first entry's field names shared, varint lengths). The open batch: an
// XADD's record joins the last batch of the active segment when that batch is the one this
// stream framed last (no other append since, checked by its end), holds fewer than
// `StreamOpenBatch.maxRecords` records and `maxBytes` bytes, and the segment has room. The batch's
// frame length, record count and max timestamp are patched in place; its CRC-32C is written when
// it is closed (the stream's next batch is framed), so each byte is summed once, as before. Only
// a partition without a data directory has open batches (a stream's own topic: nothing reads its
// batches from a file, the only place a CRC is checked); an adopted topic's records are framed
// one batch each in the broker's format, as the broker's. This saves the 28 bytes of frame and
// batch header per entry (8 + 20), the stream batch's 28 more of header and the master's names,
// and the partition's batch bookkeeping for all but one entry in a batch.
import Durability
import Platform

/// A stream's open batch (kept by its `StreamLog`, under the stream's lock): where it lies and
/// what it holds so far. Its CRC is stale until `close`.
struct StreamOpenBatch {
    let segment: LogSegment
    /// The batch's position in the segment (bytes of batches before it).
    let position: Int
    let baseOffset: UInt64
    var count: Int
    /// Framed length (8 + payload).
    var length: Int
    /// Its first record's ID (the later ones' are deltas against it) and every record's flags.
    let firstID: StreamID
    let flags: UInt32
    /// Bytes of its master fields (at `LogBatch.streamHeaderBytes` into its payload).
    let masterLength: Int
    /// Bytes taken from the memory share (and counted in the memory gauge) for records not yet
    /// appended; given back when the batch closes.
    var reservedAhead = 0

    /// What the share is charged at a time for an open batch's next records.
    static let reserveChunk = 4096

    /// redis's stream-node-max-entries, so a batch spans about one emulated node.
    static let maxRecords = 100
    /// A read from a record in the middle of a batch walks the records before it: bounded.
    static let maxBytes = 16 << 10
}

extension LogPartition {
    /// Takes out every segment whose records all lie before `offset` (the active one is rolled
    /// first when it is such a segment); returns the number taken. Files go after the lock.
    func dropSegments(before offset: UInt64, nowMs: UInt64) -> Int {
        var gone: [LogSegment] = []
        lock.withLock {
            while let s = segments.first, !s.isEmpty, s.nextOffset <= offset {
                if segments.count == 1 {
                    s.sealed = true
                    segments.append(makeSegment(baseOffset: s.nextOffset, createdMs: nowMs))
                }
                segments.removeFirst()
                s.deleted = true
                memory.memoryBytes.wrappingSubtract(s.memory.count, ordering: .relaxed)
                memory.share?.release(s.size)
                s.freeMemory()
                gone.append(s)
            }
        }
        for s in gone { s.removeFiles(descriptors: descriptors) }
        if !gone.isEmpty { memory.segmentsDeleted.wrappingAdd(UInt64(gone.count), ordering: .relaxed) }
        return gone.count
    }

    /// The bytes a one-record batch of these lengths takes in the broker's format (what the share
    /// must hold at most for a stream entry of a RESP array this long).
    static func framedLength(keyLength: Int, valueLength: Int) -> Int {
        LogBatch.framedLength(keyLength: keyLength, valueLength: valueLength)
    }

    /// XADD's append of one record (ID `id`, the stream's flags, `fieldCount` names and values
    /// alternating): into the open batch `open` when it can take it, else as a new stream batch
    /// (which becomes the open one). Refused (`.outOfMemory`) when the memory share cannot hold
    /// it: a stream never drops its oldest entries for room; `noChunk` as `appendFramed`'s when the
    /// engine has no chunk for a new batch. Returns the partition's start offset
    /// after the append too (read under the same lock). Parked readers are woken as
    /// `appendFramed` wakes them.
    func appendStreamRecord(id: StreamID, flags: UInt32, nowMs: UInt64, fieldCount: Int,
                            field: (Int) -> UnsafeRawBufferPointer,
                            open: inout StreamOpenBatch?, noChunk: NoChunk = .refuse) -> (LogAppendResult, startOffset: UInt64) {
        var toWake: [ConnectionWaker]?
        var extended: UInt64?
        var refused = false
        var start: UInt64 = 0
        lock.withLock {
            if open != nil {
                switch segments[segments.count - 1].appendStreamRecord(
                    open: &open!, partition: self, nowMs: nowMs, flags: flags, id: id, fieldCount: fieldCount, field: field) {
                case .appended(let offset):
                    extended = offset
                    toWake = lockedClaimReaders()
                case .outOfMemory:
                    refused = true
                case .closed:
                    // Its CRC now covers what it holds; the next record starts a batch.
                    lockedClose(&open)
                }
            }
            start = lockedStartOffset
        }
        if let toWake { for w in toWake { w.wake() } }
        if let extended { return (.appended(offset: extended), start) }
        // Counted by the stream's store (StreamStore.appendsRefused), not as a log's refusal.
        if refused { return (.outOfMemory, start) }
        // A new batch, open from here on (memory-only partitions; framed whole otherwise).
        // Refused rather than letting appendFramed drop the oldest segments for room (in the
        // share or in the engine: `dropsOldest: false`).
        let length = LogBatch.streamBatchLength(fieldCount: fieldCount, field: field)
        if let share = memory.share, share.inUse + length > share.limit { return (.outOfMemory, start) }
        let keepOpen = directory == nil
        let masterLength = LogBatch.streamMasterLength(fieldCount: fieldCount, field: field)
        var opened: StreamOpenBatch?
        let r = appendFramed(length: length, count: 1, nowMs: nowMs, dropsOldest: false, noChunk: noChunk) { segment, offset, ts in
            if keepOpen {
                opened = StreamOpenBatch(segment: segment, position: segment.size, baseOffset: offset, count: 1, length: length,
                                         firstID: id, flags: flags, masterLength: masterLength)
            }
            return segment.memory.append(length: length) { b in
                LogBatch.appendStreamBatch(to: &b, length: length, offset: offset, timestamp: ts, flags: flags, id: id,
                                           fieldCount: fieldCount, field: field, checksum: !keepOpen)
            }
        }
        if case .appended = r, let opened { open = opened }
        return (r, startOffset)
    }

    /// Closes the open batch for good (the stream's end, or a test reading its checksum): its
    /// CRC is written, its reservation ahead given back.
    func closeStreamBatch(_ open: inout StreamOpenBatch?) {
        lock.withLock { lockedClose(&open) }
    }

    /// Lock held: writes the CRC-32C of the open batch, if its bytes are still in memory (a
    /// trimmed or dropped segment's are not), and gives back the bytes reserved ahead for it.
    private func lockedClose(_ open: inout StreamOpenBatch?) {
        guard let o = open else { return }
        open = nil
        if o.reservedAhead > 0 {
            memory.share?.release(o.reservedAhead)
            memory.memoryBytes.wrappingSubtract(o.reservedAhead, ordering: .relaxed)
        }
        let s = o.segment
        guard !s.deleted, o.position >= s.memoryStart, o.position + o.length <= s.size else { return }
        // The batch lies whole in one chunk (SegmentMemory.swift).
        let batch = s.memory.pointer(at: o.position)
        let payload = UnsafeRawBufferPointer(start: batch + LogBatch.frameBytes, count: o.length - LogBatch.frameBytes)
        batch.storeBytes(of: CRC32C.checksum(payload).littleEndian, toByteOffset: 4, as: UInt32.self)
    }
}

extension LogSegment {
    enum StreamExtension { case appended(UInt64), outOfMemory, closed }

    /// Partition lock held, `self` the active segment: appends one stream record to the open
    /// batch `o` if it is this segment's last batch and has room (else `.closed`): its names left
    /// out when they are the batch's master fields. One method on the segment, so the record
    /// costs one reference to it. The share and the memory gauge are charged
    /// `StreamOpenBatch.reserveChunk` bytes at a time (`o.reservedAhead`), so most records touch
    /// neither shared counter.
    func appendStreamRecord(open o: inout StreamOpenBatch, partition p: LogPartition, nowMs: UInt64, flags: UInt32,
                            id: StreamID, fieldCount: Int, field: (Int) -> UnsafeRawBufferPointer) -> StreamExtension {
        guard o.segment === self, p.directory == nil, !deleted, o.flags == flags, id > o.firstID,
              o.position + o.length == size, o.baseOffset + UInt64(o.count) == nextOffset,
              o.position >= memoryStart, o.count < StreamOpenBatch.maxRecords else { return .closed }
        let ts = max(p.lastTimestamp, nowMs)
        // The open batch ends the segment, so it lies in the memory's last chunk.
        let batch = memory.pointer(at: o.position)
        let master = LogBatch.streamFieldsMatch(
            master: UnsafeRawBufferPointer(start: batch + LogBatch.frameBytes + LogBatch.streamHeaderBytes,
                                           count: o.masterLength),
            fieldCount: fieldCount, field: field)
        let recordLength = LogBatch.streamRecordLength(id: id, first: o.firstID, timestamp: ts, fieldCount: fieldCount,
                                                       field: field, master: master)
        // A batch never straddles two chunks: one that cannot grow in its chunk is closed.
        guard o.length + recordLength <= StreamOpenBatch.maxBytes, recordLength <= memory.tailRoom,
              size + recordLength <= p.memory.segmentBytes(p.config),
              p.config.segmentMs <= 0 || nowMs &- createdMs < p.config.segmentMs else { return .closed }
        if recordLength > o.reservedAhead {
            let chunk = max(recordLength, StreamOpenBatch.reserveChunk)
            if let share = p.memory.share, !share.reserve(chunk) {
                // The last bytes of the share: only what this record needs.
                guard share.reserve(recordLength - o.reservedAhead) else { return .outOfMemory }
                p.memory.memoryBytes.wrappingAdd(recordLength - o.reservedAhead, ordering: .relaxed)
                o.reservedAhead = recordLength
            } else {
                p.memory.memoryBytes.wrappingAdd(chunk, ordering: .relaxed)
                o.reservedAhead += chunk
            }
        }
        o.reservedAhead -= recordLength
        p.lastTimestamp = ts
        let offset = nextOffset
        memory.extendLast(by: recordLength) { at in
            LogBatch.writeStreamRecord(at, id: id, first: o.firstID, timestamp: ts,
                                       fieldCount: fieldCount, field: field, master: master)
        }
        // The batch's frame length, record count and max timestamp (LogBatch's layout).
        let count = UInt32(o.count + 1) | LogBatch.streamFormat << LogBatch.formatShift
        batch.storeBytes(of: UInt32(o.length + recordLength - LogBatch.frameBytes).littleEndian, toByteOffset: 0, as: UInt32.self)
        batch.storeBytes(of: count.littleEndian, toByteOffset: LogBatch.frameBytes + 8, as: UInt32.self)
        batch.storeBytes(of: ts.littleEndian, toByteOffset: LogBatch.frameBytes + 12, as: UInt64.self)
        nextOffset = offset + 1
        maxTimestamp = max(maxTimestamp, ts)
        size += recordLength
        o.count += 1
        o.length += recordLength
        return .appended(offset)
    }
}
