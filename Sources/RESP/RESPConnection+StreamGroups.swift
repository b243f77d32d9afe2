// Redis stream consumer groups: XGROUP CREATE|SETID|DESTROY|CREATECONSUMER|DELCONSUMER|HELP,
// XACK, XPENDING (summary and extended, IDLE, consumer) in redis 7.0.15's argument order and
// words (t_stream.c's xgroupCommand, xackCommand, xpendingCommand); XREADGROUP is XREAD's
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
        if create {
            var i = 5
            while i < argumentCount {
                if argument(i, is: "mkstream") {
                    makeStream = true
                    i += 1
                } else if argument(i, is: "entriesread") && i + 1 < argumentCount {
                    guard let e = entriesRead(i + 1, out) else { return .proceed }
                    entries = e
                    i += 2
                } else {
                    return xgroupSyntaxError(out)
                }
            }
        } else if setid {
            if argumentCount == 7 {
                guard argument(5, is: "entriesread") else { return xgroupSyntaxError(out) }
                guard let e = entriesRead(6, out) else { return .proceed }
                entries = e
            } else if argumentCount != 5 {
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
        let noGroup = "NOGROUP No such key '" + String(decoding: key, as: UTF8.self) + "' or consumer group '"
            + String(decoding: group, as: UTF8.self) + "'"
        let stream: StreamLog
        switch streamLookup(key) {
        case .stream(let s, _): stream = s
        case .wrongType: return error(out, Self.wrongType)
        default: return error(out, noGroup)
        }
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
            out.appendRESPInteger(Int64(p.deliveryCount))
        }
        return .proceed
    }
}
