// The binary protocol's header check, made on the 24 bytes alone before any body is awaited
// (memcached's try_read_command_binary and dispatch_bin_command): a header whose lengths do not
// fit its opcode is answered and the connection closed, so a client can never make the server
// buffer a body it declared. Storage opcodes stream their value into item memory (a value over
// the item size limit is refused and skipped, not buffered); every other known opcode's body is
// its extras and key, at most 4 + 250 + 20 bytes. `BinaryFrame.read` is the one place a request
// header is read and judged: the cache port serves every opcode of `BinaryCommandTable`, the
// broker port the ones that mean something on queues.
import CacheEngine
import Platform

/// What the server does with a request header.
public enum BinaryHeaderVerdict: Equatable, Sendable {
    /// Known opcode, lengths consistent: await extras and key (and, for a non-storage opcode,
    /// the rest of its small body) and run it.
    case accept
    /// An opcode memcached does not know (verbosity included, in 1.6.18), or one this port does
    /// not serve: "Unknown command", its body skipped as it arrives, the connection stays open.
    case unknownCommand
    /// Answered with `status` and closed (memcached's close_after_write).
    case reject(status: UInt16)
    /// Not a request header (magic): closed with no reply, after earlier replies are written.
    case badMagic
}

extension BinaryHeader {
    /// memcached's checks, in its order: magic; key and extras past the body ("Unknown command",
    /// close); a key over 250 bytes, then the body the opcode's table entry requires ("Invalid
    /// arguments", close). Unlike memcached, stat and touch/gat also need the body to be exactly
    /// extras and key (memcached reads the rest as the next request).
    static func check(magic: UInt8, _ h: BinaryHeader) -> BinaryHeaderVerdict {
        check(magic: magic, h, command: BinaryCommandTable.command(h.opcode))
    }

    /// As above, with `command` the opcode's entry if the port serves it (nil: unknown here).
    public static func check(magic: UInt8, _ h: BinaryHeader, command: BinaryCommand?) -> BinaryHeaderVerdict {
        guard magic == 0x80 else { return .badMagic }
        if h.keyLength + h.extrasLength > h.bodyLength { return .reject(status: BinaryStatus.unknownCommand) }
        if h.keyLength > ItemLayout.maxKeyLength { return .reject(status: BinaryStatus.invalidArguments) }
        guard let command else { return .unknownCommand }
        return command.body.accepts(h) ? .accept : .reject(status: BinaryStatus.invalidArguments)
    }
}

/// One request frame at a position of the input, judged on its header.
public enum BinaryFrame {
    /// Fewer than 24 bytes.
    case needMore
    /// A command the port serves, lengths consistent; its body starts at `bodyStart` (the caller
    /// awaits its extras and key, and for a non-storage command the rest of its small body).
    case request(BinaryHeader, BinaryCommand, bodyStart: Int)
    /// A header refused (bad magic, lengths that do not fit): answered if memcached answers it,
    /// the connection ends with `action` once `next` bytes are consumed. The caller counts it.
    case refused(next: Int, HandlerAction)
    /// An opcode not served here: "Unknown command" answered; go on at `next`, skipping `swallow`
    /// bytes of body as they arrive.
    case unknown(next: Int, swallow: Int)

    /// Reads and judges the header at `pos`; `serving` says which of `BinaryCommandTable`'s
    /// commands the port runs (the others are unknown commands to its clients).
    @inline(__always)
    public static func read(_ input: UnsafeRawBufferPointer, at pos: Int, _ output: OutputBuffer,
                            serving: (BinaryCommand) -> Bool) -> BinaryFrame {
        guard input.count - pos >= BinaryHeader.size else { return .needMore }
        let p = input.baseAddress! + pos
        let h = BinaryHeader(at: p)
        let bodyStart = pos + BinaryHeader.size
        let command = BinaryCommandTable.command(h.opcode).flatMap { serving($0) ? $0 : nil }
        switch BinaryHeader.check(magic: p.load(as: UInt8.self), h, command: command) {
        case .accept:
            return .request(h, command!, bodyStart: bodyStart)
        case .badMagic:
            // Replies to earlier requests (a noop's) still go out, as memcached writes them first.
            return .refused(next: pos, .close)
        case .reject(let status):
            output.appendBinaryError(h, status)
            return .refused(next: bodyStart, .close)
        case .unknownCommand:
            output.appendBinaryError(h, BinaryStatus.unknownCommand)
            return .unknown(next: bodyStart, swallow: h.bodyLength)
        }
    }
}
