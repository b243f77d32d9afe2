// Recovery never drops a stored message for damage it can read past or for a setting it can tell
// about: a damaged journal record costs that record (its bytes are copied aside and counted), a
// torn tail is still cut, a message larger than the new -I refuses the start with nothing on
// disk changed, and one the new -m has no room for waits in the spill file.
@testable import Broker
import CacheEngine
import Durability
import Platform
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct RecoveryTests {
    @Test func aQueueNamedWithAHashTagComesBackAfterARestart() throws {
        // `{orders}` (nutcracker's hash tag) is stored as %7Borders%7D.journal; recovery finds
        // the queue by decoding that name.
        let dir = ScratchDirectory()
        defer { dir.remove() }
        try fill(dir, "{orders}", ["a", "b"])
        #expect(access(dir.path + "/%7Borders%7D.journal", F_OK) == 0)
        let h = try BrokerHarness(dataDirectory: dir.path)
        #expect(h.drain("{orders}") == ["a", "b"])
    }

    @Test func aRedeliveryCountAtItsLargestStaysThereInsteadOfOverflowing() throws {
        // FuzzJournal: an add record carrying redeliveries = 2^32-1, then an open with no
        // confirm: the requeue at recovery overflowed the count and killed the server.
        let dir = ScratchDirectory()
        defer { dir.remove() }
        try fill(dir, "rq", ["body"])
        let path = dir.path + "/rq.journal"
        var bytes = readFile(path)
        #expect(frameOffsets(path) == [0, bytes.count], "one add record")
        // The add payload: op, id (8), priority, flags (4), expires (8), enqueued (8), redeliveries (4).
        for i in 0..<4 { bytes[8 + 30 + i] = 0xFF }
        let addCRC = bytes[8...].withUnsafeBytes { CRC32C.checksum($0) }
        withUnsafeBytes(of: addCRC.littleEndian) { for i in 0..<4 { bytes[4 + i] = $0[i] } }
        // An open record for the same id.
        let open: [UInt8] = [2] + bytes[9..<17]
        let openCRC = open.withUnsafeBytes { CRC32C.checksum($0) }
        bytes += [UInt8(open.count), 0, 0, 0]
        withUnsafeBytes(of: openCRC.littleEndian) { bytes += $0 }
        bytes += open
        writeFile(path, bytes)
        let h = try BrokerHarness(dataDirectory: dir.path)
        let m = try #require(h.open("rq"))
        #expect(m.redeliveries == UInt32.max)
        #expect(h.text(m) == "body")
    }

    @Test func aQueueDeclaredTwiceInBrokerMetaLeavesNothingBehind() throws {
        // FuzzJournal (a leak): broker.meta naming a queue twice dropped the first queue from
        // the table while the flusher still held its journal, and the journal and the queue held
        // each other: both leaked, with the broker's descriptor cache. The last line wins.
        let dir = ScratchDirectory()
        defer { dir.remove() }
        try fill(dir, "a", ["one", "two"])
        // A queue made by its first put is not in broker.meta: the lines are written here.
        let fd = open(dir.path + "/broker.meta", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let lines = Array("queue a\nqueue a\n".utf8)
        #expect(lines.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == lines.count)
        close(fd)
        weak var descriptors: DescriptorCache?
        do {
            let h = try BrokerHarness(dataDirectory: dir.path)
            descriptors = h.broker.descriptors
            #expect(h.broker.queueNames == ["a"])
            #expect(h.drain("a") == ["one", "two"])
            #expect(h.broker.deleteQueue("a"))
        }
        #expect(descriptors == nil, "the first queue's journal still holds the descriptor cache")
    }

    @Test func aFlippedBitInRecordThreeOf912CostsThatMessageOnly() throws {
        // Issue 11: recovery kept 2 messages and cut the journal to 174 bytes, for good.
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let bodies = (0..<912).map { "m\($0):" + String(repeating: "x", count: $0 % 50) }
        try fill(dir, "q", bodies)
        let path = dir.path + "/q.journal"
        let frames = frameOffsets(path)
        #expect(frames.count == 913)
        var bytes = readFile(path)
        bytes[frames[2] + 8 + 45] ^= 0x08   // the body of the third message
        writeFile(path, bytes)
        let damaged = Array(bytes[frames[2]..<frames[3]])
        do {
            let h = try BrokerHarness(dataDirectory: dir.path)
            #expect(h.stat("broker_recovery_corrupt_records") == "1")
            #expect(h.stat("broker_recovery_corrupt_bytes") == String(damaged.count))
            #expect(h.stat("broker_recovery_torn_bytes") == "0")
            #expect(h.broker.recoveryNotes.count == 1)
            #expect(h.broker.recoveryNotes.first?.contains("q.journal.corrupt-1") == true, "\(h.broker.recoveryNotes)")
            #expect(readFile(path + ".corrupt-1") == damaged)
            h.broker.flusher!.start()
            h.broker.stop()
        }
        // The journal was rewritten without the damage: a second start finds none, copies
        // nothing, and has the same 911 messages.
        let h = try BrokerHarness(dataDirectory: dir.path)
        #expect(h.broker.recoveryNotes.isEmpty, "\(h.broker.recoveryNotes)")
        #expect(h.stat("broker_recovery_corrupt_records") == "0")
        #expect(!exists(path + ".corrupt-2") && readFile(path + ".corrupt-1") == damaged)
        var expected = bodies
        expected.remove(at: 2)
        #expect(h.drain("q") == expected)
    }

    @Test func aLostConfirmBringsItsMessageBackAndACorruptLengthCostsOneAdd() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        do {
            let h = try BrokerHarness(dataDirectory: dir.path)
            for i in 0..<10 { h.put("q", "m\(i)") }
            for _ in 0..<3 { _ = h.take("q") }
            h.broker.flusher!.start()
            h.broker.stop()
        }
        let path = dir.path + "/q.journal"
        let frames = frameOffsets(path)
        #expect(frames.count == 14)   // 10 adds, 3 confirms
        var bytes = readFile(path)
        bytes[frames[11] + 6] ^= 0x01    // the CRC of m1's confirm
        bytes[frames[7]] ^= 0x40         // the length of m7's add
        bytes[frames[4] + 8] = 0x09      // m4's op: no such op
        writeFile(path, bytes)
        let h = try BrokerHarness(dataDirectory: dir.path)
        // m1 comes back (delivered again rather than lost); m4 and m7 are lost, their bytes kept.
        #expect(h.drain("q") == ["m1", "m3", "m5", "m6", "m8", "m9"])
        #expect(h.stat("broker_recovery_corrupt_records") == "3")
        #expect(h.stat("broker_recovery_corrupt_bytes") == String((frames[5] - frames[4]) + (frames[8] - frames[7]) + (frames[12] - frames[11])))
        #expect(readFile(path + ".corrupt-1") == Array(bytes[frames[4]..<frames[5]]))
        #expect(readFile(path + ".corrupt-2") == Array(bytes[frames[7]..<frames[8]]))
        #expect(readFile(path + ".corrupt-3") == Array(bytes[frames[11]..<frames[12]]))
    }

    @Test(arguments: [11, 12, 13] as [UInt64])
    func randomCorruptionAt100Offsets(seed: UInt64) throws {
        // Every message whose add record was left alone comes back, and no other: the records
        // here are adds only, so a damaged record can cost nothing but its own message.
        var rng = SplitMix64(seed: seed)
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let bodies = (0..<912).map { "m\($0):" + String(repeating: "r", count: ($0 * 37) % 300) }
        try fill(dir, "rq", bodies)
        let path = dir.path + "/rq.journal"
        let frames = frameOffsets(path)
        var bytes = readFile(path)
        var touched = Set<Int>()
        for _ in 0..<100 {
            let at = Int.random(in: 0..<bytes.count, using: &rng)
            bytes[at] ^= UInt8.random(in: 1...255, using: &rng)
            touched.insert(frames.lastIndex { $0 <= at }!)
        }
        writeFile(path, bytes)
        let h = try BrokerHarness(dataDirectory: dir.path)
        #expect(h.drain("rq") == bodies.indices.filter { !touched.contains($0) }.map { bodies[$0] }, "seed \(seed)")
        let lostBytes = touched.reduce(0) { $0 + frames[$1 + 1] - frames[$1] }
        #expect(h.stat("broker_recovery_corrupt_bytes") == String(lostBytes))
        // One copy per damaged stretch, holding those bytes.
        var copied = 0
        var n = 1
        while exists(path + ".corrupt-\(n)") {
            copied += readFile(path + ".corrupt-\(n)").count
            n += 1
        }
        #expect(copied == lostBytes && n - 1 == h.broker.recoveryNotes.count)
    }

    @Test func aTornTailIsCutWithoutACopyAndCounted() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        try fill(dir, "t", ["a", "b", "c"])
        let path = dir.path + "/t.journal"
        let valid = readFile(path).count
        // Half an add record: its header and the first bytes of its payload.
        var half: [UInt8] = [60, 0, 0, 0, 1, 2, 3, 4, 1, 9, 0, 0, 0, 0, 0, 0, 0]
        writeFile(path, readFile(path) + half)
        do {
            let h = try BrokerHarness(dataDirectory: dir.path)
            #expect(h.stat("broker_recovery_torn_bytes") == String(half.count))
            #expect(h.stat("broker_recovery_corrupt_records") == "0")
            #expect(!exists(path + ".corrupt-1"))
            #expect(h.broker.recoveryNotes.count == 1 && h.broker.recoveryNotes[0].contains("torn"))
            #expect(readFile(path).count <= valid)
            h.broker.flusher!.start()
            h.broker.stop()
        }
        // Zeros at the end (a file the crash extended and never wrote) are torn too.
        half = [UInt8](repeating: 0, count: 4096)
        writeFile(path, readFile(path) + half)
        let h = try BrokerHarness(dataDirectory: dir.path)
        #expect(h.stat("broker_recovery_torn_bytes") == "4096" && !exists(path + ".corrupt-1"))
        #expect(h.drain("t") == ["a", "b", "c"])
    }

    @Test func aSmallerItemSizeMaxRefusesTheStartAndChangesNothing() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let big = String(repeating: "B", count: 600_000)
        do {
            let h = try BrokerHarness(dataDirectory: dir.path)
            var c = QueueConfig()
            c.maxItems = 100
            h.broker.declareQueue("big", c)
            h.put("big", "small")
            for i in 0..<3 { h.put("big", "\(i)" + big) }
            h.put("other", "o")
            h.broker.flusher!.start()
            h.broker.stop()
        }
        let journal = dir.path + "/big.journal", other = dir.path + "/other.journal", meta = dir.path + "/broker.meta"
        let before = [journal, other, meta].map { (readFile($0), inode($0)) }
        do {
            _ = try BrokerHarness(dataDirectory: dir.path, itemSizeMax: 512 << 10)
            Issue.record("a start that would drop three messages was not refused")
        } catch let error as BrokerError {
            guard case .itemSizeTooSmall(let queues, let messages, let needed, let current, _) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(queues == ["big"] && messages == 3 && current == 512 << 10)
            // The -I the engine needs for it: memcached's item size arithmetic.
            #expect(needed == ItemLayout.memcachedSize(keyLength: 0, valueLength: 600_001, flags: 0, cas: true))
            #expect(error.description.contains("-I (item_size_max) is too small")
                    && error.description.contains("-I \((needed + 1023) / 1024)k or more"), "\(error)")
        }
        // Not a byte, not a rename: the journals and broker.meta are the same files.
        let after = [journal, other, meta].map { (readFile($0), inode($0)) }
        for (b, a) in zip(before, after) { #expect(b.0 == a.0 && b.1 == a.1) }
        #expect(!exists(journal + ".corrupt-1"))
        // With the original -I every message is there.
        let h = try BrokerHarness(dataDirectory: dir.path)
        #expect(h.broker.recoveryNotes.isEmpty)
        #expect(h.drain("big") == ["small"] + (0..<3).map { "\($0)" + big })
        #expect(h.drain("other") == ["o"])
    }

    @Test func aSmallerMemoryLimitSpillsWhatTheSlabsCannotHold() throws {
        // Under -m 4 ten bodies of ten slab classes take ten first pages (a class's first page
        // is granted past the limit, as memcached does); three 400 KB bodies share a class of two
        // chunks a page, so the third needs a second page the limit refuses, while the broker's
        // share (3 MB) still has room. That body was dropped ("found no memory at recovery");
        // now it waits in the spill file like a body past the share.
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let small = (0..<10).map { "s\($0):" + String(repeating: "s", count: 100 << $0) }
        let large = (0..<3).map { "l\($0):" + String(repeating: "l", count: 400_000) }
        try fill(dir, "m", small + large)
        let h = try BrokerHarness(dataDirectory: dir.path, memoryMB: 3, engineMemoryMB: 4)
        #expect(h.broker.recoveryNotes.isEmpty, "\(h.broker.recoveryNotes)")
        let q = h.broker.queue(named: "m")!
        #expect(q.lock.withLock { q.spill!.live } == 1)
        #expect(h.broker.share.inUse < h.broker.share.limit)
        // Read back into the chunk the second large body frees.
        #expect(h.drain("m") == small + large)
    }
}

// MARK: helpers

/// Puts `bodies` into `queue` of a broker on `dir` and stops it (the journal is on disk).
private func fill(_ dir: ScratchDirectory, _ queue: String, _ bodies: [String]) throws {
    let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
    for b in bodies { #expect(h.put(queue, b) == .stored) }
    h.broker.flusher!.start()
    h.broker.stop()
}

/// Where each record of a record file starts, and its size at the end.
private func frameOffsets(_ path: String) -> [Int] {
    let bytes = readFile(path)
    var offsets = [0]
    while offsets.last! + 8 <= bytes.count {
        let at = offsets.last!
        let length = Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24
        offsets.append(at + 8 + length)
    }
    return offsets
}

private func inode(_ path: String) -> UInt64 {
    var st = stat()
    return stat(path, &st) == 0 ? UInt64(st.st_ino) : 0
}

