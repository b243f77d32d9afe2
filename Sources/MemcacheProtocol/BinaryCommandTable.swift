// The binary protocol's commands by table: each opcode memcached 1.6.18 knows is declared once,
// with its name, the body its header must announce (memcached's per-opcode checks in
// dispatch_bin_command, made before any body is awaited), whether it is a quiet variant, whether
// its reply carries the key, and the handler that runs it. Lookup is one index into a 256-entry
// array; an opcode not declared is an unknown command.
import CacheEngine

/// What an opcode's header must announce.
public enum BinaryBody: Equatable, Sendable {
    /// No extras, no key, no body (version, noop, quit).
    case empty
    /// No key; extras of 0 or 4 bytes (the delay) and nothing else.
    case flush
    /// `extras` bytes, a key, then a value of any length streamed into the item (storage).
    case value(extras: Int)
    /// `extras` bytes and a key, nothing else.
    case key(extras: Int)
    /// A key or nothing, no extras (stat and its group).
    case optionalKey

    func accepts(_ h: BinaryHeader) -> Bool {
        let key = h.keyLength, extras = h.extrasLength, body = h.bodyLength
        switch self {
        case .empty: return extras == 0 && key == 0 && body == 0
        case .flush: return key == 0 && body == extras && (extras == 0 || extras == 4)
        case .value(let n): return extras == n && key != 0
        case .key(let n): return extras == n && key != 0 && body == key + n
        case .optionalKey: return extras == 0 && body == key
        }
    }
}

/// What runs an opcode.
public enum BinaryHandler: Equatable, Sendable {
    /// get, getk, touch, gat, gatk (and quiet): `touch` sets a new expiry; `value` false answers
    /// with the flags only (touch).
    case get(touch: Bool, value: Bool)
    case store(StoreMode)
    case delete
    case delta(incr: Bool)
    case quit
    case flush
    case noop
    case version
    case stat
}

public struct BinaryCommand: Sendable {
    public let name: StaticString
    public let body: BinaryBody
    public let handler: BinaryHandler
    /// Quiet variants answer only errors (getq, setq, ...).
    public let quiet: Bool
    /// getk, getkq, gatk, gatkq: the reply carries the key.
    public let returnsKey: Bool

    init(_ name: StaticString, _ body: BinaryBody, _ handler: BinaryHandler, quiet: Bool = false, returnsKey: Bool = false) {
        self.name = name
        self.body = body
        self.handler = handler
        self.quiet = quiet
        self.returnsKey = returnsKey
    }
}

public enum BinaryCommandTable {
    /// memcached 1.6.18's opcodes. Verbosity (0x1b) is not among them: 1.6.18 answers it
    /// "Unknown command".
    static let declared: [(UInt8, BinaryCommand)] = [
        (BinaryOpcode.get, BinaryCommand("get", .key(extras: 0), .get(touch: false, value: true))),
        (BinaryOpcode.getq, BinaryCommand("getq", .key(extras: 0), .get(touch: false, value: true), quiet: true)),
        (BinaryOpcode.getk, BinaryCommand("getk", .key(extras: 0), .get(touch: false, value: true), returnsKey: true)),
        (BinaryOpcode.getkq, BinaryCommand("getkq", .key(extras: 0), .get(touch: false, value: true), quiet: true, returnsKey: true)),
        (BinaryOpcode.touch, BinaryCommand("touch", .key(extras: 4), .get(touch: true, value: false))),
        (BinaryOpcode.gat, BinaryCommand("gat", .key(extras: 4), .get(touch: true, value: true))),
        (BinaryOpcode.gatq, BinaryCommand("gatq", .key(extras: 4), .get(touch: true, value: true), quiet: true)),
        (BinaryOpcode.gatk, BinaryCommand("gatk", .key(extras: 4), .get(touch: true, value: true), returnsKey: true)),
        (BinaryOpcode.gatkq, BinaryCommand("gatkq", .key(extras: 4), .get(touch: true, value: true), quiet: true, returnsKey: true)),
        (BinaryOpcode.set, BinaryCommand("set", .value(extras: 8), .store(.set))),
        (BinaryOpcode.setq, BinaryCommand("setq", .value(extras: 8), .store(.set), quiet: true)),
        (BinaryOpcode.add, BinaryCommand("add", .value(extras: 8), .store(.add))),
        (BinaryOpcode.addq, BinaryCommand("addq", .value(extras: 8), .store(.add), quiet: true)),
        (BinaryOpcode.replace, BinaryCommand("replace", .value(extras: 8), .store(.replace))),
        (BinaryOpcode.replaceq, BinaryCommand("replaceq", .value(extras: 8), .store(.replace), quiet: true)),
        (BinaryOpcode.append, BinaryCommand("append", .value(extras: 0), .store(.append))),
        (BinaryOpcode.appendq, BinaryCommand("appendq", .value(extras: 0), .store(.append), quiet: true)),
        (BinaryOpcode.prepend, BinaryCommand("prepend", .value(extras: 0), .store(.prepend))),
        (BinaryOpcode.prependq, BinaryCommand("prependq", .value(extras: 0), .store(.prepend), quiet: true)),
        (BinaryOpcode.delete, BinaryCommand("delete", .key(extras: 0), .delete)),
        (BinaryOpcode.deleteq, BinaryCommand("deleteq", .key(extras: 0), .delete, quiet: true)),
        (BinaryOpcode.increment, BinaryCommand("increment", .key(extras: 20), .delta(incr: true))),
        (BinaryOpcode.incrementq, BinaryCommand("incrementq", .key(extras: 20), .delta(incr: true), quiet: true)),
        (BinaryOpcode.decrement, BinaryCommand("decrement", .key(extras: 20), .delta(incr: false))),
        (BinaryOpcode.decrementq, BinaryCommand("decrementq", .key(extras: 20), .delta(incr: false), quiet: true)),
        (BinaryOpcode.quit, BinaryCommand("quit", .empty, .quit)),
        (BinaryOpcode.quitq, BinaryCommand("quitq", .empty, .quit, quiet: true)),
        (BinaryOpcode.flush, BinaryCommand("flush", .flush, .flush)),
        (BinaryOpcode.flushq, BinaryCommand("flushq", .flush, .flush, quiet: true)),
        (BinaryOpcode.noop, BinaryCommand("noop", .empty, .noop)),
        (BinaryOpcode.version, BinaryCommand("version", .empty, .version)),
        (BinaryOpcode.stat, BinaryCommand("stat", .optionalKey, .stat)),
    ]

    /// Indexed by opcode.
    static let byOpcode: [BinaryCommand?] = {
        var table = [BinaryCommand?](repeating: nil, count: 256)
        for (op, c) in declared {
            precondition(table[Int(op)] == nil, "binary opcode \(op) declared twice")
            table[Int(op)] = c
        }
        return table
    }()

    @inline(__always)
    public static func command(_ opcode: UInt8) -> BinaryCommand? { byOpcode[Int(opcode)] }
}
