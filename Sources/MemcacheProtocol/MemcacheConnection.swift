// One cache-port connection: the text request loop (TextRequestLoop.swift) with memcached's
// command set and the binary protocol plugged in; each line is dispatched by its command word and
// replies are appended to the output. A storage command whose data block has not fully arrived
// allocates its item at once and the next reads are copied straight into item memory (memcached's
// conn_nread), so a 1 MB value never passes through a growing input buffer. After a refused store
// the data block is skipped (conn_swallow).
import CacheEngine
import Platform

final class MemcacheConnection: TextRequestLoop {
    let service: MemcacheService
    let engine: CacheEngine
    let stats: StatCounters
    let settings: ProtocolSettings

    /// A storage command waiting for its data block.
    struct PendingStore {
        var item: Item
        var hash: UInt32
        var mode: StoreMode
        var casIn: UInt64
        var noreply: Bool
        var block: ValueBlock
        /// Set for a meta set (ms): how to answer.
        var meta: MetaStoreReply? = nil
        /// Set for a binary-protocol store.
        var binary: BinaryStoreReply? = nil
    }
    var pending: PendingStore?
    var swallowRemaining = 0
    /// Set while a command that said `noreply` is being answered.
    var noreply = false
    /// -Y: ASCII authentication before anything else.
    var auth: AsciiAuth
    /// Decided by the first byte the connection sends (0x80: binary), as memcached does.
    var binary: Bool?
    /// Decoded base64 keys of meta commands, allocated on first use (most connections never
    /// send one, and an idle connection should pin as little as possible).
    private var keyScratchStorage: UnsafeMutableRawBufferPointer?
    var keyScratch: UnsafeMutableRawBufferPointer {
        if let s = keyScratchStorage { return s }
        let s = UnsafeMutableRawBufferPointer.allocate(byteCount: 256, alignment: 8)
        keyScratchStorage = s
        return s
    }

    /// The socket, as `watch` lines name it (cfd).
    let fd: Int32
    let waker: ConnectionWaker
    /// This worker's slot in the Redis port's command gate.
    let gateSlot: Int
    /// Set once this connection is a `watch` stream.
    var watcher: Watcher?
    /// A `lru_crawler metadump` being written piece by piece (Admin.swift).
    var metadumpWalk: MetadumpWalk?
    /// The rest of a multi-get written piece by piece (Retrieval+Stream.swift).
    var multiGet: MultiGetStream?

    init(service: MemcacheService, stats: StatCounters, fd: Int32, waker: ConnectionWaker, gateSlot: Int = 0) {
        self.service = service
        self.gateSlot = gateSlot
        self.engine = service.engine
        self.stats = stats
        self.fd = fd
        self.waker = waker
        self.settings = service.settings
        self.auth = AsciiAuth(entries: service.settings.authEntries)
    }

    deinit {
        keyScratchStorage?.deallocate()
    }

    func connectionClosed() {
        if let w = watcher {
            service.watch.remove(w)
            watcher = nil
        }
        if let p = pending {
            engine.release(p.item)
            pending = nil
        }
        // A dump's client went away: its marker out, the server's dump slot free.
        metadumpWalk?.finish()
        metadumpWalk = nil
        releaseMultiGet()
    }

    func continueStream(output: OutputBuffer) -> HandlerAction {
        multiGet != nil ? continueMultiGet(output) : continueMetadump(output)
    }

    func pendingValue() -> UnsafeMutableRawBufferPointer? {
        guard let p = pending else { return nil }
        return p.block.destination(p.item, engine: engine)
    }

    func valueReceived(_ n: Int) { pending?.block.received(n) }

    func readBufferExhausted(output: OutputBuffer) { output.append(Reply.readBufferOutOfMemory) }

    func deliverPushes(output: OutputBuffer) -> HandlerAction {
        watcher?.deliver(into: output)
        return .proceed
    }

    func process(_ input: UnsafeRawBufferPointer, output: OutputBuffer) -> (consumed: Int, action: HandlerAction) {
        // A watch stream takes no more requests (memcached ignores what a watcher sends).
        if watcher != nil { return (input.count, .proceed) }
        guard let gate = service.gate else { return runRequestLoop(input, output) }
        gate.enter(gateSlot)
        defer { gate.leave(gateSlot) }
        return runRequestLoop(input, output)
    }

    // MARK: the text request loop's hooks

    var readingValue: Bool { pending != nil }

    func readValue(_ input: UnsafeRawBufferPointer, at pos: Int, _ output: OutputBuffer) -> Int {
        fillPending(input, pos, output)
    }

    /// The first byte decides the protocol (0x80: binary), as memcached does; binary requests
    /// are handled here.
    func nextRequest(_ input: UnsafeRawBufferPointer, at pos: Int, _ output: OutputBuffer,
                     requests: inout Int) -> RequestStep {
        if binary == nil {
            let isBinary = input[pos] == 0x80
            // -B ascii refuses binary clients, -B binary text ones (memcached closes them).
            if isBinary ? settings.bindingProtocol == "ascii" : settings.bindingProtocol == "binary" {
                return .stop(consumed: pos, .closeNow)
            }
            binary = isBinary
        }
        guard binary! else { return .text }
        if requests == settings.requestsPerEvent { return .stop(consumed: pos, .yield) }
        switch processBinary(input, pos, output) {
        case .needMore:
            return .stop(consumed: pos, .proceed)
        case .done(let next, let action):
            requests += 1
            if case .proceed = action { return .next(next) }
            return .stop(consumed: next, action)
        }
    }

    func authChecked(_ ok: Bool) {
        stats.add(.authCmds)
        if !ok { stats.add(.authErrors) }
    }

    func execute(_ line: TextLine, _ output: OutputBuffer) -> HandlerAction {
        noreply = false
        let action = dispatch(line, output)
        noreply = false
        return action
    }

    /// No newline yet: wait, unless the line is already longer than memcached allows.
    func incompleteLine(_ input: UnsafeRawBufferPointer, at pos: Int) -> HandlerAction {
        let pendingBytes = input.count - pos
        if pendingBytes <= settings.maxPlainLine { return .proceed }
        var i = pos
        while i < input.count && input[i] == 0x20 { i += 1 }
        let rest = UnsafeRawBufferPointer(rebasing: input[i...])
        let isGet = rest.starts(with: "get ".utf8) || rest.starts(with: "gets ".utf8)
        if i - pos > 100 || !isGet || pendingBytes > settings.maxGetLine {
            stats.add(.linesTooLong)
            return .closeNow
        }
        return .proceed
    }

    // MARK: reply helpers

    @inline(__always)
    func validKey(_ input: UnsafeRawBufferPointer, _ t: Token) -> Bool {
        TextParser.isValidKey(input, t, strict: settings.rejectKeyControlCharacters)
    }

    @inline(__always)
    func reply(_ s: StaticString, _ output: OutputBuffer) {
        if !noreply { output.append(s) }
    }

    func reply(_ s: String, _ output: OutputBuffer) {
        if !noreply { output.append(s) }
    }

    // MARK: dispatch

    /// The storage and retrieval commands and the meta commands, memcached's hot path, are a
    /// direct switch on the command word's length and first byte; every other command is found
    /// in the command table (MemcacheConnection+Commands.swift).
    private func dispatch(_ line: TextLine, _ output: OutputBuffer) -> HandlerAction {
        let input = line.input
        let tokens = line.tokens
        let more = line.more
        let cmd = tokens[0]
        let first = input[cmd.start]
        switch (cmd.count, first) {
        case (3, UInt8(ascii: "g")) where TextParser.equals(input, cmd, "get"):
            return processGet(input, tokens, line.end, output, withCAS: false, touch: false)
        case (4, UInt8(ascii: "g")) where TextParser.equals(input, cmd, "gets"):
            return processGet(input, tokens, line.end, output, withCAS: true, touch: false)
        case (3, UInt8(ascii: "g")) where TextParser.equals(input, cmd, "gat"):
            return processGet(input, tokens, line.end, output, withCAS: false, touch: true)
        case (4, UInt8(ascii: "g")) where TextParser.equals(input, cmd, "gats"):
            return processGet(input, tokens, line.end, output, withCAS: true, touch: true)
        case (3, UInt8(ascii: "s")) where TextParser.equals(input, cmd, "set"):
            return processStore(input, tokens, more, output, mode: .set)
        case (3, UInt8(ascii: "a")) where TextParser.equals(input, cmd, "add"):
            return processStore(input, tokens, more, output, mode: .add)
        case (7, UInt8(ascii: "r")) where TextParser.equals(input, cmd, "replace"):
            return processStore(input, tokens, more, output, mode: .replace)
        case (6, UInt8(ascii: "a")) where TextParser.equals(input, cmd, "append"):
            return processStore(input, tokens, more, output, mode: .append)
        case (7, UInt8(ascii: "p")) where TextParser.equals(input, cmd, "prepend"):
            return processStore(input, tokens, more, output, mode: .prepend)
        case (3, UInt8(ascii: "c")) where TextParser.equals(input, cmd, "cas"):
            return processStore(input, tokens, more, output, mode: .cas)
        case (4, UInt8(ascii: "i")) where TextParser.equals(input, cmd, "incr"):
            return processDelta(input, tokens, more, output, incr: true)
        case (4, UInt8(ascii: "d")) where TextParser.equals(input, cmd, "decr"):
            return processDelta(input, tokens, more, output, incr: false)
        case (6, UInt8(ascii: "d")) where TextParser.equals(input, cmd, "delete"):
            return processDelete(input, tokens, more, output)
        case (5, UInt8(ascii: "t")) where TextParser.equals(input, cmd, "touch"):
            return processTouch(input, tokens, more, output)
        case (2, UInt8(ascii: "m")):
            switch input[cmd.start + 1] {
            case UInt8(ascii: "g"), UInt8(ascii: "s"), UInt8(ascii: "d"), UInt8(ascii: "a"), UInt8(ascii: "e"):
                stats.add(.cmdMeta)
                return processMeta(input, tokens, line.start, line.end, output)
            case UInt8(ascii: "n"):
                stats.add(.cmdMeta)  // memcached counts mn as a meta command too
                return Self.commands.run(self, line, output)
            default:
                return Self.commands.run(self, line, output)
            }
        default:
            return Self.commands.run(self, line, output)
        }
    }

    /// The last token is "noreply".
    @inline(__always)
    func setNoreplyMaybe(_ input: UnsafeRawBufferPointer, _ tokens: Tokens) {
        if tokens.count > 1 && TextParser.equals(input, tokens[tokens.count - 1], "noreply") {
            noreply = true
        }
    }

    /// Unknown command: ERROR, or close for an HTTP request line (memcached does the same).
    func unknownCommand(_ line: TextLine, _ output: OutputBuffer) -> HandlerAction {
        let last = line.tokens[line.tokens.count - 1]
        if last.count >= 5 && memcmp(line.input.baseAddress! + last.start, "HTTP/", 5) == 0 {
            return .closeNow
        }
        output.append(Reply.error)
        return .proceed
    }
}

#if canImport(Glibc)
import Glibc
#endif
