// The item header's size and the expiry rules (memcached's realtime() and lazy expiry on access).
@testable import CacheEngine
import Platform
import SlabAllocator
import Testing

@Suite("Item header")
struct ItemHeaderTests {
    @Test("the header is at most 48 bytes (memcached: 48 + 8 for CAS)")
    func headerSize() {
        #expect(ItemLayout.headerSize <= 48)
        #expect(ItemLayout.totalSize(keyLength: 10, valueLength: 100) == ItemLayout.headerSize + 110)
    }

    @Test("a 10-byte key with a 96-byte value lands in the 152-byte class (memcached needs 192)")
    func smallItemClass() throws {
        let h = try Harness()
        let e = h.engine
        let key = "0123456789"
        #expect(e.put(key, String(repeating: "v", count: 96)).result == .stored)
        let it = try #require(e.hold(key))
        defer { e.release(it) }
        #expect(e.slabs.table.chunkSizes[it.slabClass] == 152)
        #expect(it.keyLength == 10 && it.valueLength == 96)
        #expect(!it.isChunked)
        // memcached 1.6: sizeof(item) 48 + CAS 8 + key + 1 + value + "\r\n".
        let memcachedTotal = SlabClassTable.memcachedItemHeaderSize + 8 + 10 + 1 + 100 + 2
        #expect(e.slabs.table.chunkSizes[e.slabs.table.classID(forSize: memcachedTotal)] == 192)
    }

    @Test("key, flags and value read back from item memory")
    func fieldsRoundTrip() throws {
        let h = try Harness()
        let e = h.engine
        #expect(e.put("k", "hello", flags: 0xdead_beef).result == .stored)
        let f = try #require(e.fetch("k"))
        #expect(f.string == "hello")
        #expect(f.flags == 0xdead_beef)
        #expect(f.cas != 0)
        let it = try #require(e.hold("k"))
        defer { e.release(it) }
        #expect(Array(it.key) == Array("k".utf8))
        #expect(it.expiry == 0)
    }
}

@Suite("Expiry")
struct ExpiryTests {
    static let maxRelative = Int64(ProcessClock.maxRelativeExpiry)

    @Test("clock starts ITEM_UPDATE_INTERVAL + 2 seconds after the process start point")
    func clockOrigin() {
        let clock = ProcessClock(unixNow: testUnixNow)
        #expect(clock.current == 62)
        #expect(clock.processStarted == testUnixNow - 62)
        #expect(clock.unixNow == testUnixNow)
        clock.set(1000)
        #expect(clock.current == 1000)
        #expect(clock.unixNow == testUnixNow - 62 + 1000)
    }

    @Test("exptime 0 never expires")
    func zeroNeverExpires() {
        let clock = ProcessClock(unixNow: testUnixNow)
        #expect(clock.expiry(fromClient: 0) == 0)
    }

    @Test("exptime up to 30 days is relative to now", arguments: [1, 100, 3600, 60 * 60 * 24 * 30] as [Int64])
    func relative(_ exptime: Int64) {
        let clock = ProcessClock(unixNow: testUnixNow)
        clock.set(500)
        #expect(clock.expiry(fromClient: exptime) == UInt32(500 + exptime))
    }

    @Test("exptime above 30 days is an absolute Unix time")
    func absolute() {
        let clock = ProcessClock(unixNow: testUnixNow)
        clock.set(500)
        // 600 seconds in the future, as a Unix time.
        let future = Int64(clock.unixNow + 600)
        #expect(clock.expiry(fromClient: future) == 1100)
        // 30 days + 1 is absolute: 1970 plus a month, long past.
        #expect(clock.expiry(fromClient: Self.maxRelative + 1) == 1)
        // Any time at or before the process start point is "expired long ago".
        #expect(clock.expiry(fromClient: Int64(clock.processStarted)) == 1)
        // In the past but after the start point: a time already before now.
        let past = Int64(clock.unixNow - 10)
        #expect(clock.expiry(fromClient: past) == 490)
        #expect(clock.expiry(fromClient: past) <= clock.current)
    }

    @Test("negative exptime is already expired", arguments: [Int64(-1), -100, Int64(Int32.min)])
    func negative(_ exptime: Int64) {
        let clock = ProcessClock(unixNow: testUnixNow)
        let expiry = clock.expiry(fromClient: exptime)
        #expect(expiry == 1)
        #expect(expiry <= clock.current)
    }

    @Test("get hits before the expiry time and misses at and after it")
    func getAroundExpiry() throws {
        let h = try Harness()
        let e = h.engine
        h.clock.set(1000)
        #expect(e.put("k", "v", exptime: 10).result == .stored)
        #expect(e.put("forever", "v").result == .stored)
        h.clock.set(1009)
        #expect(e.outcome("k") == .hit)
        h.clock.set(1010)
        #expect(e.outcome("k") == .expired)
        // The expired item was unlinked by the lookup.
        #expect(e.outcome("k") == .miss)
        #expect(e.currentItems == 1)
        h.clock.set(1_000_000)
        #expect(e.string("forever") == "v")
    }

    @Test("items stored with a negative or past absolute exptime are never returned",
          arguments: [Int64(-1), Int64(testUnixNow - 1000), ExpiryTests.maxRelative + 1])
    func storedExpired(_ exptime: Int64) throws {
        let h = try Harness()
        let e = h.engine
        #expect(e.put("k", "v", exptime: exptime).result == .stored)
        #expect(e.outcome("k") == .expired)
        // And add may take the key over.
        #expect(e.put("k", "w", exptime: 0, mode: .add).result == .stored)
        #expect(e.string("k") == "w")
    }

    @Test("an absolute exptime in the future expires at that Unix time")
    func absoluteFuture() throws {
        let h = try Harness()
        let e = h.engine
        h.clock.set(100)
        #expect(e.put("k", "v", exptime: Int64(h.clock.unixNow + 50)).result == .stored)
        h.clock.set(149)
        #expect(e.outcome("k") == .hit)
        h.clock.set(150)
        #expect(e.outcome("k") == .expired)
    }

    @Test("touch moves the expiry time, both later and earlier")
    func touchMovesExpiry() throws {
        let h = try Harness()
        let e = h.engine
        h.clock.set(1000)
        #expect(e.put("k", "v", exptime: 10).result == .stored)
        h.clock.set(1005)
        #expect(e.touch("k", exptime: 100))         // now expires at 1105
        h.clock.set(1050)
        #expect(e.outcome("k") == .hit)
        #expect(e.touch("k", exptime: 0))           // never
        h.clock.set(500_000)
        #expect(e.outcome("k") == .hit)
        #expect(e.touch("k", exptime: 1))           // 500001
        h.clock.set(500_001)
        #expect(e.outcome("k") == .expired)
        #expect(!e.touch("k", exptime: 100))
        #expect(!e.touch("missing", exptime: 100))
    }

    @Test("touch on an expired item misses")
    func touchExpired() throws {
        let h = try Harness()
        let e = h.engine
        h.clock.set(1000)
        #expect(e.put("k", "v", exptime: 5).result == .stored)
        h.clock.set(1005)
        #expect(!e.touch("k", exptime: 100))
        #expect(e.outcome("k") == .miss)
    }
}
