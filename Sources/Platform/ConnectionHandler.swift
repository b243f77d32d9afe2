// The seam between the server (sockets, events) and a protocol (bytes in, bytes out): DESIGN.md §6.

public enum HandlerAction: Sendable, Equatable {
    /// Keep reading.
    case proceed
    /// More complete requests are in the input but the per-event budget (-R) is spent.
    case yield
    /// Flush the output, then close.
    case close
    /// Close without flushing (protocol violation).
    case closeNow
    /// Wait for something outside the connection (a blocked queue read, a journal fsync): hold the
    /// output, process no more input, until the handler's waker is called or `timeoutMs` passes
    /// (negative: no timeout). The server then calls `resume`.
    case park(timeoutMs: Int)
    /// Write the output and stay parked: a stream (`watch`) that the handler's waker feeds.
    case stream
}

/// One connection's protocol state. Called only on the connection's worker thread.
public protocol ConnectionHandler: AnyObject {
    /// Consumes complete requests at the start of `input`, appending replies to `output`.
    /// Returns the bytes consumed; a request cut short stays in the input for the next call.
    func process(_ input: UnsafeRawBufferPointer, output: OutputBuffer) -> (consumed: Int, action: HandlerAction)
    /// A parked connection was woken (or its timeout passed): finish the parked request.
    /// `.park` again means it is still waiting (a wake-up meant for an earlier wait).
    func resume(output: OutputBuffer, timedOut: Bool) -> HandlerAction
    /// The connection is going away: release whatever the handler holds.
    func connectionClosed()
}

extension ConnectionHandler {
    public func resume(output: OutputBuffer, timedOut: Bool) -> HandlerAction { .proceed }
}

/// Wakes one parked connection from any thread: it reaches the connection's worker through the
/// worker's notify pipe. A wake for a connection that is gone or no longer parked is harmless.
public struct ConnectionWaker: Sendable {
    private let body: @Sendable () -> Void
    public init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    public func wake() { body() }
}

/// Makes the handler for each new connection of a listener.
public protocol ConnectionHandlerFactory: Sendable {
    /// `fd` names the connection in logs (memcached's cfd).
    func makeHandler(workerIndex: Int, fd: Int32, output: OutputBuffer, waker: ConnectionWaker) -> ConnectionHandler
}
