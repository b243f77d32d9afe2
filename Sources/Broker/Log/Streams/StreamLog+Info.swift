// What XINFO GROUPS and XINFO CONSUMERS show of a stream's groups, and the group's entries-read
// counter and lag as redis 7.0.15 keeps them (t_stream.c: streamRangeHasTombstones,
// streamEstimateDistanceFromFirstEverEntry, streamReplyWithCGLag). Under the stream's lock.
import Platform

extension StreamLog {
    /// Lock held: redis's streamRangeHasTombstones(start, nil), with the first live ID given.
    func lockedHasTombstones(from start: StreamID, first: StreamID) -> Bool {
        guard length > 0, maxDeletedID != .zero else { return false }
        if first > maxDeletedID { return false }
        return start <= maxDeletedID
    }

    /// Lock held: streamEstimateDistanceFromFirstEverEntry (-1: not known). The counters wrap as
    /// redis's do (its entries-added is unsigned, entries-read and the lag signed, all 64-bit):
    /// XSETID ENTRIESADDED and XGROUP ENTRIESREAD take any value up to 2^63-1, so the arithmetic
    /// here and in the group's counter must not trap.
    func lockedEstimateDistance(_ id: StreamID, first: StreamID) -> Int64 {
        if entriesAdded == 0 { return 0 }
        let added = Int64(bitPattern: entriesAdded)
        if length == 0 && id <= lastID { return added }
        if id == lastID { return added }
        if id > lastID { return -1 }
        if maxDeletedID == .zero || maxDeletedID < first {
            if id < first { return added &- Int64(length) }
            if id == first { return added &- Int64(length) &+ 1 }
        }
        return -1
    }

    /// Lock held: a group's read of `id` moves its counter as redis's streamReplyWithRange does.
    func lockedNoteGroupRead(_ g: StreamGroup, _ id: StreamID, first: StreamID) {
        guard id > g.lastID else { return }
        if g.entriesRead != -1 && !lockedHasTombstones(from: id, first: first) {
            g.entriesRead &+= 1
        } else if entriesAdded > 0 {
            g.entriesRead = lockedEstimateDistance(id, first: first)
        }
        g.lastID = id
    }

    /// Lock held: streamReplyWithCGLag's value (nil: not known).
    func lockedLag(_ g: StreamGroup, first: StreamID) -> Int64? {
        if entriesAdded == 0 { return 0 }
        if g.entriesRead != -1 && !lockedHasTombstones(from: g.lastID, first: first) {
            return Int64(bitPattern: entriesAdded) &- g.entriesRead
        }
        let read = lockedEstimateDistance(g.lastID, first: first)
        return read == -1 ? nil : Int64(bitPattern: entriesAdded) &- read
    }

    public struct GroupInfo: Sendable {
        public let name: [UInt8]
        public let consumers: Int
        public let pending: Int
        public let lastDelivered: StreamID
        public let entriesRead: Int64?
        public let lag: Int64?
    }

    /// XINFO GROUPS: the groups by name (redis's rax order).
    public func groupsInfo() -> [GroupInfo] {
        withStreamLock {
            let first = lockedFirstValidID
            return groups.sorted { $0.name.lexicographicallyPrecedes($1.name) }.map { g in
                GroupInfo(name: g.name, consumers: g.consumers.count, pending: g.pel.count, lastDelivered: g.lastID,
                          entriesRead: g.entriesRead == -1 ? nil : g.entriesRead, lag: lockedLag(g, first: first))
            }
        }
    }

    /// XINFO CONSUMERS: name, pending count and seen time (Unix ms) of each, by name; nil for
    /// no such group.
    public func consumersInfo(_ group: UnsafeRawBufferPointer) -> [(name: [UInt8], pending: Int, seenTime: UInt64)]? {
        withStreamLock {
            guard let g = groups.first(where: { $0.name.elementsEqual(group) }) else { return nil }
            return g.consumers.map { ($0.name, $0.pending.count, $0.seenTime) }
        }
    }
}

// XINFO STREAM [FULL [COUNT n]] (redis 7.0.15's xinfoReplyWithStreamInfo): the stream's figures,
// and with FULL its groups' PELs and consumers, all read under one hold of the stream's lock.
extension StreamLog {
    public struct StreamInfo: Sendable {
        public let length: Int
        /// The emulated listpack nodes (redis's radix-tree keys; we keep no radix tree).
        public let nodes: Int
        public let lastID: StreamID
        public let maxDeletedID: StreamID
        public let entriesAdded: UInt64
        /// redis's first_id: the first live entry's ID, 0-0 when the stream is empty.
        public let recordedFirstID: StreamID
        public let groups: Int
    }

    public struct FullGroupInfo: Sendable {
        public let group: GroupInfo
        /// The group's PEL in ID order, at most the COUNT asked: ID, consumer, last delivery (Unix ms), deliveries.
        public let pending: [(id: StreamID, consumer: [UInt8], deliveryTime: UInt64, deliveries: UInt64)]
        public let consumers: [FullConsumerInfo]
    }

    public struct FullConsumerInfo: Sendable {
        public let name: [UInt8]
        public let seenTime: UInt64
        public let pendingCount: Int
        /// Its pending entries in ID order, at most the COUNT asked: ID, last delivery, deliveries.
        public let pending: [(id: StreamID, deliveryTime: UInt64, deliveries: UInt64)]
    }

    /// Lock held: the figures XINFO STREAM starts with.
    func lockedStreamInfo() -> StreamInfo {
        StreamInfo(length: length, nodes: nodes.count, lastID: lastID, maxDeletedID: maxDeletedID, entriesAdded: entriesAdded,
                   recordedFirstID: length > 0 ? lockedFirstValidID : .zero, groups: groups.count)
    }

    /// XINFO STREAM: the figures through `figures`, then the first and the last live entry through
    /// `edge` (`last` false, then true; nil: the stream is empty), each visited where it lies in
    /// its batch, as XINFO STREAM FULL's entries are, so a reply writes it from there: nothing is
    /// copied (a range's fields point into the log only during its visit).
    public func streamInfo(figures: (StreamInfo) -> Void, edge: (_ last: Bool, Entry?) -> Void) {
        withStreamLock {
            figures(lockedStreamInfo())
            var found = false
            lockedRange(start: .zero, end: .max, count: 1) {
                found = true
                edge(false, $0)
            }
            guard found else {
                edge(false, nil)
                edge(true, nil)
                return
            }
            let top = lockedLastValidID
            found = false
            lockedRange(start: top, end: top, count: 1) {
                found = true
                edge(true, $0)
            }
            if !found { edge(true, nil) }
        }
    }

    /// XINFO STREAM FULL: the figures through `figures`, then the first `count` entries (0: all)
    /// through `entry` (so a reply writes each after the figures, straight from its batch);
    /// returns the groups by name with at most `count` PEL rows each (0: all).
    public func fullStreamInfo(count: Int, figures: (StreamInfo) -> Void, entry: (Entry) -> Void) -> [FullGroupInfo] {
        withStreamLock {
            figures(lockedStreamInfo())
            lockedRange(start: .zero, end: .max, count: count, entry)
            let first = lockedFirstValidID
            let limit = count == 0 ? Int.max : count
            let all = groups.sorted { $0.name.lexicographicallyPrecedes($1.name) }.map { g in
                let summary = GroupInfo(name: g.name, consumers: g.consumers.count, pending: g.pel.count, lastDelivered: g.lastID,
                                        entriesRead: g.entriesRead == -1 ? nil : g.entriesRead, lag: lockedLag(g, first: first))
                let rows = g.pelOrder.prefix(limit).map { id in
                    let p = g.pel[id]!
                    return (id: id, consumer: p.consumer, deliveryTime: p.deliveryTime, deliveries: p.deliveryCount)
                }
                let consumers = g.consumers.map { c in
                    FullConsumerInfo(name: c.name, seenTime: c.seenTime, pendingCount: c.pending.count,
                                     pending: c.pending.prefix(limit).map { id in
                                         let p = g.pel[id]!
                                         return (id: id, deliveryTime: p.deliveryTime, deliveries: p.deliveryCount)
                                     })
                }
                return FullGroupInfo(group: summary, pending: rows, consumers: consumers)
            }
            return all
        }
    }
}
