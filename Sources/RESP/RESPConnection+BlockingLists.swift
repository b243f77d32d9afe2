// The blocking list commands: BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP, and LMPOP, which shares
// BLMPOP's arguments. Each first runs as its non-blocking form; with nothing to take it registers
// one `Waiter` on every key (ListWaits) and parks the connection (`.park`, the timeout in
// milliseconds, none for 0). A pusher on any worker pops for it and wakes it (`resume`), or the
// park timer ends it with redis's null array. A connection that closes while blocked gives back
// what a pusher already popped for it, at the end it came from, so no element is lost.
//
// Hooks for other commands:
// - `blockingAllowed = false` (MULTI/EXEC, redis's CLIENT_DENY_BLOCKING): the command runs once
//   and answers as a timeout would (null array; BLMOVE and BRPOPLPUSH a null bulk).
// - `RESPService.unblockListClient(id:error:)` (CLIENT UNBLOCK): ends a client's block from any
//   thread, as a timeout or with `-UNBLOCKED client unblocked via CLIENT UNBLOCK`.
import CacheEngine
import Platform
#if canImport(Glibc)
import Glibc
#endif

extension RESPService {
    /// CLIENT UNBLOCK's hook: true when client `id` was blocked on a list key and is now woken to
    /// answer as a timeout (or, with `error`, `-UNBLOCKED client unblocked via CLIENT UNBLOCK`).
    public func unblockListClient(id: UInt64, error: Bool) -> Bool {
        listWaits.unblock(clientID: id, error: error)
    }
}

extension RESPConnection {
    /// redis's getTimeoutFromObjectOrReply in seconds: the timeout in milliseconds (0: forever),
    /// or the error reply's text.
    func blockTimeout(_ i: Int) -> Result<Int, BlockTimeoutError> {
        guard let seconds = longDoubleValue(argument(i)) else { return .failure(.notAFloat) }
        // Rounded up, as redis's ceill: 0.001 s is 0.99999... ms in a long double, and a
        // truncation to 0 would block forever.
        let ms = (seconds * 1000).rounded(.up)
        // A C cast of a value out of range gives LLONG_MIN on x86: "negative".
        let t: Int64 = ms.isFinite && ms < 9_223_372_036_854_775_808.0 && ms >= -9_223_372_036_854_775_808.0 ? Int64(ms) : Int64.min
        if t < 0 { return .failure(.negative) }
        // No upper bound: redis 7.0.15 adds the clock to any timeout that fits a long long
        // (later versions answer "timeout is out of range" past LLONG_MAX - now); the park
        // saturates it (Connection.park).
        return .success(Int(t))
    }

    enum BlockTimeoutError: Error {
        case notAFloat, negative
        var text: StaticString {
            switch self {
            case .notAFloat: "ERR timeout is not a float or out of range"
            case .negative: "ERR timeout is negative"
            }
        }
    }

    // MARK: commands

    /// BLPOP / BRPOP key [key ...] timeout.
    func blockingPop(_ end: ListEnd, _ out: OutputBuffer) -> HandlerAction {
        let timeout: Int
        switch blockTimeout(argumentCount - 1) {
        case .success(let t): timeout = t
        case .failure(let e): return error(out, e.text)
        }
        if let done = popFirstList(1..<(argumentCount - 1), end, count: nil, out) { return done }
        guard blockingAllowed else { out.appendRESPNullArray(version); return .proceed }
        return startBlock(keys: (1..<(argumentCount - 1)).map { Array(argument($0)) }, kind: .pop(end, count: nil),
                          timeoutMs: timeout, out)
    }

    /// BLMOVE / BRPOPLPUSH source destination ... timeout.
    func blockingMove(from: ListEnd, to: ListEnd, timeoutIndex: Int, _ out: OutputBuffer) -> HandlerAction {
        let timeout: Int
        switch blockTimeout(timeoutIndex) {
        case .success(let t): timeout = t
        case .failure(let e): return error(out, e.text)
        }
        if let (source, sh) = listKey(1) {
            guard let (destination, dh) = listKey(2) else { return error(out, Self.keyTooLong) }
            switch engine.listMove(source, hash: sh, destination, hash: dh, database: database, from: from, to: to) {
            case .moved(let bytes):
                notify(KeyspaceEvents.list, to == .head ? "lpush" : "rpush", destination)
                notifyPopped(source, sh, from)
                bytes.withUnsafeBytes { out.appendRESPBulk($0) }
                serveBlocked(destination)
                return .proceed
            case .wrongType: return error(out, Self.wrongType)
            case .outOfMemory: return error(out, Self.outOfMemory)
            case .noKey: break
            }
        }
        guard blockingAllowed else { out.appendRESPNull(version); return .proceed }
        return startBlock(keys: [Array(argument(1))], kind: .move(destination: Array(argument(2)), from: from, to: to),
                          timeoutMs: timeout, out)
    }

    /// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count], and BLMPOP timeout numkeys ...
    func multiPop(numberIndex: Int, blocking: Bool, _ out: OutputBuffer) -> HandlerAction {
        guard let keys = integerArgument(numberIndex), keys >= 1 else { return error(out, "ERR numkeys should be greater than 0") }
        guard keys < argumentCount - numberIndex - 1 else { return syntaxError(out) }
        let whereIndex = numberIndex + keys + 1
        guard let end = listEnd(whereIndex) else { return syntaxError(out) }
        var count = -1
        var j = whereIndex + 1
        while j < argumentCount {
            if count == -1 && argument(j, is: "count") && argumentCount - 1 - j > 0 {
                j += 1
                guard let n = integerArgument(j), n >= 1 else { return error(out, "ERR count should be greater than 0") }
                count = n
            } else {
                return syntaxError(out)
            }
            j += 1
        }
        if count == -1 { count = 1 }
        var timeout = 0
        if blocking {
            switch blockTimeout(1) {
            case .success(let t): timeout = t
            case .failure(let e): return error(out, e.text)
            }
        }
        if let done = popFirstList((numberIndex + 1)..<whereIndex, end, count: count, out) { return done }
        guard blocking && blockingAllowed else { out.appendRESPNullArray(version); return .proceed }
        return startBlock(keys: ((numberIndex + 1)..<whereIndex).map { Array(argument($0)) }, kind: .pop(end, count: count),
                          timeoutMs: timeout, out)
    }

    /// Pops from the first of the keys at `indices` that holds a list, before any block: its reply
    /// [key, element] (BLPOP, `count` nil) or [key, [up to count elements]] (LMPOP, BLMPOP), its
    /// events; nil when none holds one.
    private func popFirstList(_ indices: Range<Int>, _ end: ListEnd, count: Int?, _ out: OutputBuffer) -> HandlerAction? {
        for i in indices {
            guard let (key, hv) = listKey(i) else { continue }
            let r = engine.listPop(key, hash: hv, database: database, end: end, count: count ?? 1, willVisit: { n in
                out.appendRESPArrayHeader(2)
                out.appendRESPBulk(key)
                if count != nil { out.appendRESPArrayHeader(n) }
            }) { self.appendElement($0, out) }
            switch r {
            case .ok:
                notifyPopped(key, hv, end)
                return .proceed
            case .wrongType: return error(out, Self.wrongType)
            case .noKey: continue
            }
        }
        return nil
    }

    // MARK: blocking

    /// Registers the block and parks; a push that raced in since the command's own try is taken
    /// under the registry's lock instead.
    func startBlock(keys: [[UInt8]], kind: ListWaitKind, timeoutMs: Int, _ out: OutputBuffer) -> HandlerAction {
        let block = ListBlock(waiter: Waiter(waker: waker), keys: keys, database: database, kind: kind, clientID: id)
        var wrongType = false
        let first = service.listWaits.block(block, attempt: { () -> ([[UInt8]], Int)? in
            let r = attemptServe(block, wrongType: &wrongType)
            // Not registered when the move must answer WRONGTYPE: a non-nil result.
            return wrongType ? ([], 0) : r
        })
        if wrongType { return error(out, Self.wrongType) }
        if let (elements, source) = first {
            replyServed(block, elements, source: source, out)
            return .proceed
        }
        listBlock = block
        return .park(timeoutMs: timeoutMs == 0 ? -1 : timeoutMs)
    }

    /// The block's command run once more without blocking: the elements taken and the index of
    /// their key, or nil. Keys of another type are passed over (a blocked client waits for a list);
    /// a move's destination of another type, with elements to move, answers WRONGTYPE as a
    /// producer's serve would (`wrongType` set, nil returned).
    private func attemptServe(_ block: ListBlock, wrongType: inout Bool) -> ([[UInt8]], Int)? {
        for (i, key) in block.keys.enumerated() where key.count <= ItemLayout.maxKeyLength {
            var elements: [[UInt8]] = []
            let served: Bool = key.withUnsafeBytes { k in
                let hv = CacheEngine.hash(k)
                switch block.kind {
                case .pop(let end, let count):
                    _ = engine.listPop(k, hash: hv, database: block.database, end: end, count: count ?? 1) { elements.append($0.bytes) }
                case .zpop(let max, let count):
                    elements = Self.zsetPopCopies(engine, k, hv, database: block.database, max: max, count: count ?? 1)
                case .move(let destination, let from, let to):
                    guard destination.count <= ItemLayout.maxKeyLength else { return false }
                    let r = destination.withUnsafeBytes { d in
                        engine.listMove(k, hash: hv, d, hash: CacheEngine.hash(d), database: block.database, from: from, to: to)
                    }
                    if case .moved(let bytes) = r { elements = [bytes] }
                    // The source exists (a source of another type answers WRONGTYPE first).
                    if case .wrongType = r, engine.listLength(k, hash: hv, database: block.database) != nil { wrongType = true }
                case .xread: return false
                }
                return !elements.isEmpty
            }
            if served { return (elements, i) }
            if wrongType { return nil }
        }
        return nil
    }

    /// The reply of a served block, and the clients blocked on a move's destination.
    private func replyServed(_ block: ListBlock, _ elements: [[UInt8]], source: Int, _ out: OutputBuffer) {
        switch block.kind {
        case .pop(_, count: nil):
            out.appendRESPArrayHeader(2)
            block.keys[source].withUnsafeBytes { out.appendRESPBulk($0) }
            elements[0].withUnsafeBytes { out.appendRESPBulk($0) }
        case .pop:
            out.appendRESPArrayHeader(2)
            block.keys[source].withUnsafeBytes { out.appendRESPBulk($0) }
            out.appendRESPArrayHeader(elements.count)
            for e in elements { e.withUnsafeBytes { out.appendRESPBulk($0) } }
        case .move(let destination, _, _):
            elements[0].withUnsafeBytes { out.appendRESPBulk($0) }
            destination.withUnsafeBytes { serveWaiters($0, database: block.database) }
        case .zpop(_, let count):
            replyZSetServed(block.keys[source], elements, nested: count != nil, out)
        case .xread: break
        }
    }

    /// What ended a parked block (a delivery, CLIENT UNBLOCK's cancel, or the timeout's), the
    /// block taken out of the registry and the connection; nil while it still waits and has not
    /// timed out (it parks on).
    func endedBlockOutcome(_ block: ListBlock, timedOut: Bool) -> Waiter<ListServed>.Outcome? {
        var outcome = block.waiter.collect()
        if case .waiting = outcome {
            if !timedOut { return nil }
            outcome = service.listWaits.cancel(block)
        } else {
            service.listWaits.finished(block)
        }
        listBlock = nil
        return outcome
    }

    /// The parked block was woken (a pusher served it, CLIENT UNBLOCK) or timed out.
    func resumeListBlock(_ out: OutputBuffer, timedOut: Bool) -> HandlerAction {
        guard let block = listBlock else { return .proceed }
        if case .xread = block.kind { return resumeStreamBlock(block, out, timedOut: timedOut) }
        guard let outcome = endedBlockOutcome(block, timedOut: timedOut) else { return .park(timeoutMs: -1) }
        switch outcome {
        case .delivered(.elements(let elements), let source):
            replyServed(block, elements, source: source, out)
        case .delivered(.wrongType, _):
            return error(out, Self.wrongType)
        case .delivered(.streamTop, _), .delivered(.streamKeyGone, _):
            break
        case .delivered(.retry, _):
            // Claimed, but the list was emptied first: try again, and wait again if still empty.
            var wrongType = false
            if let (elements, source) = attemptServe(block, wrongType: &wrongType) {
                replyServed(block, elements, source: source, out)
            } else if wrongType {
                return error(out, Self.wrongType)
            } else if timedOut {
                out.appendRESPNullArray(version)
            } else {
                let again = startBlock(keys: block.keys, kind: block.kind, timeoutMs: 0, out)
                // Parked again: the first park's timer still runs.
                if case .park = again { return .park(timeoutMs: -1) }
            }
        case .cancelled, .waiting:
            return answerUnserved(block, out)
        }
        return .proceed
    }

    /// A blocked command that nothing served: CLIENT UNBLOCK ... ERROR's error, or the null array
    /// of a timeout (also for CLIENT UNBLOCK's default, which redis 7.0 counts as a failed call).
    func answerUnserved(_ block: ListBlock, _ out: OutputBuffer) -> HandlerAction {
        switch service.listWaits.unblockRequest(block) {
        case true?: return error(out, "UNBLOCKED client unblocked via CLIENT UNBLOCK")
        case false?: commandFailed = true
        case nil: break
        }
        out.appendRESPNullArray(version)
        return .proceed
    }

    /// The connection closed while blocked: elements a pusher popped for it go back where they
    /// came from (a move's element stays in its destination).
    /// The give-back is a write like a command's, so it goes through the gate: never inside
    /// another worker's EXEC (the close runs after `process`/`resume` left the gate).
    func endListBlockOnClose() {
        guard let block = listBlock else { return }
        listBlock = nil
        guard case .delivered(.elements(let elements), let source) = service.listWaits.cancel(block) else { return }
        service.gate.enter(gateSlot)
        defer { service.gate.leave(gateSlot) }
        if case .zpop = block.kind { return giveBackZSetPops(block, elements, source: source) }
        guard case .pop(let end, _) = block.kind else { return }
        let key = block.keys[source]
        // Pushed back last first, so the list reads as before the pop.
        var flat: [UInt8] = []
        var bounds: [Range<Int>] = []
        for e in elements.reversed() {
            bounds.append(flat.count..<(flat.count + e.count))
            flat += e
        }
        flat.withUnsafeBytes { all in
            key.withUnsafeBytes { k in
                _ = engine.listPush(k, hash: CacheEngine.hash(k), database: block.database, end: end, count: bounds.count) {
                    UnsafeRawBufferPointer(rebasing: all[bounds[$0]])
                }
                serveWaiters(k, database: block.database)
            }
        }
    }
}
