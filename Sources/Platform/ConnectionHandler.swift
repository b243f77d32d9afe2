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
    /// The reply is longer than it is wise to hold at once: write what is in the output and,
    /// once the client has read all of it, call `continueStream` for the next piece. No further
    /// request is processed until the stream ends, so a client that never reads pins one piece.
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
    /// Whether the replies to the requests before a parked one are written when it parks (Redis:
    /// a blocked BLPOP does not hold back the reply of the SELECT before it). False holds them
    /// until the parked request is done: the broker parks until a journal is durable, and no
    /// reply of the batch may reach the client before that.
    var writesBeforeParking: Bool { get }
    /// The waker was called while the connection was not parked (or it was, and is no longer):
    /// output produced elsewhere (a `PushQueue`: `watch` lines, pub/sub) may be appended to
    /// `output` now, between requests. Not called while earlier output is still being written:
    /// the connection asks again once the client has read it.
    func deliverPushes(output: OutputBuffer) -> HandlerAction
    /// The waker was called while earlier output is still being written, and the handler's
    /// pushed output has passed its bound (redis's client-output-buffer-limit): true closes the
    /// connection now instead of waiting for a client that is not reading.
    func pushesOverflowed() -> Bool
    /// The output of a `.stream` reply has all been written: append the next piece and return
    /// `.stream` again, or the last piece and any other action to end the stream.
    func continueStream(output: OutputBuffer) -> HandlerAction
    /// The connection is going away: release whatever the handler holds.
    func connectionClosed()
    /// Where the next bytes of the stream belong when a command line announced a value that has
    /// not all arrived (memcached's conn_nread): memory in the item being filled, up to the end of
    /// one contiguous piece of it. The connection reads straight into it, with nothing in its own
    /// buffer, and reports the bytes with `valueReceived`; nil when no value is pending.
    func pendingValue() -> UnsafeMutableRawBufferPointer?
    /// `n` bytes were read into the memory `pendingValue` gave.
    func valueReceived(_ n: Int)
    /// The connection's read buffer may not grow (read_buf_mem_limit): the last words before
    /// the connection is closed.
    func readBufferExhausted(output: OutputBuffer)
    /// While parked: true when input that arrives may be processed now, its replies joining the
    /// held `output` (a wait only for earlier replies' fsync, which later requests do not
    /// disturb). Then `process` is called while parked, and `.park` from it keeps the output
    /// held. The handler bounds what it holds this way.
    func processesWhileParked(output: OutputBuffer) -> Bool
}

extension ConnectionHandler {
    public func resume(output: OutputBuffer, timedOut: Bool) -> HandlerAction { .proceed }
    public var writesBeforeParking: Bool { false }
    public func deliverPushes(output: OutputBuffer) -> HandlerAction { .proceed }
    public func pushesOverflowed() -> Bool { false }
    public func continueStream(output: OutputBuffer) -> HandlerAction { .proceed }
    public func pendingValue() -> UnsafeMutableRawBufferPointer? { nil }
    public func valueReceived(_ n: Int) {}
    public func readBufferExhausted(output: OutputBuffer) {}
    public func processesWhileParked(output: OutputBuffer) -> Bool { false }
}

/// Wakes one connection from any thread: it reaches the connection's worker through the worker's
/// notify pipe, which resumes it if it is parked and asks its handler for pushed output if not.
/// A wake for a connection that is gone, or meant for an earlier wait, is harmless.
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
