// The meta commands' flags (protocol.txt, "Meta Commands"): single letters, some with a token
// glued on (T30, F5, Oabc). Parsed in one pass into a value; replies walk the line again so that
// return flags come back in the order the client asked for them.

struct MetaFlags {
    var seen: UInt64 = 0
    var base64 = false
    var quiet = false
    var returnValue = false
    var noBump = false
    var invalidate = false
    var ttl: Int32?
    var vivify: Int32?
    var recache: Int32?
    /// T came before R: R judges the expiry T set (flags apply in order, as memcached's loop).
    var touchBeforeRecache = false
    var clientFlags: UInt32?
    var compareCAS: UInt64?
    var mode: UInt8 = 0
    var delta: UInt64 = 1
    var initial: UInt64 = 0
    var opaque: Token?

    static let maxOpaqueLength = 32

    /// Parses the flags in input[from..<end]; the error on failure.
    static func parse(_ input: UnsafeRawBufferPointer, from: Int, end: Int) -> (MetaFlags, MetaFlagError?) {
        var f = MetaFlags()
        var pos = from
        while let t = TextParser.nextToken(input, from: pos, end: end) {
            pos = t.start + t.count
            let c = input[t.start]
            let bit: UInt64
            switch c {
            case UInt8(ascii: "a")...UInt8(ascii: "z"): bit = 1 << UInt64(c - UInt8(ascii: "a"))
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): bit = 1 << UInt64(c - UInt8(ascii: "A") + 26)
            default: return (f, .invalid)
            }
            if f.seen & bit != 0 { return (f, .duplicate) }
            f.seen |= bit
            let value = Token(start: t.start + 1, count: t.count - 1)
            switch c {
            case UInt8(ascii: "b"): f.base64 = true
            case UInt8(ascii: "q"): f.quiet = true
            case UInt8(ascii: "v"): f.returnValue = true
            case UInt8(ascii: "u"): f.noBump = true
            case UInt8(ascii: "I"): f.invalidate = true
            case UInt8(ascii: "k"), UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "c"), UInt8(ascii: "f"),
                 UInt8(ascii: "h"), UInt8(ascii: "l"), UInt8(ascii: "P"), UInt8(ascii: "L"):
                break
            case UInt8(ascii: "O"):
                if t.count > maxOpaqueLength { return (f, .opaqueTooLong) }
                f.opaque = value
            case UInt8(ascii: "T"), UInt8(ascii: "N"), UInt8(ascii: "R"):
                // safe_strtol into an int32_t: T99999999999 is a (past) Unix time, not an error.
                guard let v = TextParser.memcachedInt32(input, value) else { return (f, .badToken) }
                if c == UInt8(ascii: "T") { f.ttl = v } else if c == UInt8(ascii: "N") { f.vivify = v } else {
                    f.recache = v
                    f.touchBeforeRecache = f.ttl != nil
                }
            case UInt8(ascii: "F"):
                guard let v = TextParser.memcachedUInt32(input, value) else { return (f, .badClientFlags) }
                f.clientFlags = v
            // No E (explicit new CAS): memcached 1.6.18 answers it as an unknown flag.
            case UInt8(ascii: "C"), UInt8(ascii: "D"), UInt8(ascii: "J"):
                guard let v = TextParser.memcachedUInt64(input, value) else { return (f, .badToken) }
                switch c {
                case UInt8(ascii: "C"): f.compareCAS = v
                case UInt8(ascii: "D"): f.delta = v
                default: f.initial = v
                }
            case UInt8(ascii: "M"):
                guard value.count == 1 else { return (f, .modeLength) }
                f.mode = input[value.start]
            default:
                return (f, .invalid)
            }
        }
        return (f, nil)
    }
}

enum MetaFlagError {
    case invalid, duplicate, badToken, badClientFlags, modeLength, opaqueTooLong

    /// memcached's line for it. md and ma answer every flag error but a long opaque as one.
    func line(command: UInt8) -> StaticString {
        if self == .opaqueTooLong { return MetaReply.opaqueTooLong }
        if command == UInt8(ascii: "d") || command == UInt8(ascii: "a") { return MetaReply.invalidOrDuplicateFlag }
        switch self {
        case .invalid: return MetaReply.invalidFlag
        case .duplicate: return MetaReply.duplicateFlag
        case .badToken: return MetaReply.badToken
        case .badClientFlags: return Reply.badFormat
        case .modeLength: return MetaReply.modeLength
        case .opaqueTooLong: return MetaReply.opaqueTooLong
        }
    }
}

enum MetaReply {
    static let hd: StaticString = "HD"
    static let va: StaticString = "VA "
    static let en: StaticString = "EN\r\n"
    static let ns: StaticString = "NS"
    static let ex: StaticString = "EX"
    static let nf: StaticString = "NF"
    static let mn: StaticString = "MN\r\n"
    static let invalidFlag: StaticString = "CLIENT_ERROR invalid flag\r\n"
    static let duplicateFlag: StaticString = "CLIENT_ERROR duplicate flag\r\n"
    static let badToken: StaticString = "CLIENT_ERROR bad token in command line format\r\n"
    static let opaqueTooLong: StaticString = "CLIENT_ERROR opaque token too long\r\n"
    static let keyDecode: StaticString = "CLIENT_ERROR error decoding key\r\n"
    static let tooManyFlagsGet: StaticString = "CLIENT_ERROR options flags are too long\r\n"
    static let tooManyFlags: StaticString = "CLIENT_ERROR options flags too long\r\n"
    static let modeLength: StaticString = "CLIENT_ERROR incorrect length for M token\r\n"
    static let refcountOverflow: StaticString = "SERVER_ERROR refcount overflow during fetch\r\n"
    static let invalidOrDuplicateFlag: StaticString = "CLIENT_ERROR invalid or duplicate flag\r\n"
    static let invalidSetMode: StaticString = "CLIENT_ERROR invalid mode for ms M token\r\n"
    static let invalidArithmeticMode: StaticString = "CLIENT_ERROR invalid mode for ma M token\r\n"
}
