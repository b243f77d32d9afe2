// String commands' edges where redis-server 7.0's answers were compared by hand (redis-cli against
// a running 7.0.15): integers as string2ll reads them ("-0" and "00" are not integers, so INCR
// refuses them and OBJECT ENCODING calls them embstr), and MSETNX naming a key twice.
import CacheEngine
import Platform
@testable import RESP
import Testing

@Suite("RESP string edges")
struct StringEdgeTests {
    typealias Client = TransactionTests.Client

    @Test("string2ll: \"0\" alone; \"-0\", \"00\", \"01\", \"+1\" are not integers")
    func integerParser() {
        func parse(_ s: String) -> Int? {
            Array(s.utf8).withUnsafeBytes { parseInteger($0.baseAddress!, $0.count) }
        }
        #expect(parse("0") == 0)
        #expect(parse("-1") == -1)
        #expect(parse("10") == 10)
        #expect(parse("-9223372036854775808") == Int.min)
        for bad in ["-0", "00", "-00", "01", "-01", "+1", " 1", "-", "9223372036854775808"] {
            #expect(parse(bad) == nil, "\(bad)")
        }
    }

    @Test("INCR, OBJECT ENCODING, EXPIRE and SETBIT on \"-0\" and \"00\" answer as redis 7.0")
    func negativeZeroAndLeadingZero() throws {
        let c = try Client()
        let notInteger = "-ERR value is not an integer or out of range\r\n"
        for v in ["-0", "00"] {
            #expect(c.send(["SET", "n", v]) == "+OK\r\n")
            #expect(c.send(["INCR", "n"]) == notInteger)
            #expect(c.send(["DECRBY", "n", "1"]) == notInteger)
            #expect(c.send(["OBJECT", "ENCODING", "n"]) == "$6\r\nembstr\r\n")
            #expect(c.send(["INCRBY", "m", v]) == notInteger)
            #expect(c.send(["EXPIRE", "n", v]) == notInteger)
            #expect(c.send(["GET", "n"]) == "$\(v.utf8.count)\r\n\(v)\r\n")
        }
        #expect(c.send(["SET", "n", "0"]) == "+OK\r\n")
        #expect(c.send(["OBJECT", "ENCODING", "n"]) == "$3\r\nint\r\n")
        #expect(c.send(["INCR", "n"]) == ":1\r\n")
    }

    @Test("MSETNX naming a key twice answers 1 and the later value wins")
    func msetnxRepeatedKey() throws {
        let c = try Client()
        #expect(c.send(["MSETNX", "x", "1", "y", "5", "x", "2"]) == ":1\r\n")
        #expect(c.send(["MGET", "x", "y"]) == "*2\r\n$1\r\n2\r\n$1\r\n5\r\n")
        #expect(c.send(["MSETNX", "x", "3", "z", "4"]) == ":0\r\n")
        #expect(c.send(["MGET", "x", "z"]) == "*2\r\n$1\r\n2\r\n$-1\r\n")
        #expect(c.send(["MSETNX", "a", "1", "a", "2", "a", "3"]) == ":1\r\n")
        #expect(c.send(["GET", "a"]) == "$1\r\n3\r\n")
    }
}
