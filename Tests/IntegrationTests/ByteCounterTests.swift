// Byte counters past 2^32, against memcached 1.6.18 (whose bytes_read, bytes_written and bytes
// are 64-bit): 4,400 gets of a 1 MB value write 4.4 GB, and `stats bytes_written` must read the
// same figure on both servers, not a value wrapped at 32 bits. About 1.5 s per server on loopback.
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

private let memcachedBinary = IntegrationPaths.findExecutable("memcached", extraDirectories: ["/usr/bin", "/usr/local/bin"])

@Suite("byte counters past 2^32", .enabled(if: memcachedBinary != nil, "memcached is not installed"), .hangGuard)
struct ByteCounterTests {
    /// Sets a 1 MB value, reads it `gets` times (64 requests per write, replies discarded) and
    /// returns `stats`'s bytes_written, bytes_read and get_hits.
    static func pump(port: UInt16, gets: Int) throws -> [String] {
        let c = try RawConnection(port: port)
        let value = String(repeating: "x", count: 1_000_000)
        c.send("set big 0 0 1000000\r\n\(value)\r\n")
        #expect(c.receive(until: "\r\n") == "STORED\r\n")
        let perReply = "VALUE big 0 1000000\r\n".utf8.count + 1_000_000 + 2 + "END\r\n".utf8.count
        var buffer = [UInt8](repeating: 0, count: 4 << 20)
        var done = 0
        while done < gets {
            let batch = min(64, gets - done)
            c.send(String(repeating: "get big\r\n", count: batch))
            var want = perReply * batch
            while want > 0 {
                let n = buffer.withUnsafeMutableBytes { recv(c.fd, $0.baseAddress!, min($0.count, want), 0) }
                guard n > 0 else { throw IntegrationSetupError("connection to \(port) closed or timed out with \(want) bytes to go") }
                want -= n
            }
            done += batch
        }
        c.send("stats\r\n")
        let stats = c.receive(until: "END\r\n").split(separator: "\r\n")
        return ["bytes_written", "bytes_read", "get_hits"].map { name in
            stats.first { $0.hasPrefix("STAT \(name) ") }.map { String($0) } ?? "missing \(name)"
        }
    }

    @Test("bytes_written past 2^32 reads the same on memcached and swiftcached")
    func bytesWrittenPast32Bits() async throws {
        var results: [[String]] = []
        for binary in [memcachedBinary, nil] {
            try await withServer([], binary: binary) { server in
                results.append(try Self.pump(port: server.port, gets: 4400))
            }
        }
        let written = results[1].first.flatMap { UInt64($0.split(separator: " ")[2]) } ?? 0
        #expect(written > UInt64(UInt32.max), "swiftcached: \(results[1])")
        #expect(results[1] == results[0], "memcached: \(results[0]), swiftcached: \(results[1])")
    }
}
