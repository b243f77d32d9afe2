// XREAD and XREADGROUP: redis 7.0.15's xreadCommand. The arguments are read in its order
// (options, then per stream: WRONGTYPE, NOGROUP, `$` / `>`, the ID); the streams that can be
// served are served at once (an array of [key, entries], a map in RESP3): XREAD's with an entry
// past their ID, XREADGROUP's history reads always (the consumer's pending entries after the ID,
// a deleted one with no fields), its `>` reads when the stream has entries past the group's last
// ID (delivered, and pending unless NOACK). Otherwise, with BLOCK, the client blocks through the
// lists' registry (ListWaits, kind `.xread`, `$` resolved to the top ID now): an XADD to any of
// its keys, or a RENAME / COPY / MOVE / SWAPDB putting a stream there, claims and wakes it (a group
// read whose group the stream now under the key lacks answers NOGROUP, as redis 7.0), and it reads again (served: the
// first stream whose top ID passed its ID, with its entries, none when MAXLEN 0 took them, at most
// COUNT, 1,000 without one as redis's XREAD_BLOCKED_DEFAULT_COUNT; nothing: it blocks again under
// the first park's timer). XREADGROUP's largest ID is `>`. A timeout or CLIENT UNBLOCK answers the null array (UNBLOCKED with ERROR).
// A parked XREADGROUP also watches the streams under its keys (StreamGroupReadWatch): a key deleted,
// overwritten, expired, evicted, flushed, renamed or moved away answers `-UNBLOCKED the stream key
// no longer exists`, as redis 7.0, unless a stream is under the key again when it resumes.
import Broker
import CacheEngine
import Platform

extension RESPConnection {
    /// XREAD, or (`group`) XREADGROUP.
    func streamRead(group isGroup: Bool, _ out: OutputBuffer) -> HandlerAction {
        var timeout = -1
        var count = 0
        var streamsAt = 0
        var groupName: [UInt8]?
        var consumerName: [UInt8] = []
        var noAck = false
        var i = 1
        while i < argumentCount {
            let more = argumentCount - i - 1
            if argument(i, is: "block") && more > 0 {
                i += 1
                guard let t = integerArgument(i) else { return error(out, "ERR timeout is not an integer or out of range") }
                if t < 0 { return error(out, "ERR timeout is negative") }
                // No upper bound: redis 7.0.15 adds the clock to any timeout (later versions answer
                // "timeout is out of range" past LLONG_MAX - now); the park saturates it.
                timeout = t
            } else if argument(i, is: "count") && more > 0 {
                i += 1
                guard let n = integerArgument(i) else { return notAnInteger(out) }
                count = max(n, 0)
            } else if argument(i, is: "streams") && more > 0 {
                streamsAt = i + 1
                // redis 7.0.15 words it so for XREADGROUP too (later versions name the command).
                if (argumentCount - streamsAt) % 2 != 0 {
                    return error(out, "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.")
                }
                break
            } else if argument(i, is: "group") && more >= 2 {
                guard isGroup else { return error(out, "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.") }
                groupName = Array(argument(i + 1))
                consumerName = Array(argument(i + 2))
                i += 2
            } else if argument(i, is: "noack") {
                guard isGroup else { return error(out, "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.") }
                noAck = true
            } else {
                return syntaxError(out)
            }
            i += 1
        }
        guard streamsAt > 0 else { return syntaxError(out) }
        if isGroup && groupName == nil { return error(out, "ERR Missing GROUP option for XREADGROUP") }
        let n = (argumentCount - streamsAt) / 2
        // Per stream: the ID entries must pass (XREAD, or XREADGROUP history), or nil (`>`).
        var ids: [StreamID?] = []
        ids.reserveCapacity(n)
        for k in 0..<n {
            let key = argument(streamsAt + k)
            let found = streamLookup(key)
            if case .wrongType = found { return error(out, Self.wrongType) }
            if let groupName {
                let has: Bool
                if case .stream(let s, _) = found { has = groupName.withUnsafeBytes { s.hasGroup($0) } } else { has = false }
                if !has {
                    return error(out, groupName.withUnsafeBytes { Self.noGroupError(key, $0, suffix: " in XREADGROUP with GROUP option") })
                }
            }
            let arg = argument(streamsAt + n + k)
            if arg.count == 1 && arg[0] == UInt8(ascii: "$") {
                if isGroup {
                    return error(out, "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.")
                }
                if case .stream(let s, _) = found { ids.append(s.figures.lastID) } else { ids.append(.zero) }
                continue
            }
            if arg.count == 1 && arg[0] == UInt8(ascii: ">") {
                guard isGroup else {
                    return error(out, "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.")
                }
                ids.append(nil)
                continue
            }
            guard let p = StreamID.parse(arg, missingSeq: 0, strict: true) else { return error(out, Self.invalidStreamID) }
            // redis 7.0.15 keeps `>` as the largest ID, so XREADGROUP reads that ID given in
            // full as `>` (new entries), not as history.
            ids.append(isGroup && p.id == .max ? nil : p.id)
        }
        let keys = (0..<n).map { Array(argument(streamsAt + $0)) }
        let group = groupName.map { StreamReadGroup(name: $0, consumer: consumerName, noAck: noAck) }
        if streamReadReply(keys: keys, ids: ids, group: group, database: database, count: count, first: false, out) {
            return .proceed
        }
        guard timeout != -1, blockingAllowed else {
            out.appendRESPNullArray(version)
            return .proceed
        }
        return startStreamBlock(keys: keys, ids: ids, group: group, count: count == 0 ? 1000 : count, timeoutMs: timeout, out)
    }

    /// Writes the reply for the streams that can be served (all of them, or with `first` the
    /// first such, as a woken block replies), header included, into `out`; false (nothing
    /// written) when none can. A blocked read (`first`) serves XREADGROUP's `>` only. The entries
    /// go straight into the reply as the stream's scan finds them (appendStreamEntry); the counts
    /// before them are written once known (deferred lines), and a stream not served is taken back.
    /// `woken`: the index of the key a producer readied for a block's read, served as redis 7.0's
    /// serveClientsBlockedOnStreamKey serves it: whenever the stream's top ID passed the read's
    /// ID (the group's last ID for `>`), even when no entry is left to read (an XADD with MAXLEN
    /// 0, a transaction's XADD then XDEL): the key with no entries; the block's other keys are not
    /// looked at. Without `woken` a stream is served only with an entry to read, as xreadCommand's
    /// own try.
    func streamReadReply(keys: [[UInt8]], ids: [StreamID?], group: StreamReadGroup?, database db: Int, count: Int,
                         first: Bool, until: StreamID = .max, woken: Int? = nil, _ out: OutputBuffer) -> Bool {
        let start = out.mark()
        let header = beginStreamCount(out)
        var served = 0
        // A woken read answers the readied key alone (a transaction that added to t, then s,
        // answers a reader of `s t` with t's entries, as redis).
        for (k, key) in keys.enumerated() where woken == nil || k == woken {
            let found = key.withUnsafeBytes { streamLookup($0, database: db) }
            guard case .stream(let s, _) = found else { continue }
            let byTop = k == woken
            var from = StreamID.zero
            if group == nil {
                guard let after = ids[k], (byTop ? s.figures.lastID : s.lastValidID) > after, let f = after.incremented, f <= until else {
                    continue
                }
                from = f
            }
            let streamStart = out.mark()
            if version == .resp2 { out.appendRESPArrayHeader(2) }
            key.withUnsafeBytes { out.appendRESPBulk($0) }
            let entries = beginStreamCount(out)
            var n = 0
            if let group {
                let now = engine.clock.milliseconds
                let r = group.name.withUnsafeBytes { g in
                    group.consumer.withUnsafeBytes { c in
                        s.readGroup(g, consumer: c, after: ids[k], until: until, byTop: byTop, count: count, noAck: group.noAck, now: now,
                                    pelRefusals: { service.streams.pendingRefusals.wrappingAdd(1, ordering: .relaxed) }) { id, fields in
                            if let fields {
                                appendStreamEntry(id, fields, out)
                            } else {
                                // A pending entry no longer in the stream: its ID and no fields.
                                out.appendRESPArrayHeader(2)
                                appendStreamID(id, out)
                                out.appendRESPNullArray(version)
                            }
                            n += 1
                        }
                    }
                }
                guard case .served(let created) = r else {
                    out.rollback(to: streamStart)
                    continue
                }
                if created { key.withUnsafeBytes { notify(KeyspaceEvents.stream, "xgroup-createconsumer", $0, database: db) } }
            } else {
                s.range(start: from, end: until, count: count) { e in
                    appendStreamEntry(e.id, e.fields, out)
                    n += 1
                }
            }
            endStreamCount(entries, UInt8(ascii: "*"), n, out)
            served += 1
            if first { break }
        }
        guard served > 0 else {
            out.rollback(to: start)
            return false
        }
        endStreamCount(header, version == .resp2 ? UInt8(ascii: "*") : UInt8(ascii: "%"), served, out)
        return true
    }

    /// Registers the block and parks, unless an XADD that raced in since the command's own try
    /// already serves it (checked under the registry's lock).
    func startStreamBlock(keys: [[UInt8]], ids: [StreamID?], group: StreamReadGroup?, count: Int, timeoutMs: Int,
                          _ out: OutputBuffer) -> HandlerAction {
        // A blocked read waits for new entries: `>` for a group, the resolved IDs otherwise.
        let resolved = ids.map { $0 ?? .max }
        let block = ListBlock(waiter: Waiter(waker: waker), keys: keys, database: database,
                              kind: .xread(ids: resolved, count: count, group: group), clientID: id)
        let db = database
        // Served now: the reply is written into `out` (nil: nothing written, it parks).
        let attempt = { () -> Bool? in
            self.streamReadReply(keys: keys, ids: group == nil ? ids : keys.map { _ in nil }, group: group,
                                 database: db, count: count, first: true, out) ? true : nil
        }
        if service.listWaits.block(block, attempt: attempt) != nil { return .proceed }
        listBlock = block
        if group != nil { watchStreamKeys(block) }
        return .park(timeoutMs: timeoutMs == 0 ? -1 : timeoutMs)
    }

    /// The stream under `key` now, if any (no topic adopted: a lookup that changes nothing).
    func streamUnder(_ key: [UInt8], database db: Int) -> StreamLog? {
        let found = key.withUnsafeBytes {
            engine.withExternalValue($0, hash: CacheEngine.hash($0), database: db, type: .stream) { StreamStore.stream(token: $0) }
        }
        if case .found(let s) = found { return s }
        return nil
    }

    /// A parked XREADGROUP watches the streams under its keys: a key that lets go of its stream
    /// wakes it (StreamLog+KeyWatchers.swift). A key that let go since the command read it, before
    /// the watch, counts as letting go now.
    func watchStreamKeys(_ block: ListBlock) {
        for (source, key) in block.keys.enumerated() {
            let watch = StreamGroupReadWatch(waiter: block.waiter, source: source)
            guard let s = streamUnder(key, database: block.database) else {
                watch.streamKeyGone()
                continue
            }
            s.watchKey(watch)
            if streamUnder(key, database: block.database) !== s { watch.streamKeyGone() }
        }
    }

    /// The parked XREAD / XREADGROUP was woken (an XADD, CLIENT UNBLOCK) or timed out.
    func resumeStreamBlock(_ block: ListBlock, _ out: OutputBuffer, timedOut: Bool) -> HandlerAction {
        guard case .xread(let resolved, let count, let group) = block.kind else { return .proceed }
        let ids: [StreamID?] = group == nil ? resolved : resolved.map { _ in nil }
        guard let outcome = endedBlockOutcome(block, timedOut: timedOut) else { return .park(timeoutMs: -1) }
        switch outcome {
        case .delivered(let served, let source):
            var until = StreamID.max
            if case .streamTop(let top) = served { until = top }
            // redis 7.0's unblockDeletedStreamReadgroupClients: the key let go of its stream and
            // holds none now.
            if case .streamKeyGone = served, source < block.keys.count, streamUnder(block.keys[source], database: block.database) == nil {
                return error(out, "UNBLOCKED the stream key no longer exists")
            }
            // redis 7.0's serveClientsBlockedOnStreamKey: the stream now under the readied key
            // (an XADD after XGROUP DESTROY, a RENAME or COPY of another stream) has no such group.
            if let group, source < block.keys.count,
               case .stream(let s, _) = block.keys[source].withUnsafeBytes({ streamLookup($0, database: block.database) }),
               !group.name.withUnsafeBytes({ s.hasGroup($0) }) {
                return error(out, "NOGROUP the consumer group this client was blocked on no longer exists")
            }
            var woken: Int?
            if case .streamTop = served { woken = source }
            if streamReadReply(keys: block.keys, ids: ids, group: group, database: block.database, count: count, first: true,
                               until: until, woken: woken, out) {
                // Written.
            } else if timedOut {
                out.appendRESPNullArray(version)
            } else {
                let again = startStreamBlock(keys: block.keys, ids: ids, group: group, count: count, timeoutMs: 0, out)
                // Parked again: the first park's timer still runs.
                if case .park = again { return .park(timeoutMs: -1) }
            }
        case .cancelled, .waiting:
            return answerUnserved(block, out)
        }
        return .proceed
    }

    /// XADD's wake-up of the clients blocked in XREAD / XREADGROUP on `key` (`top`: the ID it
    /// added; they read up to there). Inside EXEC the key and its top are only noted and the
    /// readers woken when it ends (`noteReadyStream`), so they see every entry of the transaction,
    /// as redis serves blocked clients after the whole EXEC.
    @inline(__always)
    func wakeStreamReaders(_ key: UnsafeRawBufferPointer, top: StreamID = .max) {
        // Checked here first: the call retained the wait lists even when nobody is blocked.
        guard service.listWaits.hasBlockedKeys else { return }
        if runningExec {
            noteReadyStream(key, database: database, top: top)
            return
        }
        service.listWaits.wakeStreamReaders(key, database: database, top: top)
    }
}

/// A parked XREADGROUP's watch on the stream under one of its keys.
final class StreamGroupReadWatch: StreamKeyWatcher {
    let waiter: Waiter<ListServed>
    /// The key's position in the command's keys.
    let source: Int

    init(waiter: Waiter<ListServed>, source: Int) {
        self.waiter = waiter
        self.source = source
    }

    var isWaiting: Bool { waiter.isArmed }

    func streamKeyGone() {
        guard waiter.claim() else { return }
        waiter.deliver(.streamKeyGone, source: source)
        waiter.waker.wake()
    }
}
