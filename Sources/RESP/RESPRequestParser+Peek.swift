// A look at a pipelined request that has not been parsed yet: its command name, its second
// argument (the first key, for the commands that take one), its third and fourth (where a field
// or member lies: HSET key field value, ZADD key score member) and where it ends, so that the
// connection can name the next requests' keys and fields to the engine before running the current
// one (CacheEngine+KeyHints.swift). Only the usual form is read (`*<n>` with 2...64 arguments,
// every `$<length>` line short and complete, the whole request in the input); anything else is no
// answer, and the request is parsed as always when its turn comes. Nothing here changes the
// parser's state, and nothing past the input is read.

/// A pipelined request's first arguments as they lie in the input (an argument past the
/// request's count is empty).
struct PeekedRequest {
    var name: UnsafeRawBufferPointer
    var key: UnsafeRawBufferPointer
    var third: UnsafeRawBufferPointer
    var fourth: UnsafeRawBufferPointer
    /// The number of arguments, the command name included.
    var count: Int
    /// The input offset after the request.
    var end: Int
}

extension RESPRequestParser {
    /// The multibulk request at `start`, or nil.
    @inline(__always)
    static func peekRequest(_ input: UnsafeRawBufferPointer, at start: Int) -> PeekedRequest? {
        let n = input.count - start
        guard n > 4, let base = input.baseAddress else { return nil }
        let p = base + start
        guard p.load(as: UInt8.self) == UInt8(ascii: "*"), let (count, first) = shortCountLine(p, from: 1, to: n),
              count >= 2, count <= 64 else { return nil }
        var at = first
        let none = UnsafeRawBufferPointer(start: nil, count: 0)
        var r = PeekedRequest(name: none, key: none, third: none, fourth: none, count: count, end: 0)
        for i in 0..<count {
            guard at < n, p.load(fromByteOffset: at, as: UInt8.self) == UInt8(ascii: "$"),
                  let (length, dataStart) = shortCountLine(p, from: at + 1, to: n), n - dataStart >= length + 2 else { return nil }
            let argument = UnsafeRawBufferPointer(start: p + dataStart, count: length)
            switch i {
            case 0: r.name = argument
            case 1: r.key = argument
            case 2: r.third = argument
            case 3: r.fourth = argument
            default: break
            }
            at = dataStart + length + 2
        }
        r.end = start + at
        return r
    }
}
