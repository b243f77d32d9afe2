// What a Redis stream needs of its partition beyond a topic's appends and reads: whole segments
// dropped once the stream is trimmed past them (XTRIM, XADD MAXLEN/MINID), so trimmed entries
// give their memory back in segment-sized pieces. Kept in its own file so the log's own files
// stay as the broker's topics use them.
import Durability
import Platform

extension LogPartition {
    /// Takes out every segment whose records all lie before `offset` (the active one is rolled
    /// first when it is such a segment); returns the number taken. Files go after the lock.
    func dropSegments(before offset: UInt64, nowMs: UInt64) -> Int {
        var gone: [LogSegment] = []
        lock.withLock {
            while let s = segments.first, !s.isEmpty, s.nextOffset <= offset {
                if segments.count == 1 {
                    s.sealed = true
                    segments.append(LogSegment(baseOffset: s.nextOffset, createdMs: nowMs, directory: directory, descriptors: descriptors))
                }
                segments.removeFirst()
                s.deleted = true
                memory.memoryBytes.wrappingSubtract(s.memory.count, ordering: .relaxed)
                memory.share?.release(s.size)
                s.memory.deallocate()
                s.memoryStart = s.size
                gone.append(s)
            }
        }
        for s in gone { s.removeFiles(descriptors: descriptors) }
        if !gone.isEmpty { memory.segmentsDeleted.wrappingAdd(UInt64(gone.count), ordering: .relaxed) }
        return gone.count
    }

    /// The bytes a one-record batch of these lengths takes (what the share must hold).
    static func framedLength(keyLength: Int, valueLength: Int) -> Int {
        LogBatch.framedLength(keyLength: keyLength, valueLength: valueLength)
    }
}
