// A Redis stream: the entries of a one-partition log (LogTopic/LogPartition, the broker's own
// log: one implementation serves both faces) plus the stream's own state, under its lock (taken
// before the partition's): the top ID, entries added, the max deleted ID, the length, the logical
// start (`firstOffset`: trimmed entries before it), the XDELeted offsets after it, and redis's
// node layout emulated as runs of at most `nodeEntries` records (`StreamNode`), which XTRIM's and
// XADD's `~` trim whole, as redis frees whole listpack nodes, and which find an ID's record (a
// binary search over the nodes, then at most one node's records).
//
// A record is one entry: read through the broker port, its key is the 16-byte ID (big-endian ms,
// seq), its value the fields and values as a RESP array (`*<2n>\r\n$<len>\r\n<field>\r\n...`),
// a self-describing value. Kept, it is a stream batch's compact record (StreamBatch.swift: the ID
// as deltas against the batch's first, the field names shared with the batch's first entry,
// varint lengths); the stream's own scans (`lockedScan`) take it where it lies (an `Entry`: the
// ID, and the fields as StreamEntryFields), so a range reply writes the RESP array from the batch
// straight into the reply and a scan that wants IDs only reads IDs. XADD's records share batches (the stream's open batch, LogPartition+Streams.swift),
// so an entry pays no frame or batch header of its own. Memory: the records are the partition's
// (reserved from the log memory's share, refused when it is full rather than dropping old
// entries); trimming gives whole segments back (`dropSegments`). The node array and the deleted
// offsets are bounded by the records.
import Durability
import Platform
import Synchronization

public final class StreamLog: @unchecked Sendable {
    // Safe to share: every `var` is guarded by `lock`; the partition guards itself.
    let lock = PlainMutex()
    public let topic: LogTopic
    /// The topic's one partition (kept: reading it through `topic.partitions` costs an array's
    /// reference counting per use).
    let partition: LogPartition
    let store: StreamStore

    public internal(set) var lastID = StreamID.zero
    public internal(set) var maxDeletedID = StreamID.zero
    public internal(set) var entriesAdded: UInt64 = 0
    public internal(set) var length = 0
    /// The first record not trimmed.
    var firstOffset: UInt64 = 0
    /// The next record's offset as this stream appended it.
    var nextOffset: UInt64 = 0
    var deleted = Set<UInt64>()
    var nodes: [StreamNode] = []
    /// The batch XADD's next record may join (LogPartition+Streams.swift; never for an adopted
    /// topic, whose records are framed as the broker frames them).
    var openBatch: StreamOpenBatch?
    /// Consumer groups in creation order (StreamLog+Groups.swift).
    var groups: [StreamGroup] = []
    /// The broker whose topic table lists this stream's topic (StreamStore.publishAsTopic).
    var publishedIn: Broker?
    /// A topic declared on the broker port, read as a stream (StreamLog+Adopted.swift): its
    /// records stay the broker's (trims are logical only, the stream's end leaves them), and a
    /// record the broker port appended gets an ID here (`assigned`).
    var adopted = false
    var assigned: [UInt64: StreamID] = [:]
    /// Clients blocked in XREADGROUP on the key holding this stream (StreamLog+KeyWatchers.swift).
    var keyWatchers: [any StreamKeyWatcher] = []
    /// The list's size at which the next registration drops its ended waits.
    var keyWatcherPurgeAt = StreamLog.keyWatcherPurgeFloor

    /// An entry's record flags ('X'): with a 16-byte key and a RESP array value, what tells a
    /// stream entry from a record the broker port appended to the stream's topic (skipped).
    public static let recordFlags: UInt32 = 88

    /// redis's stream-node-max-entries default: the records of one emulated node.
    public static let nodeEntries = 100

    /// A stream over `topic`, a one-partition topic of the broker (not the stream's own).
    init(store: StreamStore, adopting topic: LogTopic) {
        self.store = store
        self.topic = topic
        partition = topic.partitions[0]
        adopted = true
        lock.withLock { lockedAbsorb() }
    }

    init(store: StreamStore, name: String) {
        self.store = store
        var c = LogConfig()
        c.retentionMs = -1
        c.retentionBytes = -1
        c.segmentBytes = StreamStore.segmentBytes
        topic = LogTopic(name: name, config: c, directory: nil, descriptors: nil, memory: store.memory, nowMs: store.nowMs(),
                         ownedByStream: true)
        partition = topic.partitions[0]
    }

    deinit {
        // The topic leaves the broker's table with the stream (a generation bump makes the
        // broker port's connections look the name up again).
        if let broker = publishedIn {
            let name = topic.name
            broker.logs.lock.withLock {
                if broker.logs.topics[name] === topic {
                    broker.logs.topics[name] = nil
                    broker.logs.generation.wrappingAdd(1, ordering: .relaxed)
                }
            }
        }
        // Every segment's memory goes back to the share (an adopted topic's stay the broker's),
        // and what the open batch had reserved ahead.
        if !adopted {
            partition.closeStreamBatch(&openBatch)
            _ = partition.dropSegments(before: .max, nowMs: 0)
        }
        store.forget(topic)
        store.live.wrappingSubtract(1, ordering: .relaxed)
    }

    // MARK: figures

    public var figures: (length: Int, lastID: StreamID, entriesAdded: UInt64, maxDeletedID: StreamID) {
        withStreamLock { (length, lastID, entriesAdded, maxDeletedID) }
    }

    // MARK: appending

    public enum AppendResult: Equatable, Sendable {
        case added(StreamID)
        /// "The ID specified in XADD is equal or smaller than the target stream top item".
        case idTooSmall
        /// "The stream has exhausted the last possible ID, unable to add more items".
        case exhausted
        case outOfMemory
        case tooLarge
        /// The engine had no memory chunk of `bytes` for the entry (only with `reportingNoChunk`):
        /// nothing added or counted. The caller, holding no lock, has a page moved to the chunk's
        /// class (`StreamStore.makeRoom`) and tries again (the key looked up again: the move may
        /// have evicted it).
        case noChunk(bytes: Int)
    }

    /// XADD's append: `requested` is an explicit ID (`seqGiven` false for `<ms>-*`), nil for `*`;
    /// `field(i)` for `i` in `0..<fieldCount` are the names and values, alternating (one pair at
    /// least), read while the append runs. `reportingNoChunk`: a missing chunk answers `.noChunk`
    /// rather than a refusal (LogPartition's `NoChunk.report`).
    public func append(requested: StreamID?, seqGiven: Bool, nowMs: UInt64, fieldCount: Int, reportingNoChunk: Bool = false,
                       field: (Int) -> UnsafeRawBufferPointer) -> AppendResult {
        let noChunk: NoChunk = reportingNoChunk ? .report : .refuse
        precondition(fieldCount >= 2 && fieldCount % 2 == 0, "a stream entry holds field-value pairs")
        return withStreamLock {
            if lastID == .max { return .exhausted }
            let id: StreamID
            if let requested {
                if seqGiven {
                    id = requested
                } else if requested.ms == lastID.ms {
                    guard lastID.seq < .max else { return .idTooSmall }
                    id = StreamID(lastID.ms, lastID.seq + 1)
                } else {
                    id = requested
                }
            } else {
                id = StreamID.next(after: lastID, nowMs: nowMs)
            }
            guard id > lastID else { return .idTooSmall }
            // The broker's format (an adopted topic's): at least what a stream batch takes.
            let valueLength = StreamFields.respLength(fieldCount: fieldCount, field: field)
            let length = LogPartition.framedLength(keyLength: 16, valueLength: valueLength)
            if store.memory.share != nil {
                guard length <= StreamStore.segmentBytes * 4 else {
                    store.entriesTooLarge.wrappingAdd(1, ordering: .relaxed)
                    return .tooLarge
                }
            }
            // Refused rather than dropping the stream's oldest entries (the log's own rule; for
            // the stream's own topic appendStreamRecord checks it, charging its share ahead).
            if adopted, let share = store.memory.share {
                guard share.inUse + length <= share.limit else {
                    store.appendsRefused.wrappingAdd(1, ordering: .relaxed)
                    return .outOfMemory
                }
            }
            let r: LogAppendResult
            let start: UInt64
            if adopted {
                r = id.withKeyBytes { key in
                    partition.append(key: key, valueLength: valueLength, flags: Self.recordFlags, nowMs: nowMs,
                                     dropsOldest: false, noChunk: noChunk) {
                        StreamFields.writeRESP(fieldCount: fieldCount, field: field, into: $0)
                    }
                }
                start = partition.startOffset
            } else {
                // Into the open batch (one partition lock, no frame of its own).
                (r, start) = partition.appendStreamRecord(id: id, flags: Self.recordFlags, nowMs: nowMs, fieldCount: fieldCount,
                                                          field: field, open: &openBatch, noChunk: noChunk)
            }
            if case .noChunk(let bytes) = r { return .noChunk(bytes: bytes) }
            guard case .appended(let offset) = r else {
                store.appendsRefused.wrappingAdd(1, ordering: .relaxed)
                return .outOfMemory
            }
            lockedNoteAppend(id, offset: offset)
            lockedAbsorbDrops(start: start)
            return .added(id)
        }
    }

    /// Lock held: an appended record joins the last node, or starts one.
    func lockedNoteAppend(_ id: StreamID, offset: UInt64) {
        if var last = nodes.last, last.end == offset, Int(last.end - last.start) < Self.nodeEntries {
            last.end = offset + 1
            last.valid += 1
            last.lastID = id
            nodes[nodes.count - 1] = last
        } else {
            nodes.append(StreamNode(start: offset, end: offset + 1, valid: 1, firstID: id, lastID: id))
        }
        nextOffset = offset + 1
        lastID = id
        length += 1
        entriesAdded &+= 1  // redis's unsigned counter (XSETID ENTRIESADDED may set it near the top)
    }

    /// Lock held: segments the log dropped for memory behind this stream's back (a race past the
    /// share check) are trimmed entries.
    func lockedAbsorbDrops() {
        lockedAbsorbDrops(start: partition.startOffset)
    }

    /// `lockedAbsorbDrops` with the partition's start offset already read.
    func lockedAbsorbDrops(start: UInt64) {
        guard start > firstOffset else { return }
        while let n = nodes.first, n.start < start {
            if n.end <= start {
                length -= n.valid
                nodes.removeFirst()
            } else {
                var m = n
                for o in n.start..<start where o >= firstOffset && !deleted.contains(o) { m.valid -= 1; length -= 1 }
                m.start = start
                nodes[0] = m
                break
            }
        }
        deleted = deleted.filter { $0 >= start }
        firstOffset = start
    }

    // MARK: reading

    /// One record as a range visits it (its fields valid during the visit only).
    public struct Entry {
        public let id: StreamID
        public let offset: UInt64
        /// The fields, written as a RESP array by `fields.writeRESP`.
        public let fields: StreamEntryFields
    }

    /// Lock held: visits the live records of offsets `[from, to)` in order until `visit` says stop.
    func lockedScan(from: UInt64, to: UInt64 = .max, _ visit: (Entry) -> Bool) {
        var at = max(from, firstOffset)
        let end = min(to, nextOffset)
        var stop = false
        while at < end && !stop {
            // Over at the entry `visit` stops at: no record after it is read.
            // Uncomposed: a stream batch's record comes as its ID and where its fields lie.
            let (next, n) = partition.readWhile(from: at, maxRecords: 256, until: end, compose: false) { r in
                guard !stop, deleted.isEmpty || !deleted.contains(r.offset) else { return !stop }
                if let (id, fields) = r.entry {
                    guard r.flags == Self.recordFlags else { return true }
                    if !visit(Entry(id: id, offset: r.offset, fields: fields)) { stop = true }
                    return !stop
                }
                if adopted, let id = assigned[r.offset] {
                    // A broker-port record: its value (and key) as fields.
                    let fields = Self.fields(of: r)
                    fields.withUnsafeBytes {
                        if !visit(Entry(id: id, offset: r.offset, fields: StreamEntryFields(resp: $0))) { stop = true }
                    }
                    return !stop
                }
                // A broker-format record (an adopted topic's entry): its value is the RESP array.
                guard r.flags == Self.recordFlags, let id = StreamID(key: r.key), r.value.first == UInt8(ascii: "*") else { return true }
                if !visit(Entry(id: id, offset: r.offset, fields: StreamEntryFields(resp: r.value))) { stop = true }
                return !stop
            }
            if n == 0 { break }
            at = next
        }
    }

    /// Lock held: the index of the node holding the first live record with an ID at or past
    /// `id`, and that record's offset (nil: none).
    func lockedFirstOffset(atOrAfter id: StreamID) -> UInt64? {
        var lo = 0, hi = nodes.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if nodes[mid].lastID < id { lo = mid + 1 } else { hi = mid }
        }
        var found: UInt64?
        var i = lo
        while found == nil && i < nodes.count {
            lockedScan(from: nodes[i].start, to: nodes[i].end) { e in
                if e.id >= id { found = e.offset; return false }
                return true
            }
            i += 1
        }
        return found
    }

    /// XRANGE: the live entries with IDs in `[start, end]`, at most `count` (0: all), in order.
    public func range(start: StreamID, end: StreamID, count: Int, _ visit: (Entry) -> Void) {
        withStreamLock { lockedRange(start: start, end: end, count: count, visit) }
    }

    func lockedRange(start: StreamID, end: StreamID, count: Int, _ visit: (Entry) -> Void) {
        guard start <= end, let from = lockedFirstOffset(atOrAfter: start) else { return }
        var n = 0
        lockedScan(from: from) { e in
            guard e.id <= end else { return false }
            visit(e)
            n += 1
            return count == 0 || n < count
        }
    }

    /// XREVRANGE: the live entries with IDs in `[start, end]`, newest first, at most `count` (0:
    /// all), written into a reply with no copy. The log reads forward, so each node is read
    /// twice: first every wanted entry's offset and exact reply length (`length`), kept in a
    /// stack array (a node spans at most `nodeEntries` offsets); then `place(total, fill)` is
    /// asked for room for the node's wanted entries (the newest ones COUNT leaves) and `fill`
    /// writes each from its batch (`write`, exactly `length`'s bytes) at its place counted from
    /// the room's end, so that they come out newest first. Returns the entries written.
    public func reverseRange(start: StreamID, end: StreamID, count: Int, length: (Entry) -> Int,
                             place: (Int, (UnsafeMutableRawPointer) -> Int) -> Void,
                             write: (Entry, UnsafeMutableRawPointer) -> Int) -> Int {
        withStreamLock {
            guard start <= end else { return 0 }
            return withUnsafeTemporaryAllocation(of: ReverseSlot.self, capacity: Self.nodeEntries) { wanted in
                var n = 0
                var i = nodes.count - 1
                while i >= 0 && (count == 0 || n < count) {
                    let node = nodes[i]
                    i -= 1
                    if node.firstID > end { continue }
                    if node.lastID < start { break }
                    // IDs ascend with offsets: the scan ends at the first past `end`.
                    var k = 0
                    lockedScan(from: node.start, to: node.end) { e in
                        guard e.id <= end else { return false }
                        if e.id >= start {
                            let l = length(e)
                            // An entry's reply is far below 4 GB (XADD's at most 1 MB); a node
                            // spans at most `nodeEntries` offsets. Either broken: the node ends here.
                            guard k < wanted.count, l <= Int(UInt32.max) else { return false }
                            wanted[k] = ReverseSlot(length: UInt32(l), offset: UInt8(truncatingIfNeeded: e.offset - node.start))
                            k += 1
                        }
                        return true
                    }
                    let first = count == 0 ? 0 : max(0, k - (count - n))
                    guard first < k else { continue }
                    var total = 0
                    for j in first..<k { total += Int(wanted[j].length) }
                    // `write` is called only while `place` runs (a closure handed to a closure).
                    withoutActuallyEscaping(write) { write in
                        place(total) { p in
                            let (bytes, entries) = lockedWriteBackward(node.start, UnsafeMutableBufferPointer(rebasing: wanted[first..<k]),
                                                                       total: total, into: p, write)
                            n += entries
                            return bytes
                        }
                    }
                }
                return n
            }
        }
    }

    /// An entry a reverse range writes: its reply's length, its offset in its node, whether
    /// the second pass found it again.
    struct ReverseSlot {
        var length: UInt32
        var offset: UInt8
        var written = false
    }

    /// Lock held: writes the entries of `wanted` (in offset order, from the node at offset
    /// `base`) into `p`, which has room for their `total` bytes: each at the room's end less the
    /// lengths of it and the entries before it, so the newest comes first. Returns the bytes and
    /// the entries written. An entry not found again (a record the broker's retention took from
    /// an adopted topic between the passes) leaves a hole, which the entries before it close.
    func lockedWriteBackward(_ base: UInt64, _ wanted: UnsafeMutableBufferPointer<ReverseSlot>, total: Int,
                                     into p: UnsafeMutableRawPointer, _ write: (Entry, UnsafeMutableRawPointer) -> Int) -> (Int, Int) {
        var j = 0
        var through = 0
        var written = 0
        lockedScan(from: base + UInt64(wanted[0].offset), to: base + UInt64(wanted[wanted.count - 1].offset) + 1) { e in
            while j < wanted.count && base + UInt64(wanted[j].offset) < e.offset {
                through += Int(wanted[j].length)
                j += 1
            }
            guard j < wanted.count else { return false }
            guard base + UInt64(wanted[j].offset) == e.offset else { return true }
            let length = Int(wanted[j].length)
            through += length
            let w = write(e, p + (total - through))
            assert(w == length, "a reverse range's entry written at another length than measured")
            wanted[j].written = true
            written += 1
            j += 1
            return j < wanted.count
        }
        if written == wanted.count { return (total, written) }
        // Holes: the written entries move up, newest first, over the missing ones' room.
        var at = 0
        var to = 0
        for slot in wanted.reversed() {
            let length = Int(slot.length)
            if slot.written {
                if to != at { (p + to).copyMemory(from: p + at, byteCount: length) }
                to += length
            }
            at += length
        }
        return (to, written)
    }

    /// streamLastValidID: the newest live entry's ID (0-0 when empty).
    public var lastValidID: StreamID { withStreamLock { lockedLastValidID } }

    var lockedLastValidID: StreamID {
        var i = nodes.count - 1
        while i >= 0 {
            var last: StreamID?
            lockedScan(from: nodes[i].start, to: nodes[i].end) { e in last = e.id; return true }
            if let last { return last }
            i -= 1
        }
        return .zero
    }

    /// The oldest live entry's ID (0-0 when empty).
    var lockedFirstValidID: StreamID {
        var first: StreamID?
        lockedScan(from: firstOffset) { e in first = e.id; return false }
        return first ?? .zero
    }

    // MARK: deleting

    /// XDEL: true when a live entry had the ID.
    public func delete(_ ids: [StreamID]) -> Int {
        withStreamLock {
            var n = 0
            for id in ids {
                guard let off = lockedFirstOffset(atOrAfter: id) else { continue }
                var hit = false
                lockedScan(from: off, to: off + 1) { e in hit = e.id == id; return false }
                guard hit else { continue }
                deleted.insert(off)
                length -= 1
                n += 1
                if id > maxDeletedID { maxDeletedID = id }
                // A node whose entries are all deleted goes, as redis frees its listpack.
                if let k = lockedNodeIndex(of: off) {
                    nodes[k].valid -= 1
                    if nodes[k].valid == 0 { lockedRemoveNode(k) }
                }
            }
            return n
        }
    }

    func lockedNodeIndex(of offset: UInt64) -> Int? {
        var lo = 0, hi = nodes.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if nodes[mid].end <= offset { lo = mid + 1 } else { hi = mid }
        }
        return lo < nodes.count && nodes[lo].start <= offset ? lo : nil
    }

    /// Lock held: node `k` leaves; the front node's leaving moves the logical start.
    func lockedRemoveNode(_ k: Int) {
        let node = nodes.remove(at: k)
        if k == 0 { lockedAdvanceStart(to: nodes.first?.start ?? node.end) }
    }

    /// Lock held: everything before `offset` is trimmed; whole segments before it go.
    func lockedAdvanceStart(to offset: UInt64) {
        guard offset > firstOffset else { return }
        firstOffset = offset
        if !deleted.isEmpty { deleted = deleted.filter { $0 >= offset } }
        if !adopted { _ = partition.dropSegments(before: offset, nowMs: store.nowMs()) }
    }

    // MARK: trimming

    public enum TrimStrategy: Sendable {
        case maxLength(Int)
        case minID(StreamID)
    }

    /// streamTrim: removes whole nodes while they fit the strategy (and `limit`, 0: none), then,
    /// unless `approximate`, entries from the front of the next. Returns the entries removed.
    public func trim(_ strategy: TrimStrategy, approximate: Bool, limit: Int) -> Int {
        withStreamLock { lockedTrim(strategy, approximate: approximate, limit: limit) }
    }

    func lockedTrim(_ strategy: TrimStrategy, approximate: Bool, limit: Int) -> Int {
        var removed = 0
        while let node = nodes.first {
            if case .maxLength(let max) = strategy, length <= max { break }
            if limit > 0 && removed + node.valid > limit { break }
            let whole: Bool
            switch strategy {
            case .maxLength(let max): whole = length - node.valid >= max
            case .minID(let id): whole = node.lastID < id
            }
            if whole {
                nodes.removeFirst()
                length -= node.valid
                removed += node.valid
                lockedAdvanceStart(to: nodes.first?.start ?? node.end)
                continue
            }
            if approximate { break }
            // Entries from the front of this node, one by one.
            var cut = firstOffset
            var taken = 0
            lockedScan(from: firstOffset, to: node.end) { e in
                switch strategy {
                case .maxLength(let max): if length - taken <= max { return false }
                case .minID(let id): if e.id >= id { return false }
                }
                taken += 1
                cut = e.offset + 1
                return true
            }
            if taken > 0 {
                nodes[0].valid -= taken
                length -= taken
                removed += taken
                // The node keeps its physical records (redis marks them deleted in the listpack).
                if nodes[0].valid == 0 {
                    nodes.removeFirst()
                    lockedAdvanceStart(to: nodes.first?.start ?? node.end)
                } else {
                    lockedAdvanceStart(to: cut)
                }
            }
            break
        }
        return removed
    }

    // MARK: XSETID

    public enum SetIDResult: Equatable, Sendable {
        case ok
        case smallerThanTop
        case entriesAddedTooSmall
    }

    public func setID(_ id: StreamID, entriesAdded added: UInt64?, maxDeletedID maxDeleted: StreamID?) -> SetIDResult {
        withStreamLock {
            // redis 7.0.15's checks (later redis also refuses an ID below the max deleted one; 7.0
            // takes it, and the next XADD may then reuse a deleted entry's ID).
            if length > 0 {
                if id < lockedLastValidID { return .smallerThanTop }
                if let added, UInt64(length) > added { return .entriesAddedTooSmall }
            }
            lastID = id
            if let added { entriesAdded = added }
            if let maxDeleted, maxDeleted != .zero { maxDeletedID = maxDeleted }
            return .ok
        }
    }
}

/// One emulated listpack node of a stream: records `[start, end)` in append order, `valid` of
/// them not deleted, the IDs of its first and last records (deleted or not).
struct StreamNode {
    var start: UInt64
    var end: UInt64
    var valid: Int
    var firstID: StreamID
    var lastID: StreamID
}
