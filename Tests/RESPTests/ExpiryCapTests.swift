// The expiry cap README lists among the differences: the item header keeps an expiry as a 32-bit
// second after the server started, so a later one is kept as that second; TTL, EXPIRETIME and
// EXPIRE's GT/LT see the capped time (redis keeps any time up to 2^63-1 ms).
import CacheEngine
import Platform
@testable import RESP
import Testing

@Suite("RESP expiry cap")
struct ExpiryCapTests {
    typealias Client = TransactionTests.Client

    private func integer(_ reply: String) -> Int? {
        guard reply.hasPrefix(":") else { return nil }
        return Int(String(reply.dropFirst().filter { $0.isNumber || $0 == "-" }))
    }

    @Test("an expiry past 2^32-1 s after start is kept as that second; GT/LT compare with it")
    func expiryPastTheCap() throws {
        let c = try Client()
        let cap = Int(UInt32.max)
        #expect(c.send(["SET", "k", "v"]) == "+OK\r\n")
        #expect(c.send(["EXPIRE", "k", "5000000000"]) == ":1\r\n")
        let ttl = try #require(integer(c.send(["TTL", "k"])))
        #expect(ttl <= cap && ttl > 4_000_000_000, "TTL \(ttl)")
        let at = try #require(integer(c.send(["EXPIRETIME", "k"])))
        // The test engine's clock says Unix time 1,700,000,000 (the process started a little before).
        #expect(at > 1_700_000_000 + cap - 1000 && at <= 1_700_000_000 + cap, "EXPIRETIME \(at)")
        // Below the asked time but above the cap: redis answers 1 here.
        #expect(c.send(["EXPIRE", "k", "4500000000", "LT"]) == ":0\r\n")
        // Below the cap: as redis.
        #expect(c.send(["EXPIRE", "k", "4000000000", "LT"]) == ":1\r\n")
        #expect(c.send(["TTL", "k"]) == ":4000000000\r\n")
        #expect(c.send(["EXPIRE", "k", "6000000000", "GT"]) == ":1\r\n")
        let capped = try #require(integer(c.send(["TTL", "k"])))
        #expect(capped <= cap && capped > 4_000_000_000)
        // Past redis's own range: redis's error.
        #expect(c.send(["EXPIRE", "k", "9223372036854775"]) == "-ERR invalid expire time in 'expire' command\r\n")
    }
}
