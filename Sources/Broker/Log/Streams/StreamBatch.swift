// A Redis stream's compact batch: LogBatch's format 1 (the top bits of its record count), what
// XADD writes into the stream's own topic. In the spirit of redis's listpack stream nodes (the
// node's master entry: its first ID, against which the others are deltas, and its field names,
// which an entry with the same fields does not repeat) and of Kafka's record format v2 (varint
// lengths and deltas). An XADD of one field and a 100-byte value costs 105 bytes here, where a
// record of the broker's format held 20 (header) + 16 (the ID as its key) + 119 (the fields as a
// RESP array, 19 bytes of framing).
//
// Payload, little-endian, after LogBatch's 20-byte batch header (baseOffset, count | 1 << 28,
// maxTimestamp):
//   timestamp u64, ms u64, seq u64        the first record's timestamp and ID
//   flags u32                             every record's flags
//   varint m, m × string                  the master fields: the first record's field names
//   the first record: varint 0, m × string (its values)
//   each later record, varints:
//     zigzag(timestamp - ms)              its timestamp against its own ID's ms (0 for `*` IDs)
//     ms - first ms
//     seq - first seq when ms is the first's, else seq
//     n: 0 = the master's names, then m × string (the values); else n × (name, value) strings
// A string is a varint length and the bytes; varints are unsigned LEB128 (at most 10 bytes).
// The broker port's read hands each record out as the broker's format would hold it
// (LogRecordView: its key the ID's 16 bytes big-endian, its value the fields as a RESP array),
// composed into the reader's scratch buffer, so it sees what it saw before. A stream's own reads
// (StreamLog.lockedScan) take each record where it lies instead (StreamEntryFields: the ID, and
// the fields as positions in the batch), and XRANGE / XREAD write the RESP array from there
// straight into the reply: no record composed, nothing allocated per entry.
import Durability
import Platform
#if canImport(Glibc)
import Glibc
#endif

extension LogBatch {
    /// A stream batch's header: LogBatch's 20 bytes, then the first record's timestamp, ms and
    /// seq and the records' flags.
    static let streamHeaderBytes = 48

    // MARK: varints

    @inline(__always) static func varintLength(_ v: UInt64) -> Int {
        v < 0x80 ? 1 : (70 - v.leadingZeroBitCount) / 7
    }

    /// Writes `v` at `p + at`, advancing `at`.
    @inline(__always) static func putVarint(_ v: UInt64, _ p: UnsafeMutableRawPointer, _ at: inout Int) {
        var x = v
        while x >= 0x80 {
            p.storeBytes(of: UInt8(truncatingIfNeeded: x) | 0x80, toByteOffset: at, as: UInt8.self)
            at += 1
            x >>= 7
        }
        p.storeBytes(of: UInt8(x), toByteOffset: at, as: UInt8.self)
        at += 1
    }

    /// The varint at `at` (advanced past it); nil if it runs past `end` or past 64 bits.
    @inline(__always) static func readVarint(_ b: UnsafeRawBufferPointer, _ at: inout Int, _ end: Int) -> UInt64? {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while at < end {
            let byte = b[at]
            at += 1
            if shift == 63 && byte > 1 { return nil }
            v |= UInt64(byte & 0x7f) << shift
            if byte < 0x80 { return v }
            shift += 7
        }
        return nil
    }

    @inline(__always) static func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }
    @inline(__always) static func unzigzag(_ u: UInt64) -> Int64 { Int64(bitPattern: u >> 1) ^ -Int64(bitPattern: u & 1) }

    /// A record's timestamp as its varint holds it: against its ID's ms.
    @inline(__always) static func streamTimestampDelta(_ timestamp: UInt64, _ id: StreamID) -> UInt64 {
        zigzag(Int64(bitPattern: timestamp &- id.ms))
    }

    @inline(__always) static func stringLength(_ n: Int) -> Int { varintLength(UInt64(n)) + n }

    @inline(__always) static func putString(_ s: UnsafeRawBufferPointer, _ p: UnsafeMutableRawPointer, _ at: inout Int) {
        putVarint(UInt64(s.count), p, &at)
        if s.count > 0 { (p + at).copyMemory(from: s.baseAddress!, byteCount: s.count) }
        at += s.count
    }

    // MARK: writing

    /// Bytes of the master section for these fields (the count and the names, fields 0, 2, ...).
    static func streamMasterLength(fieldCount: Int, field: (Int) -> UnsafeRawBufferPointer) -> Int {
        var n = varintLength(UInt64(fieldCount / 2))
        var i = 0
        while i < fieldCount {
            n += stringLength(field(i).count)
            i += 2
        }
        return n
    }

    /// Framed bytes of a stream batch whose one record holds these fields (`fieldCount` names
    /// and values alternating, at least one pair).
    static func streamBatchLength(fieldCount: Int, field: (Int) -> UnsafeRawBufferPointer) -> Int {
        var n = frameBytes + streamHeaderBytes + streamMasterLength(fieldCount: fieldCount, field: field) + 1
        var i = 1
        while i < fieldCount {
            n += stringLength(field(i).count)
            i += 2
        }
        return n
    }

    /// Whether the fields' names are those of the master section `master`.
    static func streamFieldsMatch(master: UnsafeRawBufferPointer, fieldCount: Int,
                                  field: (Int) -> UnsafeRawBufferPointer) -> Bool {
        var at = 0
        guard let m = readVarint(master, &at, master.count), m == UInt64(fieldCount / 2) else { return false }
        var i = 0
        while i < fieldCount {
            let f = field(i)
            guard let n = readVarint(master, &at, master.count), n == UInt64(f.count), at + f.count <= master.count else {
                return false
            }
            if f.count > 0 && memcmp(master.baseAddress! + at, f.baseAddress!, f.count) != 0 { return false }
            at += f.count
            i += 2
        }
        return true
    }

    /// Bytes of a later record of a stream batch whose first ID is `first`; `master`: its names
    /// are the master's (only its values are kept).
    static func streamRecordLength(id: StreamID, first: StreamID, timestamp: UInt64, fieldCount: Int,
                                   field: (Int) -> UnsafeRawBufferPointer, master: Bool) -> Int {
        let msDelta = id.ms &- first.ms
        var n = varintLength(streamTimestampDelta(timestamp, id)) + varintLength(msDelta)
            + varintLength(msDelta == 0 ? id.seq &- first.seq : id.seq)
        var i = master ? 1 : 0
        n += master ? 1 : varintLength(UInt64(fieldCount / 2))
        while i < fieldCount {
            n += stringLength(field(i).count)
            i += master ? 2 : 1
        }
        return n
    }

    /// Writes a later record (`streamRecordLength` bytes) at `p`; returns the bytes written.
    @discardableResult
    static func writeStreamRecord(_ p: UnsafeMutableRawPointer, id: StreamID, first: StreamID, timestamp: UInt64,
                                  fieldCount: Int, field: (Int) -> UnsafeRawBufferPointer, master: Bool) -> Int {
        var at = 0
        let msDelta = id.ms &- first.ms
        putVarint(streamTimestampDelta(timestamp, id), p, &at)
        putVarint(msDelta, p, &at)
        putVarint(msDelta == 0 ? id.seq &- first.seq : id.seq, p, &at)
        putVarint(master ? 0 : UInt64(fieldCount / 2), p, &at)
        var i = master ? 1 : 0
        while i < fieldCount {
            putString(field(i), p, &at)
            i += master ? 2 : 1
        }
        return at
    }

    /// Appends a stream batch of one record (`length` framed bytes, `streamBatchLength`); its
    /// CRC-32C is written only when `checksum` (an open batch's is written when it closes).
    static func appendStreamBatch(to b: inout ByteBuffer, length: Int, offset: UInt64, timestamp: UInt64, flags: UInt32,
                                  id: StreamID, fieldCount: Int, field: (Int) -> UnsafeRawBufferPointer, checksum: Bool) {
        let start = b.count
        b.reserve(length)
        b.append(UInt32(length - frameBytes))
        b.append(UInt32(0))
        b.append(offset)
        b.append(UInt32(1) | streamFormat << formatShift)
        b.append(timestamp)
        b.append(timestamp)
        b.append(id.ms)
        b.append(id.seq)
        b.append(flags)
        let p = b.base! + b.count
        var at = 0
        putVarint(UInt64(fieldCount / 2), p, &at)
        var i = 0
        while i < fieldCount {
            putString(field(i), p, &at)
            i += 2
        }
        putVarint(0, p, &at)
        i = 1
        while i < fieldCount {
            putString(field(i), p, &at)
            i += 2
        }
        b.advance(at)
        assert(b.count - start == length, "a stream batch's length")
        if checksum {
            let payload = UnsafeRawBufferPointer(start: b.base! + start + frameBytes, count: length - frameBytes)
            b.patch(CRC32C.checksum(payload), at: start + 4)
        }
    }

    // MARK: reading

    /// Advances `at` past the string there; false if it runs past `end`.
    @inline(__always) static func skipString(_ b: UnsafeRawBufferPointer, _ at: inout Int, _ end: Int) -> Bool {
        guard let n = readVarint(b, &at, end), n <= UInt64(end - at) else { return false }
        at += Int(n)
        return true
    }

    /// Whether a stream batch's records (`count`) fill its `payload` exactly, every varint and
    /// string inside it.
    static func checkStreamRecords(_ payload: UnsafeRawBufferPointer, count: Int) -> Bool {
        let end = payload.count
        guard end >= streamHeaderBytes else { return false }
        var at = streamHeaderBytes
        // Each string and record takes a byte at least: the counts are bounded by the bytes.
        guard let m = readVarint(payload, &at, end), m <= UInt64(end) else { return false }
        for _ in 0..<Int(m) { guard skipString(payload, &at, end) else { return false } }
        for i in 0..<count {
            if i > 0 {
                for _ in 0..<3 { guard readVarint(payload, &at, end) != nil else { return false } }
            }
            guard let n = readVarint(payload, &at, end), n <= UInt64(end) else { return false }
            // The first record holds the master's values.
            if i == 0 && n != 0 { return false }
            for _ in 0..<(n == 0 ? Int(m) : 2 * Int(n)) { guard skipString(payload, &at, end) else { return false } }
        }
        return at == end
    }

    /// Each record of a (checked) stream batch's `payload` from offset `from` on, where it lies:
    /// its offset, timestamp, flags, ID and fields (StreamEntryFields, into the payload), until
    /// `visit` returns false. Returns the records visited. Nothing is composed: a stream read
    /// writes the fields from here into its reply; `forEachStreamRecord` composes for the broker.
    @inline(__always)
    static func forEachStreamEntry(_ payload: UnsafeRawBufferPointer, from: UInt64,
                                   _ visit: (UInt64, UInt64, UInt32, StreamID, StreamEntryFields) -> Bool) -> Int {
        let end = payload.count
        let base = u64(payload, 0)
        let count = Self.count(u32(payload, 8))
        let firstTimestamp = u64(payload, 20)
        let first = StreamID(u64(payload, 28), u64(payload, 36))
        let flags = u32(payload, 44)
        var at = streamHeaderBytes
        let m = Int(readVarint(payload, &at, end) ?? 0)
        let names = at
        for _ in 0..<m { _ = skipString(payload, &at, end) }
        let namesEnd = at
        var visited = 0
        for i in 0..<count {
            var id = first
            var timestamp = firstTimestamp
            if i > 0 {
                let delta = readVarint(payload, &at, end) ?? 0
                let msDelta = readVarint(payload, &at, end) ?? 0
                let seq = readVarint(payload, &at, end) ?? 0
                id = msDelta == 0 ? StreamID(first.ms, first.seq &+ seq) : StreamID(first.ms &+ msDelta, seq)
                timestamp = id.ms &+ UInt64(bitPattern: unzigzag(delta))
            }
            let n = Int(readVarint(payload, &at, end) ?? 0)
            let values = at
            for _ in 0..<(n == 0 ? m : 2 * n) { _ = skipString(payload, &at, end) }
            if base + UInt64(i) < from { continue }
            let fields = StreamEntryFields(payload: payload, names: n == 0 ? names : StreamEntryFields.ownNames,
                                           namesEnd: namesEnd, values: values, pairs: n == 0 ? m : n, end: at)
            visited += 1
            if !visit(base + UInt64(i), timestamp, flags, id, fields) { break }
        }
        return visited
    }

    /// `forEachRecord` for a (checked) stream batch's `payload`: each record from `from` on is
    /// composed into `scratch` (its key the ID's 16 bytes, big-endian, then its value, the fields
    /// as a RESP array) and visited, until `visit` returns false: the broker's view of a stream.
    static func forEachStreamRecord(_ payload: UnsafeRawBufferPointer, from: UInt64, scratch: inout ByteBuffer,
                                    _ visit: (LogRecordView) -> Bool) -> Int {
        forEachStreamEntry(payload, from: from) { offset, timestamp, flags, id, fields in
            scratch.removeAll()
            scratch.append(id.ms.byteSwapped)
            scratch.append(id.seq.byteSwapped)
            scratch.reserve(fields.maxRESPLength)
            scratch.advance(fields.writeRESP(scratch.base! + scratch.count))
            let b = scratch.base!
            return visit(LogRecordView(offset: offset, timestamp: timestamp, flags: flags,
                                       key: UnsafeRawBufferPointer(start: b, count: 16),
                                       value: UnsafeRawBufferPointer(start: b + 16, count: scratch.count - 16)))
        }
    }

    /// `forEachRecord` for a stream read (`LogPartition.readWhile`'s `compose: false`): each
    /// record handed with its ID and fields where they lie (`LogRecordView.entry`), no key or
    /// value composed.
    static func forEachStreamRecordUncomposed(_ payload: UnsafeRawBufferPointer, from: UInt64,
                                              _ visit: (LogRecordView) -> Bool) -> Int {
        forEachStreamEntry(payload, from: from) { offset, timestamp, flags, id, fields in
            visit(LogRecordView(offset: offset, timestamp: timestamp, flags: flags, key: nil,
                                value: UnsafeRawBufferPointer(start: nil, count: 0), entry: (id, fields)))
        }
    }
}

/// A stream entry's fields as XADD gives them (names and values alternating) and as the log's
/// records hold them elsewhere (a RESP array: an adopted topic's records, a read's values).
enum StreamFields {
    /// Bytes of the fields as a RESP array.
    static func respLength(fieldCount: Int, field: (Int) -> UnsafeRawBufferPointer) -> Int {
        var n = 3 + decimalDigits(UInt64(fieldCount))
        for i in 0..<fieldCount {
            let c = field(i).count
            n += 5 + decimalDigits(UInt64(c)) + c
        }
        return n
    }

    /// Writes the fields as a RESP array (`respLength` bytes) at `p`.
    static func writeRESP(fieldCount: Int, field: (Int) -> UnsafeRawBufferPointer, into p: UnsafeMutableRawPointer) {
        var at = 0
        func header(_ kind: UInt8, _ n: Int) { at += StreamEntryFields.writeCountLine(kind, n, p + at) }
        header(UInt8(ascii: "*"), fieldCount)
        for i in 0..<fieldCount {
            let a = field(i)
            header(UInt8(ascii: "$"), a.count)
            if a.count > 0 { (p + at).copyMemory(from: a.baseAddress!, byteCount: a.count) }
            p.storeBytes(of: 13, toByteOffset: at + a.count, as: UInt8.self)
            p.storeBytes(of: 10, toByteOffset: at + a.count + 1, as: UInt8.self)
            at += a.count + 2
        }
    }

    /// The strings of a RESP array of bulk strings (what `writeRESP` wrote, or a record's value
    /// read back), as ranges of `bytes` into `out` (emptied first); false if it is not one.
    static func split(_ bytes: UnsafeRawBufferPointer, into out: inout [Range<Int>]) -> Bool {
        out.removeAll(keepingCapacity: true)
        var at = 0
        func number(after kind: UInt8) -> Int? {
            guard at < bytes.count, bytes[at] == kind else { return nil }
            at += 1
            var v = 0
            var digits = 0
            while at < bytes.count, bytes[at] >= UInt8(ascii: "0"), bytes[at] <= UInt8(ascii: "9"), digits < 18 {
                v = v * 10 + Int(bytes[at] - UInt8(ascii: "0"))
                at += 1
                digits += 1
            }
            guard digits > 0, at + 2 <= bytes.count, bytes[at] == 13, bytes[at + 1] == 10 else { return nil }
            at += 2
            return v
        }
        guard let n = number(after: UInt8(ascii: "*")) else { return false }
        for _ in 0..<n {
            guard let len = number(after: UInt8(ascii: "$")), len <= bytes.count - at - 2,
                  bytes[at + len] == 13, bytes[at + len + 1] == 10 else { return false }
            out.append(at..<(at + len))
            at += len + 2
        }
        return at == bytes.count
    }
}

/// A stream entry's fields where a read found them, for writing them as a RESP array straight
/// into a reply: a compact record's strings in its stream batch's payload (its values, and its
/// names: the batch's master names or its own, interleaved with the values), or a RESP array
/// already (a broker-format record: an adopted topic's, or a broker-port record's fields). Valid
/// only during the visit that handed it (the batch is the partition's memory, under its lock).
public struct StreamEntryFields {
    /// The batch's payload, or the RESP array (`names == StreamEntryFields.isRESP`).
    let bytes: UnsafeRawBufferPointer
    /// Where the batch's master names start (the entry has them), or `ownNames` (its names are
    /// interleaved with its values), or `isRESP`.
    let names: Int
    /// The end of the master names.
    let namesEnd: Int
    /// The record's first string (after its count) and the end of its last.
    let values: Int
    let end: Int
    /// Name-value pairs.
    let pairs: Int

    static let ownNames = -1
    static let isRESP = -2

    init(payload: UnsafeRawBufferPointer, names: Int, namesEnd: Int, values: Int, pairs: Int, end: Int) {
        bytes = payload
        self.names = names
        self.namesEnd = namesEnd
        self.values = values
        self.pairs = pairs
        self.end = end
    }

    /// Fields that are a RESP array already.
    public init(resp: UnsafeRawBufferPointer) {
        bytes = resp
        names = Self.isRESP
        namesEnd = 0
        values = 0
        end = resp.count
        pairs = 0
    }

    /// At least the bytes `writeRESP` writes: the strings' bytes (with their varints) and 25 a
    /// string for its `$<len>\r\n...\r\n` (19 digits at most), without walking them.
    @inline(__always)
    public var maxRESPLength: Int {
        if names == Self.isRESP { return bytes.count }
        return 23 + (end - values) + (names >= 0 ? namesEnd - names : 0) + 50 * pairs
    }

    /// Exactly the bytes `writeRESP` writes (a reverse range places each entry by it): the
    /// strings' lengths read, their bytes not.
    public var respLength: Int {
        if names == Self.isRESP { return bytes.count }
        var n = 3 + decimalDigits(UInt64(2 * pairs))
        var at = values
        var name = names
        for _ in 0..<pairs {
            if name >= 0 {
                n += Self.bulkLength(bytes, &name, end: namesEnd)
            } else {
                n += Self.bulkLength(bytes, &at, end: end)
            }
            n += Self.bulkLength(bytes, &at, end: end)
        }
        return n
    }

    /// Writes the fields as a RESP array (`*<2n>\r\n$<len>\r\n<name>\r\n...`) at `p`, which
    /// has room for `maxRESPLength` bytes; returns the bytes written.
    @discardableResult
    public func writeRESP(_ p: UnsafeMutableRawPointer) -> Int {
        if names == Self.isRESP {
            if bytes.count > 0 { p.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
            return bytes.count
        }
        var w = Self.writeCountLine(UInt8(ascii: "*"), 2 * pairs, p)
        var at = values
        var name = names
        let end = self.end
        for _ in 0..<pairs {
            if name >= 0 {
                w += Self.bulk(bytes, &name, end: namesEnd, p + w)
            } else {
                w += Self.bulk(bytes, &at, end: end, p + w)
            }
            w += Self.bulk(bytes, &at, end: end, p + w)
        }
        return w
    }

    /// The RESP array, copied (a caller that keeps it past the visit).
    public var resp: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: maxRESPLength) { b, n in n = writeRESP(b.baseAddress!) }
    }

    /// A count line's room: a marker, 19 digits at most (a count is below 2^63), CRLF.
    public static let countLineRoom = 22

    /// `<kind><n>\r\n` at `p` (room for `countLineRoom` bytes); returns its length: a RESP count
    /// or length line. Inlinable: the RESP module writes every stream reply's lines with it.
    @inlinable @inline(__always)
    public static func writeCountLine(_ kind: UInt8, _ n: Int, _ p: UnsafeMutableRawPointer) -> Int {
        let digits = decimalDigits(UInt64(n))
        p.storeBytes(of: kind, as: UInt8.self)
        writeDecimal(UInt64(n), digits: digits, p + 1)
        p.storeBytes(of: 0x0a0d as UInt16, toByteOffset: 1 + digits, as: UInt16.self)
        return 3 + digits
    }

    /// The length of `bulk`'s bulk string for the string at `at` (advanced past it).
    @inline(__always)
    static func bulkLength(_ b: UnsafeRawBufferPointer, _ at: inout Int, end: Int) -> Int {
        let n = Int(min(LogBatch.readVarint(b, &at, end) ?? 0, UInt64(max(end - at, 0))))
        at += n
        return 5 + decimalDigits(UInt64(n)) + n
    }

    /// The string at `at` (advanced past it) as a bulk string at `p`; returns its length. Bounded
    /// by `end` (a checked batch never reaches it).
    @inline(__always)
    static func bulk(_ b: UnsafeRawBufferPointer, _ at: inout Int, end: Int, _ p: UnsafeMutableRawPointer) -> Int {
        let n = Int(min(LogBatch.readVarint(b, &at, end) ?? 0, UInt64(max(end - at, 0))))
        let h = Self.writeCountLine(UInt8(ascii: "$"), n, p)
        if n > 0 { (p + h).copyMemory(from: b.baseAddress! + at, byteCount: n) }
        p.storeBytes(of: 0x0a0d as UInt16, toByteOffset: h + n, as: UInt16.self)
        at += n
        return h + n + 2
    }
}
