// A value that follows its command line (set, ms, a binary store, a queue set or publish): the
// bytes that came with the command line are copied into item memory, the rest are read by the
// connection straight into it (`destination`, memcached's conn_nread), then the "\r\n" the text
// protocols require after it is checked. A binary-protocol value has no terminator.
import CacheEngine

/// A data block being read into an item; one per command that announces a value.
public struct ValueBlock {
    private(set) var filled = 0
    private var terminatorLeft: Int
    /// False when the two bytes after the value were not "\r\n".
    public private(set) var terminatorValid = true

    /// `terminated`: a text protocol's block, followed by "\r\n".
    public init(terminated: Bool) {
        terminatorLeft = terminated ? 2 : 0
    }

    /// Takes what it can of `input` from `pos` into `item`; returns the new position.
    public mutating func take(_ input: UnsafeRawBufferPointer, at start: Int, into item: Item, engine: CacheEngine) -> Int {
        var pos = start
        let valueLength = item.valueLength
        if filled < valueLength {
            let n = min(valueLength - filled, input.count - pos)
            if n > 0 {
                engine.writeValue(item, at: filled, UnsafeRawBufferPointer(rebasing: input[pos..<pos + n]))
                filled += n
                pos += n
            }
        }
        if filled == valueLength {
            while terminatorLeft > 0 && pos < input.count {
                if input[pos] != (terminatorLeft == 2 ? 0x0d : 0x0a) { terminatorValid = false }
                terminatorLeft -= 1
                pos += 1
            }
        }
        return pos
    }

    /// The item memory the next value bytes go to (to the end of the current chunk), or nil once
    /// the value is in.
    public func destination(_ item: Item, engine: CacheEngine) -> UnsafeMutableRawBufferPointer? {
        filled < item.valueLength ? engine.valueSpace(item, from: filled) : nil
    }

    /// `n` bytes were written into `destination` by the caller.
    public mutating func received(_ n: Int) { filled += n }

    /// The value and its terminator are all in.
    public func isComplete(_ item: Item) -> Bool { filled == item.valueLength && terminatorLeft == 0 }
}

/// After a refused store the data block is skipped (memcached's conn_swallow): consumes what it
/// can of `remaining` bytes from `pos`; true while more are still owed.
@inline(__always) @usableFromInline
func swallow(_ remaining: inout Int, _ input: UnsafeRawBufferPointer, _ pos: inout Int) -> Bool {
    let n = min(remaining, input.count - pos)
    pos += n
    remaining -= n
    return remaining > 0
}
