// The framing both reply parsers share (memcached text and RESP): lines ending in "\n", some of
// which announce a data block of N bytes followed by "\r\n". Bytes arrive in whatever pieces a
// read returned; only a partial line is copied, data is handed on in the pieces it came in, and
// a reply split at any byte frames the same.
#if canImport(Glibc)
import Glibc
#endif

/// What a parser does with the frames.
protocol FramedLineHandler {
    /// One whole line, "\r\n" included (`p[n-1] == '\n'`); false when malformed. A line that
    /// announces a data block calls `expectData` on the framer.
    mutating func line(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool
    /// A piece of the current data block (never empty).
    mutating func data(_ bytes: UnsafeRawBufferPointer)
    /// The data block and its "\r\n" are complete.
    mutating func dataEnd()
}

final class LineFramer {
    private enum Mode { case line, data, dataCR, dataLF, failed }

    let maxLineLength: Int
    private var mode: Mode = .line
    private var remaining = 0
    private let buffer: UnsafeMutablePointer<UInt8>
    private var lineLength = 0

    init(maxLineLength: Int) {
        self.maxLineLength = maxLineLength
        buffer = .allocate(capacity: maxLineLength)
    }

    deinit { buffer.deallocate() }

    var failed: Bool { mode == .failed }

    func reset() {
        mode = .line
        remaining = 0
        lineLength = 0
    }

    /// Called from `line`: a data block of `n` bytes and "\r\n" follows the current line.
    @inline(__always)
    func expectData(_ n: Int) {
        remaining = n
        mode = n == 0 ? .dataCR : .data
    }

    /// Frames all of `base[0 ..< count]`. Returns false (and stays failed) on a malformed reply.
    func feed<H: FramedLineHandler>(_ base: UnsafePointer<UInt8>, _ count: Int, _ handler: inout H) -> Bool {
        var pos = 0
        while pos < count {
            switch mode {
            case .line:
                let rest = count - pos
                guard let nlRaw = memchr(base + pos, 0x0A, rest) else {
                    guard lineLength + rest <= maxLineLength else { mode = .failed; return false }
                    (buffer + lineLength).update(from: base + pos, count: rest)
                    lineLength += rest
                    return true
                }
                let nl = UnsafePointer(nlRaw.assumingMemoryBound(to: UInt8.self)) - base
                let ok: Bool
                if lineLength == 0 {
                    ok = handler.line(base + pos, nl - pos + 1)
                } else {
                    let piece = nl - pos + 1
                    guard lineLength + piece <= maxLineLength else { mode = .failed; return false }
                    (buffer + lineLength).update(from: base + pos, count: piece)
                    lineLength += piece
                    ok = handler.line(UnsafePointer(buffer), lineLength)
                    lineLength = 0
                }
                if !ok { mode = .failed; return false }
                pos = nl + 1
            case .data:
                let n = min(remaining, count - pos)
                handler.data(UnsafeRawBufferPointer(start: base + pos, count: n))
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
                handler.dataEnd()
            case .failed:
                return false
            }
        }
        return true
    }
}
