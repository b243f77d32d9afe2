// A log segment's memory as chunks (Sources/Broker/Log/SegmentMemory.swift): a batch that exactly
// fills a chunk, one a byte over, one larger than a chunk, the hot-tail trim at, inside and
// between chunks, copies and reads that span chunks, and a partition read through small chunks.
@testable import Broker
import Durability
import Testing

@Suite struct SegmentMemoryTests {
    /// Bytes a keyless one-record batch takes beyond its value.
    static let overhead = LogBatch.framedLength(keyLength: 0, valueLength: 0)

    /// Appends a one-record batch of `length` framed bytes at offset `offset`, its value bytes all `fill`.
    @discardableResult
    func append(_ m: inout SegmentMemory, length: Int, offset: UInt64, fill: UInt8 = 0x61) -> Bool {
        m.append(length: length) { b in
            LogBatch.appendOne(to: &b, offset: offset, timestamp: 1, flags: 0, key: nil,
                               valueLength: length - Self.overhead) { $0.initializeMemory(as: UInt8.self, repeating: fill, count: length - Self.overhead) }
        }
    }

    /// Every batch as `LogBatch.check` finds it (base offset, or nil when invalid).
    func offsets(_ m: SegmentMemory) -> [UInt64?] {
        var out: [UInt64?] = []
        m.forEachBatch { bytes, at in out.append(LogBatch.check(bytes, at: at, expected: nil)?.baseOffset) }
        return out
    }

    @Test func aBatchThatExactlyFillsAChunkLeavesNoRoomAndTheNextGetsANewChunk() {
        var m = SegmentMemory(allocator: LogChunkAllocator(chunkBytes: 256))
        defer { m.freeAll(restartingAt: 0) }
        #expect(append(&m, length: 256, offset: 0))
        #expect(m.chunks.count == 1 && m.tailRoom == 0 && m.count == 256)
        #expect(append(&m, length: 100, offset: 1))
        #expect(m.chunks.count == 2 && m.chunks[1].start == 256 && m.tailRoom == 156)
        let (bytes, at) = m.chunk(at: 256)
        #expect(at == 0 && bytes.count == 100)
        #expect(offsets(m) == [0, 1])
    }

    @Test func aBatchOneByteOverTheRoomLeftGoesWholeIntoTheNextChunk() {
        var m = SegmentMemory(allocator: LogChunkAllocator(chunkBytes: 256))
        defer { m.freeAll(restartingAt: 0) }
        append(&m, length: 100, offset: 0)
        append(&m, length: 157, offset: 1)
        #expect(m.chunks.map(\.used) == [100, 157])
        #expect(m.end == 257 && m.allocatedBytes == 512)
        // And one that fits exactly the room left stays in its chunk.
        append(&m, length: 99, offset: 2)
        #expect(m.chunks.map(\.used) == [100, 256])
        #expect(m.chunk(at: 100).at == 0 && m.chunk(at: 257).at == 157)
        #expect(offsets(m) == [0, 1, 2])
    }

    @Test func aBatchLargerThanAChunkGetsAChunkOfItsOwnSize() {
        var m = SegmentMemory(allocator: LogChunkAllocator(chunkBytes: 256))
        defer { m.freeAll(restartingAt: 0) }
        append(&m, length: 60, offset: 0)
        append(&m, length: 1000, offset: 1)
        #expect(m.chunks.map(\.capacity) == [256, 1000] && m.tailRoom == 0)
        append(&m, length: 60, offset: 2)
        #expect(m.chunks.map(\.capacity) == [256, 1000, 256])
        #expect(m.chunks.map(\.start) == [0, 60, 1060])
        #expect(offsets(m) == [0, 1, 2])
    }

    /// Three chunks of two 128-byte batches each: [0, 256) [256, 512) [512, 768).
    func threeChunks() -> SegmentMemory {
        var m = SegmentMemory(allocator: LogChunkAllocator(chunkBytes: 256))
        for i in 0..<6 { append(&m, length: 128, offset: UInt64(i), fill: UInt8(i)) }
        return m
    }

    @Test func theTrimFreesWholeChunksBeforeThePositionKept() {
        var m = threeChunks()
        defer { m.freeAll(restartingAt: 0) }
        #expect(m.chunks.count == 3)
        // Inside the first chunk: nothing goes.
        #expect(m.release(before: 128) == 0 && m.start == 0 && m.count == 768)
        // At the boundary between the first two: the first goes.
        #expect(m.release(before: 256) == 256 && m.start == 256 && m.count == 512)
        #expect(offsets(m) == [2, 3, 4, 5])
        // Inside the second, one byte before its end: nothing.
        #expect(m.release(before: 511) == 0 && m.start == 256)
        // Between the second and third (past a batch of the third): the second goes.
        #expect(m.release(before: 640) == 256 && m.start == 512 && m.chunks.count == 1)
        // Past the end: everything, and the next batch starts a chunk at the old end.
        #expect(m.release(before: 10_000) == 256 && m.start == 768 && m.isEmpty && m.chunks.isEmpty)
        append(&m, length: 128, offset: 6)
        #expect(m.start == 768 && m.end == 896 && m.chunks[0].start == 768 && offsets(m) == [6])
    }

    @Test func copiesAndPointersSpanChunks() {
        var m = threeChunks()
        defer { m.freeAll(restartingAt: 0) }
        var whole = ByteBuffer()
        defer { whole.deallocate() }
        m.copy(from: 0, to: 768, into: &whole)
        #expect(whole.count == 768)
        for from in [0, 100, 128, 255, 256, 300, 511, 512, 700] {
            for to in [from, from + 1, 256, 257, 512, 600, 768] where to >= from && to <= 768 {
                var part = ByteBuffer()
                m.copy(from: from, to: to, into: &part)
                #expect(part.count == to - from)
                #expect(Array(part.bytes) == Array(whole.bytes[from..<to]), "\(from)..<\(to)")
                part.deallocate()
            }
        }
        // A batch's bytes where they lie, whichever chunk holds them.
        for i in 0..<6 {
            let p = m.pointer(at: 128 * i)
            #expect(LogBatch.u64(UnsafeRawBufferPointer(start: p, count: 16), LogBatch.frameBytes) == UInt64(i))
            #expect(m.chunkIndex(at: 128 * i) == i / 2)
            #expect(m.chunkIndex(at: 128 * i + 127) == i / 2)
        }
    }

    @Test func anOpenBatchGrowsOnlyWithinTheRoomOfTheLastChunk() {
        var m = SegmentMemory(allocator: LogChunkAllocator(chunkBytes: 256))
        defer { m.freeAll(restartingAt: 0) }
        append(&m, length: 200, offset: 0)
        #expect(m.tailRoom == 56)
        m.extendLast(by: 56) { $0.initializeMemory(as: UInt8.self, repeating: 7, count: 56) }
        #expect(m.tailRoom == 0 && m.count == 256 && m.end == 256)
    }

    /// A memory-only partition whose segments hold their batches in 300-byte chunks: every
    /// record, read from every offset, across chunk boundaries (and batches larger than a chunk).
    @Test func aPartitionReadsEveryRecordAcrossChunkBoundaries() {
        let memory = LogMemory(share: MemoryShare(limit: 64 << 20), chunks: LogChunkAllocator(chunkBytes: 300))
        let p = LogPartition(id: 0, config: LogConfig(), directory: nil, descriptors: nil, memory: memory, nowMs: 1)
        var values: [[UInt8]] = []
        for i in 0..<200 {
            let length = [10, 100, 252, 253, 400, 1][i % 6]
            let v = [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: length)
            values.append(v)
            let r = p.append(key: nil, valueLength: length, flags: 0, nowMs: 1) { dst in
                v.withUnsafeBytes { dst.copyMemory(from: $0.baseAddress!, byteCount: length) }
            }
            #expect(r == .appended(offset: UInt64(i)))
        }
        #expect(p.lock.withLock { p.segments[0].memory.chunks.count } > 50)
        #expect(memory.memoryBytes.load(ordering: .relaxed) == p.figures.bytes)
        for from in stride(from: 0, to: 200, by: 7) {
            var got: [[UInt8]] = []
            let (next, n) = p.read(from: UInt64(from), maxRecords: .max) { got.append(Array($0.value)) }
            #expect(next == 200 && n == 200 - from)
            #expect(got == Array(values[from...]), "from \(from)")
        }
    }
}
