// RESP request parsing, as redis-server 7 reads its query buffer (networking.c): a request that
// starts with `*` is a multibulk array of `$`-prefixed bulk strings; anything else is an inline
// command (a line split on blanks, with redis's double- and single-quote rules). The parser works
// on the connection's raw input: multibulk arguments are (offset, length) ranges into it, so a
// request costs no copy and no allocation once the argument table has grown to the pipeline's
// widest request. Only inline arguments that carry quotes or escapes are rewritten, into a scratch
// buffer the parser owns.
//
// A request cut short keeps what was parsed (the argument ranges, relative to the request's first
// byte), so a large MSET arriving in many reads is scanned once, not once per read. The caller
// consumes nothing until `.request`; then it runs the command and calls `parse` again from the end.
// Limits are redis's: a protocol error is answered with redis's words and the connection closed.
#if canImport(Glibc)
import Glibc
#endif

/// Redis's request-size limits (`proto-max-bulk-len`, the inline and count-line bound, and the
/// bounds before AUTH).
public struct RESPLimits: Sendable {
    /// `proto-max-bulk-len`: 512 MB by default.
    public var maxBulkLength: Int
    /// PROTO_INLINE_MAX_SIZE: an inline line, or a `*`/`$` count line, longer than this without its
    /// newline is a protocol error.
    public var maxInlineLength: Int
    /// A multibulk count past this is "invalid multibulk length" (redis: INT_MAX; 1024*1024 for
    /// a client that is not authenticated... see `unauthenticated`).
    public var maxMultibulkLength: Int

    public init(maxBulkLength: Int = 512 << 20, maxInlineLength: Int = 64 << 10, maxMultibulkLength: Int = Int(Int32.max)) {
        self.maxBulkLength = maxBulkLength
        self.maxInlineLength = maxInlineLength
        self.maxMultibulkLength = maxMultibulkLength
    }

    /// Redis's bounds for a connection that has not authenticated yet (when a password is set):
    /// at most 10 arguments of at most 16 KB each.
    public static let unauthenticatedMultibulkLength = 10
    public static let unauthenticatedBulkLength = 16384
}

/// A protocol error: redis answers `-ERR Protocol error: <text>` and closes the connection.
public enum RESPProtocolError: Error, Equatable, Sendable {
    case tooBigInlineRequest
    case unbalancedQuotes
    case tooBigMultibulkCountString
    case invalidMultibulkLength
    case unauthenticatedMultibulkLength
    case tooBigBulkCountString
    case expectedDollar(got: UInt8)
    case invalidBulkLength
    case unauthenticatedBulkLength

    /// The reply line, in redis's words, with its CRLF.
    public var reply: String {
        switch self {
        case .tooBigInlineRequest: return "-ERR Protocol error: too big inline request\r\n"
        case .unbalancedQuotes: return "-ERR Protocol error: unbalanced quotes in request\r\n"
        case .tooBigMultibulkCountString: return "-ERR Protocol error: too big mbulk count string\r\n"
        case .invalidMultibulkLength: return "-ERR Protocol error: invalid multibulk length\r\n"
        case .unauthenticatedMultibulkLength: return "-ERR Protocol error: unauthenticated multibulk length\r\n"
        case .tooBigBulkCountString: return "-ERR Protocol error: too big bulk count string\r\n"
        case .expectedDollar(let got):
            return "-ERR Protocol error: expected '$', got '" + String(decoding: [got], as: UTF8.self) + "'\r\n"
        case .invalidBulkLength: return "-ERR Protocol error: invalid bulk length\r\n"
        case .unauthenticatedBulkLength: return "-ERR Protocol error: unauthenticated bulk length\r\n"
        }
    }
}

/// Parses one connection's requests. Not thread-safe: one per connection, used on its worker.
public final class RESPRequestParser {
    public enum Step: Equatable {
        /// A complete request ends at this input offset; its arguments are readable until the
        /// next `parse`. A request of zero arguments (an empty inline line, `*0`) is not
        /// returned: the parser skips it.
        case request(end: Int)
        /// The request is not all here: call again with the same start and more input.
        case needMore
        case error(RESPProtocolError)
    }

    /// Where an argument's bytes are: input offsets are relative to the request's first byte.
    @usableFromInline
    struct ArgumentRange {
        @usableFromInline var offset: Int
        @usableFromInline var count: Int
        @usableFromInline var inScratch: Bool
    }

    public var limits: RESPLimits
    /// Set while a password is required and the connection has not authenticated.
    public var unauthenticated = false

    @usableFromInline var arguments: UnsafeMutablePointer<ArgumentRange>
    @usableFromInline var argumentCapacity: Int
    public private(set) var argumentCount = 0
    private var scratch: UnsafeMutableRawPointer
    private var scratchCapacity: Int
    private var scratchCount = 0
    /// The input base and request start of the last complete request (argument lookups).
    private var requestBase: UnsafeRawPointer?

    // A multibulk request cut short: how many arguments it declared, and where (relative to the
    // request start) the next argument's `$` line begins. 0 declared: no request in progress.
    private var declared = 0
    private var resumeAt = 0

    public init(limits: RESPLimits = RESPLimits()) {
        self.limits = limits
        argumentCapacity = 16
        arguments = .allocate(capacity: argumentCapacity)
        scratchCapacity = 256
        scratch = .allocate(byteCount: scratchCapacity, alignment: 1)
    }

    deinit {
        arguments.deallocate()
        scratch.deallocate()
    }

    /// Memory the parser holds beyond its first allocation (for shrinking idle connections).
    public var retainedBytes: Int { argumentCapacity * MemoryLayout<ArgumentRange>.stride + scratchCapacity }

    /// Gives back a table grown by a wide request; only between requests.
    public func shrink() {
        guard declared == 0 else { return }
        if argumentCapacity > 64 {
            arguments.deallocate()
            argumentCapacity = 16
            arguments = .allocate(capacity: argumentCapacity)
        }
        if scratchCapacity > 4096 {
            scratch.deallocate()
            scratchCapacity = 256
            scratch = .allocate(byteCount: scratchCapacity, alignment: 1)
        }
    }

    /// Argument `i` of the request last returned by `.request`, read from the same `input`.
    @inlinable
    public func argument(_ i: Int) -> UnsafeRawBufferPointer {
        let a = arguments[i]
        return UnsafeRawBufferPointer(start: base(a.inScratch) + a.offset, count: a.count)
    }

    @usableFromInline
    func base(_ inScratch: Bool) -> UnsafeRawPointer {
        inScratch ? UnsafeRawPointer(scratch) : requestBase!
    }

    /// Parses the request starting at `start` in `input`.
    public func parse(_ input: UnsafeRawBufferPointer, from start: Int) -> Step {
        var start = start
        while start < input.count {
            let step: Step
            let first = input.load(fromByteOffset: start, as: UInt8.self)
            if declared > 0 || first == UInt8(ascii: "*") {
                step = parseMultibulk(input, start)
            } else {
                step = parseInline(input, start)
            }
            guard case .request(let end) = step else { return step }
            if argumentCount > 0 {
                requestBase = input.baseAddress! + start
                return step
            }
            start = end // an empty request: redis skips it
        }
        return .needMore
    }

    // MARK: multibulk

    private func parseMultibulk(_ input: UnsafeRawBufferPointer, _ start: Int) -> Step {
        let p = input.baseAddress! + start
        let n = input.count - start
        if declared == 0 {
            argumentCount = 0
            scratchCount = 0
            if let step = readCountLine(p, start, n) { return step }
        }
        var at = resumeAt
        while argumentCount < declared {
            guard at < n else { break }
            // The usual `$<digits>\r\n<data>\r\n`, read in one pass; anything else (a line not
            // all here, a protocol error, a length past the limits) takes the general path below.
            if p.load(fromByteOffset: at, as: UInt8.self) == UInt8(ascii: "$"),
               let (length, dataStart) = shortCountLine(p, from: at + 1, to: n),
               length <= limits.maxBulkLength, !unauthenticated || length <= RESPLimits.unauthenticatedBulkLength {
                guard n - dataStart >= length + 2 else { break }
                appendArgument(ArgumentRange(offset: dataStart, count: length, inScratch: false))
                at = dataStart + length + 2
                continue
            }
            guard let cr = findCR(p, from: at, to: n) else {
                if n - at > limits.maxInlineLength { return fail(.tooBigBulkCountString) }
                break
            }
            guard cr + 1 < n else { break }
            let marker = p.load(fromByteOffset: at, as: UInt8.self)
            guard marker == UInt8(ascii: "$") else { return fail(.expectedDollar(got: marker)) }
            guard let length = parseInteger(p + at + 1, cr - at - 1), length >= 0, length <= limits.maxBulkLength else {
                return fail(.invalidBulkLength)
            }
            if unauthenticated && length > RESPLimits.unauthenticatedBulkLength { return fail(.unauthenticatedBulkLength) }
            let dataStart = cr + 2
            // Redis skips the two bytes after the data without looking at them.
            guard n - dataStart >= length + 2 else { break }
            appendArgument(ArgumentRange(offset: dataStart, count: length, inScratch: false))
            at = dataStart + length + 2
        }
        resumeAt = at
        guard argumentCount == declared else { return .needMore }
        declared = 0
        return .request(end: start + at)
    }

    /// Reads a request's `*<count>` line: nil once `declared` is set, else what to answer (more
    /// input needed, a protocol error, or an empty request's end).
    @inline(__always)
    private func readCountLine(_ p: UnsafeRawPointer, _ start: Int, _ n: Int) -> Step? {
        // The usual line, `*<digits>\r` and one more byte, read in one pass.
        if let (count, next) = shortCountLine(p, from: 1, to: n), count <= limits.maxMultibulkLength,
           !unauthenticated || count <= RESPLimits.unauthenticatedMultibulkLength {
            declared = count
            resumeAt = next
            return nil
        }
        guard let cr = findCR(p, from: 1, to: n) else {
            return n > limits.maxInlineLength ? .error(.tooBigMultibulkCountString) : .needMore
        }
        // The count line's \n must have arrived too.
        guard cr + 1 < n else { return .needMore }
        guard let count = parseInteger(p + 1, cr - 1), count <= limits.maxMultibulkLength else {
            return .error(.invalidMultibulkLength)
        }
        if unauthenticated && count > RESPLimits.unauthenticatedMultibulkLength {
            return .error(.unauthenticatedMultibulkLength)
        }
        if count <= 0 { return .request(end: start + cr + 2) }
        declared = count
        resumeAt = cr + 2
        return nil
    }

    private func fail(_ e: RESPProtocolError) -> Step {
        declared = 0
        return .error(e)
    }

    // MARK: inline

    private func parseInline(_ input: UnsafeRawBufferPointer, _ start: Int) -> Step {
        argumentCount = 0
        scratchCount = 0
        let p = input.baseAddress! + start
        let n = input.count - start
        guard let nl = memchr(p, 0x0A, n).map({ UnsafeRawPointer($0) - p }) else {
            return n > limits.maxInlineLength ? .error(.tooBigInlineRequest) : .needMore
        }
        var lineEnd = nl
        if lineEnd > 0 && p.load(fromByteOffset: lineEnd - 1, as: UInt8.self) == 0x0D { lineEnd -= 1 }
        guard splitInline(p, lineEnd) else { return .error(.unbalancedQuotes) }
        return .request(end: start + nl + 1)
    }

    /// redis's sdssplitargs over `line[0..<count]`: blanks separate arguments; "..." takes \n \r
    /// \t \b \a \\ \" and \xHH escapes; '...' takes \'; a closing quote must be followed by a
    /// blank or the end; a NUL ends the line (redis splits a C string). Plain arguments are
    /// ranges of the input; quoted ones are unescaped into the scratch buffer.
    private func splitInline(_ line: UnsafeRawPointer, _ count: Int) -> Bool {
        @inline(__always) func byte(_ i: Int) -> UInt8 { i < count ? line.load(fromByteOffset: i, as: UInt8.self) : 0 }
        var i = 0
        while true {
            while byte(i) != 0 && isBlank(byte(i)) { i += 1 }
            if byte(i) == 0 { return true }
            let tokenStart = i
            var quoted = false
            // Scan first: most arguments have no quotes and stay ranges of the input.
            var j = i
            while !endsPlainArgument(byte(j)) {
                if byte(j) == UInt8(ascii: "\"") || byte(j) == UInt8(ascii: "'") { quoted = true; break }
                j += 1
            }
            if !quoted {
                appendArgument(ArgumentRange(offset: tokenStart, count: j - tokenStart, inScratch: false))
                i = j
                continue
            }
            let out = scratchCount
            var inDouble = false, inSingle = false
            var done = false
            while !done {
                let c = byte(i)
                if inDouble {
                    if c == UInt8(ascii: "\\") && byte(i + 1) == UInt8(ascii: "x"), let hi = hexValue(byte(i + 2)), let lo = hexValue(byte(i + 3)) {
                        appendScratch(hi << 4 | lo)
                        i += 3
                    } else if c == UInt8(ascii: "\\") && byte(i + 1) != 0 {
                        i += 1
                        switch byte(i) {
                        case UInt8(ascii: "n"): appendScratch(0x0A)
                        case UInt8(ascii: "r"): appendScratch(0x0D)
                        case UInt8(ascii: "t"): appendScratch(0x09)
                        case UInt8(ascii: "b"): appendScratch(0x08)
                        case UInt8(ascii: "a"): appendScratch(0x07)
                        default: appendScratch(byte(i))
                        }
                    } else if c == UInt8(ascii: "\"") {
                        if byte(i + 1) != 0 && !isBlank(byte(i + 1)) { return false }
                        done = true
                    } else if c == 0 {
                        return false
                    } else {
                        appendScratch(c)
                    }
                } else if inSingle {
                    if c == UInt8(ascii: "\\") && byte(i + 1) == UInt8(ascii: "'") {
                        i += 1
                        appendScratch(UInt8(ascii: "'"))
                    } else if c == UInt8(ascii: "'") {
                        if byte(i + 1) != 0 && !isBlank(byte(i + 1)) { return false }
                        done = true
                    } else if c == 0 {
                        return false
                    } else {
                        appendScratch(c)
                    }
                } else {
                    switch c {
                    case 0, 0x20, 0x0A, 0x0D, 0x09: done = true
                    case UInt8(ascii: "\""): inDouble = true
                    case UInt8(ascii: "'"): inSingle = true
                    default: appendScratch(c)
                    }
                }
                if byte(i) != 0 { i += 1 }
            }
            appendArgument(ArgumentRange(offset: out, count: scratchCount - out, inScratch: true))
        }
    }

    // MARK: storage

    @inline(__always)
    private func appendArgument(_ a: ArgumentRange) {
        if argumentCount == argumentCapacity {
            let cap = argumentCapacity * 2
            let grown = UnsafeMutablePointer<ArgumentRange>.allocate(capacity: cap)
            grown.moveInitialize(from: arguments, count: argumentCount)
            arguments.deallocate()
            arguments = grown
            argumentCapacity = cap
        }
        (arguments + argumentCount).initialize(to: a)
        argumentCount += 1
    }

    @inline(__always)
    private func appendScratch(_ b: UInt8) {
        if scratchCount == scratchCapacity {
            let cap = scratchCapacity * 2
            let grown = UnsafeMutableRawPointer.allocate(byteCount: cap, alignment: 1)
            grown.copyMemory(from: scratch, byteCount: scratchCount)
            scratch.deallocate()
            scratch = grown
            scratchCapacity = cap
        }
        scratch.storeBytes(of: b, toByteOffset: scratchCount, as: UInt8.self)
        scratchCount += 1
    }
}

// MARK: byte helpers (redis's string2ll and isspace)

@inline(__always)
private func findCR(_ p: UnsafeRawPointer, from: Int, to: Int) -> Int? {
    guard from < to, let hit = memchr(p + from, 0x0D, to - from) else { return nil }
    return UnsafeRawPointer(hit) - p
}

/// `<digits>\r` at `from` with one more byte after the CR in the input (redis reads the line's end
/// without looking at it): a positive integer of at most 18 digits with no leading zero, as
/// string2ll reads it, and the offset after the line. nil for anything else (zero, a sign, a long
/// or cut-short line, a stray byte), which the general path (memchr, `parseInteger`) then reads:
/// so the result is always the general path's.
@inline(__always)
func shortCountLine(_ p: UnsafeRawPointer, from: Int, to n: Int) -> (Int, Int)? {
    guard from < n else { return nil }
    var c = p.load(fromByteOffset: from, as: UInt8.self)
    guard c >= UInt8(ascii: "1") && c <= UInt8(ascii: "9") else { return nil }
    var v = Int(c &- UInt8(ascii: "0"))
    var i = from + 1
    while i < n {
        c = p.load(fromByteOffset: i, as: UInt8.self)
        if c == 0x0D { return i + 1 < n ? (v, i + 2) : nil }
        guard c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"), i - from < 18 else { return nil }
        v = v &* 10 &+ Int(c &- UInt8(ascii: "0"))
        i += 1
    }
    return nil
}

/// What ends an unquoted argument in sdssplitargs (not \v or \f, which isspace skips before one).
@inline(__always)
private func endsPlainArgument(_ c: UInt8) -> Bool { c == 0 || c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }

/// C's isspace: space, \t \n \v \f \r.
@inline(__always)
private func isBlank(_ c: UInt8) -> Bool { c == 0x20 || (c >= 0x09 && c <= 0x0D) }

@inline(__always)
private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
    default: return nil
    }
}

/// redis's string2ll: "0" alone, or an optional '-' then a digit 1-9 followed by digits; nothing
/// else ("-0", "00", "+1", " 1" are refused), no overflow.
@usableFromInline
func parseInteger(_ p: UnsafeRawPointer, _ count: Int) -> Int? {
    guard count > 0, count <= 20 else { return nil }
    var i = 0
    var negative = false
    if p.load(as: UInt8.self) == UInt8(ascii: "-") {
        negative = true
        i = 1
        guard count > 1 else { return nil }
    }
    let first = p.load(fromByteOffset: i, as: UInt8.self)
    // string2ll takes "0" only as the whole string: "-0" and leading zeros are not integers.
    if first == UInt8(ascii: "0") { return count == 1 ? 0 : nil }
    guard first >= UInt8(ascii: "1") && first <= UInt8(ascii: "9") else { return nil }
    var v: UInt64 = 0
    while i < count {
        let c = p.load(fromByteOffset: i, as: UInt8.self)
        guard c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") else { return nil }
        let (m, o1) = v.multipliedReportingOverflow(by: 10)
        let (s, o2) = m.addingReportingOverflow(UInt64(c - UInt8(ascii: "0")))
        guard !o1 && !o2 else { return nil }
        v = s
        i += 1
    }
    if negative {
        guard v <= UInt64(Int64.max) + 1 else { return nil }
        return v == UInt64(Int64.max) + 1 ? Int.min : -Int(v)
    }
    guard v <= UInt64(Int64.max) else { return nil }
    return Int(v)
}
