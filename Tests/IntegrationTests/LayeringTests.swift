// DESIGN.md §1: `Server` knows sockets, libevent, threads and connection lifetimes, and nothing of
// any protocol's words. Every source file under Sources/Server is scanned for reply text and
// framing that belong to a protocol module.
import Foundation
import Testing

@Suite("layering")
struct LayeringTests {
    /// Reply words of memcached's protocols, matched as whole identifiers (so `EV_ERROR` or `end`
    /// do not count).
    static let replyWords: Set<String> = [
        "ERROR", "SERVER_ERROR", "CLIENT_ERROR", "STORED", "NOT_STORED", "EXISTS", "NOT_FOUND",
        "DELETED", "TOUCHED", "END", "VALUE", "OK",
    ]
    /// Text that only a protocol composes: reply line ends, memcached's refusals, its UDP frame,
    /// its `stats conns` states and `watch connevents` fields.
    static let protocolText = [
        "\\r\\n", "Too many open connections", "multi-packet", "1400", "UDP_MAX_PAYLOAD", "requestID",
        "conn_listening", "conn_waiting", "conn_mwrite", "type=conn_", "rip=", "cfd=", "idle_timeout\"",
    ]

    @Test("Sources/Server holds no reply text, no memcached frame header, no stats conns or connevents words")
    func serverKnowsNoProtocol() throws {
        let directory = IntegrationPaths.packageRoot().appendingPathComponent("Sources/Server")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".swift") }.sorted()
        #expect(files.contains("Server.swift"), "Sources/Server not found at \(directory.path)")
        for file in files {
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let words = line.split { !($0.isLetter || $0.isNumber || $0 == "_") }.map(String.init)
                for word in words where Self.replyWords.contains(word) {
                    Issue.record("Sources/Server/\(file):\(number + 1): reply word \(word): \(line)")
                }
                for needle in Self.protocolText where line.contains(needle) {
                    Issue.record("Sources/Server/\(file):\(number + 1): protocol text \(needle): \(line)")
                }
            }
        }
    }
}
