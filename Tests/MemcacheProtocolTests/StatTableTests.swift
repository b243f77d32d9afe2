// The cache port's stats tables against what `stats`, `stats items` and `stats slabs` render: every
// declared name exactly once, in declaration order, and nothing undeclared; every command counter
// is rendered.
@testable import MemcacheProtocol
import Platform
import Testing

/// The names of the STAT lines of a reply, in order.
func statNames(_ reply: String) -> [String] {
    reply.split(separator: "\r\n").compactMap { line in
        let words = line.split(separator: " ")
        return words.count == 3 && words[0] == "STAT" ? String(words[1]) : nil
    }
}

@Suite("stats tables")
struct StatTableTests {
    @Test("stats renders every declared name once, in the table's order, and nothing else")
    func generalStats() throws {
        let c = try Client()
        _ = c.send("set a 0 0 1\r\n1\r\nget a\r\n")
        // No server around the protocol: StatsSources.general adds nothing.
        let names = statNames(c.send("stats\r\n"))
        let declared = MemcacheService.generalStatTable.declarations.map(\.name)
        #expect(Set(declared).count == declared.count)
        #expect(names == declared)
    }

    @Test("every command counter is declared in the stats table exactly once, as a counter")
    func everyCounterRendered() {
        let counters = MemcacheService.generalStatTable.declarations.filter { $0.kind == .counter }
        #expect(counters.map(\.name).sorted() == CommandCounter.allCases.map(\.name).sorted())
    }

    @Test("stats items and stats slabs render their tables per class")
    func perClassStats() throws {
        let c = try Client()
        _ = c.send("set a 0 0 1\r\n1\r\n")
        let items = statNames(c.send("stats items\r\n"))
        // number_temp only with the TEMP LRU (-o temporary_ttl), as memcached.
        #expect(items == MemcacheService.itemsStatTable.declarations.filter { $0.name != "number_temp" }.map { "items:1:" + $0.name })
        let slabs = statNames(c.send("stats slabs\r\n"))
        #expect(slabs == MemcacheService.slabClassStatTable.declarations.map { "1:" + $0.name }
            + MemcacheService.slabTotalsStatTable.declarations.map(\.name))
    }

    @Test("a gauge without a value leaves its line out; a prefix goes before every name")
    func optionalGaugesAndPrefix() {
        let counters = CommandCounter.makeCounters()
        counters.add(.cmdGet, 3)
        let table = StatTable<Int?>(counterSets: { _ in [counters, counters] }, [
            .counter(CommandCounter.cmdGet),
            .gauge("maybe", .stats) { $0.map(String.init) },
        ])
        #expect(table.lines(nil, prefix: "p:").map { "\($0.0)=\($0.1)" } == ["p:cmd_get=6"])
        #expect(table.lines(7).map { "\($0.0)=\($0.1)" } == ["cmd_get=6", "maybe=7"])
    }
}
