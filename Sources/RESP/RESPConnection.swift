// One Redis-port connection: parses requests (RESPRequestParser), finds each command in the port's
// table, checks its arity and authentication as redis-server's processCommand does, and runs it.
// Commands append their replies to the output; a protocol error is answered in redis's words and
// the connection is closed after the reply, as redis closes it.
import Broker
import CacheEngine
import CStripeLock
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
    var version: RESPVersion = .resp2 {
        didSet { client.protocolVersion.store(version.rawValue, ordering: .relaxed) }
    }
    /// False while --requirepass is set and AUTH has not succeeded.
    var authenticated: Bool
    /// CLIENT SETNAME (published for CLIENT LIST on other workers).
    var name: [UInt8]? = nil {
        didSet { client.name.withLock { $0 = name ?? [] } }
    }
    /// What other workers see of this connection (CLIENT LIST, KILL, UNBLOCK).
    let client: RESPClient
    /// CLIENT REPLY OFF / SKIP: replies withheld (RESPConnection+Client.swift).
    var replyMode = ReplyMode.on
    /// Set by EXEC when it withheld its own replies piece by piece (a CLIENT REPLY inside the
    /// transaction): the withholding of the whole command must then keep what EXEC kept.
    var execWithheldItself = false
    /// Parked in DEBUG SLEEP (RESPConnection+Debug.swift), and whether its +OK is withheld.
    var sleeping = false
    var sleepReplyWithheld = false
    /// SELECT: the database (0-15) this connection's keys are in; 0 is the memcached port's.
    var database = 0
    /// When the last command ended (microseconds, `RESPCommandStats.now`): the next one's start.
    private var clockMark: UInt64 = 0
    /// The next request and the one after, as peeked (RESPConnection+KeyHints.swift); `at` -1: none.
    var peekedNext = KeyPeek()
    var peekedAfter = KeyPeek()
    /// The Unix time (microseconds) read by this read of requests' first command that asked for
    /// the time (`commandMilliseconds`), and the monotonic time read with it (`.max`: not read yet).
    private var unixMark: UInt64 = 0
    private var unixMarkClock: UInt64 = .max
    /// Set when the running command answers an error (commandstats' failed_calls).
    var commandFailed = false
    /// Inside `process`: a command that `keepsStripe` leaves its key's item-lock stripe locked for
    /// the read's next request (CStripeLock), given back when `process` returns.
    private var keepingStripes = false
    /// The commandstats slot of the command that parked (a blocking list command's failed call
    /// is counted when it is woken).
    var blockedStat = 0
    /// Wakes this connection from a publisher's thread.
    let waker: ConnectionWaker
    /// Pub/sub state, from the first SUBSCRIBE, PSUBSCRIBE or SSUBSCRIBE.
    var subscriptions: Subscriptions?
    /// The rest of an MGET written piece by piece (RESPConnection+MGetStream.swift).
    var mgetStream: MGetStream?
    /// A blocking list command waiting (RESPConnection+BlockingLists.swift).
    var listBlock: ListBlock?
    /// False while blocking commands must not block (redis's CLIENT_DENY_BLOCKING: inside
    /// MULTI/EXEC they run once and answer as a timeout would).
    var blockingAllowed: Bool { !runningExec }

    /// The socket (SLOWLOG's client address).
    let fd: Int32

    /// This worker's slot in the command gate.
    let gateSlot: Int
    /// Between MULTI and EXEC/DISCARD: the queued requests (RESPConnection+Transactions.swift).
    var transaction: Transaction?
    /// WATCHed keys and what each was when watched; empty (no storage) when none.
    var watched: [[UInt8]: WatchedKey] = [:]
    /// Set while EXEC runs its queue: the parser's arguments are a queued request's, and replies
    /// are not streamed.
    var runningExec = false
    /// The list keys EXEC's commands added elements to, served when it ends (empty otherwise).
    var readyOrder: [ReadyKey] = []
    var readyKeys: Set<ReadyKey> = []
    /// The stream keys EXEC's commands added entries to, with the newest entry's ID: their
    /// blocked readers are woken when it ends (empty otherwise).
    var readyStreams: [(key: ReadyKey, top: StreamID)] = []
    /// Where each of `readyStreams`' keys is in it.
    var readyStreamIndex: [ReadyKey: Int] = [:]

    init(service: RESPService, stats: StatCounters, commandStats: StatCounters, id: UInt64, waker: ConnectionWaker, fd: Int32, gateSlot: Int = 0) {
        self.service = service
        self.gateSlot = gateSlot
        self.waker = waker
        self.fd = fd
        self.engine = service.engine
        self.stats = stats
        self.commandStats = commandStats
        self.id = id
        parser = RESPRequestParser(limits: service.settings.limits)
        authenticated = !service.config.passwordRequired
        client = RESPClient(id: id, fd: fd, now: service.engine.clock.current, waker: waker)
        parser.unauthenticated = !authenticated
        service.clients.add(client)
    }

    func connectionClosed() {
        unwatchAll()
        endListBlockOnClose()
        releaseMGet()
        dropSubscriptions()
        service.clients.remove(id)
        service.openConnections.subtract(1, ordering: .relaxed)
    }

    /// Killed from another connection: closed at the wake-up that follows (never touched by
    /// the killer's thread). Otherwise a DEBUG SLEEP or a blocking list command ends or waits on.
    func resume(output: OutputBuffer, timedOut: Bool) -> HandlerAction {
        if client.killed.load(ordering: .acquiring) { return .closeNow }
        if sleeping { return finishSleep(output, timedOut: timedOut) }
        // A woken block that ends in an error (WRONGTYPE, UNBLOCKED) or by CLIENT UNBLOCK is a
        // failed call of the blocked command, as redis 7.0's updateStatsOnUnblock counts it.
        commandFailed = false
        // The woken block reads its keys as a command would, so through the gate: never inside
        // another worker's EXEC. A MULTI's DEL and XADD of its key are seen both or neither, as
        // redis serves its blocked clients after the EXEC (NOGROUP then, not UNBLOCKED).
        service.gate.enter(gateSlot)
        let action = resumeListBlock(output, timedOut: timedOut)
        service.gate.leave(gateSlot)
        if commandFailed { commandStats.add(RESPCommandStats.slot(command: blockedStat, RESPCommandStats.failed)) }
        return action
    }

    func continueStream(output: OutputBuffer) -> HandlerAction { continueMGet(output) }

    /// A blocked command does not hold back the replies before it, as redis writes them.
    var writesBeforeParking: Bool { true }

    func process(_ input: UnsafeRawBufferPointer, output: OutputBuffer) -> (consumed: Int, action: HandlerAction) {
        if client.killed.load(ordering: .acquiring) { return (input.count, .closeNow) }
        // CONFIG SET proto-max-bulk-len reaches every connection at its next read.
        parser.limits.maxBulkLength = service.config.maxBulkLength
        var pos = 0
        var handled = 0
        // Pipelined requests on one key (ZADD myzset ... sixteen times) take its stripe once per
        // read, not once a request: with two workers on one key, each request's unlock woke the
        // other worker (a futex wake and a context switch a request, about a quarter of the
        // server's CPU under `redis-benchmark -t zadd -P 16`). The kept stripe is given back
        // before anything else waits (another stripe, a PlainMutex, the command gate) and here.
        keepingStripes = true
        defer {
            keepingStripes = false
            cstripe_stop_keeping()
        }
        clockMark = RESPCommandStats.now()
        peekedNext.at = -1
        peekedAfter.at = -1
        unixMarkClock = .max
        while true {
            switch parser.parse(input, from: pos) {
            case .needMore:
                if pos == input.count { parser.shrink() }
                // redis's client-query-buffer-limit: a request not finished within it closes the
                // connection (redis logs it and answers nothing).
                if input.count - pos > service.config.queryBufferLimit {
                    stats.add(RESPCounter.queryBufferLimitDisconnections.rawValue)
                    return (input.count, .close)
                }
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
                hintNextKeys(input, after: end)
                // The gate: no command here while another worker's EXEC runs (CommandGate.swift).
                if service.gate.enter(gateSlot) {
                    clockMark = RESPCommandStats.now()
                    unixMarkClock = .max
                }
                let request = UnsafeRawBufferPointer(rebasing: input[pos..<end])
                let action = replyMode == .on ? execute(output, request: request) : executeWithheld(output, request: request)
                service.gate.leave(gateSlot)
                pos = end
                if action != .proceed { return (pos, action) }
            }
        }
    }

    /// redis's processCommand: unknown command, then arity, then authentication, then what MULTI
    /// and subscribed mode allow; then the command runs (or, inside MULTI, is queued as `request`'s
    /// bytes). A command refused inside MULTI fails the transaction; a refused EXEC answers EXECABORT.
    func execute(_ output: OutputBuffer, request: UnsafeRawBufferPointer) -> HandlerAction {
        stats.add(RESPCounter.commands.rawValue)
        client.lastInteraction.store(engine.clock.current, ordering: .relaxed)
        guard let command = service.table.find(argument(0)) else {
            transaction?.failed = true
            client.lastCommand.store(0, ordering: .relaxed)
            return unknownCommand(output)
        }
        noteLastCommand(command)
        // A container's word redis does not know fails its lookup: refused before the arity check,
        // on no commandstats line (errorstats only), failing a transaction (redis 7.0's
        // commandCheckExistence).
        if !command.subcommands.isEmpty && argumentCount >= 2 && command.subcommandIndex(argument(1)) == nil
            && !Self.redisHasSubcommand(command.name, argument(1)) {
            transaction?.failed = true
            return error(output, unknownSubcommandReply(command))
        }
        guard command.accepts(argumentCount: argumentCount) else {
            return reject(command, output, "ERR wrong number of arguments for '\(command.name)' command")
        }
        // A container's subcommand has its own arity (redis 7.0: `config|resetstat` takes none).
        if !command.subcommands.isEmpty && argumentCount >= 2, let k = command.subcommandIndex(argument(1)) {
            let arity = command.subcommandArities[k]
            if arity >= 0 ? argumentCount != arity : argumentCount < -arity {
                return reject(command, output, "ERR wrong number of arguments for '\(command.name)|\(command.subcommands[k])' command")
            }
        }
        if !authenticated && !Self.allowedBeforeAuth(command.name) {
            return reject(command, output, "NOAUTH Authentication required.")
        }
        if transaction != nil && command.transaction == .refused {
            return reject(command, output, "ERR Command not allowed inside a transaction")
        }
        // redis's maxmemory check: while the cache is full and its policy can evict nothing
        // (noeviction; volatile-* without a volatile key), `denyoom` commands are refused, and
        // inside MULTI every command but EXEC, DISCARD, QUIT and RESET.
        if engine.isRefusingWrites && (command.flags.contains(.denyoom) || (transaction != nil && !Self.allowedOnOOMInMulti(command.name))) {
            return reject(command, output, "OOM command not allowed when used memory > 'maxmemory'.")
        }
        if inSubscribedMode && !Self.allowedWhileSubscribed(command.name) {
            return reject(command, output, "ERR Can't execute '\(command.name)': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
        }
        if transaction != nil && command.transaction == .queued {
            return queue(request, output)
        }
        return invoke(command, output)
    }

    static func allowedOnOOMInMulti(_ name: StaticString) -> Bool {
        let n = name.utf8Bytes
        return ["exec", "discard", "quit", "reset"].contains { equalFolded(n, $0) }
    }

    /// Runs `command` on the parser's current arguments, timed and counted for INFO commandstats
    /// (EXEC runs its queued commands through here too).
    func invoke(_ command: RESPCommand, _ output: OutputBuffer) -> HandlerAction {
        commandFailed = false
        // Read before the command runs: EXEC replaces the parser's arguments with its queue's.
        let stat = command.statIndex(argumentCount: argumentCount, second: argument(1))
        // Not inside EXEC: the gate already keeps the other workers out, and the waiters EXEC
        // serves afterwards lock other clients' keys.
        if keepingStripes && command.keepsStripe && !runningExec { cstripe_start_keeping() } else { cstripe_stop_keeping() }
        let action = command.run(self, output)
        if case .park = action { blockedStat = stat }
        // One clock read per command: a command's time runs from the previous one's end (or the
        // read's start), so its parsing is counted with it (redis times the command alone, with
        // two reads of a cheaper clock).
        let ended = RESPCommandStats.now()
        let took = ended &- clockMark
        clockMark = ended
        commandStats.add(RESPCommandStats.slot(command: stat, RESPCommandStats.microseconds), took)
        if service.slowLog.isSlow(took) { logSlow(took, command) }
        commandStats.add(RESPCommandStats.slot(command: stat, RESPCommandStats.calls))
        if commandFailed { commandStats.add(RESPCommandStats.slot(command: stat, RESPCommandStats.failed)) }
        return action
    }

    /// The running command's Unix time in milliseconds, as redis's per-command time snapshot:
    /// the monotonic mark it started at (`clockMark`: the previous command's end, or the read's
    /// start) placed on the Unix clock by one CLOCK_REALTIME and one CLOCK_MONOTONIC read taken
    /// together per read of requests, by the first command that asks. So each of a pipeline's
    /// XADDs reads one clock (commandstats' mark at its end) rather than two, and its `*` ID and
    /// its record's timestamp are one value (IDs stay increasing whatever the clock does:
    /// StreamID.next). The pair is read together, not the Unix clock against the older mark: a
    /// thread preempted between the mark and the read would otherwise put every later command of
    /// the read ahead of the Unix clock by the delay. A clock a test pinned wins.
    func commandMilliseconds() -> UInt64 {
        let pinned = engine.clock.pinnedMilliseconds
        if pinned != 0 { return pinned }
        if unixMarkClock == .max {
            unixMark = RESPCommandStats.unixMicroseconds()
            unixMarkClock = RESPCommandStats.now()
        }
        return (unixMark &+ (clockMark &- unixMarkClock)) / 1000
    }

    /// A command refused before it runs (rejected_calls): inside MULTI it fails the transaction;
    /// a refused EXEC discards the transaction and answers EXECABORT with the reason (redis's
    /// rejectCommand and execCommandAbort: the reason without its ERR).
    private func reject(_ command: RESPCommand, _ output: OutputBuffer, _ text: String) -> HandlerAction {
        commandStats.add(RESPCommandStats.slot(command: command.statIndex(argumentCount: argumentCount, second: argument(1)),
                                               RESPCommandStats.rejected))
        if command.transaction == .exec {
            endTransaction()
            let reason = text.hasPrefix("ERR ") ? text.dropFirst(4) : Substring(text)
            return error(output, "EXECABORT Transaction discarded because of: " + reason)
        }
        transaction?.failed = true
        return error(output, text)
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

    /// A slow command into SLOWLOG, with this client's address and name. After EXEC ran its queue
    /// the parser holds a queued request's arguments: EXEC (arity 1) is logged as its name.
    private func logSlow(_ microseconds: UInt64, _ command: RESPCommand) {
        // The slow log's lock is no item lock's: a kept stripe is not held across it (CStripeLock).
        cstripe_release()
        var now = timeval()
        gettimeofday(&now, nil)
        let replaced = command.transaction == .exec
        service.slowLog.add(arguments: { replaced ? command.name.utf8Bytes : self.argument($0) }, count: replaced ? 1 : argumentCount,
                            microseconds: Int(microseconds),
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
        commandStats.add(RESPCommandStats.slot(error: code, commands: service.table.statCount))
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
    static let commands: [RESPCommand] = connectionCommands + serverCommands + pubSubCommands + stringCommands + stringRangeCommands + keyCommands + keyspaceCommands
        + transactionCommands
        + clientCommands + commandInfoCommands + bitCommands + debugCommands
        + listCommands + hashCommands + setCommands + sortedSetCommands + sortedSetRangeCommands + sortedSetAlgebraCommands + blockingSortedSetCommands
        + streamCommands + streamGroupCommands + streamInfoCommands
}
