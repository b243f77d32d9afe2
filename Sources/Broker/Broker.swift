// The broker: named queues and exchanges over the cache's slab memory (DESIGN.md §7). Queues
// are found by name under the registry lock (handlers cache the reference); every message
// operation then takes only that queue's lock. Dead letters and parked readers to wake are
// collected under a queue lock and acted on after it is released. With a data directory every
// queue has a journal, declarations live in `broker.meta`, and start-up replays both.
import CacheEngine
import Durability
import Platform
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The `--fsync` policy lives with the group commit in Durability; the name is re-exported here
/// so that the broker's users (flag parsing, stats) need not import Durability.
public typealias FsyncPolicy = Durability.FsyncPolicy

public struct BrokerSettings: Sendable {
    /// --data-dir: nil = memory only.
    public var dataDirectory: String?
    /// --fsync
    public var fsync: FsyncPolicy = .interval(ms: 100)
    /// --broker-memory in bytes: what queue messages may hold in RAM.
    public var memoryLimit = 32 << 20
    /// --visibility-timeout in ms (0: open reads last until their connection closes).
    public var visibilityTimeoutMs: UInt64 = 0
    /// --prefetch: open reads one connection may hold per queue (Kestrel: 1).
    public var prefetch = 1
    /// Journals over this size that are mostly consumed are compacted.
    public var compactMinBytes = 16 << 20
    /// Descriptors the journals and spill files of every queue share (`DescriptorCache`): a
    /// queue needs none of its own, and start-up reserves this many (FileLimit.swift).
    public var fileDescriptors = BrokerSettings.defaultFileDescriptors
    public static let defaultFileDescriptors = 64
    public init() {}
}

public enum BrokerError: Error, CustomStringConvertible {
    case dataDirectory(String, String)
    /// Recovery: stored messages larger than -I allows (queues, how many, the item size the
    /// largest needs, the current -I and -m).
    case itemSizeTooSmall(queues: [String], messages: Int, needed: Int, itemSizeMax: Int, memoryLimit: Int)
    /// Recovery: bodies that found neither memory nor room in the queue's spill file.
    case messagesUnplaced(queue: String, messages: Int, spill: String)
    /// Recovery: a journal that could not be read (path, why).
    case journalUnreadable(String, String)
    /// Recovery: damaged journal bytes that could not be copied before being skipped.
    case damageNotKept(queue: String, DamageCopyError)

    public var description: String {
        switch self {
        case .dataDirectory(let dir, let why):
            return "cannot use data directory \(dir): \(why)"
        case .itemSizeTooSmall(let queues, let messages, let needed, let itemSizeMax, let memoryLimit):
            // -I takes k and m suffixes; a whole number of kilobytes reads best.
            let k = (needed + 1023) / 1024
            var fix = "-I \(k)k or more"
            if memoryLimit > 0 && k * 1024 * 2 > memoryLimit {
                fix += " and -m \((k * 1024 * 2 + (1 << 20) - 1) >> 20) or more (-I may be at most half of -m)"
            }
            return "-I (item_size_max) is too small for the stored messages: \(messages) message"
                + (messages == 1 ? "" : "s") + " in queue" + (queues.count == 1 ? " " : "s ") + queues.joined(separator: ", ")
                + (messages == 1 ? " needs" : " need") + " items of up to \(needed) bytes and -I is \(itemSizeMax); start with \(fix). "
                + "Nothing was changed on disk"
        case .messagesUnplaced(let queue, let messages, let spill):
            return "queue \(queue): \(messages) stored message" + (messages == 1 ? "" : "s")
                + " found no memory (-m, --broker-memory) and could not be written to \(spill); refusing to start "
                + "rather than drop them. Nothing was changed on disk"
        case .journalUnreadable(let path, let why):
            return "cannot read journal \(path): \(why); refusing to start rather than cut it. Nothing was changed on disk"
        case .damageNotKept(let queue, let why):
            return "queue \(queue): the journal has damaged records, and a copy of them could not be kept (\(why)); "
                + "refusing to start rather than drop them"
        }
    }
}

/// What a read found.
public enum TakeResult {
    case message(Message)
    case empty
    /// Parked: the waiter is handed a message (and its connection woken) when one arrives.
    case waiting(Waiter<Message>)
}

public final class Broker: @unchecked Sendable {
    // Safe to share: `queues` and `exchanges` are guarded by `registry`; queues guard themselves;
    // the rest is constant after init or atomic.
    public let engine: CacheEngine
    public let settings: BrokerSettings
    public let share: MemoryShare
    /// The group commit that writes and fsyncs every queue's journal (data directory only).
    public let flusher: GroupCommit?
    /// The descriptors of every journal and spill file, opened on demand (data directory only).
    public let descriptors: DescriptorCache?
    /// The topics (Log/): their own lock, taken after `registry`.
    public let logs: LogRegistry
    /// Unix ms from the process clock (the engine's).
    @inline(__always)
    public func clockMs() -> UInt64 { engine.clock.milliseconds }
    let registry = PlainMutex()
    var queues: [String: BrokerQueue] = [:]
    var exchanges: [String: Exchange] = [:]
    /// Named consumers and their ids (Consumer.swift), guarded by `registry`.
    var consumerNames: [String: UInt64] = [:]
    let consumers = Atomic<UInt64>(0)
    private let unroutableCount = Atomic<UInt64>(0)
    private let keysTooLongCount = Atomic<UInt64>(0)
    /// Creations refused at `maxQueues`, `maxExchanges` or `maxBindings` (broker_limit_refusals).
    private let limitRefusalCount = Atomic<UInt64>(0)
    private let linesTooLongCount = Atomic<UInt64>(0)
    private let heldReplyCapCount = Atomic<UInt64>(0)
    private let binaryHeaderInvalidCount = Atomic<UInt64>(0)
    /// Queues not created because their journal could not be opened.
    let journalOpenErrorCount = Atomic<UInt64>(0)
    /// Messages refused because their queue's journal cannot be written.
    let journalRefusedCount = Atomic<UInt64>(0)
    /// Plain reads answered empty because the journals cannot be written (`--fsync=always`).
    let journalReadsRefusedCount = Atomic<UInt64>(0)
    private var timer: BackgroundThread?
    private let timerStop = StopSignal()
    /// Lines of recovery findings for the log (torn tails, damaged records and their copies).
    /// Written only by `init` (recovery), before the broker is shared, like the next two.
    public internal(set) var recoveryNotes: [String] = []
    /// What recovery skipped and cut, for `stats`.
    var recoveryStats = RecoveryFigures()
    /// Declarations are being read from broker.meta: it is not rewritten meanwhile.
    var restoringMeta = false
    /// What broker.meta holds, as this broker last wrote (or, at start-up, read) it; guarded by
    /// `registry`. A change that leaves the declarations' text as it is (deleting or creating a
    /// queue with default settings and no bindings) then costs no rewrite and no fsync. Nil
    /// when unknown: the next change writes.
    var savedMeta: String?

    public static let defaultExchange = "amq.default"
    /// Bindings per exchange: item refcounts are 16-bit, and one publish takes a reference per queue.
    public static let maxBindings = 4096
    /// Routing and binding keys: AMQP's shortstr.
    public static let maxKeyBytes = 255
    /// Words of a topic exchange's routing and binding keys (255 bytes alone allow 256). A topic
    /// walk expands each trie node once with a set of key positions, so this bounds the walk to
    /// 4096 × 32 nodes and each set to one machine word.
    public static let maxTopicWords = 32

    public init(engine: CacheEngine, settings: BrokerSettings) throws {
        self.engine = engine
        self.settings = settings
        share = MemoryShare(limit: settings.memoryLimit)
        if let dir = settings.dataDirectory {
            var st = stat()
            if stat(dir, &st) != 0 {
                if mkdir(dir, 0o755) != 0 { throw BrokerError.dataDirectory(dir, String(cString: strerror(errno))) }
            } else if (st.st_mode & S_IFMT) != S_IFDIR {
                throw BrokerError.dataDirectory(dir, "not a directory")
            }
            flusher = GroupCommit(policy: settings.fsync, name: "journal flusher")
            descriptors = DescriptorCache(capacity: settings.fileDescriptors)
            // Segments on disk; in memory (slab items charged to the queues' share) only hot tails
            // and what is not yet written, kept within --broker-memory by making appends wait for
            // the flusher (LogMemory.softLimit, or the share full).
            logs = LogRegistry(directory: dir + "/logs", descriptors: descriptors, memory: .diskBacked(limit: settings.memoryLimit, chunks: LogChunkAllocator(engine: engine, share: share)))
            try recover(dir)
            openConsumerOffsets(dir)
            recoverLogs()
            replayConsumerOffsets()
            for t in logs.all { t.clampCommittedToEnd(notes: &recoveryNotes) }
        } else {
            flusher = nil
            descriptors = nil
            // Without a data directory logs live in --broker-memory, shared with the queues.
            logs = LogRegistry(directory: nil, descriptors: nil, memory: LogMemory(share: share, chunks: LogChunkAllocator(engine: engine)))
        }
    }

    /// Starts the journal flusher and the timer (TTL at queue heads, visibility timeouts).
    public func start() {
        flusher?.start()
        timer = BackgroundThread(name: "broker timer") { [self] in
            while self.timerStop.wait(microseconds: 100_000) { self.tick() }
        }
    }

    public func stop() {
        timerStop.stop()
        timer?.join()
        timer = nil
        flusher?.stop()
        writeLogIndexes()
    }

    /// Queue names: 1...200 bytes of letters, digits, `_ - . :` and the braces of a proxy's hash
    /// tag (`{orders}`: nutcracker hashes only what is inside, so `{orders}/open` reaches the
    /// queue's instance), not starting with `.`; they are file names in the data directory.
    /// `FileNames` maps the other bytes to themselves and a brace to 3 bytes (`%7B`), and recovery
    /// finds a journal by decoding its file name, so the encoded name must stay within
    /// `FileNames.maxLength` (a brace counts 3).
    public static func isValidName(_ name: UnsafeRawBufferPointer) -> Bool {
        guard name.count > 0, name.count <= 200, name[0] != UInt8(ascii: ".") else { return false }
        var encodedLength = 0
        for b in name {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"),
                 UInt8(ascii: "."), UInt8(ascii: ":"):
                encodedLength += 1
            case UInt8(ascii: "{"), UInt8(ascii: "}"):
                encodedLength += 3
            default:
                return false
            }
        }
        return encodedLength <= FileNames.maxLength
    }

    public static func isValidName(_ name: String) -> Bool {
        var n = name
        return n.withUTF8 { isValidName(UnsafeRawBufferPointer($0)) }
    }

    // MARK: queues

    /// The queue called `name`, created with default settings if asked and absent (nil past
    /// `maxQueues`, or when its journal cannot be opened: `openQueue` says which).
    public func queue(named name: String, create: Bool = true) -> BrokerQueue? {
        if case .queue(let q) = openQueue(named: name, create: create) { return q }
        return nil
    }

    /// What looking a queue up (creating it if asked) found.
    public enum QueueLookup {
        case queue(BrokerQueue)
        /// Absent, and not to be created (or `maxQueues` reached).
        case none
        /// Absent, and its journal could not be created: a queue that cannot keep its messages
        /// is not made (counted in `broker_journal_open_errors`).
        case journalUnavailable
    }

    /// The queue called `name`, created with default settings if asked and absent.
    public func openQueue(named name: String, create: Bool = true) -> QueueLookup {
        registry.withLock {
            if let q = queues[name] { return .queue(q) }
            // A topic's name is not a queue's (the broker port reads it as the topic).
            guard create, !lockedIsTopic(name) else { return .none }
            guard queues.count < Self.maxQueues else {
                limitRefusalCount.wrappingAdd(1, ordering: .relaxed)
                return .none
            }
            return lockedCreateQueue(name, QueueConfig()).map { .queue($0) } ?? .journalUnavailable
        }
    }

    public static let maxQueues = 10_000
    public static let maxExchanges = 10_000

    /// A new queue; with a data directory, nil when its journal cannot be created (nothing
    /// would be written for it). Its files are opened on demand through `descriptors`.
    private func lockedCreateQueue(_ name: String, _ config: QueueConfig) -> BrokerQueue? {
        var spill: SpillFile?
        var journal: QueueJournal?
        if let dir = settings.dataDirectory, let descriptors {
            guard let j = QueueJournal(path: Self.journalPath(dir, name), compactMinBytes: settings.compactMinBytes,
                                       descriptors: descriptors) else {
                journalOpenErrorCount.wrappingAdd(1, ordering: .relaxed)
                return nil
            }
            journal = j
            spill = SpillFile(path: Self.spillPath(dir, name), descriptors: descriptors)
        }
        let q = BrokerQueue(name: name, config: config, engine: engine, share: share,
                            visibilityMs: settings.visibilityTimeoutMs, spill: spill)
        if let j = journal, let flusher {
            j.queue = q
            q.journal = j
            flusher.register(j)
        }
        queues[name] = q
        return q
    }

    /// `<dir>/<name>.journal`, the name encoded by `FileNames` (valid queue names stand for themselves).
    static func journalPath(_ dir: String, _ name: String) -> String { dir + "/" + FileNames.encode(name) + journalSuffix }
    static let journalSuffix = ".journal"

    static func spillPath(_ dir: String, _ name: String) -> String { dir + "/" + FileNames.encode(name) + ".spill" }

    /// `queue <name> k=v...`: declares or re-declares. False when a new queue's journal cannot
    /// be created (nothing is declared).
    @discardableResult
    public func declareQueue(_ name: String, _ config: QueueConfig) -> Bool {
        registry.withLock {
            if let q = queues[name] {
                q.lock.withLock { q.lockedReconfigure(config) }
            } else if lockedCreateQueue(name, config) == nil {
                return false
            }
            lockedSaveMeta()
            return true
        }
    }

    /// `delete <queue>`: the queue, its messages, its journal and spill file go. Done entirely
    /// under the registry lock, so a queue of the same name created right after cannot meet the
    /// old one's files.
    public func deleteQueue(_ name: String) -> Bool {
        var wake: [ConnectionWaker] = []
        let found: Bool = registry.withLock {
            guard let q = queues.removeValue(forKey: name) else { return false }
            q.deleted.store(true, ordering: .relaxed)
            // The names copied out first: a live view of the keys would make each change copy
            // the table, and the tries in it.
            for key in Array(exchanges.keys) {
                exchanges[key]!.removeAll(queue: name)
            }
            lockedSaveMeta()
            q.lock.withLock {
                for item in q.lockedFlush() { engine.release(item) }
                for (_, o) in q.open {
                    share.release(o.message.memoryBytes)
                    engine.release(o.message.item)
                }
                q.open.removeAll()
                // Parked readers are woken with nothing: they find the queue deleted.
                for w in q.waiters.removeAll() { wake.append(w.waker) }
                if let j = q.journal {
                    flusher?.unregister(j)
                    j.closeAndRemove()
                    q.journal = nil
                }
                q.spill?.remove()
            }
            return true
        }
        for w in wake { w.wake() }
        return found
    }

    /// `flush <queue>`: drops the ready messages.
    public func flushQueue(_ name: String) -> Bool {
        guard let q = queue(named: name, create: false) else { return false }
        let items = q.lock.withLock { q.lockedFlush() }
        for item in items { engine.release(item) }
        return true
    }

    public func flushAll() {
        let all = registry.withLock { Array(queues.keys) }
        for name in all { _ = flushQueue(name) }
    }

    public var queueNames: [String] { registry.withLock { queues.keys.sorted() } }

    public var exchangeNames: [String] { registry.withLock { exchanges.keys.sorted() } }

    // MARK: messages in

    /// Puts `item` (the caller's reference is taken over when stored) at the tail of `q`.
    /// Returns the flusher ticket to wait for when `--fsync=always` (0 otherwise).
    public func enqueue(_ q: BrokerQueue, item: Item, expiresMs: UInt64, priority: UInt8) -> (EnqueueResult, UInt64) {
        let (result, ticket, _) = enqueueMessage(q, item: item, expiresMs: expiresMs, priority: priority)
        return (result, ticket)
    }

    /// `enqueue`, also returning the id the message was given (0 unless `.stored`).
    func enqueueMessage(_ q: BrokerQueue, item: Item, expiresMs: UInt64, priority: UInt8) -> (EnqueueResult, UInt64, id: UInt64) {
        let bytes = ItemLayout.totalSize(keyLength: item.keyLength, valueLength: item.valueLength)
        let fits = share.reserve(bytes)
        // Past the share: read-behind with a data directory, refused without one.
        guard fits || q.spill != nil else { return (.outOfMemory, 0, 0) }
        let now = clockMs()
        var dead: [DeadLetter] = []
        var wake: [ConnectionWaker] = []
        let m = Message(id: 0, item: item, expiresMs: expiresMs, enqueuedMs: now, priority: priority)
        q.lock.lock()
        let result = q.isDeleted ? .full
            : lockedJournalRefuses(q) ? .journalFailed
            : q.lockedEnqueue(m, nowMs: now, journaled: true, overShare: !fits, dead: &dead, wake: &wake)
        let journaled = q.journal != nil
        let id = result == .stored ? q.nextID - 1 : 0
        q.lock.unlock()
        if result != .stored && fits { share.release(bytes) }
        finish(dead, wake, now)
        let ticket = result == .stored && journaled && settings.fsync == .always ? (flusher?.ticket() ?? 0) : 0
        return (result, ticket, id)
    }

    /// A message whose acknowledgement waited for an fsync that failed (`--fsync=always`, the
    /// disk full or failing past `GroupCommit.failureGraceSeconds`) is taken back out of `q`, so
    /// that the producer can be told it was not stored and a retry stores it once. Counted as a
    /// refusal (`broker_journal_refused`). False when it is no longer ready (a reader was handed
    /// it): then it cannot be withdrawn and the producer must not be told either way.
    public func withdrawUnacknowledged(_ q: BrokerQueue, id: UInt64) -> Bool {
        let withdrawn: Bool = q.lock.withLock {
            guard let m = q.lockedWithdraw(id: id) else { return false }
            q.lockedDrop(m)
            return true
        }
        if withdrawn { journalRefusedCount.wrappingAdd(1, ordering: .relaxed) }
        return withdrawn
    }

    /// Queue lock held: whether a new message must be refused because it could not be written.
    /// Its journal's last flush failed; or, with `--fsync=always`, any journal's did (an
    /// acknowledgement waits for a cycle over every journal, so it would never come, and a
    /// closed connection would leave the producer to send again what the queue kept). Nothing
    /// is kept of a refused message; the refusal is counted (`broker_journal_refused`).
    private func lockedJournalRefuses(_ q: BrokerQueue) -> Bool {
        guard let j = q.journal else { return false }
        let failing = j.file.isFailing || (settings.fsync == .always && flusher?.isFailing == true)
        if failing { journalRefusedCount.wrappingAdd(1, ordering: .relaxed) }
        return failing
    }

    /// `publish`: routes through `exchange` and enqueues one shared body per queue. Returns the
    /// number of queues that took it (nil: no such exchange, or a routing key past the bounds,
    /// which callers check first with `admitRoutingKey` to say so), the fsync ticket, and the
    /// number of queues that refused it because their journal cannot be written.
    public func publish(exchange name: String, routingKey: String, headers: [HeaderPair], item: Item,
                        expiresMs: UInt64, priority: UInt8) -> (Int?, UInt64, refused: Int) {
        enum Found { case targets([String]), exchange(Exchange), none }
        // Under the registry lock only a lookup and a copy of the exchange (its bindings and trie
        // are copy-on-write): routing, however long, holds no broker-wide lock.
        let found: Found = registry.withLock {
            if name == Self.defaultExchange { return .targets(queues[routingKey] != nil ? [routingKey] : []) }
            guard let ex = exchanges[name] else { return .none }
            return .exchange(ex)
        }
        let targets: [String]
        switch found {
        case .none:
            return (nil, 0, 0)
        case .targets(let t):
            targets = t
        case .exchange(let ex):
            guard Self.keyFits(routingKey, kind: ex.kind) else {
                keysTooLongCount.wrappingAdd(1, ordering: .relaxed)
                return (nil, 0, 0)
            }
            var t = ex.route(routingKey: routingKey, headers: headers)
            if t.isEmpty {
                registry.withLock { exchanges[name]?.unroutable += 1 }
                if let alt = ex.alternate { t = [alt] }
            }
            targets = t
        }
        if targets.isEmpty { unroutableCount.wrappingAdd(1, ordering: .relaxed) }
        var taken = 0, refused = 0
        var ticket: UInt64 = 0
        for t in targets {
            guard case .queue(let q) = openQueue(named: t) else { refused += 1; continue }
            engine.retain(item)
            let (r, tk) = enqueue(q, item: item, expiresMs: expiresMs, priority: priority)
            if r == .stored { taken += 1 } else { engine.release(item) }
            if r == .journalFailed { refused += 1 }
            ticket = max(ticket, tk)
        }
        return (taken, ticket, refused)
    }

    // MARK: messages out

    /// The next message of `q` for `consumer` (plain, open or peek); with a waker, an empty
    /// queue parks the reader instead.
    public func take(_ q: BrokerQueue, consumer: UInt64, open: Bool, peek: Bool,
                     waitWith waker: ConnectionWaker? = nil) -> TakeResult {
        // With --fsync=always a plain read's reply waits for its confirm record; while the
        // journals fail it would be given up with its connection, and the message, already out of
        // the queue, lost. The queue reads as empty instead (an open read comes back on close).
        if !open && !peek && settings.fsync == .always && flusher?.isFailing == true {
            journalReadsRefusedCount.wrappingAdd(1, ordering: .relaxed)
            return .empty
        }
        let now = clockMs()
        var dead: [DeadLetter] = []
        q.lock.lock()
        var result = TakeResult.empty
        if let m = q.lockedTake(consumer: consumer, open: open, peek: peek, nowMs: now, dead: &dead) {
            result = .message(m)
        } else if let waker, !peek, !q.isDeleted {
            let w = Waiter<Message>(waker: waker)
            q.waiters.add(w, ParkedReader(consumer: consumer, open: open))
            result = .waiting(w)
        }
        q.lock.unlock()
        finish(dead, [], now)
        return result
    }

    public enum WaitOutcome {
        /// Handed a message; the reader owns a reference to its item.
        case message(Message)
        /// Nothing yet (a wake-up meant for an earlier wait).
        case waiting
        /// Nothing, and no longer waiting (gave up, or the queue was deleted).
        case nothing
    }

    /// Checks on a parked reader; `giveUp` (timeout, closing) ends the wait either way.
    public func collect(_ q: BrokerQueue, _ w: Waiter<Message>, giveUp: Bool) -> WaitOutcome {
        var outcome = w.collect()
        if case .waiting = outcome, giveUp || q.isDeleted {
            // Producers claim and deliver under the queue lock, so under it a cancel finds the
            // waiter either still armed or delivered, never between the two.
            outcome = q.lock.withLock {
                let o = w.cancel()
                q.waiters.remove(w)
                return o
            }
        }
        switch outcome {
        case .delivered(let m, _): return .message(m)
        case .waiting: return .waiting
        case .cancelled: return .nothing
        }
    }

    /// A message handed to a reader that can no longer send it goes back to the head, not
    /// counted as a redelivery (the reader never saw it). Drops the reader's reference.
    public func giveBack(_ q: BrokerQueue, _ m: Message, consumer: UInt64, wasOpen: Bool) {
        let now = clockMs()
        var wake: [ConnectionWaker] = []
        q.lock.withLock {
            if wasOpen, let o = q.open[m.id], o.consumer == consumer {
                q.open[m.id] = nil
                q.journal?.append(.abort, id: m.id)
                q.lockedMakeReady(m, atHead: true, nowMs: now, wake: &wake)
            } else if !wasOpen && !q.isDeleted {
                // It had been removed: it comes back as a new add at the head.
                engine.retain(m.item)
                share.force(m.memoryBytes)
                q.journal?.appendAdd(m, engine: engine)
                q.lockedMakeReady(m, atHead: true, nowMs: now, wake: &wake)
            }
        }
        engine.release(m.item)
        finish([], wake, now)
    }

    /// Confirms one open read (`ack`, `/close`).
    public func confirm(_ q: BrokerQueue, id: UInt64, consumer: UInt64) -> Bool {
        q.lock.withLock { q.lockedConfirm(id: id, consumer: consumer) }
    }

    /// Ids of `consumer`'s open reads on `q`, oldest first.
    public func openIDs(_ q: BrokerQueue, consumer: UInt64) -> [UInt64] {
        q.lock.withLock { q.lockedOpenIDs(consumer: consumer) }
    }

    /// Puts an open read back (`/abort`, `nack requeue`, a closed connection).
    public func requeue(_ q: BrokerQueue, id: UInt64, consumer: UInt64) -> Bool {
        let now = clockMs()
        var dead: [DeadLetter] = []
        var wake: [ConnectionWaker] = []
        let ok = q.lock.withLock { q.lockedRequeue(id: id, consumer: consumer, nowMs: now, dead: &dead, wake: &wake) }
        finish(dead, wake, now)
        return ok
    }

    /// `nack ... reject`.
    public func reject(_ q: BrokerQueue, id: UInt64, consumer: UInt64) -> Bool {
        let now = clockMs()
        var dead: [DeadLetter] = []
        let ok = q.lock.withLock { q.lockedReject(id: id, consumer: consumer, dead: &dead) }
        finish(dead, [], now)
        return ok
    }

    /// Delivers dead letters (outside any queue lock) and wakes readers that were handed messages.
    private func finish(_ dead: [DeadLetter], _ wake: [ConnectionWaker], _ now: UInt64) {
        for w in wake { w.wake() }
        var pending = dead
        var hops = 0
        while !pending.isEmpty && hops < 16 {
            hops += 1
            var next: [DeadLetter] = []
            var wakeMore: [ConnectionWaker] = []
            for d in pending {
                guard let q = queue(named: d.target) else {
                    engine.release(d.message.item)
                    continue
                }
                share.force(d.message.memoryBytes)
                let r: EnqueueResult = q.lock.withLock {
                    if q.isDeleted { return .full }
                    return q.lockedEnqueue(d.message, nowMs: now, journaled: true, dead: &next, wake: &wakeMore)
                }
                if r != .stored {
                    share.release(d.message.memoryBytes)
                    engine.release(d.message.item)
                }
            }
            for w in wakeMore { w.wake() }
            pending = next
        }
        for d in pending { engine.release(d.message.item) }
    }

    /// Every 100 ms: expired heads and timed-out open reads.
    public func tick() {
        let now = clockMs()
        applyLogRetention(nowMs: now)
        let all = registry.withLock { Array(queues.values) }
        for q in all {
            var dead: [DeadLetter] = []
            var wake: [ConnectionWaker] = []
            q.lock.withLock {
                q.lockedExpireHeads(nowMs: now, dead: &dead)
                if !q.open.isEmpty { q.lockedReturnTimedOut(nowMs: now, dead: &dead, wake: &wake) }
            }
            finish(dead, wake, now)
        }
    }

    // MARK: exchanges

    public enum ExchangeResult: Equatable, Sendable {
        case ok
        /// Re-declared with another type (RabbitMQ: PRECONDITION_FAILED).
        case typeMismatch
        case notFound
        /// `maxBindings` reached (a publish holds one body reference per queue it reaches).
        case tooManyBindings
        /// `maxExchanges` reached.
        case tooManyExchanges
        /// The binding key is past `maxKeyBytes`, or `maxTopicWords` on a topic exchange.
        case keyTooLong
        /// The bound queue did not exist and its journal could not be created.
        case journalUnavailable
    }

    /// Whether `key` is within the bounds for an exchange of `kind` (nil: no such exchange, so
    /// only the byte bound). Words are counted by their dots, on the bytes.
    public static func keyFits(_ key: String, kind: ExchangeKind?) -> Bool {
        var k = key
        return k.withUTF8 { bytes in
            guard bytes.count <= maxKeyBytes else { return false }
            // Fewer bytes than the word bound cannot hold more words than it.
            guard kind == .topic, bytes.count >= maxTopicWords else { return true }
            var words = 1
            for b in bytes where b == UInt8(ascii: ".") { words += 1 }
            return words <= maxTopicWords
        }
    }

    /// `publish`'s routing key, checked before its body is read against the bounds of the
    /// exchange it names; a refusal is counted (`broker_keys_too_long`).
    public func admitRoutingKey(_ key: String, exchange: String) -> Bool {
        // Only a key with words enough to matter on a topic exchange needs the exchange's kind.
        let fits = Self.keyFits(key, kind: .topic)
            || (Self.keyFits(key, kind: nil) && registry.withLock { exchanges[exchange]?.kind } != .topic)
        if !fits { keysTooLongCount.wrappingAdd(1, ordering: .relaxed) }
        return fits
    }

    public func declareExchange(_ name: String, kind: ExchangeKind, alternate: String?) -> ExchangeResult {
        registry.withLock {
            if let ex = exchanges[name] {
                if ex.kind != kind { return .typeMismatch }
                exchanges[name]!.alternate = alternate
            } else {
                // Each exchange holds memory (its bindings, a topic's trie): their number is bounded
                // as the queues' is.
                guard exchanges.count < Self.maxExchanges else {
                    limitRefusalCount.wrappingAdd(1, ordering: .relaxed)
                    return .tooManyExchanges
                }
                exchanges[name] = Exchange(name: name, kind: kind, alternate: alternate)
            }
            lockedSaveMeta()
            return .ok
        }
    }

    public func deleteExchange(_ name: String) -> Bool {
        registry.withLock {
            guard exchanges.removeValue(forKey: name) != nil else { return false }
            lockedSaveMeta()
            return true
        }
    }

    public func bind(exchange: String, _ b: Binding) -> ExchangeResult {
        let r: ExchangeResult = registry.withLock {
            // No copy of the exchange is kept while it is changed: the change would copy its trie.
            guard let kind = exchanges[exchange]?.kind else { return .notFound }
            guard Self.keyFits(b.key, kind: kind) else { return .keyTooLong }
            let bound = exchanges[exchange]!.bindings.contains(b)
            if exchanges[exchange]!.bindings.count >= Self.maxBindings && !bound {
                limitRefusalCount.wrappingAdd(1, ordering: .relaxed)
                return .tooManyBindings
            }
            if queues[b.queue] == nil && lockedCreateQueue(b.queue, QueueConfig()) == nil { return .journalUnavailable }
            if !bound { exchanges[exchange]!.add(b) }
            lockedSaveMeta()
            return .ok
        }
        if r == .keyTooLong { keysTooLongCount.wrappingAdd(1, ordering: .relaxed) }
        return r
    }

    public func unbind(exchange: String, queue: String, key: String) -> ExchangeResult {
        registry.withLock {
            guard exchanges[exchange] != nil else { return .notFound }
            guard exchanges[exchange]!.remove(queue: queue, key: key) else { return .notFound }
            lockedSaveMeta()
            return .ok
        }
    }

    public var unroutable: UInt64 { unroutableCount.load(ordering: .relaxed) }
    /// Routing and binding keys refused by `maxKeyBytes` or `maxTopicWords`.
    public var keysTooLong: UInt64 { keysTooLongCount.load(ordering: .relaxed) }
    public var limitRefusals: UInt64 { limitRefusalCount.load(ordering: .relaxed) }
    /// Broker-port connections closed for a request line longer than `maxPlainLine`.
    public var linesTooLong: UInt64 { linesTooLongCount.load(ordering: .relaxed) }
    public func noteLineTooLong() { linesTooLongCount.wrappingAdd(1, ordering: .relaxed) }
    /// Broker-port connections that stopped processing while parked for an fsync because their
    /// held replies reached the cap (256 KB), once per wait.
    public var heldReplyCapHits: UInt64 { heldReplyCapCount.load(ordering: .relaxed) }
    public func noteHeldReplyCap() { heldReplyCapCount.wrappingAdd(1, ordering: .relaxed) }
    /// Broker-port binary requests whose header was refused (the connection closed after it).
    public var binaryHeaderInvalid: UInt64 { binaryHeaderInvalidCount.load(ordering: .relaxed) }
    public func noteBinaryHeaderInvalid() { binaryHeaderInvalidCount.wrappingAdd(1, ordering: .relaxed) }
}
