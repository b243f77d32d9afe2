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

    /// Lock held: streamEstimateDistanceFromFirstEverEntry (-1: not known).
    func lockedEstimateDistance(_ id: StreamID, first: StreamID) -> Int64 {
        if entriesAdded == 0 { return 0 }
        if length == 0 && id <= lastID { return Int64(entriesAdded) }
        if id == lastID { return Int64(entriesAdded) }
        if id > lastID { return -1 }
        if maxDeletedID == .zero || maxDeletedID < first {
            if id < first { return Int64(entriesAdded) - Int64(length) }
            if id == first { return Int64(entriesAdded) - Int64(length) + 1 }
        }
        return -1
    }

    /// Lock held: a group's read of `id` moves its counter as redis's streamReplyWithRange does.
    func lockedNoteGroupRead(_ g: StreamGroup, _ id: StreamID, first: StreamID) {
        guard id > g.lastID else { return }
        if g.entriesRead != -1 && !lockedHasTombstones(from: id, first: first) {
            g.entriesRead += 1
        } else if entriesAdded > 0 {
            g.entriesRead = lockedEstimateDistance(id, first: first)
        }
        g.lastID = id
    }

    /// Lock held: streamReplyWithCGLag's value (nil: not known).
    func lockedLag(_ g: StreamGroup, first: StreamID) -> Int64? {
        if entriesAdded == 0 { return 0 }
        if g.entriesRead != -1 && !lockedHasTombstones(from: g.lastID, first: first) {
            return Int64(entriesAdded) - g.entriesRead
        }
        let read = lockedEstimateDistance(g.lastID, first: first)
        return read == -1 ? nil : Int64(entriesAdded) - read
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
