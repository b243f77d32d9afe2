// `stats conns` with -U, against memcached 1.6.18 started with the same flags: the UDP socket is
// listed as memcached lists its UDP connections (`UDP`, `addr udp:HOST:PORT`, `state conn_read`),
// its seconds count from its last datagram, and a listener's from its binding. memcached lists
// the UDP socket once per worker thread (README: here once).
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

private let memcachedBinary = IntegrationPaths.findExecutable("memcached", extraDirectories: ["/usr/bin", "/usr/local/bin"])

/// Sends memcached's UDP `version` (8-byte frame header) to 127.0.0.1:port and waits up to 5 s for the reply.
private func udpVersion(port: UInt16) throws -> String {
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    guard fd >= 0 else { throw IntegrationSetupError("UDP socket failed") }
    defer { close(fd) }
    var tv = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var addr = Loopback.loopbackAddress(port: port)
    let request: [UInt8] = [0, 1, 0, 0, 0, 1, 0, 0] + Array("version\r\n".utf8)
    let sent = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            sendto(fd, request, request.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard sent == request.count else { throw IntegrationSetupError("UDP sendto failed") }
    var buf = [UInt8](repeating: 0, count: 1500)
    let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
    return n > 8 ? String(decoding: buf[8..<n], as: UTF8.self) : ""
}

/// The entries of a `stats conns` reply, by descriptor: the lines after "STAT <fd>:".
private func entries(_ reply: String) -> [(fd: String, lines: [String])] {
    var out: [(fd: String, lines: [String])] = []
    for line in reply.split(separator: "\r\n") where line.hasPrefix("STAT ") {
        let rest = line.dropFirst(5)
        guard let colon = rest.firstIndex(of: ":") else { continue }
        let fd = String(rest[..<colon]), text = String(rest[rest.index(after: colon)...])
        if out.last?.fd == fd { out[out.count - 1].lines.append(text) } else { out.append((fd, [text])) }
    }
    return out
}

@Suite("stats conns lists the UDP socket as memcached", .enabled(if: memcachedBinary != nil, "memcached is not installed"),
       .hangGuard)
struct StatsConnsUDPTests {
    @Test("UDP entry: memcached's lines; seconds since the last datagram; listeners' seconds since binding")
    func udpEntry() async throws {
        var udpEntries: [Set<[String]>] = []
        var ours: (server: ServerProcess, udp: UInt16)?
        for binary in [memcachedBinary, nil] {
            let udp = try Loopback.freePort()
            let server = try await ServerProcess.start(["-U", String(udp), "-t", "2"], binary: binary)
            #expect(try udpVersion(port: udp) == "VERSION 1.6.18\r\n")
            let c = try RawConnection(port: server.port)
            c.send("stats conns\r\n")
            let listed = entries(c.receive(until: "END\r\n"))
            // Without the descriptor, the port and the seconds (memcached's other threads' copies
            // count from their start).
            udpEntries.append(Set(listed.filter { $0.lines.first == "UDP UDP" }.map { entry in
                entry.lines.filter { !$0.hasPrefix("secs_since_last_cmd") }
                    .map { $0.replacingOccurrences(of: ":\(udp)", with: ":PORT") }
            }))
            if binary == nil { ours = (server, udp) } else { server.stop() }
        }
        guard let (server, udp) = ours else { return }
        defer { server.stop() }
        #expect(udpEntries[0] == [["UDP UDP", "addr udp:127.0.0.1:PORT", "state conn_read"]], "memcached: \(udpEntries[0])")
        #expect(udpEntries[1] == udpEntries[0])
        // Seconds: the UDP socket's from its last datagram, a listener's from its binding.
        try await Task.sleep(for: .milliseconds(2200))
        let c = try RawConnection(port: server.port)
        c.send("stats conns\r\n")
        let before = entries(c.receive(until: "END\r\n"))
        #expect(try udpVersion(port: udp) == "VERSION 1.6.18\r\n")
        c.send("stats conns\r\n")
        let after = entries(c.receive(until: "END\r\n"))
        func secs(_ listed: [(fd: String, lines: [String])], _ kind: String) -> Int? {
            listed.first { $0.lines.contains(kind) }?.lines.first { $0.hasPrefix("secs_since_last_cmd ") }
                .flatMap { Int($0.split(separator: " ")[1]) }
        }
        #expect((secs(before, "UDP UDP") ?? 0) >= 2, "\(before)")
        #expect((secs(after, "UDP UDP") ?? 99) <= 1, "\(after)")
        #expect((secs(after, "state conn_listening") ?? 0) >= 2, "\(after)")
    }
}
