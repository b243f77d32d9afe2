// The memcached text protocol's request loop, one for every port that speaks it: the cache port's
// `MemcacheConnection` and the broker port's connection (BrokerProtocol) plug their command set
// into it. Per call it skips a refused data block (memcached's conn_swallow), feeds a value block
// being read into item memory (conn_nread), runs -Y's authentication, cuts complete lines,
// tokenizes each once (an empty line is answered here) and hands it to the command set, up to -R
// requests per read event. The cache port also plugs the binary protocol in (`nextRequest`); the
// broker port parks in its hooks while replies wait for the journal's fsync.
import Platform

/// What a text-protocol step found before the line (`nextRequest`).
public enum RequestStep {
    /// A text request line follows at the position given to `nextRequest`.
    case text
    /// A request of another framing was handled; the next starts here.
    case next(Int)
    /// Stop: `consumed` bytes are done, the loop returns `action`.
    case stop(consumed: Int, HandlerAction)
}

/// A connection handler speaking memcached's text protocol: its command set and value reads,
/// driven by `runRequestLoop`.
public protocol TextRequestLoop: ConnectionHandler {
    var settings: ProtocolSettings { get }
    /// Bytes of a refused data block still to skip.
    var swallowRemaining: Int { get set }
    /// -Y's authentication state.
    var auth: AsciiAuth { get set }
    /// A command's data block is being read into item memory.
    var readingValue: Bool { get }
    /// Takes what it can of the data block at `pos` (finishing the command once it is all in,
    /// replies appended); returns the new position.
    func readValue(_ input: UnsafeRawBufferPointer, at pos: Int, _ output: OutputBuffer) -> Int
    /// Before authentication and the text line: a request of another framing at `pos`, if any.
    /// `requests` counts the requests handled in this call.
    func nextRequest(_ input: UnsafeRawBufferPointer, at pos: Int, _ output: OutputBuffer,
                     requests: inout Int) -> RequestStep
    /// Runs one request line that has at least one token.
    func execute(_ line: TextLine, _ output: OutputBuffer) -> HandlerAction
    /// The action while waiting for more input (all consumed, or a data block not all in).
    func awaitInput() -> HandlerAction
    /// The action when no line end has come after `pos` yet.
    func incompleteLine(_ input: UnsafeRawBufferPointer, at pos: Int) -> HandlerAction
    /// The action when -R requests were handled and complete ones are still in the input.
    func budgetSpent() -> HandlerAction
    /// True when the -R budget does not apply now: the broker port's replies already wait for
    /// an fsync, and the rest of the input read is better in the same fsync than parked behind
    /// it 20 requests at a time (what was read is all that is processed: the bound is one read,
    /// and the replies `output` may hold).
    func budgetWaived(_ output: OutputBuffer) -> Bool
    /// Told of each -Y credential check.
    func authChecked(_ ok: Bool)
}

extension TextRequestLoop {
    public func nextRequest(_ input: UnsafeRawBufferPointer, at pos: Int, _ output: OutputBuffer,
                            requests: inout Int) -> RequestStep { .text }
    public func awaitInput() -> HandlerAction { .proceed }
    public func budgetSpent() -> HandlerAction { .yield }
    public func budgetWaived(_ output: OutputBuffer) -> Bool { false }
    public func authChecked(_ ok: Bool) {}

    /// `ConnectionHandler.process` of a text-protocol connection. Inlinable, so that it is
    /// specialized for the broker port's connection too (no witness-table calls per request).
    @inlinable
    public func runRequestLoop(_ input: UnsafeRawBufferPointer, _ output: OutputBuffer) -> (consumed: Int, action: HandlerAction) {
        var pos = 0
        var requests = 0
        while true {
            if swallowRemaining > 0 {
                if swallow(&swallowRemaining, input, &pos) { return (pos, .proceed) }
                continue
            }
            if readingValue {
                pos = readValue(input, at: pos, output)
                if readingValue { return (pos, awaitInput()) }
                continue
            }
            if pos == input.count { return (pos, awaitInput()) }
            switch nextRequest(input, at: pos, output, requests: &requests) {
            case .text:
                break
            case .next(let next):
                pos = next
                continue
            case .stop(let consumed, let action):
                return (consumed, action)
            }
            if !auth.authenticated {
                guard let next = auth.consume(input, pos, output, counted: { ok in self.authChecked(ok) }) else {
                    return (pos, .proceed)
                }
                if next < 0 { return (pos, .closeNow) }
                pos = next
                continue
            }
            guard let nl = TextParser.findNewline(input, from: pos) else {
                return (pos, incompleteLine(input, at: pos))
            }
            if requests == settings.requestsPerEvent {
                if !budgetWaived(output) { return (pos, budgetSpent()) }
                requests = 0
            }
            requests += 1
            var end = nl
            if end > pos && input[end - 1] == 0x0d { end -= 1 }
            // memcached reads the line as a C string: a NUL ends it (`get a\0b` asks for `a`).
            if end > pos, let nul = memchr(input.baseAddress! + pos, 0, end - pos) {
                end = UnsafeRawPointer(nul) - input.baseAddress!
            }
            let line = TextLine(input, start: pos, end: end)
            pos = nl + 1
            // A line of spaces only, or none: memcached answers ERROR on every port.
            if line.tokens.count == 0 {
                output.append(Reply.error)
                continue
            }
            let action = execute(line, output)
            if case .proceed = action { continue }
            return (pos, action)
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
