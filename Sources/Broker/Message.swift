// A queue message: its body is an unlinked slab item (same allocator and `-m` budget as the
// cache, never in the cache's hash table or LRU, so never evicted); the queue keeps the delivery
// facts beside it. A message routed to several queues shares one item, one reference per queue.
import CacheEngine

public struct Message {
    /// Per-queue id: journal key, `gets` CAS field, `ack`/`nack` argument.
    public var id: UInt64
    /// Body and client flags; not valid while the body is spilled to disk.
    public var item: Item
    /// Where the body is in the queue's spill file (read-behind), or -1 when it is in `item`.
    public var spillOffset: Int64 = -1
    /// Body length and client flags, kept here too so a spilled message needs no item.
    public var length: Int
    public var flags: UInt32
    /// Unix ms; 0 = never.
    public var expiresMs: UInt64
    /// Unix ms when it entered this queue.
    public var enqueuedMs: UInt64
    public var priority: UInt8
    /// Times it came back to the queue after a delivery (abort, nack requeue, close, timeout).
    public var redeliveries: UInt32
    /// Times it was dead-lettered, and why the last time.
    public var deaths: UInt32
    public var deathReason: DeathReason

    public init(id: UInt64, item: Item, expiresMs: UInt64, enqueuedMs: UInt64, priority: UInt8,
                redeliveries: UInt32 = 0, deaths: UInt32 = 0, deathReason: DeathReason = .none) {
        self.init(id: id, item: item, spillOffset: -1, length: item.valueLength, flags: item.clientFlags,
                  expiresMs: expiresMs, enqueuedMs: enqueuedMs, priority: priority, redeliveries: redeliveries,
                  deaths: deaths, deathReason: deathReason)
    }

    /// A message whose body waits in the spill file (its `item` is a placeholder, never read).
    init(id: UInt64, spilledAt offset: Int64, length: Int, flags: UInt32, expiresMs: UInt64, enqueuedMs: UInt64,
         priority: UInt8, redeliveries: UInt32, deaths: UInt32, deathReason: DeathReason) {
        self.init(id: id, item: Item(UnsafeMutableRawPointer(bitPattern: 0x8)!), spillOffset: offset, length: length,
                  flags: flags, expiresMs: expiresMs, enqueuedMs: enqueuedMs, priority: priority,
                  redeliveries: redeliveries, deaths: deaths, deathReason: deathReason)
    }

    private init(id: UInt64, item: Item, spillOffset: Int64, length: Int, flags: UInt32, expiresMs: UInt64,
                 enqueuedMs: UInt64, priority: UInt8, redeliveries: UInt32, deaths: UInt32, deathReason: DeathReason) {
        self.id = id
        self.item = item
        self.spillOffset = spillOffset
        self.length = length
        self.flags = flags
        self.expiresMs = expiresMs
        self.enqueuedMs = enqueuedMs
        self.priority = priority
        self.redeliveries = redeliveries
        self.deaths = deaths
        self.deathReason = deathReason
    }

    public var isSpilled: Bool { spillOffset >= 0 }
    /// Bytes of the body (what `queue_<name>_bytes` counts).
    public var bodyBytes: Int { length }
    /// Bytes of slab memory the body takes (what the broker's memory share counts); none while spilled.
    public var memoryBytes: Int { isSpilled ? 0 : ItemLayout.totalSize(keyLength: 0, valueLength: length) }
}

/// Why a message was dead-lettered (RabbitMQ's x-death reasons).
public enum DeathReason: UInt8, Sendable {
    case none = 0, expired = 1, rejected = 2, deliveryLimit = 3, maxlen = 4

    public var name: String {
        switch self {
        case .none: "none"
        case .expired: "expired"
        case .rejected: "rejected"
        case .deliveryLimit: "delivery_limit"
        case .maxlen: "maxlen"
        }
    }
}

/// A FIFO of messages in one growable ring: push at either end, pop at the head. No allocation
/// once it has grown to the queue's working size.
struct MessageRing {
    private var storage: UnsafeMutablePointer<Message>?
    private var capacity = 0
    private var head = 0
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    mutating func pushBack(_ m: Message) {
        if count == capacity { grow() }
        (storage! + (head + count) % capacity).initialize(to: m)
        count += 1
    }

    mutating func pushFront(_ m: Message) {
        if count == capacity { grow() }
        head = (head + capacity - 1) % capacity
        (storage! + head).initialize(to: m)
        count += 1
    }

    /// Puts a returning message back where its id places it (RabbitMQ requeues to the original
    /// position): usually at the head, so the scan is short.
    mutating func insertInOrder(_ m: Message) {
        if count == 0 || m.id <= storage![head].id {
            pushFront(m)
            return
        }
        if count == capacity { grow() }
        var i = 1
        while i < count && self[i].id < m.id { i += 1 }
        // Shift [i, count) one slot towards the tail; Message is a plain value.
        (storage! + (head + count) % capacity).initialize(to: storage![(head + count - 1) % capacity])
        var j = count - 1
        while j > i {
            storage![(head + j) % capacity] = storage![(head + j - 1) % capacity]
            j -= 1
        }
        storage![(head + i) % capacity] = m
        count += 1
    }

    var first: Message? { count == 0 ? nil : storage![head] }

    mutating func popFirst() -> Message? {
        guard count > 0 else { return nil }
        let m = (storage! + head).move()
        head = (head + 1) % capacity
        count -= 1
        return m
    }

    /// Message `i` from the head.
    subscript(_ i: Int) -> Message { storage![(head + i) % capacity] }

    /// Takes out the message with `id`, searched from the tail (where a message just added is);
    /// nil when it is not here.
    mutating func remove(id: UInt64) -> Message? {
        var i = count - 1
        while i >= 0 && self[i].id != id { i -= 1 }
        guard i >= 0 else { return nil }
        let m = self[i]
        // Close the gap from the tail side; Message is a plain value.
        var j = i
        while j < count - 1 {
            storage![(head + j) % capacity] = storage![(head + j + 1) % capacity]
            j += 1
        }
        _ = (storage! + (head + count - 1) % capacity).move()
        count -= 1
        return m
    }

    /// Empties the ring, returning what it held in order.
    mutating func removeAll() -> [Message] {
        var out: [Message] = []
        out.reserveCapacity(count)
        while let m = popFirst() { out.append(m) }
        head = 0
        return out
    }

    mutating func deallocate() {
        _ = removeAll()
        storage?.deallocate()
        storage = nil
        capacity = 0
    }

    private mutating func grow() {
        let newCapacity = max(16, capacity * 2)
        let grown = UnsafeMutablePointer<Message>.allocate(capacity: newCapacity)
        for i in 0..<count {
            (grown + i).initialize(to: (storage! + (head + i) % capacity).move())
        }
        storage?.deallocate()
        storage = grown
        capacity = newCapacity
        head = 0
    }
}

extension UInt32 {
    /// One more, stopping at the largest value: a message's redelivery and death counts come from
    /// journals too, where any value may have been written (or damaged into it).
    mutating func incrementSaturating() {
        if self < .max { self += 1 }
    }
}
