// Clients blocked on list keys (BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP), for producers on every
// worker: the one way a connection waits (Platform/Waiter.swift), one `WaitList` per (database,
// key), oldest waiter first as redis serves them. A command that adds elements to a list (a push,
// LINSERT, the destination of a move) or puts a list under a key (RENAME, COPY, MOVE, SWAPDB: redis's
// dbAdd signals the key ready; a stream put there wakes its blocked XREAD / XREADGROUP clients,
// `wakeStreamReaders`) calls `serve` after its engine operation: under this
// registry's lock it claims the oldest armed waiter blocked for the key's type (a list, or a sorted
// set for BZPOPMIN/BZPOPMAX/BZMPOP) while the key has elements, pops
// (or moves) for it as its command asked, hands the elements over and wakes it after the lock.
// The served commands' keyspace events (their pops, a move's push, `new`, `del`) are collected
// under the lock and published after it by the producer (`RESPConnection.serveWaiters`), so they
// follow the producer's own events as in redis.
// Claims and hand-overs happen only under this lock, and so do an owner's own cancel and the
// unblock hook: an owner that gives up finds its waiter either armed (cancelled cleanly) or
// delivered (the elements are its to reply with, or to give back when it closed).
//
// Lock order: this registry's lock, then the engine's item locks (the engine's operations take
// them). The push fast path is one atomic load (`blockedKeys`) when nobody is blocked.
import Broker
import CacheEngine
import Platform
import Synchronization

/// What a blocked client's command does when served.
enum ListWaitKind: Sendable {
    /// BLPOP / BRPOP (count nil: one element, replied as key and value) and BLMPOP (count).
    case pop(ListEnd, count: Int?)
    /// BLMOVE / BRPOPLPUSH into `destination`.
    case move(destination: [UInt8], from: ListEnd, to: ListEnd)
    /// BZPOPMIN / BZPOPMAX (count nil: one member, replied as key, member, score) and BZMPOP
    /// (count) on sorted sets (RESPConnection+BlockingSortedSets.swift).
    case zpop(max: Bool, count: Int?)
    /// XREAD BLOCK (RESPConnection+StreamReads.swift): entries after `ids` (one per key), at most
    /// `count`; an XADD wakes every reader of its key, who reads again.
    case xread(ids: [StreamID], count: Int, group: StreamReadGroup?)
}

/// XREADGROUP's group, consumer and NOACK, kept by a blocked read.
struct StreamReadGroup: Sendable {
    let name: [UInt8]
    let consumer: [UInt8]
    let noAck: Bool
}

/// What a producer hands a blocked client.
enum ListServed: Sendable {
    /// The elements popped (or the one moved) from the key at the delivery's source index; a
    /// sorted set's pop: member, score's 8 bytes, member, ...
    case elements([[UInt8]])
    /// Claimed but found nothing (a racing pop emptied the list, or no memory for the move):
    /// run the command again.
    case retry
    /// A move whose destination holds another type: redis 7.0 answers the blocked client
    /// WRONGTYPE (and leaves the source as it was) and serves the next one.
    case wrongType
    /// XADD's wake-up of a blocked XREAD/XREADGROUP: the entries up to this ID are its to read
    /// (redis serves a blocked reader right after the command that added).
    case streamTop(StreamID)
    /// A blocked XREADGROUP's key let go of its stream (StreamGroupReadWatch): answered UNBLOCKED
    /// unless a stream is under the key again when it resumes.
    case streamKeyGone
}

/// One blocked command.
final class ListBlock: @unchecked Sendable {
    // Safe to share: the `let`s are constant; `unblock` is read and written with the registry's
    // lock held (ListWaits.mutex).
    let waiter: Waiter<ListServed>
    let keys: [[UInt8]]
    let database: Int
    let kind: ListWaitKind
    let clientID: UInt64
    /// CLIENT UNBLOCK's request: nil, or whether to end with an error (else as a timeout).
    var unblock: Bool? = nil

    init(waiter: Waiter<ListServed>, keys: [[UInt8]], database: Int, kind: ListWaitKind, clientID: UInt64) {
        self.waiter = waiter
        self.keys = keys
        self.database = database
        self.kind = kind
        self.clientID = clientID
    }
}

private struct WaitKey: Hashable {
    var database: Int
    var key: [UInt8]
}

/// The registry of blocked list clients, one per Redis port (RESPService.listWaits).
final class ListWaits: @unchecked Sendable {
    // Safe to share: `lists` and `byClient` are read and written with `mutex` held; the counters
    // are atomic.
    private let mutex = PlainMutex()
    private var lists: [WaitKey: WaitList<ListServed, ListBlock>] = [:]
    private var byClient: [UInt64: ListBlock] = [:]
    /// Keys with waiters: zero lets a push skip the registry.
    private let blockedKeys = Atomic<Int>(0)
    /// Whether any client is blocked on a key (EXEC notes its ready keys only then).
    var hasBlockedKeys: Bool { blockedKeys.load(ordering: .relaxed) > 0 }
    /// INFO clients' blocked_clients.
    let blockedClients = Atomic<Int>(0)

    /// `body` on the wait list of `k` under the lock (none: not called); an emptied list goes.
    fileprivate func withWaitList(_ k: WaitKey, _ body: (inout WaitList<ListServed, ListBlock>) -> Void) {
        mutex.lock()
        defer { mutex.unlock() }
        guard lists[k] != nil else { return }
        body(&lists[k]!)
        if lists[k]?.hasArmed == false { lists[k] = nil }
        blockedKeys.store(lists.count, ordering: .relaxed)
    }

    /// Registers `block` on its keys, unless `attempt` (run under the registry's lock, so that no
    /// push can fall between it and the registration) already serves it: then its result.
    func block<T>(_ block: ListBlock, attempt: () -> T?) -> T? {
        mutex.lock()
        defer { mutex.unlock() }
        if let served = attempt() { return served }
        for key in block.keys {
            lists[WaitKey(database: block.database, key: key), default: WaitList()].add(block.waiter, block)
        }
        byClient[block.clientID] = block
        blockedKeys.store(lists.count, ordering: .relaxed)
        blockedClients.add(1, ordering: .relaxed)
        return nil
    }

    /// The owner gives up (timeout, close, unblock): either nothing was claimed, or what was
    /// delivered is returned. The waiter leaves every list.
    func cancel(_ block: ListBlock) -> Waiter<ListServed>.Outcome {
        mutex.lock()
        defer { mutex.unlock() }
        let outcome = block.waiter.cancel()
        forget(block)
        return outcome
    }

    /// The owner collected its value: it leaves the registry.
    func finished(_ block: ListBlock) {
        mutex.lock()
        forget(block)
        mutex.unlock()
    }

    private func forget(_ block: ListBlock) {
        guard byClient[block.clientID] === block else { return }
        byClient[block.clientID] = nil
        blockedClients.subtract(1, ordering: .relaxed)
        for key in block.keys {
            let k = WaitKey(database: block.database, key: key)
            lists[k]?.remove(block.waiter)
            if lists[k]?.hasArmed == false { lists[k] = nil }
        }
        blockedKeys.store(lists.count, ordering: .relaxed)
    }

    /// CLIENT UNBLOCK's hook: ends client `id`'s block, as a timeout or (`error`) with
    /// `-UNBLOCKED client unblocked via CLIENT UNBLOCK`, from any thread. False when the client
    /// is not blocked on a list (or was already served: its reply stands).
    func unblock(clientID id: UInt64, error: Bool) -> Bool {
        mutex.lock()
        guard let block = byClient[id], block.waiter.isArmed else { mutex.unlock(); return false }
        block.unblock = error
        _ = block.waiter.cancel()
        mutex.unlock()
        block.waiter.waker.wake()
        return true
    }

    /// CLIENT KILL's hook: a killed client blocked here is served no more (redis frees it at once,
    /// which unblocks it), so what is pushed before its own worker closes it (an EXEC's push served
    /// when the EXEC ends, after a queued kill) stays where it was put: a move is not made for a
    /// dead client. Its worker, woken by the kill, finds the waiter cancelled and closes.
    func dropKilled(clientID id: UInt64) {
        mutex.lock()
        defer { mutex.unlock() }
        guard let block = byClient[id], block.waiter.isArmed else { return }
        _ = block.waiter.cancel()
    }

    /// CLIENT LIST's flag `b`.
    func isBlocked(clientID id: UInt64) -> Bool {
        mutex.withLock { byClient[id]?.waiter.isArmed ?? false }
    }

    /// The unblock request for `block`, if any (read by its owner).
    func unblockRequest(_ block: ListBlock) -> Bool? {
        mutex.withLock { block.unblock }
    }

    /// The keys of `database` that clients are blocked on (SWAPDB readies them, as redis's
    /// scanDatabaseForReadyKeys).
    func blockedKeys(database: Int) -> [[UInt8]] {
        guard blockedKeys.load(ordering: .relaxed) > 0 else { return [] }
        return mutex.withLock { lists.keys.filter { $0.database == database }.map(\.key) }
    }

    /// Serves the clients blocked on `key` while it has elements (a producer added some, or a
    /// RENAME, COPY, MOVE or SWAPDB put a list there).
    /// `events`: notify-keyspace-events' flags when on (0: off); the events of each served client's
    /// command (its pop, a move's push, `new` and `del`, as redis's serveClientBlockedOnList and
    /// genericZpopCommand emit them for the receiver) go to `publish` in redis's order, after
    /// the lock, so the producer's own events come first as they do in redis.
    func serve(_ key: UnsafeRawBufferPointer, database: Int, engine: CacheEngine, events: Int = 0,
               publish: (ServedEvent) -> Void = { _ in }) {
        guard blockedKeys.load(ordering: .relaxed) > 0 else { return }
        var pending: [[UInt8]] = [Array(key)]
        while let next = pending.popLast() {
            var wakes: [ConnectionWaker] = []
            var servedEvents: [ServedEvent] = []
            func note(_ type: Int, _ event: StaticString, _ key: [UInt8]) {
                if events & type != 0 { servedEvents.append(ServedEvent(type: type, event: event, key: key)) }
            }
            let k = WaitKey(database: database, key: next)
            mutex.lock()
            next.withUnsafeBytes { key in
                let hv = CacheEngine.hash(key)
                while lists[k]?.hasArmed == true {
                    // The key's list or sorted set: only the clients blocked for its type are served
                    // (redis's serveClientsBlockedOn{List,SortedSet}Key); the others stay blocked.
                    let n: Int
                    let sortedSet: Bool
                    if let l = engine.listLength(key, hash: hv, database: database) {
                        n = l
                        sortedSet = false
                    } else if let z = engine.hashLength(key, hash: hv, database: database, type: .zset) {
                        n = z
                        sortedSet = true
                    } else {
                        break
                    }
                    guard n > 0 else { break }
                    guard let (waiter, block) = lists[k]!.claimFirst(where: { b in
                        if case .xread = b.kind { return false }
                        if case .zpop = b.kind { return sortedSet }
                        return !sortedSet
                    }) else { break }
                    let source = block.keys.firstIndex(of: next) ?? 0
                    var served = ListServed.retry
                    switch block.kind {
                    case .pop(let end, let count):
                        var elements: [[UInt8]] = []
                        _ = engine.listPop(key, hash: hv, database: database, end: end, count: count ?? 1) { elements.append($0.bytes) }
                        if !elements.isEmpty {
                            served = .elements(elements)
                            note(KeyspaceEvents.list, end == .head ? "lpop" : "rpop", next)
                        }
                    case .zpop(let max, let count):
                        let elements = RESPConnection.zsetPopCopies(engine, key, hv, database: database, max: max, count: count ?? 1)
                        if !elements.isEmpty {
                            served = .elements(elements)
                            note(KeyspaceEvents.zset, max ? "zpopmax" : "zpopmin", next)
                        }
                    case .move(let destination, let from, let to):
                        // Whether the move makes its destination (`new`), asked only when on.
                        let made = events & KeyspaceEvents.new != 0 && destination.withUnsafeBytes { d in
                            engine.inspect(d, hash: CacheEngine.hash(d), database: database, anyType: true) == nil
                        }
                        let result = destination.withUnsafeBytes { d in
                            engine.listMove(key, hash: hv, d, hash: CacheEngine.hash(d), database: database, from: from, to: to)
                        }
                        switch result {
                        case .moved(let bytes):
                            served = .elements([bytes])
                            pending.append(destination)
                            if made { note(KeyspaceEvents.new, "new", destination) }
                            note(KeyspaceEvents.list, to == .head ? "lpush" : "rpush", destination)
                            note(KeyspaceEvents.list, from == .head ? "lpop" : "rpop", next)
                        case .wrongType: served = .wrongType
                        case .noKey, .outOfMemory: break
                        }
                    case .xread: break
                    }
                    waiter.deliver(served, source: source)
                    wakes.append(waiter.waker)
                    // The served command emptied the key: redis deletes it and says `del`.
                    if events & KeyspaceEvents.generic != 0, case .elements = served,
                       engine.inspect(key, hash: hv, database: database, anyType: true) == nil {
                        note(KeyspaceEvents.generic, "del", next)
                    }
                }
                if lists[k]?.hasArmed == false { lists[k] = nil }
            }
            blockedKeys.store(lists.count, ordering: .relaxed)
            mutex.unlock()
            for e in servedEvents { publish(e) }
            for w in wakes { w.wake() }
        }
    }
}

extension ListWaits {
    /// XADD's wake-up: every reader blocked on `key` (XREAD BLOCK) is claimed (delivered the
    /// added ID: it reads up to there; the source is the key's index in its block) and woken after
    /// the lock. One atomic load when nobody is blocked. `isStream` (RENAME, COPY, MOVE, SWAPDB:
    /// redis serves stream readers only when the key now holds a stream) is asked once, under the
    /// lock, and only when a reader is blocked on the key.
    func wakeStreamReaders(_ key: UnsafeRawBufferPointer, database: Int, top: StreamID = .max, isStream: (() -> Bool)? = nil) {
        guard hasBlockedKeys else { return }
        var wakes: [ConnectionWaker] = []
        let k = Array(key)
        var allowed: Bool? = isStream == nil ? true : nil
        withWaitList(WaitKey(database: database, key: k)) { list in
            while let (waiter, block) = list.claimFirst(where: { b in
                guard case .xread = b.kind else { return false }
                if allowed == nil { allowed = isStream?() ?? true }
                return allowed == true
            }) {
                waiter.deliver(.streamTop(top), source: block.keys.firstIndex(of: k) ?? 0)
                wakes.append(waiter.waker)
            }
        }
        for w in wakes { w.wake() }
    }

    /// SWAPDB's share of redis 7.0's scanDatabaseForDeletedStreams: the swap moved the stream
    /// away from under `key` without releasing or renaming it, so no key watcher hears of it; the
    /// XREADGROUP clients blocked there are claimed with `.streamKeyGone` (they answer UNBLOCKED
    /// unless a stream is under the key when they resume) and woken after the lock.
    func streamKeySwappedAway(_ key: UnsafeRawBufferPointer, database: Int) {
        guard hasBlockedKeys else { return }
        var wakes: [ConnectionWaker] = []
        let k = Array(key)
        withWaitList(WaitKey(database: database, key: k)) { list in
            while let (waiter, block) = list.claimFirst(where: { b in
                if case .xread(_, _, let group) = b.kind { return group != nil }
                return false
            }) {
                waiter.deliver(.streamKeyGone, source: block.keys.firstIndex(of: k) ?? 0)
                wakes.append(waiter.waker)
            }
        }
        for w in wakes { w.wake() }
    }
}

/// A keyspace event of a client served by `ListWaits.serve`, published after its lock.
struct ServedEvent {
    let type: Int
    let event: StaticString
    let key: [UInt8]
}

extension RESPConnection {
    /// `ListWaits.serve` for `key`, with the served clients' keyspace events published when on
    /// (one relaxed load when they are off).
    func serveWaiters(_ key: UnsafeRawBufferPointer, database db: Int) {
        // What both calls below check first, here before their closures are made (a retain and
        // a release of each capture on every ZADD, LPUSH and XADD while nobody is blocked).
        guard service.listWaits.hasBlockedKeys else { return }
        let flags = service.config.keyspaceEvents.load(ordering: .relaxed)
        service.listWaits.serve(key, database: db, engine: engine, events: flags) { e in
            e.key.withUnsafeBytes { service.publishKeyspaceEvent(flags, e.event, key: $0, database: db) }
        }
        // A stream put under the key (RENAME, COPY, MOVE, SWAPDB) serves its blocked XREAD /
        // XREADGROUP clients, as redis's handleClientsBlockedOnKeys does for any ready key.
        service.listWaits.wakeStreamReaders(key, database: db) { [engine] in
            if case .found = engine.withExternalValue(key, hash: CacheEngine.hash(key), database: db, type: .stream, { _ in true }) {
                return true
            }
            return false
        }
    }
}
