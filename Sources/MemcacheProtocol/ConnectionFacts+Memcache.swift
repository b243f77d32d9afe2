// The server's connection facts in memcached's words: the lines of `stats conns` and the
// `watch connevents` events (memcached 1.6's logger formats: "type=conn_new rip=... rport=...
// transport=... cfd=N", "type=conn_close ... reason=... cfd=N").
import Platform

extension SocketAddress {
    /// "tcp:HOST:PORT", "tcp6:[HOST]:PORT" or "unix:PATH", as `stats conns` prints an address.
    var statsText: String {
        switch self {
        case .ipv4(let host, let port): "tcp:\(host):\(port)"
        case .ipv6(let host, let port): "tcp6:[\(host)]:\(port)"
        case .unix(let path): "unix:\(path)"
        case .unknown: "tcp:unknown"
        }
    }

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
    /// `stats conns`: every listening socket, then every connection, by descriptor.
    var statsLines: [(String, String)] {
        var lines: [(String, String)] = []
        for l in listeners {
            lines.append(("\(l.fd):addr", l.address.statsText))
            lines.append(("\(l.fd):state", "conn_listening"))
            lines.append(("\(l.fd):secs_since_last_cmd", "0"))
        }
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
