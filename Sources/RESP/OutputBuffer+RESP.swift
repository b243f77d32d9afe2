// RESP replies written straight into a connection's OutputBuffer, in RESP2 or RESP3 as the
// connection's HELLO chose. The types RESP2 lacks degrade as redis-server degrades them: a map is
// an array of key/value pairs, a set an array, a push an array, a double a bulk string, a boolean
// the integer 1 or 0, null the null bulk string (`$-1`) or null array (`*-1`).
import Platform
#if canImport(Glibc)
import Glibc
#endif

/// The protocol a connection speaks, chosen by `HELLO 2|3` (2 until then).
public enum RESPVersion: UInt8, Sendable {
    case resp2 = 2
    case resp3 = 3
}

extension OutputBuffer {
    /// `+text\r\n`.
    @inline(__always)
    public func appendRESPSimple(_ text: StaticString) {
        append(byte: UInt8(ascii: "+"))
        append(text)
        append("\r\n" as StaticString)
    }

    /// `+OK\r\n`.
    @inline(__always)
    public func appendRESPOK() { append("+OK\r\n" as StaticString) }

    /// `-text\r\n`: `text` holds the error code too ("ERR ...", "WRONGTYPE ...").
    public func appendRESPError(_ text: StaticString) {
        append(byte: UInt8(ascii: "-"))
        append(text)
        append("\r\n" as StaticString)
    }

    /// An error whose text is built at run time (it names a command or an argument); CR and LF in
    /// it become spaces, as redis's addReplyErrorLength makes them, so the reply stays one line.
    public func appendRESPError(_ text: String) {
        append(byte: UInt8(ascii: "-"))
        for b in text.utf8 { append(byte: b == 0x0D || b == 0x0A ? 0x20 : b) }
        append("\r\n" as StaticString)
    }

    /// An error built from raw bytes (it echoes a client's bytes), CR and LF made spaces.
    public func appendRESPError(bytes text: UnsafeRawBufferPointer) {
        append(byte: UInt8(ascii: "-"))
        for b in text { append(byte: b == 0x0D || b == 0x0A ? 0x20 : b) }
        append("\r\n" as StaticString)
    }

    /// `:n\r\n`.
    @inline(__always)
    public func appendRESPInteger(_ v: Int64) {
        appendRESPLengthLine(UInt8(ascii: ":"), v.magnitude, negative: v < 0)
    }

    /// `$n\r\n` then the caller's `n` bytes and `\r\n` (a bulk string from item memory).
    @inline(__always)
    public func appendRESPBulkHeader(_ count: Int) {
        appendRESPLengthLine(UInt8(ascii: "$"), UInt64(count))
    }

    /// `<marker><n>\r\n`, composed on the stack and appended at once: one call into the buffer
    /// (its capacity check and segment bookkeeping once) where a byte, a number and a CRLF took
    /// three, on every bulk reply.
    @inline(__always)
    func appendRESPLengthLine(_ marker: UInt8, _ n: UInt64, negative: Bool = false) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 24) { line in
            var digits = negative ? 2 : 1
            var t = n
            while t >= 10 { t /= 10; digits += 1 }
            line[0] = marker
            if negative { line[1] = UInt8(ascii: "-") }
            var i = digits
            t = n
            repeat {
                line[i] = UInt8(truncatingIfNeeded: t % 10) &+ 0x30
                t /= 10
                i -= 1
            } while t != 0
            line[digits + 1] = 0x0D
            line[digits + 2] = 0x0A
            append(UnsafeRawBufferPointer(start: line.baseAddress, count: digits + 3))
        }
    }

    /// A bulk string copied from `bytes`.
    @inline(__always)
    public func appendRESPBulk(_ bytes: UnsafeRawBufferPointer) {
        appendRESPBulkHeader(bytes.count)
        append(bytes)
        append("\r\n" as StaticString)
    }

    public func appendRESPBulk(_ s: StaticString) {
        appendRESPBulk(UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    /// A bulk string holding an integer's decimal form (INCRBYFLOAT's neighbours, CONFIG GET values).
    public func appendRESPBulk(decimal v: Int64) {
        var digits = v < 0 ? 2 : 1
        var t = v.magnitude
        while t >= 10 { t /= 10; digits += 1 }
        appendRESPBulkHeader(digits)
        appendSigned(v)
        append("\r\n" as StaticString)
    }

    /// A missing value: `$-1` (RESP2) or `_` (RESP3).
    @inline(__always)
    public func appendRESPNull(_ version: RESPVersion) {
        append(version == .resp2 ? "$-1\r\n" as StaticString : "_\r\n" as StaticString)
    }

    /// A missing array (a timed-out BLPOP, an aborted EXEC): `*-1` (RESP2) or `_` (RESP3).
    public func appendRESPNullArray(_ version: RESPVersion) {
        append(version == .resp2 ? "*-1\r\n" as StaticString : "_\r\n" as StaticString)
    }

    @inline(__always)
    public func appendRESPArrayHeader(_ count: Int) {
        aggregateHeader(UInt8(ascii: "*"), count)
    }

    /// A map of `count` pairs: `%count` (RESP3) or an array of `2 × count` (RESP2).
    public func appendRESPMapHeader(_ count: Int, _ version: RESPVersion) {
        if version == .resp3 { aggregateHeader(UInt8(ascii: "%"), count) } else { aggregateHeader(UInt8(ascii: "*"), 2 * count) }
    }

    /// A set: `~count` (RESP3) or an array (RESP2).
    public func appendRESPSetHeader(_ count: Int, _ version: RESPVersion) {
        aggregateHeader(version == .resp3 ? UInt8(ascii: "~") : UInt8(ascii: "*"), count)
    }

    /// Out-of-band data (pub/sub messages, invalidations): `>count` (RESP3) or an array (RESP2).
    public func appendRESPPushHeader(_ count: Int, _ version: RESPVersion) {
        aggregateHeader(version == .resp3 ? UInt8(ascii: ">") : UInt8(ascii: "*"), count)
    }

    /// `#t`/`#f` (RESP3) or `:1`/`:0` (RESP2).
    public func appendRESPBoolean(_ b: Bool, _ version: RESPVersion) {
        if version == .resp3 {
            append(b ? "#t\r\n" as StaticString : "#f\r\n" as StaticString)
        } else {
            append(b ? ":1\r\n" as StaticString : ":0\r\n" as StaticString)
        }
    }

    /// A double as redis 7.0 writes it (`%.17g`; `inf`, `-inf`, `nan`): `,text` (RESP3) or a bulk
    /// string (RESP2).
    public func appendRESPDouble(_ d: Double, _ version: RESPVersion) {
        var buffer: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &buffer) { raw in
            let n = formatDouble(d, into: raw)
            let text = UnsafeRawBufferPointer(rebasing: raw[0..<n])
            if version == .resp3 {
                append(byte: UInt8(ascii: ","))
                append(text)
                append("\r\n" as StaticString)
            } else {
                appendRESPBulk(text)
            }
        }
    }

    /// `=count\r\ntxt:text\r\n` (RESP3 verbatim string) or a bulk string of `text` (RESP2).
    public func appendRESPVerbatim(_ text: UnsafeRawBufferPointer, _ version: RESPVersion) {
        guard version == .resp3 else { return appendRESPBulk(text) }
        append(byte: UInt8(ascii: "="))
        append(decimal: UInt64(text.count + 4))
        append("\r\ntxt:" as StaticString)
        append(text)
        append("\r\n" as StaticString)
    }

    @inline(__always)
    private func aggregateHeader(_ marker: UInt8, _ count: Int) {
        appendRESPLengthLine(marker, UInt64(count))
    }

    @inline(__always)
    private func appendSigned(_ v: Int64) {
        if v < 0 { append(byte: UInt8(ascii: "-")) }
        append(decimal: v.magnitude)
    }
}

/// `%.17g` of `d` into `out` (at least 32 bytes), with redis's spellings of the infinities and
/// NaN; returns the length.
func formatDouble(_ d: Double, into out: UnsafeMutableRawBufferPointer) -> Int {
    func copy(_ s: StaticString) -> Int {
        out.copyMemory(from: UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
        return s.utf8CodeUnitCount
    }
    if d.isNaN { return copy("nan") }
    if d.isInfinite { return copy(d > 0 ? "inf" : "-inf") }
    // An integral score (most are) in decimal without vsnprintf: %.17g writes any integer under
    // 10^17 in magnitude as its digits (no exponent, no point), and withVaList's argument array
    // and CVarArg casts were the larger part of a ZPOPMIN reply's cost. -0 keeps its sign as in C.
    if d.magnitude < 1e15 && d == d.rounded(.towardZero) {
        var v = Int64(d).magnitude
        var length = d.sign == .minus ? 1 : 0
        var t = v
        repeat { length += 1; t /= 10 } while t > 0
        let p = out.baseAddress!.assumingMemoryBound(to: UInt8.self)
        if d.sign == .minus { p[0] = UInt8(ascii: "-") }
        var i = length
        repeat { i -= 1; p[i] = UInt8(ascii: "0") + UInt8(v % 10); v /= 10 } while v > 0
        p[length] = 0
        return length
    }
    let n = withVaList([d]) { vsnprintf(out.baseAddress!.assumingMemoryBound(to: CChar.self), out.count, "%.17g", $0) }
    return Int(min(n, Int32(out.count - 1)))
}
