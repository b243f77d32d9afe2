// Redis streams on the log (Sources/Broker/Log/Streams): stream IDs parsed as redis 7.0's
// streamGenericParseIDOrReply and string2ull read them (edge cases, overflow, NUL, `<ms>-*`), the
// increments and decrements at the ends of the ID space, auto IDs when the clock is behind the top
// ID, the append rules (`<ms>-*` at the last sequence, exhaustion), XDEL's node bookkeeping, exact
// and approximate trims over emulated 100-entry nodes, memory given back to the share by trims
// and by a stream's release, and appends refused (and counted) when the share is full.
@testable import Broker
import Platform
import Testing

@Suite struct StreamTests {
    func parse(_ s: String, missing: UInt64 = 0, strict: Bool = true, auto: Bool = false) -> StreamID.Parsed? {
        Array(s.utf8).withUnsafeBytes { StreamID.parse($0, missingSeq: missing, strict: strict, autoSequence: auto) }
    }

    @Test func idParsingFollowsRedis() {
        #expect(parse("1-2")?.id == StreamID(1, 2))
        #expect(parse("5", missing: .max)?.id == StreamID(5, .max))
        #expect(parse("5")?.id == StreamID(5, 0))
        #expect(parse("007-01")?.id == StreamID(7, 1))       // strtoull takes leading zeros
        #expect(parse("+7-1")?.id == StreamID(7, 1))         // and a plus sign
        #expect(parse(" 6")?.id == StreamID(6, 0))           // and leading blanks
        #expect(parse(" -1") == nil)                         // split at its dash: " " is no number
        #expect(Array(" +18".utf8).withUnsafeBytes { StreamID.string2ull($0) } == 18)
        #expect(Array("-0".utf8).withUnsafeBytes { StreamID.string2ull($0) } == 0)     // not string2ll`s, strtoull`s 0
        #expect(parse("-1") == nil)                          // string2ll reads it: negative
        #expect(parse("6 ") == nil)
        #expect(parse("") == nil)
        #expect(parse("9-") == nil)
        #expect(parse("-") == nil)
        #expect(parse("+") == nil)
        #expect(parse("-", strict: false)?.id == .zero)
        #expect(parse("+", strict: false)?.id == .max)
        #expect(parse("18446744073709551615-18446744073709551615")?.id == .max)
        #expect(parse("18446744073709551616-0") == nil)
        #expect(parse("1-18446744073709551616") == nil)
        #expect(parse("9223372036854775808")?.id == StreamID(9_223_372_036_854_775_808, 0))
        #expect(parse(String(repeating: "1", count: 128)) == nil)
        #expect(parse("1.5") == nil)
        #expect(parse("1-2-3") == nil)
        #expect(parse("5-*") == nil)
        #expect(parse("5-*", auto: true) == StreamID.Parsed(id: StreamID(5, 0), seqGiven: false))
        #expect(parse("5-**", auto: true) == nil)
        // A C string ends at its first NUL.
        #expect(parse("5\u{0}junk")?.id == StreamID(5, 0))
    }

    @Test func incrementsAndDecrementsStopAtTheEnds() {
        #expect(StreamID(1, .max).incremented == StreamID(2, 0))
        #expect(StreamID.max.incremented == nil)
        #expect(StreamID(2, 0).decremented == StreamID(1, .max))
        #expect(StreamID.zero.decremented == nil)
        #expect(StreamID.next(after: StreamID(10, 5), nowMs: 20) == StreamID(20, 0))
        // The clock behind the top ID: the sequence goes on.
        #expect(StreamID.next(after: StreamID(10, 5), nowMs: 3) == StreamID(10, 6))
        #expect(StreamID.next(after: StreamID(10, .max), nowMs: 10) == StreamID(11, 0))
        #expect(StreamID(18_446_744_073_709_551_615, 18_446_744_073_709_551_615).withText { String(decoding: $0, as: UTF8.self) }
                == "18446744073709551615-18446744073709551615")
        #expect(StreamID(0, 0).withText { String(decoding: $0, as: UTF8.self) } == "0-0")
        #expect(StreamID(123, 45).withKeyBytes { StreamID(key: $0) } == StreamID(123, 45))
    }

    /// An entry of one field, `f`, whose value is `bytes` long.
    func add(_ s: StreamLog, _ id: StreamID?, seqGiven: Bool = true, now: UInt64 = 1000, bytes: Int = 10) -> StreamLog.AppendResult {
        addFields(s, id, seqGiven: seqGiven, now: now, [Array("f".utf8), [UInt8](repeating: UInt8(ascii: "x"), count: bytes)])
    }

    /// An entry of these names and values, alternating.
    func addFields(_ s: StreamLog, _ id: StreamID?, seqGiven: Bool = true, now: UInt64 = 1000, _ fields: [[UInt8]]) -> StreamLog.AppendResult {
        var all: [UInt8] = []
        var ranges: [Range<Int>] = []
        for f in fields {
            ranges.append(all.count..<(all.count + f.count))
            all += f
        }
        return all.withUnsafeBytes { b in
            s.append(requested: id, seqGiven: seqGiven, nowMs: now, fieldCount: ranges.count) { UnsafeRawBufferPointer(rebasing: b[ranges[$0]]) }
        }
    }

    func ids(_ s: StreamLog) -> [StreamID] {
        var out: [StreamID] = []
        s.range(start: .zero, end: .max, count: 0) { out.append($0.id) }
        return out
    }

    @Test func appendRules() {
        let store = StreamStore(memoryLimit: 1 << 20, clockMs: { 1000 })
        let s = store.makeStream(name: "t")
        #expect(add(s, nil, now: 1000) == .added(StreamID(1000, 0)))
        #expect(add(s, nil, now: 1000) == .added(StreamID(1000, 1)))
        #expect(add(s, nil, now: 999) == .added(StreamID(1000, 2)))
        #expect(add(s, StreamID(1000, 2)) == .idTooSmall)
        #expect(add(s, StreamID(1000, 0), seqGiven: false) == .added(StreamID(1000, 3)))
        #expect(add(s, StreamID(5000, 0), seqGiven: false) == .added(StreamID(5000, 0)))
        #expect(add(s, StreamID(5000, .max)) == .added(StreamID(5000, .max)))
        // `<ms>-*` with the top's sequence at its last value: redis's EDOM.
        #expect(add(s, StreamID(5000, 0), seqGiven: false) == .idTooSmall)
        #expect(add(s, .max) == .added(.max))
        #expect(add(s, nil) == .exhausted)
        #expect(s.figures.length == 7 && s.figures.entriesAdded == 7)
        #expect(ids(s).count == 7)
        #expect(reverseIDs(s, start: .zero, end: .max, count: 3) == [.max, StreamID(5000, .max), StreamID(5000, 0)])
    }

    /// The IDs a reverse range writes, each as 16 bytes placed where `reverseRange` puts it.
    func reverseIDs(_ s: StreamLog, start: StreamID, end: StreamID, count: Int) -> [StreamID] {
        var bytes: [UInt8] = []
        let n = s.reverseRange(start: start, end: end, count: count, length: { _ in 16 }, place: { total, fill in
            let room = [UInt8](unsafeUninitializedCapacity: total) { b, k in k = fill(UnsafeMutableRawPointer(b.baseAddress!)) }
            bytes += room
        }, write: { e, p in
            p.storeBytes(of: e.id.ms, as: UInt64.self)
            p.storeBytes(of: e.id.seq, toByteOffset: 8, as: UInt64.self)
            return 16
        })
        #expect(bytes.count == 16 * n)
        return stride(from: 0, to: bytes.count, by: 16).map { at in
            bytes.withUnsafeBytes { StreamID($0.loadUnaligned(fromByteOffset: at, as: UInt64.self),
                                             $0.loadUnaligned(fromByteOffset: at + 8, as: UInt64.self)) }
        }
    }

    @Test func reverseRangesAcrossNodesAndDeletes() {
        let store = StreamStore(memoryLimit: 4 << 20, clockMs: { 1 })
        let s = store.makeStream(name: "t")
        for i in 1...250 { _ = add(s, StreamID(UInt64(i), 0)) }
        _ = s.delete([StreamID(150, 0), StreamID(151, 0), StreamID(250, 0)])
        let all = ids(s)
        #expect(reverseIDs(s, start: .zero, end: .max, count: 0) == all.reversed())
        // COUNT cutting inside a node, across a node boundary (100 | 101), bounds inside nodes.
        #expect(reverseIDs(s, start: .zero, end: .max, count: 60) == Array(all.reversed().prefix(60)))
        #expect(reverseIDs(s, start: StreamID(95, 0), end: StreamID(160, 0), count: 0)
                == all.filter { $0 >= StreamID(95, 0) && $0 <= StreamID(160, 0) }.reversed())
        #expect(reverseIDs(s, start: StreamID(95, 0), end: StreamID(160, 0), count: 10).map(\.ms)
                == [160, 159, 158, 157, 156, 155, 154, 153, 152, 149])
        #expect(reverseIDs(s, start: StreamID(300, 0), end: .max, count: 0).isEmpty)
        #expect(reverseIDs(s, start: StreamID(9, 0), end: StreamID(8, 0), count: 0).isEmpty)
    }

    @Test func aReverseRangeEntryNotFoundAgainLeavesNoHole() {
        let store = StreamStore(memoryLimit: 1 << 20, clockMs: { 1 })
        let s = store.makeStream(name: "t")
        for i in 1...5 { _ = add(s, StreamID(UInt64(i), 0)) }
        _ = s.delete([StreamID(3, 0)])
        // Slots for offsets 0-4 as the first pass would have measured them, offset 2 (deleted
        // since, as a record the broker's retention took) among them at 7 bytes.
        var slots = (0..<5).map { StreamLog.ReverseSlot(length: $0 == 2 ? 7 : 16, offset: UInt8($0)) }
        var room = [UInt8](repeating: 0xee, count: 71)
        let (bytes, entries) = slots.withUnsafeMutableBufferPointer { wanted in
            room.withUnsafeMutableBytes { p in
                s.lock.withLock {
                    s.lockedWriteBackward(0, wanted, total: 71, into: p.baseAddress!) { e, p in
                        p.storeBytes(of: e.id.ms, as: UInt64.self)
                        p.storeBytes(of: e.id.seq, toByteOffset: 8, as: UInt64.self)
                        return 16
                    }
                }
            }
        }
        #expect(bytes == 64 && entries == 4)
        let got = (0..<4).map { k in room.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 16 * k, as: UInt64.self) } }
        #expect(got == [5, 4, 2, 1])
    }

    @Test func deletesAndNodeBookkeeping() {
        let store = StreamStore(memoryLimit: 4 << 20, clockMs: { 1 })
        let s = store.makeStream(name: "t")
        for i in 1...250 { _ = add(s, StreamID(UInt64(i), 0)) }
        #expect(s.lock.withLock { s.nodes.count } == 3)
        // XDEL of a missing ID, a deleted one again, and a real one.
        #expect(s.delete([StreamID(999, 0), StreamID(3, 0), StreamID(3, 0), StreamID(3, 1)]) == 1)
        #expect(s.figures.maxDeletedID == StreamID(3, 0))
        // Every entry of the middle node deleted: the node goes, as redis frees its listpack.
        #expect(s.delete((101...200).map { StreamID(UInt64($0), 0) }) == 100)
        #expect(s.lock.withLock { s.nodes.count } == 2)
        #expect(s.figures.length == 149)
        #expect(ids(s).contains(StreamID(150, 0)) == false)
        var from: [StreamID] = []
        s.range(start: StreamID(99, 0), end: .max, count: 3) { from.append($0.id) }
        #expect(from == [StreamID(99, 0), StreamID(100, 0), StreamID(201, 0)])
        #expect(s.lastValidID == StreamID(250, 0))
        // The first node emptied: the logical start moves past it.
        #expect(s.delete((1...100).map { StreamID(UInt64($0), 0) }) == 99)
        #expect(s.lock.withLock { s.firstOffset } == 200)
        #expect(ids(s).first == StreamID(201, 0))
    }

    @Test func trimsWholeNodesWhenApproximate() {
        let store = StreamStore(memoryLimit: 4 << 20, clockMs: { 1 })
        let s = store.makeStream(name: "t")
        for i in 1...250 { _ = add(s, StreamID(UInt64(i), 0)) }
        // 250 entries in nodes of 100, 100, 50: `~ 200` removes nothing (a whole node would go below).
        #expect(s.trim(.maxLength(200), approximate: true, limit: 10_000) == 0)
        #expect(s.trim(.maxLength(140), approximate: true, limit: 10_000) == 100)
        #expect(s.trim(.maxLength(0), approximate: true, limit: 50) == 0)      // LIMIT below a node
        #expect(s.trim(.maxLength(120), approximate: false, limit: 0) == 30)
        #expect(ids(s).first == StreamID(131, 0))
        #expect(s.trim(.minID(StreamID(205, 0)), approximate: false, limit: 0) == 74)
        #expect(s.figures.length == 46)
        #expect(s.trim(.maxLength(0), approximate: false, limit: 0) == 46)
        #expect(s.figures.length == 0 && ids(s).isEmpty)
        // The top ID stays: the next auto ID is after it.
        #expect(add(s, nil, now: 1) == .added(StreamID(250, 1)))
    }

    /// Every batch of the partition from its start, as `LogBatch.check` finds it (nil: invalid).
    func batches(_ s: StreamLog) -> [LogBatchHeader?] {
        s.partition.lock.withLock {
            var out: [LogBatchHeader?] = []
            for seg in s.partition.segments {
                seg.memory.forEachBatch { bytes, at in out.append(LogBatch.check(bytes, at: at, expected: nil)) }
            }
            return out
        }
    }

    @Test func entriesShareOpenBatchesWhoseChecksumIsWrittenOnClose() {
        let store = StreamStore(memoryLimit: 4 << 20, clockMs: { 1 })
        let s = store.makeStream(name: "t")
        // One field `f` and 100 bytes of value, the ID's ms the clock's: a batch's first record
        // takes 8 (frame) + 48 (header) + 3 (the master field `f`) + 102 (its value) bytes, each
        // later one 105 (timestamp, ms and seq deltas, 0 = the master's names, the value), 100
        // records to a batch.
        for i in 1...250 {
            _ = addFields(s, StreamID(UInt64(i), 0), now: UInt64(i),
                          [Array("f".utf8), [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: 100)])
        }
        #expect(s.partition.figures.bytes == 3 * (8 + 48 + 3 + 102) + 247 * 105)
        var seen = 0
        var intact = true
        s.range(start: .zero, end: .max, count: 0) { e in
            seen += 1
            // Read back as the RESP array `*2\r\n$1\r\nf\r\n$100\r\n<value>\r\n`.
            let fields = e.fields.resp
            intact = intact && e.id == StreamID(UInt64(seen), 0) && fields.count == 119
                && fields[116] == UInt8(truncatingIfNeeded: seen)
        }
        #expect(seen == 250 && intact)
        var middle: [StreamID] = []
        s.range(start: StreamID(150, 0), end: .max, count: 2) { middle.append($0.id) }
        #expect(middle == [StreamID(150, 0), StreamID(151, 0)])
        // Closed batches check (their CRC written); the open one once closed.
        var found = batches(s)
        #expect(found.count == 3 && found[0]?.count == 100 && found[1]?.count == 100)
        s.lock.withLock { s.partition.closeStreamBatch(&s.openBatch) }
        found = batches(s)
        #expect(found.count == 3 && found.allSatisfy { $0 != nil } && found[2]?.count == 50)
        // A record another writer appends (the broker port, on a published stream) closes the open
        // batch; the stream skips that record and starts a new batch after it.
        _ = s.partition.append(key: nil, valueLength: 3, flags: 0, nowMs: 1) { $0.storeBytes(of: UInt8(ascii: "x"), as: UInt8.self) }
        #expect(add(s, nil, now: 1) == .added(StreamID(250, 1)))
        #expect(add(s, nil, now: 1) == .added(StreamID(250, 2)))
        #expect(ids(s).count == 252 && ids(s).last == StreamID(250, 2))
        s.lock.withLock { s.partition.closeStreamBatch(&s.openBatch) }
        found = batches(s)
        #expect(found.count == 5 && found.allSatisfy { $0 != nil } && found[4]?.count == 2)
    }

    @Test func memoryComesBackAndFullShareRefuses() {
        let store = StreamStore(memoryLimit: 2 << 20, clockMs: { 1 })
        var s: StreamLog? = store.makeStream(name: "t")
        // About 1,000 bytes a record: the 2 MB share fills after about 2,000.
        var refused = 0
        for i in 1...3000 {
            if case .outOfMemory = add(s!, StreamID(UInt64(i), 0), bytes: 1000) { refused += 1 }
        }
        #expect(refused > 0)
        #expect(store.appendsRefused.load(ordering: .relaxed) == UInt64(refused))
        let full = store.memory.share!.inUse
        #expect(full <= 2 << 20)
        // Trimming past whole 256 KB segments gives them back.
        _ = s!.trim(.maxLength(100), approximate: false, limit: 0)
        #expect(store.memory.share!.inUse < full / 2)
        #expect(add(s!, nil, now: 1) != .outOfMemory)
        s = nil
        #expect(store.memory.share!.inUse == 0)
        #expect(store.live.load(ordering: .relaxed) == 0)
    }

    @Test func setIDChecks() {
        let store = StreamStore(memoryLimit: 1 << 20, clockMs: { 1 })
        let s = store.makeStream(name: "t")
        _ = add(s, StreamID(5, 5))
        #expect(s.setID(StreamID(5, 4), entriesAdded: nil, maxDeletedID: nil) == .smallerThanTop)
        #expect(s.setID(StreamID(9, 0), entriesAdded: 0, maxDeletedID: nil) == .entriesAddedTooSmall)
        #expect(s.setID(StreamID(9, 0), entriesAdded: 7, maxDeletedID: StreamID(8, 0)) == .ok)
        #expect(s.figures.entriesAdded == 7 && s.figures.maxDeletedID == StreamID(8, 0))
        #expect(add(s, StreamID(9, 0)) == .idTooSmall)
        _ = s.delete([StreamID(5, 5)])
        // redis 7.0 takes an ID below the max deleted one (later versions refuse it).
        #expect(s.setID(StreamID(4, 0), entriesAdded: nil, maxDeletedID: nil) == .ok)
        #expect(s.figures.lastID == StreamID(4, 0) && s.figures.maxDeletedID == StreamID(8, 0))
    }

    // MARK: consumer groups

    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    func readGroup(_ s: StreamLog, _ consumer: String, after: StreamID?, count: Int = 0, noAck: Bool = false, now: UInt64 = 100) -> [StreamID?] {
        var got: [StreamID?] = []
        let r = bytes("g").withUnsafeBytes { g in
            bytes(consumer).withUnsafeBytes { c in
                s.readGroup(g, consumer: c, after: after, count: count, noAck: noAck, now: now, pelRefusals: {}) { id, fields in
                    got.append(fields == nil ? nil : id)
                }
            }
        }
        if case .nothing = r { return [] }
        return got
    }

    @Test func pendingEntriesBookkeeping() {
        let store = StreamStore(memoryLimit: 1 << 20, clockMs: { 1 })
        let s = store.makeStream(name: "t")
        for i in 1...4 { _ = add(s, StreamID(UInt64(i), 0)) }
        #expect(bytes("g").withUnsafeBytes { s.createGroup($0, id: .zero, entriesRead: -1) } == .created)
        #expect(bytes("g").withUnsafeBytes { s.createGroup($0, id: nil, entriesRead: -1) } == .exists)
        #expect(readGroup(s, "alice", after: nil, count: 1) == [StreamID(1, 0)])
        #expect(readGroup(s, "bob", after: nil) == [StreamID(2, 0), StreamID(3, 0), StreamID(4, 0)])
        #expect(readGroup(s, "bob", after: nil).isEmpty)
        var summary = bytes("g").withUnsafeBytes { s.pendingSummary($0) }!
        #expect(summary.count == 4 && summary.first == StreamID(1, 0) && summary.last == StreamID(4, 0))
        #expect(summary.consumers.map { String(decoding: $0.0, as: UTF8.self) } == ["alice", "bob"])
        #expect(summary.consumers.map { $0.1 } == [1, 3])
        // A history read re-delivers: the count goes up, the time is the read's.
        #expect(readGroup(s, "alice", after: .zero, now: 500) == [StreamID(1, 0)])
        let rows = bytes("g").withUnsafeBytes { s.pendingRange($0, start: .zero, end: .max, count: 10, minIdle: 0, consumer: nil, now: 600) }!
        #expect(rows.map { $0.0 } == [StreamID(1, 0), StreamID(2, 0), StreamID(3, 0), StreamID(4, 0)])
        #expect(rows[0].1.deliveryCount == 2 && rows[0].1.deliveryTime == 500 && rows[1].1.deliveryCount == 1)
        let idle = bytes("g").withUnsafeBytes { s.pendingRange($0, start: .zero, end: .max, count: 10, minIdle: 400, consumer: nil, now: 600) }!
        #expect(idle.map { $0.0 } == [StreamID(2, 0), StreamID(3, 0), StreamID(4, 0)])
        // XACK takes an entry out of both PELs; an unknown ID counts nothing.
        #expect(bytes("g").withUnsafeBytes { s.acknowledge(group: $0, [StreamID(2, 0), StreamID(9, 0), StreamID(2, 0)]) } == 1)
        // A deleted entry stays pending; the history answers it with no fields.
        _ = s.delete([StreamID(3, 0)])
        #expect(readGroup(s, "bob", after: .zero) == [nil, StreamID(4, 0)])
        // SETID back: a new delivery of a pending entry moves it to the new reader, count 1.
        #expect(bytes("g").withUnsafeBytes { s.setGroupID($0, id: .zero, entriesRead: -1) })
        #expect(readGroup(s, "carol", after: nil, count: 1) == [StreamID(1, 0)])
        summary = bytes("g").withUnsafeBytes { s.pendingSummary($0) }!
        #expect(summary.consumers.map { String(decoding: $0.0, as: UTF8.self) } == ["bob", "carol"])
        #expect(summary.consumers.map { $0.1 } == [2, 1])
        // NOACK delivers without a pending entry.
        #expect(readGroup(s, "dave", after: nil, noAck: true) == [StreamID(2, 0), StreamID(4, 0)])
        #expect(bytes("g").withUnsafeBytes { s.pendingSummary($0) }!.count == 3)
        // DELCONSUMER hands back its pending count and drops its entries from the group's PEL.
        #expect(bytes("g").withUnsafeBytes { g in bytes("bob").withUnsafeBytes { s.deleteConsumer(group: g, $0) } } == 2)
        #expect(bytes("g").withUnsafeBytes { g in bytes("bob").withUnsafeBytes { s.deleteConsumer(group: g, $0) } } == -1)
        #expect(bytes("g").withUnsafeBytes { s.pendingSummary($0) }!.count == 1)
        #expect(bytes("g").withUnsafeBytes { g in bytes("erin").withUnsafeBytes { s.createConsumer(group: g, $0, now: 1) } } == true)
        #expect(bytes("g").withUnsafeBytes { g in bytes("erin").withUnsafeBytes { s.createConsumer(group: g, $0, now: 1) } } == false)
        #expect(bytes("g").withUnsafeBytes { s.destroyGroup($0) })
        #expect(bytes("g").withUnsafeBytes { s.pendingSummary($0) } == nil)
    }

    /// A blocked client's watch, for the key-watch tests: how often it was told the key let go,
    /// and (given a counter) how often the purge asked whether it still waits.
    final class Watch: StreamKeyWatcher, @unchecked Sendable {
        // Safe to share: the tests touch it from one thread.
        final class Asked: @unchecked Sendable {
            // Safe to share: the tests touch it from one thread.
            var count = 0
        }
        let asked: Asked?
        var waiting = true
        var told = 0
        init(_ asked: Asked? = nil) { self.asked = asked }
        var isWaiting: Bool {
            asked?.count += 1
            return waiting
        }
        func streamKeyGone() { told += 1 }
    }

    @Test("the key's release tells each waiting watcher once, an ended one not")
    func keyReleaseTellsWatchers() {
        let store = StreamStore(memoryLimit: 1 << 20, clockMs: { 1 })
        let s = store.makeStream(name: "t")
        let token = store.token(for: s)
        let (a, b, c) = (Watch(), Watch(), Watch())
        s.watchKey(a)
        s.watchKey(b)
        b.waiting = false
        s.watchKey(c)
        store.releaseToken(token)
        #expect(a.told == 1 && b.told == 0 && c.told == 1)
        #expect(s.lock.withLock { s.keyWatchers.isEmpty })
        #expect(store.live.load(ordering: .relaxed) == 1)        // the test's own reference
    }

    @Test("N clients blocking on one key cost O(N) purge work, and ended watches do not accumulate")
    func keyWatcherRegistrationIsAmortizedConstant() {
        let store = StreamStore(memoryLimit: 1 << 20, clockMs: { 1 })
        let s = store.makeStream(name: "t")
        let asked = Watch.Asked()
        // 4,096 clients blocked at once: a purge at every registration asked ~8.4 million times.
        let n = 4096
        var live: [Watch] = []
        for _ in 0..<n {
            let w = Watch(asked)
            live.append(w)
            s.watchKey(w)
        }
        #expect(asked.count <= 2 * n, "purge work \(asked.count) for \(n) registrations")
        #expect(s.lock.withLock { s.keyWatchers.count } == n)
        // Churn: 100 clients stay blocked while 20,000 block and are served one after another.
        for w in live { w.waiting = false }
        live = (0..<100).map { _ in Watch(asked) }
        for w in live { s.watchKey(w) }
        asked.count = 0
        var largest = 0
        for _ in 0..<20_000 {
            let w = Watch(asked)
            s.watchKey(w)
            w.waiting = false
            largest = max(largest, s.lock.withLock { s.keyWatchers.count })
        }
        // (16: the purge floor, StreamLog.keyWatcherPurgeFloor)
        #expect(largest <= 2 * (live.count + 1) + 16, "the list grew to \(largest)")
        #expect(asked.count <= 3 * 20_000, "purge work \(asked.count) for 20,000 registrations")
        let kept = s.lock.withLock { s.keyWatchers.compactMap { $0 as? Watch }.filter { $0.waiting } }
        #expect(Set(kept.map(ObjectIdentifier.init)) == Set(live.map(ObjectIdentifier.init)))
    }
}
