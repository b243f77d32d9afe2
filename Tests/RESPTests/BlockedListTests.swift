// Blocked list clients against redis-server 7.0's serving rules: a client blocked in BLPOP is
// served only after the whole EXEC that pushed (with the list as the transaction left it), and a
// BLMOVE whose destination holds another type when it is woken answers WRONGTYPE, leaving the
// source to the next blocked client.
import CacheEngine
import Platform
@testable import RESP
import Testing

@Suite("RESP blocked list clients")
struct BlockedListTests {
    typealias Client = TransactionTests.Client

    @Test("a client blocked in BLPOP is served after EXEC, with the list as EXEC left it")
    func servedAfterExec() throws {
        let c = try Client()
        let blocked = c.peer()
        defer { blocked.connectionClosed() }
        #expect(c.start(blocked, ["BLPOP", "bk", "0"]) == .park(timeoutMs: -1))
        #expect(c.drain() == "")
        // The queued LPOP sees the element the queued RPUSH added: nobody took it in between.
        #expect(c.send(["MULTI"], ["RPUSH", "bk", "x"], ["LPOP", "bk"], ["RPUSH", "bk", "y"], ["EXEC"])
            == "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n:1\r\n$1\r\nx\r\n:1\r\n")
        #expect(blocked.resume(output: c.output, timedOut: false) == .proceed)
        #expect(c.drain() == "*2\r\n$2\r\nbk\r\n$1\r\ny\r\n")
        #expect(c.send(["EXISTS", "bk"]) == ":0\r\n")
    }

    @Test("an EXEC that pushes and pops everything leaves the blocked client blocked")
    func emptiedByExecStaysBlocked() throws {
        let c = try Client()
        let blocked = c.peer()
        defer { blocked.connectionClosed() }
        #expect(c.start(blocked, ["BLPOP", "bk2", "0"]) == .park(timeoutMs: -1))
        #expect(c.send(["MULTI"], ["RPUSH", "bk2", "x"], ["RPOP", "bk2"], ["EXEC"])
            == "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:1\r\n$1\r\nx\r\n")
        #expect(c.send(["INFO", "clients"]).contains("blocked_clients:1\r\n"))
        #expect(c.send(["RPUSH", "bk2", "z"]) == ":1\r\n")
        #expect(blocked.resume(output: c.output, timedOut: false) == .proceed)
        #expect(c.drain() == "*2\r\n$3\r\nbk2\r\n$1\r\nz\r\n")
    }

    @Test("BLMOVE woken with its destination of another type answers WRONGTYPE; the next blocked client gets the element")
    func blmoveWrongTypeDestination() throws {
        let c = try Client()
        let mover = c.peer(), popper = c.peer()
        defer {
            mover.connectionClosed()
            popper.connectionClosed()
        }
        #expect(c.send(["SET", "dst", "str"]) == "+OK\r\n")
        #expect(c.start(mover, ["BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"]) == .park(timeoutMs: -1))
        #expect(c.start(popper, ["BLPOP", "src", "0"]) == .park(timeoutMs: -1))
        #expect(c.send(["RPUSH", "src", "e1"]) == ":1\r\n")
        #expect(mover.resume(output: c.output, timedOut: false) == .proceed)
        #expect(c.drain() == "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")
        #expect(popper.resume(output: c.output, timedOut: false) == .proceed)
        #expect(c.drain() == "*2\r\n$3\r\nsrc\r\n$2\r\ne1\r\n")
        #expect(c.send(["GET", "dst"]) == "$3\r\nstr\r\n")
        #expect(c.send(["INFO", "errorstats"]).contains("errorstat_WRONGTYPE:count=1\r\n"))
    }
}
