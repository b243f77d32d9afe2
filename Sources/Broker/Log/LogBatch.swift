// A log's on-disk (and in-memory) unit: a batch of records framed as every Durability record
// file frames its records, `[payload length u32][CRC-32C of the payload u32][payload]`, so a
// segment is valid up to any batch boundary and one CRC covers a batch (as Kafka's batches).
// The same bytes are kept in memory for the hot tail and written to the segment file, so a read
// parses one format whether it comes from memory or from disk.
//
// Payload, little-endian:
//   baseOffset u64, recordCount u32, maxTimestamp u64                          (batch header, 20)
//   per record: timestamp u64, flags u32, keyLength u32 (0xffffffff: no key), valueLength u32,
//               key, value                                                    (record header, 20)
// Offsets inside a batch are dense: record i has baseOffset + i.
//
// The batch's record format is the top 4 bits of recordCount (the count is the low 28): 0 for
// the records above (every batch written before formats existed has 0 there: a count never
// came near 2^28), 1 for a Redis stream's compact entries (`StreamBatch.swift`: IDs as deltas
// against the batch's first, the first entry's field names shared, varint lengths), which a
// read hands out as the records above would hold them (composed), or, to a stream's own read,
// where they lie (`LogRecordView.entry`). Any other format fails the check.
import Durability

/// One record as a read hands it out (the bytes point into the batch being read).
public struct LogRecordView {
    public let offset: UInt64
    public let timestamp: UInt64
    public let flags: UInt32
    public let key: UnsafeRawBufferPointer?
    public let value: UnsafeRawBufferPointer
    /// A stream batch's record read uncomposed (`forEachRecord`'s `compose: false`): its ID and
    /// fields where they lie, the key nil and the value empty. Nil for every other record.
    let entry: (id: StreamID, fields: StreamEntryFields)?

    init(offset: UInt64, timestamp: UInt64, flags: UInt32, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer,
         entry: (id: StreamID, fields: StreamEntryFields)? = nil) {
        self.offset = offset
        self.timestamp = timestamp
        self.flags = flags
        self.key = key
        self.value = value
        self.entry = entry
    }
}

/// A batch's header as a scan found it valid.
struct LogBatchHeader: Equatable {
    /// Framed length (8 + payload).
    var length: Int
    var baseOffset: UInt64
    var count: Int
    var maxTimestamp: UInt64
    var nextOffset: UInt64 { baseOffset + UInt64(count) }
}

enum LogBatch {
    static let frameBytes = 8
    static let headerBytes = 20
    static let recordHeaderBytes = 20
    static let noKey: UInt32 = 0xffff_ffff
    /// The longest payload believed: a batch holds one value of at most -I (1 GB at most) today.
    static let maxPayload = 1 << 30 + 4096
    /// recordCount's low bits: the count; its top 4 bits: the record format.
    static let countMask: UInt32 = 1 << 28 - 1
    static let formatShift: UInt32 = 28
    /// The record formats.
    static let recordsFormat: UInt32 = 0
    static let streamFormat: UInt32 = 1

    /// The record count of a batch whose recordCount field (payload offset 8) is `field`.
    @inline(__always) static func count(_ field: UInt32) -> Int { Int(field & countMask) }

    /// Framed bytes of a one-record batch.
    static func framedLength(keyLength: Int, valueLength: Int) -> Int {
        frameBytes + headerBytes + recordHeaderBytes + keyLength + valueLength
    }

    /// Appends one framed batch holding one record; `writeValue` fills `valueLength` bytes.
    static func appendOne(to b: inout ByteBuffer, offset: UInt64, timestamp: UInt64, flags: UInt32,
                          key: UnsafeRawBufferPointer?, valueLength: Int,
                          writeValue: (UnsafeMutableRawPointer) -> Void) {
        RecordFile.frame(into: &b) { p in
            p.append(offset)
            p.append(UInt32(1))
            p.append(timestamp)
            p.append(timestamp)
            p.append(flags)
            p.append(key.map { UInt32($0.count) } ?? noKey)
            p.append(UInt32(valueLength))
            if let key { p.append(key) }
            p.reserve(valueLength)
            writeValue(p.base! + p.count)
            p.advance(valueLength)
        }
    }

    /// The batch at `pos` of `bytes` if it is whole and valid: its frame fits, its CRC matches,
    /// its records fill its payload exactly, and (when given) its base offset is `expected`.
    /// Nil for a torn or damaged batch (the caller cuts there).
    static func check(_ bytes: UnsafeRawBufferPointer, at pos: Int, expected: UInt64?) -> LogBatchHeader? {
        guard pos >= 0, pos + frameBytes + headerBytes <= bytes.count else { return nil }
        let length = Int(u32(bytes, pos))
        guard length >= headerBytes, length <= maxPayload, pos + frameBytes + length <= bytes.count else { return nil }
        let payload = UnsafeRawBufferPointer(rebasing: bytes[(pos + frameBytes)..<(pos + frameBytes + length)])
        guard CRC32C.checksum(payload) == u32(bytes, pos + 4) else { return nil }
        let base = u64(payload, 0)
        let field = u32(payload, 8)
        let count = Self.count(field)
        if let expected, base != expected { return nil }
        guard count >= 1 else { return nil }
        switch field >> formatShift {
        case recordsFormat: break
        case streamFormat:
            guard checkStreamRecords(payload, count: count) else { return nil }
            return LogBatchHeader(length: frameBytes + length, baseOffset: base, count: count, maxTimestamp: u64(payload, 12))
        default: return nil
        }
        // The records must fill the payload exactly.
        var at = headerBytes
        for _ in 0..<count {
            guard at + recordHeaderBytes <= length else { return nil }
            let keyLength = u32(payload, at + 12)
            let k = keyLength == noKey ? 0 : Int(keyLength)
            let v = Int(u32(payload, at + 16))
            guard k <= length, v <= length else { return nil }
            at += recordHeaderBytes + k + v
            guard at <= length else { return nil }
        }
        guard at == length else { return nil }
        return LogBatchHeader(length: frameBytes + length, baseOffset: base, count: count, maxTimestamp: u64(payload, 12))
    }

    /// Calls `visit` for each record of the (checked) batch at `pos` whose offset is at least
    /// `from`, until it returns false. Returns the records visited. A stream batch's records are
    /// composed into `scratch` (the reader's, kept across batches), one at a time; unless
    /// `compose` is false (a stream's own read): then each is handed where it lies (`entry`).
    @discardableResult
    static func forEachRecord(_ bytes: UnsafeRawBufferPointer, at pos: Int, from: UInt64, scratch: inout ByteBuffer,
                              compose: Bool = true, _ visit: (LogRecordView) -> Bool) -> Int {
        let length = Int(u32(bytes, pos))
        let payload = UnsafeRawBufferPointer(rebasing: bytes[(pos + frameBytes)..<(pos + frameBytes + length)])
        let base = u64(payload, 0)
        let field = u32(payload, 8)
        let count = Self.count(field)
        if field >> formatShift == streamFormat {
            if !compose { return forEachStreamRecordUncomposed(payload, from: from, visit) }
            return forEachStreamRecord(payload, from: from, scratch: &scratch, visit)
        }
        var at = headerBytes
        var visited = 0
        for i in 0..<count {
            let ts = u64(payload, at)
            let flags = u32(payload, at + 8)
            let keyLength = u32(payload, at + 12)
            let k = keyLength == noKey ? 0 : Int(keyLength)
            let v = Int(u32(payload, at + 16))
            let keyStart = at + recordHeaderBytes
            defer { at = keyStart + k + v }
            let offset = base + UInt64(i)
            if offset < from { continue }
            let key = keyLength == noKey ? nil : UnsafeRawBufferPointer(rebasing: payload[keyStart..<keyStart + k])
            let value = UnsafeRawBufferPointer(rebasing: payload[(keyStart + k)..<(keyStart + k + v)])
            visited += 1
            if !visit(LogRecordView(offset: offset, timestamp: ts, flags: flags, key: key, value: value)) { break }
        }
        return visited
    }

    @inline(__always) static func u32(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
        UInt32(littleEndian: b.loadUnaligned(fromByteOffset: at, as: UInt32.self))
    }
    @inline(__always) static func u64(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt64 {
        UInt64(littleEndian: b.loadUnaligned(fromByteOffset: at, as: UInt64.self))
    }
}
