// Batch appends (`produce`): many records in one batch, one CRC-32C and one frame, so a
// producer pays the partition's lock, the index note and the flusher's copy once per batch
// rather than once per record (Kafka's producer batches for the same reason). The records share
// the batch's timestamp, flags and key. Also the wake-up of parked readers when records come
// back to be read again (LogTopic+Groups.swift).
import Durability
import Platform

extension LogBatch {
    /// Framed bytes of a batch of these values (each with `keyLength` bytes of key).
    static func framedLength(keyLength: Int, values: [Range<Int>]) -> Int {
        frameBytes + headerBytes + values.reduce(0) { $0 + recordHeaderBytes + keyLength + $1.count }
    }

    /// Appends one framed batch holding a record per range of `block`.
    static func appendMany(to b: inout ByteBuffer, offset: UInt64, timestamp: UInt64, flags: UInt32,
                           key: UnsafeRawBufferPointer?, block: UnsafeRawBufferPointer, values: [Range<Int>]) {
        RecordFile.frame(into: &b) { p in
            p.append(offset)
            p.append(UInt32(values.count))
            p.append(timestamp)
            for v in values {
                p.append(timestamp)
                p.append(flags)
                p.append(key.map { UInt32($0.count) } ?? noKey)
                p.append(UInt32(v.count))
                if let key { p.append(key) }
                p.append(UnsafeRawBufferPointer(rebasing: block[v]))
            }
        }
    }
}

extension LogPartition {
    /// Appends the records as one batch; the offset of the first. Refused (nothing kept) as
    /// `append` refuses one record; `noChunk` as `appendFramed`'s.
    func appendBatch(key: UnsafeRawBufferPointer?, flags: UInt32, block: UnsafeRawBufferPointer, values: [Range<Int>],
                     nowMs: UInt64, noChunk: NoChunk = .refuse) -> LogAppendResult {
        guard !values.isEmpty else { return .outOfMemory }
        let length = LogBatch.framedLength(keyLength: key?.count ?? 0, values: values)
        if length > LogBatch.maxPayload {
            memory.appendsRefused.wrappingAdd(1, ordering: .relaxed)
            return .outOfMemory
        }
        return appendFramed(length: length, count: values.count, nowMs: nowMs, noChunk: noChunk) { segment, offset, ts in
            segment.memory.append(length: length) { b in
                LogBatch.appendMany(to: &b, offset: offset, timestamp: ts, flags: flags, key: key, block: block, values: values)
            }
        }
    }

    /// Every parked reader reads again.
    func wakeWaiters() {
        var toWake: [ConnectionWaker] = []
        lock.withLock {
            guard waiters.hasArmed else { return }
            while let (w, _) = waiters.claimFirst() {
                w.deliver(())
                toWake.append(w.waker)
            }
        }
        for w in toWake { w.wake() }
    }
}
