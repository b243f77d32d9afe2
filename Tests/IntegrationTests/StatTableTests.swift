// The `stats` of the running binary against the declarations it is rendered from: the process
// lines (swiftcached), the connection lines (Server) and the protocol's (MemcacheProtocol), each
// declared name exactly once, in the composed table's (memcached's) order, and nothing undeclared.
import MemcacheProtocol
import Server
import Testing
@testable import swiftcached

@Suite("stats is rendered from its declarations")
struct StatTableTests {
    @Test("every STAT name of `stats` is declared once, in the declared order")
    func statsNamesAreDeclared() async throws {
        try await withServer { server in
            let c = try RawConnection(port: server.port)
            c.send("stats\r\n")
            let reply = c.receive(until: "END\r\n")
            let names = reply.split(separator: "\r\n").compactMap { line -> String? in
                let words = line.split(separator: " ")
                return words.count >= 3 && words[0] == "STAT" ? String(words[1]) : nil
            }
            let declared = (ProcessFacts.statTable.declarations + ServerStats.statTable.declarations
                + MemcacheService.generalStatTable.declarations).map(\.name)
            #expect(Set(declared).count == declared.count, "a name is declared twice")
            // `stats` is the composed table: every declared line exactly once, in its order.
            let composed = ProcessFacts.memcachedStatTable.declarations.map(\.name)
            #expect(composed.sorted() == declared.sorted(), "the composed stats table leaves out or repeats a line")
            // The TLS lines are shown only with -Z (TLSBlackBoxTests checks them against memcached's).
            // idle_kicks only with -o idle_timeout, as memcached (StatsParityTests compares).
            let tlsOnly: Set = ["ssl_new_sessions", "ssl_handshake_errors", "time_since_server_cert_refresh", "idle_kicks"]
            #expect(names == composed.filter { !tlsOnly.contains($0) }, "\(reply)")
        }
    }
}
