// The seam between the server (sockets, events) and a protocol (bytes in, bytes out): DESIGN.md §6.

public enum HandlerAction: Sendable {
    /// Keep reading.
    case proceed
    /// More complete requests are in the input but the per-event budget (-R) is spent.
    case yield
    /// Flush the output, then close.
    case close
    /// Close without flushing (protocol violation).
    case closeNow
}

/// One connection's protocol state. Called only on the connection's worker thread.
public protocol ConnectionHandler: AnyObject {
    /// Consumes complete requests at the start of `input`, appending replies to `output`.
    /// Returns the bytes consumed; a request cut short stays in the input for the next call.
    func process(_ input: UnsafeRawBufferPointer, output: OutputBuffer) -> (consumed: Int, action: HandlerAction)
    /// The connection is going away: release whatever the handler holds.
    func connectionClosed()
}

/// Makes the handler for each new connection of a listener.
public protocol ConnectionHandlerFactory: Sendable {
    func makeHandler(workerIndex: Int, output: OutputBuffer) -> ConnectionHandler
}
