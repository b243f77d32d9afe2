// The keyspace commands on an in-process connection, where a key of another type can be made
// through the engine before the Redis port has commands for it: string commands answer
// WRONGTYPE, MGET gives nil, SET replaces it, TYPE names it, DEL removes it, and RENAME refuses
// it with a counted error until the list work provides the transfer; SELECT keeps databases apart.
import CacheEngine
import Platform
@testable import RESP
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("RESP keyspace commands")
struct KeyspaceCommandTests {
    private func run(_ handler: ConnectionHandler, _ output: OutputBuffer, _ words: [String]) -> String {
        sendRESP(handler, output, words)
    }

    /// A list root under `key` in `database`, made through the engine (its value is opaque here).
    private func makeList(_ engine: CacheEngine, _ key: String, database: Int = 0) {
        Array(key.utf8).withUnsafeBytes { k in
            Array("element".utf8).withUnsafeBytes { e in
                #expect(engine.listPush(k, hash: CacheEngine.hash(k), database: database, end: .tail, count: 1) { _ in e } == .length(1))
            }
        }
    }

    @Test("a list under a key: WRONGTYPE from string commands, nil in MGET, replaced by SET, taken along by RENAME and COPY")
    func wrongType() throws {
        var settings = EngineSettings()
        settings.hashPowerInit = 12
        let clock = ProcessClock(unixNow: 1_700_000_000)
        // The millisecond clock pinned to the test clock's second (it reads real time otherwise).
        clock.setMilliseconds(UInt64(clock.processStarted + Int(clock.current)) * 1000 + 250)
        let engine = try #require(CacheEngine(settings: settings, clock: clock))
        let service = RESPService(engine: engine, settings: RESPSettings(), workers: 1)
        let output = OutputBuffer()
        let c = service.makeHandler(workerIndex: 0, fd: 99, output: output, waker: ConnectionWaker {})
        defer { c.connectionClosed(); output.reset() }
        let wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
        makeList(engine, "l")
        for command in [["GET", "l"], ["GETSET", "l", "x"], ["APPEND", "l", "x"], ["INCR", "l"], ["INCRBYFLOAT", "l", "1"],
                        ["STRLEN", "l"], ["GETRANGE", "l", "0", "1"], ["SETRANGE", "l", "0", "x"], ["GETBIT", "l", "1"],
                        ["SETBIT", "l", "1", "1"], ["BITCOUNT", "l"], ["GETDEL", "l"], ["GETEX", "l", "PX", "100"],
                        ["SET", "l", "x", "GET"]] {
            #expect(run(c, output, command) == wrong, "\(command)")
        }
        #expect(run(c, output, ["MGET", "l", "none"]) == "*2\r\n$-1\r\n$-1\r\n")
        #expect(run(c, output, ["SETNX", "l", "x"]) == ":0\r\n")
        #expect(run(c, output, ["TYPE", "l"]) == "+list\r\n")
        #expect(run(c, output, ["EXISTS", "l", "l"]) == ":2\r\n")
        #expect(run(c, output, ["PEXPIRE", "l", "100000"]) == ":1\r\n")
        #expect(run(c, output, ["SCAN", "0", "TYPE", "list", "COUNT", "100000"]) == "*2\r\n$1\r\n0\r\n*1\r\n$1\r\nl\r\n")
        // RENAME and COPY take the list along (and its TTL).
        #expect(run(c, output, ["RENAME", "l", "m"]) == "+OK\r\n")
        #expect(run(c, output, ["COPY", "m", "l"]) == ":1\r\n")
        #expect(run(c, output, ["LRANGE", "l", "0", "-1"]) == "*1\r\n$7\r\nelement\r\n")
        #expect(run(c, output, ["DEL", "m"]) == ":1\r\n")
        // SET XX and KEEPTTL replace a list (keeping its TTL with KEEPTTL).
        #expect(run(c, output, ["SET", "l", "s", "XX", "KEEPTTL"]) == "+OK\r\n")
        #expect(run(c, output, ["GET", "l"]) == "$1\r\ns\r\n")
        #expect(run(c, output, ["TYPE", "l"]) == "+string\r\n")
        let pttl = run(c, output, ["PTTL", "l"])  // "\r\n" is one Character: dropLast() takes it
        #expect(pttl.hasPrefix(":") && (Int(pttl.dropFirst().dropLast()) ?? 0) > 90_000, "\(pttl)")
        makeList(engine, "l2")
        #expect(run(c, output, ["MSET", "l2", "z"]) == "+OK\r\n")
        #expect(run(c, output, ["GET", "l2"]) == "$1\r\nz\r\n")
        makeList(engine, "l3")
        #expect(run(c, output, ["DEL", "l3"]) == ":1\r\n")
        #expect(run(c, output, ["TYPE", "l3"]) == "+none\r\n")
        // SELECT: a list in database 4 is WRONGTYPE there only; RESET goes back to database 0.
        makeList(engine, "l4", database: 4)
        #expect(run(c, output, ["GET", "l4"]) == "$-1\r\n")
        #expect(run(c, output, ["SELECT", "4"]) == "+OK\r\n")
        #expect(run(c, output, ["GET", "l4"]) == wrong)
        #expect(run(c, output, ["DBSIZE"]) == ":1\r\n")
        #expect(run(c, output, ["RESET"]) == "+RESET\r\n")
        #expect(run(c, output, ["GET", "l4"]) == "$-1\r\n")
        #expect(run(c, output, ["DBSIZE"]) == ":2\r\n")
    }

    /// SCAN's reply: the cursor and the keys.
    private func scanPage(_ reply: String) -> (cursor: String, keys: [String]) {
        let parts = reply.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        // *2, $n, cursor, *k, then $len and key pairs.
        let cursor = parts[2]
        let k = Int(parts[3].dropFirst()) ?? 0
        return (cursor, (0..<k).map { parts[5 + 2 * $0] })
    }

    @Test("SCAN COUNT 10 over 200 keys in a table of 2^20 buckets: every key, in pages near COUNT (a fixed budget answered empty pages)")
    func scanSparseTable() throws {
        var settings = EngineSettings()
        settings.hashPowerInit = 20
        let clock = ProcessClock(unixNow: 1_700_000_000)
        let engine = try #require(CacheEngine(settings: settings, clock: clock))
        let service = RESPService(engine: engine, settings: RESPSettings(), workers: 1)
        let output = OutputBuffer()
        let c = service.makeHandler(workerIndex: 0, fd: 99, output: output, waker: ConnectionWaker {})
        defer { c.connectionClosed(); output.reset() }
        #expect(run(c, output, ["SELECT", "3"]) == "+OK\r\n")
        for i in 0..<200 { #expect(run(c, output, ["SET", "k\(i)", "v"]) == "+OK\r\n") }
        var seen = Set<String>()
        var cursor = "0", calls = 0, emptyPages = 0
        repeat {
            let page = scanPage(run(c, output, ["SCAN", cursor, "COUNT", "10"]))
            calls += 1
            cursor = page.cursor
            if page.keys.isEmpty && cursor != "0" { emptyPages += 1 }
            seen.formUnion(page.keys)
        } while cursor != "0" && calls < 10_000
        #expect(seen.count == 200)
        // About 20 pages of 10: the old fixed 8,192-bucket budget took 128 calls.
        #expect(calls <= 30, "\(calls) calls")
        #expect(emptyPages == 0, "\(emptyPages) empty pages")
        #expect(KeyspaceCommandTests.budgetBounds())
    }

    /// The budget stays within its bounds for any COUNT and density.
    private static func budgetBounds() -> Bool {
        for count in [1, 10, 1000, 1 << 40, Int.max] {
            for keys in [0, 1, 10, 1 << 20] {
                for buckets in [1 << 16, 1 << 31] {
                    let b = RESPConnection.scanBudget(count: count, keys: keys, buckets: buckets)
                    if b < RESPConnection.scanBucketsMin || b > RESPConnection.scanBucketsMax { return false }
                }
            }
        }
        return true
    }
}
