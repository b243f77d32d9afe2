// XCLAIM and XAUTOCLAIM on a stream's group (redis 7.0.15's xclaimCommand and
// xautoclaimCommand): pending entries change owner when idle long enough; an entry no longer in
// the stream leaves the PEL instead (XAUTOCLAIM reports those IDs). Under the stream's lock.
import Platform

extension StreamLog {
    /// Lock held: `body` with the fields of entry `id` where they lie (valid during the call:
    /// the partition's lock is held), or with nil when no live entry has the ID. A claim writes
    /// the entry into its reply from there, as a range does: nothing copied.
    func lockedWithEntry(_ id: StreamID, _ body: (StreamEntryFields?) -> Void) {
        var found = false
        if let off = lockedFirstOffset(atOrAfter: id) {
            lockedScan(from: off, to: off + 1) { e in
                if e.id == id {
                    found = true
                    body(e.fields)
                }
                return false
            }
        }
        if !found { body(nil) }
    }

    /// Lock held: `id`'s pending entry moves to `consumer` (made if new), delivered at `time`.
    private func lockedTransfer(_ g: StreamGroup, _ id: StreamID, to consumer: StreamConsumer, time: UInt64,
                                retryCount: Int64?, justID: Bool) {
        var p = g.pel[id]!
        if p.consumer != consumer.name {
            if let old = g.consumer(p.consumer) { StreamGroup.removeSorted(id, from: &old.pending) }
            StreamGroup.insertSorted(id, into: &consumer.pending)
            p.consumer = consumer.name
        }
        p.deliveryTime = time
        // redis's xclaimCommand: a RETRYCOUNT below zero is no RETRYCOUNT, and its unsigned count
        // wraps (RETRYCOUNT 2^63-1 then a claim is 2^63, which XPENDING shows as a negative number).
        if let retryCount, retryCount >= 0 { p.deliveryCount = UInt64(retryCount) } else if !justID { p.deliveryCount &+= 1 }
        g.pel[id] = p
    }

    /// Lock held: a pending entry whose stream entry is gone leaves both PELs.
    private func lockedDropPending(_ g: StreamGroup, _ id: StreamID) {
        _ = g.acknowledge(id)
    }

    public struct ClaimOptions: Sendable {
        public var minIdle: Int64 = 0
        /// The delivery time to set (Unix ms; IDLE and TIME already turned into one).
        public var deliveryTime: UInt64
        public var retryCount: Int64? = nil
        public var force = false
        public var justID = false
        public var lastID: StreamID? = nil

        public init(deliveryTime: UInt64) { self.deliveryTime = deliveryTime }
    }

    /// XCLAIM: nil for no such group; else whether the consumer was made. `visit(id, fields)`
    /// for each claimed entry (its fields valid during the visit).
    public func claim(group: UnsafeRawBufferPointer, consumer name: UnsafeRawBufferPointer, ids: [StreamID],
                      _ o: ClaimOptions, now: UInt64, _ visit: (StreamID, StreamEntryFields) -> Void) -> Bool? {
        withStreamLock {
            guard let g = groups.first(where: { $0.name.elementsEqual(group) }) else { return nil }
            var consumer: StreamConsumer?
            var created = false
            for id in ids {
                lockedWithEntry(id) { fields in
                    guard let fields else {
                        if g.pel[id] != nil { lockedDropPending(g, id) }
                        return
                    }
                    var forced = false
                    if o.force && g.pel[id] == nil {
                        // FORCE makes the pending entry (no owner yet, as redis's NACK with no consumer).
                        StreamGroup.insertSorted(id, into: &g.pelOrder)
                        g.pel[id] = StreamPending(consumer: [], deliveryTime: now, deliveryCount: 1)
                        forced = true
                    }
                    guard let p = g.pel[id] else { return }
                    if !forced && o.minIdle != 0 && Int64(bitPattern: now &- p.deliveryTime) < o.minIdle { return }
                    if consumer == nil {
                        let (c, made) = g.consumer(making: Array(name), now: now)
                        consumer = c
                        created = made
                    }
                    lockedTransfer(g, id, to: consumer!, time: o.deliveryTime, retryCount: o.retryCount, justID: o.justID)
                    visit(id, fields)
                }
            }
            if let last = o.lastID, last > g.lastID { g.lastID = last }
            return created
        }
    }

    /// XAUTOCLAIM: nil for no such group; else whether the consumer was made, the cursor (the
    /// next pending ID, 0-0 at the end) and the IDs dropped for being gone from the stream.
    /// `visit(id, fields)` for each claimed entry (fields nil with `justID`; valid during the visit).
    public func autoClaim(group: UnsafeRawBufferPointer, consumer name: UnsafeRawBufferPointer, minIdle: Int64,
                          start: StreamID, count: Int, justID: Bool, now: UInt64,
                          _ visit: (StreamID, StreamEntryFields?) -> Void) -> (created: Bool, next: StreamID, deleted: [StreamID])? {
        withStreamLock {
            guard let g = groups.first(where: { $0.name.elementsEqual(group) }) else { return nil }
            var consumer: StreamConsumer?
            var created = false
            var deleted: [StreamID] = []
            var left = count
            var attempts = count * 10
            var i = StreamGroup.lowerBound(start, in: g.pelOrder)
            while attempts > 0 && left > 0 && i < g.pelOrder.count {
                attempts -= 1
                let id = g.pelOrder[i]
                lockedWithEntry(id) { fields in
                    guard let fields else {
                        // Out of the PEL: the next pending ID takes its index.
                        lockedDropPending(g, id)
                        deleted.append(id)
                        left -= 1
                        return
                    }
                    i += 1
                    let p = g.pel[id]!
                    if minIdle != 0 && Int64(bitPattern: now &- p.deliveryTime) < minIdle { return }
                    if consumer == nil {
                        let (c, made) = g.consumer(making: Array(name), now: now)
                        consumer = c
                        created = made
                    }
                    lockedTransfer(g, id, to: consumer!, time: now, retryCount: nil, justID: justID)
                    visit(id, justID ? nil : fields)
                    left -= 1
                }
            }
            let next = i < g.pelOrder.count ? g.pelOrder[i] : .zero
            return (created, next, deleted)
        }
    }
}
