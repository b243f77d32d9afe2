// The shared descriptor cache (many record files, few descriptors) and flushes written in pieces
// on a disk with little room (issue 11: journals past the descriptor limit, disk full).
@testable import Durability
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

struct DescriptorCacheTests {
    @Test func manyFilesShareABoundedSetOfDescriptors() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let cache = DescriptorCache(capacity: 4)
        var files: [RecordFile] = []
        for i in 0..<40 {
            files.append(try #require(RecordFile(path: dir.file("f\(i)"), descriptors: cache)))
            #expect(cache.openCount <= 4)
        }
        // Three rounds over every file: each is written through a descriptor opened again.
        for round in 0..<3 {
            for (i, f) in files.enumerated() {
                f.append(payload(i * 10 + round, length: 100 + i))
                #expect(f.flush(sync: true) == .wrote)
                #expect(cache.openCount <= 4)
            }
        }
        // An idle file needs no descriptor.
        let opened = cache.openedCount
        for f in files { #expect(f.flush(sync: true) == .idle) }
        #expect(cache.openedCount == opened)
        #expect(cache.evictionCount >= 3 * 40 - 4)
        for (i, f) in files.enumerated() {
            let r = try #require(RecordReader(path: f.path))
            #expect(readAll(r) == (0..<3).map { payload(i * 10 + $0, length: 100 + i) })
        }
    }

    @Test func anEvictedDirtyDescriptorIsSyncedBeforeItIsClosed() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let cache = DescriptorCache(capacity: 1)
        let a = cache.slot(path: dir.file("a"), flags: O_WRONLY | O_CREAT | O_APPEND)
        let b = cache.slot(path: dir.file("b"), flags: O_WRONLY | O_CREAT | O_APPEND)
        let (fd, dirty) = try #require(cache.pin(a))
        #expect(!dirty)
        #expect(write(fd, "x", 1) == 1)
        cache.unpin(a, dirty: true)
        // b takes a's place: a is fdatasynced, then closed, and comes back clean.
        _ = try #require(cache.pin(b))
        cache.unpin(b, dirty: false)
        #expect(cache.evictionCount == 1 && cache.openCount == 1)
        let (_, dirtyAgain) = try #require(cache.pin(a))
        #expect(!dirtyAgain)
        cache.unpin(a, dirty: false)
        #expect(fileSize(dir.file("a")) == 1)
    }

    @Test func aPinnedDescriptorIsNeverEvictedAndAClosedSlotStaysClosed() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let cache = DescriptorCache(capacity: 1)
        let a = cache.slot(path: dir.file("a"), flags: O_RDWR | O_CREAT)
        let b = cache.slot(path: dir.file("b"), flags: O_RDWR | O_CREAT)
        _ = try #require(cache.pin(a))
        // Every descriptor is in use: b fails as open(2) would.
        #expect(cache.pin(b) == nil)
        #expect(errno == EMFILE)
        cache.unpin(a, dirty: false)
        _ = try #require(cache.pin(b))
        cache.unpin(b, dirty: false)
        cache.close(b, forGood: true)
        unlink(dir.file("b"))
        #expect(cache.pin(b) == nil)
        #expect(!fileExists(dir.file("b")))
        #expect(cache.openCount == 0)
    }

    @Test func aBacklogLargerThanTheRoomLeftIsWrittenInPiecesAsRoomIsFreed() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let path = dir.file("backlog")
        let f = try #require(RecordFile(path: path, descriptors: DescriptorCache(capacity: 2)))
        let records = (0..<40).map { payload($0, length: 10_000) }
        let framed = 8 + 10_000
        f.setFreeSpaceForTesting(0)
        for r in records { f.append(r) }
        #expect(f.flush(sync: true) == .failed)
        #expect(f.isFailing && fileSize(path) == 0)
        // Room for 100 KB: the first piece (64 KB of whole records) goes in, the rest waits.
        f.setFreeSpaceForTesting(100_000)
        #expect(f.flush(sync: true) == .failed)
        let piece = (RecordFile.writePieceBytes / framed) * framed
        #expect(fileSize(path) == piece && f.sizeOnDisk == piece)
        // A new record queues behind the backlog, never ahead of it.
        let late = payload(99, length: 50)
        f.append(late)
        f.setFreeSpaceForTesting(200_000)
        #expect(f.flush(sync: true) == .failed)
        #expect(fileSize(path) > piece && fileSize(path) % framed == 0)
        f.setFreeSpaceForTesting(nil)
        #expect(f.flush(sync: true) == .wrote)
        #expect(!f.isFailing)
        #expect(fileSize(path) == 40 * framed + 8 + 50)
        let r = try #require(RecordReader(path: path))
        #expect(readAll(r) == records + [late])
    }

    @Test func piecesEndOnRecordBoundaries() {
        var b = ByteBuffer()
        defer { b.deallocate() }
        for length in [10, 70_000, 30_000, 30_000, 6_000] {
            let p = payload(length, length: length)
            p.withUnsafeBytes { raw in RecordFile.frame(into: &b) { $0.append(raw) } }
        }
        let bytes = b.bytes
        // A record larger than a piece is a piece of its own (with what came before it ending
        // the previous one); then two records fit under 64 KB, and a third would not.
        #expect(RecordFile.pieceEnd(bytes, from: 0) == 18)
        #expect(RecordFile.pieceEnd(bytes, from: 18) == 18 + 70_008)
        #expect(RecordFile.pieceEnd(bytes, from: 18 + 70_008) == 18 + 70_008 + 2 * 30_008)
        #expect(RecordFile.pieceEnd(bytes, from: 18 + 70_008 + 2 * 30_008) == bytes.count)
    }
}
