// -Y: memcached's ASCII authentication (try_read_command_asciiauth). Until a connection sends
// `set <any key> <flags> <exptime> <bytes>` with "<user> <password>" from the auth file as its
// data, every line gets `CLIENT_ERROR unauthenticated`. Used by the cache and the broker port.
import Platform

/// A connection's -Y authentication state; the text request loop drives it.
public struct AsciiAuth {
    private let entries: [AuthEntry]
    /// True once the connection has authenticated (at once without -Y).
    public private(set) var authenticated: Bool
    /// The size of the awaited auth data block, -1 when waiting for a command line.
    private var dataBytes = -1
    /// Bytes of an oversized auth data block still to skip.
    private var skipBytes = 0

    /// `entries`: the auth file's pairs; nil = no authentication.
    public init(entries: [AuthEntry]?) {
        self.entries = entries ?? []
        authenticated = entries == nil
    }

    /// Consumes one line or one auth data block at `pos`; returns the new position, nil to wait
    /// for more input, -1 to close. `counted(ok)` is told of each credential check.
    @usableFromInline
    mutating func consume(_ input: UnsafeRawBufferPointer, _ pos: Int, _ output: OutputBuffer,
                          counted: (Bool) -> Void) -> Int? {
        if skipBytes > 0 {
            let n = min(skipBytes, input.count - pos)
            skipBytes -= n
            return pos + n
        }
        if dataBytes >= 0 {
            let need = dataBytes + 2
            guard input.count - pos >= need else { return nil }
            let data = UnsafeRawBufferPointer(rebasing: input[pos..<pos + need])
            dataBytes = -1
            guard data[need - 2] == 0x0d && data[need - 1] == 0x0a else {
                output.append("CLIENT_ERROR bad command line termination\r\n")
                return pos + need
            }
            var tokens = Tokens()
            _ = TextParser.tokenize(data, start: 0, end: need - 2, into: &tokens)
            guard tokens.count >= 2 else {
                output.append("CLIENT_ERROR bad authentication token format\r\n")
                return pos + need
            }
            let user = UnsafeRawBufferPointer(rebasing: data[tokens[0].start..<tokens[0].start + tokens[0].count])
            let password = UnsafeRawBufferPointer(rebasing: data[tokens[1].start..<tokens[1].start + tokens[1].count])
            // Every entry is checked, user and password in constant time, with no exit at the
            // first match: the reply's timing says nothing about which byte or entry differed.
            var matches: UInt8 = 0
            for e in entries {
                let userOK: UInt8 = ConstantTime.equals(user, e.user) ? 1 : 0
                let passwordOK: UInt8 = ConstantTime.equals(password, e.password) ? 1 : 0
                matches |= userOK & passwordOK
            }
            let ok = matches != 0
            counted(ok)
            if ok {
                authenticated = true
                output.append(Reply.stored)
            } else {
                output.append("CLIENT_ERROR authentication failure\r\n")
            }
            return pos + need
        }
        guard let nl = TextParser.findNewline(input, from: pos) else {
            // memcached closes a connection that sends over 1 KB without a newline here.
            return input.count - pos > 1024 ? -1 : nil
        }
        var end = nl
        if end > pos && input[end - 1] == 0x0d { end -= 1 }
        var tokens = Tokens()
        _ = TextParser.tokenize(input, start: pos, end: end, into: &tokens)
        if tokens.count >= 5, TextParser.equals(input, tokens[0], "set"),
           let size = TextParser.parseUnsigned(input, tokens[4], max: UInt64(Int32.max)) {
            if size > 8192 {
                // Not a user and password: skipped rather than buffered.
                skipBytes = Int(size) + 2
                output.append("CLIENT_ERROR bad authentication token format\r\n")
            } else {
                dataBytes = Int(size)
            }
        } else {
            output.append("CLIENT_ERROR unauthenticated\r\n")
        }
        return nl + 1
    }
}
