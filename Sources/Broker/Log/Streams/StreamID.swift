// A Redis stream entry's ID, `<ms>-<seq>`, with redis 7.0's rules (t_stream.c): parsing as
// streamGenericParseIDOrReply (at most 127 bytes, read up to the first NUL as redis's C string
// is; `-` and `+` unless strict; `<ms>` alone takes the caller's missing sequence; `<ms>-*` only
// where XADD allows it; each number as string2ull: string2ll's strict form, else strtoull, which
// takes leading blanks, `+` and a negated `-`), the next ID after a top ID, and the increments
// and decrements exclusive ranges use (an error past the ends).
import Platform
#if canImport(Glibc)
import Glibc
#endif

public struct StreamID: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var ms: UInt64
    public var seq: UInt64

    public init(_ ms: UInt64, _ seq: UInt64) {
        self.ms = ms
        self.seq = seq
    }

    public static let zero = StreamID(0, 0)
    public static let max = StreamID(.max, .max)

    public static func < (a: StreamID, b: StreamID) -> Bool { a.ms != b.ms ? a.ms < b.ms : a.seq < b.seq }

    public var description: String { "\(ms)-\(seq)" }

    /// streamIncrID: the next ID, nil past the last possible one.
    public var incremented: StreamID? {
        if seq < .max { return StreamID(ms, seq + 1) }
        if ms < .max { return StreamID(ms + 1, 0) }
        return nil
    }

    /// streamDecrID: the previous ID, nil before 0-0.
    public var decremented: StreamID? {
        if seq > 0 { return StreamID(ms, seq - 1) }
        if ms > 0 { return StreamID(ms - 1, .max) }
        return nil
    }

    /// streamNextID: an auto ID after `last` at `nowMs` (the caller checks `last` is not the
    /// last possible ID).
    public static func next(after last: StreamID, nowMs: UInt64) -> StreamID {
        if nowMs > last.ms { return StreamID(nowMs, 0) }
        return last.incremented ?? last
    }

    /// The 16 bytes a record's key holds (big-endian, so keys sort as IDs).
    public func withKeyBytes<T>(_ body: (UnsafeRawBufferPointer) -> T) -> T {
        var k = (ms.bigEndian, seq.bigEndian)
        return withUnsafeBytes(of: &k) { body($0) }
    }

    /// The ID a record's key holds (nil for a key that is not 16 bytes).
    public init?(key: UnsafeRawBufferPointer?) {
        guard let key, key.count == 16 else { return nil }
        ms = UInt64(bigEndian: key.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        seq = UInt64(bigEndian: key.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
    }

    /// The ID's text, `<ms>-<seq>`, into `buffer` (at least 41 bytes); returns the length.
    public func format(into buffer: UnsafeMutableRawPointer) -> Int {
        format(into: buffer, msDigits: decimalDigits(ms), seqDigits: decimalDigits(seq))
    }

    /// `format(into:)` with the digits of `ms` and `seq` counted by the caller (`decimalDigits`),
    /// which needed them for the text's length first (a bulk string's length line): each
    /// counted once. Returns the length, `msDigits + 1 + seqDigits`.
    @inlinable @inline(__always)
    public func format(into buffer: UnsafeMutableRawPointer, msDigits: Int, seqDigits: Int) -> Int {
        writeDecimal(ms, digits: msDigits, buffer)
        buffer.storeBytes(of: UInt8(ascii: "-"), toByteOffset: msDigits, as: UInt8.self)
        writeDecimal(seq, digits: seqDigits, buffer + msDigits + 1)
        return msDigits + 1 + seqDigits
    }

    /// `body` on the ID's text. Inlined: a generic temporary allocation called across modules
    /// instantiated its metadata on each call. (Replies write an ID in place instead:
    /// `format(into:msDigits:seqDigits:)`.)
    @inlinable
    public func withText<T>(_ body: (UnsafeRawBufferPointer) -> T) -> T {
        withUnsafeTemporaryAllocation(byteCount: 48, alignment: 1) { b in
            let n = format(into: b.baseAddress!)
            return body(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(b)[0..<n]))
        }
    }

    // MARK: parsing

    /// A parsed ID and whether its sequence was given (false for `<ms>-*`).
    public struct Parsed: Equatable, Sendable {
        public var id: StreamID
        public var seqGiven: Bool
    }

    /// streamGenericParseIDOrReply: nil for "Invalid stream ID specified as stream command
    /// argument". `autoSequence`: `<ms>-*` is allowed (XADD).
    public static func parse(_ arg: UnsafeRawBufferPointer, missingSeq: UInt64, strict: Bool,
                             autoSequence: Bool = false) -> Parsed? {
        guard arg.count <= 127 else { return nil }
        // redis copies the argument into a C string: it ends at the first NUL.
        let end = arg.firstIndex(of: 0) ?? arg.count
        let s = UnsafeRawBufferPointer(rebasing: arg[0..<end])
        if s.count == 1 && (s[0] == UInt8(ascii: "-") || s[0] == UInt8(ascii: "+")) {
            if strict { return nil }
            return Parsed(id: s[0] == UInt8(ascii: "-") ? .zero : .max, seqGiven: true)
        }
        let dash = s.firstIndex(of: UInt8(ascii: "-"))
        guard let ms = string2ull(UnsafeRawBufferPointer(rebasing: s[0..<(dash ?? s.count)])) else { return nil }
        guard let dash else { return Parsed(id: StreamID(ms, missingSeq), seqGiven: true) }
        let rest = UnsafeRawBufferPointer(rebasing: s[(dash + 1)...])
        if autoSequence && rest.count == 1 && rest[0] == UInt8(ascii: "*") {
            return Parsed(id: StreamID(ms, 0), seqGiven: false)
        }
        guard let seq = string2ull(rest) else { return nil }
        return Parsed(id: StreamID(ms, seq), seqGiven: true)
    }

    /// redis's string2ull: string2ll's strict digits (negative refused), else strtoull's wider
    /// reading of the whole string (blanks, `+`, `-` negating, leading zeros; no overflow).
    public static func string2ull(_ s: UnsafeRawBufferPointer) -> UInt64? {
        if let v = string2ll(s) { return v < 0 ? nil : UInt64(v) }
        guard s.count > 0 else { return nil }
        return withUnsafeTemporaryAllocation(byteCount: s.count + 1, alignment: 1) { b in
            b.baseAddress!.copyMemory(from: s.baseAddress!, byteCount: s.count)
            b[s.count] = 0
            let start = b.baseAddress!.assumingMemoryBound(to: CChar.self)
            var endPointer: UnsafeMutablePointer<CChar>? = nil
            errno = 0
            let v = strtoull(start, &endPointer, 10)
            if errno == EINVAL || errno == ERANGE { return nil }
            guard let endPointer, endPointer == start + s.count else { return nil }
            return UInt64(v)
        }
    }

    /// redis's string2ll: an optional `-`, digits with no leading zero (but "0"), in range.
    static func string2ll(_ s: UnsafeRawBufferPointer) -> Int64? {
        let n = s.count
        guard n > 0, n <= 20 else { return nil }
        if n == 1 && s[0] == UInt8(ascii: "0") { return 0 }
        var i = 0
        var negative = false
        if s[0] == UInt8(ascii: "-") {
            negative = true
            i = 1
            guard n > 1 else { return nil }
        }
        guard s[i] >= UInt8(ascii: "1") && s[i] <= UInt8(ascii: "9") else { return nil }
        var v: UInt64 = 0
        while i < n {
            let c = s[i]
            guard c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(c - UInt8(ascii: "0")))
            guard !o1 && !o2 else { return nil }
            v = a
            i += 1
        }
        if negative {
            guard v <= UInt64(Int64.max) + 1 else { return nil }
            return v == UInt64(Int64.max) + 1 ? Int64.min : -Int64(v)
        }
        guard v <= UInt64(Int64.max) else { return nil }
        return Int64(v)
    }
}
