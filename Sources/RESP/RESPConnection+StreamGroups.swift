// Redis stream consumer groups: XGROUP CREATE|SETID|DESTROY|CREATECONSUMER|DELCONSUMER|HELP,
// XACK, XPENDING (summary and extended, IDLE, consumer), XCLAIM (IDLE TIME RETRYCOUNT FORCE
// JUSTID LASTID), XAUTOCLAIM (COUNT JUSTID) in redis 7.0.15's argument order and words
// (t_stream.c's xgroupCommand, xackCommand, xpendingCommand, xclaimCommand, xautoclaimCommand);
// XREADGROUP is XREAD's
// (+StreamReads.swift). The groups and their PELs are the stream's (StreamLog+Groups.swift).
// Events: xgroup-create, xgroup-setid, xgroup-destroy, xgroup-createconsumer,
// xgroup-delconsumer (class t); `new` for MKSTREAM.
import Broker
import CacheEngine
import Platform

extension RESPConnection {
    static let streamGroupCommands: [RESPCommand] = [
        RESPCommand("xgroup", arity: -2, subcommands: ["create", "setid", "destroy", "createconsumer", "delconsumer", "help"]) { c, out in
            c.containerHelp(out) ?? c.streamGroup(out)
        },
        RESPCommand("xreadgroup", arity: -7, flags: [.write, .blocking, .movableKeys]) { c, out in c.streamRead(group: true, out) },
        RESPCommand("xack", arity: -4, keys: (1, 1, 1), flags: [.write, .fast]) { c, out in c.streamAck(out) },
        RESPCommand("xpending", arity: -3, keys: (1, 1, 1), flags: [.readonly]) { c, out in c.streamPending(out) },
        RESPCommand("xclaim", arity: -6, keys: (1, 1, 1), flags: [.write, .fast]) { c, out in c.streamClaim(out) },
        RESPCommand("xautoclaim", arity: -6, keys: (1, 1, 1), flags: [.write, .fast]) { c, out in c.streamAutoClaim(out) },
    ]

    /// redis's addReplySubcommandSyntaxError for XGROUP.
    private func xgroupSyntaxError(_ out: OutputBuffer) -> HandlerAction {
        error(out, "ERR unknown subcommand or wrong number of arguments for '" + String(decoding: argument(1).prefix(128), as: UTF8.self)
              + "'. Try XGROUP HELP.")
    }

    /// ENTRIESREAD's value: nil once the error is replied.
    private func entriesRead(_ i: Int, _ out: OutputBuffer) -> Int64? {
        guard let n = integerArgument(i) else { _ = notAnInteger(out); return nil }
        if n < 0 && n != -1 {
            _ = error(out, "ERR value for ENTRIESREAD must be positive or -1")
            return nil
        }
        return Int64(n)
    }

    /// XGROUP's subcommands (HELP is the container's).
    func streamGroup(_ out: OutputBuffer) -> HandlerAction {
        let create = argument(1, is: "create"), setid = argument(1, is: "setid")
        var makeStream = false
        var entries: Int64 = -1
        guard argumentCount >= 4 else { return xgroupSyntaxError(out) }
        // redis 7.0.15 reads CREATE's and SETID's options first, whatever their count: a bad
        // ENTRIESREAD value answers its own error before an extra word, a missing key or group,
        // or SETID's argument count (checked only when it runs: 5 or 7 arguments).
        var i = 5
        while i < argumentCount {
            if create && argument(i, is: "mkstream") {
                makeStream = true
                i += 1
            } else if (create || setid) && argument(i, is: "entriesread") && i + 1 < argumentCount {
                guard let e = entriesRead(i + 1, out) else { return .proceed }
                entries = e
                i += 2
            } else {
                return xgroupSyntaxError(out)
            }
        }
        let key = argument(2), group = argument(3)
        var stream: StreamLog?
        switch streamLookup(key) {
        case .stream(let s, _): stream = s
        case .wrongType: return error(out, Self.wrongType)
        default: break
        }
        if stream == nil && !(create && makeStream) {
            return error(out, "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.")
        }
        if !create && !argument(1, is: "destroy"), let s = stream, !s.hasGroup(group) {
            return error(out, "NOGROUP No such consumer group '" + String(decoding: group, as: UTF8.self) + "' for key name '"
                         + String(decoding: key, as: UTF8.self) + "'")
        }
        if create && argumentCount >= 5 && argumentCount <= 8 {
            let idArg = argument(4)
            var id: StreamID?
            if !(idArg.count == 1 && idArg[0] == UInt8(ascii: "$")) {
                guard let p = StreamID.parse(idArg, missingSeq: 0, strict: true) else { return error(out, Self.invalidStreamID) }
                id = p.id
            }
            if stream == nil {
                switch streamForWrite(key) {
                case .stream(let s, let made):
                    stream = s
                    if made { notify(KeyspaceEvents.new, "new", key) }
                case .wrongType: return error(out, Self.wrongType)
                default: return error(out, Self.outOfMemory)
                }
            }
            guard stream!.createGroup(group, id: id, entriesRead: entries) == .created else {
                return error(out, "BUSYGROUP Consumer Group name already exists")
            }
            out.appendRESPOK()
            notify(KeyspaceEvents.stream, "xgroup-create", key)
        } else if setid && (argumentCount == 5 || argumentCount == 7) {
            let idArg = argument(4)
            var id: StreamID?
            if !(idArg.count == 1 && idArg[0] == UInt8(ascii: "$")) {
                guard let p = StreamID.parse(idArg, missingSeq: 0, strict: false) else { return error(out, Self.invalidStreamID) }
                id = p.id
            }
            _ = stream!.setGroupID(group, id: id, entriesRead: entries)
            out.appendRESPOK()
            notify(KeyspaceEvents.stream, "xgroup-setid", key)
        } else if argument(1, is: "destroy") && argumentCount == 4 {
            if stream!.destroyGroup(group) {
                out.appendRESPInteger(1)
                notify(KeyspaceEvents.stream, "xgroup-destroy", key)
                // Readers blocked on the group read again (and find it gone).
                wakeStreamReaders(key)
            } else {
                out.appendRESPInteger(0)
            }
        } else if argument(1, is: "createconsumer") && argumentCount == 5 {
            let made = stream!.createConsumer(group: group, argument(4), now: engine.clock.milliseconds) ?? false
            if made { notify(KeyspaceEvents.stream, "xgroup-createconsumer", key) }
            out.appendRESPInteger(made ? 1 : 0)
        } else if argument(1, is: "delconsumer") && argumentCount == 5 {
            let pending = stream!.deleteConsumer(group: group, argument(4)) ?? -1
            if pending >= 0 { notify(KeyspaceEvents.stream, "xgroup-delconsumer", key) }
            out.appendRESPInteger(Int64(max(pending, 0)))
        } else {
            return xgroupSyntaxError(out)
        }
        return .proceed
    }

    /// XACK key group id [id ...]: 0 for no key or group, before the IDs are read.
    func streamAck(_ out: OutputBuffer) -> HandlerAction {
        let stream: StreamLog
        switch streamLookup(argument(1)) {
        case .stream(let s, _): stream = s
        case .wrongType: return error(out, Self.wrongType)
        default:
            out.appendRESPInteger(0)
            return .proceed
        }
        guard stream.hasGroup(argument(2)) else {
            out.appendRESPInteger(0)
            return .proceed
        }
        var ids: [StreamID] = []
        ids.reserveCapacity(argumentCount - 3)
        for i in 3..<argumentCount {
            guard let p = StreamID.parse(argument(i), missingSeq: 0, strict: true) else { return error(out, Self.invalidStreamID) }
            ids.append(p.id)
        }
        out.appendRESPInteger(Int64(stream.acknowledge(group: argument(2), ids) ?? 0))
        return .proceed
    }

    /// XPENDING key group [[IDLE min-idle-time] start end count [consumer]].
    func streamPending(_ out: OutputBuffer) -> HandlerAction {
        let summary = argumentCount == 3
        if argumentCount != 3 && (argumentCount < 6 || argumentCount > 9) { return syntaxError(out) }
        var start = StreamID.zero, end = StreamID.max
        var count = 0
        var minIdle: Int64 = 0
        var consumerAt: Int?
        if argumentCount >= 6 {
            var at = 3
            if argument(3, is: "idle") {
                guard let m = integerArgument(4) else { return notAnInteger(out) }
                minIdle = Int64(m)
                if argumentCount < 8 { return syntaxError(out) }
                at += 2
            }
            guard let c = integerArgument(at + 2) else { return notAnInteger(out) }
            count = max(c, 0)
            guard let s = streamIntervalID(at, missingSeq: 0) else { return error(out, Self.invalidStreamID) }
            start = s.id
            if s.exclusive {
                guard let next = start.incremented else { return error(out, "ERR invalid start ID for the interval") }
                start = next
            }
            guard let e = streamIntervalID(at + 1, missingSeq: .max) else { return error(out, Self.invalidStreamID) }
            end = e.id
            if e.exclusive {
                guard let previous = end.decremented else { return error(out, "ERR invalid end ID for the interval") }
                end = previous
            }
            if at + 3 < argumentCount { consumerAt = at + 3 }
        }
        let key = argument(1), group = argument(2)
        let noGroup = Self.noGroupError(key, group)
        guard let stream = groupStream(key, noGroup, out) else { return .proceed }
        if summary {
            guard let s = stream.pendingSummary(group) else { return error(out, noGroup) }
            out.appendRESPArrayHeader(4)
            out.appendRESPInteger(Int64(s.count))
            guard let first = s.first, let last = s.last else {
                out.appendRESPNull(version)
                out.appendRESPNull(version)
                out.appendRESPNullArray(version)
                return .proceed
            }
            appendStreamID(first, out)
            appendStreamID(last, out)
            out.appendRESPArrayHeader(s.consumers.count)
            for (name, n) in s.consumers {
                out.appendRESPArrayHeader(2)
                name.withUnsafeBytes { out.appendRESPBulk($0) }
                out.appendRESPBulk(decimal: Int64(n))
            }
            return .proceed
        }
        let now = engine.clock.milliseconds
        let consumer = consumerAt.map { argument($0) }
        guard let rows = stream.pendingRange(group, start: start, end: end, count: count, minIdle: minIdle, consumer: consumer, now: now) else {
            return error(out, noGroup)
        }
        out.appendRESPArrayHeader(rows.count)
        for (id, p) in rows {
            out.appendRESPArrayHeader(4)
            appendStreamID(id, out)
            p.consumer.withUnsafeBytes { out.appendRESPBulk($0) }
            out.appendRESPInteger(now >= p.deliveryTime ? Int64(now - p.deliveryTime) : 0)
            out.appendRESPInteger(Int64(bitPattern: p.deliveryCount))  // redis's addReplyLongLong of a uint64
        }
        return .proceed
    }

    /// XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME ms] [RETRYCOUNT n]
    /// [FORCE] [JUSTID] [LASTID id].
    func streamClaim(_ out: OutputBuffer) -> HandlerAction {
        let key = argument(1), group = argument(2)
        let noGroup = Self.noGroupError(key, group)
        guard let stream = groupStream(key, noGroup, out) else { return .proceed }
        guard stream.hasGroup(group) else { return error(out, noGroup) }
        guard let m = integerArgument(4) else { return error(out, "ERR Invalid min-idle-time argument for XCLAIM") }
        let now = engine.clock.milliseconds
        var o = StreamLog.ClaimOptions(deliveryTime: now)
        o.minIdle = Int64(max(m, 0))
        var ids: [StreamID] = []
        var j = 5
        while j < argumentCount, let p = StreamID.parse(argument(j), missingSeq: 0, strict: true) {
            ids.append(p.id)
            j += 1
        }
        var delivery: Int64 = -1
        if let ended = readClaimOptions(from: j, Self.xclaimOptions, unrecognized: { j in
            error(out, "ERR Unrecognized XCLAIM option '" + String(decoding: argument(j).prefix { $0 != 0 }, as: UTF8.self) + "'")
        }, { option, j in
            switch option {
            case .force: o.force = true
            case .justID: o.justID = true
            case .idle:
                guard let v = integerArgument(j) else { return error(out, "ERR Invalid IDLE option argument for XCLAIM") }
                delivery = Int64(bitPattern: now) &- Int64(v)
            case .time:
                guard let v = integerArgument(j) else { return error(out, "ERR Invalid TIME option argument for XCLAIM") }
                delivery = Int64(v)
            case .retryCount:
                guard let v = integerArgument(j) else { return error(out, "ERR Invalid RETRYCOUNT option argument for XCLAIM") }
                o.retryCount = Int64(v)
            case .lastID:
                guard let p = StreamID.parse(argument(j), missingSeq: 0, strict: true) else { return error(out, Self.invalidStreamID) }
                o.lastID = p.id
            case .count: break  // not XCLAIM's
            }
            return nil
        }) { return ended }
        // A bogus delivery time (negative, or in the future) is now, as redis takes it.
        if delivery >= 0 && UInt64(delivery) <= now { o.deliveryTime = UInt64(delivery) }
        // The claimed entries go straight into the reply (their IDs alone with JUSTID), the
        // count after them; taken back if the group went meanwhile.
        let mark = out.mark()
        let header = beginStreamCount(out)
        var n = 0
        let justID = o.justID
        let created = stream.claim(group: group, consumer: argument(3), ids: ids, o, now: now) { id, fields in
            if justID { appendStreamID(id, out) } else { appendStreamEntry(id, fields, out) }
            n += 1
        }
        guard let created else {
            out.rollback(to: mark)
            return error(out, noGroup)
        }
        endStreamCount(header, UInt8(ascii: "*"), n, out)
        if created { notify(KeyspaceEvents.stream, "xgroup-createconsumer", key) }
        return .proceed
    }

    /// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]:
    /// [cursor, claimed, deleted IDs].
    func streamAutoClaim(_ out: OutputBuffer) -> HandlerAction {
        guard let m = integerArgument(4) else { return error(out, "ERR Invalid min-idle-time argument for XAUTOCLAIM") }
        guard let s = streamIntervalID(5, missingSeq: 0) else { return error(out, Self.invalidStreamID) }
        var start = s.id
        if s.exclusive {
            guard let next = start.incremented else { return error(out, "ERR invalid start ID for the interval") }
            start = next
        }
        var count = 100
        var justID = false
        if let ended = readClaimOptions(from: 6, Self.xautoclaimOptions, unrecognized: { _ in syntaxError(out) }, { option, j in
            if option == .justID {
                justID = true
            } else {
                // getRangeLongFromObjectOrReply(1, LONG_MAX / 16).
                guard let n = integerArgument(j), n >= 1, n <= Int.max / 16 else { return error(out, "ERR COUNT must be > 0") }
                count = n
            }
            return nil
        }) { return ended }
        let key = argument(1), group = argument(2)
        let noGroup = Self.noGroupError(key, group)
        guard let stream = groupStream(key, noGroup, out) else { return .proceed }
        // [cursor, claimed, deleted]: the cursor and the claimed entries' count are known once
        // the entries are written (straight into the reply), so both go into one deferred room.
        let mark = out.mark()
        out.appendRESPArrayHeader(3)
        let head = out.beginDeferred(room: Self.autoClaimHeadRoom)
        var n = 0
        guard let result = stream.autoClaim(group: group, consumer: argument(3), minIdle: Int64(max(m, 0)), start: start, count: count,
                                            justID: justID, now: engine.clock.milliseconds, { id, fields in
            if let fields { appendStreamEntry(id, fields, out) } else { appendStreamID(id, out) }
            n += 1
        }) else {
            out.rollback(to: mark)
            return error(out, noGroup)
        }
        out.endDeferred(head, room: Self.autoClaimHeadRoom) { p in
            let at = Self.writeStreamIDBulk(result.next, p)
            return at + StreamEntryFields.writeCountLine(UInt8(ascii: "*"), n, p + at)
        }
        if result.created { notify(KeyspaceEvents.stream, "xgroup-createconsumer", key) }
        out.appendRESPArrayHeader(result.deleted.count)
        for id in result.deleted { appendStreamID(id, out) }
        return .proceed
    }

    /// XAUTOCLAIM's cursor (an ID's bulk string) and claimed count, written after the entries.
    static let autoClaimHeadRoom = streamIDBulkRoom + StreamEntryFields.countLineRoom

    /// A word XCLAIM or XAUTOCLAIM reads after its IDs or start: a flag, or a word and its value.
    enum ClaimOption {
        case force, justID, idle, time, retryCount, lastID, count

        var word: StaticString {
            switch self {
            case .force: "force"
            case .justID: "justid"
            case .idle: "idle"
            case .time: "time"
            case .retryCount: "retrycount"
            case .lastID: "lastid"
            case .count: "count"
            }
        }

        var takesValue: Bool { self != .force && self != .justID }
    }

    static let xclaimOptions: [ClaimOption] = [.force, .justID, .idle, .time, .retryCount, .lastID]
    static let xautoclaimOptions: [ClaimOption] = [.count, .justID]

    /// Reads the options from argument `start` on as xclaimCommand and xautoclaimCommand both read
    /// theirs: a word of `accepted` that is a flag, or that takes a value and has one after it,
    /// goes to `apply` with the index of its value (of the word, for a flag); any other word ends
    /// the command with `unrecognized`'s reply, and a reply `apply` returns ends it too. Nil when
    /// every option was read.
    private func readClaimOptions(from start: Int, _ accepted: [ClaimOption], unrecognized: (Int) -> HandlerAction,
                                  _ apply: (ClaimOption, Int) -> HandlerAction?) -> HandlerAction? {
        var j = start
        while j < argumentCount {
            let hasValue = j + 1 < argumentCount
            guard let option = accepted.first(where: { argument(j, is: $0.word) && (!$0.takesValue || hasValue) }) else {
                return unrecognized(j)
            }
            if option.takesValue { j += 1 }
            if let ended = apply(option, j) { return ended }
            j += 1
        }
        return nil
    }
}

extension RESPConnection {
    static let streamInfoCommands: [RESPCommand] = [
        RESPCommand("xinfo", arity: -2, subcommands: ["consumers", "groups", "stream", "help"]) { c, out in c.containerHelp(out) ?? c.streamInfo(out) },
    ]

    /// XINFO GROUPS key / XINFO CONSUMERS key group / XINFO STREAM key [FULL [COUNT n]]
    /// (RESPConnection+StreamInfo.swift).
    func streamInfo(_ out: OutputBuffer) -> HandlerAction {
        let groups = argument(1, is: "groups")
        let key = argument(2)
        let stream: StreamLog
        switch streamLookup(key) {
        case .stream(let s, _): stream = s
        case .wrongType: return error(out, Self.wrongType)
        default: return error(out, "ERR no such key")
        }
        if argument(1, is: "stream") { return streamInfoStream(stream, out) }
        if groups {
            let all = stream.groupsInfo()
            out.appendRESPArrayHeader(all.count)
            for g in all {
                out.appendRESPMapHeader(6, version)
                out.appendRESPBulk("name")
                g.name.withUnsafeBytes { out.appendRESPBulk($0) }
                out.appendRESPBulk("consumers")
                out.appendRESPInteger(Int64(g.consumers))
                out.appendRESPBulk("pending")
                out.appendRESPInteger(Int64(g.pending))
                out.appendRESPBulk("last-delivered-id")
                appendStreamID(g.lastDelivered, out)
                out.appendRESPBulk("entries-read")
                if let e = g.entriesRead { out.appendRESPInteger(e) } else { out.appendRESPNull(version) }
                out.appendRESPBulk("lag")
                if let l = g.lag { out.appendRESPInteger(l) } else { out.appendRESPNull(version) }
            }
            return .proceed
        }
        let group = argument(3)
        guard let all = stream.consumersInfo(group) else {
            return error(out, "NOGROUP No such consumer group '" + String(decoding: group, as: UTF8.self) + "' for key name '"
                         + String(decoding: key, as: UTF8.self) + "'")
        }
        let now = engine.clock.milliseconds
        out.appendRESPArrayHeader(all.count)
        for c in all {
            out.appendRESPMapHeader(3, version)
            out.appendRESPBulk("name")
            c.name.withUnsafeBytes { out.appendRESPBulk($0) }
            out.appendRESPBulk("pending")
            out.appendRESPInteger(Int64(c.pending))
            out.appendRESPBulk("idle")
            out.appendRESPInteger(now >= c.seenTime ? Int64(now - c.seenTime) : 0)
        }
        return .proceed
    }

    /// Redis's NOGROUP error for `key` and `group` (`suffix` as XREADGROUP adds it).
    static func noGroupError(_ key: UnsafeRawBufferPointer, _ group: UnsafeRawBufferPointer, suffix: String = "") -> String {
        "NOGROUP No such key '" + String(decoding: key, as: UTF8.self) + "' or consumer group '"
            + String(decoding: group, as: UTF8.self) + "'" + suffix
    }

    /// The stream under `key` for a group command (XPENDING, XCLAIM, XAUTOCLAIM), or nil with the
    /// error written: WRONGTYPE for another type, `noGroup` for no key.
    func groupStream(_ key: UnsafeRawBufferPointer, _ noGroup: String, _ out: OutputBuffer) -> StreamLog? {
        switch streamLookup(key) {
        case .stream(let s, _): return s
        case .wrongType: _ = error(out, Self.wrongType)
        default: _ = error(out, noGroup)
        }
        return nil
    }
}
