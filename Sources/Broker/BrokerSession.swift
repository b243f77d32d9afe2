// One client's consumer state on the broker, whatever protocol it speaks (DESIGN.md §1, §5).
//
// A protocol module makes one session per connection and calls it with queues and ids; the
// session answers with result enums and messages, never with bytes or reply text. It holds:
// - the consumer identity: an anonymous id, or the shared id of a named consumer (Consumer.swift);
// - the reads this consumer has open, per queue, oldest first, and the prefetch check on them;
// - at most one parked wait for a message: the queue waiter it registered, which a producer hands
//   a message to (waking the connection through the session's `ConnectionWaker`), and which
//   `resumeWait(timedOut:)` collects or cancels. The timer itself is the server's (`.park`);
// - the durability ticket: the journal cycle whose fsync the replies given so far must wait
//   for (`--fsync=always`: a STORED, or a read whose open or removal record is not on disk yet),
//   and the messages whose STORED waits: when the fsync fails for good they are withdrawn from
//   their queues (`withdrawHeldStores`), so that the producer is told "not stored" rather than
//   having its connection closed with the message kept (a retry would store it twice);
// - on `close()`, a message handed to the parked wait goes back unsent, and open reads go back
//   to their queues in their original order, counted as redelivered (RabbitMQ: consumer gone).
// A session is used only on its connection's worker thread; the broker and queues it calls are
// thread-safe.
import CacheEngine
import Platform

public final class BrokerSession {
    public let broker: Broker
    /// The id open reads and waiters are recorded under.
    public let consumer: UInt64
    /// The consumer's name, nil for an anonymous (per-session) consumer.
    public let consumerName: String?
    private let waker: ConnectionWaker

    /// Open reads of this session, per queue, oldest first.
    private var openReads: [ObjectIdentifier: (queue: BrokerQueue, ids: [UInt64])] = [:]

    /// The parked wait for a message, if any.
    private var parked: (queue: BrokerQueue, waiter: Waiter<Message>, open: Bool)?

    /// Highest flusher ticket the replies given so far wait for (0: none).
    var durableTicket: UInt64 = 0
    /// Registered with the flusher while the replies wait for its cycle.
    private var durableWait: Waiter<Void>?
    /// Messages enqueued since the replies began to wait, with the caller's token for each reply
    /// (nil: none was given), and whether anything else waits (a read, a publish, a topic).
    private var heldStores: [(queue: BrokerQueue, id: UInt64, token: Int?)] = []
    private var heldOthers = false

    /// The last queue named (saves the registry lookup and a String).
    private var cachedName: [UInt8] = []
    private var cachedQueue: BrokerQueue?

    /// Topic groups this session is a member of or holds open reads in (BrokerSession+LogGroups.swift).
    var logGroups: [(topic: LogTopic, group: String)] = []
    /// When this session last told its groups it is alive (BrokerSession+LogGroups.swift).
    var lastLogHeartbeatMs: UInt64 = 0
    /// A topic read of this session is parked (`/timeout=`): its members are alive meanwhile.
    var isLogReadParked = false

    /// `waker` wakes the session's connection when a parked wait is handed a message or the
    /// journal's fsync completes. A `consumerName` makes the session a member of that consumer.
    public init(broker: Broker, waker: ConnectionWaker, consumerName: String? = nil) {
        self.broker = broker
        self.waker = waker
        self.consumerName = consumerName
        consumer = consumerName.map { broker.consumerID(named: $0) } ?? broker.newConsumerID()
    }

    // MARK: queues

    /// The queue called `name` (created on first use, as Kestrel does), or nil for an invalid
    /// name or past the broker's queue limit.
    public func queue(named name: UnsafeRawBufferPointer) -> BrokerQueue? {
        if case .queue(let q) = openQueue(named: name) { return q }
        return nil
    }

    /// As `queue(named:)`, saying why there is none (`.none` for an invalid name).
    public func openQueue(named name: UnsafeRawBufferPointer) -> Broker.QueueLookup {
        if let q = cachedQueue, !q.isDeleted, cachedName.count == name.count,
           cachedName.withUnsafeBytes({ memcmp($0.baseAddress!, name.baseAddress!, name.count) == 0 }) {
            return .queue(q)
        }
        guard Broker.isValidName(name) else { return .none }
        let found = broker.openQueue(named: String(decoding: name, as: UTF8.self))
        if case .queue(let q) = found {
            // In place: a connection alternating between queues reuses the bytes' storage.
            cachedName.removeAll(keepingCapacity: true)
            cachedName.append(contentsOf: name)
            cachedQueue = q
        }
        return found
    }

    /// Deletes the queue called `name` (false: none); this session's open reads of it go with it.
    public func deleteQueue(_ name: String) -> Bool {
        let found = broker.deleteQueue(name)
        if found { openReads = openReads.filter { !$0.value.queue.isDeleted } }
        return found
    }

    // MARK: messages in

    /// Puts `item` at the tail of `q` (the reference is taken over when `.stored`); the reply
    /// waits for the record's fsync under `--fsync=always`. `replyToken`, when given, comes back
    /// from `withdrawHeldStores` if that fsync fails: the caller's handle on the reply to change.
    /// Without one (a reply that cannot be changed) a failed fsync closes the connection.
    public func enqueue(_ q: BrokerQueue, item: Item, expiresMs: UInt64, priority: UInt8,
                        replyToken: Int? = nil, replyChangeable: Bool = false) -> EnqueueResult {
        let (result, ticket, id) = broker.enqueueMessage(q, item: item, expiresMs: expiresMs, priority: priority)
        if result == .stored && ticket != 0 {
            durableTicket = max(durableTicket, ticket)
            heldStores.append((q, id, replyToken))
            if !replyChangeable { heldOthers = true }
        }
        return result
    }

    /// A reply of another kind (a read, a publish, a topic append or commit) waits for `ticket`.
    func hold(_ ticket: UInt64) {
        guard ticket != 0 else { return }
        durableTicket = max(durableTicket, ticket)
        heldOthers = true
    }

    /// Routes `item` through `exchange` (the caller keeps its reference): the number of queues that
    /// took it (nil when there is no such exchange) and of those whose journal refused it.
    public func publish(exchange: String, routingKey: String, headers: [HeaderPair], item: Item,
                        expiresMs: UInt64, priority: UInt8) -> (taken: Int?, refused: Int) {
        let (taken, ticket, refused) = broker.publish(exchange: exchange, routingKey: routingKey, headers: headers,
                                                      item: item, expiresMs: expiresMs, priority: priority)
        hold(ticket)
        return (taken, refused)
    }

    // MARK: messages out

    public enum ReadResult {
        /// The reader owns a reference to the message's item.
        case message(Message)
        case empty
        /// Parked: `resumeWait` collects the message once the connection is woken.
        case waiting
    }

    /// The next message of `q`: removed, or kept open for this consumer (`open`), or left in place
    /// (`peek`). With `waitMs > 0` (and not `peek`), an empty queue parks the session instead.
    public func read(_ q: BrokerQueue, open: Bool, peek: Bool, waitMs: Int = 0) -> ReadResult {
        let canWait = waitMs > 0 && !peek
        switch broker.take(q, consumer: consumer, open: open, peek: peek, waitWith: canWait ? waker : nil) {
        case .message(let m):
            if open { noteOpen(q, m.id) }
            if !peek { holdReadForDisk() }
            return .message(m)
        case .empty:
            return .empty
        case .waiting(let w):
            parked = (q, w, open)
            return .waiting
        }
    }

    public enum WaitResult {
        /// The parked read got a message (the reader owns a reference to its item).
        case message(Message)
        /// Still waiting (a wake-up meant for an earlier wait).
        case waiting
        /// No message: timed out, the queue was deleted, or nothing was parked.
        case nothing
    }

    /// True while a read is parked.
    public var isWaiting: Bool { parked != nil }

    /// The connection was woken or its park timer fired (`timedOut`: the wait is cancelled).
    public func resumeWait(timedOut: Bool) -> WaitResult {
        guard let p = parked else { return .nothing }
        switch broker.collect(p.queue, p.waiter, giveUp: timedOut) {
        case .waiting:
            return .waiting
        case .message(let m):
            parked = nil
            if p.open { noteOpen(p.queue, m.id) }
            holdReadForDisk()
            return .message(m)
        case .nothing:
            parked = nil
            return .nothing
        }
    }

    // MARK: open reads

    /// Open reads of this session on `q`.
    public func openCount(_ q: BrokerQueue) -> Int {
        openReads[ObjectIdentifier(q)]?.ids.count ?? 0
    }

    /// The prefetch check: whether `q` has room for one more open read of this session beyond
    /// `pending` ones the same request opens before it. `afterClosing`: the request first ends
    /// this session's open reads of `q`, so only `pending` counts.
    public func hasRoomToOpen(_ q: BrokerQueue, pending: Int, afterClosing: Bool = false) -> Bool {
        let prefetch = broker.settings.prefetch
        if afterClosing { return pending < prefetch }
        if openCount(q) + pending >= prefetch {
            // Some may have timed out and gone back to the queue meanwhile.
            let id = ObjectIdentifier(q)
            let live = broker.openIDs(q, consumer: consumer)
            openReads[id] = live.isEmpty ? nil : (q, live)
        }
        return openCount(q) + pending < prefetch
    }

    /// Confirms every open read of this session on `q` (Kestrel's `/close`).
    public func confirmOpenReads(_ q: BrokerQueue) {
        guard let entry = openReads.removeValue(forKey: ObjectIdentifier(q)) else { return }
        for id in entry.ids { _ = broker.confirm(q, id: id, consumer: consumer) }
    }

    /// Puts every open read of this session on `q` back at the head, in order (Kestrel's `/abort`).
    public func abortOpenReads(_ q: BrokerQueue) {
        guard let entry = openReads.removeValue(forKey: ObjectIdentifier(q)) else { return }
        requeueInOrder(q, entry.ids)
    }

    /// How `settle` ends open reads.
    public enum Settlement: Sendable {
        /// Done with (`ack`).
        case confirm
        /// Back at the head of the queue, in their original order, counted as redelivered.
        case requeue
        /// To the queue's dead-letter queue, or dropped.
        case reject
    }

    /// Ends those of `ids` that are open reads of this session on `q`; returns how many ended.
    public func settle(_ q: BrokerQueue, ids: [UInt64], _ how: Settlement) -> Int {
        var mine: [UInt64] = []
        for id in ids where forgetOpen(q, id) { mine.append(id) }
        switch how {
        case .confirm: return mine.reduce(0) { $0 + (broker.confirm(q, id: $1, consumer: consumer) ? 1 : 0) }
        case .reject: return mine.reduce(0) { $0 + (broker.reject(q, id: $1, consumer: consumer) ? 1 : 0) }
        case .requeue: return requeueInOrder(q, mine)
        }
    }

    private func noteOpen(_ q: BrokerQueue, _ id: UInt64) {
        openReads[ObjectIdentifier(q), default: (q, [])].ids.append(id)
    }

    /// Forgets `id` among this session's open reads of `q`; false if it was not one.
    private func forgetOpen(_ q: BrokerQueue, _ id: UInt64) -> Bool {
        let key = ObjectIdentifier(q)
        guard let i = openReads[key]?.ids.firstIndex(of: id) else { return false }
        openReads[key]!.ids.remove(at: i)
        if openReads[key]!.ids.isEmpty { openReads[key] = nil }
        return true
    }

    /// Each returns to the head of its level: newest first, so they end up in their old order.
    @discardableResult
    private func requeueInOrder(_ q: BrokerQueue, _ ids: [UInt64]) -> Int {
        var done = 0
        for id in ids.sorted(by: >) where broker.requeue(q, id: id, consumer: consumer) { done += 1 }
        return done
    }

    // MARK: durability

    /// Whether replies given so far wait for the journal's fsync.
    public var holdsReplies: Bool { durableTicket != 0 }

    public enum DurableState: Sendable {
        /// Nothing waits (any more): the held replies may go out.
        case durable
        /// Not yet on disk; the session's waker is called when that changes.
        case waiting
        /// The journal cannot be written: the held replies must not go out.
        case failed
    }

    /// Where the replies given so far stand against the journal's fsync.
    public func waitDurable() -> DurableState {
        guard durableTicket != 0, let flusher = broker.flusher else { return .durable }
        // Still registered and not won: a wake-up meant for something else.
        if let w = durableWait, case .waiting = w.collect() { return .waiting }
        durableWait = nil
        let w = Waiter<Void>(waker: waker)
        switch flusher.waitDurable(durableTicket, waiter: w) {
        case .waiting:
            durableWait = w
            return .waiting
        case .failed:
            return .failed
        case .durable:
            forgetHeld()
            return .durable
        }
    }

    /// The fsync the replies waited for has failed for good (`waitDurable` said `.failed`): each
    /// message whose STORED waits is taken back out of its queue where it is still ready.
    /// Returns the reply tokens of those withdrawn, and whether the held replies can now go out
    /// with those replies changed to a refusal: false when a message could not be withdrawn (a
    /// reader has it), a reply cannot be changed, or replies of another kind wait (then the
    /// connection must close, as before). Either way nothing is held any more.
    public func withdrawHeldStores() -> (tokens: [Int], replyable: Bool) {
        var tokens: [Int] = []
        var replyable = !heldOthers
        for s in heldStores {
            if broker.withdrawUnacknowledged(s.queue, id: s.id) {
                if let t = s.token { tokens.append(t) }
            } else {
                replyable = false
            }
        }
        forgetHeld()
        return (tokens, replyable)
    }

    /// Nothing waits any more; the list keeps its storage, so a held store in the next fsync
    /// cycle allocates nothing.
    private func forgetHeld() {
        durableTicket = 0
        heldStores.removeAll(keepingCapacity: true)
        heldOthers = false
        if let w = durableWait {
            durableWait = nil
            _ = w.cancel()
        }
    }

    /// With `--fsync=always` a read is answered once its open (or removal) record is on disk, so
    /// that a crash can neither hand the message out again unmarked nor lose the mark.
    private func holdReadForDisk() {
        guard broker.settings.fsync == .always, let flusher = broker.flusher else { return }
        hold(flusher.ticket())
    }

    // MARK: closing

    /// The client is gone: a message handed to the parked wait goes back unsent, and open reads
    /// return to their queues in their original order, counted as redelivered.
    public func close() {
        if let p = parked {
            parked = nil
            if case .message(let m) = broker.collect(p.queue, p.waiter, giveUp: true) {
                broker.giveBack(p.queue, m, consumer: consumer, wasOpen: p.open)
            }
        }
        for (_, entry) in openReads { requeueInOrder(entry.queue, entry.ids) }
        openReads.removeAll()
        closeLogGroups()
    }
}

#if canImport(Glibc)
import Glibc
#endif
