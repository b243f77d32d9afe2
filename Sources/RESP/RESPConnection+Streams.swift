// Redis streams (XADD XLEN XRANGE XREVRANGE XDEL XTRIM XSETID; XREAD in +StreamReads.swift) on
// the broker's log: a stream key is a root item of type `.stream` (so TYPE, DEL, EXISTS, EXPIRE,
// RENAME, COPY, SCAN TYPE, FLUSHDB and WRONGTYPE are the keyspace's own rules) holding a
// `StreamLog` (Broker/Log/Streams) whose records are the entries. Arguments are read in redis
// 7.0.15's order with its words (t_stream.c): streamParseAddOrTrimArgsOrReply for XADD and XTRIM,
// stream IDs as streamGenericParseIDOrReply (`StreamID.parse`), exclusive `(` range ends as
// streamParseIntervalIDOrReply. A range writes each entry straight from where the scan found it
// (a stream batch's compact record: `appendStreamEntry`) into the reply, after a count written
// once the scan is over (OutputBuffer's deferred line). Events: new, xadd, xtrim, xdel, xsetid
// (class t).
import Broker
import CacheEngine
import Platform

extension RESPConnection {
    static let streamCommands: [RESPCommand] = [
        RESPCommand("xadd", arity: -5, keys: (1, 1, 1), flags: [.write, .denyoom, .fast]) { c, out in c.streamAdd(out) },
        RESPCommand("xlen", arity: 2, keys: (1, 1, 1), flags: [.readonly, .fast]) { c, out in c.streamLength(out) },
        RESPCommand("xrange", arity: -4, keys: (1, 1, 1), flags: [.readonly]) { c, out in c.streamRange(reverse: false, out) },
        RESPCommand("xrevrange", arity: -4, keys: (1, 1, 1), flags: [.readonly]) { c, out in c.streamRange(reverse: true, out) },
        RESPCommand("xdel", arity: -3, keys: (1, 1, 1), flags: [.write, .fast]) { c, out in c.streamDelete(out) },
        RESPCommand("xtrim", arity: -4, keys: (1, 1, 1), flags: [.write]) { c, out in c.streamTrim(out) },
        RESPCommand("xsetid", arity: -3, keys: (1, 1, 1), flags: [.write, .denyoom, .fast]) { c, out in c.streamSetID(out) },
        RESPCommand("xread", arity: -4, flags: [.readonly, .blocking, .movableKeys]) { c, out in c.streamRead(group: false, out) },
    ]

    static let invalidStreamID: StaticString = "ERR Invalid stream ID specified as stream command argument"

    // MARK: finding a stream

    enum StreamFound {
        case stream(StreamLog, created: Bool)
        case none
        case wrongType
        case outOfMemory
        case tooLarge
    }

    /// The stream under `key` in this connection's database (a reference of the caller's). In
    /// database 0 a missing key that names a one-partition topic of the broker becomes a stream
    /// of that topic (StreamLog+Adopted.swift), linked under the key.
    func streamLookup(_ key: UnsafeRawBufferPointer, database db: Int? = nil) -> StreamFound {
        let d = db ?? database
        for _ in 0..<2 {
            switch engine.withExternalValue(key, hash: CacheEngine.hash(key), database: d, type: .stream, {
                StreamStore.stream(token: $0)
            }) {
            case .found(let s): return .stream(s, created: false)
            case .wrongType: return .wrongType
            case .none: break
            }
            guard d == 0, let s = service.streams.adoptTopic(named: key) else { return .none }
            let token = service.streams.token(for: s)
            switch engine.createExternal(key, hash: CacheEngine.hash(key), database: 0, type: .stream, token: token) {
            case .created: return .stream(s, created: false)
            // Made by another client meanwhile: look again.
            case .exists: service.streams.releaseToken(token)
            case .tooLarge, .outOfMemory:
                service.streams.releaseToken(token)
                return .none
            }
        }
        return .none
    }

    /// The stream under `key`, made (an empty stream linked under the key) when there is none.
    func streamForWrite(_ key: UnsafeRawBufferPointer) -> StreamFound {
        while true {
            let found = streamLookup(key)
            guard case .none = found else { return found }
            let s = service.streams.makeStream(name: String(decoding: key, as: UTF8.self))
            let token = service.streams.token(for: s)
            switch engine.createExternal(key, hash: CacheEngine.hash(key), database: database, type: .stream, token: token) {
            case .created:
                // Database 0's streams are also the broker's topics (when it runs).
                if database == 0 { service.streams.publishAsTopic(s) }
                return .stream(s, created: true)
            // Made by another client meanwhile: use that one.
            case .exists: service.streams.releaseToken(token)
            case .tooLarge:
                service.streams.releaseToken(token)
                return .tooLarge
            case .outOfMemory:
                service.streams.releaseToken(token)
                return .outOfMemory
            }
        }
    }

    // MARK: replies

    /// One entry: `[id, [field, value, ...]]`, the same in RESP2 and RESP3, written in place in
    /// one piece: `*2`, the ID as a `<ms>-<seq>` bulk string, and the fields as a RESP array
    /// written from the batch (StreamEntryFields.writeRESP). No record composed, no allocation.
    @inline(__always)
    func appendStreamEntry(_ id: StreamID, _ fields: StreamEntryFields, _ out: OutputBuffer) {
        out.append(upTo: Self.streamEntryRoom(fields)) { p in Self.writeStreamEntry(id, fields, p) }
    }

    /// Room for `writeStreamEntry`: `*2\r\n`, the ID's bulk string, the fields.
    @inline(__always)
    static func streamEntryRoom(_ fields: StreamEntryFields) -> Int {
        4 + streamIDBulkRoom + fields.maxRESPLength
    }

    /// Writes an entry (`appendStreamEntry`'s bytes) at `p`; returns its length.
    @inline(__always)
    static func writeStreamEntry(_ id: StreamID, _ fields: StreamEntryFields, _ p: UnsafeMutableRawPointer) -> Int {
        p.storeBytes(of: 0x0a0d_322a as UInt32, as: UInt32.self)
        let at = 4 + writeStreamIDBulk(id, p + 4)
        return at + fields.writeRESP(p + at)
    }

    /// The exact length of `writeStreamEntry`'s bytes (a reverse range places each entry by it).
    @inline(__always)
    static func streamEntryLength(_ id: StreamID, _ fields: StreamEntryFields) -> Int {
        let n = decimalDigits(id.ms) + 1 + decimalDigits(id.seq)
        return 4 + (n < 10 ? 4 : 5) + n + 2 + fields.respLength
    }

    /// Room for a stream ID as a bulk string: `$<2 digits>\r\n`, the ID (41 bytes at most), CRLF.
    static let streamIDBulkRoom = 5 + 41 + 2

    /// Writes `id` as a bulk string at `p` (room for `streamIDBulkRoom` bytes); returns its
    /// length. The ID's digits are counted once, for the length line and the text.
    @inline(__always)
    static func writeStreamIDBulk(_ id: StreamID, _ p: UnsafeMutableRawPointer) -> Int {
        let msDigits = decimalDigits(id.ms), seqDigits = decimalDigits(id.seq)
        // The ID's text is 3 to 41 bytes: its length has one digit or two.
        var at = StreamEntryFields.writeCountLine(UInt8(ascii: "$"), msDigits + 1 + seqDigits, p)
        at += id.format(into: p + at, msDigits: msDigits, seqDigits: seqDigits)
        p.storeBytes(of: 0x0a0d as UInt16, toByteOffset: at, as: UInt16.self)
        return at + 2
    }

    /// A count line written once what it counts is: `beginStreamCount`'s handle, then
    /// `endStreamCount` with the marker (`*`, `%`) and the count.
    @inline(__always)
    func beginStreamCount(_ out: OutputBuffer) -> Int {
        out.beginDeferred(room: StreamEntryFields.countLineRoom)
    }

    @inline(__always)
    func endStreamCount(_ handle: Int, _ marker: UInt8, _ count: Int, _ out: OutputBuffer) {
        out.endDeferred(handle, room: StreamEntryFields.countLineRoom) { p in
            StreamEntryFields.writeCountLine(marker, count, p)
        }
    }

    /// A stream ID as a bulk string, written in place.
    func appendStreamID(_ id: StreamID, _ out: OutputBuffer) {
        out.append(upTo: Self.streamIDBulkRoom) { p in Self.writeStreamIDBulk(id, p) }
    }

    // MARK: XADD / XTRIM arguments

    struct StreamAddTrimArguments {
        var idIndex = 0
        var requested: StreamID? = nil
        var seqGiven = true
        var noMakeStream = false
        var strategy: StreamLog.TrimStrategy? = nil
        var approximate = false
        var limit = 0
    }

    /// streamParseAddOrTrimArgsOrReply: the options from argument 2 on (XADD: up to its ID).
    /// Nil once the error is replied.
    func streamAddTrimArguments(xadd: Bool, _ out: OutputBuffer) -> StreamAddTrimArguments? {
        var a = StreamAddTrimArguments()
        var limitGiven = false
        var i = 2
        while i < argumentCount {
            let more = argumentCount - 1 - i
            let opt = argument(i)
            if xadd && opt.count == 1 && opt[0] == UInt8(ascii: "*") {
                break
            } else if (argument(i, is: "maxlen") || argument(i, is: "minid")) && more > 0 {
                let maxlen = argument(i, is: "maxlen")
                if a.strategy != nil {
                    _ = error(out, "ERR syntax error, MAXLEN and MINID options at the same time are not compatible")
                    return nil
                }
                a.approximate = false
                let next = argument(i + 1)
                if more >= 2 && next.count == 1 && next[0] == UInt8(ascii: "~") {
                    a.approximate = true
                    i += 1
                } else if more >= 2 && next.count == 1 && next[0] == UInt8(ascii: "=") {
                    i += 1
                }
                if maxlen {
                    guard let n = integerArgument(i + 1) else { _ = notAnInteger(out); return nil }
                    if n < 0 {
                        _ = error(out, "ERR The MAXLEN argument must be >= 0.")
                        return nil
                    }
                    a.strategy = .maxLength(n)
                } else {
                    guard let p = StreamID.parse(argument(i + 1), missingSeq: 0, strict: true) else {
                        _ = error(out, Self.invalidStreamID)
                        return nil
                    }
                    a.strategy = .minID(p.id)
                }
                i += 1
            } else if argument(i, is: "limit") && more > 0 {
                guard let n = integerArgument(i + 1) else { _ = notAnInteger(out); return nil }
                if n < 0 {
                    _ = error(out, "ERR The LIMIT argument must be >= 0.")
                    return nil
                }
                a.limit = n
                limitGiven = true
                i += 1
            } else if xadd && argument(i, is: "nomkstream") {
                a.noMakeStream = true
            } else if xadd {
                guard let p = StreamID.parse(opt, missingSeq: 0, strict: true, autoSequence: true) else {
                    _ = error(out, Self.invalidStreamID)
                    return nil
                }
                a.requested = p.id
                a.seqGiven = p.seqGiven
                break
            } else {
                // XTRIM: a word that is no option (XADD's ID ends the loop above).
                _ = syntaxError(out)
                return nil
            }
            i += 1
        }
        a.idIndex = i
        if a.limit != 0 && a.strategy == nil {
            _ = error(out, "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy")
            return nil
        }
        if !xadd && a.strategy == nil {
            _ = error(out, "ERR syntax error, XTRIM must be called with a trimming strategy")
            return nil
        }
        if limitGiven {
            if !a.approximate {
                _ = error(out, "ERR syntax error, LIMIT cannot be used without the special ~ option")
                return nil
            }
        } else if a.approximate {
            // 100 × stream-node-max-entries, redis's default work bound for `~`.
            a.limit = 100 * StreamLog.nodeEntries
        } else {
            a.limit = 0
        }
        return a
    }

    // MARK: commands

    /// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value ...
    func streamAdd(_ out: OutputBuffer) -> HandlerAction {
        guard let a = streamAddTrimArguments(xadd: true, out) else { return .proceed }
        let fieldsAt = a.idIndex + 1
        let n = argumentCount - fieldsAt
        if n < 2 || n % 2 == 1 { return error(out, "ERR wrong number of arguments for 'xadd' command") }
        if let id = a.requested, a.seqGiven, id == .zero {
            return error(out, "ERR The ID specified in XADD must be greater than 0-0")
        }
        let key = argument(1)
        var stream: StreamLog
        var created = false
        var r: StreamLog.AppendResult
        // The command's time (one clock read per read of requests), for the ID and the record.
        let nowMs = commandMilliseconds()
        // Twice at most: an entry the engine had no memory chunk for has a page of another slab
        // class moved to the chunk's (SlabRebalancer+Forced.swift), no lock held here, then the
        // key is looked up again (the move may have evicted it, as redis's eviction before a
        // command may) and the entry appended once more, a refusal then being -OOM.
        var attempt = 0
        while true {
            attempt += 1
            if a.noMakeStream {
                switch streamLookup(key) {
                case .stream(let s, _): stream = s
                case .wrongType: return error(out, Self.wrongType)
                default:
                    out.appendRESPNull(version)
                    return .proceed
                }
            } else {
                switch streamForWrite(key) {
                case .stream(let s, let made):
                    stream = s
                    if made && !created { notify(KeyspaceEvents.new, "new", key) }
                    created = created || made
                case .wrongType: return error(out, Self.wrongType)
                case .tooLarge: return error(out, "ERR Elements are too large to be stored")
                case .outOfMemory, .none: return error(out, Self.outOfMemory)
                }
            }
            r = stream.append(requested: a.requested, seqGiven: a.seqGiven, nowMs: nowMs, fieldCount: n,
                              reportingNoChunk: attempt == 1) { argument(fieldsAt + $0) }
            guard case .noChunk(let bytes) = r else { break }
            _ = service.streams.makeRoom(for: bytes)
        }
        let added: StreamID
        switch r {
        case .added(let id):
            appendStreamID(id, out)
            added = id
        case .idTooSmall: return error(out, "ERR The ID specified in XADD is equal or smaller than the target stream top item")
        case .exhausted: return error(out, "ERR The stream has exhausted the last possible ID, unable to add more items")
        case .tooLarge: return error(out, "ERR Elements are too large to be stored")
        case .outOfMemory, .noChunk: return error(out, Self.outOfMemory)
        }
        notify(KeyspaceEvents.stream, "xadd", key)
        if let strategy = a.strategy, stream.trim(strategy, approximate: a.approximate, limit: a.limit) > 0 {
            notify(KeyspaceEvents.stream, "xtrim", key)
        }
        // After the trim too: a WATCH that read the new unique must see the whole XADD.
        signalStreamModified(key)
        wakeStreamReaders(key, top: added)
        return .proceed
    }

    /// redis's signalModifiedKey after XADD, and XDEL or XTRIM that removed entries (not XSETID
    /// nor the group commands: redis 7.0.15 aborts a WATCH for none of those): the entries live in
    /// the broker's log, not in the key's root item, so the root gets a new CAS unique for WATCH
    /// to see, while any connection watches a key (RESPService.watchingClients).
    func signalStreamModified(_ key: UnsafeRawBufferPointer) {
        guard service.watchingClients.load(ordering: .sequentiallyConsistent) > 0 else { return }
        engine.renewCAS(key, hash: CacheEngine.hash(key), database: database, type: .stream)
    }

    /// XLEN key.
    func streamLength(_ out: OutputBuffer) -> HandlerAction {
        switch streamLookup(argument(1)) {
        case .stream(let s, _): out.appendRESPInteger(Int64(s.figures.length))
        case .wrongType: return error(out, Self.wrongType)
        default: out.appendRESPInteger(0)
        }
        return .proceed
    }

    /// streamParseIntervalIDOrReply: `(` makes an end exclusive (a strict ID after it).
    func streamIntervalID(_ i: Int, missingSeq: UInt64) -> (id: StreamID, exclusive: Bool)? {
        let a = argument(i)
        if a.count > 1 && a[0] == UInt8(ascii: "(") {
            guard let p = StreamID.parse(UnsafeRawBufferPointer(rebasing: a[1...]), missingSeq: missingSeq, strict: true) else { return nil }
            return (p.id, true)
        }
        guard let p = StreamID.parse(a, missingSeq: missingSeq, strict: false) else { return nil }
        return (p.id, false)
    }

    /// XRANGE key start end [COUNT n] / XREVRANGE key end start [COUNT n].
    func streamRange(reverse: Bool, _ out: OutputBuffer) -> HandlerAction {
        guard let s = streamIntervalID(reverse ? 3 : 2, missingSeq: 0) else { return error(out, Self.invalidStreamID) }
        var start = s.id
        if s.exclusive {
            guard let next = start.incremented else { return error(out, "ERR invalid start ID for the interval") }
            start = next
        }
        guard let e = streamIntervalID(reverse ? 2 : 3, missingSeq: .max) else { return error(out, Self.invalidStreamID) }
        var end = e.id
        if e.exclusive {
            guard let previous = end.decremented else { return error(out, "ERR invalid end ID for the interval") }
            end = previous
        }
        var count = -1
        var j = 4
        while j < argumentCount {
            if argument(j, is: "count") && argumentCount - j - 1 >= 1 {
                guard let n = integerArgument(j + 1) else { return notAnInteger(out) }
                count = max(n, 0)
                j += 1
            } else {
                return syntaxError(out)
            }
            j += 1
        }
        let stream: StreamLog
        switch streamLookup(argument(1)) {
        case .stream(let st, _): stream = st
        case .wrongType: return error(out, Self.wrongType)
        default:
            out.appendRESPArrayHeader(0)
            return .proceed
        }
        if count == 0 {
            out.appendRESPNullArray(version)
            return .proceed
        }
        // The entries go straight into the reply as the scan finds them, their count after.
        let header = beginStreamCount(out)
        var n = 0
        if reverse {
            // Each node's wanted entries are measured, then written from their batches into room
            // of that length, newest first (StreamLog.reverseRange): no copy.
            n = stream.reverseRange(start: start, end: end, count: max(count, 0), length: { e in
                Self.streamEntryLength(e.id, e.fields)
            }, place: { total, fill in
                out.append(upTo: total, fill)
            }, write: { e, p in
                Self.writeStreamEntry(e.id, e.fields, p)
            })
        } else {
            stream.range(start: start, end: end, count: max(count, 0)) { e in
                self.appendStreamEntry(e.id, e.fields, out)
                n += 1
            }
        }
        endStreamCount(header, UInt8(ascii: "*"), n, out)
        return .proceed
    }

    /// XDEL key id [id ...]: a missing key answers 0 before the IDs are read, as redis does.
    func streamDelete(_ out: OutputBuffer) -> HandlerAction {
        let key = argument(1)
        let stream: StreamLog
        switch streamLookup(key) {
        case .stream(let s, _): stream = s
        case .wrongType: return error(out, Self.wrongType)
        default:
            out.appendRESPInteger(0)
            return .proceed
        }
        var ids: [StreamID] = []
        ids.reserveCapacity(argumentCount - 2)
        for i in 2..<argumentCount {
            guard let p = StreamID.parse(argument(i), missingSeq: 0, strict: true) else { return error(out, Self.invalidStreamID) }
            ids.append(p.id)
        }
        let n = stream.delete(ids)
        if n > 0 {
            notify(KeyspaceEvents.stream, "xdel", key)
            signalStreamModified(key)
        }
        out.appendRESPInteger(Int64(n))
        return .proceed
    }

    /// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count].
    func streamTrim(_ out: OutputBuffer) -> HandlerAction {
        guard let a = streamAddTrimArguments(xadd: false, out) else { return .proceed }
        let key = argument(1)
        switch streamLookup(key) {
        case .stream(let s, _):
            let n = s.trim(a.strategy!, approximate: a.approximate, limit: a.limit)
            if n > 0 {
                notify(KeyspaceEvents.stream, "xtrim", key)
                signalStreamModified(key)
            }
            out.appendRESPInteger(Int64(n))
        case .wrongType: return error(out, Self.wrongType)
        default: out.appendRESPInteger(0)
        }
        return .proceed
    }

    /// XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id].
    func streamSetID(_ out: OutputBuffer) -> HandlerAction {
        guard let id = StreamID.parse(argument(2), missingSeq: 0, strict: true)?.id else { return error(out, Self.invalidStreamID) }
        var added: UInt64?
        var maxDeleted: StreamID?
        var i = 3
        while i < argumentCount {
            let more = argumentCount - 1 - i
            if argument(i, is: "entriesadded") && more > 0 {
                guard let n = integerArgument(i + 1) else { return notAnInteger(out) }
                if n < 0 { return error(out, "ERR entries_added must be positive") }
                added = UInt64(n)
            } else if argument(i, is: "maxdeletedid") && more > 0 {
                guard let p = StreamID.parse(argument(i + 1), missingSeq: 0, strict: true) else { return error(out, Self.invalidStreamID) }
                if id < p.id { return error(out, "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id") }
                maxDeleted = p.id
            } else {
                return syntaxError(out)
            }
            i += 2
        }
        let key = argument(1)
        switch streamLookup(key) {
        case .stream(let s, _):
            switch s.setID(id, entriesAdded: added, maxDeletedID: maxDeleted) {
            case .ok: break
            case .smallerThanTop: return error(out, "ERR The ID specified in XSETID is smaller than the target stream top item")
            case .entriesAddedTooSmall: return error(out, "ERR The entries_added specified in XSETID is smaller than the target stream length")
            }
        case .wrongType: return error(out, Self.wrongType)
        default: return error(out, "ERR no such key")
        }
        out.appendRESPOK()
        notify(KeyspaceEvents.stream, "xsetid", key)
        return .proceed
    }
}
