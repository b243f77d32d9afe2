// Redis commands by table: name, arity as redis declares it (n: exactly n arguments with the
// command's own name; -n: at least n), the key positions COMMAND reports, and the handler. A
// command word is found on its raw bytes, case-insensitively, through a small open-addressed
// table keyed by an FNV-1a hash of the lower-cased word: no String and no allocation per request.
// A command is an immutable class: finding one hands out one reference, where a struct (two arrays
// and a closure) was copied and destroyed field by field on every request.
import Platform

/// One Redis command. Immutable: the table makes its own copy, placed (index, counters), of
/// each declared command.
public final class RESPCommand: Sendable {
    /// Lower case, as redis names commands in errors and COMMAND replies.
    public let name: StaticString
    /// redis's arity: n > 0 exactly n words, n < 0 at least -n.
    public let arity: Int
    /// First key, last key (negative: from the end) and step, as COMMAND reports them; 0 = no key.
    public let firstKey: Int
    public let lastKey: Int
    public let keyStep: Int
    /// How it behaves inside MULTI (RESPConnection+Transactions.swift).
    let transaction: RESPTransactionRole
    /// The flags COMMAND reports (redis's command_flags).
    public let flags: RESPCommandFlags
    /// A container's subcommands this port implements, lower case (COMMAND INFO, CLIENT LIST's cmd).
    public let subcommands: [StaticString]
    /// Its place in the port's table (INFO commandstats' counters); set by the table.
    let index: Int
    /// A container's subcommands' counters start here (one per subcommand, after every
    /// command's); set by the table.
    let subcommandBase: Int
    /// Each implemented subcommand's arity, redis's (from COMMAND INFO's generated entries); set
    /// by the table.
    let subcommandArities: [Int]
    /// Runs on the connection's worker with the request's arguments readable through the parser.
    let run: @Sendable (RESPConnection, OutputBuffer) -> HandlerAction
    /// Whether the key's item-lock stripe may stay locked after it, for the next request of the
    /// same read (ItemLocks.swift: `process` keeps it): a one-key hash, set or sorted-set command.
    /// While a stripe is kept its thread may wait only for item locks (another stripe gives the
    /// kept one back first) and for locks whose holders never wait for an item lock (the engine's
    /// LRU and slab locks, taken under item locks); everything else gives it back before it
    /// waits: a `PlainMutex` (ListWaits' is taken before item locks), the command gate, keyspace
    /// events (the pub/sub locks) and the slow log. No stream or broker lock is reached.
    let keepsStripe: Bool

    init(_ name: StaticString, arity: Int, keys: (Int, Int, Int) = (0, 0, 0), flags: RESPCommandFlags = [],
         subcommands: [StaticString] = [], transaction: RESPTransactionRole = .queued,
         _ run: @escaping @Sendable (RESPConnection, OutputBuffer) -> HandlerAction) {
        self.name = name
        self.arity = arity
        self.flags = flags
        self.subcommands = subcommands
        self.transaction = transaction
        (firstKey, lastKey, keyStep) = keys
        self.run = run
        index = 0
        subcommandBase = 0
        subcommandArities = []
        keepsStripe = Self.keepsStripe(name)
    }

    /// The commands whose stripe a read's next request may find kept (`keepsStripe`).
    private static let stripeKeepers: [StaticString] = [
        "hset", "hmset", "hsetnx", "hget", "hmget", "hdel", "hlen", "hstrlen", "hexists", "hincrby", "hincrbyfloat",
        "sadd", "srem", "scard", "sismember", "smismember", "spop",
        "zadd", "zincrby", "zrem", "zcard", "zscore", "zmscore", "zrank", "zrevrank", "zcount", "zlexcount",
        "zpopmin", "zpopmax",
    ]

    private static func keepsStripe(_ name: StaticString) -> Bool {
        let n = UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
        return stripeKeepers.contains { equalFolded(n, $0) }
    }

    /// `declared` placed in a table.
    fileprivate init(_ declared: RESPCommand, index: Int, subcommandBase: Int, subcommandArities: [Int]) {
        name = declared.name
        arity = declared.arity
        firstKey = declared.firstKey
        lastKey = declared.lastKey
        keyStep = declared.keyStep
        transaction = declared.transaction
        flags = declared.flags
        subcommands = declared.subcommands
        run = declared.run
        keepsStripe = declared.keepsStripe
        self.index = index
        self.subcommandBase = subcommandBase
        self.subcommandArities = subcommandArities
    }

    @inline(__always)
    func accepts(argumentCount n: Int) -> Bool {
        arity >= 0 ? n == arity : n >= -arity
    }

    /// The implemented subcommand `word` names (any case), or nil.
    func subcommandIndex(_ word: UnsafeRawBufferPointer) -> Int? {
        subcommands.firstIndex { equalFolded(word, $0) }
    }

    /// The counters (commandstats) a request with `argumentCount` words and `word` as its second
    /// runs under: its subcommand's (`cmdstat_config|get`, as redis 7.0), else its own.
    @inline(__always)
    func statIndex(argumentCount n: Int, second word: @autoclosure () -> UnsafeRawBufferPointer) -> Int {
        guard !subcommands.isEmpty, n >= 2, let k = subcommandIndex(word()) else { return index }
        return subcommandBase + k
    }
}

/// What a command does when it arrives between MULTI and EXEC (redis 7.0's processCommand).
enum RESPTransactionRole: Sendable {
    /// Queued (+QUEUED) and run by EXEC.
    case queued
    /// Runs at once, even inside MULTI: MULTI, DISCARD, WATCH, QUIT, RESET.
    case immediate
    /// EXEC: runs at once; a rejection (arity, authentication) is answered as EXECABORT.
    case exec
    /// Refused inside MULTI ("Command not allowed inside a transaction"): SAVE (redis's no-multi).
    case refused
}

/// redis's command flags, in the order COMMAND lists them (redis's replyFlagNames).
public struct RESPCommandFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let write = Self(rawValue: 1 << 0)
    public static let readonly = Self(rawValue: 1 << 1)
    public static let denyoom = Self(rawValue: 1 << 2)
    public static let admin = Self(rawValue: 1 << 3)
    public static let pubsub = Self(rawValue: 1 << 4)
    public static let noscript = Self(rawValue: 1 << 5)
    public static let blocking = Self(rawValue: 1 << 6)
    public static let loading = Self(rawValue: 1 << 7)
    public static let stale = Self(rawValue: 1 << 8)
    public static let skipMonitor = Self(rawValue: 1 << 9)
    public static let skipSlowlog = Self(rawValue: 1 << 10)
    public static let asking = Self(rawValue: 1 << 11)
    public static let fast = Self(rawValue: 1 << 12)
    public static let noAuth = Self(rawValue: 1 << 13)
    public static let noMandatoryKeys = Self(rawValue: 1 << 14)
    public static let noAsyncLoading = Self(rawValue: 1 << 15)
    public static let noMulti = Self(rawValue: 1 << 16)
    public static let movableKeys = Self(rawValue: 1 << 17)
    public static let allowBusy = Self(rawValue: 1 << 18)

    /// The names COMMAND reports, by bit.
    static let names: [StaticString] = [
        "write", "readonly", "denyoom", "admin", "pubsub", "noscript", "blocking", "loading", "stale",
        "skip_monitor", "skip_slowlog", "asking", "fast", "no_auth", "no_mandatory_keys", "no_async_loading",
        "no_multi", "movablekeys", "allow_busy",
    ]
}

/// A port's command set, looked up by word.
public struct RESPCommandTable: Sendable {
    public let commands: [RESPCommand]
    /// Index + 1 into `commands`, 0 = empty; a power of two at least twice the command count.
    private let slots: [UInt16]
    /// How many commandstats counter sets: one per command, then one per implemented subcommand.
    let statCount: Int

    init(_ declared: [RESPCommand]) {
        var commands: [RESPCommand] = []
        var next = declared.count
        for (i, c) in declared.enumerated() {
            let row = c.subcommands.isEmpty ? nil : RESPCommandDocs.row(c.name)
            let arities = c.subcommands.indices.map { k in
                guard let row, k < row.subcommands.count else { return -2 }
                return RESPCommandDocs.integers(in: row.subcommands[k], at: [1]).first ?? -2
            }
            commands.append(RESPCommand(c, index: i, subcommandBase: c.subcommands.isEmpty ? 0 : next, subcommandArities: arities))
            next += c.subcommands.count
        }
        statCount = next
        self.commands = commands
        var size = 16
        while size < commands.count * 2 { size *= 2 }
        var slots = [UInt16](repeating: 0, count: size)
        for (i, c) in commands.enumerated() {
            let word = UnsafeRawBufferPointer(start: c.name.utf8Start, count: c.name.utf8CodeUnitCount)
            var s = Int(foldedHash(word)) & (size - 1)
            while slots[s] != 0 {
                precondition(!equalFolded(word, commands[Int(slots[s]) - 1].name), "command \(c.name) declared twice")
                s = (s + 1) & (size - 1)
            }
            slots[s] = UInt16(i + 1)
        }
        self.slots = slots
    }

    /// The command named by `word` (any case), or nil.
    @inline(__always)
    func find(_ word: UnsafeRawBufferPointer) -> RESPCommand? {
        let mask = slots.count - 1
        var s = Int(foldedHash(word)) & mask
        while true {
            let entry = slots[s]
            if entry == 0 { return nil }
            let c = commands[Int(entry) - 1]
            if equalFolded(word, c.name) { return c }
            s = (s + 1) & mask
        }
    }
}

@inline(__always)
private func lower(_ b: UInt8) -> UInt8 { b >= 0x41 && b <= 0x5A ? b | 0x20 : b }

@inline(__always)
private func foldedHash(_ word: UnsafeRawBufferPointer) -> UInt32 {
    var h: UInt32 = 2_166_136_261
    for b in word { h = (h ^ UInt32(lower(b))) &* 16_777_619 }
    return h
}

/// `word` equals `name` (lower case) ignoring the case of `word`.
@inline(__always)
func equalFolded(_ word: UnsafeRawBufferPointer, _ name: StaticString) -> Bool {
    guard word.count == name.utf8CodeUnitCount else { return false }
    let n = name.utf8Start
    for i in 0..<word.count where lower(word[i]) != n[i] { return false }
    return true
}
