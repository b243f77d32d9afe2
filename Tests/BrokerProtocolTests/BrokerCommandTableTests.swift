// The broker port's command table: every verb is found at its own index, and neighbours of
// them are not.
@testable import BrokerProtocol
import MemcacheProtocol
import Testing

@Suite("broker command table")
struct BrokerCommandTableTests {
    private func lookup(_ word: String) -> Int? {
        let bytes = Array(word.utf8)
        return bytes.withUnsafeBytes { BrokerConnection.commands.lookup($0, Token(start: 0, count: $0.count)) }
    }

    @Test("every declared verb is found at its own index")
    func everyVerbIsFound() {
        let names = BrokerConnection.commands.commands.map {
            String(decoding: UnsafeRawBufferPointer(start: $0.name.utf8Start, count: $0.name.utf8CodeUnitCount), as: UTF8.self)
        }
        #expect(Set(names).count == names.count)
        for (i, n) in names.enumerated() { #expect(lookup(n) == i) }
    }

    @Test("words that are not verbs are not found",
          arguments: ["ge", "gett", "flus", "flushall", "flush_al", "queues", "bin", "unbin", "pack", "nak", "gat", "mn", "watch"])
    func unknownWords(_ word: String) {
        #expect(lookup(word) == nil)
    }
}
