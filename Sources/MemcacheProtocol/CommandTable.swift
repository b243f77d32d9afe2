// Command dispatch by table for the text ports: each port declares its commands once, as (name,
// token arity, handler), and finds a line's command word on its raw bytes. The lookup hashes
// (length, first byte, last byte) into a small open-addressed slot array and confirms with one
// memcmp: no String, no allocation per request. The memcached port's get/set/meta path is a
// direct switch ahead of its table (MemcacheConnection.swift).
import Platform
#if canImport(Glibc)
import Glibc
#endif

/// How many tokens a command takes, its own word included, counted as memcached's tokenizer
/// counts them (at most `Tokens.capacity`, `TextLine.more` past that).
public struct CommandArity: Sendable {
    @usableFromInline let min: Int
    /// nil: no upper bound, the rest of the line included (multi-key gets read past the tokens).
    @usableFromInline let max: Int?

    /// A bounded count; `Tokens.capacity` as the upper bound means "no more than the tokenizer
    /// keeps", as memcached's `ntokens` checks do.
    public init(_ range: ClosedRange<Int>) {
        precondition(range.lowerBound >= 1 && range.upperBound <= Tokens.capacity)
        min = range.lowerBound
        max = range.upperBound
    }

    private init(min: Int) {
        self.min = min
        max = nil
    }

    /// Any count: the handler checks what it needs (its wrong-count reply differs from an
    /// unknown command's).
    public static let any = CommandArity(min: 1)
    /// At least `n` tokens and anything after them.
    public static func atLeast(_ n: Int) -> CommandArity { CommandArity(min: n) }

    @inlinable
    func accepts(_ line: TextLine) -> Bool {
        guard line.tokens.count >= min else { return false }
        guard let max else { return true }
        return !line.more && line.tokens.count <= max
    }
}

/// One command of a text port: its word, its arity, and what runs it on `Connection`.
public struct Command<Connection>: Sendable {
    public let name: StaticString
    public let arity: CommandArity
    public let run: @Sendable (Connection, TextLine, OutputBuffer) -> HandlerAction

    public init(_ name: StaticString, _ arity: CommandArity = .any,
                _ run: @escaping @Sendable (Connection, TextLine, OutputBuffer) -> HandlerAction) {
        self.name = name
        self.arity = arity
        self.run = run
    }
}

/// A port's command set. A line whose word is not declared, or whose token count is outside the
/// declared arity, goes to `unknown` (memcached answers both the same way).
public struct CommandTable<Connection>: Sendable {
    public let commands: [Command<Connection>]
    @usableFromInline let unknown: @Sendable (Connection, TextLine, OutputBuffer) -> HandlerAction
    /// Open addressing: an index into `commands`, or -1. At most a quarter full, so a probe
    /// sequence is short and always ends at an empty slot.
    @usableFromInline let slots: [Int16]
    @usableFromInline let mask: Int

    public init(_ commands: [Command<Connection>],
                unknown: @escaping @Sendable (Connection, TextLine, OutputBuffer) -> HandlerAction) {
        var size = 16
        while size < commands.count * 4 { size *= 2 }
        var slots = [Int16](repeating: -1, count: size)
        for (i, c) in commands.enumerated() {
            precondition(c.name.utf8CodeUnitCount > 0, "a command needs a name")
            precondition(!commands[..<i].contains { Self.sameName($0.name, c.name) }, "\(c.name) is declared twice")
            let bytes = UnsafeRawBufferPointer(start: c.name.utf8Start, count: c.name.utf8CodeUnitCount)
            var h = Self.hash(bytes.count, bytes[0], bytes[bytes.count - 1]) & (size - 1)
            while slots[h] >= 0 { h = (h + 1) & (size - 1) }
            slots[h] = Int16(i)
        }
        self.commands = commands
        self.unknown = unknown
        self.slots = slots
        self.mask = size - 1
    }

    private static func sameName(_ a: StaticString, _ b: StaticString) -> Bool {
        a.utf8CodeUnitCount == b.utf8CodeUnitCount && memcmp(a.utf8Start, b.utf8Start, a.utf8CodeUnitCount) == 0
    }

    @inlinable @inline(__always)
    static func hash(_ length: Int, _ first: UInt8, _ last: UInt8) -> Int {
        length &* 37 &+ Int(first) &* 11 &+ Int(last)
    }

    /// The index in `commands` of the command named by `word`, or nil.
    @inlinable
    public func lookup(_ input: UnsafeRawBufferPointer, _ word: Token) -> Int? {
        guard word.count > 0 else { return nil }
        let p = input.baseAddress! + word.start
        var h = Self.hash(word.count, p.load(as: UInt8.self), p.load(fromByteOffset: word.count - 1, as: UInt8.self)) & mask
        while true {
            let i = Int(slots[h])
            if i < 0 { return nil }
            let name = commands[i].name
            if name.utf8CodeUnitCount == word.count && memcmp(name.utf8Start, p, word.count) == 0 { return i }
            h = (h &+ 1) & mask
        }
    }

    /// Runs the line's command on `connection`.
    @inlinable
    public func run(_ connection: Connection, _ line: TextLine, _ output: OutputBuffer) -> HandlerAction {
        if let i = lookup(line.input, line.tokens[0]) {
            let command = commands[i]
            if command.arity.accepts(line) { return command.run(connection, line, output) }
        }
        return unknown(connection, line, output)
    }
}
