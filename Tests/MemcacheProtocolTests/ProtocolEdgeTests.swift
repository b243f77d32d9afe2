// Edge cases of the text protocol, each answered as memcached 1.6.18 answers it.
import CacheEngine
import MemcacheProtocol
import Platform
import TestSupport
import Testing

@Suite("Bad byte counts and data blocks")
struct BadLengthTests {
    @Test("a bad byte count is CLIENT_ERROR and the data line is read as a command",
          arguments: ["-1", "abc", "4294967296", "2147483648", "2147483647", "5x", "+-5", "99999999999999999999"])
    func badByteCount(_ count: String) throws {
        let c = try Client()
        #expect(c.send("set k 0 0 \(count)\r\nhello\r\n") == "CLIENT_ERROR bad command line format\r\nERROR\r\n")
        #expect(c.send("get k\r\n") == "END\r\n")
        #expect(c.send("set k 0 0 5\r\nhello\r\n") == "STORED\r\n")
    }

    @Test("bad flags or exptime are CLIENT_ERROR too",
          arguments: ["set k abc 0 5", "set k -1 0 5", "set k 0 abc 5", "set k 0 5x 5", "cas k 0 0 5 abc", "cas k 0 0 5 -1"])
    func badNumbers(_ line: String) throws {
        let c = try Client()
        #expect(c.send("\(line)\r\nhello\r\n") == "CLIENT_ERROR bad command line format\r\nERROR\r\n")
        #expect(c.send("get k\r\n") == "END\r\n")
    }

    @Test("flags up to 2^32-1 are accepted and echoed")
    func largestFlags() throws {
        let c = try Client()
        #expect(c.send("set k 4294967295 0 5\r\nhello\r\nget k\r\n")
                == "STORED\r\n" + valueReply("k", "hello", flags: 4_294_967_295) + "END\r\n")
    }

    @Test("a store with the wrong number of tokens is ERROR",
          arguments: ["set k 0 0", "set k 0 0 5 noreply extra", "cas k 0 0 5", "set"])
    func wrongTokenCount(_ line: String) throws {
        let c = try Client()
        #expect(c.send("\(line)\r\n") == "ERROR\r\n")
    }

    @Test("a data block not followed by \\r\\n is CLIENT_ERROR bad data chunk, and the connection goes on",
          arguments: ["hellox\r\n", "hello\nX\r\n", "helloXY\r\n"])
    func badDataChunk(_ data: String) throws {
        let c = try Client()
        #expect(c.send("set k 0 0 5\r\nold!!\r\n") == "STORED\r\n")
        let reply = c.send("set k 0 0 5\r\n\(data)")
        #expect(reply.hasPrefix("CLIENT_ERROR bad data chunk\r\n"))
        // The two bytes after the block are taken as its terminator; the rest is a command line.
        #expect(reply == "CLIENT_ERROR bad data chunk\r\nERROR\r\n")
        // memcached keeps the old value after a bad chunk.
        #expect(c.send("get k\r\n") == valueReply("k", "old!!") + "END\r\n")
        #expect(c.send("set k 0 0 3\r\nnew\r\nget k\r\n") == "STORED\r\n" + valueReply("k", "new") + "END\r\n")
        #expect(c.lastAction == .proceed)
    }

    @Test("a bad chunk of a noreply store is silent, as in memcached")
    func badDataChunkNoreply() throws {
        let c = try Client()
        #expect(c.send("set k 0 0 2 noreply\r\nabXY") == "")
        #expect(c.send("get k\r\n") == "END\r\n")
    }

    @Test("a value over item_size_max: SERVER_ERROR at once, the data swallowed in pieces, the old value gone")
    func tooLarge() throws {
        let c = try Client()
        #expect(c.send("set k 0 0 5\r\nhello\r\n") == "STORED\r\n")
        let n = 1024 * 1024 + 1
        #expect(c.send("set k 0 0 \(n)\r\n") == "SERVER_ERROR object too large for cache\r\n")
        var sent = 0
        var piece = 3
        while sent < n {
            let len = min(piece, n - sent)
            // Data that looks like commands must not be executed.
            let chunk = Array(String(repeating: "get k\r\n", count: len / 7 + 1).utf8.prefix(len))
            #expect(c.feed(chunk) == [])
            #expect(c.input.isEmpty)
            sent += len
            piece = piece * 5 + 1
        }
        #expect(c.send("\r") == "")
        #expect(c.send("\nget k\r\n") == "END\r\n")
        #expect(c.send("set k 0 0 2\r\nok\r\nget k\r\n") == "STORED\r\n" + valueReply("k", "ok") + "END\r\n")
    }

    @Test("too large with noreply: no reply, data swallowed, old value gone")
    func tooLargeNoreply() throws {
        let c = try Client()
        c.send("set k 0 0 5\r\nhello\r\n")
        let n = 2 * 1024 * 1024
        let request = "set k 0 0 \(n) noreply\r\n".bytes + [UInt8](repeating: UInt8(ascii: "z"), count: n) + "\r\nget k\r\n".bytes
        #expect(c.feed(request) == "END\r\n".bytes)
    }

    @Test("too large for add/replace/append leaves the old value (memcached unlinks only for set)",
          arguments: ["add", "replace", "append", "prepend"])
    func tooLargeOtherModes(_ command: String) throws {
        let c = try Client()
        c.send("set k 0 0 5\r\nhello\r\n")
        let n = 1024 * 1024 + 1
        let request = "\(command) k 0 0 \(n)\r\n".bytes + [UInt8](repeating: UInt8(ascii: "z"), count: n) + "\r\nget k\r\n".bytes
        #expect(c.feed(request) == ("SERVER_ERROR object too large for cache\r\n" + valueReply("k", "hello") + "END\r\n").bytes)
    }

    @Test("the largest value that fits is stored and read back")
    func largestFits() throws {
        let c = try Client()
        let n = 1024 * 1024 - 512
        let value = [UInt8](repeating: UInt8(ascii: "q"), count: n)
        #expect(c.feed("set k 0 0 \(n)\r\n".bytes + value + "\r\n".bytes) == "STORED\r\n".bytes)
        expectBytes(c.feed("get k\r\n".bytes), "VALUE k 0 \(n)\r\n".bytes + value + "\r\nEND\r\n".bytes)
    }
}

@Suite("Keys, noreply, unknown commands, closing")
struct CommandEdgeTests {
    @Test("a key of 250 bytes is accepted, 251 refused")
    func keyLength() throws {
        let c = try Client()
        let k250 = String(repeating: "a", count: 250)
        let k251 = String(repeating: "b", count: 251)
        #expect(c.send("set \(k250) 0 0 3\r\nabc\r\n") == "STORED\r\n")
        #expect(c.send("get \(k250)\r\n") == valueReply(k250, "abc") + "END\r\n")
        #expect(c.send("set \(k251) 0 0 3\r\nabc\r\n") == "CLIENT_ERROR bad command line format\r\nERROR\r\n")
        #expect(c.send("get \(k251)\r\n") == "CLIENT_ERROR bad command line format\r\n")
        #expect(c.send("gets \(k251)\r\n") == "CLIENT_ERROR bad command line format\r\n")
        // A bad key in a multi-get withdraws the VALUE lines already written.
        #expect(c.send("get \(k250) \(k251) \(k250)\r\n") == "CLIENT_ERROR bad command line format\r\n")
        #expect(c.send("delete \(k251)\r\n") == "CLIENT_ERROR bad command line format\r\n")
        #expect(c.send("incr \(k251) 1\r\n") == "CLIENT_ERROR bad command line format\r\n")
        #expect(c.send("touch \(k251) 1\r\n") == "CLIENT_ERROR bad command line format\r\n")
        #expect(c.send("get \(k250)\r\n") == valueReply(k250, "abc") + "END\r\n")
    }

    @Test("a multi-get withdrawn for a bad key releases the items it had referenced")
    func withdrawnMultiGetReleases() throws {
        let c = try Client()
        c.send("set a 0 0 1\r\n1\r\nset n 0 0 2\r\n10\r\n")
        let k251 = String(repeating: "b", count: 251)
        #expect(c.send("get n a \(k251)\r\n") == "CLIENT_ERROR bad command line format\r\n")
        // If the reference from the withdrawn VALUE were still held, incr would not work in place.
        let before = try #require(c.engine.lookup("n"))
        #expect(c.send("incr n 1\r\n") == "11\r\n")
        #expect(c.engine.lookup("n")?.raw == before.raw)
    }

    @Test("a key with a control character is stored, as memcached stores it",
          arguments: ["a\u{01}b", "a\u{7f}", "\u{1b}x", "tab\there", "cr\rinside"])
    func controlCharacterKey(_ k: String) throws {
        let c = try Client()
        #expect(c.send("set \(k) 0 0 1\r\nx\r\n") == "STORED\r\n")
        #expect(c.send("get \(k)\r\n") == valueReply(k, "x") + "END\r\n")
        #expect(c.send("mg \(k) v k\r\n") == "VA 1 k\(k)\r\nx\r\n")
        #expect(c.send("delete \(k)\r\n") == "DELETED\r\n")
    }

    @Test("-o reject_key_control_chars refuses a key with a control character",
          arguments: ["a\u{01}b", "a\u{7f}", "\u{1b}x", "tab\there"])
    func controlCharacterKeyStrict(_ k: String) throws {
        var settings = ProtocolSettings()
        settings.rejectKeyControlCharacters = true
        let c = try Client(protocolSettings: settings)
        #expect(c.send("set \(k) 0 0 1\r\nx\r\n") == "CLIENT_ERROR bad command line format\r\nERROR\r\n")
        #expect(c.send("get \(k)\r\n") == "CLIENT_ERROR bad command line format\r\n")
        #expect(c.engine.itemStats().number == 0)
    }

    @Test("a NUL ends the request line, as memcached reads it as a C string")
    func nulEndsLine() throws {
        let c = try Client()
        #expect(c.send("set a 0 0 1\r\nz\r\n") == "STORED\r\n")
        #expect(c.send("get a\u{0}b c\r\n") == valueReply("a", "z") + "END\r\n")
        // "set a" alone: too few tokens; the data line is then a command.
        #expect(c.send("set a\u{0}b 0 0 1\r\nx\r\n") == "ERROR\r\nERROR\r\n")
        #expect(c.send("version\u{0}junk\r\n") == "VERSION 1.6.18\r\n")
    }

    @Test("numbers past 32 bits keep their low 32 bits, as memcached's safe_strtoul/safe_strtol")
    func numbersTruncated() throws {
        let c = try Client()
        c.clock.set(1000)
        #expect(c.send("set f 4294967297 0 1\r\nx\r\nget f\r\n") == "STORED\r\n" + valueReply("f", "x", flags: 1) + "END\r\n")
        #expect(c.send("set f 18446744073709551615 0 1\r\nx\r\nget f\r\n")
                == "STORED\r\n" + valueReply("f", "x", flags: 4_294_967_295) + "END\r\n")
        #expect(c.send("set f 18446744073709551616 0 1\r\nx\r\n") == "CLIENT_ERROR bad command line format\r\nERROR\r\n")
        // exptime 2^31 is -2^31 (gone at once), 2^32 is 0 (never expires), 2^32-1 is -1.
        #expect(c.send("set e 0 2147483648 1\r\nx\r\nget e\r\n") == "STORED\r\nEND\r\n")
        #expect(c.send("set e 0 4294967296 1\r\nx\r\nget e\r\n") == "STORED\r\n" + valueReply("e", "x") + "END\r\n")
        #expect(c.send("set e 0 4294967295 1\r\nx\r\nget e\r\n") == "STORED\r\nEND\r\n")
        #expect(c.send("verbosity 1099511627776\r\n") == "OK\r\n")
        #expect(c.send("lru temp_ttl 4294967295\r\n") == "OK\r\n")
        #expect(c.send("set m 0 0 1\r\nx\r\nmg m T99999999999\r\n") == "STORED\r\nHD\r\n")
    }

    @Test("cache_memlimit answers as memcached: megabytes in 32 bits, 8 to 10^9")
    func cacheMemlimit() throws {
        let c = try Client()
        #expect(c.send("cache_memlimit 99999999\r\n") == "OK\r\n")
        #expect(c.engine.memoryLimit == 99_999_999 * 1024 * 1024)
        #expect(c.send("cache_memlimit 18446744073709551615\r\n") == "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n")
        #expect(c.send("cache_memlimit 4294967296\r\n") == "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n")
        #expect(c.send("cache_memlimit 18446744073709551616\r\n") == "ERROR\r\n")
        #expect(c.send("cache_memlimit 16\r\n") == "OK\r\n")
        #expect(c.engine.memoryLimit == 16 * 1024 * 1024)
    }

    @Test("slabs reassign: SAME first, -1 with nothing to spare and ids out of range are BADCLASS")
    func slabsReassignOrder() throws {
        let c = try Client()
        #expect(c.send("slabs reassign -1 5\r\n") == "BADCLASS invalid src or dst class id\r\n")
        #expect(c.send("slabs reassign 99999999999 1\r\n") == "BADCLASS invalid src or dst class id\r\n")
        #expect(c.send("slabs reassign 4294967297 1\r\n") == "SAME src and dst class are identical\r\n")
        #expect(c.send("slabs reassign 99 99\r\n") == "SAME src and dst class are identical\r\n")
        #expect(c.send("slabs reassign 0 3\r\n") == "NOSPARE source class has no spare pages\r\n")
        #expect(c.send("slabs reassign 1 0\r\n") == "NOSPARE source class has no spare pages\r\n")
    }

    @Test("the largest value is memcached's for the same key, flags, -I and CAS setting",
          arguments: [(1, 0, true), (1, 7, true), (250, 0, true), (10, 3, false)])
    func largestValue(_ keyLength: Int, _ flags: Int, _ cas: Bool) throws {
        let c = try Client { $0.useCAS = cas; $0.itemSizeMax = 1024 * 1024 }
        let key = String(repeating: "k", count: keyLength)
        // memcached: 48-byte header + key + NUL + 4 flag bytes unless 0 + value + CRLF + 8 CAS bytes.
        let largest = 1024 * 1024 - 48 - keyLength - 1 - (flags == 0 ? 0 : 4) - 2 - (cas ? 8 : 0)
        let value = String(repeating: "v", count: largest)
        #expect(c.send("set \(key) \(flags) 0 \(largest)\r\n\(value)\r\n") == "STORED\r\n")
        #expect(c.send("set \(key) \(flags) 0 \(largest + 1)\r\n\(value)v\r\n") == "SERVER_ERROR object too large for cache\r\n")
        #expect(c.send("ms \(key) \(largest + 1) F\(flags)\r\n\(value)v\r\n") == "SERVER_ERROR object too large for cache\r\n")
    }

    @Test("noreply suppresses the replies of set, add, append, incr, decr, touch, delete and flush_all")
    func noreply() throws {
        let c = try Client()
        c.clock.set(1000)
        #expect(c.send("set k 0 0 1 noreply\r\nx\r\n") == "")
        #expect(c.send("set n 0 0 1 noreply\r\n5\r\n") == "")
        #expect(c.send("add k 0 0 1 noreply\r\nz\r\n") == "")          // NOT_STORED, silently
        #expect(c.send("incr n 10 noreply\r\n") == "")
        #expect(c.send("decr n 1 noreply\r\n") == "")
        #expect(c.send("incr nothere 1 noreply\r\n") == "")            // NOT_FOUND, silently
        #expect(c.send("touch k 10 noreply\r\n") == "")
        #expect(c.send("append k 0 0 1 noreply\r\ny\r\n") == "")
        #expect(c.send("get k n\r\n") == valueReply("k", "xy") + valueReply("n", "14") + "END\r\n")
        // touch took effect: expiry is now + 10.
        let it = try #require(c.engine.lookup("k"))
        #expect(it.expiry == 1010)
        #expect(c.send("delete k noreply\r\n") == "")
        #expect(c.send("delete k 0 noreply\r\n") == "")
        #expect(c.send("get k\r\n") == "END\r\n")
        c.clock.set(1001)
        #expect(c.send("flush_all noreply\r\n") == "")
        #expect(c.send("get n\r\n") == "END\r\n")
        c.send("set n 0 0 1\r\n1\r\n")
        c.clock.set(1002)
        #expect(c.send("flush_all 0 noreply\r\n") == "")
        #expect(c.send("get n\r\n") == "END\r\n")
        #expect(c.send("version\r\n") == "VERSION 1.6.18\r\n")
    }

    @Test("unknown commands are ERROR", arguments: ["foo", "bogus a b c", "", "GET k", "SET k 0 0 1", "gett k", "   "])
    func unknownCommand(_ line: String) throws {
        let c = try Client()
        #expect(c.send("\(line)\r\n") == "ERROR\r\n")
        #expect(c.lastAction == .proceed)
        #expect(c.send("version\n") == "VERSION 1.6.18\r\n")
    }

    @Test("an HTTP request line closes the connection without a reply",
          arguments: ["GET / HTTP/1.1\r\n", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "POST /x HTTP/1.0\r\n"])
    func httpCloses(_ request: String) throws {
        let c = try Client()
        #expect(c.send(request) == "")
        #expect(c.lastAction == .closeNow)
    }

    @Test("lowercase 'get / HTTP/1.1' is a normal get")
    func lowercaseGetIsGet() throws {
        let c = try Client()
        #expect(c.send("get / HTTP/1.1\r\n") == "END\r\n")
        #expect(c.lastAction == .proceed)
    }

    @Test("quit closes the connection; what follows it is not answered")
    func quit() throws {
        let c = try Client()
        #expect(c.send("quit\r\n") == "")
        // Today .closeNow; with nothing queued, .close (flush, then close) is the same on the wire.
        #expect(c.lastAction == .closeNow || c.lastAction == .close)
        #expect(c.closed)
        let d = try Client()
        #expect(d.send("quit\r\nversion\r\n") == "")
        #expect(d.lastAction == .closeNow || d.lastAction == .close)
        #expect(d.input == "version\r\n".bytes)
    }

    @Test("replies queued before quit are written before closing (memcached: conn_mwrite + close_after_write)")
    func quitFlushesPendingReplies() throws {
        let c = try Client()
        // The handler does produce the reply...
        #expect(c.send("version\r\nquit\r\nversion\r\n") == "VERSION 1.6.18\r\n")
        #expect(c.input == "version\r\n".bytes)
        // ...but .closeNow makes Connection.close() drop it; `.close` would flush it first.
        #expect(c.lastAction == .close)
    }

    @Test("a line over 2048 bytes with no newline that is not a get closes the connection")
    func longLineCloses() throws {
        let c = try Client()
        #expect(c.send("set " + String(repeating: "x", count: 2044)) == "")     // 2048 bytes: wait
        #expect(c.lastAction == .proceed)
        #expect(c.send("x") == "")                                                // 2049: close
        #expect(c.lastAction == .closeNow)

        #expect(c.service.workerStats[0][CommandCounter.linesTooLong.rawValue] == 1)

        let d = try Client()
        #expect(d.send(String(repeating: "y", count: 3000)) == "")
        #expect(d.lastAction == .closeNow)
        #expect(d.service.workerStats[0][CommandCounter.linesTooLong.rawValue] == 1)

        // A get preceded by over 100 spaces is not trusted either.
        let e = try Client()
        #expect(e.send(String(repeating: " ", count: 101) + "get " + String(repeating: "k ", count: 1500)) == "")
        #expect(e.lastAction == .closeNow)
    }

    @Test("a long multi-get line split across reads works", arguments: ["get", "gets", "  get"])
    func longMultiGet(_ command: String) throws {
        let c = try Client()
        var keys: [String] = []
        for i in 0..<400 {
            let k = "multikey\(i)"
            keys.append(k)
            if i % 2 == 0 { c.send("set \(k) \(i) 0 \(k.utf8.count)\r\n\(k)\r\n") }
        }
        let line = (command + " " + keys.joined(separator: " ") + "\r\n").bytes
        #expect(line.count > 4000)
        var reply: [UInt8] = []
        var pos = 0
        while pos < line.count {
            let n = min(700, line.count - pos)
            reply += c.feed(line[pos..<pos + n])
            #expect(!c.closed, "closed after \(pos + n) bytes")
            if c.closed { return }
            pos += n
        }
        var expected = ""
        for (i, k) in keys.enumerated() where i % 2 == 0 {
            if command.hasSuffix("gets") {
                expected += "VALUE \(k) \(i) \(k.utf8.count) \(i / 2 + 1)\r\n\(k)\r\n"
            } else {
                expected += valueReply(k, k, flags: UInt32(i))
            }
        }
        expected += "END\r\n"
        #expect(String(decoding: reply, as: UTF8.self) == expected)
    }

    @Test("a value being sent is not changed by an incr in the same batch")
    func replyHoldsValue() throws {
        let c = try Client()
        c.send("set n 0 0 2\r\n10\r\n")
        #expect(c.send("get n\r\nincr n 1\r\nget n\r\n") == valueReply("n", "10") + "END\r\n11\r\n" + valueReply("n", "11") + "END\r\n")
        #expect(c.send("get n\r\ndelete n\r\nset n 0 0 2\r\nzz\r\n") == valueReply("n", "11") + "END\r\nDELETED\r\nSTORED\r\n")
    }

    @Test("closing with a data block half read releases the item")
    func closeMidBlock() throws {
        var c: Client? = try Client()
        let engine = c!.engine
        c!.send("set k 0 0 100\r\nabc")
        let cls = engine.slabClassID(forItemSize: ItemLayout.totalSize(keyLength: 1, valueLength: 100))
        #expect(engine.slabClassStats(cls).usedChunks == 1)
        c = nil    // connectionClosed()
        #expect(engine.slabClassStats(cls).usedChunks == 0)
        #expect(engine.itemStats().number == 0)
    }

    @Test("delete with a hold time other than 0 is refused with memcached's usage line")
    func deleteUsage() throws {
        let c = try Client()
        c.send("set k 0 0 1\r\nx\r\n")
        #expect(c.send("delete k 5\r\n") == "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n")
        #expect(c.send("delete k 0\r\n") == "DELETED\r\n")
    }

    @Test("incr with a bad delta, and on a non-number")
    func incrErrors() throws {
        let c = try Client()
        c.send("set k 0 0 3\r\nabc\r\n")
        #expect(c.send("incr k abc\r\n") == "CLIENT_ERROR invalid numeric delta argument\r\n")
        #expect(c.send("incr k -1\r\n") == "CLIENT_ERROR invalid numeric delta argument\r\n")
        #expect(c.send("incr k 1\r\n") == "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n")
        #expect(c.send("incr missing 1\r\n") == "NOT_FOUND\r\n")
        c.send("set n 0 0 20\r\n18446744073709551615\r\n")
        #expect(c.send("incr n 1\r\n") == "0\r\n")
        #expect(c.send("decr n 5\r\n") == "0\r\n")
    }

    @Test("expiry through the protocol: negative exptime is invisible, touch and gat move it")
    func expiryOverProtocol() throws {
        let c = try Client()
        c.clock.set(1000)
        #expect(c.send("set k 0 -1 1\r\nx\r\nget k\r\n") == "STORED\r\nEND\r\n")
        #expect(c.send("set k 0 10 1\r\nx\r\n") == "STORED\r\n")
        c.clock.set(1009)
        #expect(c.send("gat 100 k\r\n") == valueReply("k", "x") + "END\r\n")
        c.clock.set(1108)
        #expect(c.send("get k\r\n") == valueReply("k", "x") + "END\r\n")
        c.clock.set(1109)
        #expect(c.send("get k\r\n") == "END\r\n")
        #expect(c.send("gat abc k\r\n") == "CLIENT_ERROR invalid exptime argument\r\n")
        #expect(c.send("touch k abc\r\n") == "CLIENT_ERROR invalid exptime argument\r\n")
    }

    @Test("flush_all with an extra token reads the delay as memcached does")
    func flushAllExtraToken() throws {
        // memcached 1.6 process_flush_all_command: any token count other than the bare
        // `flush_all [noreply]` parses tokens[1] as the delay.
        let c = try Client()
        c.clock.set(1000)
        c.send("set k 0 0 1\r\nx\r\n")
        c.clock.set(1001)
        #expect(c.send("flush_all 10 extra\r\n") == "OK\r\n")
        let d = try Client()
        d.send("set k 0 0 1\r\nx\r\n")
        // Delayed by 10 s, so still visible now.
        #expect(c.send("get k\r\n") == valueReply("k", "x") + "END\r\n")
        // "noreply" in the delay position is not a number: no flush.
        #expect(d.send("flush_all noreply extra\r\n") == "CLIENT_ERROR invalid exptime argument\r\n")
        #expect(c.send("flush_all 0\r\nget k\r\n") == "OK\r\nEND\r\n")
    }
}
