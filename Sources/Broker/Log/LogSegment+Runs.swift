// A compacted partition's segment keeps `runs` (its offsets that hold records, as runs of dense
// offsets), which only every batch of the segment gives. So that start-up need not read such a
// segment whole, the runs are written beside it (`<20 digits>.runs`) whenever its indexes are:
// when it is sealed, at compaction's swap (as a `.cleaned` file renamed in after the commit point,
// with the indexes), at a clean stop, and by recovery when the file it found disagreed.
//
// File: magic u32, version u32, the segment file's size it describes u64, the number of runs u64,
// then each run's base u64 and count u64, then a CRC-32C of all that, little-endian. Start-up
// takes the runs only when the CRC and sizes check, runs rise inside the segment, and the batches
// it reads from the last index entry on pass through the described size at the runs' end (then
// batches past it add their runs: the active segment's tail after a restart); otherwise the
// segment is read whole (`log_recovery_full_scans`), as before.
import Durability
#if canImport(Glibc)
import Glibc
#endif

extension LogSegment {
    static let runsMagic: UInt32 = 0x534e_5552  // "RUNS"
    static let runsVersion: UInt32 = 1

    var runsPath: String? { path.map { String($0.dropLast(4)) + ".runs" } }

    /// The runs as the file holds them: `runs`, or for a segment without (every offset holds a
    /// record) one run over all of it.
    func fileRuns(_ runs: [(base: UInt64, count: UInt64)]?) -> [(base: UInt64, count: UInt64)] {
        if let runs { return runs }
        return isEmpty ? [] : [(baseOffset, nextOffset - baseOffset)]
    }

    /// The runs file's bytes for `runs` over the first `fileSize` bytes of the segment.
    static func encodedRuns(_ runs: [(base: UInt64, count: UInt64)], fileSize: Int) -> ByteBuffer {
        var b = ByteBuffer()
        b.reserve(28 + 16 * runs.count)
        b.append(runsMagic)
        b.append(runsVersion)
        b.append(UInt64(fileSize))
        b.append(UInt64(runs.count))
        for r in runs {
            b.append(r.base)
            b.append(r.count)
        }
        let crc = CRC32C.checksum(b.bytes)
        b.append(crc)
        return b
    }

    /// Writes the runs file (atomically). Flusher, compaction or recovery, outside the lock.
    @discardableResult
    func writeRuns(_ runs: [(base: UInt64, count: UInt64)], fileSize: Int) -> Bool {
        guard let rp = runsPath else { return false }
        var b = Self.encodedRuns(runs, fileSize: fileSize)
        defer { b.deallocate() }
        return FileIO.replace(rp) { fd in FileIO.writeAll(fd, b.bytes) ? b.count : nil }
    }

    /// Recovery: the runs file, if it is whole (magic, version, length, CRC) and its runs rise
    /// inside the segment (each non-empty, at or after the end of the one before). Nil otherwise.
    func loadRuns() -> (runs: [(base: UInt64, count: UInt64)], fileSize: Int)? {
        guard let rp = runsPath, let data = FileIO.readAll(rp) else { return nil }
        defer { data.deallocate() }
        let b = UnsafeRawBufferPointer(data)
        guard b.count >= 28, LogBatch.u32(b, 0) == Self.runsMagic, LogBatch.u32(b, 4) == Self.runsVersion else { return nil }
        let n = LogBatch.u64(b, 16)
        guard n <= UInt64((b.count - 28) / 16), b.count == 28 + 16 * Int(n),
              CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[0..<(b.count - 4)])) == LogBatch.u32(b, b.count - 4)
        else { return nil }
        let fileSize = LogBatch.u64(b, 8)
        guard fileSize <= UInt64(Int.max) else { return nil }
        var runs: [(base: UInt64, count: UInt64)] = []
        runs.reserveCapacity(Int(n))
        var end = baseOffset
        for k in 0..<Int(n) {
            let base = LogBatch.u64(b, 24 + 16 * k), count = LogBatch.u64(b, 32 + 16 * k)
            guard base >= end, count > 0, base <= UInt64.max - count else { return nil }
            runs.append((base, count))
            end = base + count
        }
        return (runs, Int(fileSize))
    }
}
