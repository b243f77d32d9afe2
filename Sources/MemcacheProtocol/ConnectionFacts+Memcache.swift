// The server's connection facts in memcached's words: the lines of `stats conns` and the
// `watch connevents` events (memcached 1.6's logger formats: "type=conn_new rip=... rport=...
// transport=... cfd=N", "type=conn_close ... reason=... cfd=N").
import Platform

extension SocketAddress {
    /// "tcp:HOST:PORT", "tcp6:[HOST]:PORT" or "unix:PATH", as `stats conns` prints an address
    /// ("udp:..." and "udp6:..." for a datagram socket).
    func statsText(datagram: Bool = false) -> String {
        let ip = datagram ? "udp" : "tcp"
        return switch self {
        case .ipv4(let host, let port): "\(ip):\(host):\(port)"
        case .ipv6(let host, let port): "\(ip)6:[\(host)]:\(port)"
        case .unix(let path): "unix:\(path)"
        case .unknown: "\(ip):unknown"
        }
    }

    var statsText: String { statsText() }

    /// "rip=HOST rport=PORT transport=tcp|local", as connection events print a peer.
    var eventText: String {
        switch self {
        case .ipv4(let host, let port), .ipv6(let host, let port): "rip=\(host) rport=\(port) transport=tcp"
        case .unix(let path): "rip=\(path) rport=0 transport=local"
        case .unknown: "rip=unknown rport=0 transport=tcp"
        }
    }
}

extension ConnectionsSnapshot {
    /// `stats conns`: every listening socket (stream and datagram), then every connection, by
    /// descriptor. A datagram socket is listed as memcached lists its UDP connections (a `UDP`
    /// line, its address, `conn_read`, seconds since its last datagram); memcached lists one per
    /// worker thread (each has its own dup of the socket), here the one socket all workers serve
    /// is listed once. A listener's seconds count from its binding, as memcached's.
    var statsLines: [(String, String)] {
        var lines: [(String, String)] = []
        var sockets: [(fd: Int32, lines: [(String, String)])] = listeners.map { l in
            (l.fd, [("\(l.fd):addr", l.address.statsText),
                    ("\(l.fd):state", "conn_listening"),
                    ("\(l.fd):secs_since_last_cmd", String(now > listenersBound ? now - listenersBound : 0))])
        }
        sockets += datagramSockets.map { d in
            (d.fd, [("\(d.fd):UDP", "UDP"),
                    ("\(d.fd):addr", d.local.statsText(datagram: true)),
                    ("\(d.fd):state", "conn_read"),
                    ("\(d.fd):secs_since_last_cmd", String(now > d.lastRequest ? now - d.lastRequest : 0))])
        }
        for s in sockets.sorted(by: { $0.fd < $1.fd }) { lines += s.lines }
        for c in connections {
            lines.append(("\(c.fd):addr", c.peer.statsText))
            lines.append(("\(c.fd):listen_addr", c.local.statsText))
            lines.append(("\(c.fd):state", c.phase.memcachedState))
            lines.append(("\(c.fd):secs_since_last_cmd", String(now &- c.lastRequest)))
        }
        return lines
    }
}

extension ConnectionPhase {
    /// memcached's conn_states name for what the connection does now.
    var memcachedState: String {
        switch self {
        case .fresh: "conn_new_cmd"
        case .waiting: "conn_read"
        case .processing: "conn_parse_cmd"
        case .readingValue: "conn_nread"
        case .writing: "conn_mwrite"
        // A blocking read waits for a producer, not for the socket; memcached has no such state.
        case .parked: "conn_waiting"
        }
    }
}

/// Writes the server's connection events to `watch connevents` watchers.
public struct ConnectionEventLog: ConnectionObserver {
    let watch: WatchLog

    public init(watch: WatchLog) {
        self.watch = watch
    }

    public var isObserving: Bool { watch.isActive(.connevents) }

    public func connectionOpened(fd: Int32, peer: SocketAddress) {
        watch.emit(.connevents, "type=conn_new \(peer.eventText) cfd=\(fd)")
    }

    public func connectionClosed(fd: Int32, peer: SocketAddress, reason: ConnectionCloseReason) {
        let word = switch reason {
        case .normal: "normal"
        case .idleTimeout: "idle_timeout"
        case .shutdown: "shutdown"
        }
        watch.emit(.connevents, "type=conn_close \(peer.eventText) reason=\(word) cfd=\(fd)")
    }
}
