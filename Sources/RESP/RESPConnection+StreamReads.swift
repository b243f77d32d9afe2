// XREAD [COUNT n] [BLOCK ms] STREAMS key ... id ...: redis 7.0.15's xreadCommand without a group.
// The arguments are read in its order (options, then per stream: WRONGTYPE, `$`, `>` refused, the
// ID); the streams with an entry past their ID are served at once (an array of [key, entries],
// a map in RESP3). Otherwise, with BLOCK, the client blocks through the lists' registry
// (ListWaits, kind `.xread`, `$` resolved to the top ID now): an XADD to any of its keys claims
// and wakes it, and it reads again (served: the one stream with entries, at most COUNT, 1,000
// without one as redis's XREAD_BLOCKED_DEFAULT_COUNT; nothing: it blocks again under the first
// park's timer). A timeout or CLIENT UNBLOCK answers the null array (UNBLOCKED with ERROR).
import Broker
import CacheEngine
import Platform

extension RESPConnection {
    /// XREAD.
    func streamRead(_ out: OutputBuffer) -> HandlerAction {
        var timeout = -1
        var count = 0
        var streamsAt = 0
        var i = 1
        while i < argumentCount {
            let more = argumentCount - i - 1
            if argument(i, is: "block") && more > 0 {
                i += 1
                guard let t = integerArgument(i) else { return error(out, "ERR timeout is not an integer or out of range") }
                if t < 0 { return error(out, "ERR timeout is negative") }
                if t > 0 && t > Int.max - Int(engine.clock.milliseconds) { return error(out, "ERR timeout is out of range") }
                timeout = t
            } else if argument(i, is: "count") && more > 0 {
                i += 1
                guard let n = integerArgument(i) else { return notAnInteger(out) }
                count = max(n, 0)
            } else if argument(i, is: "streams") && more > 0 {
                streamsAt = i + 1
                if (argumentCount - streamsAt) % 2 != 0 {
                    return error(out, "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.")
                }
                break
            } else if argument(i, is: "group") && more >= 2 {
                return error(out, "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.")
            } else if argument(i, is: "noack") {
                return error(out, "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.")
            } else {
                return syntaxError(out)
            }
            i += 1
        }
        guard streamsAt > 0 else { return syntaxError(out) }
        let n = (argumentCount - streamsAt) / 2
        var ids: [StreamID] = []
        ids.reserveCapacity(n)
        for k in 0..<n {
            let key = argument(streamsAt + k)
            let found = streamLookup(key)
            if case .wrongType = found { return error(out, Self.wrongType) }
            let arg = argument(streamsAt + n + k)
            if arg.count == 1 && arg[0] == UInt8(ascii: "$") {
                if case .stream(let s, _) = found { ids.append(s.figures.lastID) } else { ids.append(.zero) }
                continue
            }
            if arg.count == 1 && arg[0] == UInt8(ascii: ">") {
                return error(out, "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.")
            }
            guard let p = StreamID.parse(arg, missingSeq: 0, strict: true) else { return error(out, Self.invalidStreamID) }
            ids.append(p.id)
        }
        let keys = (0..<n).map { Array(argument(streamsAt + $0)) }
        if let reply = streamReadReply(keys: keys, ids: ids, database: database, count: count, first: false) {
            reply.bytes.withUnsafeBytes { out.append($0) }
            return .proceed
        }
        guard timeout != -1, blockingAllowed else {
            out.appendRESPNullArray(version)
            return .proceed
        }
        return startStreamBlock(keys: keys, ids: ids, count: count == 0 ? 1000 : count, timeoutMs: timeout, out)
    }

    /// The reply for the streams with entries past their IDs (all of them, or with `first` the
    /// first such, as a woken block replies), header included; nil when none has any.
    func streamReadReply(keys: [[UInt8]], ids: [StreamID], database db: Int, count: Int, first: Bool) -> RESPScratch? {
        var body = RESPScratch()
        for (k, key) in keys.enumerated() {
            let found = key.withUnsafeBytes { streamLookup($0, database: db) }
            guard case .stream(let s, _) = found else { continue }
            guard s.lastValidID > ids[k], let start = ids[k].incremented else { continue }
            var entries = RESPScratch()
            s.range(start: start, end: .max, count: count) { entries.appendEntry($0) }
            if version == .resp2 { body.appendHeader(UInt8(ascii: "*"), 2) }
            key.withUnsafeBytes { body.appendBulk($0) }
            body.appendHeader(UInt8(ascii: "*"), entries.count)
            body.bytes += entries.bytes
            body.count += 1
            if first { break }
        }
        guard body.count > 0 else { return nil }
        var reply = RESPScratch()
        reply.appendHeader(version == .resp2 ? UInt8(ascii: "*") : UInt8(ascii: "%"), body.count)
        reply.bytes += body.bytes
        return reply
    }

    /// Registers the block and parks, unless an XADD that raced in since the command's own try
    /// already serves it (checked under the registry's lock).
    func startStreamBlock(keys: [[UInt8]], ids: [StreamID], count: Int, timeoutMs: Int, _ out: OutputBuffer) -> HandlerAction {
        let block = ListBlock(waiter: Waiter(waker: waker), keys: keys, database: database, kind: .xread(ids: ids, count: count), clientID: id)
        let db = database
        if let reply = service.listWaits.block(block, attempt: { streamReadReply(keys: keys, ids: ids, database: db, count: count, first: true) }) {
            reply.bytes.withUnsafeBytes { out.append($0) }
            return .proceed
        }
        listBlock = block
        return .park(timeoutMs: timeoutMs == 0 ? -1 : timeoutMs)
    }

    /// The parked XREAD was woken (an XADD, CLIENT UNBLOCK) or timed out.
    func resumeStreamBlock(_ block: ListBlock, _ out: OutputBuffer, timedOut: Bool) -> HandlerAction {
        guard case .xread(let ids, let count) = block.kind else { return .proceed }
        var outcome = block.waiter.collect()
        if case .waiting = outcome {
            if !timedOut { return .park(timeoutMs: -1) }
            outcome = service.listWaits.cancel(block)
        } else {
            service.listWaits.finished(block)
        }
        listBlock = nil
        switch outcome {
        case .delivered:
            if let reply = streamReadReply(keys: block.keys, ids: ids, database: block.database, count: count, first: true) {
                reply.bytes.withUnsafeBytes { out.append($0) }
            } else if timedOut {
                out.appendRESPNullArray(version)
            } else {
                let again = startStreamBlock(keys: block.keys, ids: ids, count: count, timeoutMs: 0, out)
                // Parked again: the first park's timer still runs.
                if case .park = again { return .park(timeoutMs: -1) }
            }
        case .cancelled, .waiting:
            switch service.listWaits.unblockRequest(block) {
            case true?: return error(out, "UNBLOCKED client unblocked via CLIENT UNBLOCK")
            case false?: commandFailed = true
            case nil: break
            }
            out.appendRESPNullArray(version)
        }
        return .proceed
    }

    /// XADD's wake-up of the clients blocked in XREAD on `key`.
    func wakeStreamReaders(_ key: UnsafeRawBufferPointer) {
        service.listWaits.wakeStreamReaders(key, database: database)
    }
}
