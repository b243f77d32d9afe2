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
    /// close); a key over 250 bytes, then the lengths each opcode requires ("Invalid arguments",
    /// close). Unlike memcached, stat and touch/gat also need the body to be exactly extras and
    /// key (memcached reads the rest as the next request).
    static func check(magic: UInt8, _ h: BinaryHeader) -> BinaryHeaderVerdict {
        guard magic == 0x80 else { return .badMagic }
        let key = h.keyLength, extras = h.extrasLength, body = h.bodyLength
        if key + extras > body { return .reject(status: BinaryStatus.unknownCommand) }
        if key > ItemLayout.maxKeyLength { return .reject(status: BinaryStatus.invalidArguments) }
        let ok: Bool
        switch h.opcode {
        case BinaryOpcode.version, BinaryOpcode.noop, BinaryOpcode.quit, BinaryOpcode.quitq:
            ok = extras == 0 && key == 0 && body == 0
        case BinaryOpcode.flush, BinaryOpcode.flushq:
            ok = key == 0 && body == extras && (extras == 0 || extras == 4)
        case BinaryOpcode.set, BinaryOpcode.add, BinaryOpcode.replace,
             BinaryOpcode.setq, BinaryOpcode.addq, BinaryOpcode.replaceq:
            ok = extras == 8 && key != 0
        case BinaryOpcode.append, BinaryOpcode.prepend, BinaryOpcode.appendq, BinaryOpcode.prependq:
            ok = extras == 0 && key != 0
        case BinaryOpcode.get, BinaryOpcode.getq, BinaryOpcode.getk, BinaryOpcode.getkq,
             BinaryOpcode.delete, BinaryOpcode.deleteq:
            ok = extras == 0 && key != 0 && body == key
        case BinaryOpcode.increment, BinaryOpcode.decrement, BinaryOpcode.incrementq, BinaryOpcode.decrementq:
            ok = extras == 20 && key != 0 && body == key + 20
        case BinaryOpcode.stat:
            ok = extras == 0 && body == key
        case BinaryOpcode.touch, BinaryOpcode.gat, BinaryOpcode.gatq, BinaryOpcode.gatk, BinaryOpcode.gatkq:
            ok = extras == 4 && key != 0 && body == key + 4
        default:
            return .unknownCommand
        }
        return ok ? .accept : .reject(status: BinaryStatus.invalidArguments)
    }

    /// Storage opcodes: the value is read into item memory, not into the connection's buffer.
    static func isStore(_ opcode: UInt8) -> Bool {
        switch opcode {
        case BinaryOpcode.set, BinaryOpcode.add, BinaryOpcode.replace, BinaryOpcode.setq, BinaryOpcode.addq,
             BinaryOpcode.replaceq, BinaryOpcode.append, BinaryOpcode.prepend, BinaryOpcode.appendq,
             BinaryOpcode.prependq:
            true
        default:
            false
        }
    }
}
