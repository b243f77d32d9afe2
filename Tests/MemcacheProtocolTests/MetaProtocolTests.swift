// The meta commands, flag by flag. Every expected reply is what Debian's memcached 1.6.18 answers
// to the same bytes (checked side by side on loopback), except where a comment says otherwise.
import CacheEngine
import MemcacheProtocol
import Testing

@Suite("meta get (mg)")
struct MetaGetTests {
    @Test("hit and miss; v returns the value; HD without v")
    func hitMiss() throws {
        let c = try Client()
        #expect(c.send("ms foo 2 T90 F1\r\nhi\r\n") == "HD\r\n")
        #expect(c.send("mg foo v\r\n") == "VA 2\r\nhi\r\n")
        #expect(c.send("mg foo\r\n") == "HD\r\n")
        #expect(c.send("mg nope v\r\n") == "EN\r\n")
    }

    @Test("return flags come back in request order")
    func returnFlagsInOrder() throws {
        let c = try Client()
        #expect(c.send("ms foo 2 T90 F7\r\nhi\r\n") == "HD\r\n")
        #expect(c.send("mg foo t f v\r\n") == "VA 2 t90 f7\r\nhi\r\n")
        #expect(c.send("mg foo f t s k\r\n") == "HD f7 t90 s2 kfoo\r\n")
        #expect(c.send("mg foo O123 k\r\n") == "HD O123 kfoo\r\n")
    }

    @Test("c returns the CAS that gets shows")
    func casFlag() throws {
        let c = try Client()
        _ = c.send("set k 0 0 1\r\nx\r\n")
        let gets = c.send("gets k\r\n")
        let cas = gets.split(separator: "\r\n")[0].split(separator: " ")[4]
        #expect(c.send("mg k c\r\n") == "HD c\(cas)\r\n")
    }

    @Test("t is -1 without expiry and counts down with the clock; T sets a new TTL")
    func ttl() throws {
        let c = try Client()
        _ = c.send("ms k 1\r\nx\r\n")
        #expect(c.send("mg k t\r\n") == "HD t-1\r\n")
        #expect(c.send("mg k T100 t\r\n") == "HD t100\r\n")
        c.clock.set(c.clock.current + 30)
        #expect(c.send("mg k t\r\n") == "HD t70\r\n")
    }

    @Test("h and l report the state before this read; u does not bump")
    func hitBeforeAndLastAccess() throws {
        let c = try Client()
        _ = c.send("ms k 1\r\nx\r\n")
        #expect(c.send("mg k h l u\r\n") == "HD h0 l0\r\n")
        #expect(c.send("mg k h\r\n") == "HD h0\r\n")
        c.clock.set(c.clock.current + 5)
        #expect(c.send("mg k h l\r\n") == "HD h1 l5\r\n")
    }

    @Test("q hides a miss; mn ends the pipeline")
    func quietMiss() throws {
        let c = try Client()
        _ = c.send("ms a 1\r\n1\r\n")
        #expect(c.send("mg a v q\r\nmg b v q\r\nmn\r\n") == "VA 1\r\n1\r\nMN\r\n")
        #expect(c.send("mg b k O5\r\n") == "EN kb O5\r\n")
    }

    @Test("b: base64 keys in, base64 key and b out with k")
    func base64Keys() throws {
        let c = try Client()
        // "foo" is Zm9v.
        #expect(c.send("ms Zm9v 2 b\r\nhi\r\n") == "HD\r\n")
        #expect(c.send("get foo\r\n") == "VALUE foo 0 2\r\nhi\r\nEND\r\n")
        #expect(c.send("mg Zm9v b k v\r\n") == "VA 2 kZm9v b\r\nhi\r\n")
        #expect(c.send("mg foo b\r\n") == "CLIENT_ERROR error decoding key\r\n")
    }

    @Test("N vivifies a miss: the first caller wins (W), the next sees Z")
    func vivify() throws {
        let c = try Client()
        #expect(c.send("mg k1 N30 v\r\n") == "VA 0 W\r\n\r\n")
        #expect(c.send("mg k1 N30 v\r\n") == "VA 0 Z\r\n\r\n")
        #expect(c.send("mg k1 t\r\n") == "HD t30 Z\r\n")
    }

    @Test("R: one win when the TTL is below the threshold")
    func recache() throws {
        let c = try Client()
        _ = c.send("ms k 2 T20\r\nxy\r\n")
        #expect(c.send("mg k R10 v\r\n") == "VA 2\r\nxy\r\n")
        #expect(c.send("mg k R30 v\r\n") == "VA 2 W\r\nxy\r\n")
        #expect(c.send("mg k R30 v\r\n") == "VA 2 Z\r\nxy\r\n")
    }

    @Test("a stale item (md I) shows X; the first reader wins W, then Z")
    func staleWin() throws {
        let c = try Client()
        _ = c.send("set n 0 0 2\r\nab\r\n")
        #expect(c.send("md n I T30\r\n") == "HD\r\n")
        #expect(c.send("mg n v\r\n") == "VA 2 X W\r\nab\r\n")
        #expect(c.send("mg n v t\r\n") == "VA 2 t30 Z X\r\nab\r\n")
    }

    @Test("flag errors", arguments: [
        ("mg k v v\r\n", "CLIENT_ERROR duplicate flag\r\n"),
        ("mg k !\r\n", "CLIENT_ERROR invalid flag\r\n"),
        ("mg k Tabc\r\n", "CLIENT_ERROR bad token in command line format\r\n"),
        ("mg k O123456789012345678901234567890123\r\n", "CLIENT_ERROR opaque token too long\r\n"),
        ("mg\r\n", "ERROR\r\n"),
    ])
    func errors(_ request: String, _ reply: String) throws {
        let c = try Client()
        _ = c.send("ms k 1\r\nx\r\n")
        #expect(c.send(request) == reply)
        #expect(c.send("mn\r\n") == "MN\r\n")
    }

    @Test("a key over 250 bytes is refused")
    func longKey() throws {
        let c = try Client()
        #expect(c.send("mg \(String(repeating: "a", count: 251)) v\r\n") == "CLIENT_ERROR bad command line format\r\n")
    }
}

@Suite("meta set (ms)")
struct MetaSetTests {
    @Test("modes: E add, A append, P prepend, R replace, S set")
    func modes() throws {
        let c = try Client()
        #expect(c.send("ms k 1 MR\r\na\r\n") == "NS\r\n")
        #expect(c.send("ms k 1 ME\r\na\r\n") == "HD\r\n")
        #expect(c.send("ms k 1 ME\r\nb\r\n") == "NS\r\n")
        #expect(c.send("ms k 1 MA\r\nz\r\n") == "HD\r\n")
        #expect(c.send("ms k 1 MP\r\n0\r\n") == "HD\r\n")
        #expect(c.send("mg k v\r\n") == "VA 3\r\n0az\r\n")
        #expect(c.send("ms k 1 MR\r\nr\r\n") == "HD\r\n")
        #expect(c.send("ms k 1 MS\r\ns\r\n") == "HD\r\n")
        #expect(c.send("mg k v\r\n") == "VA 1\r\ns\r\n")
        #expect(c.send("ms k 1 MX\r\nx\r\n") == "CLIENT_ERROR invalid mode for ms M token\r\n")
        // memcached 1.6.18 has upper-case mode letters only.
        for mode in ["s", "e", "a", "p", "r"] {
            #expect(c.send("ms k 1 M\(mode)\r\nx\r\n") == "CLIENT_ERROR invalid mode for ms M token\r\n")
        }
        #expect(c.send("mg k v\r\n") == "VA 1\r\ns\r\n")
    }

    @Test("append or prepend with N creates nothing (memcached 1.6.18: NS)")
    func appendVivify() throws {
        let c = try Client()
        #expect(c.send("ms k 1 MA\r\nz\r\n") == "NS\r\n")
        #expect(c.send("ms k 1 MA N10\r\nz\r\n") == "NS\r\n")
        #expect(c.send("ms k 3 MP N0\r\nabc\r\n") == "NS\r\n")
        #expect(c.send("mg k v\r\n") == "EN\r\n")
    }

    @Test("C compares the CAS; c returns the new one; k and O echo; q hides HD only")
    func casAndReturnFlags() throws {
        let c = try Client()
        #expect(c.send("ms k 1 q\r\na\r\nmn\r\n") == "MN\r\n")
        // "\r\n" is a single Character in a Swift String.
        let cas = try #require(UInt64(c.send("mg k c\r\n").dropFirst(4).dropLast(1)))
        #expect(c.send("ms k 1 C\(cas + 1000)\r\nb\r\n") == "EX\r\n")
        let reply = c.send("ms k 1 C\(cas) k O9 c\r\nd\r\n")
        #expect(reply.hasPrefix("HD kk O9 c"))
        #expect(reply != "HD kk O9 c\(cas)\r\n")
        #expect(c.send("mg k v\r\n") == "VA 1\r\nd\r\n")
        #expect(c.send("ms k 1 ME q\r\nx\r\n") == "NS\r\n")
        #expect(c.send("ms missing 1 C5\r\nx\r\n") == "NF\r\n")
    }

    @Test("I with an older CAS stores the value as stale")
    func invalidate() throws {
        let c = try Client()
        _ = c.send("set n 0 0 2\r\nab\r\n")
        _ = c.send("md n I T30\r\n")
        #expect(c.send("mg n v\r\n") == "VA 2 X W\r\nab\r\n")
        #expect(c.send("ms n 2 C1 I\r\nzz\r\n") == "HD\r\n")
        #expect(c.send("mg n v\r\n") == "VA 2 Z X\r\nzz\r\n")
    }

    @Test("E is not a flag of memcached 1.6.18: refused, the data block swallowed")
    func explicitCASRefused() throws {
        let c = try Client()
        #expect(c.send("ms k 1 E999\r\nx\r\n") == "CLIENT_ERROR invalid flag\r\n")
        #expect(c.send("ms k 1 E0\r\nx\r\n") == "CLIENT_ERROR invalid flag\r\n")
        #expect(c.send("set k 0 0 1\r\na\r\nms k 1 C1 E5\r\nb\r\n") == "STORED\r\nCLIENT_ERROR invalid flag\r\n")
        #expect(c.send("mg k v\r\n") == "VA 1\r\na\r\n")
        #expect(c.send("mg k E5\r\nmd k E5\r\nma k E5\r\n")
                == "CLIENT_ERROR invalid flag\r\nCLIENT_ERROR invalid or duplicate flag\r\nCLIENT_ERROR invalid or duplicate flag\r\n")
    }

    @Test("errors: bad length is not followed by a data block; a bad flag swallows it")
    func errors() throws {
        let c = try Client()
        #expect(c.send("ms k\r\n") == "CLIENT_ERROR bad command line format\r\n")
        #expect(c.send("ms k abc\r\n") == "CLIENT_ERROR bad command line format\r\n")
        #expect(c.send("ms k 2 Z\r\nxx\r\n") == "CLIENT_ERROR invalid flag\r\n")
        #expect(c.send("ms k 2\r\nxxyy\r\n") == "CLIENT_ERROR bad data chunk\r\nERROR\r\n")
        #expect(c.send("ms k 2000000 T0\r\n" + String(repeating: "a", count: 2_000_000) + "\r\n")
            == "SERVER_ERROR object too large for cache\r\n")
        #expect(c.send("mn\r\n") == "MN\r\n")
    }

    @Test("a meta set reads back with classic get/gets, a classic set with mg")
    func mixed() throws {
        let c = try Client()
        _ = c.send("ms a 3 F5 T0\r\nabc\r\n")
        #expect(c.send("get a\r\n") == "VALUE a 5 3\r\nabc\r\nEND\r\n")
        _ = c.send("set b 9 0 2\r\nxy\r\n")
        #expect(c.send("mg b f v\r\n") == "VA 2 f9\r\nxy\r\n")
    }
}

@Suite("meta delete, arithmetic, debug, no-op")
struct MetaOtherTests {
    @Test("md: HD, NF, q hides HD but not NF, C compares, k and O echo")
    func delete() throws {
        let c = try Client()
        _ = c.send("ms k 1\r\nx\r\n")
        #expect(c.send("md k C99999\r\n") == "EX\r\n")
        #expect(c.send("md k q\r\nmn\r\n") == "MN\r\n")
        #expect(c.send("md k q O1\r\n") == "NF O1\r\n")
        _ = c.send("ms k 1\r\nx\r\n")
        #expect(c.send("md k k O2\r\n") == "HD kk O2\r\n")
        #expect(c.send("md k x\r\n") == "CLIENT_ERROR invalid or duplicate flag\r\n")
    }

    @Test("ma: incr by default, D delta, modes, v returns the number, t and c")
    func arithmetic() throws {
        let c = try Client()
        #expect(c.send("ma n\r\n") == "NF\r\n")
        #expect(c.send("ma n N0 J5 v\r\n") == "VA 1\r\n5\r\n")
        #expect(c.send("ma n v D10\r\n") == "VA 2\r\n15\r\n")
        #expect(c.send("ma n MD v t\r\n") == "VA 2 t-1\r\n14\r\n")
        #expect(c.send("ma n M- D20 v\r\n") == "VA 1\r\n0\r\n")
        #expect(c.send("ma n M+ v\r\n") == "VA 1\r\n1\r\n")
        #expect(c.send("ma n MX\r\n") == "CLIENT_ERROR invalid mode for ma M token\r\n")
        #expect(c.send("ma n q\r\nmn\r\n") == "MN\r\n")
        #expect(c.send("ma n C1 v\r\n").hasPrefix("EX"))
        _ = c.send("set s 0 0 2\r\nab\r\n")
        #expect(c.send("ma s\r\n") == "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n")
        // q does not hide the answer when the item was just created (memcached 1.6.18).
        #expect(c.send("ma v q N0 O3\r\n") == "HD O3\r\n")
    }

    @Test("me prints the debug line; EN on a miss; mn answers MN")
    func debugAndNoop() throws {
        let c = try Client()
        _ = c.send("ms k 1\r\nx\r\n")
        let line = c.send("me k\r\n")
        #expect(line.hasPrefix("ME k exp=-1 la=0 cas="))
        // size is the item's bytes: header, key and value (memcached's ITEM_ntotal, here without CRLF).
        #expect(line.contains(" fetch=no cls=1 size=\(ItemLayout.headerSize + 2)\r\n"))
        #expect(c.send("me nope\r\n") == "EN\r\n")
        #expect(c.send("mn\r\n") == "MN\r\n")
    }
}
