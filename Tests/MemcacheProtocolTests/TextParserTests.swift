// TextParser: line splitting, tokenizing and memcached's number rules, as pure functions.
import MemcacheProtocol
import Testing

/// Runs `body` over the bytes of `s` with one token spanning all of it.
func withToken<R>(_ s: String, _ body: (UnsafeRawBufferPointer, Token) -> R) -> R {
    // A guard byte after the token: the parsers must stop at the token's end.
    let bytes = Array(s.utf8) + [UInt8(ascii: "9")]
    return bytes.withUnsafeBytes { body($0, Token(start: 0, count: s.utf8.count)) }
}

func tokenize(_ line: String) -> (tokens: [String], more: Bool) {
    let bytes = Array(line.utf8)
    return bytes.withUnsafeBytes { buf in
        var tokens = Tokens()
        let more = TextParser.tokenize(buf, start: 0, end: buf.count, into: &tokens)
        let strings = (0..<tokens.count).map { i -> String in
            let t = tokens[i]
            return String(decoding: buf[t.start..<t.start + t.count], as: UTF8.self)
        }
        return (strings, more)
    }
}

@Suite("TextParser")
struct TextParserTests {
    @Test("tokenize splits on runs of spaces and ignores leading and trailing ones")
    func tokenizeSpaces() {
        #expect(tokenize("set k 0 0 5") == (["set", "k", "0", "0", "5"], false))
        #expect(tokenize("  get    a  b   ") == (["get", "a", "b"], false))
        #expect(tokenize("") == ([], false))
        #expect(tokenize("     ") == ([], false))
        #expect(tokenize("one") == (["one"], false))
        // Only spaces separate: a tab is part of a token.
        #expect(tokenize("a\tb c") == (["a\tb", "c"], false))
    }

    @Test("more than 8 tokens: the first 8 and `more`")
    func tokenizeOverflow() {
        #expect(tokenize("1 2 3 4 5 6 7 8") == (["1", "2", "3", "4", "5", "6", "7", "8"], false))
        #expect(tokenize("1 2 3 4 5 6 7 8   ") == (["1", "2", "3", "4", "5", "6", "7", "8"], false))
        #expect(tokenize("1 2 3 4 5 6 7 8 9") == (["1", "2", "3", "4", "5", "6", "7", "8"], true))
        #expect(tokenize("get a b c d e f g h i j k") == (["get", "a", "b", "c", "d", "e", "f", "g"], true))
    }

    @Test("tokenize respects the start and end it is given")
    func tokenizeRange() {
        let bytes = Array("xxget a b\r\nyy".utf8)
        bytes.withUnsafeBytes { buf in
            var tokens = Tokens()
            let more = TextParser.tokenize(buf, start: 2, end: 9, into: &tokens)
            #expect(!more)
            #expect(tokens.count == 3)
            #expect(tokens[0].start == 2 && tokens[0].count == 3)
            #expect(tokens[2].start == 8 && tokens[2].count == 1)
            #expect(TextParser.equals(buf, tokens[0], "get"))
            #expect(!TextParser.equals(buf, tokens[0], "gets"))
            #expect(!TextParser.equals(buf, tokens[1], "b"))
        }
    }

    @Test("nextToken walks the keys of a long get line")
    func nextToken() {
        let bytes = Array("get  a bb   ccc ".utf8)
        bytes.withUnsafeBytes { buf in
            var keys: [String] = []
            var t = TextParser.nextToken(buf, from: 3, end: buf.count)
            while let tok = t {
                keys.append(String(decoding: buf[tok.start..<tok.start + tok.count], as: UTF8.self))
                t = TextParser.nextToken(buf, from: tok.start + tok.count, end: buf.count)
            }
            #expect(keys == ["a", "bb", "ccc"])
        }
    }

    @Test("findNewline finds the first LF at or after the start")
    func findNewline() {
        let bytes = Array("ab\ncd\r\nef".utf8)
        bytes.withUnsafeBytes { buf in
            #expect(TextParser.findNewline(buf, from: 0) == 2)
            #expect(TextParser.findNewline(buf, from: 2) == 2)
            #expect(TextParser.findNewline(buf, from: 3) == 6)
            #expect(TextParser.findNewline(buf, from: 7) == nil)
            #expect(TextParser.findNewline(buf, from: buf.count) == nil)
        }
    }

    @Test("parseUnsigned: digits with an optional '+', up to 2^64-1",
          arguments: [("0", UInt64(0)), ("+5", 5), ("42", 42), ("18446744073709551615", UInt64.max),
                      ("000000000000000000000000007", 7)])
    func parseUnsignedValid(_ text: String, _ value: UInt64) {
        #expect(withToken(text) { TextParser.parseUnsigned($0, $1) } == value)
    }

    @Test("parseUnsigned refuses signs, junk, empty and overflow",
          arguments: ["", "+", "-1", "-0", "12a", "a12", "1 2", "18446744073709551616", "99999999999999999999999", "++1", "0x1"])
    func parseUnsignedInvalid(_ text: String) {
        #expect(withToken(text) { TextParser.parseUnsigned($0, $1) } == nil)
    }

    @Test("parseUnsigned with a maximum (flags: 2^32-1)")
    func parseUnsignedMax() {
        let max = UInt64(UInt32.max)
        #expect(withToken("4294967295") { TextParser.parseUnsigned($0, $1, max: max) } == 4_294_967_295)
        #expect(withToken("4294967296") { TextParser.parseUnsigned($0, $1, max: max) } == nil)
        #expect(withToken("0") { TextParser.parseUnsigned($0, $1, max: 0) } == 0)
        #expect(withToken("1") { TextParser.parseUnsigned($0, $1, max: 0) } == nil)
    }

    @Test("parseInt32: signed decimal within Int32",
          arguments: [("0", Int32(0)), ("-0", 0), ("+7", 7), ("-1", -1), ("2147483647", .max), ("-2147483648", .min),
                      ("00000000010", 10)])
    func parseInt32Valid(_ text: String, _ value: Int32) {
        #expect(withToken(text) { TextParser.parseInt32($0, $1) } == value)
    }

    @Test("parseInt32 refuses out-of-range numbers and junk",
          arguments: ["2147483648", "-2147483649", "4294967296", "99999999999", "99999999999999999999", "", "-", "+",
                      "1x", "x1", "--1", "+-1", "1-"])
    func parseInt32Invalid(_ text: String) {
        #expect(withToken(text) { TextParser.parseInt32($0, $1) } == nil)
    }

    @Test("parseInt32 accepts leading zeros, as strtol does")
    func parseInt32LeadingZeros() {
        // memcached's safe_strtol (strtol) reads "000000000010" as 10; 12 digits are refused here.
        #expect(withToken("000000000010") { TextParser.parseInt32($0, $1) } == 10)
    }

    @Test("isValidKey: 1 to 250 bytes of anything, as memcached; strict: no control characters or spaces")
    func validKeys() {
        for strict in [false, true] {
            #expect(withToken("k") { TextParser.isValidKey($0, $1, strict: strict) })
            #expect(withToken(String(repeating: "a", count: 250)) { TextParser.isValidKey($0, $1, strict: strict) })
            #expect(withToken("ключ-ü") { TextParser.isValidKey($0, $1, strict: strict) })     // bytes ≥ 0x80 are fine
            #expect(withToken("a!~{}") { TextParser.isValidKey($0, $1, strict: strict) })
            #expect(!withToken("") { TextParser.isValidKey($0, $1, strict: strict) })
            #expect(!withToken(String(repeating: "a", count: 251)) { TextParser.isValidKey($0, $1, strict: strict) })
        }
        for control in ["a\u{0}b", "a\u{1}", "\tk", "k\r", "k\u{7f}", "a b"] {
            #expect(withToken(control) { TextParser.isValidKey($0, $1) }, "\(Array(control.utf8))")
            #expect(!withToken(control) { TextParser.isValidKey($0, $1, strict: true) }, "\(Array(control.utf8))")
        }
        #expect(!withToken(String(repeating: "\u{1}", count: 251)) { TextParser.isValidKey($0, $1) })
    }

    @Test("memcachedUInt64: safe_strtoull's rules (whitespace, sign, a '-' only when the result stays positive)",
          arguments: [("0", UInt64(0)), ("+5", 5), ("-0", 0), ("\t7", 7), ("8\t", 8), ("9\rjunk", 9),
                      ("18446744073709551615", UInt64.max), ("-18446744073709551615", 1), ("007", 7)])
    func memcachedUInt64Valid(_ text: String, _ value: UInt64) {
        #expect(withToken(text) { TextParser.memcachedUInt64($0, $1) } == value)
    }

    @Test("memcachedUInt64 refuses no digits, junk after them, overflow and negatives that wrap",
          arguments: ["", "+", "-", "x", "5x", "0x10", "1e3", "18446744073709551616", "-1", "-5", " "])
    func memcachedUInt64Invalid(_ text: String) {
        #expect(withToken(text) { TextParser.memcachedUInt64($0, $1) } == nil)
    }

    @Test("memcachedUInt32 keeps the low 32 bits (flags, verbosity, cache_memlimit)")
    func memcachedUInt32() {
        #expect(withToken("4294967295") { TextParser.memcachedUInt32($0, $1) } == UInt32.max)
        #expect(withToken("4294967296") { TextParser.memcachedUInt32($0, $1) } == 0)
        #expect(withToken("4294967297") { TextParser.memcachedUInt32($0, $1) } == 1)
        #expect(withToken("1099511627776") { TextParser.memcachedUInt32($0, $1) } == 0)
        #expect(withToken("18446744073709551615") { TextParser.memcachedUInt32($0, $1) } == UInt32.max)
        #expect(withToken("-1") { TextParser.memcachedUInt32($0, $1) } == nil)
    }

    @Test("memcachedInt32: a signed 64-bit number, then the low 32 bits (exptime, T, slabs ids, temp_ttl)",
          arguments: [("0", Int32(0)), ("-1", -1), ("2147483647", Int32.max), ("2147483648", Int32.min),
                      ("4294967295", -1), ("4294967296", 0), ("-2147483649", Int32.max),
                      ("99999999999", 1_215_752_191), ("9223372036854775807", -1), ("-9223372036854775808", 0)])
    func memcachedInt32Valid(_ text: String, _ value: Int32) {
        #expect(withToken(text) { TextParser.memcachedInt32($0, $1) } == value)
    }

    @Test("memcachedInt32 refuses past 64 bits and junk",
          arguments: ["9223372036854775808", "-9223372036854775809", "x", "1x", "", "-"])
    func memcachedInt32Invalid(_ text: String) {
        #expect(withToken(text) { TextParser.memcachedInt32($0, $1) } == nil)
    }

    @Test("memcachedByteCount: 0 to 2^31-3; past 32 bits refused, not truncated")
    func memcachedByteCount() {
        #expect(withToken("0") { TextParser.memcachedByteCount($0, $1) } == 0)
        #expect(withToken("2147483645") { TextParser.memcachedByteCount($0, $1) } == 2_147_483_645)
        #expect(withToken("2147483646") { TextParser.memcachedByteCount($0, $1) } == nil)
        #expect(withToken("-1") { TextParser.memcachedByteCount($0, $1) } == nil)
        #expect(withToken("4294967297") { TextParser.memcachedByteCount($0, $1) } == nil)
    }
}
