// The memcached reply parser, fed every reply whole, split in two at every byte, and byte by byte.
import Testing
@testable import LoadTestCore

/// What the parser reported, with value data pieces joined.
enum Event: Equatable, CustomStringConvertible {
    case simple(SimpleReply)
    case error(ErrorReply)
    case value(key: String, flags: UInt32, length: Int, cas: UInt64?, data: [UInt8])
    case end

    var description: String {
        switch self {
        case .simple(let k): return "\(k)"
        case .error(let k): return "error(\(k))"
        case .value(let key, let flags, let length, let cas, let data):
            return "VALUE(\(key) \(flags) \(length) \(cas.map(String.init) ?? "-") \(String(decoding: data, as: UTF8.self).debugDescription))"
        case .end: return "END"
        }
    }
}

struct RecordingSink: ReplySink {
    var events: [Event] = []
    var open: (key: String, flags: UInt32, length: Int, cas: UInt64?)? = nil
    var data: [UInt8] = []

    mutating func simpleReply(_ kind: SimpleReply) { events.append(.simple(kind)) }
    mutating func errorReply(_ kind: ErrorReply, line: UnsafeRawBufferPointer) { events.append(.error(kind)) }
    mutating func valueHeader(key: UnsafeRawBufferPointer, flags: UInt32, length: Int, cas: UInt64?) {
        precondition(open == nil)
        open = (String(decoding: key, as: UTF8.self), flags, length, cas)
        data = []
    }
    mutating func valueData(_ bytes: UnsafeRawBufferPointer) {
        precondition(open != nil && !bytes.isEmpty)
        data.append(contentsOf: bytes)
    }
    mutating func valueEnd() {
        let o = open!
        events.append(.value(key: o.key, flags: o.flags, length: o.length, cas: o.cas, data: data))
        open = nil
    }
    mutating func end() { events.append(.end) }
}

/// Feeds `chunks` in order to a fresh parser; returns the events and whether all parsed.
func parse(_ chunks: [ArraySlice<UInt8>]) -> (events: [Event], ok: Bool) {
    let parser = ReplyParser()
    var sink = RecordingSink()
    var ok = true
    for chunk in chunks where ok {
        ok = Array(chunk).withUnsafeBytes { parser.feed($0, into: &sink) }
    }
    #expect(parser.failed == !ok)
    return (sink.events, ok)
}

/// Every way of cutting `bytes`: whole, in two at each position, and one byte at a time.
func everySplit(_ bytes: [UInt8]) -> [(String, [ArraySlice<UInt8>])] {
    var out: [(String, [ArraySlice<UInt8>])] = [("whole", [bytes[...]])]
    for i in 0...bytes.count {
        out.append(("split at \(i)", [bytes[..<i], bytes[i...]]))
    }
    out.append(("byte by byte", bytes.indices.map { bytes[$0...$0] }))
    return out
}

func b(_ s: String) -> [UInt8] { Array(s.utf8) }

struct ReplyCase: Sendable, CustomTestStringConvertible {
    let name: String
    let bytes: String
    var testDescription: String { name }
}

@Suite("memcached reply parser")
struct ReplyParserTests {
    static let wellFormed: [(ReplyCase, [Event])] = [
        (ReplyCase(name: "STORED", bytes: "STORED\r\n"), [.simple(.stored)]),
        (ReplyCase(name: "NOT_STORED", bytes: "NOT_STORED\r\n"), [.simple(.notStored)]),
        (ReplyCase(name: "EXISTS", bytes: "EXISTS\r\n"), [.simple(.exists)]),
        (ReplyCase(name: "NOT_FOUND", bytes: "NOT_FOUND\r\n"), [.simple(.notFound)]),
        (ReplyCase(name: "DELETED TOUCHED OK", bytes: "DELETED\r\nTOUCHED\r\nOK\r\n"),
         [.simple(.deleted), .simple(.touched), .simple(.ok)]),
        (ReplyCase(name: "miss", bytes: "END\r\n"), [.end]),
        (ReplyCase(name: "hit", bytes: "VALUE key0000001 0 5\r\nhello\r\nEND\r\n"),
         [.value(key: "key0000001", flags: 0, length: 5, cas: nil, data: b("hello")), .end]),
        (ReplyCase(name: "gets hit with cas", bytes: "VALUE k 4294967295 3 18446744073709551615\r\nabc\r\nEND\r\n"),
         [.value(key: "k", flags: UInt32.max, length: 3, cas: UInt64.max, data: b("abc")), .end]),
        (ReplyCase(name: "value holding CRLF, END and VALUE", bytes: "VALUE a 1 20\r\nEND\r\nVALUE x 0 1\r\n\r\n\r\nEND\r\n"),
         [.value(key: "a", flags: 1, length: 20, cas: nil, data: b("END\r\nVALUE x 0 1\r\n\r\n")), .end]),
        (ReplyCase(name: "empty value", bytes: "VALUE e 0 0\r\n\r\nEND\r\n"),
         [.value(key: "e", flags: 0, length: 0, cas: nil, data: []), .end]),
        (ReplyCase(name: "multi-get", bytes: "VALUE key1 0 2\r\nv1\r\nVALUE key3 7 3\r\nv33\r\nVALUE key4 0 0\r\n\r\nEND\r\n"),
         [.value(key: "key1", flags: 0, length: 2, cas: nil, data: b("v1")),
          .value(key: "key3", flags: 7, length: 3, cas: nil, data: b("v33")),
          .value(key: "key4", flags: 0, length: 0, cas: nil, data: []), .end]),
        (ReplyCase(name: "ERROR", bytes: "ERROR\r\n"), [.error(.error)]),
        (ReplyCase(name: "ERROR with text", bytes: "ERROR Too many open connections\r\n"), [.error(.error)]),
        (ReplyCase(name: "CLIENT_ERROR", bytes: "CLIENT_ERROR bad command line format\r\n"), [.error(.clientError)]),
        (ReplyCase(name: "SERVER_ERROR", bytes: "SERVER_ERROR out of memory storing object\r\n"), [.error(.serverError)]),
        (ReplyCase(name: "meta: HD, NS, EX, NF, EN, MN", bytes: "HD\r\nNS\r\nEX\r\nNF\r\nEN\r\nMN\r\n"),
         [.simple(.stored), .simple(.notStored), .simple(.exists), .simple(.notFound), .end, .end]),
        (ReplyCase(name: "meta: VA with k and f flags, then MN",
                   bytes: "VA 5 kkey0000001 f7\r\nhello\r\nVA 0 kx\r\n\r\nMN\r\n"),
         [.value(key: "key0000001", flags: 7, length: 5, cas: nil, data: b("hello")),
          .value(key: "x", flags: 0, length: 0, cas: nil, data: []), .end]),
        (ReplyCase(name: "meta: VA without a key, HD with flags", bytes: "VA 3\r\nabc\r\nHD c5\r\n"),
         [.value(key: "", flags: 0, length: 3, cas: nil, data: b("abc")), .simple(.stored)]),
        (ReplyCase(name: "pipelined mix",
                   bytes: "STORED\r\nEND\r\nVALUE key0000042 0 10\r\n0123456789\r\nEND\r\nCLIENT_ERROR line too long\r\nSTORED\r\n"),
         [.simple(.stored), .end, .value(key: "key0000042", flags: 0, length: 10, cas: nil, data: b("0123456789")), .end,
          .error(.clientError), .simple(.stored)]),
    ]

    @Test("well-formed replies parse the same at every split", arguments: 0..<wellFormed.count)
    func wellFormedAtEverySplit(_ i: Int) {
        let (c, expected) = Self.wellFormed[i]
        for (how, chunks) in everySplit(b(c.bytes)) {
            let (events, ok) = parse(chunks)
            #expect(ok, "\(c.name), \(how)")
            #expect(events == expected, "\(c.name), \(how)")
        }
    }

    @Test("a long value split at every byte (data streamed in pieces)")
    func longValue() {
        let value = (0..<3000).map { UInt8(ascii: "a") + UInt8($0 % 26) }
        let bytes = b("VALUE big 0 3000\r\n") + value + b("\r\nEND\r\n")
        for (how, chunks) in everySplit(bytes) {
            let (events, ok) = parse(chunks)
            #expect(ok, "\(how)")
            #expect(events == [.value(key: "big", flags: 0, length: 3000, cas: nil, data: value), .end], "\(how)")
        }
    }

    static let malformed: [(ReplyCase, [Event])] = [
        (ReplyCase(name: "unknown word", bytes: "STORD\r\n"), []),
        (ReplyCase(name: "bare LF", bytes: "STORED\n"), []),
        (ReplyCase(name: "trailing text after STORED", bytes: "STORED x\r\n"), []),
        (ReplyCase(name: "non-numeric flags", bytes: "VALUE k x 5\r\nhello\r\nEND\r\n"), []),
        (ReplyCase(name: "missing length", bytes: "VALUE k 0\r\n"), []),
        (ReplyCase(name: "junk after cas", bytes: "VALUE k 0 1 2 3\r\nx\r\nEND\r\n"), []),
        (ReplyCase(name: "data longer than announced", bytes: "VALUE k 0 3\r\nabcd\r\nEND\r\n"), []),
        (ReplyCase(name: "good replies then garbage", bytes: "STORED\r\nEND\r\nHELLO\r\nSTORED\r\n"), [.simple(.stored), .end]),
        (ReplyCase(name: "flags past 32 bits", bytes: "VALUE k 4294967296 1\r\nx\r\nEND\r\n"), []),
        (ReplyCase(name: "empty line", bytes: "\r\n"), []),
        (ReplyCase(name: "meta: VA without a length", bytes: "VA kx\r\n"), []),
        (ReplyCase(name: "meta: VA with a bad flag number", bytes: "VA 1 f1x\r\nx\r\n"), []),
    ]

    @Test("malformed replies are detected at every split", arguments: 0..<malformed.count)
    func malformedAtEverySplit(_ i: Int) {
        let (c, before) = Self.malformed[i]
        for (how, chunks) in everySplit(b(c.bytes)) {
            let (events, ok) = parse(chunks)
            #expect(!ok, "\(c.name), \(how)")
            #expect(events == before, "\(c.name), \(how)")
        }
    }

    @Test("a line longer than the line limit is malformed")
    func overlongLine() {
        let bytes = b("SERVER_ERROR ") + [UInt8](repeating: UInt8(ascii: "x"), count: ReplyParser.maxLineLength + 10)
        for (how, chunks) in [("whole", [bytes[...]]), ("halves", [bytes[..<100], bytes[100...]])] {
            let (events, ok) = parse(chunks)
            #expect(!ok, "\(how)")
            #expect(events.isEmpty)
        }
    }

    @Test("a failed parser stays failed; reset starts over")
    func failedStaysFailed() {
        let parser = ReplyParser()
        var sink = RecordingSink()
        #expect(!b("BOGUS\r\n").withUnsafeBytes { parser.feed($0, into: &sink) })
        #expect(!b("STORED\r\n").withUnsafeBytes { parser.feed($0, into: &sink) })
        #expect(sink.events.isEmpty)
        parser.reset()
        #expect(b("STORED\r\n").withUnsafeBytes { parser.feed($0, into: &sink) })
        #expect(sink.events == [.simple(.stored)])
    }
}
