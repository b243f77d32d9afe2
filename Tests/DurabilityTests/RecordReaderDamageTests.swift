// Replay past damage: a bad record is skipped and the reader resynchronises on the next valid one;
// a torn last record is still a torn tail. The records here have a shape like the journal's: the
// payload starts with its own length, which the owner's check compares with the header's.
import Durability
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Payloads that begin with their length (u32 LE), then `payload`'s bytes.
private func shaped(_ index: Int, length: Int) -> [UInt8] {
    withUnsafeBytes(of: UInt32(length).littleEndian, Array.init) + payload(index, length: length - 4)
}

private let shape = RecordShape(minimumLength: 4, maximumLength: 1 << 20, prefixLength: 4) { length, prefix in
    Int(UInt32(littleEndian: prefix.loadUnaligned(as: UInt32.self))) == length
}

/// A file of `count` shaped records of lengths cycling through `lengths`: their payloads and the
/// offset of each frame (plus the file size at the end).
private func makeShapedFile(_ path: String, count: Int, lengths: [Int]) throws -> (records: [[UInt8]], offsets: [Int]) {
    let f = try #require(RecordFile(path: path))
    var records: [[UInt8]] = []
    var offsets = [0]
    for i in 0..<count {
        let p = shaped(i, length: lengths[i % lengths.count])
        f.append(p)
        records.append(p)
        offsets.append(offsets.last! + 8 + p.count)
    }
    #expect(f.flush(sync: true) == .wrote)
    return (records, offsets)
}

struct RecordReaderDamageTests {
    @Test func aFlippedBitInRecordThreeOf912CostsThatRecordOnly() throws {
        // Issue 11: this made recovery keep 2 records and cut the file after them.
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let path = dir.file("issue11")
        let (records, offsets) = try makeShapedFile(path, count: 912, lengths: [40, 100, 13, 250])
        var bytes = readBytes(path)
        bytes[offsets[2] + 8 + 6] ^= 0x04   // record 3's payload (13 bytes)
        writeBytes(path, bytes)
        let r = try #require(RecordReader(path: path, shape: shape))
        var expected = records
        expected.remove(at: 2)
        #expect(readAll(r) == expected)
        // The believable header is skipped by its length: exactly that frame.
        #expect(r.damaged == [DamagedRegion(offset: offsets[2], length: offsets[3] - offsets[2], records: 1)])
        #expect(r.acceptedBytes == bytes.count && !r.hasDamagedTail && r.tornTail == nil && r.readError == nil)
    }

    @Test func aCorruptLengthFieldIsScannedPastToTheNextRecord() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let path = dir.file("length")
        let (records, offsets) = try makeShapedFile(path, count: 50, lengths: [30, 64, 9])
        // Each of the length's bytes, one at a time, through a window smaller than a record:
        // the header cannot be believed, so the reader scans to the next frame.
        for byte in 0..<4 {
            for flip: UInt8 in [0x01, 0x80] {
                var bytes = readBytes(path)
                bytes[offsets[20] + byte] ^= flip
                let damaged = dir.file("length-\(byte)-\(flip)")
                writeBytes(damaged, bytes)
                let r = try #require(RecordReader(path: damaged, window: 32, shape: shape))
                #expect(readAll(r) == Array(records[0..<20] + records[21...]), "byte \(byte) ^ \(flip)")
                #expect(r.damaged == [DamagedRegion(offset: offsets[20], length: offsets[21] - offsets[20], records: 1)])
                #expect(!r.hasDamagedTail)
            }
        }
    }

    @Test func severalCorruptRegionsAreEachSkipped() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let path = dir.file("several")
        let (records, offsets) = try makeShapedFile(path, count: 300, lengths: [17, 200, 45])
        var bytes = readBytes(path)
        bytes[offsets[10] + 8 + 6] ^= 0xff      // payload of 10
        bytes[offsets[11] + 1] ^= 0x10          // length of 11, right after it: one stretch
        bytes[offsets[150] + 5] ^= 0x02         // CRC field of 150
        for i in offsets[290]..<(offsets[292] + 3) { bytes[i] = 0xAA }   // 290, 291 and the start of 292
        writeBytes(path, bytes)
        let r = try #require(RecordReader(path: path, window: 128, shape: shape))
        let lost: Set<Int> = [10, 11, 150, 290, 291, 292]
        #expect(readAll(r) == records.indices.filter { !lost.contains($0) }.map { records[$0] })
        #expect(r.damaged == [
            DamagedRegion(offset: offsets[10], length: offsets[12] - offsets[10], records: 2),
            DamagedRegion(offset: offsets[150], length: offsets[151] - offsets[150], records: 1),
            DamagedRegion(offset: offsets[290], length: offsets[293] - offsets[290], records: 1),
        ])
        #expect(r.damagedRecords == 4 && r.damagedBytes == (offsets[12] - offsets[10]) + (offsets[151] - offsets[150]) + (offsets[293] - offsets[290]))
        #expect(!r.hasDamagedTail)
    }

    @Test func aTornTailIsStillATornTailAfterDamage() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let path = dir.file("torn")
        let (records, offsets) = try makeShapedFile(path, count: 20, lengths: [60])
        let end = offsets.last!
        var bytes = readBytes(path)
        bytes[offsets[5] + 8 + 30] ^= 0x01
        // Half a record: a believable header whose length runs past the end, and some payload.
        let torn = shaped(99, length: 60)
        let crc = torn.withUnsafeBytes { CRC32C.checksum($0) }
        bytes += withUnsafeBytes(of: UInt32(60).littleEndian, Array.init) + withUnsafeBytes(of: crc.littleEndian, Array.init)
            + torn[0..<25]
        writeBytes(path, bytes)
        let r = try #require(RecordReader(path: path, shape: shape))
        #expect(readAll(r) == Array(records[0..<5] + records[6...]))
        #expect(r.damaged == [DamagedRegion(offset: offsets[5], length: offsets[6] - offsets[5], records: 1)])
        #expect(r.tornTail == end && r.acceptedBytes == end && r.hasDamagedTail)
        #expect(RecordFile.truncate(path: path, to: r.acceptedBytes))

        // Fewer than 8 bytes, and a tail of zeros (a file extended but never written): torn too.
        for tail: [UInt8] in [[3, 0, 0], [UInt8](repeating: 0, count: 4096)] {
            writeBytes(path, Array(readBytes(path).prefix(end)) + tail)
            let t = try #require(RecordReader(path: path, window: 256, shape: shape))
            #expect(readAll(t).count == 19)
            #expect(t.tornTail == end && t.damaged.count == 1 && t.acceptedBytes == end)
        }

        // A whole last record whose CRC fails is damage, not a torn write: it is listed, to be kept.
        var last = readBytes(path).prefix(end)
        last[offsets[19] + 8 + 2] ^= 0x20
        writeBytes(path, Array(last))
        let d = try #require(RecordReader(path: path, shape: shape))
        #expect(readAll(d).count == 18)
        #expect(d.tornTail == nil && d.hasDamagedTail && d.acceptedBytes == offsets[19])
        #expect(d.damaged.last == DamagedRegion(offset: offsets[19], length: end - offsets[19], records: 1))
        // And a last header whose length was flipped past the end (its payload says otherwise).
        last = readBytes(path).prefix(end)
        last[offsets[19] + 8 + 2] ^= 0x20
        last[offsets[19] + 1] ^= 0x01
        writeBytes(path, Array(last))
        let l = try #require(RecordReader(path: path, shape: shape))
        #expect(readAll(l).count == 18)
        #expect(l.tornTail == nil && l.damaged.last == DamagedRegion(offset: offsets[19], length: end - offsets[19], records: 1))
    }

    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func randomCorruptionAt100Offsets(seed: UInt64) throws {
        // 100 bytes changed at random offsets of a 2,000-record file. Every record whose bytes
        // were all left alone must come back, and nothing else. The only ways this could fail
        // are a false match (a position inside damage passing the shape check and the CRC: odds
        // under 2^-32 per position) or a damaged header that is still believable (its length
        // and its payload's length field changed to agree, which one changed byte cannot do);
        // otherwise the scan meets each damaged stretch's next frame before any later one.
        var rng = SplitMix64(seed: seed)
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let path = dir.file("random")
        let (records, offsets) = try makeShapedFile(path, count: 2000, lengths: [4, 11, 70, 300, 33, 5, 129])
        var bytes = readBytes(path)
        var touched = Set<Int>()
        for _ in 0..<100 {
            let at = Int.random(in: 0..<bytes.count, using: &rng)
            bytes[at] ^= UInt8.random(in: 1...255, using: &rng)
            // The record holding offset `at`.
            var lo = 0, hi = records.count - 1
            while lo < hi {
                let mid = (lo + hi + 1) / 2
                if offsets[mid] <= at { lo = mid } else { hi = mid - 1 }
            }
            touched.insert(lo)
        }
        writeBytes(path, bytes)
        for window in [64, RecordReader.defaultWindow] {
            let r = try #require(RecordReader(path: path, window: window, shape: shape))
            let got = readAll(r)
            let kept = records.indices.filter { !touched.contains($0) }
            #expect(got == kept.map { records[$0] }, "seed \(seed), window \(window)")
            // The skipped stretches are exactly the touched records.
            #expect(r.damagedBytes == touched.reduce(0) { $0 + offsets[$1 + 1] - offsets[$1] }, "seed \(seed)")
            #expect(r.readError == nil)
            if touched.contains(records.count - 1) {
                #expect(r.hasDamagedTail && r.tornTail == nil)
            } else {
                #expect(!r.hasDamagedTail && r.acceptedBytes == bytes.count)
            }
        }

        // Without a shape check (CRC and length bounds only) the same records come back: a damaged
        // header is never believed, so every stretch is scanned.
        let plain = try #require(RecordReader(path: path, window: 256))
        let kept = records.indices.filter { !touched.contains($0) }
        let got = readAll(plain)
        // A damaged last record may read as a torn one here (no check to tell them apart).
        #expect(got == kept.map { records[$0] }, "seed \(seed), no shape")
    }

    @Test func theDamagedBytesAreCopiedNextToTheFileAndNeverOverwritten() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let path = dir.file("copied")
        let (_, offsets) = try makeShapedFile(path, count: 10, lengths: [50])
        let region = DamagedRegion(offset: offsets[4], length: offsets[6] - offsets[4], records: 2)
        let original = readBytes(path)
        let first = try DamageCopy.keep(region, of: path).get()
        #expect(first == path + ".corrupt-1")
        #expect(readBytes(first) == Array(original[offsets[4]..<offsets[6]]))
        // A second recovery's copy takes the next free number; the first stays as it was.
        let second = try DamageCopy.keep(DamagedRegion(offset: 0, length: 3, records: 1), of: path).get()
        #expect(second == path + ".corrupt-2")
        #expect(readBytes(second) == Array(original[0..<3]))
        #expect(readBytes(first) == Array(original[offsets[4]..<offsets[6]]))
        #expect(readBytes(path) == original)
        // A copy that cannot be made says where and why.
        if case .failure(let e) = DamageCopy.keep(region, of: dir.file("absent")) {
            #expect(e.path == dir.file("absent") && e.errno == ENOENT)
        } else {
            Issue.record("a copy of a missing file was made")
        }
    }

    @Test func oneRecoverysCopiesAreNumberedOnFromTheLastOneTaken() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let path = dir.file("many")
        let (_, offsets) = try makeShapedFile(path, count: 10, lengths: [50])
        let original = readBytes(path)
        // A copy left by an earlier recovery: numbering starts past it, and goes on from there.
        writeBytes(path + ".corrupt-1", [1])
        var next = 1
        for i in 0..<5 {
            let region = DamagedRegion(offset: offsets[i], length: offsets[i + 1] - offsets[i], records: 1)
            let copy = try DamageCopy.keep(region, of: path, next: &next).get()
            #expect(copy == path + ".corrupt-\(i + 2)")
            #expect(next == i + 3)
            #expect(readBytes(copy) == Array(original[offsets[i]..<offsets[i + 1]]))
        }
        #expect(readBytes(path + ".corrupt-1") == [1])
        // A number taken meanwhile (here, by hand) is still skipped, never overwritten.
        writeBytes(path + ".corrupt-7", [2])
        let later = try DamageCopy.keep(DamagedRegion(offset: 0, length: 3, records: 1), of: path, next: &next).get()
        #expect(later == path + ".corrupt-8" && next == 9)
        #expect(readBytes(path + ".corrupt-7") == [2])
    }
}
