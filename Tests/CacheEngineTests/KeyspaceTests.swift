// The Redis keyspace in the item header: databases 0-15 keep keys apart, a non-string value is
// a miss for the memcached port's operations but found by the Redis port's, and millisecond
// expiries are kept to the millisecond.
@testable import CacheEngine
import Platform
import Testing

@Suite("keyspace: databases, value types, millisecond expiry")
struct KeyspaceTests {
    /// Stores `value` under `key` in `database` with `type`.
    private func put(_ h: Harness, _ key: String, _ value: String, database: Int = 0, type: ItemType = .string,
                     expiry: ExpiryTime = .never) -> StoreResult {
        h.engine.withKey(key) { k, hv in
            guard case .item(let it) = h.engine.allocate(key: k, flags: 0, expiry: 0, valueLength: value.utf8.count,
                                                        database: database, type: type) else { return .notStored }
            Array(value.utf8).withUnsafeBytes { h.engine.writeValue(it, at: 0, $0) }
            h.engine.setExpiry(it, expiry)
            defer { h.engine.release(it) }
            return h.engine.store(it, hash: hv, mode: .set, casIn: 0).0
        }
    }

    private func read(_ h: Harness, _ key: String, database: Int = 0, anyType: Bool = false) -> (String, ItemType)? {
        h.engine.withKey(key) { k, hv in
            var outcome = GetOutcome.miss
            guard let it = h.engine.get(k, hash: hv, database: database, anyType: anyType, outcome: &outcome) else { return nil }
            defer { h.engine.release(it) }
            return (String(decoding: h.engine.valueBytes(it), as: UTF8.self), it.type)
        }
    }

    @Test("the same key in two databases is two keys; deleting one leaves the other")
    func databasesAreApart() throws {
        let h = try Harness()
        #expect(put(h, "k", "zero") == .stored)
        #expect(put(h, "k", "three", database: 3) == .stored)
        #expect(put(h, "k", "fifteen", database: 15) == .stored)
        #expect(read(h, "k")?.0 == "zero")
        #expect(read(h, "k", database: 3)?.0 == "three")
        #expect(read(h, "k", database: 15)?.0 == "fifteen")
        #expect(read(h, "k", database: 4) == nil)
        #expect(h.engine.withKey("k") { h.engine.delete($0, hash: $1, database: 3) })
        #expect(read(h, "k", database: 3) == nil)
        #expect(read(h, "k")?.0 == "zero")
        #expect(h.engine.fetch("k")?.string == "zero")
        #expect(h.engine.itemStats().number == 2)
    }

    @Test("a list under a key: a miss for get, append, incr and delete of the memcached port; replaced by set; found with anyType")
    func otherTypesAreMissesForMemcached() throws {
        let h = try Harness()
        #expect(put(h, "l", "packed", type: .list) == .stored)
        #expect(h.engine.fetch("l") == nil)
        #expect(read(h, "l", anyType: true).map { $0.1 } == .list)
        #expect(h.engine.put("l", "x", mode: .append).result == .notStored)
        #expect(h.engine.put("l", "x", mode: .add).result == .notStored)
        #expect(h.engine.withKey("l") { h.engine.delta($0, hash: $1, incr: true, by: 1) } == .notFound)
        #expect(h.engine.withKey("l") { h.engine.delete($0, hash: $1) } == false)
        #expect(h.engine.withKey("l") { h.engine.inspect($0, hash: $1) } == nil)
        #expect(h.engine.withKey("l") { h.engine.inspect($0, hash: $1, anyType: true)?.type } == .list)
        #expect(h.engine.put("l", "string now").result == .stored)
        #expect(h.engine.fetch("l")?.string == "string now")
        #expect(put(h, "l2", "packed", type: .list) == .stored)
        #expect(h.engine.withKey("l2") { h.engine.delete($0, hash: $1, anyType: true) })
        #expect(read(h, "l2", anyType: true) == nil)
    }

    @Test("a millisecond expiry: kept to the millisecond, reported back exactly, gone once its millisecond passes")
    func millisecondExpiry() throws {
        let h = try Harness()
        let start = UInt64(h.clock.processStarted) * 1000
        let now = start + UInt64(h.clock.current) * 1000 + 250
        h.clock.setMilliseconds(now)
        let at = Int(now) + 1_500
        #expect(put(h, "p", "v", expiry: .unixMilliseconds(at)) == .stored)
        let info = try #require(h.engine.withKey("p") { h.engine.inspect($0, hash: $1) })
        #expect(info.expiryUnixMilliseconds(processStarted: h.clock.processStarted) == at)
        h.clock.advanceMilliseconds(1_499)
        h.advance(1)
        #expect(read(h, "p")?.0 == "v")
        h.clock.advanceMilliseconds(1)
        #expect(read(h, "p") == nil)
        // A whole-second expiry keeps memcached's rule and reports its second.
        #expect(h.engine.put("s", "v", exptime: 10).result == .stored)
        let s = try #require(h.engine.withKey("s") { h.engine.inspect($0, hash: $1) })
        #expect(s.expiryUnixMilliseconds(processStarted: h.clock.processStarted) == (h.clock.processStarted + Int(h.clock.current) + 10) * 1000)
    }

    @Test("changeExpiry in milliseconds, and a time already past removes the key")
    func changeExpiryMilliseconds() throws {
        let h = try Harness()
        let now = (h.clock.processStarted + Int(h.clock.current)) * 1000 + 100
        h.clock.setMilliseconds(UInt64(now))
        #expect(h.engine.put("k", "v").result == .stored)
        let change = h.engine.withKey("k") { h.engine.changeExpiry($0, hash: $1) { _ in .unixMilliseconds(now + 42) } }
        #expect(change == .changed)
        let info = try #require(h.engine.withKey("k") { h.engine.inspect($0, hash: $1) })
        #expect(info.expiryUnixMilliseconds(processStarted: h.clock.processStarted) == now + 42)
        _ = h.engine.withKey("k") { h.engine.changeExpiry($0, hash: $1) { _ in .unixMilliseconds(now) } }
        #expect(h.engine.fetch("k") == nil)
    }
}
