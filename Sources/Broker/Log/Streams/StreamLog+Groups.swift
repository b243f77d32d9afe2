// A stream's consumer groups and their pending entries (the PEL), as redis 7.0 keeps them
// (t_stream.c): per group its last delivered ID, entries read, the PEL (ID -> consumer, last
// delivery time, delivery count) and its consumers by name (each with its own PEL and seen
// time). All under the stream's lock. A PEL holds IDs only, so an entry deleted or trimmed stays
// pending until acknowledged (a history read answers it with no fields), as in redis; what bounds
// it is `maxPending` per group (past it a read delivers nothing more, counted).
import Platform

/// One pending entry: who has it, when it was last delivered (Unix ms), how many times.
public struct StreamPending: Sendable, Equatable {
    public var consumer: [UInt8]
    public var deliveryTime: UInt64
    public var deliveryCount: UInt64
}

public final class StreamConsumer: @unchecked Sendable {
    // Safe to share: guarded by its stream's lock.
    public let name: [UInt8]
    public internal(set) var seenTime: UInt64
    /// Its pending IDs, ascending.
    public internal(set) var pending: [StreamID] = []

    init(name: [UInt8], now: UInt64) {
        self.name = name
        seenTime = now
    }
}

public final class StreamGroup: @unchecked Sendable {
    // Safe to share: guarded by its stream's lock.
    public let name: [UInt8]
    public internal(set) var lastID: StreamID
    /// -1: not known (redis's SCG_INVALID_ENTRIES_READ).
    public internal(set) var entriesRead: Int64
    public internal(set) var pel: [StreamID: StreamPending] = [:]
    /// The PEL's IDs, ascending.
    public internal(set) var pelOrder: [StreamID] = []
    /// By name, ascending bytes (redis's rax order).
    public internal(set) var consumers: [StreamConsumer] = []

    init(name: [UInt8], lastID: StreamID, entriesRead: Int64) {
        self.name = name
        self.lastID = lastID
        self.entriesRead = entriesRead
    }

    func consumerIndex(_ name: [UInt8]) -> (found: Bool, at: Int) {
        var lo = 0, hi = consumers.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if consumers[mid].name.lexicographicallyPrecedes(name) { lo = mid + 1 } else { hi = mid }
        }
        return (lo < consumers.count && consumers[lo].name == name, lo)
    }

    func consumer(_ name: [UInt8]) -> StreamConsumer? {
        let (found, at) = consumerIndex(name)
        return found ? consumers[at] : nil
    }

    /// The consumer, made if new (and whether it was).
    func consumer(making name: [UInt8], now: UInt64) -> (StreamConsumer, Bool) {
        let (found, at) = consumerIndex(name)
        if found { return (consumers[at], false) }
        let c = StreamConsumer(name: name, now: now)
        consumers.insert(c, at: at)
        return (c, true)
    }

    static func insertSorted(_ id: StreamID, into a: inout [StreamID]) {
        if let last = a.last, last < id { a.append(id); return }
        var lo = 0, hi = a.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if a[mid] < id { lo = mid + 1 } else { hi = mid }
        }
        if lo < a.count && a[lo] == id { return }
        a.insert(id, at: lo)
    }

    static func removeSorted(_ id: StreamID, from a: inout [StreamID]) {
        var lo = 0, hi = a.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if a[mid] < id { lo = mid + 1 } else { hi = mid }
        }
        if lo < a.count && a[lo] == id { a.remove(at: lo) }
    }

    /// The first index of `a` at or after `id`.
    static func lowerBound(_ id: StreamID, in a: [StreamID]) -> Int {
        var lo = 0, hi = a.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if a[mid] < id { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Records a delivery of `id` to `consumer` (redis's NACK creation, or the reassignment of
    /// an entry already pending).
    func deliver(_ id: StreamID, to consumer: StreamConsumer, now: UInt64) {
        if let old = pel[id] {
            if old.consumer != consumer.name, let previous = self.consumer(old.consumer) {
                Self.removeSorted(id, from: &previous.pending)
            }
        } else {
            Self.insertSorted(id, into: &pelOrder)
        }
        pel[id] = StreamPending(consumer: consumer.name, deliveryTime: now, deliveryCount: 1)
        Self.insertSorted(id, into: &consumer.pending)
    }

    /// XACK of one ID: true when it was pending.
    func acknowledge(_ id: StreamID) -> Bool {
        guard let p = pel.removeValue(forKey: id) else { return false }
        Self.removeSorted(id, from: &pelOrder)
        if let c = consumer(p.consumer) { Self.removeSorted(id, from: &c.pending) }
        return true
    }

    func copy() -> StreamGroup {
        let g = StreamGroup(name: name, lastID: lastID, entriesRead: entriesRead)
        g.pel = pel
        g.pelOrder = pelOrder
        g.consumers = consumers.map { c in
            let n = StreamConsumer(name: c.name, now: c.seenTime)
            n.pending = c.pending
            return n
        }
        return g
    }
}

extension StreamLog {
    /// Pending entries one group may hold; a read that would pass it delivers no more.
    public static let maxPending = 1 << 20

    func lockedGroupIndex(_ name: [UInt8]) -> Int? { groups.firstIndex { $0.name == name } }

    /// `body` on group `name` under the stream's lock (nil: no such group).
    public func withGroup<T>(_ name: UnsafeRawBufferPointer, _ body: (StreamGroup) -> T) -> T? {
        withStreamLock {
            guard let g = groups.first(where: { $0.name.elementsEqual(name) }) else { return nil }
            return body(g)
        }
    }

    public enum GroupCreateResult: Equatable, Sendable { case created, exists }

    /// XGROUP CREATE: `id` nil for `$` (the top ID now).
    public func createGroup(_ name: UnsafeRawBufferPointer, id: StreamID?, entriesRead: Int64) -> GroupCreateResult {
        withStreamLock {
            if groups.contains(where: { $0.name.elementsEqual(name) }) { return .exists }
            groups.append(StreamGroup(name: Array(name), lastID: id ?? lastID, entriesRead: entriesRead))
            return .created
        }
    }

    /// XGROUP DESTROY: true when the group was there.
    public func destroyGroup(_ name: UnsafeRawBufferPointer) -> Bool {
        withStreamLock {
            guard let i = groups.firstIndex(where: { $0.name.elementsEqual(name) }) else { return false }
            groups.remove(at: i)
            return true
        }
    }

    /// XGROUP SETID: `id` nil for `$`; false for no such group.
    public func setGroupID(_ name: UnsafeRawBufferPointer, id: StreamID?, entriesRead: Int64) -> Bool {
        withStreamLock {
            guard let g = groups.first(where: { $0.name.elementsEqual(name) }) else { return false }
            g.lastID = id ?? lastID
            g.entriesRead = entriesRead
            return true
        }
    }

    public func hasGroup(_ name: UnsafeRawBufferPointer) -> Bool {
        withStreamLock { groups.contains { $0.name.elementsEqual(name) } }
    }

    /// XGROUP CREATECONSUMER: nil for no such group, else whether it was made.
    public func createConsumer(group: UnsafeRawBufferPointer, _ consumer: UnsafeRawBufferPointer, now: UInt64) -> Bool? {
        withStreamLock {
            guard let g = groups.first(where: { $0.name.elementsEqual(group) }) else { return nil }
            return g.consumer(making: Array(consumer), now: now).1
        }
    }

    /// XGROUP DELCONSUMER: nil for no such group, else the consumer's pending count (-1: no
    /// such consumer); its pending entries leave the group's PEL.
    public func deleteConsumer(group: UnsafeRawBufferPointer, _ consumer: UnsafeRawBufferPointer) -> Int? {
        withStreamLock {
            guard let g = groups.first(where: { $0.name.elementsEqual(group) }) else { return nil }
            let (found, at) = g.consumerIndex(Array(consumer))
            guard found else { return -1 }
            let c = g.consumers.remove(at: at)
            for id in c.pending {
                g.pel[id] = nil
                StreamGroup.removeSorted(id, from: &g.pelOrder)
            }
            return c.pending.count
        }
    }

    /// XACK: the IDs that were pending in the group (nil: no such group).
    public func acknowledge(group: UnsafeRawBufferPointer, _ ids: [StreamID]) -> Int? {
        withStreamLock {
            guard let g = groups.first(where: { $0.name.elementsEqual(group) }) else { return nil }
            return ids.reduce(0) { $0 + (g.acknowledge($1) ? 1 : 0) }
        }
    }

    /// What a group read found.
    public enum GroupRead {
        case noGroup
        /// Nothing to serve (a `>` read with no new entry): block or answer null.
        case nothing
        /// Served (entries visited; `createdConsumer` when the read made the consumer).
        case served(createdConsumer: Bool)
    }

    /// XREADGROUP on this stream: `after` nil for `>` (new entries past the group's last ID,
    /// delivered to `consumer` and, unless `noAck`, pending), else the consumer's history after
    /// that ID (each re-delivered: count + 1; a deleted entry visited with no fields). `until`:
    /// new entries up to that ID only (a woken block reads what its waker's XADD made, as redis
    /// serves it right after that command). `byTop`: a woken block's `>` read, served when the
    /// top ID passed the group's last ID even with no entry left to deliver (redis 7.0's
    /// serveClientsBlockedOnStreamKey), not only when a valid entry did.
    /// `visit(id, fields?)`, the fields valid during the visit only (it writes them into its
    /// reply from where they lie). `pelRefusals` counts reads stopped at `maxPending`.
    public func readGroup(_ group: UnsafeRawBufferPointer, consumer name: UnsafeRawBufferPointer, after: StreamID?,
                          until: StreamID = .max, byTop: Bool = false, count: Int, noAck: Bool, now: UInt64, pelRefusals: () -> Void,
                          _ visit: (StreamID, StreamEntryFields?) -> Void) -> GroupRead {
        withStreamLock {
            guard let g = groups.first(where: { $0.name.elementsEqual(group) }) else { return .noGroup }
            if after == nil {
                guard byTop ? lastID > g.lastID : length > 0 && lockedLastValidID > g.lastID else { return .nothing }
            }
            let (c, created) = g.consumer(making: Array(name), now: now)
            c.seenTime = now
            if let after {
                // History: the consumer's pending entries after `after`.
                guard let start = after.incremented else { return .served(createdConsumer: created) }
                var i = StreamGroup.lowerBound(start, in: c.pending)
                var n = 0
                while i < c.pending.count && (count == 0 || n < count) {
                    let id = c.pending[i]
                    var found = false
                    if let off = lockedFirstOffset(atOrAfter: id) {
                        // Visited inside the scan: the fields where they lie, no copy.
                        lockedScan(from: off, to: off + 1) { e in
                            if e.id == id {
                                found = true
                                visit(id, e.fields)
                            }
                            return false
                        }
                    }
                    if found {
                        // Re-delivered: redis counts it only when the entry is still there.
                        if var p = g.pel[id] {
                            p.deliveryTime = now
                            p.deliveryCount &+= 1  // unsigned and wrapping, as redis's
                            g.pel[id] = p
                        }
                    } else {
                        visit(id, nil)
                    }
                    n += 1
                    i += 1
                }
                return .served(createdConsumer: created)
            }
            guard let start = g.lastID.incremented else { return .served(createdConsumer: created) }
            // Read before the range: no scan may run inside another's visit (the partition lock).
            let first = lockedFirstValidID
            var n = 0
            var refused = false
            lockedRange(start: start, end: until, count: count) { e in
                if refused { return }
                if !noAck && g.pel[e.id] == nil && g.pel.count >= Self.maxPending {
                    refused = true
                    return
                }
                visit(e.id, e.fields)
                lockedNoteGroupRead(g, e.id, first: first)
                if !noAck { g.deliver(e.id, to: c, now: now) }
                n += 1
            }
            if refused { pelRefusals() }
            return .served(createdConsumer: created)
        }
    }

    /// XPENDING's summary: count, first and last pending IDs, and the consumers with a count.
    public func pendingSummary(_ group: UnsafeRawBufferPointer) -> (count: Int, first: StreamID?, last: StreamID?, consumers: [([UInt8], Int)])? {
        withStreamLock {
            guard let g = groups.first(where: { $0.name.elementsEqual(group) }) else { return nil }
            return (g.pelOrder.count, g.pelOrder.first, g.pelOrder.last,
                    g.consumers.filter { !$0.pending.isEmpty }.map { ($0.name, $0.pending.count) })
        }
    }

    /// XPENDING's extended form: the pending entries in `[start, end]` (of `consumer` when
    /// given), at most `count`, idle at least `minIdle` ms. Nil for no such group; an empty
    /// list for a consumer that does not exist.
    public func pendingRange(_ group: UnsafeRawBufferPointer, start: StreamID, end: StreamID, count: Int, minIdle: Int64,
                             consumer: UnsafeRawBufferPointer?, now: UInt64) -> [(StreamID, StreamPending)]? {
        withStreamLock {
            guard let g = groups.first(where: { $0.name.elementsEqual(group) }) else { return nil }
            let ids: [StreamID]
            if let consumer {
                guard let c = g.consumer(Array(consumer)) else { return [] }
                ids = c.pending
            } else {
                ids = g.pelOrder
            }
            var out: [(StreamID, StreamPending)] = []
            var i = StreamGroup.lowerBound(start, in: ids)
            while out.count < count && i < ids.count && ids[i] <= end {
                let p = g.pel[ids[i]]!
                i += 1
                if minIdle != 0 && Int64(bitPattern: now &- p.deliveryTime) < minIdle { continue }
                out.append((ids[i - 1], p))
            }
            return out
        }
    }
}
