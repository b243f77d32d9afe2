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

    private let framer = LineFramer(maxLineLength: RESPParser.maxLineLength)

    public init() {}

    public var failed: Bool { framer.failed }

    public func reset() { framer.reset() }

    @inline(__always)
    public func feed<S: RESPSink>(_ bytes: UnsafeRawBufferPointer, into sink: inout S) -> Bool {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return !framer.failed }
        return feed(base.assumingMemoryBound(to: UInt8.self), bytes.count, into: &sink)
    }

    /// Parses all of `base[0 ..< count]`. Returns false (and stays failed) on a malformed reply.
    public func feed<S: RESPSink>(_ base: UnsafePointer<UInt8>, _ count: Int, into sink: inout S) -> Bool {
        var frames = Frames(parser: self, sink: sink)
        let ok = framer.feed(base, count, &frames)
        sink = frames.sink
        return ok
    }

    /// The framer's lines go to `parseLine`, bulk data to the sink.
    private struct Frames<S: RESPSink>: FramedLineHandler {
        unowned(unsafe) let parser: RESPParser
        var sink: S
        @inline(__always) mutating func line(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool { parser.parseLine(p, n, &sink) }
        @inline(__always) mutating func data(_ bytes: UnsafeRawBufferPointer) { sink.bulkData(bytes) }
        @inline(__always) mutating func dataEnd() { sink.bulkEnd() }
    }

    /// `p[0 ..< n]` is one line including "\r\n".
    @inline(__always)
    fileprivate func parseLine<S: RESPSink>(_ p: UnsafePointer<UInt8>, _ n: Int, _ sink: inout S) -> Bool {
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
            if v >= 0 { framer.expectData(Int(v)) }
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
