// The binary protocol's header check, made on the 24 bytes alone before any body is awaited
// (memcached's try_read_command_binary and dispatch_bin_command): a header whose lengths do not
// fit its opcode is answered and the connection closed, so a client can never make the server
// buffer a body it declared. Storage opcodes stream their value into item memory (a value over
// the item size limit is refused and skipped, not buffered); every other known opcode's body is
// its extras and key, at most 4 + 250 + 20 bytes.
import CacheEngine

/// What the server does with a request header.
enum BinaryHeaderVerdict: Equatable {
    /// Known opcode, lengths consistent: await extras and key (and, for a non-storage opcode,
    /// the rest of its small body) and run it.
    case accept
    /// An opcode memcached does not know (verbosity included, in 1.6.18): "Unknown command",
    /// its body skipped as it arrives, the connection stays open.
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
        guard magic == 0x80 else { return .badMagic }
        if h.keyLength + h.extrasLength > h.bodyLength { return .reject(status: BinaryStatus.unknownCommand) }
        if h.keyLength > ItemLayout.maxKeyLength { return .reject(status: BinaryStatus.invalidArguments) }
        guard let command = BinaryCommandTable.command(h.opcode) else { return .unknownCommand }
        return command.body.accepts(h) ? .accept : .reject(status: BinaryStatus.invalidArguments)
    }
}
