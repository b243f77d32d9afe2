// The RESP request parser against redis-server 7's rules: multibulk and inline requests, every
// split of a pipeline, redis's inline quoting, and each protocol error in redis's words.
import RESP
import Testing

/// Parses every request in `bytes` (all present at once) into argument lists; stops at an error.
private func parseAll(_ bytes: [UInt8], parser: RESPRequestParser = RESPRequestParser()) -> (requests: [[String]], error: RESPProtocolError?, rest: Int) {
    var requests: [[String]] = []
    return bytes.withUnsafeBytes { input in
        var pos = 0
        while true {
            switch parser.parse(input, from: pos) {
            case .request(let end):
                requests.append((0..<parser.argumentCount).map { String(decoding: parser.argument($0), as: UTF8.self) })
                pos = end
            case .needMore:
                return (requests, nil, input.count - pos)
            case .error(let e):
                return (requests, e, input.count - pos)
            }
        }
    }
}

/// Feeds `bytes` as a connection would: the input grows by one piece at a time and consumed bytes
/// are dropped, so a request cut short is parsed again from its start with more input.
private func parseSplit(_ bytes: [UInt8], cuts: [Int]) -> [[String]] {
    let parser = RESPRequestParser()
    var buffer: [UInt8] = []
    var requests: [[String]] = []
    var last = 0
    for cut in cuts + [bytes.count] {
        buffer += bytes[last..<cut]
        last = cut
        var consumed = 0
        buffer.withUnsafeBytes { input in
            while true {
                guard case .request(let end) = parser.parse(input, from: consumed) else { break }
                requests.append((0..<parser.argumentCount).map { String(decoding: parser.argument($0), as: UTF8.self) })
                consumed = end
            }
        }
        buffer.removeFirst(consumed)
    }
    return requests
}

@Suite("RESP request parser")
struct RESPRequestParserTests {
    @Test func multibulk() {
        let r = parseAll(Array("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*1\r\n$4\r\nPING\r\n".utf8))
        #expect(r.requests == [["SET", "k", "hello"], ["PING"]])
        #expect(r.error == nil && r.rest == 0)
    }

    @Test func binarySafeBulk() {
        let r = parseAll(Array("*2\r\n$3\r\nGET\r\n$4\r\na\r\nb\r\n".utf8))
        #expect(r.requests == [["GET", "a\r\nb"]])
    }

    @Test func emptyBulkAndEmptyRequestsAreSkipped() {
        let r = parseAll(Array("*0\r\n*-1\r\n\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n".utf8))
        #expect(r.requests == [["ECHO", ""]])
    }

    @Test func everySplitOfAPipeline() {
        let pipeline = Array("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$10\r\n0123456789\r\nPING\r\n*2\r\n$3\r\nGET\r\n$3\r\nkey\r\nECHO \"a b\"\n".utf8)
        let expected = [["SET", "key", "0123456789"], ["PING"], ["GET", "key"], ["ECHO", "a b"]]
        for cut in 1..<pipeline.count {
            #expect(parseSplit(pipeline, cuts: [cut]) == expected, "cut at \(cut)")
        }
        for a in stride(from: 1, to: pipeline.count, by: 3) {
            for b in stride(from: a + 1, to: pipeline.count, by: 5) {
                #expect(parseSplit(pipeline, cuts: [a, b]) == expected, "cuts at \(a), \(b)")
            }
        }
        #expect(parseSplit(pipeline, cuts: Array(1..<pipeline.count)) == expected)
    }

    @Test func inlineCommands() {
        let r = parseAll(Array("PING\r\nSET k v\nGET   k  \r\n  \r\n\tECHO\tx\r\n".utf8))
        #expect(r.requests == [["PING"], ["SET", "k", "v"], ["GET", "k"], ["ECHO", "x"]])
    }

    @Test func inlineQuotingAsRedis() {
        let r = parseAll(Array(#"SET "a b" 'c d'"# .utf8) + [0x0A]
            + Array(#"ECHO "\x41\x4a\n\t\\\"" 'it\'s' "\q""# .utf8) + [0x0A]
            + Array(#"ECHO a"b c""# .utf8) + [0x0A]
            + Array(#"ECHO "" ''"# .utf8) + [0x0A])
        #expect(r.error == nil)
        #expect(r.requests == [["SET", "a b", "c d"], ["ECHO", "AJ\n\t\\\"", "it's", "q"], ["ECHO", "ab c"], ["ECHO", "", ""]])
    }

    @Test func inlineBadHexEscapeIsLiteral() {
        let r = parseAll(Array(#"ECHO "\xZZ""# .utf8) + [0x0A])
        #expect(r.requests == [["ECHO", "xZZ"]])
    }

    @Test func unbalancedQuotes() {
        for line in [#"ECHO "abc"#, #"ECHO 'abc"#, #"ECHO "a"b"#, #"ECHO 'a'b"#, #"ECHO a"b c"d"#] {
            let r = parseAll(Array(line.utf8) + [0x0D, 0x0A])
            #expect(r.error == .unbalancedQuotes, "\(line)")
            #expect(r.error?.reply == "-ERR Protocol error: unbalanced quotes in request\r\n")
        }
    }

    @Test func multibulkErrors() {
        #expect(parseAll(Array("*x\r\n".utf8)).error == .invalidMultibulkLength)
        // string2ll takes "0" only alone: "-0" and "00" are not lengths.
        #expect(parseAll(Array("*-0\r\n".utf8)).error == .invalidMultibulkLength)
        #expect(parseAll(Array("*00\r\n".utf8)).error == .invalidMultibulkLength)
        #expect(parseAll(Array("*1\r\n$-0\r\n".utf8)).error == .invalidBulkLength)
        #expect(parseAll(Array("*1\r\n$00\r\n".utf8)).error == .invalidBulkLength)
        #expect(parseAll(Array("*0\r\n*1\r\n$0\r\n\r\n".utf8)).error == nil)
        #expect(parseAll(Array("*01\r\n".utf8)).error == .invalidMultibulkLength)
        #expect(parseAll(Array("*+1\r\n".utf8)).error == .invalidMultibulkLength)
        #expect(parseAll(Array("*99999999999\r\n".utf8)).error == .invalidMultibulkLength)
        #expect(parseAll(Array("*1\r\n+PING\r\n".utf8)).error == .expectedDollar(got: UInt8(ascii: "+")))
        #expect(RESPProtocolError.expectedDollar(got: UInt8(ascii: "+")).reply == "-ERR Protocol error: expected '$', got '+'\r\n")
        #expect(parseAll(Array("*1\r\n$-1\r\n".utf8)).error == .invalidBulkLength)
        #expect(parseAll(Array("*1\r\n$536870913\r\n".utf8)).error == .invalidBulkLength)
        #expect(parseAll(Array("*1\r\n$x\r\n".utf8)).error == .invalidBulkLength)
    }

    /// Count and length lines of up to 18 digits are read in one pass, longer or odd ones by the
    /// general path: both give redis's answer at the boundary.
    @Test func countLinesReadInOnePassAgreeWithTheGeneralPath() {
        let wide = RESPLimits(maxBulkLength: Int.max, maxMultibulkLength: Int.max)
        // 18 digits (one pass), 19 (general path, still an integer), 20 (overflow).
        #expect(parseAll(Array("*100000000000000000\r\n".utf8), parser: RESPRequestParser(limits: wide)).error == nil)
        #expect(parseAll(Array("*1000000000000000000\r\n".utf8), parser: RESPRequestParser(limits: wide)).error == nil)
        #expect(parseAll(Array("*99999999999999999999\r\n".utf8), parser: RESPRequestParser(limits: wide)).error == .invalidMultibulkLength)
        #expect(parseAll(Array("*1\r\n$100000000000000000\r\n".utf8), parser: RESPRequestParser(limits: wide)).error == nil)
        #expect(parseAll(Array("*1\r\n$99999999999999999999\r\n".utf8), parser: RESPRequestParser(limits: wide)).error == .invalidBulkLength)
        // redis skips the byte after a line's CR without looking at it.
        #expect(parseAll(Array("*2\rX$3\rYGET\r\n$1\r\nk\r\n".utf8)).requests == [["GET", "k"]])
        // A digit run ended by anything but CR is no length.
        #expect(parseAll(Array("*2x\r\n".utf8)).error == .invalidMultibulkLength)
        #expect(parseAll(Array("*1\r\n$3 \r\nGET\r\n".utf8)).error == .invalidBulkLength)
        // Cut right after the CR: nothing is taken until the line's second byte is in.
        let r = parseAll(Array("*1\r\n$4\r".utf8))
        #expect(r.error == nil && r.requests.isEmpty)
        #expect(parseSplit(Array("*1\r\n$4\r\nPING\r\n".utf8), cuts: [2, 3, 7, 8]) == [["PING"]])
    }

    @Test func countLinesAndInlineAreBounded() {
        let long = [UInt8](repeating: UInt8(ascii: "1"), count: 70_000)
        #expect(parseAll([UInt8(ascii: "*")] + long).error == .tooBigMultibulkCountString)
        #expect(parseAll(Array("*1\r\n$".utf8) + long).error == .tooBigBulkCountString)
        #expect(parseAll(Array("GET ".utf8) + long).error == .tooBigInlineRequest)
        // Under the bound it is only incomplete.
        #expect(parseAll(Array("GET ".utf8) + long.prefix(60_000)).error == nil)
    }

    @Test func unauthenticatedBounds() {
        let parser = RESPRequestParser()
        parser.unauthenticated = true
        #expect(parseAll(Array("*11\r\n".utf8), parser: parser).error == .unauthenticatedMultibulkLength)
        #expect(parseAll(Array("*1\r\n$16385\r\n".utf8), parser: parser).error == .unauthenticatedBulkLength)
        let ok = parseAll(Array("*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n".utf8), parser: parser)
        #expect(ok.requests == [["AUTH", "pw"]])
    }

    @Test func lengthLimitIsConfigurable() {
        let parser = RESPRequestParser(limits: RESPLimits(maxBulkLength: 10))
        #expect(parseAll(Array("*1\r\n$11\r\n".utf8), parser: parser).error == .invalidBulkLength)
        #expect(parseAll(Array("*1\r\n$10\r\n0123456789\r\n".utf8), parser: parser).requests == [["0123456789"]])
    }

    @Test func wideRequestGrowsAndShrinks() {
        var bytes = Array("*1001\r\n$4\r\nMSET\r\n".utf8)
        for i in 0..<1000 { let s = "k\(i)"; bytes += Array("$\(s.utf8.count)\r\n\(s)\r\n".utf8) }
        let parser = RESPRequestParser()
        let r = parseAll(bytes, parser: parser)
        #expect(r.requests.count == 1 && r.requests[0].count == 1001 && r.requests[0][1000] == "k999")
        let grown = parser.retainedBytes
        parser.shrink()
        #expect(parser.retainedBytes < grown)
        #expect(parseAll(Array("*1\r\n$4\r\nPING\r\n".utf8), parser: parser).requests == [["PING"]])
    }
}
