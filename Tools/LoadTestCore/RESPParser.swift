// Incremental parser of RESP2 replies (redis-server): simple strings, errors, integers, bulk strings
// (data streamed in the pieces it arrived in) and array headers. Like ReplyParser, a reply split
// at any byte parses the same; only a partial line is copied. Arrays are reported as a header
// followed by their elements; the sink counts them.
#if canImport(Glibc)
import Glibc
#endif

public protocol RESPSink {
    /// `+<text>`; the pointer is valid only during the call.
    mutating func simpleString(_ text: UnsafeRawBufferPointer)
    /// `-<message>`.
    /// `line` is the reply line without its CRLF (for the error log).
    mutating func errorString(line: UnsafeRawBufferPointer)
    /// `:<n>`.
    mutating func integer(_ value: Int64)
    /// `$<n>`: n ≥ 0 data bytes follow through `bulkData`, then `bulkEnd`; n = -1 is the nil bulk
    /// string (no data, no `bulkEnd`).
    mutating func bulkHeader(length: Int)
    mutating func bulkData(_ bytes: UnsafeRawBufferPointer)
    mutating func bulkEnd()
    /// `*<n>` (n = -1: nil array).
    mutating func arrayHeader(count: Int)
}

public final class RESPParser {
    public static let maxLineLength = 4096
    public static let maxBulkLength = 512 << 20

    private enum Mode { case line, data, dataCR, dataLF, failed }

    private var mode: Mode = .line
    private var remaining = 0
    private let line: UnsafeMutablePointer<UInt8>
    private var lineLength = 0

    public init() { line = .allocate(capacity: Self.maxLineLength) }
    deinit { line.deallocate() }

    public var failed: Bool { mode == .failed }

    public func reset() {
        mode = .line
        remaining = 0
        lineLength = 0
    }

    @inline(__always)
    public func feed<S: RESPSink>(_ bytes: UnsafeRawBufferPointer, into sink: inout S) -> Bool {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return mode != .failed }
        return feed(base.assumingMemoryBound(to: UInt8.self), bytes.count, into: &sink)
    }

    /// Parses all of `base[0 ..< count]`. Returns false (and stays failed) on a malformed reply.
    public func feed<S: RESPSink>(_ base: UnsafePointer<UInt8>, _ count: Int, into sink: inout S) -> Bool {
        var pos = 0
        while pos < count {
            switch mode {
            case .line:
                let rest = count - pos
                guard let nlRaw = memchr(base + pos, 0x0A, rest) else {
                    guard lineLength + rest <= Self.maxLineLength else { mode = .failed; return false }
                    (line + lineLength).update(from: base + pos, count: rest)
                    lineLength += rest
                    return true
                }
                let nl = UnsafePointer(nlRaw.assumingMemoryBound(to: UInt8.self)) - base
                let ok: Bool
                if lineLength == 0 {
                    ok = parseLine(base + pos, nl - pos + 1, &sink)
                } else {
                    let piece = nl - pos + 1
                    guard lineLength + piece <= Self.maxLineLength else { mode = .failed; return false }
                    (line + lineLength).update(from: base + pos, count: piece)
                    lineLength += piece
                    ok = parseLine(UnsafePointer(line), lineLength, &sink)
                    lineLength = 0
                }
                if !ok { mode = .failed; return false }
                pos = nl + 1
            case .data:
                let n = min(remaining, count - pos)
                sink.bulkData(UnsafeRawBufferPointer(start: base + pos, count: n))
                remaining -= n
                pos += n
                if remaining == 0 { mode = .dataCR }
            case .dataCR:
                guard base[pos] == 0x0D else { mode = .failed; return false }
                pos += 1
                mode = .dataLF
            case .dataLF:
                guard base[pos] == 0x0A else { mode = .failed; return false }
                pos += 1
                mode = .line
                sink.bulkEnd()
            case .failed:
                return false
            }
        }
        return true
    }

    /// `p[0 ..< n]` is one line including "\r\n".
    @inline(__always)
    private func parseLine<S: RESPSink>(_ p: UnsafePointer<UInt8>, _ n: Int, _ sink: inout S) -> Bool {
        guard n >= 3, p[n - 2] == 0x0D else { return false }
        let len = n - 2
        switch p[0] {
        case UInt8(ascii: "+"):
            sink.simpleString(UnsafeRawBufferPointer(start: p + 1, count: len - 1))
            return true
        case UInt8(ascii: "-"):
            sink.errorString(line: UnsafeRawBufferPointer(start: p, count: len))
            return true
        case UInt8(ascii: ":"):
            guard let v = parseSigned(p + 1, len - 1) else { return false }
            sink.integer(v)
            return true
        case UInt8(ascii: "$"):
            guard let v = parseSigned(p + 1, len - 1), v >= -1, v <= Int64(Self.maxBulkLength) else { return false }
            sink.bulkHeader(length: Int(v))
            if v >= 0 {
                remaining = Int(v)
                mode = v == 0 ? .dataCR : .data
            }
            return true
        case UInt8(ascii: "*"):
            guard let v = parseSigned(p + 1, len - 1), v >= -1, v <= 1 << 32 else { return false }
            sink.arrayHeader(count: Int(v))
            return true
        default:
            return false
        }
    }

    /// An optional "-" and 1...18 decimal digits, nothing else.
    @inline(__always)
    private func parseSigned(_ p: UnsafePointer<UInt8>, _ len: Int) -> Int64? {
        var i = 0
        var negative = false
        if len > 0 && p[0] == UInt8(ascii: "-") { negative = true; i = 1 }
        guard len > i, len - i <= 18 else { return nil }
        var v: Int64 = 0
        while i < len {
            let d = p[i] &- 0x30
            guard d < 10 else { return nil }
            v = v * 10 + Int64(d)
            i += 1
        }
        return negative ? -v : v
    }
}
