// The RESP reply parser and the null server's request framer, fed every input whole, split in two
// at every byte, and byte by byte; the compare report's Markdown and SVG with four servers.
import Testing
@testable import LoadTestCore

enum RESPEvent: Equatable, CustomStringConvertible {
    case simple(String)
    case error
    case integer(Int64)
    case bulk([UInt8])
    case nilBulk
    case array(Int)

    var description: String {
        switch self {
        case .simple(let s): return "+\(s)"
        case .error: return "-ERR"
        case .integer(let v): return ":\(v)"
        case .bulk(let d): return "$\(String(decoding: d, as: UTF8.self).debugDescription)"
        case .nilBulk: return "$-1"
        case .array(let n): return "*\(n)"
        }
    }
}

struct RESPRecordingSink: RESPSink {
    var events: [RESPEvent] = []
    var open: Int? = nil
    var data: [UInt8] = []

    mutating func simpleString(_ text: UnsafeRawBufferPointer) { events.append(.simple(String(decoding: text, as: UTF8.self))) }
    mutating func errorString(line: UnsafeRawBufferPointer) { events.append(.error) }
    mutating func integer(_ value: Int64) { events.append(.integer(value)) }
    mutating func bulkHeader(length: Int) {
        precondition(open == nil)
        if length < 0 { events.append(.nilBulk); return }
        open = length
        data = []
    }
    mutating func bulkData(_ bytes: UnsafeRawBufferPointer) {
        precondition(open != nil && !bytes.isEmpty)
        data.append(contentsOf: bytes)
    }
    mutating func bulkEnd() {
        #expect(data.count == open!)
        events.append(.bulk(data))
        open = nil
    }
    mutating func arrayHeader(count: Int) { events.append(.array(count)) }
}

func parseRESP(_ chunks: [ArraySlice<UInt8>]) -> (events: [RESPEvent], ok: Bool) {
    let parser = RESPParser()
    var sink = RESPRecordingSink()
    var ok = true
    for chunk in chunks where ok {
        ok = Array(chunk).withUnsafeBytes { parser.feed($0, into: &sink) }
    }
    #expect(parser.failed == !ok)
    return (sink.events, ok)
}

@Suite("RESP reply parser")
struct RESPParserTests {
    static let wellFormed: [(String, [RESPEvent])] = [
        ("+OK\r\n", [.simple("OK")]),
        ("-ERR unknown command 'version'\r\n", [.error]),
        (":1000\r\n:-5\r\n", [.integer(1000), .integer(-5)]),
        ("$5\r\nhello\r\n", [.bulk(b("hello"))]),
        ("$0\r\n\r\n", [.bulk([])]),
        ("$-1\r\n", [.nilBulk]),
        ("$4\r\n\r\n\r\n\r\n", [.bulk(b("\r\n\r\n"))]),
        ("*3\r\n$1\r\na\r\n$-1\r\n$2\r\nbc\r\n", [.array(3), .bulk(b("a")), .nilBulk, .bulk(b("bc"))]),
        ("*0\r\n*-1\r\n", [.array(0), .array(-1)]),
        ("+OK\r\n$3\r\nxyz\r\n*1\r\n$-1\r\n-WRONGTYPE x\r\n", [.simple("OK"), .bulk(b("xyz")), .array(1), .nilBulk, .error]),
    ]

    @Test("well-formed replies parse the same however they are split", arguments: wellFormed.indices)
    func wellFormedReplies(_ i: Int) {
        let (text, expected) = Self.wellFormed[i]
        for (how, chunks) in everySplit(b(text)) {
            let (events, ok) = parseRESP(chunks)
            #expect(ok, "\(text.debugDescription) \(how)")
            #expect(events == expected, "\(text.debugDescription) \(how)")
        }
    }

    static let malformed: [String] = [
        "OK\r\n",             // no type byte
        "+OK\n",              // LF without CR
        "$abc\r\n",           // not a number
        "$-2\r\n",            // negative length other than -1
        "$3\r\nabcd\r\n",     // data longer than announced
        "$3\r\nab\r\n\r\n",   // data shorter: the CR lands where LF... then garbage
        ":\r\n",              // empty integer
        "*x\r\n",
        "$99999999999999999999\r\n",
    ]

    @Test("malformed replies fail, however they are split", arguments: malformed)
    func malformedReplies(_ text: String) {
        for (how, chunks) in everySplit(b(text)) {
            let (_, ok) = parseRESP(chunks)
            #expect(!ok, "\(text.debugDescription) \(how)")
        }
    }

    @Test("a line longer than the limit fails")
    func longLine() {
        let (_, ok) = parseRESP([b("+" + String(repeating: "x", count: RESPParser.maxLineLength + 10))[...]])
        #expect(!ok)
    }
}

/// Feeds `chunks` to one framer; returns the replies and whether the connection stays open.
func frame(_ chunks: [ArraySlice<UInt8>]) -> (String, Bool) {
    var framer = NullFramer()
    var out: [UInt8] = []
    for chunk in chunks {
        let keep = Array(chunk).withUnsafeBufferPointer { framer.feed($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, $0.count, out: &out) }
        if !keep { return (String(decoding: out, as: UTF8.self), false) }
    }
    return (String(decoding: out, as: UTF8.self), true)
}

@Suite("null server framer")
struct NullFramerTests {
    static let cases: [(String, String, Bool)] = [
        ("get a\r\n", "END\r\n", true),
        ("get a b c d e f g h i j k l m n o p\r\n", "END\r\n", true),
        ("gets a\r\ngat 0 a\r\n", "END\r\nEND\r\n", true),
        ("set k 0 0 3\r\nabc\r\n", "STORED\r\n", true),
        ("set k 0 0 5\r\nget x\r\n", "STORED\r\n", true),   // a data block is skipped, not parsed
        ("set k 0 0 0\r\n\r\nget k\r\n", "STORED\r\nEND\r\n", true),
        ("add k 1 2 3 noreply\r\nabc\r\nget k\r\n", "END\r\n", true),
        ("cas k 0 0 2 77\r\nab\r\n", "STORED\r\n", true),
        ("append k 0 0 2\r\nab\r\nprepend k 0 0 2\r\nab\r\nreplace k 0 0 2\r\nab\r\n", "STORED\r\nSTORED\r\nSTORED\r\n", true),
        ("set k 0 0\r\n", "CLIENT_ERROR bad command line format\r\n", true),
        ("set k 0 0 x\r\n", "CLIENT_ERROR bad command line format\r\n", true),
        ("mg k v\r\nms k 2 T0\r\nab\r\nmn\r\n", "EN\r\nHD\r\nMN\r\n", true),
        ("ms k 2 q\r\nab\r\nmn\r\n", "MN\r\n", true),
        ("delete k\r\nincr k 1\r\ndelete k noreply\r\n", "NOT_FOUND\r\nNOT_FOUND\r\n", true),
        ("version\r\n", "VERSION null\r\n", true),
        ("bogus\r\n\r\nget\r\n", "ERROR\r\nERROR\r\nERROR\r\n", true),
        ("get a\nget b\r\n", "END\r\nEND\r\n", true),
        ("get a\r\nquit\r\nget b\r\n", "END\r\n", false),
    ]

    @Test("requests frame the same however they are split", arguments: cases.indices)
    func framing(_ i: Int) {
        let (input, expected, open) = Self.cases[i]
        for (how, chunks) in everySplit(b(input)) {
            let (out, keep) = frame(chunks)
            #expect(out == expected, "\(input.debugDescription) \(how)")
            #expect(keep == open, "\(input.debugDescription) \(how)")
        }
    }

    @Test("a line longer than the limit closes the connection")
    func longLine() {
        let (out, keep) = frame([b("get " + String(repeating: "k", count: NullFramer.maxLineLength))[...]])
        #expect(!keep)
        #expect(out == "CLIENT_ERROR line too long\r\n")
    }

    @Test("a 4 KB value split across reads is skipped whole")
    func largeValue() {
        let value = String(repeating: "v", count: 4096)
        let input = b("set k 0 0 4096\r\n" + value + "\r\nget k\r\n")
        for cut in stride(from: 0, through: input.count, by: 97) {
            let (out, keep) = frame([input[..<cut], input[cut...]])
            #expect(out == "STORED\r\nEND\r\n" && keep, "cut at \(cut)")
        }
    }
}

@Suite("compare report")
struct CompareReportTests {
    static func report() -> CompareReport {
        var o = CompareOptions()
        o.rounds = 1
        o.durationSeconds = 1
        let servers = ["swiftcached", "memcached", "redis", "null"]
        var samples: [CompareSample] = []
        for w in o.workloads {
            for (i, s) in servers.enumerated() {
                samples.append(CompareSample(round: 1, workload: w.name, server: s, opsPerSecond: Double(100_000 * (i + 1)),
                                             p99: UInt64(500_000 * (i + 1)), cpuSeconds: 1, errors: 0, hitRatio: 0.5, elapsed: 1))
            }
        }
        return CompareReport(options: o, servers: servers, versions: ["memcached": "VERSION 1.6.18", "redis": "redis 7.0.15"],
                             samples: samples, started: "2026-11-25 00:00 UTC", machine: "2 cores, test & CPU <x>")
    }

    @Test("the Markdown tables have a column per server and ratios to each")
    func markdown() {
        let md = Self.report().markdown
        #expect(md.contains("| workload | swiftcached ops/s | memcached ops/s | redis ops/s | null (ceiling) ops/s | swiftcached/memcached | swiftcached/redis | swiftcached/null |"))
        #expect(md.contains("| p1: 1:9 set:get, 100 B, 100k keys, pipeline 1 | 100,000 | 200,000 | 300,000 | 400,000 | 0.50× | 0.33× | 0.25× | 500.0 µs | 1.00 ms | 1.50 ms | 2.00 ms |"))
        for name in ["p1", "p16", "mget16", "4k", "zipf"] { #expect(md.contains("| \(name)")) }
        // Every table line has the header's number of cells.
        for table in md.split(separator: "\n\n") where table.hasPrefix("|") {
            let lines = table.split(separator: "\n")
            let cells = lines.map { $0.filter { $0 == "|" }.count }
            #expect(Set(cells).count == 1, "\(table)")
        }
    }

    @Test("the SVG is one document with a bar per server and workload in each panel, escaped text")
    func svg() {
        let svg = Self.report().svg
        #expect(svg.hasPrefix("<?xml"))
        #expect(svg.hasSuffix("</svg>\n"))
        let bars = svg.ranges(of: "<title>").count
        #expect(bars == 2 * 4 * 5)
        #expect(svg.contains("test &amp; CPU &lt;x&gt;"))
        #expect(!svg.contains("test & CPU"))
        for label in ["null (ceiling)", "memcached 1.6.18", "redis 7.0.15", "100k", "400k", "500µs", "2.00ms", "mget16", "zipf"] {
            #expect(svg.contains(label), "\(label)")
        }
        #expect(svg.ranges(of: "<text ").count == svg.ranges(of: "</text>").count)
    }

    @Test("compact numbers")
    func compact() {
        #expect(formatCompact(950) == "950")
        #expect(formatCompact(142_696) == "143k")
        #expect(formatCompact(12_345) == "12.3k")
        #expect(formatCompact(1_293_876) == "1.29M")
        #expect(formatLatencyCompact(1_050_000) == "1.05ms")
        #expect(formatLatencyCompact(640_200) == "640µs")
    }
}
