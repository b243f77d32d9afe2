// A topic declared on the broker port read as a Redis stream (StreamStore.adoptTopic, when a
// Redis command in database 0 names a key that does not exist but a one-partition topic does).
// Records the broker port appended carry no stream ID: each gets one when the stream first sees
// it, `<its timestamp>-0` or, at or behind the top ID, the top ID's next (StreamID.next, as an
// XADD with `*` at that time would have made), kept in `assigned` for the stream's life (so they
// are stable until the key goes, and may differ after). Their fields are `value` (and `key`
// first for a keyed record), as a RESP array made when read. XADD appends as to any stream (the
// broker's readers get the RESP array). Every entry point absorbs what the broker appended since
// (`withStreamLock`); trims and deletes are the stream's view only, the records stay the
// broker's (its retention decides).
import Durability
import Platform

extension StreamLog {
    /// The stream's lock, with the broker's new records absorbed first for an adopted topic.
    func withStreamLock<T>(_ body: () -> T) -> T {
        lock.withLock {
            if adopted { lockedAbsorb() }
            return body()
        }
    }

    /// Lock held: records appended behind the stream's back (the broker port) join it.
    func lockedAbsorb() {
        let before = firstOffset
        lockedAbsorbDrops()
        if nextOffset < partition.startOffset { nextOffset = partition.startOffset; firstOffset = max(firstOffset, nextOffset) }
        let end = partition.endOffset
        guard nextOffset < end else { return }
        var found: [(UInt64, StreamID?, UInt64)] = []
        var at = nextOffset
        while at < end {
            let (next, n) = partition.read(from: at, maxRecords: 256, until: end) { r in
                let own = r.flags == Self.recordFlags && r.value.first == UInt8(ascii: "*") ? StreamID(key: r.key) : nil
                found.append((r.offset, own, r.timestamp))
            }
            if n == 0 { break }
            at = next
        }
        for (offset, own, timestamp) in found {
            var id: StreamID
            if let own, own > lastID {
                id = own
            } else {
                id = StreamID.next(after: lastID, nowMs: timestamp)
                assigned[offset] = id
            }
            if lastID == .max { break }
            lockedNoteAppend(id, offset: offset)
        }
        if nextOffset < end { nextOffset = end }
        // Records the broker's retention took leave the ID table.
        if firstOffset > before && !assigned.isEmpty { assigned = assigned.filter { $0.key >= firstOffset } }
    }

    /// A broker-port record's fields: `key` (when keyed) and `value`, as a RESP array.
    static func fields(of r: LogRecordView) -> [UInt8] {
        var out: [UInt8] = []
        func bulk(_ b: UnsafeRawBufferPointer) {
            out.append(UInt8(ascii: "$"))
            out.append(contentsOf: String(b.count).utf8)
            out.append(contentsOf: "\r\n".utf8)
            out.append(contentsOf: b)
            out.append(contentsOf: "\r\n".utf8)
        }
        func word(_ s: StaticString) { bulk(UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount)) }
        out.append(contentsOf: (r.key == nil ? "*2\r\n" : "*4\r\n").utf8)
        if let k = r.key {
            word("key")
            bulk(k)
        }
        word("value")
        bulk(r.value)
        return out
    }
}

extension StreamLog {
    /// The stream takes in what the broker port appends to `topic`: it is the topic this stream
    /// adopted (its records join the stream as entries); a stream's own topic's are not its entries.
    /// (`adopted` is set once, by the initialiser.)
    public func absorbsBrokerAppends(to topic: LogTopic) -> Bool {
        adopted && self.topic === topic
    }
}
