// The Redis keyspace in the item header: databases 0-15 keep keys apart, a non-string value is
// a miss for the memcached port's operations but found by the Redis port's, and millisecond
// expiries are kept to the millisecond.
@testable import CacheEngine
import Platform
import Synchronization
import Testing

@Suite("keyspace: databases, value types, millisecond expiry")
struct KeyspaceTests {
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
        #expect(h.engine.lpush("l", .tail, ["packed"]) == .length(1))
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
        #expect(h.engine.lpush("l2", .tail, ["packed"]) == .length(1))
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

    @Test("peek reads an expired key as absent and leaves it linked, uncounted and unreported (WATCH's look)")
    func peekChangesNothing() throws {
        let h = try Harness()
        final class Removals: Sendable { let count = Atomic<Int>(0) }
        let removals = Removals()
        h.engine.onKeyRemoval { _, _, _ in removals.count.add(1, ordering: .relaxed) }
        let now = (UInt64(h.clock.processStarted) + UInt64(h.clock.current)) * 1000 + 100
        h.clock.setMilliseconds(now)
        #expect(put(h, "w", "v", database: 3, expiry: .unixMilliseconds(Int(now) + 50)) == .stored)
        #expect(h.engine.withKey("w") { h.engine.peek($0, hash: $1, database: 3) } != nil)
        h.clock.advanceMilliseconds(60)
        let before = h.engine.expiredOnLookup.load(ordering: .relaxed)
        #expect(h.engine.withKey("w") { h.engine.peek($0, hash: $1, database: 3) } == nil)
        #expect(h.engine.expiredOnLookup.load(ordering: .relaxed) == before)
        #expect(removals.count.load(ordering: .relaxed) == 0)
        // Still linked: a lookup finds it expired now, removes it and reports it.
        #expect(h.engine.withKey("w") { h.engine.inspect($0, hash: $1, database: 3, anyType: true) } == nil)
        #expect(h.engine.expiredOnLookup.load(ordering: .relaxed) == before + 1)
        #expect(removals.count.load(ordering: .relaxed) == 1)
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

@Suite("addToInteger (Redis INCRBY)")
struct AddToIntegerTests {
    private func add(_ h: Harness, _ key: String, _ by: Int) -> IntegerUpdate {
        h.engine.withKey(key) { k, hv in
            h.engine.addToInteger(k, hash: hv, by: by,
                                  parse: { Int(String(decoding: $0, as: UTF8.self)) },
                                  format: { v, buf in
                                      let text = Array(String(v).utf8)
                                      buf.copyBytes(from: text)
                                      return text.count
                                  })
        }
    }

    @Test("creates a missing key, adds in place keeping the CAS fresh, grows into a new item, keeps flags and expiry")
    func addsInPlaceAndGrows() throws {
        let h = try Harness()
        #expect(add(h, "n", 5) == .value(5))
        #expect(h.engine.fetch("n")?.string == "5")
        let before = try #require(h.engine.fetch("n")).cas
        #expect(add(h, "n", 3) == .value(8))
        let after = try #require(h.engine.fetch("n"))
        #expect(after.string == "8" && after.cas != before)
        #expect(add(h, "n", 2) == .value(10))
        #expect(h.engine.fetch("n")?.string == "10")
        #expect(h.engine.put("f", "41", flags: 7, exptime: 100).result == .stored)
        #expect(add(h, "f", 1) == .value(42))
        #expect(add(h, "f", 100) == .value(142))
        let f = try #require(h.engine.fetch("f"))
        #expect(f.string == "142" && f.flags == 7)
        let info = try #require(h.engine.withKey("f") { h.engine.inspect($0, hash: $1) })
        #expect(info.expiry == h.clock.current + 100)
    }

    @Test("not an integer, overflow and a list under the key are refused and change nothing")
    func refusals() throws {
        let h = try Harness()
        #expect(h.engine.put("s", "abc").result == .stored)
        #expect(add(h, "s", 1) == .notInteger)
        #expect(h.engine.put("m", String(Int.max)).result == .stored)
        #expect(add(h, "m", 1) == .overflow)
        #expect(h.engine.fetch("m")?.string == String(Int.max))
        h.engine.lpush("l", .tail, ["1"])
        #expect(add(h, "l", 1) == .wrongType)
    }
}
