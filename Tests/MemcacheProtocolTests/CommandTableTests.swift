// CommandTable: a word is found by its bytes, only when all of them match (prefixes, names of
// one length with the same first and last byte), and a line outside the declared arity goes to
// the table's unknown-command handler. The cache port's own table is checked entry by entry.
@testable import MemcacheProtocol
import Platform
import Testing

/// Records which handler a line reached.
final class Recorder {
    var ran = ""
}

/// Runs `body` on `line` tokenized as the request loop tokenizes it.
func withLine<R>(_ line: String, _ body: (TextLine) -> R) -> R {
    let bytes = Array(line.utf8)
    return bytes.withUnsafeBytes { body(TextLine($0, start: 0, end: $0.count)) }
}

/// The table's index for `word`, or nil.
func lookup<C>(_ table: CommandTable<C>, _ word: String) -> Int? {
    let bytes = Array(word.utf8)
    return bytes.withUnsafeBytes { table.lookup($0, Token(start: 0, count: $0.count)) }
}

func name<C>(_ c: Command<C>) -> String {
    String(decoding: UnsafeRawBufferPointer(start: c.name.utf8Start, count: c.name.utf8CodeUnitCount), as: UTF8.self)
}

/// Names that share length, first and last byte (one hash), and prefixes of one another.
func recording(_ n: StaticString) -> Command<Recorder> {
    Command(n) { r, _, _ in
        r.ran = n.description
        return .proceed
    }
}

/// Names that share length, first and last byte (one hash), and prefixes of one another.
let collidingTable = CommandTable<Recorder>(
    [recording("aXb"), recording("aYb"), recording("aZZb"), recording("ab"), recording("ba"), recording("a"),
     recording("lru"), recording("lru_crawler"), recording("stats"), recording("stat")],
    unknown: { r, _, _ in
        r.ran = "?"
        return .proceed
    })

@Suite("command tables")
struct CommandTableTests {
    @Test("every declared command is found at its own index, and by no other word")
    func everyDeclaredCommandIsFound() {
        for table in [collidingTable.commands.map(name), MemcacheConnection.commands.commands.map(name)] {
            #expect(Set(table).count == table.count)
        }
        for (i, c) in collidingTable.commands.enumerated() { #expect(lookup(collidingTable, name(c)) == i) }
        for (i, c) in MemcacheConnection.commands.commands.enumerated() {
            #expect(lookup(MemcacheConnection.commands, name(c)) == i)
        }
    }

    @Test("prefixes, extensions and same-hash neighbours of declared words are not found",
          arguments: ["aWb", "aXc", "bXb", "aZb", "aZZZb", "b", "abb", "aa", "lr", "lru_", "lru_crawle", "lru_crawlerx",
                      "sta", "statss", "Stats", "STATS", "", "stats "])
    func unknownWordsAreNotFound(_ word: String) {
        #expect(lookup(collidingTable, word) == nil)
    }

    @Test("the cache port's table holds no get/set/meta word (those are the direct switch) and nothing unknown",
          arguments: ["get", "gets", "gat", "gats", "set", "add", "cas", "incr", "decr", "delete", "touch",
                      "mg", "ms", "md", "ma", "me", "mx", "stat", "flush", "versions", "lru_crawle", "verbosit",
                      "cache_memlimi", "shutdow", "quitt", "misbehave"])
    func cachePortTableMisses(_ word: String) {
        #expect(lookup(MemcacheConnection.commands, word) == nil)
    }

    @Test("a line reaches its command's handler, an unknown word the unknown handler")
    func runDispatches() {
        let r = Recorder()
        for line in ["aXb", "aYb 1 2", "  lru_crawler x", "stat", "ab"] {
            withLine(line) { _ = collidingTable.run(r, $0, OutputBuffer()) }
            #expect(r.ran == line.split(separator: " ")[0].description)
        }
        withLine("lru_crawlers x") { _ = collidingTable.run(r, $0, OutputBuffer()) }
        #expect(r.ran == "?")
    }

    @Test("arity: bounded counts refuse fewer, more, and a line past the tokenizer's 8 tokens")
    func arity() {
        func accepts(_ arity: CommandArity, _ line: String) -> Bool { withLine(line) { arity.accepts($0) } }
        let two = CommandArity(2...3)
        #expect(!accepts(two, "cmd"))
        #expect(accepts(two, "cmd a"))
        #expect(accepts(two, "cmd a b"))
        #expect(!accepts(two, "cmd a b c"))
        let toCapacity = CommandArity(2...Tokens.capacity)
        #expect(accepts(toCapacity, "cmd 1 2 3 4 5 6 7"))
        #expect(!accepts(toCapacity, "cmd 1 2 3 4 5 6 7 8"))
        #expect(accepts(.any, "cmd"))
        #expect(accepts(.any, "cmd 1 2 3 4 5 6 7 8 9 10"))
        #expect(!accepts(.atLeast(2), "cmd"))
        #expect(accepts(.atLeast(2), "cmd 1 2 3 4 5 6 7 8 9 10"))
    }

    @Test("a wrong token count is answered as an unknown command")
    func wrongArityIsUnknown() {
        let table = CommandTable<Recorder>([
            Command("one", CommandArity(1...1)) { r, _, _ in
                r.ran = "one"
                return .proceed
            },
        ], unknown: { r, _, _ in
            r.ran = "?"
            return .proceed
        })
        let r = Recorder()
        withLine("one") { _ = table.run(r, $0, OutputBuffer()) }
        #expect(r.ran == "one")
        withLine("one two") { _ = table.run(r, $0, OutputBuffer()) }
        #expect(r.ran == "?")
    }
}
