// Stream batches (LogBatch format 1, Sources/Broker/Log/Streams/StreamBatch.swift): varints at
// their size boundaries, records round-tripped through the encoding at the edges of the ID space
// (sequence rollover, ms jumps to the last ms, timestamps before and far past their ID's ms),
// empty, large and many fields, names that are and are not the batch's master fields; damaged
// batches refused; a segment file holding stream batches after a broker-format batch recovered
// with its torn tail cut; a segment of the older builds' format (no format bits) read as before;
// a stream read's uncomposed records (StreamEntryFields) writing the RESP array the composed
// record holds, for every entry shape, from memory and from disk, and stopping where the composed
// read stops at a batch damaged on disk.
@testable import Broker
import Durability
import Platform
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite struct StreamBatchTests {
    /// Values at each varint size's ends, and the size.
    static let varints: [(UInt64, Int)] = {
        var out: [(UInt64, Int)] = [(0, 1), (.max, 10)]
        for bytes in 1...9 {
            let top: UInt64 = 1 << UInt64(7 * bytes)
            out.append((top - 1, bytes))
            out.append((top, bytes + 1))
        }
        return out
    }()

    @Test(arguments: varints)
    func varintsRoundTripAtTheirSizeBoundaries(_ v: UInt64, _ size: Int) {
        var bytes = [UInt8](repeating: 0xee, count: 12)
        var written = 0
        bytes.withUnsafeMutableBytes { LogBatch.putVarint(v, $0.baseAddress!, &written) }
        #expect(written == size && LogBatch.varintLength(v) == size)
        bytes.withUnsafeBytes { b in
            var at = 0
            #expect(LogBatch.readVarint(b, &at, size) == v && at == size)
            // Cut by one byte: nothing read.
            at = 0
            #expect(LogBatch.readVarint(b, &at, size - 1) == nil)
        }
    }

    @Test func varintsPastSixtyFourBitsAreRefused() {
        // Ten bytes whose last carries more than bit 63, and eleven bytes.
        for bad in [[UInt8](repeating: 0xff, count: 9) + [0x02], [UInt8](repeating: 0x80, count: 10) + [0x00]] {
            bad.withUnsafeBytes { b in
                var at = 0
                #expect(LogBatch.readVarint(b, &at, b.count) == nil)
            }
        }
        for v: Int64 in [0, 1, -1, 63, -64, .max, .min] { #expect(LogBatch.unzigzag(LogBatch.zigzag(v)) == v) }
        #expect(LogBatch.zigzag(-1) == 1 && LogBatch.zigzag(1) == 2)
    }

    /// Entries at the edges: the sequence rolling over to the next ms, the ms jumping to its
    /// last value, timestamps below and far above their ID's ms, field names that are the
    /// master's, other names, fewer and more fields, empty strings, a 512 KB value, 1,000 pairs.
    static let entries: [Entry] = {
        let f = Array("f".utf8)
        let v = [UInt8](repeating: 0x5a, count: 100)
        let many = (0..<2000).map { Array("k\($0)".utf8) }
        return [
            Entry(StreamID(5, .max - 1), 5, [f, v]),
            Entry(StreamID(5, .max), 5, [f, Array("second".utf8)]),
            Entry(StreamID(6, 0), 6, [f, []]),
            Entry(StreamID(6, 1), 4, [Array("g".utf8), v]),
            Entry(StreamID(127, 3), 1 << 40, [f, v, Array("h".utf8), v]),
            Entry(StreamID(200, 12345), 100, [[], []]),
            Entry(StreamID(201, 0), 201, [f, [UInt8](repeating: 7, count: 1 << 19)]),
            Entry(StreamID(202, 0), 202, many),
            Entry(StreamID(.max, .max), 7, [f, v]),
        ]
    }()

    @Test func recordsRoundTripAtTheEdges() {
        let batch = Self.streamBatch(offset: 40, flags: 88, Self.entries)
        batch.withUnsafeBytes { bytes in
            let h = LogBatch.check(bytes, at: 0, expected: 40)
            #expect(h == LogBatchHeader(length: batch.count, baseOffset: 40, count: Self.entries.count, maxTimestamp: 1 << 40))
            for from: UInt64 in [0, 44] {
                var scratch = ByteBuffer()
                defer { scratch.deallocate() }
                var got: [(UInt64, StreamID?, UInt64, UInt32, [UInt8])] = []
                LogBatch.forEachRecord(bytes, at: 0, from: from, scratch: &scratch) { r in
                    got.append((r.offset, StreamID(key: r.key), r.timestamp, r.flags, Array(r.value)))
                    return true
                }
                let expected = Array(Self.entries.enumerated().dropFirst(Int(from > 40 ? from - 40 : 0)))
                #expect(got.map(\.0) == expected.map { 40 + UInt64($0.offset) })
                for (g, (_, e)) in zip(got, expected) {
                    #expect(g.1 == e.id && g.2 == e.timestamp && g.3 == 88)
                    #expect(g.4 == Self.resp(e.fields), "\(e.id)")
                }
            }
            // A visit that says stop ends the walk.
            var scratch = ByteBuffer()
            defer { scratch.deallocate() }
            let visited = LogBatch.forEachRecord(bytes, at: 0, from: 0, scratch: &scratch) { _ in false }
            #expect(visited == 1)
        }
        // Names that are the master's keep only their values: the second record is 1 + 1 + 1
        // (timestamp, ms and seq deltas) + 1 (0: the master's names) + 7 bytes.
        let two = Self.streamBatch(offset: 0, flags: 88, Array(Self.entries[0..<2]))
        let one = Self.streamBatch(offset: 0, flags: 88, Array(Self.entries[0..<1]))
        #expect(two.count - one.count == 11)
        #expect(one.count == 8 + 48 + 3 + 1 + 101)
    }

    /// Each record of `batch` read composed (the broker's view: key, value) and uncomposed (a
    /// stream read's: ID, fields written from the batch), from `from`.
    static func bothWays(_ bytes: UnsafeRawBufferPointer, from: UInt64)
        -> (composed: [(UInt64, StreamID?, UInt64, [UInt8])], written: [(UInt64, StreamID?, UInt64, [UInt8])]) {
        var scratch = ByteBuffer()
        defer { scratch.deallocate() }
        var composed: [(UInt64, StreamID?, UInt64, [UInt8])] = []
        LogBatch.forEachRecord(bytes, at: 0, from: from, scratch: &scratch) { r in
            #expect(r.entry == nil)
            composed.append((r.offset, StreamID(key: r.key), r.timestamp, Array(r.value)))
            return true
        }
        var written: [(UInt64, StreamID?, UInt64, [UInt8])] = []
        LogBatch.forEachRecord(bytes, at: 0, from: from, scratch: &scratch, compose: false) { r in
            guard let (id, fields) = r.entry else {
                Issue.record("a stream record read uncomposed has no entry")
                return false
            }
            #expect(r.key == nil && r.value.isEmpty && r.flags == 88)
            // Written where `maxRESPLength` bytes are room: never past them.
            let room = fields.maxRESPLength
            var out = [UInt8](repeating: 0xee, count: room + 1)
            let n = out.withUnsafeMutableBytes { fields.writeRESP($0.baseAddress!) }
            #expect(n <= room && out[room] == 0xee)
            #expect(fields.resp == Array(out[0..<n]))
            written.append((r.offset, id, r.timestamp, Array(out[0..<n])))
            return true
        }
        return (composed, written)
    }

    @Test func uncomposedRecordsWriteTheFieldsTheComposedRecordsHold() {
        // The edge entries; and a master of two names that later entries share, then leave.
        let two = [Entry(StreamID(9, 0), 9, [Array("a".utf8), Array("1".utf8), Array("b".utf8), []]),
                   Entry(StreamID(9, 1), 9, [Array("a".utf8), Array("3".utf8), Array("b".utf8), Array("4".utf8)]),
                   Entry(StreamID(10, 0), 10, [Array("a".utf8), Array("5".utf8)]),
                   Entry(StreamID(10, 7), 10, [Array("b".utf8), Array("6".utf8), Array("a".utf8), Array("7".utf8)]),
                   Entry(StreamID(11, 0), 11, [[], Array("8".utf8), Array("b".utf8), Array("9".utf8)])]
        for entries in [Self.entries, two] {
            let batch = Self.streamBatch(offset: 40, flags: 88, entries)
            batch.withUnsafeBytes { bytes in
                for from: UInt64 in [0, 41, 44, 40 + UInt64(entries.count) - 1] {
                    let (composed, written) = Self.bothWays(bytes, from: from)
                    let expected = Array(entries.enumerated().dropFirst(Int(from > 40 ? from - 40 : 0)))
                    #expect(written.map(\.0) == expected.map { 40 + UInt64($0.offset) })
                    #expect(written.map(\.1) == expected.map(\.1.id))
                    #expect(written.map(\.2) == expected.map(\.1.timestamp))
                    #expect(zip(written, expected).allSatisfy { $0.3 == Self.resp($1.1.fields) })
                    #expect(composed.count == written.count)
                    #expect(zip(composed, written).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 && $0.2 == $1.2 && $0.3 == $1.3 })
                }
                // A visit that says stop ends the walk.
                var scratch = ByteBuffer()
                defer { scratch.deallocate() }
                #expect(LogBatch.forEachRecord(bytes, at: 0, from: 0, scratch: &scratch, compose: false) { _ in false } == 1)
            }
        }
        // Fields that are a RESP array already (a broker-format record's) are written as they are.
        let resp = Self.resp([Array("f".utf8), Array("v".utf8)])
        resp.withUnsafeBytes { b in
            let fields = StreamEntryFields(resp: b)
            #expect(fields.maxRESPLength == resp.count && fields.resp == resp)
        }
    }

    @Test func damagedStreamBatchesAreRefused() {
        var batch = Self.streamBatch(offset: 0, flags: 88, Array(Self.entries[0..<4]))
        let good = batch
        // One byte less of payload (frame and CRC made to agree): the records do not fill it.
        batch.removeLast()
        Self.reframe(&batch)
        #expect(batch.withUnsafeBytes { LogBatch.check($0, at: 0, expected: nil) } == nil)
        // An unknown format.
        batch = good
        batch[8 + 11] = 0x20
        Self.reframe(&batch)
        #expect(batch.withUnsafeBytes { LogBatch.check($0, at: 0, expected: nil) } == nil)
        // A first record that is not the master's values.
        batch = Self.streamBatch(offset: 0, flags: 88, Array(Self.entries[0..<1]))
        batch[8 + 48 + 3] = 1
        Self.reframe(&batch)
        #expect(batch.withUnsafeBytes { LogBatch.check($0, at: 0, expected: nil) } == nil)
        // A record's string length running past the batch.
        batch = good
        batch[8 + 48 + 3 + 1] = 0xff
        Self.reframe(&batch)
        #expect(batch.withUnsafeBytes { LogBatch.check($0, at: 0, expected: nil) } == nil)
        // A flipped bit without its CRC made to agree.
        batch = good
        batch[60] ^= 1
        #expect(batch.withUnsafeBytes { LogBatch.check($0, at: 0, expected: nil) } == nil)
        #expect(good.withUnsafeBytes { LogBatch.check($0, at: 0, expected: nil) } != nil)
    }

    @Test func theStreamsOwnAppendsReadBackAtTheEdges() {
        let store = StreamStore(memoryLimit: 64 << 20, clockMs: { 1 })
        let s = store.makeStream(name: "t")
        for e in Self.entries { #expect(Self.add(s, e) == .added(e.id)) }
        var got: [(StreamID, [UInt8])] = []
        s.range(start: .zero, end: .max, count: 0) { got.append(($0.id, $0.fields.resp)) }
        #expect(got.map(\.0) == Self.entries.map(\.id))
        #expect(zip(got, Self.entries).allSatisfy { $0.1 == Self.resp($1.fields) })
        // The records as the broker port reads them: the ID as their key, the stream's flags, and
        // the timestamp each was appended at (the partition's clock, never behind).
        var records: [(StreamID?, UInt32, UInt64)] = []
        _ = s.partition.read(from: 0, maxRecords: 100) { records.append((StreamID(key: $0.key), $0.flags, $0.timestamp)) }
        #expect(records.map(\.0) == Self.entries.map(\.id))
        #expect(records.allSatisfy { $0.1 == StreamLog.recordFlags })
        #expect(records.map(\.2) == [5, 5, 6, 6] + [UInt64](repeating: 1 << 40, count: 5))
        // The 512 KB value did not fit an open batch: more than one batch, every one valid once closed.
        s.lock.withLock { s.partition.closeStreamBatch(&s.openBatch) }
        let found = s.partition.lock.withLock { () -> [LogBatchHeader?] in
            var out: [LogBatchHeader?] = []
            for seg in s.partition.segments {
                seg.memory.forEachBatch { bytes, at in out.append(LogBatch.check(bytes, at: at, expected: nil)) }
            }
            return out
        }
        #expect(found.count > 1 && found.allSatisfy { $0 != nil })
        #expect(found.reduce(0) { $0 + ($1?.count ?? 0) } == Self.entries.count)
        // COPY reads them back and appends them again.
        let copy = s.clone(into: store)
        var copied: [(StreamID, [UInt8])] = []
        copy?.range(start: .zero, end: .max, count: 0) { copied.append(($0.id, $0.fields.resp)) }
        #expect(copied.map(\.0) == got.map(\.0) && zip(copied, got).allSatisfy { $0.1 == $1.1 })
    }

    @Test func aTornStreamBatchTailIsCutAtStartUpAndTheRestReads() throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        let part = dir.path + "/logs/s/0"
        try Self.declare(dir, "s", part)
        // A broker-format batch (offset 0), two stream batches (1-3, 4-5), a third torn.
        var old = ByteBuffer()
        defer { old.deallocate() }
        Array("old".utf8).withUnsafeBytes { v in
            LogBatch.appendOne(to: &old, offset: 0, timestamp: 9, flags: 0, key: nil, valueLength: 3) {
                $0.copyMemory(from: v.baseAddress!, byteCount: 3)
            }
        }
        let first = Self.streamBatch(offset: 1, flags: 88, Array(Self.entries[0..<3]))
        let second = Self.streamBatch(offset: 4, flags: 88, Array(Self.entries[3..<5]))
        let torn = Self.streamBatch(offset: 6, flags: 88, Array(Self.entries[5..<6]))
        let whole = Array(old.bytes) + first + second
        writeFile(part + "/00000000000000000000.log", whole + torn.dropLast(3), create: true)
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        let t = try #require(h.broker.logTopic(named: "s"))
        let p = t.partitions[0]
        #expect(p.figures.endOffset == 6)
        #expect(h.broker.logs.memory.recoveryTruncatedBytes.load(ordering: .relaxed) == torn.count - 3)
        #expect(readFile(part + "/00000000000000000000.log").count == whole.count)
        var got: [(UInt64, StreamID?, [UInt8])] = []
        _ = p.read(from: 0, maxRecords: 100) { got.append(($0.offset, StreamID(key: $0.key), Array($0.value))) }
        #expect(got.map(\.0) == Array(0..<6))
        #expect(got.first?.1 == nil && got.first?.2 == Array("old".utf8))
        #expect(got.dropFirst().map(\.1) == Self.entries[0..<5].map(\.id))
        #expect(zip(got.dropFirst(), Self.entries[0..<5]).allSatisfy { $0.2 == Self.resp($1.fields) })
        // A stream read of the same records from disk (uncomposed): the same IDs and fields, the
        // broker-format record as it is.
        func uncomposed() -> [(UInt64, StreamID?, [UInt8])] {
            var out: [(UInt64, StreamID?, [UInt8])] = []
            _ = p.readWhile(from: 0, maxRecords: 100, compose: false) { r in
                if let (id, fields) = r.entry {
                    out.append((r.offset, id, fields.resp))
                } else {
                    out.append((r.offset, StreamID(key: r.key), Array(r.value)))
                }
                return true
            }
            return out
        }
        let read = uncomposed()
        #expect(read.count == got.count && zip(read, got).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 && $0.2 == $1.2 })
        // The second stream batch damaged on disk behind the log's back: both reads end before it.
        var damaged = whole
        damaged[old.count + first.count + 30] ^= 0x40
        writeFile(part + "/00000000000000000000.log", damaged, create: false)
        got.removeAll()
        _ = p.read(from: 0, maxRecords: 100) { got.append(($0.offset, StreamID(key: $0.key), Array($0.value))) }
        #expect(got.map(\.0) == Array(0..<4))
        #expect(uncomposed().map(\.0) == Array(0..<4))
        h.broker.stop()
    }

    @Test func aSegmentOfTheOlderFormatIsReadAsBefore() throws {
        let dir = ScratchDirectory()
        defer { removeTree(dir.path) }
        let part = dir.path + "/logs/o/0"
        try Self.declare(dir, "o", part)
        // Two batches as the builds before format bits wrote them, byte for byte: a keyed record
        // and a record of the stream's shape (the 16-byte ID key, flags 88, a RESP array).
        func batch(_ offset: UInt64, _ ts: UInt64, _ flags: UInt32, _ key: [UInt8]?, _ value: [UInt8]) -> [UInt8] {
            var payload: [UInt8] = []
            func le<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { payload += $0 } }
            le(offset); le(UInt32(1)); le(ts)
            le(ts); le(flags); le(key.map { UInt32($0.count) } ?? 0xffff_ffff); le(UInt32(value.count))
            payload += (key ?? []) + value
            var frame: [UInt8] = []
            withUnsafeBytes(of: UInt32(payload.count).littleEndian) { frame += $0 }
            withUnsafeBytes(of: payload.withUnsafeBytes { CRC32C.checksum($0) }.littleEndian) { frame += $0 }
            return frame + payload
        }
        let idKey = StreamID(7, 1).withKeyBytes { Array($0) }
        let fields = Array("*2\r\n$1\r\nf\r\n$2\r\nab\r\n".utf8)
        let bytes = batch(0, 5, 3, Array("k".utf8), Array("hello".utf8)) + batch(1, 7, 88, idKey, fields)
        writeFile(part + "/00000000000000000000.log", bytes, create: true)
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        let t = try #require(h.broker.logTopic(named: "o"))
        let p = t.partitions[0]
        #expect(p.figures.endOffset == 2)
        #expect(h.broker.logs.memory.recoveryTruncatedBytes.load(ordering: .relaxed) == 0)
        var got: [(UInt64, [UInt8]?, [UInt8], UInt32, UInt64)] = []
        _ = p.read(from: 0, maxRecords: 10) { got.append(($0.offset, $0.key.map { Array($0) }, Array($0.value), $0.flags, $0.timestamp)) }
        #expect(got.count == 2)
        #expect(got.first.map { $0.1 == Array("k".utf8) && $0.2 == Array("hello".utf8) && $0.3 == 3 && $0.4 == 5 } == true)
        #expect(got.last.map { $0.1 == idKey && $0.2 == fields && $0.3 == 88 && $0.4 == 7 } == true)
        // The broker's own format is unchanged: a one-record batch it writes is these bytes.
        var mine = ByteBuffer()
        defer { mine.deallocate() }
        Array("hello".utf8).withUnsafeBytes { v in
            Array("k".utf8).withUnsafeBytes { k in
                LogBatch.appendOne(to: &mine, offset: 0, timestamp: 5, flags: 3, key: k, valueLength: 5) {
                    $0.copyMemory(from: v.baseAddress!, byteCount: 5)
                }
            }
        }
        #expect(Array(mine.bytes) == Array(bytes[0..<mine.count]))
        h.broker.stop()
    }

    // MARK: helpers

    struct Entry {
        let id: StreamID
        let timestamp: UInt64
        let fields: [[UInt8]]
        init(_ id: StreamID, _ timestamp: UInt64, _ fields: [[UInt8]]) {
            self.id = id
            self.timestamp = timestamp
            self.fields = fields
        }
    }

    /// `body` with the fields as XADD hands them (count, field(i)).
    static func withFields<T>(_ fields: [[UInt8]], _ body: (Int, (Int) -> UnsafeRawBufferPointer) -> T) -> T {
        var all: [UInt8] = []
        var ranges: [Range<Int>] = []
        for f in fields {
            ranges.append(all.count..<(all.count + f.count))
            all += f
        }
        return all.withUnsafeBytes { b in body(ranges.count) { UnsafeRawBufferPointer(rebasing: b[ranges[$0]]) } }
    }

    /// The fields as a RESP array, written independently of the code under test.
    static func resp(_ fields: [[UInt8]]) -> [UInt8] {
        var out = Array("*\(fields.count)\r\n".utf8)
        for f in fields { out += Array("$\(f.count)\r\n".utf8) + f + [13, 10] }
        return out
    }

    /// XADD of `e` at its ID, the clock at its timestamp.
    static func add(_ s: StreamLog, _ e: Entry) -> StreamLog.AppendResult {
        withFields(e.fields) { n, field in s.append(requested: e.id, seqGiven: true, nowMs: e.timestamp, fieldCount: n, field: field) }
    }

    /// A framed stream batch at `offset` of `entries`, built as the open batch builds one (its
    /// first record by `appendStreamBatch`, the others by `writeStreamRecord`), its CRC written.
    static func streamBatch(offset: UInt64, flags: UInt32, _ entries: [Entry]) -> [UInt8] {
        var b = ByteBuffer()
        defer { b.deallocate() }
        let e0 = entries[0]
        let masterLength = withFields(e0.fields) { n, field in
            let length = LogBatch.streamBatchLength(fieldCount: n, field: field)
            LogBatch.appendStreamBatch(to: &b, length: length, offset: offset, timestamp: e0.timestamp, flags: flags, id: e0.id,
                                       fieldCount: n, field: field, checksum: false)
            return LogBatch.streamMasterLength(fieldCount: n, field: field)
        }
        var maxTimestamp = e0.timestamp
        for e in entries.dropFirst() {
            withFields(e.fields) { n, field in
                let master = LogBatch.streamFieldsMatch(
                    master: UnsafeRawBufferPointer(start: b.base! + LogBatch.frameBytes + LogBatch.streamHeaderBytes, count: masterLength),
                    fieldCount: n, field: field)
                let length = LogBatch.streamRecordLength(id: e.id, first: e0.id, timestamp: e.timestamp, fieldCount: n,
                                                         field: field, master: master)
                b.reserve(length)
                let written = LogBatch.writeStreamRecord(b.base! + b.count, id: e.id, first: e0.id, timestamp: e.timestamp,
                                                         fieldCount: n, field: field, master: master)
                #expect(written == length)
                b.advance(length)
            }
            maxTimestamp = max(maxTimestamp, e.timestamp)
        }
        var out = Array(b.bytes)
        out.withUnsafeMutableBytes { p in
            p.storeBytes(of: (UInt32(entries.count) | LogBatch.streamFormat << LogBatch.formatShift).littleEndian,
                         toByteOffset: LogBatch.frameBytes + 8, as: UInt32.self)
            p.storeBytes(of: maxTimestamp.littleEndian, toByteOffset: LogBatch.frameBytes + 12, as: UInt64.self)
        }
        reframe(&out)
        return out
    }

    /// Sets a one-batch buffer's frame length and CRC-32C to agree with its payload.
    static func reframe(_ batch: inout [UInt8]) {
        batch.withUnsafeMutableBytes { p in
            p.storeBytes(of: UInt32(p.count - 8).littleEndian, toByteOffset: 0, as: UInt32.self)
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: p[8...]))
            p.storeBytes(of: crc.littleEndian, toByteOffset: 4, as: UInt32.self)
        }
    }

    /// Declares a one-partition topic `name` in `dir` and stops the broker (its files stay);
    /// its partition's directory `part` is left with no segment file.
    static func declare(_ dir: ScratchDirectory, _ name: String, _ part: String) throws {
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        guard case .success(let c) = LogConfig.parse(["retention_ms=-1"]) else { throw BatchTestError.badConfig }
        #expect(h.broker.declareLog(name, c) == .ok)
        h.broker.stop()
        for d in [dir.path + "/logs", dir.path + "/logs/" + name, part] { mkdir(d, 0o755) }
        for suffix in [".log", ".index", ".timeindex"] { unlink(part + "/00000000000000000000" + suffix) }
    }

    enum BatchTestError: Error { case badConfig }
}
