// Redis lists on the shared engine (CacheEngine+List.swift: a root item per key, elements in
// node items in slab memory under -m): LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LINDEX LRANGE
// LSET LINSERT LREM LTRIM LPOS LMOVE RPOPLPUSH LMPOP, with redis 7.0's argument checks in its
// order (t_list.c) and its replies. The blocking forms are in RESPConnection+BlockingLists.swift.
// Every command passes the connection's database and sees keys of any type, answering WRONGTYPE
// for a key that holds something else. A command that adds elements serves the clients blocked
// on the key afterwards (ListWaits.serve).
import CacheEngine
import Platform

extension RESPConnection {
    static let listCommands: [RESPCommand] = [
        RESPCommand("lpush", arity: -3, keys: (1, 1, 1), flags: [.write, .denyoom, .fast]) { c, out in c.push(.head, onlyIfExists: false, out) },
        RESPCommand("rpush", arity: -3, keys: (1, 1, 1), flags: [.write, .denyoom, .fast]) { c, out in c.push(.tail, onlyIfExists: false, out) },
        RESPCommand("lpushx", arity: -3, keys: (1, 1, 1), flags: [.write, .denyoom, .fast]) { c, out in c.push(.head, onlyIfExists: true, out) },
        RESPCommand("rpushx", arity: -3, keys: (1, 1, 1), flags: [.write, .denyoom, .fast]) { c, out in c.push(.tail, onlyIfExists: true, out) },
        RESPCommand("lpop", arity: -2, keys: (1, 1, 1), flags: [.write, .fast]) { c, out in c.pop(.head, out) },
        RESPCommand("rpop", arity: -2, keys: (1, 1, 1), flags: [.write, .fast]) { c, out in c.pop(.tail, out) },
        RESPCommand("llen", arity: 2, keys: (1, 1, 1), flags: [.readonly, .fast]) { c, out in c.listLength(out) },
        RESPCommand("lindex", arity: 3, keys: (1, 1, 1), flags: [.readonly]) { c, out in c.listIndex(out) },
        RESPCommand("lrange", arity: 4, keys: (1, 1, 1), flags: [.readonly]) { c, out in c.listRange(out) },
        RESPCommand("lset", arity: 4, keys: (1, 1, 1), flags: [.write, .denyoom]) { c, out in c.listSet(out) },
        RESPCommand("linsert", arity: 5, keys: (1, 1, 1), flags: [.write, .denyoom]) { c, out in c.listInsert(out) },
        RESPCommand("lrem", arity: 4, keys: (1, 1, 1), flags: [.write]) { c, out in c.listRemove(out) },
        RESPCommand("ltrim", arity: 4, keys: (1, 1, 1), flags: [.write]) { c, out in c.listTrim(out) },
        RESPCommand("lpos", arity: -3, keys: (1, 1, 1), flags: [.readonly]) { c, out in c.listPosition(out) },
        RESPCommand("lmove", arity: 5, keys: (1, 2, 1), flags: [.write, .denyoom]) { c, out in
            guard let from = c.listEnd(3), let to = c.listEnd(4) else { return c.syntaxError(out) }
            return c.move(from: from, to: to, out)
        },
        RESPCommand("rpoplpush", arity: 3, keys: (1, 2, 1), flags: [.write, .denyoom]) { c, out in c.move(from: .tail, to: .head, out) },
        RESPCommand("lmpop", arity: -4, flags: [.write, .movableKeys]) { c, out in c.multiPop(numberIndex: 1, blocking: false, out) },
        RESPCommand("blpop", arity: -3, keys: (1, -2, 1), flags: [.write, .noscript, .blocking]) { c, out in c.blockingPop(.head, out) },
        RESPCommand("brpop", arity: -3, keys: (1, -2, 1), flags: [.write, .noscript, .blocking]) { c, out in c.blockingPop(.tail, out) },
        RESPCommand("blmove", arity: 6, keys: (1, 2, 1), flags: [.write, .denyoom, .noscript, .blocking]) { c, out in
            guard let from = c.listEnd(3), let to = c.listEnd(4) else { return c.syntaxError(out) }
            return c.blockingMove(from: from, to: to, timeoutIndex: 5, out)
        },
        RESPCommand("brpoplpush", arity: 4, keys: (1, 2, 1), flags: [.write, .denyoom, .noscript, .blocking]) { c, out in c.blockingMove(from: .tail, to: .head, timeoutIndex: 3, out) },
        RESPCommand("blmpop", arity: -5, flags: [.write, .blocking, .movableKeys]) { c, out in c.multiPop(numberIndex: 2, blocking: true, out) },
    ]

    static let wrongType: StaticString = "WRONGTYPE Operation against a key holding the wrong kind of value"
    static let outOfMemory: StaticString = "OOM command not allowed when used memory > 'maxmemory'."
    static let listElementTooLarge: StaticString = "ERR list element exceeds maximum allowed size (the item size limit, -I)"

    /// LEFT or RIGHT (any case) at argument `i`.
    func listEnd(_ i: Int) -> ListEnd? {
        argument(i, is: "left") ? .head : argument(i, is: "right") ? .tail : nil
    }

    /// `key` as the engine takes it: nil for a key longer than items hold (a missing key to reads).
    @inline(__always)
    func listKey(_ i: Int) -> (UnsafeRawBufferPointer, UInt32)? {
        let key = argument(i)
        guard key.count <= ItemLayout.maxKeyLength else { return nil }
        return (key, CacheEngine.hash(key))
    }

    /// A bulk reply of a list element.
    @inline(__always)
    func appendElement(_ e: ListElement, _ out: OutputBuffer) {
        out.appendRESPBulkHeader(e.count)
        e.forEachPiece { out.append($0) }
        out.append("\r\n" as StaticString)
    }

    /// The error reply for a failed list write (nil: not an error).
    func listWriteError(_ r: ListWriteResult, _ out: OutputBuffer) -> HandlerAction? {
        switch r {
        case .wrongType: return error(out, Self.wrongType)
        case .outOfMemory: return error(out, Self.outOfMemory)
        case .tooLarge:
            stats.add(RESPCounter.listElementsTooLarge.rawValue)
            return error(out, Self.listElementTooLarge)
        default: return nil
        }
    }

    /// Clients blocked on `key` (of this database, or `database` for COPY DB, MOVE and SWAPDB) get
    /// what was just added or put there. Inside EXEC the key is only noted: redis serves blocked
    /// clients after the whole EXEC (its ready keys), so a queued pop after the push sees the
    /// element and a blocked client sees the list as the transaction left it.
    @inline(__always)
    func serveBlocked(_ key: UnsafeRawBufferPointer, database target: Int? = nil) {
        let db = target ?? database
        if runningExec {
            noteReadyKey(key, database: db)
            return
        }
        serveWaiters(key, database: db)
    }

    /// `del` for a list a command just emptied (the engine removed its root): looked up only
    /// when generic events are on.
    func notifyIfEmptied(_ key: UnsafeRawBufferPointer, _ hv: UInt32) {
        guard notifying(KeyspaceEvents.generic),
              engine.inspect(key, hash: hv, database: database, anyType: true) == nil else { return }
        notify(KeyspaceEvents.generic, "del", key)
    }

    /// lpop or rpop, and del if that emptied the list (the pops that do not wait).
    func notifyPopped(_ key: UnsafeRawBufferPointer, _ hv: UInt32, _ end: ListEnd) {
        notify(KeyspaceEvents.list, end == .head ? "lpop" : "rpop", key)
        notifyIfEmptied(key, hv)
    }

    // MARK: commands

    private func push(_ end: ListEnd, onlyIfExists: Bool, _ out: OutputBuffer) -> HandlerAction {
        guard let (key, hv) = listKey(1) else { return error(out, Self.keyTooLong) }
        let r = engine.listPush(key, hash: hv, database: database, end: end, count: argumentCount - 2,
                                onlyIfExists: onlyIfExists) { self.argument($0 + 2) }
        if let failed = listWriteError(r, out) { return failed }
        switch r {
        case .length(let n):
            // As many elements as were pushed: the push made the list.
            if n == argumentCount - 2 { notify(KeyspaceEvents.new, "new", key) }
            notify(KeyspaceEvents.list, end == .head ? "lpush" : "rpush", key)
            out.appendRESPInteger(Int64(n))
            serveBlocked(key)
        default:
            out.appendRESPInteger(0)
        }
        return .proceed
    }

    private func pop(_ end: ListEnd, _ out: OutputBuffer) -> HandlerAction {
        if argumentCount > 3 { return error(out, "ERR wrong number of arguments for '\(end == .head ? "lpop" : "rpop")' command") }
        var count: Int? = nil
        if argumentCount == 3 {
            // redis's getPositiveLongFromObjectOrReply: one message for both failures.
            guard let n = integerArgument(2), n >= 0 else { return error(out, "ERR value is out of range, must be positive") }
            count = n
        }
        guard let (key, hv) = listKey(1) else {
            if count != nil { out.appendRESPNullArray(version) } else { out.appendRESPNull(version) }
            return .proceed
        }
        var popped = 0
        let r = engine.listPop(key, hash: hv, database: database, end: end, count: count ?? 1, willVisit: { n in
            popped = n
            if count != nil { out.appendRESPArrayHeader(n) }
        }) { self.appendElement($0, out) }
        switch r {
        case .ok:
            if popped > 0 {
                notify(KeyspaceEvents.list, end == .head ? "lpop" : "rpop", key)
                notifyIfEmptied(key, hv)
            }
        case .noKey: if count != nil { out.appendRESPNullArray(version) } else { out.appendRESPNull(version) }
        case .wrongType: return error(out, Self.wrongType)
        }
        return .proceed
    }

    private func listLength(_ out: OutputBuffer) -> HandlerAction {
        guard let (key, hv) = listKey(1) else { out.appendRESPInteger(0); return .proceed }
        guard let n = engine.listLength(key, hash: hv, database: database) else { return error(out, Self.wrongType) }
        out.appendRESPInteger(Int64(n))
        return .proceed
    }

    private func listIndex(_ out: OutputBuffer) -> HandlerAction {
        guard let (key, hv) = listKey(1) else { out.appendRESPNull(version); return .proceed }
        guard let index = integerArgument(2) else {
            // redis looks the key up (null, WRONGTYPE) before it reads the index.
            guard let n = engine.listLength(key, hash: hv, database: database) else { return error(out, Self.wrongType) }
            if n == 0 { out.appendRESPNull(version); return .proceed }
            return notAnInteger(out)
        }
        let r = engine.listIndex(key, hash: hv, database: database, index: index) { e in
            if let e { self.appendElement(e, out) } else { out.appendRESPNull(self.version) }
        }
        switch r {
        case .ok: break
        case .noKey: out.appendRESPNull(version)
        case .wrongType: return error(out, Self.wrongType)
        }
        return .proceed
    }

    private func listRange(_ out: OutputBuffer) -> HandlerAction {
        guard let start = integerArgument(2), let stop = integerArgument(3) else { return notAnInteger(out) }
        guard let (key, hv) = listKey(1) else { out.appendRESPArrayHeader(0); return .proceed }
        let r = engine.listRange(key, hash: hv, database: database, start: start, stop: stop,
                                 willVisit: { out.appendRESPArrayHeader($0) }) { self.appendElement($0, out) }
        switch r {
        case .ok: break
        case .noKey: out.appendRESPArrayHeader(0)
        case .wrongType: return error(out, Self.wrongType)
        }
        return .proceed
    }

    private func listSet(_ out: OutputBuffer) -> HandlerAction {
        guard let (key, hv) = listKey(1) else { return error(out, "ERR no such key") }
        guard let index = integerArgument(2) else {
            // redis: the key (no such key, WRONGTYPE), then the index.
            guard let n = engine.listLength(key, hash: hv, database: database) else { return error(out, Self.wrongType) }
            if n == 0 { return error(out, "ERR no such key") }
            return notAnInteger(out)
        }
        let r = engine.listSet(key, hash: hv, database: database, index: index, element: argument(3))
        if let failed = listWriteError(r, out) { return failed }
        switch r {
        case .noKey: return error(out, "ERR no such key")
        case .outOfRange: return error(out, "ERR index out of range")
        default:
            notify(KeyspaceEvents.list, "lset", key)
            out.appendRESPOK()
        }
        return .proceed
    }

    private func listInsert(_ out: OutputBuffer) -> HandlerAction {
        let before: Bool
        if argument(2, is: "after") { before = false } else if argument(2, is: "before") { before = true } else { return syntaxError(out) }
        guard let (key, hv) = listKey(1) else { out.appendRESPInteger(0); return .proceed }
        let r = engine.listInsert(key, hash: hv, database: database, before: before, pivot: argument(3), element: argument(4))
        if let failed = listWriteError(r, out) { return failed }
        switch r {
        case .length(let n):
            notify(KeyspaceEvents.list, "linsert", key)
            out.appendRESPInteger(Int64(n))
            serveBlocked(key)
        case .pivotNotFound: out.appendRESPInteger(-1)
        default: out.appendRESPInteger(0)
        }
        return .proceed
    }

    private func listRemove(_ out: OutputBuffer) -> HandlerAction {
        guard let count = integerArgument(2) else { return notAnInteger(out) }
        guard let (key, hv) = listKey(1) else { out.appendRESPInteger(0); return .proceed }
        guard let n = engine.listRemove(key, hash: hv, database: database, count: count, element: argument(3)) else {
            return error(out, Self.wrongType)
        }
        if n > 0 {
            notify(KeyspaceEvents.list, "lrem", key)
            notifyIfEmptied(key, hv)
        }
        out.appendRESPInteger(Int64(n))
        return .proceed
    }

    private func listTrim(_ out: OutputBuffer) -> HandlerAction {
        guard let start = integerArgument(2), let stop = integerArgument(3) else { return notAnInteger(out) }
        guard let (key, hv) = listKey(1) else { out.appendRESPOK(); return .proceed }
        // redis says ltrim only of a list that was there.
        let existed = notifying(KeyspaceEvents.list) && inspectSilently(key, hv) != nil
        guard engine.listTrim(key, hash: hv, database: database, start: start, stop: stop) else { return error(out, Self.wrongType) }
        if existed {
            notify(KeyspaceEvents.list, "ltrim", key)
            notifyIfEmptied(key, hv)
        }
        out.appendRESPOK()
        return .proceed
    }

    /// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len].
    private func listPosition(_ out: OutputBuffer) -> HandlerAction {
        var rank = 1, count = -1, maxLength = 0
        var i = 3
        while i < argumentCount {
            let more = argumentCount - 1 - i
            if argument(i, is: "rank") && more > 0 {
                i += 1
                guard var r = integerArgument(i) else { return notAnInteger(out) }
                // redis 7.0 negates LONG_MIN into itself: every match counts, from the tail.
                if r == Int.min { r = -1 }
                if r == 0 {
                    return error(out, "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list")
                }
                rank = r
            } else if argument(i, is: "count") && more > 0 {
                i += 1
                guard let n = integerArgument(i) else { return error(out, "ERR COUNT can't be negative") }
                guard n >= 0 else { return error(out, "ERR COUNT can't be negative") }
                count = n
            } else if argument(i, is: "maxlen") && more > 0 {
                i += 1
                guard let n = integerArgument(i) else { return error(out, "ERR MAXLEN can't be negative") }
                guard n >= 0 else { return error(out, "ERR MAXLEN can't be negative") }
                maxLength = n
            } else {
                return syntaxError(out)
            }
            i += 1
        }
        guard let (key, hv) = listKey(1) else {
            if count != -1 { out.appendRESPArrayHeader(0) } else { out.appendRESPNull(version) }
            return .proceed
        }
        // Indexes are collected first: the array's length is known only at the end.
        var found: [Int] = []
        let r = engine.listPositions(key, hash: hv, database: database, element: argument(2), rank: rank,
                                     count: count == -1 ? 1 : count, maxLength: maxLength) { found.append($0) }
        switch r {
        case .wrongType: return error(out, Self.wrongType)
        case .noKey, .ok:
            if count != -1 {
                out.appendRESPArrayHeader(found.count)
                for f in found { out.appendRESPInteger(Int64(f)) }
            } else if let f = found.first {
                out.appendRESPInteger(Int64(f))
            } else {
                out.appendRESPNull(version)
            }
        }
        return .proceed
    }

    /// LMOVE / RPOPLPUSH.
    private func move(from: ListEnd, to: ListEnd, _ out: OutputBuffer) -> HandlerAction {
        guard let (source, sh) = listKey(1) else { out.appendRESPNull(version); return .proceed }
        guard let (destination, dh) = listKey(2) else { return error(out, Self.keyTooLong) }
        let r = engine.listMove(source, hash: sh, destination, hash: dh, database: database, from: from, to: to)
        switch r {
        case .moved(let bytes):
            // redis: the push on the destination, then the pop on the source.
            notify(KeyspaceEvents.list, to == .head ? "lpush" : "rpush", destination)
            notify(KeyspaceEvents.list, from == .head ? "lpop" : "rpop", source)
            notifyIfEmptied(source, sh)
            bytes.withUnsafeBytes { out.appendRESPBulk($0) }
            serveBlocked(destination)
        case .noKey: out.appendRESPNull(version)
        case .wrongType: return error(out, Self.wrongType)
        case .outOfMemory: return error(out, Self.outOfMemory)
        }
        return .proceed
    }
}
