// What one listener is: where it listens, over which transport, which protocol answers on it, and
// what a connection refused over the -c limit is told. The server binds a list of these and knows
// nothing of the protocols behind them; the executable builds the list.
import Platform

/// One listener of the server: its addresses, its transport, its protocol and its refusal bytes.
public struct ListenerConfig: Sendable {
    /// How the listener's sockets carry bytes.
    public enum Transport: Sendable, Equatable {
        /// A TCP stream socket on every address of `hosts`.
        case tcp
        /// A UNIX stream socket at `unixPath`.
        case unix
        /// A datagram socket on every address of `hosts`, shared by every worker.
        case udp
    }

    /// The protocol that answers on the listener.
    public enum Handler: Sendable {
        /// Makes the handler of each accepted connection (`.tcp`, `.unix`).
        case stream(any ConnectionHandlerFactory)
        /// Makes each worker's handler of the shared socket (`.udp`).
        case datagram(any DatagramHandlerFactory)
    }

    /// The transport; `.udp` goes with a `.datagram` handler, the others with a `.stream` one
    /// (fixed at initialisation, which checks the pair).
    public let transport: Transport
    /// The protocol behind the listener.
    public let handler: Handler
    /// Addresses to bind (`.tcp`, `.udp`); empty means every interface.
    public var hosts: [String]
    /// Port to bind (`.tcp`, `.udp`); -1 asks the kernel for a free one.
    public var port: Int
    /// Socket path (`.unix`): a stale socket file there is replaced.
    public var unixPath: String
    /// Access mask of the socket file (`.unix`).
    public var unixMask: Int
    /// Written to a connection accepted over the connection limit before it is closed (stream
    /// transports; empty: closed without a word).
    public var overloadReply: [UInt8]
    /// How a port file names this listener's ports: the line is `<label>: <port>`, with "6"
    /// appended to the label for an IPv6 socket. Nil: the listener is not listed.
    public var portFileLabel: String?
    /// Connections speak TLS through the server's `TLSContext` (`.tcp` only; as memcached, UNIX
    /// sockets and UDP stay plain).
    public var tls: Bool

    /// A listener; everything but the handler has a default (plain TCP on every interface, port 0).
    public init(transport: Transport = .tcp, handler: Handler, hosts: [String] = [], port: Int = 0,
                unixPath: String = "", unixMask: Int = 0o700, overloadReply: [UInt8] = [], portFileLabel: String? = nil,
                tls: Bool = false) {
        switch (transport, handler) {
        case (.udp, .datagram), (.tcp, .stream), (.unix, .stream): break
        default: preconditionFailure("listener transport \(transport) does not match its handler")
        }
        self.transport = transport
        self.handler = handler
        self.hosts = hosts
        self.port = port
        self.unixPath = unixPath
        self.unixMask = unixMask
        self.overloadReply = overloadReply
        self.portFileLabel = portFileLabel
        self.tls = tls && transport == .tcp
    }
}
