// Transactions of the Redis port: MULTI EXEC DISCARD WATCH UNWATCH, with redis-server 7.0's replies.
//
// Between MULTI and EXEC a command that passes the checks of `RESPConnection.execute` (unknown
// command, arity, authentication, no-multi) is not run: its request bytes, as they came, are
// appended to the connection's queue and +QUEUED answered. A command refused there fails the
// transaction (EXEC answers EXECABORT). EXEC parses the queued bytes again with the connection's
// parser and runs each command through `invoke`, so commandstats count them when they run, as
// redis does. Outside MULTI nothing of this costs anything but a nil check: the queue exists only
// between MULTI and EXEC/DISCARD, and its bytes are freed then.
//
// WATCH records, per key, whether it exists and its CAS unique (the engine gives an item a new one
// on every store and modification, EXPIRE's included; a stream's root, whose entries live in the
// broker's log, gets one from XADD, and from XDEL and XTRIM that removed entries, as redis signals
// those: `signalStreamModified`, while any connection watches). EXEC aborts (a null array) when any
// watched key's unique changed or the key appeared or disappeared (an expired key is gone, and an
// expired item still linked that WATCH did not see was stored since: WatchedKey.changed). The
// check and the queued commands run inside the command gate (CommandGate.swift), so no other Redis
// client's command comes between them. WATCH needs CAS uniques; --redis-port refuses -C, and an
// engine without them answers WATCH with an error rather than a check that cannot see changes.
import Broker
import CacheEngine
import Platform

/// A transaction being queued.
struct Transaction {
    /// The queued requests' bytes, back to back.
    var queue: [UInt8] = []
    var count = 0
    /// A command was refused while queueing: EXEC answers EXECABORT (the queue is dropped).
    var failed = false {
        didSet { if failed { queue = [] } }
    }
}

/// A list key EXEC's commands added elements to (its blocked clients are served after EXEC).
struct ReadyKey: Hashable {
    var database: Int
    var key: [UInt8]
}

/// A watched key as WATCH saw it.
struct WatchedKey: Equatable {
    var exists: Bool
    /// The live item's unique, or an expired item's still linked under the key (0: none).
    var cas: UInt64

    init(_ seen: (info: ItemInfo?, expiredCAS: UInt64)) {
        exists = seen.info != nil
        cas = seen.info?.cas ?? seen.expiredCAS
    }

    /// redis's touched-or-expired check: the key appeared, disappeared or was stored again. An
    /// expired item still linked that WATCH did not see was stored since (a key set with a TTL
    /// that ran out before EXEC: redis's SET marked it); one WATCH saw expired and that is gone
    /// now was only reclaimed, which redis does not mark.
    func changed(to now: WatchedKey) -> Bool {
        if exists != now.exists { return true }
        if !now.exists && now.cas == 0 { return false }
        return cas != now.cas
    }
}

extension RESPConnection {
    static let transactionCommands: [RESPCommand] = [
        RESPCommand("multi", arity: 1, flags: [.noscript, .loading, .stale, .fast, .allowBusy], transaction: .immediate) { c, out in c.multi(out) },
        RESPCommand("exec", arity: 1, flags: [.noscript, .loading, .stale, .skipSlowlog], transaction: .exec) { c, out in c.exec(out) },
        RESPCommand("discard", arity: 1, flags: [.noscript, .loading, .stale, .fast, .allowBusy], transaction: .immediate) { c, out in
            guard c.transaction != nil else { return c.error(out, "ERR DISCARD without MULTI") }
            c.endTransaction()
            out.appendRESPOK()
            return .proceed
        },
        RESPCommand("watch", arity: -2, keys: (1, -1, 1), flags: [.noscript, .loading, .stale, .fast, .allowBusy], transaction: .immediate) { c, out in c.watch(out) },
        RESPCommand("unwatch", arity: 1, flags: [.noscript, .loading, .stale, .fast, .allowBusy]) { c, out in
            c.unwatchAll()
            out.appendRESPOK()
            return .proceed
        },
    ]

    /// DISCARD, RESET, a refused EXEC, EXEC itself: no transaction and no watched key left.
    func endTransaction() {
        transaction = nil
        unwatchAll()
    }

    /// Every watched key forgotten (UNWATCH, EXEC, the end of a transaction or the connection).
    func unwatchAll() {
        guard !watched.isEmpty else { return }
        watched = [:]
        service.watchingClients.subtract(1, ordering: .sequentiallyConsistent)
    }

    private func multi(_ out: OutputBuffer) -> HandlerAction {
        guard transaction == nil else { return error(out, "ERR MULTI calls can not be nested") }
        transaction = Transaction()
        out.appendRESPOK()
        return .proceed
    }

    /// Keeps `request` for EXEC, within the queue's bound.
    func queue(_ request: UnsafeRawBufferPointer, _ out: OutputBuffer) -> HandlerAction {
        if transaction!.failed {
            // EXEC will refuse it whatever follows: nothing to keep.
            out.appendRESPSimple("QUEUED")
            return .proceed
        }
        guard transaction!.queue.count + request.count <= service.settings.transactionQueueLimit else {
            stats.add(RESPCounter.transactionQueueRefusals.rawValue)
            transaction!.failed = true
            return error(out, "ERR transaction queue past swiftcached's limit of \(service.settings.transactionQueueLimit) bytes")
        }
        transaction!.queue.append(contentsOf: request)
        transaction!.count += 1
        out.appendRESPSimple("QUEUED")
        return .proceed
    }

    private func watch(_ out: OutputBuffer) -> HandlerAction {
        guard transaction == nil else { return error(out, "ERR WATCH inside MULTI is not allowed") }
        guard engine.settings.useCAS else {
            return error(out, "ERR WATCH needs CAS uniques, which this server was started without (-C)")
        }
        // The keys not watched yet (redis keeps a key's first watch). A key longer than an item's
        // can never exist, so nothing can change it: it needs no watch.
        var fresh = Set<[UInt8]>()
        for i in 1..<argumentCount {
            let key = argument(i)
            guard key.count <= ItemLayout.maxKeyLength else { continue }
            // redis watches a key of a database: the database is the first byte.
            let bytes = [UInt8(database)] + Array(key)
            if watched[bytes] == nil { fresh.insert(bytes) }
            // Refused whole, before any key of it is watched.
            if watched.count + fresh.count > service.settings.watchedKeysLimit {
                stats.add(RESPCounter.watchRefusals.rawValue)
                return error(out, "ERR too many watched keys (swiftcached's limit is \(service.settings.watchedKeysLimit))")
            }
        }
        // Counted before the uniques are read (RESPService.watchingClients).
        if watched.isEmpty && !fresh.isEmpty { service.watchingClients.add(1, ordering: .sequentiallyConsistent) }
        for key in fresh {
            watched[key] = WatchedKey(watchedInfo(key))
        }
        out.appendRESPOK()
        return .proceed
    }

    /// A watched key was changed, created, deleted or expired since WATCH.
    private func watchedKeyChanged() -> Bool {
        for (key, was) in watched {
            if was.changed(to: WatchedKey(watchedInfo(key))) { return true }
        }
        return false
    }

    /// What a `watched` entry (database byte, then the key) names now, of any type (an expired
    /// key reads as gone and is left for its remover: no `expired` event from WATCH or EXEC).
    private func watchedInfo(_ entry: [UInt8]) -> (info: ItemInfo?, expiredCAS: UInt64) {
        entry.withUnsafeBytes { bytes in
            let key = UnsafeRawBufferPointer(rebasing: bytes.dropFirst())
            return engine.peekWithExpired(key, hash: CacheEngine.hash(key), database: Int(bytes[0]))
        }
    }

    private func exec(_ out: OutputBuffer) -> HandlerAction {
        guard let tx = transaction else { return error(out, "ERR EXEC without MULTI") }
        // Its commands run outside MULTI; the watches end with this EXEC.
        transaction = nil
        let watching = !watched.isEmpty
        defer { unwatchAll() }
        if tx.failed { return error(out, "EXECABORT Transaction discarded because of previous errors.") }
        if tx.count == 0 && !watching {
            out.appendRESPArrayHeader(0)
            return .proceed
        }
        return service.gate.exclusively(gateSlot) {
            if watching && watchedKeyChanged() {
                out.appendRESPNullArray(version)
                return .proceed
            }
            let action = runQueue(tx, out)
            serveReadyKeys()
            return action
        }
    }

    /// A list key a queued command added elements to (or renamed, copied, moved or swapped a list
    /// onto): served when EXEC ends (redis's
    /// signalKeyAsReady: each key once, in the order first readied).
    func noteReadyKey(_ key: UnsafeRawBufferPointer, database db: Int) {
        // Nobody blocked: nothing to serve (no client can block while EXEC holds the gate).
        guard service.listWaits.hasBlockedKeys else { return }
        let ready = ReadyKey(database: db, key: Array(key))
        if readyKeys.insert(ready).inserted { readyOrder.append(ready) }
    }

    /// A stream key a queued command added an entry to: its blocked readers are woken when EXEC
    /// ends, reading up to the newest of the transaction's entries there.
    func noteReadyStream(_ key: UnsafeRawBufferPointer, database db: Int, top: StreamID) {
        let ready = ReadyKey(database: db, key: Array(key))
        if let i = readyStreamIndex[ready] {
            readyStreams[i].top = max(readyStreams[i].top, top)
        } else {
            readyStreamIndex[ready] = readyStreams.count
            readyStreams.append((ready, top))
        }
    }

    /// The clients blocked on the keys EXEC's commands readied, served after the whole EXEC and
    /// still inside the gate, as redis's handleClientsBlockedOnKeys runs before the next command.
    private func serveReadyKeys() {
        if !readyStreams.isEmpty {
            let streams = readyStreams
            readyStreams = []
            readyStreamIndex = [:]
            for (r, top) in streams {
                r.key.withUnsafeBytes { service.listWaits.wakeStreamReaders($0, database: r.database, top: top) }
            }
        }
        guard !readyOrder.isEmpty else { return }
        let keys = readyOrder
        readyOrder = []
        readyKeys = []
        for r in keys {
            r.key.withUnsafeBytes { serveWaiters($0, database: r.database) }
        }
    }

    /// EXEC's reply: the array of the queued commands' replies, each command run as if it had just
    /// arrived (a runtime error is that element only). Each reply is written in the protocol in
    /// force when it runs, as redis does when a queued HELLO switches it.
    private func runQueue(_ tx: Transaction, _ out: OutputBuffer) -> HandlerAction {
        // CLIENT REPLY OFF or SKIP in force, or switched by a queued CLIENT REPLY: each piece goes
        // out or not by the mode when it is written (a SKIP queued here takes effect after EXEC).
        execWithheldItself = true
        if repliesFlow { out.appendRESPArrayHeader(tx.count) }
        // The queued bytes passed these limits when they came; a queued CONFIG SET must not make
        // the rest unreadable now.
        let limits = parser.limits
        let unauthenticated = parser.unauthenticated
        parser.limits.maxBulkLength = Int.max
        parser.limits.maxMultibulkLength = Int.max
        parser.unauthenticated = false
        runningExec = true
        var action = HandlerAction.proceed
        tx.queue.withUnsafeBytes { queue in
            var pos = 0
            var ran = 0
            while ran < tx.count, case .request(let end) = parser.parse(queue, from: pos) {
                pos = end
                ran += 1
                // Found when it was queued, so found now.
                guard let command = service.table.find(argument(0)) else { continue }
                // The gate's check does not apply here: redis runs queued commands with call(),
                // not processCommand (a SUBSCRIBE before a GET does not refuse the GET).
                let mark = out.mark()
                let a = invoke(command, out)
                if !repliesFlow { out.rollback(to: mark) }
                if a == .close || a == .closeNow { action = a }
            }
        }
        runningExec = false
        parser.limits = limits
        // A queued AUTH or HELLO AUTH may have authenticated the connection meanwhile.
        parser.unauthenticated = unauthenticated && !authenticated
        // EXEC itself did not fail because a queued command did (commandstats' failed_calls).
        commandFailed = false
        return action
    }
}
