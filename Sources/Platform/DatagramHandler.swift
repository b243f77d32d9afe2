// The seam between the server's datagram transport (UDP sockets, events) and a protocol: one
// datagram in, the reply's datagrams out. The protocol owns its framing; the server only receives
// and sends (DESIGN.md §1: Server knows no protocol's words).

/// One datagram socket's protocol on one worker. Called only on that worker's thread, one
/// datagram at a time; it may keep buffers between datagrams.
public protocol DatagramHandler: AnyObject {
    /// Answers the datagram `datagram` (valid only during the call): calls `send` once for each
    /// datagram of the reply, in order, and not at all when there is nothing to answer. The bytes
    /// handed to `send` are valid only during that call.
    func receive(_ datagram: UnsafeRawBufferPointer, send: (UnsafeRawBufferPointer) -> Void)
}

/// Makes the datagram handler each worker runs for a datagram listener's socket.
public protocol DatagramHandlerFactory: Sendable {
    /// `fd` is the shared socket, as a ConnectionHandlerFactory's `fd` names it in logs.
    func makeDatagramHandler(workerIndex: Int, fd: Int32) -> DatagramHandler
}
