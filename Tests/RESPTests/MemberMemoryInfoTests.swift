// INFO memory's two counters of compact member storage, read through the Redis port: a set
// emptied by SREM begins shrinking its member index (member_index_shrinks), and members that find
// the keyless classes without memory take the 44-byte header (keyless_item_fallbacks).
import CacheEngine
import Platform
@testable import RESP
import Testing

@Suite("INFO memory: member storage counters")
struct MemberMemoryInfoTests {
    private func run(_ handler: ConnectionHandler, _ output: OutputBuffer, _ words: [String]) -> String {
        sendRESP(handler, output, words)
    }

    private func infoField(_ info: String, _ name: String) -> Int? {
        for line in info.split(separator: "\r\n") where line.hasPrefix(name + ":") {
            return Int(line.dropFirst(name.count + 1))
        }
        return nil
    }

    private func members(_ range: Range<Int>) -> [String] { range.map { "m\(1_000_000_000 + $0)" } }

    @Test("SREM down to a tenth counts a shrink; a 2 MB engine's full keyless classes count fallbacks")
    func counters() throws {
        var settings = EngineSettings()
        settings.hashPowerInit = 12
        settings.memoryLimit = 2 << 20
        let engine = try #require(CacheEngine(settings: settings, clock: ProcessClock(unixNow: 1_700_000_000)))
        let service = RESPService(engine: engine, settings: RESPSettings(), workers: 1)
        let output = OutputBuffer()
        let c = service.makeHandler(workerIndex: 0, fd: 99, output: output, waker: ConnectionWaker {})
        defer { c.connectionClosed(); output.reset() }

        let before = run(c, output, ["INFO", "memory"])
        #expect(infoField(before, "member_index_shrinks") == 0)
        #expect(infoField(before, "keyless_item_fallbacks") == 0)

        // 28,000 members of 11 bytes (40-byte chunks): more than the one keyless page -m 2 MB allows.
        for chunk in stride(from: 0, to: 28_000, by: 1000) {
            #expect(run(c, output, ["SADD", "s"] + members(chunk..<(chunk + 1000))) == ":1000\r\n")
        }
        let full = run(c, output, ["INFO", "memory"])
        #expect((infoField(full, "keyless_item_fallbacks") ?? 0) > 0)
        #expect(run(c, output, ["SCARD", "s"]) == ":28000\r\n")

        for chunk in stride(from: 0, to: 26_000, by: 1000) {
            #expect(run(c, output, ["SREM", "s"] + members(chunk..<(chunk + 1000))) == ":1000\r\n")
        }
        let after = run(c, output, ["INFO", "memory"])
        #expect((infoField(after, "member_index_shrinks") ?? 0) >= 1)
        #expect(run(c, output, ["SCARD", "s"]) == ":2000\r\n")
    }
}
