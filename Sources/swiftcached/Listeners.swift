// The listeners swiftcached runs, built from the flags: the cache port (UDP with -U, then TCP with
// -p, or the UNIX socket of -s instead of both, as memcached), the broker port and the Redis port. Bound in this
// order; each names its port-file label and the reply a connection over -c gets.
import BrokerProtocol
import MemcacheProtocol
import RESP
import Server

/// What memcached writes to a connection over the -c limit before closing it; the broker port
/// speaks the same text protocol.
private let tooManyConnections = Array("ERROR Too many open connections\r\n".utf8)

/// What redis-server writes to a connection over its maxclients before closing it.
private let redisTooManyClients = Array("-ERR max number of clients reached\r\n".utf8)

func listenerConfigs(_ options: Options, cache: MemcacheService, broker: BrokerService?, redis: RESPService?) -> [ListenerConfig] {
    let s = options.server
    // -Z: every TCP listener speaks TLS; the UNIX socket and UDP stay plain, as memcached's.
    let tls = s.tls.enabled
    var listeners: [ListenerConfig] = []
    if let path = s.unixSocket {
        listeners.append(ListenerConfig(transport: .unix, handler: .stream(cache), unixPath: path, unixMask: s.unixMask,
                                        overloadReply: tooManyConnections))
    } else {
        if s.udpPort != 0 {
            listeners.append(ListenerConfig(transport: .udp, handler: .datagram(cache), hosts: s.hosts, port: s.udpPort,
                                            portFileLabel: "UDP INET"))
        }
        if s.port != 0 {
            listeners.append(ListenerConfig(transport: .tcp, handler: .stream(cache), hosts: s.hosts, port: s.port,
                                            overloadReply: tooManyConnections, portFileLabel: "TCP INET", tls: tls))
        }
    }
    if let broker {
        listeners.append(ListenerConfig(transport: .tcp, handler: .stream(broker), hosts: s.hosts, port: options.brokerPort,
                                        overloadReply: tooManyConnections, portFileLabel: "TCP INET", tls: tls))
    }
    if let redis {
        listeners.append(ListenerConfig(transport: .tcp, handler: .stream(redis), hosts: s.hosts, port: options.redisPort,
                                        overloadReply: redisTooManyClients, portFileLabel: "REDIS INET", tls: tls))
    }
    return listeners
}
