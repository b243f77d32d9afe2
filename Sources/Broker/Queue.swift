// One named queue: ready messages by priority level (FIFO within a level, highest level first),
// reads that are open (handed out, not yet confirmed), and parked readers waiting for a message.
// Everything is guarded by the queue's own mutex; the broker never holds two queue locks at once
// (dead letters are collected under one lock and delivered after it is released).
import CacheEngine
import Platform
import Synchronization

/// How a queue was declared (`queue <name> k=v ...`); defaults are Kestrel's: unbounded, FIFO.
public struct QueueConfig: Sendable, Equatable {
    public var maxItems = 0
    public var maxBytes = 0
    public var maxPriority = 0
    /// Per-queue message TTL in ms (0 = none); a message's own exptime may be shorter.
    public var messageTTLms: UInt64 = 0
    public var deadLetter: String? = nil
    /// A message is delivered at most this many times (0 = no limit).
    public var deliveryLimit = 0
    public var dropOldest = false
    public init() {}
}

/// Outcome of putting a message into a queue.
public enum EnqueueResult: Equatable, Sendable {
    case stored
    /// max_items / max_bytes with overflow=reject.
    case full
    /// The broker's memory share is spent.
    case outOfMemory
    /// The queue's journal cannot be written (or, with `--fsync=always`, some journal): nothing
    /// was kept.
    case journalFailed
}

/// What a queue knows of a reader parked on it (its `Waiter` is in the queue's `WaitList`): a
/// producer hands it a message directly (FIFO among waiters), recorded under this consumer.
struct ParkedReader {
    let consumer: UInt64
    /// The read stays open until confirmed.
    let open: Bool
}

/// A read handed out and not yet confirmed.
struct OpenRead {
    var message: Message
    let consumer: UInt64
    /// Unix ms after which it returns to the queue (0 = only when its connection closes).
    let deadlineMs: UInt64
}

/// A message leaving a queue for its dead-letter queue.
struct DeadLetter {
    var message: Message
    let target: String
}

public final class BrokerQueue: @unchecked Sendable {
    // Safe to share: every `var` is guarded by `lock`; `name` and `engine` are constant;
    // `isDeleted` is atomic so that handlers can drop a cached reference without the lock.
    public let name: String
    let engine: CacheEngine
    let share: MemoryShare
    /// `--visibility-timeout` in ms (0: open reads wait for their connection).
    let visibilityMs: UInt64
    let lock = PlainMutex()
    let deleted = Atomic<Bool>(false)
    var config: QueueConfig
    var levels: [MessageRing]
    var readyBytes = 0
    var readyCount = 0
    var open: [UInt64: OpenRead] = [:]
    var waiters = WaitList<Message, ParkedReader>()
    var nextID: UInt64 = 1
    var journal: QueueJournal?
    /// Read-behind store (data directory only): bodies of messages past the memory share.
    let spill: SpillFile?
    var spilledBytes = 0
    var counters = QueueCounters()

    init(name: String, config: QueueConfig, engine: CacheEngine, share: MemoryShare, visibilityMs: UInt64,
         spill: SpillFile? = nil) {
        self.spill = spill
        self.name = name
        self.config = config
        self.engine = engine
        self.share = share
        self.visibilityMs = visibilityMs
        levels = Array(repeating: MessageRing(), count: config.maxPriority + 1)
    }

    deinit {
        for i in levels.indices {
            for m in levels[i].removeAll() where !m.isSpilled { engine.release(m.item) }
            levels[i].deallocate()
        }
        for o in open.values { engine.release(o.message.item) }
    }

    public var isDeleted: Bool { deleted.load(ordering: .relaxed) }

    /// Applies a new declaration; priority levels are re-bucketed.
    func lockedReconfigure(_ c: QueueConfig) {
        if c.maxPriority != config.maxPriority {
            var all: [Message] = []
            for i in levels.indices.reversed() { all += levels[i].removeAll() }
            for i in levels.indices { levels[i].deallocate() }
            levels = Array(repeating: MessageRing(), count: c.maxPriority + 1)
            for var m in all.sorted(by: { $0.id < $1.id }) {
                m.priority = UInt8(min(Int(m.priority), c.maxPriority))
                levels[Int(m.priority)].pushBack(m)
            }
        }
        config = c
    }

    // MARK: putting messages in

    /// Adds a message at the tail of its level (or hands it to the first waiter). Takes over the
    /// caller's item reference when it returns `.stored`. `overShare`: the memory share had no
    /// room for it, so unless a waiter takes it at once its body goes to the spill file.
    func lockedEnqueue(_ m: Message, nowMs: UInt64, journaled: Bool, overShare: Bool = false,
                       dead: inout [DeadLetter], wake: inout [ConnectionWaker]) -> EnqueueResult {
        var m = m
        m.priority = UInt8(min(Int(m.priority), config.maxPriority))
        if config.messageTTLms > 0 {
            let ttl = nowMs + config.messageTTLms
            if m.expiresMs == 0 || ttl < m.expiresMs { m.expiresMs = ttl }
        }
        let over = (config.maxItems > 0 && readyCount + 1 > config.maxItems)
            || (config.maxBytes > 0 && readyBytes + m.bodyBytes > config.maxBytes)
        if over {
            if !config.dropOldest { return .full }
            while readyCount > 0 && ((config.maxItems > 0 && readyCount + 1 > config.maxItems)
                    || (config.maxBytes > 0 && readyBytes + m.bodyBytes > config.maxBytes)) {
                guard let old = lockedPopReady() else { break }
                counters.discarded += 1
                journal?.append(.remove, id: old.id)
                lockedDeadLetterOrRelease(old, reason: .maxlen, into: &dead)
            }
        }
        m.id = nextID
        nextID += 1
        m.enqueuedMs = nowMs
        counters.totalItems += 1
        if journaled { journal?.appendAdd(m, engine: engine) }
        if overShare {
            if waiters.hasArmed {
                share.force(m.memoryBytes)
            } else if let spill, let offset = spill.store(m.item, engine: engine) {
                engine.release(m.item)
                m.spillOffset = offset
                spilledBytes += m.length
            } else {
                // The spill file failed: keep it in memory rather than lose it.
                share.force(m.memoryBytes)
            }
        }
        lockedMakeReady(m, atHead: false, nowMs: nowMs, wake: &wake)
        return .stored
    }

    /// Brings a spilled body back into a slab item (the share is charged for it). False when
    /// there is no memory or the spill file cannot be read: the message stays spilled.
    func lockedLoad(_ m: inout Message) -> Bool {
        guard m.isSpilled else { return true }
        guard let spill else { return false }
        let empty = UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: 8), count: 0)
        guard case .item(let item) = engine.allocate(key: empty, flags: m.flags, expiry: 0, valueLength: m.length) else {
            return false
        }
        guard spill.load(m.spillOffset, into: item, engine: engine) else {
            engine.release(item)
            return false
        }
        spill.release()
        spilledBytes -= m.length
        m.item = item
        m.spillOffset = -1
        share.force(m.memoryBytes)
        return true
    }

    /// A message leaves without being delivered or dead-lettered: its memory or spill goes.
    func lockedDrop(_ m: Message) {
        if m.isSpilled {
            spill?.release()
            spilledBytes -= m.length
        } else {
            share.release(m.memoryBytes)
            engine.release(m.item)
        }
    }

    /// A ready message goes to the first live waiter, or into its level: at the tail, or (a
    /// returning message, `atHead`) back at its place by id.
    func lockedMakeReady(_ m: Message, atHead: Bool, nowMs: UInt64, wake: inout [ConnectionWaker]) {
        var m = m
        // A read opened before a re-declaration lowered max_priority comes back within range.
        m.priority = UInt8(min(Int(m.priority), config.maxPriority))
        // No memory to load a spilled body: it waits in the queue; the reader keeps waiting.
        if waiters.hasArmed && lockedLoad(&m), let (w, reader) = waiters.claimFirst() {
            engine.retain(m.item)
            lockedHandOut(m, to: reader.consumer, open: reader.open, nowMs: nowMs)
            w.deliver(m)
            wake.append(w.waker)
            return
        }
        if atHead { levels[Int(m.priority)].insertInOrder(m) } else { levels[Int(m.priority)].pushBack(m) }
        readyCount += 1
        readyBytes += m.bodyBytes
    }

    // MARK: taking messages out

    /// Pops the head of the highest non-empty level.
    func lockedPopReady() -> Message? {
        for i in levels.indices.reversed() where !levels[i].isEmpty {
            let m = levels[i].popFirst()!
            readyCount -= 1
            readyBytes -= m.bodyBytes
            return m
        }
        return nil
    }

    /// Takes ready message `id` back out, as if it had never been enqueued (its add record is
    /// followed by a remove): nil when it is not ready any more (handed to a reader, expired).
    /// The caller drops it (`lockedDrop`).
    func lockedWithdraw(id: UInt64) -> Message? {
        for i in levels.indices {
            guard let m = levels[i].remove(id: id) else { continue }
            readyCount -= 1
            readyBytes -= m.bodyBytes
            counters.totalItems -= 1
            journal?.append(.remove, id: id)
            return m
        }
        return nil
    }

    func lockedPeekReady() -> Message? {
        for i in levels.indices.reversed() where !levels[i].isEmpty { return levels[i].first }
        return nil
    }

    /// Drops expired messages at the heads (RabbitMQ expires at the head too) into `dead`.
    func lockedExpireHeads(nowMs: UInt64, dead: inout [DeadLetter]) {
        for i in levels.indices {
            while let m = levels[i].first, m.expiresMs != 0, m.expiresMs <= nowMs {
                _ = levels[i].popFirst()
                readyCount -= 1
                readyBytes -= m.bodyBytes
                counters.expiredItems += 1
                journal?.append(.remove, id: m.id)
                lockedDeadLetterOrRelease(m, reason: .expired, into: &dead)
            }
        }
    }

    /// The next live message for `consumer`: removed (plain get), kept open (reliable read) or
    /// left in place (peek). The caller gets its own item reference.
    func lockedTake(consumer: UInt64, open reliable: Bool, peek: Bool, nowMs: UInt64,
                    dead: inout [DeadLetter]) -> Message? {
        lockedExpireHeads(nowMs: nowMs, dead: &dead)
        if peek {
            guard let m = lockedPeekReady() else { return nil }
            if m.isSpilled {
                // Load it in place so the peek and the later read see the same body.
                for i in levels.indices.reversed() where !levels[i].isEmpty {
                    var head = levels[i].popFirst()!
                    let ok = lockedLoad(&head)
                    levels[i].pushFront(head)
                    guard ok else { return nil }
                    engine.retain(head.item)
                    return head
                }
            }
            // Readers that never read their replies must not wrap the body's 16-bit count.
            if engine.isOverReferenced(m.item) { return nil }
            engine.retain(m.item)
            return m
        }
        guard var m = lockedPopReady() else { return nil }
        if !lockedLoad(&m) {
            // No memory to bring it back: it keeps its place; the reader sees an empty queue.
            levels[Int(m.priority)].pushFront(m)
            readyCount += 1
            readyBytes += m.bodyBytes
            return nil
        }
        counters.lastAgeMs = nowMs >= m.enqueuedMs ? nowMs - m.enqueuedMs : 0
        engine.retain(m.item)
        lockedHandOut(m, to: consumer, open: reliable, nowMs: nowMs)
        return m
    }

    /// Bookkeeping of a message leaving the ready set for a reader. The queue's reference moves
    /// to the open read, or is dropped after the caller took its own.
    func lockedHandOut(_ m: Message, to consumer: UInt64, open reliable: Bool, nowMs: UInt64) {
        if reliable {
            let deadline = visibilityMs > 0 ? nowMs + visibilityMs : 0
            open[m.id] = OpenRead(message: m, consumer: consumer, deadlineMs: deadline)
            journal?.append(.open, id: m.id)
        } else {
            journal?.append(.confirm, id: m.id)
            share.release(m.memoryBytes)
            // The reader's own reference (taken before this) keeps the body alive.
            engine.release(m.item)
        }
    }

    /// Removes every ready message (`flush <queue>`); open reads stay open.
    func lockedFlush() -> [Item] {
        var items: [Item] = []
        for i in levels.indices {
            for m in levels[i].removeAll() {
                if m.isSpilled {
                    spill?.release()
                    spilledBytes -= m.length
                    continue
                }
                items.append(m.item)
                share.release(m.memoryBytes)
            }
        }
        readyCount = 0
        readyBytes = 0
        journal?.append(.flush, id: 0)
        return items
    }

    var liveWaiters: Int { waiters.armedCount }
}

/// Per-queue counters for `stats` (Kestrel's names where Kestrel has them).
struct QueueCounters {
    var totalItems: UInt64 = 0
    var expiredItems: UInt64 = 0
    var discarded: UInt64 = 0
    var redeliveries: UInt64 = 0
    var deadLettered: UInt64 = 0
    var lastAgeMs: UInt64 = 0
}

/// The part of `-m` queue messages may hold (`--broker-memory`), shared by every queue.
public final class MemoryShare: Sendable {
    public let limit: Int
    private let used = Atomic<Int>(0)

    public init(limit: Int) { self.limit = limit }

    public var inUse: Int { used.load(ordering: .relaxed) }

    /// Takes `bytes` if they fit.
    func reserve(_ bytes: Int) -> Bool {
        var current = used.load(ordering: .relaxed)
        while true {
            if current + bytes > limit { return false }
            let (done, now) = used.compareExchange(expected: current, desired: current + bytes, ordering: .relaxed)
            if done { return true }
            current = now
        }
    }

    /// Takes `bytes` whether or not they fit (recovery, dead letters already in memory).
    func force(_ bytes: Int) { used.wrappingAdd(bytes, ordering: .relaxed) }

    func release(_ bytes: Int) { used.wrappingSubtract(bytes, ordering: .relaxed) }
}
