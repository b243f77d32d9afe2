// A look at a pipelined request that has not been parsed yet: its second argument (the first
// key, for the commands that take one) and where it ends, so that the connection can name the
// next requests' keys to the engine before running the current one (CacheEngine+KeyHints.swift).
// Only the usual form is read (`*<n>` with 2...64 arguments, every `$<length>` line short and
// complete, the whole request in the input); anything else is no answer, and the request is
// parsed as always when its turn comes. Nothing here changes the parser's state.

extension RESPRequestParser {
    /// The second argument of the multibulk request at `start`, and the request's end.
    @inline(__always)
    static func peekKey(_ input: UnsafeRawBufferPointer, at start: Int) -> (key: UnsafeRawBufferPointer, end: Int)? {
        let n = input.count - start
        guard n > 4, let base = input.baseAddress else { return nil }
        let p = base + start
        guard p.load(as: UInt8.self) == UInt8(ascii: "*"), let (count, first) = shortCountLine(p, from: 1, to: n),
              count >= 2, count <= 64 else { return nil }
        var at = first
        var key = UnsafeRawBufferPointer(start: nil, count: 0)
        for i in 0..<count {
            guard at < n, p.load(fromByteOffset: at, as: UInt8.self) == UInt8(ascii: "$"),
                  let (length, dataStart) = shortCountLine(p, from: at + 1, to: n), n - dataStart >= length + 2 else { return nil }
            if i == 1 { key = UnsafeRawBufferPointer(start: p + dataStart, count: length) }
            at = dataStart + length + 2
        }
        return (key, start + at)
    }
}
