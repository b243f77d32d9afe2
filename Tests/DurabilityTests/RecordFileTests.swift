// The record file: framing on disk, replay through a window, damaged tails, atomic replace.
import Durability
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

struct RecordFileTests {
    /// A file of `count` records of lengths cycling through `lengths`, flushed; their payloads.
    private func makeFile(_ path: String, count: Int, lengths: [Int]) throws -> [[UInt8]] {
        let f = try #require(RecordFile(path: path))
        var written: [[UInt8]] = []
        for i in 0..<count {
            let p = payload(i, length: lengths[i % lengths.count])
            f.append(p)
            written.append(p)
        }
        #expect(f.flush(sync: true) == .wrote)
        return written
    }

    @Test func framingIsLengthThenCRCThenPayloadLittleEndian() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let path = dir.file("framing")
        let f = try #require(RecordFile(path: path))
        f.append(Array("hello".utf8))
        f.append([])
        #expect(f.flush(sync: true) == .wrote)
        #expect(f.flush(sync: true) == .idle)
        let crc = Array("hello".utf8).withUnsafeBytes { CRC32C.checksum($0) }
        let expected: [UInt8] = [5, 0, 0, 0] + withUnsafeBytes(of: crc.littleEndian, Array.init) + Array("hello".utf8)
            + [0, 0, 0, 0, 0, 0, 0, 0]
        #expect(readBytes(path) == expected)
        #expect(f.sizeOnDisk == expected.count)

        // The same bytes framed outside the file.
        var b = ByteBuffer()
        defer { b.deallocate() }
        let hello = Array("hello".utf8)
        hello.withUnsafeBytes { raw in RecordFile.frame(into: &b) { $0.append(raw) } }
        RecordFile.frame(into: &b) { _ in }
        #expect(Array(b.bytes) == expected)

        let r = try #require(RecordReader(path: path))
        #expect(readAll(r) == [Array("hello".utf8), []])
        #expect(!r.hasDamagedTail && r.acceptedBytes == expected.count)
    }

    @Test func tornTailIsFoundAndTruncated() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let path = dir.file("torn")
        let written = try makeFile(path, count: 3, lengths: [20])
        let valid = fileSize(path)
        // Half a record: a length that runs past the end of the file.
        appendBytes(path, [40, 0, 0, 0, 1, 2, 3, 4, 1, 9, 9])
        let r = try #require(RecordReader(path: path))
        #expect(readAll(r) == written)
        #expect(r.hasDamagedTail && r.acceptedBytes == valid)
        #expect(RecordFile.truncate(path: path, to: r.acceptedBytes))
        #expect(fileSize(path) == valid)

        // A header cut short is a torn tail too; appending resumes at the cut.
        appendBytes(path, [7, 0, 0])
        let r2 = try #require(RecordReader(path: path))
        #expect(readAll(r2) == written && r2.acceptedBytes == valid && r2.hasDamagedTail)
        RecordFile.truncate(path: path, to: r2.acceptedBytes)
        let f = try #require(RecordFile(path: path))
        #expect(f.sizeOnDisk == valid)
        f.append([1, 2, 3])
        f.flush(sync: false)
        let r3 = try #require(RecordReader(path: path))
        #expect(readAll(r3) == written + [[1, 2, 3]])
        #expect(!r3.hasDamagedTail)
    }

    @Test func aBadCRCInTheMiddleCostsOnlyThatRecord() throws {
        // Without a shape check the reader never believes a damaged header: it scans byte by
        // byte from the bad record to the next valid one.
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let path = dir.file("corrupt")
        let written = try makeFile(path, count: 5, lengths: [16])
        var bytes = readBytes(path)
        let recordSize = 8 + 16
        bytes[2 * recordSize + 8 + 5] ^= 0x40   // a payload byte of the third record
        writeBytes(path, bytes)
        let r = try #require(RecordReader(path: path))
        #expect(readAll(r) == Array(written[0..<2]) + Array(written[3...]))
        #expect(r.damaged == [DamagedRegion(offset: 2 * recordSize, length: recordSize, records: 1)])
        #expect(r.acceptedBytes == 5 * recordSize && !r.hasDamagedTail && r.tornTail == nil)

        // A damaged CRC field as well: two stretches, each one record.
        bytes[1 * recordSize + 4] ^= 0x01
        writeBytes(path, bytes)
        let r2 = try #require(RecordReader(path: path))
        #expect(readAll(r2) == [written[0], written[3], written[4]])
        #expect(r2.damaged == [DamagedRegion(offset: recordSize, length: 2 * recordSize, records: 1)])
        #expect(r2.damagedBytes == 2 * recordSize && r2.damagedRecords == 1)
    }

    @Test func aLengthUnderTheMinimumIsDamageAndOnePastTheFileIsATornTail() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let path = dir.file("short")
        let f = try #require(RecordFile(path: path))
        f.append([1, 2, 3, 4, 5, 6, 7, 8, 9])
        f.append([1, 2])
        f.append([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
        f.flush(sync: false)
        let r = try #require(RecordReader(path: path, shape: RecordShape(minimumLength: 9)))
        #expect(readAll(r) == [[1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]])
        #expect(r.damaged == [DamagedRegion(offset: 17, length: 10, records: 1)])
        #expect(r.acceptedBytes == 45 && !r.hasDamagedTail)
        // A length near 4 GB is not allocated: it runs past the end of the file (a torn record).
        // The window is no larger than the file's 9 bytes.
        writeBytes(path, [0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0, 1])
        let r2 = try #require(RecordReader(path: path, window: 64))
        #expect(r2.next() == nil)
        #expect(r2.windowSize == 9 && r2.acceptedBytes == 0 && r2.tornTail == 0 && r2.damaged.isEmpty)
    }

    @Test func replayThroughAWindowSmallerThanTheFile() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let path = dir.file("window")
        // Records of 1...56 bytes (frames of 9...64) through a 64-byte window: most of them
        // straddle a window boundary, none needs the window to grow.
        let written = try makeFile(path, count: 500, lengths: [1, 7, 13, 56, 30, 41, 2, 55, 19])
        #expect(fileSize(path) > 20 * 64)
        let r = try #require(RecordReader(path: path, window: 64))
        #expect(readAll(r) == written)
        #expect(r.windowSize == 64)
        #expect(!r.hasDamagedTail && r.acceptedBytes == fileSize(path))
    }

    @Test func aFileSmallerThanTheWindowIsReadThroughAWindowOfItsSize() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let path = dir.file("small")
        let written = try makeFile(path, count: 20, lengths: [1, 7, 13, 56])
        // The default 4 MB is not allocated for a file of a few hundred bytes.
        let r = try #require(RecordReader(path: path))
        #expect(r.windowSize == fileSize(path))
        #expect(readAll(r) == written)
        #expect(r.windowSize == fileSize(path) && !r.hasDamagedTail)
        // An empty file still gets the smallest window, a header's 8 bytes.
        writeBytes(path, [])
        let empty = try #require(RecordReader(path: path))
        #expect(empty.next() == nil && empty.windowSize == 8 && !empty.hasDamagedTail)
    }

    @Test func aRecordLargerThanTheWindowGrowsItToThatRecord() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let path = dir.file("large")
        let f = try #require(RecordFile(path: path))
        var written: [[UInt8]] = []
        for (i, length) in [10, 20, 1000, 5, 300, 30].enumerated() {
            written.append(payload(i, length: length))
            f.append(written.last!)
        }
        f.flush(sync: false)
        let r = try #require(RecordReader(path: path, window: 64))
        #expect(readAll(r) == written)
        // Grown once, to the frame of the largest record (1008 bytes), as the largest record needs.
        #expect(r.windowSize == 8 + 1000)
        #expect(!r.hasDamagedTail)
    }

    @Test func atomicReplaceSwapsTheFileAndKeepsAppending() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let path = dir.file("replace")
        let f = try #require(RecordFile(path: path))
        for i in 0..<10 { f.append(payload(i, length: 100)) }
        f.flush(sync: true)
        f.append(payload(10, length: 100))
        // A snapshot that supersedes the buffered record (the owner took it out).
        var superseded = f.takePending()
        defer { superseded.deallocate() }
        #expect(superseded.count == 108)
        let snapshot = [payload(99, length: 3)]
        let ok = f.replace { fd in
            var b = ByteBuffer()
            defer { b.deallocate() }
            for p in snapshot { p.withUnsafeBytes { raw in RecordFile.frame(into: &b) { $0.append(raw) } } }
            return FileIO.writeAll(fd, b.bytes) ? b.count : nil
        }
        #expect(ok)
        #expect(!fileExists(path + ".compact"))
        #expect(f.sizeOnDisk == 11 && fileSize(path) == 11)
        // Appends go to the new file.
        f.append([7])
        #expect(f.flush(sync: true) == .wrote)
        let r = try #require(RecordReader(path: path))
        #expect(readAll(r) == snapshot + [[7]])

        // A snapshot that fails leaves the file as it was, and the records come back in order.
        let before = readBytes(path)
        f.append([8])
        let taken = f.takePending()
        f.append([9])
        #expect(!f.replace { fd in
            _ = [UInt8]([1, 2, 3]).withUnsafeBytes { FileIO.writeAll(fd, $0) }
            return nil
        })
        f.restorePending(taken)
        var t = taken
        t.deallocate()
        #expect(!fileExists(path + ".compact"))
        #expect(readBytes(path) == before)
        f.flush(sync: true)
        let r2 = try #require(RecordReader(path: path))
        #expect(readAll(r2) == snapshot + [[7], [8], [9]])
    }

    @Test func aRemovedFileIsNotBroughtBackByAReplace() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let path = dir.file("removed")
        let f = try #require(RecordFile(path: path))
        f.append([1])
        f.closeAndRemove()
        #expect(f.flush(sync: true) == .idle)
        #expect(!fileExists(path))
        #expect(!f.replace { _ in 0 })
        #expect(!fileExists(path) && !fileExists(path + ".compact"))
    }

    @Test func aFailedWriteKeepsTheRecordsAndLeavesNoPartialFlush() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let path = dir.file("full")
        let f = try #require(RecordFile(path: path))
        f.append([1, 2, 3])
        f.flush(sync: true)
        let size = fileSize(path)
        f.failWritesForTesting()
        f.append([4, 5, 6])
        #expect(f.flush(sync: true) == .failed)
        #expect(f.flush(sync: false) == .failed)
        #expect(fileSize(path) == size && f.sizeOnDisk == size)
        // The kept records are still there for a snapshot to take.
        var kept = f.takePending()
        defer { kept.deallocate() }
        #expect(kept.count == 8 + 3)
    }

    @Test func fileIOReplaceWritesWholeFilesAtomically() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let path = dir.file("meta")
        let text = Array("queue q max_items=3\n".utf8)
        #expect(FileIO.replace(path) { fd in text.withUnsafeBytes { FileIO.writeAll(fd, $0) } ? text.count : nil })
        #expect(readBytes(path) == text)
        #expect(!fileExists(path + ".tmp"))
        #expect(!FileIO.replace(path) { _ in nil })
        #expect(readBytes(path) == text && !fileExists(path + ".tmp"))
        #expect(FileIO.readAll(dir.file("absent")) == nil)
    }
}
