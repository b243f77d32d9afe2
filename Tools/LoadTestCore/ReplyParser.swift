// Incremental parser of memcached text-protocol replies. It takes whatever bytes a read returned,
// however a reply is split across reads, and reports replies to a sink as they complete. It keeps
// no copy of the input except a partial line (bounded by `maxLineLength`), and streams VALUE data
// to the sink in the pieces it arrived in, so a reply split at any byte parses the same.
#if canImport(Glibc)
import Glibc
#endif

/// One-line replies that complete a storage, delete or touch command.
public enum SimpleReply: UInt8, Sendable, Equatable {
    case stored, notStored, exists, notFound, deleted, touched, ok
}

/// `ERROR`, `CLIENT_ERROR <msg>`, `SERVER_ERROR <msg>`.
public enum ErrorReply: UInt8, Sendable, Equatable {
    case error, clientError, serverError
}

/// Receives the replies, in order. Pointers are valid only during the call.
public protocol ReplySink {
    mutating func simpleReply(_ kind: SimpleReply)
    /// `line` is the whole reply line without its CRLF (for the error log).
    mutating func errorReply(_ kind: ErrorReply, line: UnsafeRawBufferPointer)
    /// `VALUE <key> <flags> <bytes> [<cas>]`; `length` bytes of data follow through `valueData`.
    mutating func valueHeader(key: UnsafeRawBufferPointer, flags: UInt32, length: Int, cas: UInt64?)
    /// A piece of the current value's data (possibly empty pieces are never reported).
    mutating func valueData(_ bytes: UnsafeRawBufferPointer)
    /// The current value's data and its trailing CRLF are complete.
    mutating func valueEnd()
    /// `END`: the end of a retrieval reply.
    mutating func end()
}

public final class ReplyParser {
    public static let maxLineLength = 2048

    private let framer = LineFramer(maxLineLength: ReplyParser.maxLineLength)

    public init() {}

    /// True once a malformed reply was seen; the stream cannot be resynchronised after that.
    public var failed: Bool { framer.failed }

    /// Forget any partial reply (a new connection).
    public func reset() { framer.reset() }

    /// Parses all of `bytes`. Returns false (and stays failed) on a malformed reply.
    @inline(__always)
    public func feed<S: ReplySink>(_ bytes: UnsafeRawBufferPointer, into sink: inout S) -> Bool {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return !framer.failed }
        return feed(base.assumingMemoryBound(to: UInt8.self), bytes.count, into: &sink)
    }

    public func feed<S: ReplySink>(_ base: UnsafePointer<UInt8>, _ count: Int, into sink: inout S) -> Bool {
        var frames = Frames(parser: self, sink: sink)
        let ok = framer.feed(base, count, &frames)
        sink = frames.sink
        return ok
    }

    /// The framer's lines go to `parseLine`, data pieces to the sink.
    private struct Frames<S: ReplySink>: FramedLineHandler {
        unowned(unsafe) let parser: ReplyParser
        var sink: S
        @inline(__always) mutating func line(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool { parser.parseLine(p, n, &sink) }
        @inline(__always) mutating func data(_ bytes: UnsafeRawBufferPointer) { sink.valueData(bytes) }
        @inline(__always) mutating func dataEnd() { sink.valueEnd() }
    }

    /// `p[0 ..< n]` is one whole line including its "\r\n" (n ≥ 1, p[n-1] == '\n').
    @inline(__always)
    fileprivate func parseLine<S: ReplySink>(_ p: UnsafePointer<UInt8>, _ n: Int, _ sink: inout S) -> Bool {
        guard n >= 2, p[n - 2] == 0x0D else { return false }
        let len = n - 2  // content without CRLF
        // Fast paths, by first byte.
        switch p[0] {
        case UInt8(ascii: "V"):
            if len > 3 && p[1] == UInt8(ascii: "A") && p[2] == 0x20 { return parseMetaValue(p + 3, len - 3, &sink) }
            guard len > 6, matches(p, len, "VALUE ", prefix: true) else { return false }
            return parseValueHeader(p + 6, len - 6, &sink)
        case UInt8(ascii: "H"):
            // Meta: HD [flags] is a stored / done reply.
            if matches(p, len, "HD") || matches(p, len, "HD ", prefix: true) { sink.simpleReply(.stored); return true }
            return false
        case UInt8(ascii: "M"):
            // Meta: the end of a pipeline of quiet commands.
            if matches(p, len, "MN") { sink.end(); return true }
            return false
        case UInt8(ascii: "E"):
            if matches(p, len, "END") { sink.end(); return true }
            // Meta: EN is a miss (the end of that mg), EX "exists".
            if matches(p, len, "EN") { sink.end(); return true }
            if matches(p, len, "EX") || matches(p, len, "EX ", prefix: true) { sink.simpleReply(.exists); return true }
            if matches(p, len, "EXISTS") { sink.simpleReply(.exists); return true }
            if matches(p, len, "ERROR") || matches(p, len, "ERROR ", prefix: true) { sink.errorReply(.error, line: UnsafeRawBufferPointer(start: p, count: len)); return true }
            return false
        case UInt8(ascii: "S"):
            if matches(p, len, "STORED") { sink.simpleReply(.stored); return true }
            if matches(p, len, "SERVER_ERROR") || matches(p, len, "SERVER_ERROR ", prefix: true) {
                sink.errorReply(.serverError, line: UnsafeRawBufferPointer(start: p, count: len)); return true
            }
            return false
        case UInt8(ascii: "N"):
            if matches(p, len, "NOT_STORED") { sink.simpleReply(.notStored); return true }
            if matches(p, len, "NOT_FOUND") { sink.simpleReply(.notFound); return true }
            if matches(p, len, "NS") || matches(p, len, "NS ", prefix: true) { sink.simpleReply(.notStored); return true }
            if matches(p, len, "NF") || matches(p, len, "NF ", prefix: true) { sink.simpleReply(.notFound); return true }
            return false
        case UInt8(ascii: "D"):
            if matches(p, len, "DELETED") { sink.simpleReply(.deleted); return true }
            return false
        case UInt8(ascii: "T"):
            if matches(p, len, "TOUCHED") { sink.simpleReply(.touched); return true }
            return false
        case UInt8(ascii: "O"):
            if matches(p, len, "OK") { sink.simpleReply(.ok); return true }
            return false
        case UInt8(ascii: "C"):
            if matches(p, len, "CLIENT_ERROR") || matches(p, len, "CLIENT_ERROR ", prefix: true) {
                sink.errorReply(.clientError, line: UnsafeRawBufferPointer(start: p, count: len)); return true
            }
            return false
        default:
            return false
        }
    }

    @inline(__always)
    private func matches(_ p: UnsafePointer<UInt8>, _ len: Int, _ word: StaticString, prefix: Bool = false) -> Bool {
        let w = word.utf8Start
        let wl = word.utf8CodeUnitCount
        guard prefix ? len >= wl : len == wl else { return false }
        return memcmp(p, w, wl) == 0
    }

    /// `<key> <flags> <bytes>[ <cas>]` (after "VALUE ").
    private func parseValueHeader<S: ReplySink>(_ p: UnsafePointer<UInt8>, _ len: Int, _ sink: inout S) -> Bool {
        var i = 0
        while i < len && p[i] > 0x20 && p[i] != 0x7F { i += 1 }
        let keyLength = i
        guard keyLength > 0, keyLength <= 250, i < len, p[i] == 0x20 else { return false }
        i += 1
        guard let flags = parseNumber(p, len, &i), flags <= UInt64(UInt32.max) else { return false }
        guard i < len, p[i] == 0x20 else { return false }
        i += 1
        guard let bytes = parseNumber(p, len, &i), bytes < (1 << 40) else { return false }
        var cas: UInt64? = nil
        if i < len {
            guard p[i] == 0x20 else { return false }
            i += 1
            guard let c = parseNumber(p, len, &i) else { return false }
            cas = c
        }
        guard i == len else { return false }
        sink.valueHeader(key: UnsafeRawBufferPointer(start: p, count: keyLength),
                         flags: UInt32(flags), length: Int(bytes), cas: cas)
        framer.expectData(Int(bytes))
        return true
    }

    /// Meta `VA <bytes> [flags]` (after "VA "): the key is the `k` flag's, when returned.
    private func parseMetaValue<S: ReplySink>(_ p: UnsafePointer<UInt8>, _ len: Int, _ sink: inout S) -> Bool {
        var i = 0
        guard let bytes = parseNumber(p, len, &i), bytes < (1 << 40) else { return false }
        var key = UnsafeRawBufferPointer(start: p, count: 0)
        var flags: UInt32 = 0
        while i < len {
            guard p[i] == 0x20 else { return false }
            i += 1
            let start = i
            while i < len && p[i] != 0x20 { i += 1 }
            guard i > start else { return false }
            switch p[start] {
            case UInt8(ascii: "k"): key = UnsafeRawBufferPointer(start: p + start + 1, count: i - start - 1)
            case UInt8(ascii: "f"):
                var j = start + 1
                guard let f = parseNumber(p, i, &j), j == i, f <= UInt64(UInt32.max) else { return false }
                flags = UInt32(f)
            default: break
            }
        }
        sink.valueHeader(key: key, flags: flags, length: Int(bytes), cas: nil)
        framer.expectData(Int(bytes))
        return true
    }

    /// Decimal digits at p[i...] (at least one, no overflow past UInt64).
    @inline(__always)
    private func parseNumber(_ p: UnsafePointer<UInt8>, _ len: Int, _ i: inout Int) -> UInt64? {
        var v: UInt64 = 0
        let start = i
        while i < len {
            let d = p[i] &- 0x30
            guard d < 10 else { break }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(d))
            guard !o1 && !o2 else { return nil }
            v = a
            i += 1
        }
        return i > start ? v : nil
    }
}
