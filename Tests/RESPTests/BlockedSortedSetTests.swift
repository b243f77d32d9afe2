// Clients blocked in BZPOPMIN / BZPOPMAX / BZMPOP (RESPConnection+BlockingSortedSets.swift, on the
// list commands' ListWaits): served by the ZADD (or STORE) that makes the key, oldest first, with
// redis 7.0's replies; a client that closes after a pop was made for it gives the members back
// with their scores; a blocked list client on the same key is not woken by a sorted set.
import CacheEngine
import Platform
@testable import RESP
import Testing

@Suite("RESP blocked sorted-set clients")
struct BlockedSortedSetTests {
    typealias Client = TransactionTests.Client

    @Test("BZPOPMIN and BZMPOP served by ZADD and ZUNIONSTORE, oldest first")
    func servedByWrites() throws {
        let c = try Client()
        let first = c.peer(), second = c.peer()
        defer {
            first.connectionClosed()
            second.connectionClosed()
        }
        #expect(c.start(first, ["BZPOPMIN", "zk", "0"]) == .park(timeoutMs: -1))
        #expect(c.start(second, ["BZMPOP", "0", "1", "zk", "MAX", "COUNT", "5"]) == .park(timeoutMs: -1))
        #expect(c.send(["ZADD", "zk", "1.5", "a", "2", "b", "3", "c"]) == ":3\r\n")
        #expect(first.resume(output: c.output, timedOut: false) == .proceed)
        #expect(c.drain() == "*3\r\n$2\r\nzk\r\n$1\r\na\r\n$3\r\n1.5\r\n")
        #expect(second.resume(output: c.output, timedOut: false) == .proceed)
        #expect(c.drain() == "*2\r\n$2\r\nzk\r\n*2\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n")
        #expect(c.send(["EXISTS", "zk"]) == ":0\r\n")
        // A store that makes the key serves too.
        #expect(c.start(first, ["BZPOPMAX", "zk", "0"]) == .park(timeoutMs: -1))
        #expect(c.send(["ZADD", "src", "7", "x"]) == ":1\r\n")
        #expect(c.send(["ZUNIONSTORE", "zk", "1", "src"]) == ":1\r\n")
        #expect(first.resume(output: c.output, timedOut: false) == .proceed)
        #expect(c.drain() == "*3\r\n$2\r\nzk\r\n$1\r\nx\r\n$1\r\n7\r\n")
    }

    @Test("a client that closes after it was served gives the members back with their scores")
    func closedClientGivesBack() throws {
        let c = try Client()
        let blocked = c.peer()
        #expect(c.start(blocked, ["BZMPOP", "0", "1", "zg", "MIN", "COUNT", "2"]) == .park(timeoutMs: -1))
        #expect(c.send(["ZADD", "zg", "-0.5", "p", "4", "q", "9", "r"]) == ":3\r\n")
        #expect(c.send(["ZCARD", "zg"]) == ":1\r\n")
        blocked.connectionClosed()
        #expect(c.send(["ZRANGE", "zg", "0", "-1", "WITHSCORES"]) == "*6\r\n$1\r\np\r\n$4\r\n-0.5\r\n$1\r\nq\r\n$1\r\n4\r\n$1\r\nr\r\n$1\r\n9\r\n")
    }

    @Test("timeouts answer a null array; inside MULTI nothing blocks; a list waiter is not woken by a sorted set")
    func timeoutsAndTypes() throws {
        let c = try Client()
        let blocked = c.peer(), lister = c.peer()
        defer {
            blocked.connectionClosed()
            lister.connectionClosed()
        }
        #expect(c.start(blocked, ["BZPOPMIN", "zt", "0.05"]) == .park(timeoutMs: 50))
        #expect(blocked.resume(output: c.output, timedOut: true) == .proceed)
        #expect(c.drain() == "*-1\r\n")
        #expect(c.send(["MULTI"], ["BZPOPMAX", "zt", "0"], ["EXEC"]) == "+OK\r\n+QUEUED\r\n*1\r\n*-1\r\n")
        #expect(c.start(lister, ["BLPOP", "zt", "0"]) == .park(timeoutMs: -1))
        #expect(c.send(["ZADD", "zt", "1", "m"]) == ":1\r\n")
        #expect(c.send(["ZCARD", "zt"]) == ":1\r\n")
        // Not woken: redis serves a key's clients blocked for its type only.
        #expect(c.send(["INFO", "clients"]).contains("blocked_clients:1\r\n"))
        #expect(c.send(["DEL", "zt"]) == ":1\r\n")
        #expect(c.send(["RPUSH", "zt", "l"]) == ":1\r\n")
        #expect(lister.resume(output: c.output, timedOut: false) == .proceed)
        #expect(c.drain() == "*2\r\n$2\r\nzt\r\n$1\r\nl\r\n")
    }
}
