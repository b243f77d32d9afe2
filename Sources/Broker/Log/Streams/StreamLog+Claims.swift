// XCLAIM and XAUTOCLAIM on a stream's group (redis 7.0.15's xclaimCommand and
// xautoclaimCommand): pending entries change owner when idle long enough; an entry no longer in
// the stream leaves the PEL instead (XAUTOCLAIM reports those IDs). Under the stream's lock.
import Platform

extension StreamLog {
    /// Lock held: the fields of entry `id` as a RESP array (copied), if it is in the stream.
    func lockedEntryFields(_ id: StreamID) -> [UInt8]? {
        guard let off = lockedFirstOffset(atOrAfter: id) else { return nil }
        var fields: [UInt8]?
        lockedScan(from: off, to: off + 1) { e in
            if e.id == id { fields = e.fields.resp }
            return false
        }
        return fields
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
        if let retryCount { p.deliveryCount = UInt64(bitPattern: retryCount) } else if !justID { p.deliveryCount += 1 }
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
    /// for each claimed entry.
    public func claim(group: UnsafeRawBufferPointer, consumer name: UnsafeRawBufferPointer, ids: [StreamID],
                      _ o: ClaimOptions, now: UInt64, _ visit: (StreamID, UnsafeRawBufferPointer?) -> Void) -> Bool? {
        withStreamLock {
            guard let g = groups.first(where: { $0.name.elementsEqual(group) }) else { return nil }
            var consumer: StreamConsumer?
            var created = false
            for id in ids {
                guard let fields = lockedEntryFields(id) else {
                    if g.pel[id] != nil { lockedDropPending(g, id) }
                    continue
                }
                var forced = false
                if o.force && g.pel[id] == nil {
                    // FORCE makes the pending entry (no owner yet, as redis's NACK with no consumer).
                    StreamGroup.insertSorted(id, into: &g.pelOrder)
                    g.pel[id] = StreamPending(consumer: [], deliveryTime: now, deliveryCount: 1)
                    forced = true
                }
                guard let p = g.pel[id] else { continue }
                if !forced && o.minIdle != 0 && Int64(bitPattern: now &- p.deliveryTime) < o.minIdle { continue }
                if consumer == nil {
                    let (c, made) = g.consumer(making: Array(name), now: now)
                    consumer = c
                    created = made
                }
                lockedTransfer(g, id, to: consumer!, time: o.deliveryTime, retryCount: o.retryCount, justID: o.justID)
                fields.withUnsafeBytes { visit(id, $0) }
            }
            if let last = o.lastID, last > g.lastID { g.lastID = last }
            return created
        }
    }

    /// XAUTOCLAIM: nil for no such group; else whether the consumer was made, the cursor (the
    /// next pending ID, 0-0 at the end) and the IDs dropped for being gone from the stream.
    public func autoClaim(group: UnsafeRawBufferPointer, consumer name: UnsafeRawBufferPointer, minIdle: Int64,
                          start: StreamID, count: Int, justID: Bool, now: UInt64,
                          _ visit: (StreamID, UnsafeRawBufferPointer?) -> Void) -> (created: Bool, next: StreamID, deleted: [StreamID])? {
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
                guard let fields = lockedEntryFields(id) else {
                    lockedDropPending(g, id)
                    deleted.append(id)
                    left -= 1
                    continue
                }
                i += 1
                let p = g.pel[id]!
                if minIdle != 0 && Int64(bitPattern: now &- p.deliveryTime) < minIdle { continue }
                if consumer == nil {
                    let (c, made) = g.consumer(making: Array(name), now: now)
                    consumer = c
                    created = made
                }
                lockedTransfer(g, id, to: consumer!, time: now, retryCount: nil, justID: justID)
                if justID { visit(id, nil) } else { fields.withUnsafeBytes { visit(id, $0) } }
                left -= 1
            }
            let next = i < g.pelOrder.count ? g.pelOrder[i] : .zero
            return (created, next, deleted)
        }
    }
}
