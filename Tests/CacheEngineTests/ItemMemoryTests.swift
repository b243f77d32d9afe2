// Item memory: references keep a value intact while a reader holds it, and values larger than
// slab_chunk_max are stored in chunks.
@testable import CacheEngine
import SlabAllocator
import TestSupport
import Testing

@Suite("References")
struct ReferenceTests {
    @Test("an item returned by get stays intact after its key is deleted, until released")
    func survivesDelete() throws {
        let e = try Harness().engine
        let value = patternBytes(100, seed: 1)
        e.put("k", value, flags: 3)
        let cls = e.classID(keyLength: 1, valueLength: 100)
        let held = try #require(e.hold("k"))
        #expect(e.remove("k"))
        #expect(e.fetch("k") == nil)
        #expect(e.currentItems == 0)
        // Its chunk is still in use...
        #expect(e.slabs.classStats(cls).usedChunks == 1)
        // ...so stores of the same size cannot take it.
        for i in 0..<200 { e.put("other\(i % 10)", patternBytes(100, seed: UInt64(i + 2))) }
        expectBytes(e.valueBytes(held), value)
        #expect(held.clientFlags == 3)
        #expect(Array(held.key) == Array("k".utf8))
        let usedBefore = e.slabs.classStats(cls).usedChunks
        e.release(held)
        #expect(e.slabs.classStats(cls).usedChunks == usedBefore - 1)
    }

    @Test("an item returned by get stays intact after its key is replaced, until released")
    func survivesReplace() throws {
        let e = try Harness().engine
        let old = patternBytes(100, seed: 10)
        let new = patternBytes(100, seed: 11)
        e.put("k", old)
        let held = try #require(e.hold("k"))
        let held2 = try #require(e.hold("k"))          // a second reader of the same item
        #expect(e.put("k", new).result == .stored)
        expectBytes(e.fetch("k")?.value, new)
        for i in 0..<50 { e.put("k", patternBytes(100, seed: UInt64(100 + i))) }
        expectBytes(e.valueBytes(held), old)
        e.release(held)
        expectBytes(e.valueBytes(held2), old)            // still one reference left
        let cls = e.classID(keyLength: 1, valueLength: 100)
        #expect(e.slabs.classStats(cls).usedChunks == 2)
        e.release(held2)
        #expect(e.slabs.classStats(cls).usedChunks == 1)
    }

    @Test("the reference from allocate keeps a stored item's memory until released")
    func allocationReference() throws {
        let e = try Harness().engine
        let cls = e.classID(keyLength: 1, valueLength: 5)
        let it: Item = try Array("k".utf8).withUnsafeBytes { k in
            guard case .item(let it) = e.allocate(key: k, flags: 0, expiry: 0, valueLength: 5) else {
                throw AllocationFailed()
            }
            return it
        }
        Array("hello".utf8).withUnsafeBytes { e.writeValue(it, at: 0, $0) }
        let (r, _) = e.withKey("k") { _, hv in e.store(it, hash: hv, mode: .set, casIn: 0) }
        #expect(r == .stored)
        #expect(e.remove("k"))
        #expect(e.slabs.classStats(cls).usedChunks == 1)
        expectBytes(e.valueBytes(it), Array("hello".utf8))
        e.release(it)
        #expect(e.slabs.classStats(cls).usedChunks == 0)
    }

    @Test("an item that was never stored is freed by its release")
    func unstoredItemFreed() throws {
        let e = try Harness().engine
        let cls = e.classID(keyLength: 1, valueLength: 5)
        e.put("k", "v", mode: .replace)                 // NOT_STORED: nothing to replace
        #expect(e.slabs.classStats(cls).usedChunks == 0)
        #expect(e.currentItems == 0)
    }

    @Test("every chunk goes back once items are deleted")
    func noLeaks() throws {
        let e = try Harness().engine
        for i in 0..<500 { e.put("k\(i)", patternBytes(i * 7, seed: UInt64(i))) }
        for i in 0..<500 where i % 2 == 0 { e.put("k\(i)", "x", mode: .append) }
        for i in 0..<500 { #expect(e.remove("k\(i)")) }
        for cls in 1...e.slabs.table.largest {
            #expect(e.slabs.classStats(cls).usedChunks == 0, "class \(cls)")
        }
        #expect(e.itemStats().bytes == 0)
    }
}

struct AllocationFailed: Error {}

@Suite("Chunked values")
struct ChunkedValueTests {
    /// Stores `value` writing it in uneven pieces, as a connection copies socket reads.
    func putInPieces(_ e: CacheEngine, _ key: String, _ value: [UInt8]) throws -> StoreResult {
        try e.withKey(key) { k, hv in
            guard case .item(let it) = e.allocate(key: k, flags: 1, expiry: 0, valueLength: value.count) else {
                throw AllocationFailed()
            }
            defer { e.release(it) }
            var pos = 0
            var piece = 10_007
            value.withUnsafeBytes { v in
                while pos < v.count {
                    let n = min(piece, v.count - pos)
                    e.writeValue(it, at: pos, UnsafeRawBufferPointer(rebasing: v[pos..<pos + n]))
                    pos += n
                    piece = piece * 3 % 65_521 + 1
                }
            }
            return e.store(it, hash: hv, mode: .set, casIn: 0).0
        }
    }

    @Test("values above slab_chunk_max round-trip byte for byte",
          arguments: [(700 * 1024, 1024 * 1024), (512 * 1024 + 1, 1024 * 1024), (1024 * 1024 - 100, 1024 * 1024),
                      (3 * 1024 * 1024, 4 * 1024 * 1024), (4 * 1024 * 1024 - 66, 4 * 1024 * 1024)])
    func roundTrip(_ length: Int, _ itemSizeMax: Int) throws {
        let e = try Harness { $0.itemSizeMax = itemSizeMax }.engine
        let chunkMax = e.slabs.table.chunkMax
        #expect(chunkMax == 512 * 1024)
        let value = patternBytes(length, seed: UInt64(length))
        #expect(try putInPieces(e, "big", value) == .stored)
        let it = try #require(e.hold("big"))
        defer { e.release(it) }
        #expect(it.isChunked)
        #expect(it.valueLength == length)
        #expect(it.clientFlags == 1)
        let n = e.valueSegmentCount(it)
        #expect(n == (length + chunkMax - 1) / chunkMax)
        var joined: [UInt8] = []
        for i in 0..<n {
            let seg = e.valueSegment(it, i)
            #expect(seg.count == (i < n - 1 ? chunkMax : length - chunkMax * (n - 1)))
            joined.append(contentsOf: UnsafeRawBufferPointer(seg))
        }
        expectBytes(joined, value)
    }

    @Test("700 KB with default settings is two segments")
    func twoSegments() throws {
        let e = try Harness().engine
        let value = patternBytes(700 * 1024, seed: 99)
        #expect(e.put("big", value).result == .stored)
        let it = try #require(e.hold("big"))
        defer { e.release(it) }
        #expect(e.valueSegmentCount(it) == 2)
        #expect(e.valueSegment(it, 0).count == 524_288)
        #expect(e.valueSegment(it, 1).count == 700 * 1024 - 524_288)
        expectBytes(e.valueBytes(it), value)
    }

    @Test("a value just over what fits one chunk with its header is chunked; one that fits is not")
    func chunkThreshold() throws {
        let e = try Harness().engine
        let fits = 512 * 1024 - ItemLayout.headerSize - 3
        #expect(e.put("one", patternBytes(fits, seed: 1)).result == .stored)
        #expect(e.put("two", patternBytes(fits + 1, seed: 2)).result == .stored)
        let a = try #require(e.hold("one"))
        let b = try #require(e.hold("two"))
        #expect(!a.isChunked)
        #expect(b.isChunked)
        #expect(e.valueSegmentCount(b) == 1)
        expectBytes(e.valueBytes(a), patternBytes(fits, seed: 1))
        expectBytes(e.valueBytes(b), patternBytes(fits + 1, seed: 2))
        e.release(a)
        e.release(b)
    }

    @Test("append and prepend onto a chunked value")
    func appendChunked() throws {
        let e = try Harness { $0.itemSizeMax = 2 * 1024 * 1024 }.engine
        let base = patternBytes(600 * 1024, seed: 5)
        let tail = patternBytes(1000, seed: 6)
        let head = patternBytes(600 * 1024, seed: 7)
        #expect(e.put("big", base, flags: 77).result == .stored)
        #expect(e.put("big", tail, mode: .append).result == .stored)
        var f = try #require(e.fetch("big"))
        expectBytes(f.value, base + tail)
        #expect(f.flags == 77)
        #expect(e.put("big", head, mode: .prepend).result == .stored)
        f = try #require(e.fetch("big"))
        #expect(f.value.count == head.count + base.count + tail.count)
        expectBytes(f.value, head + base + tail)
        // Small onto small that becomes chunked.
        #expect(e.put("grow", patternBytes(400 * 1024, seed: 8)).result == .stored)
        #expect(e.put("grow", patternBytes(400 * 1024, seed: 9), mode: .append).result == .stored)
        expectBytes(e.fetch("grow")?.value, patternBytes(400 * 1024, seed: 8) + patternBytes(400 * 1024, seed: 9))
    }

    @Test("an append past item_size_max is not stored and the old value stays")
    func appendTooLarge() throws {
        let e = try Harness().engine
        let base = patternBytes(700 * 1024, seed: 5)
        #expect(e.put("big", base).result == .stored)
        #expect(e.put("big", patternBytes(400 * 1024, seed: 1), mode: .append).result == .notStored)
        expectBytes(e.fetch("big")?.value, base)
    }

    @Test("incr on a chunked value is non-numeric")
    func deltaOnChunked() throws {
        let e = try Harness().engine
        e.put("big", [UInt8](repeating: UInt8(ascii: "1"), count: 600 * 1024))
        #expect(e.delta("big", incr: true, by: 1) == .nonNumeric)
    }

    @Test("too large: memcached's size of the item (48 + key + NUL + flags + value + CRLF + CAS) above item_size_max",
          arguments: [1024 * 1024, 4 * 1024 * 1024])
    func tooLarge(_ itemSizeMax: Int) throws {
        let e = try Harness { $0.itemSizeMax = itemSizeMax }.engine
        let key = Array("big".utf8)
        let largest = itemSizeMax - 48 - key.count - 1 - 2 - 8
        #expect(e.itemSizeNeeded(keyLength: key.count, valueLength: largest, flags: 0) == itemSizeMax)
        #expect(e.itemSizeNeeded(keyLength: key.count, valueLength: largest, flags: 1) == itemSizeMax + 4)
        let fits = key.withUnsafeBytes { e.allocate(key: $0, flags: 0, expiry: 0, valueLength: largest) }
        guard case .item(let it) = fits else {
            Issue.record("expected an item for \(largest) bytes, got \(fits)")
            return
        }
        e.release(it)
        let over = key.withUnsafeBytes { e.allocate(key: $0, flags: 0, expiry: 0, valueLength: largest + 1) }
        guard case .tooLarge = over else {
            Issue.record("expected .tooLarge, got \(over)")
            return
        }
        let huge = key.withUnsafeBytes { e.allocate(key: $0, flags: 0, expiry: 0, valueLength: itemSizeMax) }
        guard case .tooLarge = huge else {
            Issue.record("expected .tooLarge, got \(huge)")
            return
        }
        // Nothing leaked by the attempts.
        for cls in 1...e.slabs.table.largest { #expect(e.slabs.classStats(cls).usedChunks == 0) }
    }

    @Test("a key longer than 250 bytes is refused")
    func keyTooLong() throws {
        let e = try Harness().engine
        let ok = Array(repeating: UInt8(ascii: "k"), count: 250).withUnsafeBytes {
            e.allocate(key: $0, flags: 0, expiry: 0, valueLength: 1)
        }
        guard case .item(let it) = ok else {
            Issue.record("250-byte key refused")
            return
        }
        e.release(it)
        let refused = Array(repeating: UInt8(ascii: "k"), count: 251).withUnsafeBytes {
            e.allocate(key: $0, flags: 0, expiry: 0, valueLength: 1)
        }
        guard case .tooLarge = refused else {
            Issue.record("251-byte key accepted")
            return
        }
    }

    @Test("deleting a chunked item returns every chunk")
    func chunksFreed() throws {
        let e = try Harness { $0.itemSizeMax = 4 * 1024 * 1024 }.engine
        #expect(e.put("big", patternBytes(3 * 1024 * 1024 + 5, seed: 3)).result == .stored)
        let largest = e.slabs.table.largest
        #expect(e.slabs.classStats(largest).usedChunks == 6)
        #expect(e.remove("big"))
        for cls in 1...largest { #expect(e.slabs.classStats(cls).usedChunks == 0, "class \(cls)") }
    }

    @Test("a held chunked value survives its replacement")
    func heldChunkedSurvivesReplace() throws {
        let e = try Harness().engine
        let old = patternBytes(800 * 1024, seed: 21)
        e.put("big", old)
        let held = try #require(e.hold("big"))
        e.put("big", patternBytes(800 * 1024, seed: 22))
        e.put("other", patternBytes(800 * 1024, seed: 23))
        expectBytes(e.valueBytes(held), old)
        e.release(held)
        expectBytes(e.fetch("big")?.value, patternBytes(800 * 1024, seed: 22))
    }
}
