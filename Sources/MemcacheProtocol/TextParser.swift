// Pure functions over request bytes: find the line, split it into tokens, read numbers with the
// rules of memcached's safe_strto* helpers. No allocation: tokens are (offset, length) pairs in a
// fixed-size array on the stack.

/// A token of the current line, relative to the input buffer.
public struct Token {
    public var start: Int
    public var count: Int
    public init(start: Int, count: Int) { self.start = start; self.count = count }
}

/// Up to 8 tokens of a line, memcached's tokenize_command (runs of non-space bytes; the last token
/// keeps the rest of the line when there are more). Get-style commands read keys past these.
public struct Tokens {
    public var t0 = Token(start: 0, count: 0), t1 = Token(start: 0, count: 0), t2 = Token(start: 0, count: 0)
    public var t3 = Token(start: 0, count: 0), t4 = Token(start: 0, count: 0), t5 = Token(start: 0, count: 0)
    public var t6 = Token(start: 0, count: 0), t7 = Token(start: 0, count: 0)
    public var count = 0
    public static let capacity = 8

    public init() {}

    @inline(__always)
    public subscript(_ i: Int) -> Token {
        get {
            switch i {
            case 0: return t0
            case 1: return t1
            case 2: return t2
            case 3: return t3
            case 4: return t4
            case 5: return t5
            case 6: return t6
            default: return t7
            }
        }
        set {
            switch i {
            case 0: t0 = newValue
            case 1: t1 = newValue
            case 2: t2 = newValue
            case 3: t3 = newValue
            case 4: t4 = newValue
            case 5: t5 = newValue
            case 6: t6 = newValue
            default: t7 = newValue
            }
        }
    }
}

/// One request line, tokenized once by the request loop (TextRequestLoop.swift): what a command
/// handler is given.
public struct TextLine {
    public let input: UnsafeRawBufferPointer
    /// The line is `input[start..<end]`, its line end excluded.
    public let start: Int
    public let end: Int
    public let tokens: Tokens
    /// More tokens than `Tokens.capacity`: `tokens[7]` starts the rest of the line.
    public let more: Bool

    @inlinable
    public init(_ input: UnsafeRawBufferPointer, start: Int, end: Int) {
        self.input = input
        self.start = start
        self.end = end
        var tokens = Tokens()
        more = TextParser.tokenize(input, start: start, end: end, into: &tokens)
        self.tokens = tokens
    }
}

public enum TextParser {
    /// Index of the first "\n" in `input[from..<input.count]`, or nil.
    @inline(__always)
    public static func findNewline(_ input: UnsafeRawBufferPointer, from: Int) -> Int? {
        guard from < input.count else { return nil }
        guard let p = memchr(input.baseAddress! + from, 0x0a, input.count - from) else { return nil }
        return UnsafeRawPointer(p) - input.baseAddress!
    }

    /// Splits input[start..<end] into tokens. When there are more than 8, `more` is true and
    /// tokens[7] starts where the 8th token starts (the caller re-scans from there).
    @inline(__always)
    public static func tokenize(_ input: UnsafeRawBufferPointer, start: Int, end: Int, into tokens: inout Tokens) -> Bool {
        tokens.count = 0
        var i = start
        while i < end {
            while i < end && input[i] == 0x20 { i += 1 }
            if i == end { break }
            let s = i
            while i < end && input[i] != 0x20 { i += 1 }
            if tokens.count == Tokens.capacity { return true }
            tokens[tokens.count] = Token(start: s, count: i - s)
            tokens.count += 1
        }
        return false
    }

    /// The next space-separated token at or after `from` before `end`.
    @inline(__always)
    public static func nextToken(_ input: UnsafeRawBufferPointer, from: Int, end: Int) -> Token? {
        var i = from
        while i < end && input[i] == 0x20 { i += 1 }
        if i == end { return nil }
        let s = i
        while i < end && input[i] != 0x20 { i += 1 }
        return Token(start: s, count: i - s)
    }

    @inline(__always)
    public static func equals(_ input: UnsafeRawBufferPointer, _ t: Token, _ literal: StaticString) -> Bool {
        t.count == literal.utf8CodeUnitCount && memcmp(input.baseAddress! + t.start, literal.utf8Start, t.count) == 0
    }

    /// Unsigned decimal up to `max` (memcached's safe_strtoul / safe_strtoull): optional '+',
    /// digits only. A '-' is refused.
    @inline(__always)
    public static func parseUnsigned(_ input: UnsafeRawBufferPointer, _ t: Token, max: UInt64 = .max) -> UInt64? {
        var i = t.start
        let end = t.start + t.count
        if i < end && input[i] == UInt8(ascii: "+") { i += 1 }
        if i == end { return nil }
        var v: UInt64 = 0
        while i < end {
            let d = input[i] &- 0x30
            if d > 9 { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(d))
            if o1 || o2 { return nil }
            v = a
            i += 1
        }
        return v <= max ? v : nil
    }

    /// Signed decimal within Int32 (memcached's safe_strtol).
    @inline(__always)
    public static func parseInt32(_ input: UnsafeRawBufferPointer, _ t: Token) -> Int32? {
        var i = t.start
        let end = t.start + t.count
        var negative = false
        if i < end && (input[i] == UInt8(ascii: "-") || input[i] == UInt8(ascii: "+")) {
            negative = input[i] == UInt8(ascii: "-")
            i += 1
        }
        guard i < end else { return nil }
        var v: Int64 = 0
        while i < end {
            let d = input[i] &- 0x30
            if d > 9 { return nil }
            v = v * 10 + Int64(d)
            if v > Int64(Int32.max) + 1 { return nil }
            i += 1
        }
        if negative { v = -v }
        return v >= Int64(Int32.min) && v <= Int64(Int32.max) ? Int32(v) : nil
    }

    /// A key is 1 to 250 bytes. Like memcached, any byte but the space that separates tokens is
    /// accepted (a NUL ends the line first, see `TextRequestLoop`); `strict` (`-o
    /// reject_key_control_chars`) also refuses control bytes (0x00-0x20, 0x7f), as protocol.txt
    /// asks of clients.
    @inline(__always)
    public static func isValidKey(_ input: UnsafeRawBufferPointer, _ t: Token, strict: Bool = false) -> Bool {
        if t.count == 0 || t.count > 250 { return false }
        if !strict { return true }
        var i = t.start
        let end = t.start + t.count
        while i < end {
            let b = input[i]
            if b < 0x21 || b == 0x7f { return false }
            i += 1
        }
        return true
    }
}

// memcached reads every number of a request with its safe_strto* helpers (util.c), which call
// strtoull/strtol with base 10 on the NUL-terminated token. What they accept is what memcached
// answers, so these mirror them: leading C whitespace (tab, CR, VT, FF) and a sign are skipped,
// at least one digit, a 64-bit overflow refuses, and what follows the digits must be the end of
// the token or a whitespace byte. The 32-bit forms then keep the low 32 bits, as memcached's
// assignment to a uint32_t / int32_t does (flags 2^32 + 1 are 1, an exptime of 2^32 - 1 is -1).
extension TextParser {
    /// C's isspace in the "C" locale.
    @inline(__always)
    static func isCSpace(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0d) }

    /// strtoull/strtoll's scan: the magnitude, its sign, and whether the token is acceptable
    /// (digits present, the rest of the token whitespace-led). `signedLimit` is the largest
    /// magnitude (Int64.max, or Int64.max + 1 when negative) for strtoll; nil for strtoull.
    @inline(__always)
    static func scanDecimal(_ input: UnsafeRawBufferPointer, _ t: Token, signed: Bool) -> (magnitude: UInt64, negative: Bool, sawMinus: Bool)? {
        var i = t.start
        let end = t.start + t.count
        while i < end && isCSpace(input[i]) { i += 1 }
        var negative = false
        if i < end && (input[i] == UInt8(ascii: "-") || input[i] == UInt8(ascii: "+")) {
            negative = input[i] == UInt8(ascii: "-")
            i += 1
        }
        let digitsStart = i
        var v: UInt64 = 0
        var overflow = false
        while i < end {
            let d = input[i] &- 0x30
            if d > 9 { break }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(d))
            if o1 || o2 { overflow = true }
            v = a
            i += 1
        }
        // No digits: strtoull's endptr stays at the token's start, which safe_strto* refuses.
        if i == digitsStart || overflow { return nil }
        if i < end && !isCSpace(input[i]) { return nil }
        if signed {
            let limit: UInt64 = negative ? UInt64(Int64.max) + 1 : UInt64(Int64.max)
            if v > limit { return nil }  // ERANGE
        }
        // safe_strtoull looks for a '-' anywhere in the token (strchr), not only as the sign.
        var sawMinus = negative
        if !sawMinus {
            var j = t.start
            while j < end { if input[j] == UInt8(ascii: "-") { sawMinus = true; break }; j += 1 }
        }
        return (v, negative, sawMinus)
    }

    /// memcached's safe_strtoull: an unsigned 64-bit number. A negative one is refused unless its
    /// two's complement is positive as a signed number (strtoull("-1") is 2^64 - 1: refused;
    /// "-0" is 0: accepted).
    @inline(__always)
    public static func memcachedUInt64(_ input: UnsafeRawBufferPointer, _ t: Token) -> UInt64? {
        guard let s = scanDecimal(input, t, signed: false) else { return nil }
        let v = s.negative ? 0 &- s.magnitude : s.magnitude
        if Int64(bitPattern: v) < 0 && s.sawMinus { return nil }
        return v
    }

    /// memcached's safe_strtoul into a uint32_t: safe_strtoull's rules, then the low 32 bits.
    @inline(__always)
    public static func memcachedUInt32(_ input: UnsafeRawBufferPointer, _ t: Token) -> UInt32? {
        memcachedUInt64(input, t).map { UInt32(truncatingIfNeeded: $0) }
    }

    /// memcached's safe_strtoll: a signed 64-bit number.
    @inline(__always)
    public static func memcachedInt64(_ input: UnsafeRawBufferPointer, _ t: Token) -> Int64? {
        guard let s = scanDecimal(input, t, signed: true) else { return nil }
        if s.negative { return s.magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(s.magnitude) }
        return Int64(s.magnitude)
    }

    /// memcached's safe_strtol into an int32_t: a signed 64-bit number, then the low 32 bits.
    @inline(__always)
    public static func memcachedInt32(_ input: UnsafeRawBufferPointer, _ t: Token) -> Int32? {
        memcachedInt64(input, t).map { Int32(truncatingIfNeeded: $0) }
    }

    /// A data block's byte count: memcached's safe_strtol and its 0...INT_MAX-2 check, except
    /// that a count that does not fit 32 bits is refused rather than truncated (README lists it).
    @inline(__always)
    public static func memcachedByteCount(_ input: UnsafeRawBufferPointer, _ t: Token) -> Int? {
        guard let v = memcachedInt64(input, t), v >= 0, v <= Int64(Int32.max) - 2 else { return nil }
        return Int(v)
    }
}

#if canImport(Glibc)
import Glibc
#endif
