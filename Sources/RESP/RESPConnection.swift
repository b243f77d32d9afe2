// One Redis-port connection: parses requests (RESPRequestParser), finds each command in the port's
// table, checks its arity and authentication as redis-server's processCommand does, and runs it.
// Commands append their replies to the output; a protocol error is answered in redis's words and
// the connection is closed after the reply, as redis closes it.
import CacheEngine
import Platform
#if canImport(Glibc)
import Glibc
#endif

final class RESPConnection: ConnectionHandler {
    let service: RESPService
    let engine: CacheEngine
    let stats: StatCounters
    /// This worker's INFO commandstats and errorstats counters.
    let commandStats: StatCounters
    let parser: RESPRequestParser
    /// CLIENT ID: unique for the process's life, from 1.
    let id: UInt64
    /// Chosen by HELLO.
    var version: RESPVersion = .resp2
    /// False while --requirepass is set and AUTH has not succeeded.
    var authenticated: Bool
    /// CLIENT SETNAME.
    var name: [UInt8]? = nil
    /// SELECT: the database (0-15) this connection's keys are in; 0 is the memcached port's.
    var database = 0
    /// Set when the running command answers an error (commandstats' failed_calls).
    private var commandFailed = false
    /// Wakes this connection from a publisher's thread.
    let waker: ConnectionWaker
    /// Pub/sub state, from the first SUBSCRIBE, PSUBSCRIBE or SSUBSCRIBE.
    var subscriptions: Subscriptions?
    /// The rest of an MGET written piece by piece (RESPConnection+MGetStream.swift).
    var mgetStream: MGetStream?
    /// A blocking list command waiting (RESPConnection+BlockingLists.swift).
    var listBlock: ListBlock?
    /// False while blocking commands must not block (redis's CLIENT_DENY_BLOCKING: inside
    /// MULTI/EXEC they run once and answer as a timeout would). The transaction code sets it
    /// around EXEC.
    var blockingAllowed = true

    /// The socket (SLOWLOG's client address).
    let fd: Int32

    init(service: RESPService, stats: StatCounters, commandStats: StatCounters, id: UInt64, waker: ConnectionWaker, fd: Int32) {
        self.service = service
        self.waker = waker
        self.fd = fd
        self.engine = service.engine
        self.stats = stats
        self.commandStats = commandStats
        self.id = id
        parser = RESPRequestParser(limits: service.settings.limits)
        authenticated = !service.config.passwordRequired
        parser.unauthenticated = !authenticated
    }

    func connectionClosed() {
        endListBlockOnClose()
        releaseMGet()
        dropSubscriptions()
        service.openConnections.subtract(1, ordering: .relaxed)
    }

    func continueStream(output: OutputBuffer) -> HandlerAction { continueMGet(output) }

    func resume(output: OutputBuffer, timedOut: Bool) -> HandlerAction { resumeListBlock(output, timedOut: timedOut) }

    func process(_ input: UnsafeRawBufferPointer, output: OutputBuffer) -> (consumed: Int, action: HandlerAction) {
        // CONFIG SET proto-max-bulk-len reaches every connection at its next read.
        parser.limits.maxBulkLength = service.config.maxBulkLength
        var pos = 0
        var handled = 0
        while true {
            switch parser.parse(input, from: pos) {
            case .needMore:
                if pos == input.count { parser.shrink() }
                return (pos, .proceed)
            case .error(let e):
                output.append(e.reply)
                stats.add(RESPCounter.protocolErrors.rawValue)
                countError(.err)
                return (input.count, .close)
            case .request(let end):
                // The budget is checked with the next request in hand: a yield means more input
                // is ready, and this request is parsed again on the next call.
                if handled == service.settings.requestsPerEvent { return (pos, .yield) }
                handled += 1
                let action = execute(output)
                pos = end
                if action != .proceed { return (pos, action) }
            }
        }
    }

    /// redis's processCommand: unknown command, then arity, then authentication; then the
    /// command runs, timed and counted for INFO commandstats.
    private func execute(_ output: OutputBuffer) -> HandlerAction {
        stats.add(RESPCounter.commands.rawValue)
        guard let command = service.table.find(argument(0)) else {
            return unknownCommand(output)
        }
        guard command.accepts(argumentCount: argumentCount) else {
            commandStats.add(RESPCommandStats.slot(command: command.index, RESPCommandStats.rejected))
            return error(output, "ERR wrong number of arguments for '\(command.name)' command")
        }
        if !authenticated && !Self.allowedBeforeAuth(command.name) {
            commandStats.add(RESPCommandStats.slot(command: command.index, RESPCommandStats.rejected))
            return error(output, "NOAUTH Authentication required.")
        }
        if inSubscribedMode && !Self.allowedWhileSubscribed(command.name) {
            commandStats.add(RESPCommandStats.slot(command: command.index, RESPCommandStats.rejected))
            return error(output, "ERR Can't execute '\(command.name)': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
        }
        commandFailed = false
        let started = RESPCommandStats.now()
        let action = command.run(self, output)
        let took = RESPCommandStats.now() &- started
        commandStats.add(RESPCommandStats.slot(command: command.index, RESPCommandStats.microseconds), took)
        if service.slowLog.isSlow(took) { logSlow(took) }
        commandStats.add(RESPCommandStats.slot(command: command.index, RESPCommandStats.calls))
        if commandFailed { commandStats.add(RESPCommandStats.slot(command: command.index, RESPCommandStats.failed)) }
        return action
    }

    /// Commands a connection may send before it authenticates (redis's CMD_NO_AUTH).
    private static func allowedBeforeAuth(_ name: StaticString) -> Bool {
        let n = UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
        return equalFolded(n, "auth") || equalFolded(n, "hello") || equalFolded(n, "quit") || equalFolded(n, "reset")
    }

    private func unknownCommand(_ output: OutputBuffer) -> HandlerAction {
        // redis: "unknown command '%.128s', with args beginning with: " then up to 128 bytes of
        // arguments, each as '%.*s' and a space; the bytes as they came, whatever they are.
        var text = Array("ERR unknown command '".utf8) + argument(0).prefix(128) + Array("', with args beginning with: ".utf8)
        var args = 0
        var i = 1
        while i < argumentCount && args < 128 {
            let a = argument(i).prefix(128 - args)
            text += [UInt8(ascii: "'")] + a + Array("' ".utf8)
            args += a.count + 3
            i += 1
        }
        countError(.err)
        text.withUnsafeBytes { output.appendRESPError(bytes: $0) }
        return .proceed
    }

    /// A slow command into SLOWLOG, with this client's address and name.
    private func logSlow(_ microseconds: UInt64) {
        var now = timeval()
        gettimeofday(&now, nil)
        service.slowLog.add(arguments: { self.argument($0) }, count: argumentCount, microseconds: Int(microseconds),
                            time: Int(now.tv_sec), client: SocketAddress(socket: fd, peer: true).redisFormat, name: name ?? [])
    }

    // MARK: what commands use

    @inline(__always)
    var argumentCount: Int { parser.argumentCount }

    @inline(__always)
    func argument(_ i: Int) -> UnsafeRawBufferPointer { parser.argument(i) }

    /// An error reply (`text` holds the code: "ERR ...", "WRONGTYPE ..."), counted.
    func error(_ output: OutputBuffer, _ text: StaticString) -> HandlerAction {
        countError(RESPErrorCode.of(text.utf8Bytes))
        output.appendRESPError(text)
        return .proceed
    }

    func error(_ output: OutputBuffer, _ text: String) -> HandlerAction {
        var line = text
        countError(line.withUTF8 { RESPErrorCode.of(UnsafeRawBufferPointer($0)) })
        output.appendRESPError(text)
        return .proceed
    }

    /// total_error_replies, errorstats, and the running command's failed_calls.
    private func countError(_ code: RESPErrorCode) {
        stats.add(RESPCounter.errorReplies.rawValue)
        commandStats.add(RESPCommandStats.slot(error: code, commands: service.table.commands.count))
        commandFailed = true
    }

    /// `-ERR value is not an integer or out of range`.
    func notAnInteger(_ output: OutputBuffer) -> HandlerAction {
        error(output, "ERR value is not an integer or out of range")
    }

    func syntaxError(_ output: OutputBuffer) -> HandlerAction {
        error(output, "ERR syntax error")
    }

    /// Argument `i` as redis's string2ll reads an integer argument.
    func integerArgument(_ i: Int) -> Int? {
        let a = argument(i)
        return a.count == 0 ? nil : parseInteger(a.baseAddress!, a.count)
    }

    /// Argument `i` equals `word` (lower case), ignoring case.
    @inline(__always)
    func argument(_ i: Int, is word: StaticString) -> Bool { equalFolded(argument(i), word) }

    /// The port's commands, by group.
    static let commands: [RESPCommand] = connectionCommands + serverCommands + pubSubCommands + stringCommands + stringRangeCommands + keyCommands
        + listCommands
}
