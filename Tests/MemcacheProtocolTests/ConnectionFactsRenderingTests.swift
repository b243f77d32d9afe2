// `stats conns` rendered from the server's facts: listeners and datagram sockets in descriptor
// order with memcached's lines (a UDP socket as memcached's UDP connections), then connections.
@testable import MemcacheProtocol
import Platform
import Testing

@Suite("stats conns rendering")
struct ConnectionFactsRenderingTests {
    @Test("a UDP socket gets memcached's UDP lines and its seconds since the last datagram; listeners count from binding")
    func datagramSocketLines() {
        let snapshot = ConnectionsSnapshot(
            listeners: [(fd: 9, address: .ipv4(host: "127.0.0.1", port: 11211))], listenersBound: 2,
            datagramSockets: [DatagramSocketFacts(fd: 8, local: .ipv6(host: "::1", port: 11211), lastRequest: 7),
                              DatagramSocketFacts(fd: 10, local: .ipv4(host: "127.0.0.1", port: 11211), lastRequest: 12)],
            connections: [ConnectionFacts(fd: 20, peer: .ipv4(host: "127.0.0.1", port: 5000), local: .ipv4(host: "127.0.0.1", port: 11211),
                                          isWriting: false, lastRequest: 9, phase: .waiting)],
            now: 10)
        let lines = snapshot.statsLines.map { "\($0.0) \($0.1)" }
        #expect(lines == [
            "8:UDP UDP", "8:addr udp6:[::1]:11211", "8:state conn_read", "8:secs_since_last_cmd 3",
            "9:addr tcp:127.0.0.1:11211", "9:state conn_listening", "9:secs_since_last_cmd 8",
            // A datagram read after the snapshot's clock was read: 0, not a wrapped count.
            "10:UDP UDP", "10:addr udp:127.0.0.1:11211", "10:state conn_read", "10:secs_since_last_cmd 0",
            "20:addr tcp:127.0.0.1:5000", "20:listen_addr tcp:127.0.0.1:11211", "20:state conn_read", "20:secs_since_last_cmd 1",
        ])
    }
}
