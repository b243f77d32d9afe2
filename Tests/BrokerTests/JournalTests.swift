// Journal records, replay, torn tails and recovery through a restarted broker (the generic
// record file and CRC-32C are tested in DurabilityTests).
@testable import Broker
import CacheEngine
import Durability
import Platform
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct JournalTests {
    @Test func recoveryKeepsOrderAndMarksOpenReadsRedelivered() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        do {
            let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .always }
            var c = QueueConfig()
            c.maxPriority = 3
            c.deadLetter = "dlq"
            h.broker.declareQueue("jq", c)
            for i in 0..<10 { h.put("jq", "m\(i)", priority: i == 7 ? 3 : 0) }
            #expect(h.take("jq") == "m7")
            #expect(h.take("jq") == "m0")
            let open = try #require(h.open("jq"))
            #expect(h.text(open) == "m1")
            let confirmed = try #require(h.open("jq"))
            #expect(h.broker.confirm(h.broker.queue(named: "jq")!, id: confirmed.id, consumer: 1))
            _ = h.text(confirmed)
            h.broker.flusher!.start()
            h.broker.stop()
        }
        let h = try BrokerHarness(dataDirectory: dir.path)
        let q = h.broker.queue(named: "jq")!
        #expect(q.config.maxPriority == 3 && q.config.deadLetter == "dlq")
        let first = try #require(h.open("jq"))
        #expect(first.redeliveries == 1)
        #expect(h.text(first) == "m1")
        #expect(h.drain("jq") == ["m3", "m4", "m5", "m6", "m8", "m9"])
        // Ids continue after the recovered ones.
        h.put("jq", "new")
        let fresh = try #require(h.open("jq"))
        #expect(fresh.id > 10)
        _ = h.text(fresh)
    }

    @Test func tornAndCorruptTailsAreCutAtTheLastValidRecord() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        do {
            let h = try BrokerHarness(dataDirectory: dir.path)
            for i in 0..<3 { h.put("torn", "v\(i)") }
            h.broker.flusher!.start()
            h.broker.stop()
        }
        let path = dir.path + "/torn.journal"
        let valid = fileSize(path)
        #expect(valid > 0)
        // Half a record: a length that runs past the end of the file.
        appendBytes(path, [40, 0, 0, 0, 1, 2, 3, 4, 1, 9, 9])
        do {
            let h = try BrokerHarness(dataDirectory: dir.path)
            #expect(h.broker.recoveryNotes.contains { $0.contains("torn") })
            #expect(h.drain("torn") == ["v0", "v1", "v2"])
        }
        // The recovered journal was rewritten without the tail. A whole last record with a bad CRC
        // is damage, not a torn write: it is cut too, after a copy is kept.
        let h2 = try BrokerHarness(dataDirectory: dir.path)
        #expect(h2.drain("torn") == ["v0", "v1", "v2"])
        h2.put("torn", "after")
        h2.broker.flusher!.start()
        h2.broker.stop()
        var bytes = readBytes(dir.path + "/torn.journal")
        bytes[bytes.count - 1] ^= 0xff
        writeBytes(dir.path + "/torn.journal", bytes)
        let h3 = try BrokerHarness(dataDirectory: dir.path)
        #expect(h3.drain("torn") == [])
        #expect(h3.broker.recoveryNotes.count == 1)
        #expect(readBytes(dir.path + "/torn.journal.corrupt-1").count == 8 + QueueJournal.addHeaderLength + "after".utf8.count)
    }

    @Test func aJournalLargerThanTheReadWindowRecoversWhole() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        do {
            let h = try BrokerHarness(dataDirectory: dir.path, memoryMB: 32) { $0.fsync = .never }
            // ~6.3 MB of records: they straddle the 4 MB read window; then a few get consumed.
            for i in 0..<6000 { h.put("wide", String(i) + ":" + String(repeating: "w", count: 1000)) }
            for _ in 0..<10 { _ = h.take("wide") }
            h.broker.flusher!.start()
            h.broker.stop()
        }
        let h = try BrokerHarness(dataDirectory: dir.path, memoryMB: 32)
        #expect(h.broker.recoveryNotes.isEmpty, "\(h.broker.recoveryNotes)")
        let got = h.drain("wide").map { Int($0.prefix { $0 != ":" })! }
        #expect(got == Array(10..<6000))
    }

    @Test func aDiskThatKeepsFailingReleasesTheWaitersAsFailed() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .always }
        h.broker.flusher!.start()
        defer { h.broker.stop() }
        let q = h.broker.queue(named: "full")!
        let first = try #require(h.engine.allocateForTest(h, "ok"))
        let (r1, t1) = h.broker.enqueue(q, item: first, expiresMs: 0, priority: 0)
        #expect(r1 == .stored && t1 > 0)
        let woken = WakeCounter()
        var state = h.broker.flusher!.waitDurable(t1, waiter: Waiter(waker: woken.waker))
        for _ in 0..<200 where state != .durable {
            usleep(10_000)
            state = h.broker.flusher!.waitDurable(t1, waiter: Waiter(waker: woken.waker))
        }
        #expect(state == .durable)
        q.journal!.failWritesForTesting()
        let second = try #require(h.engine.allocateForTest(h, "lost"))
        let (r2, t2) = h.broker.enqueue(q, item: second, expiresMs: 0, priority: 0)
        #expect(r2 == .stored)
        let waiting = WakeCounter()
        #expect(h.broker.flusher!.waitDurable(t2, waiter: Waiter(waker: waiting.waker)) == .waiting)
        // After the grace period the waiter is woken and told the write failed.
        for _ in 0..<400 where waiting.value == 0 { usleep(10_000) }
        #expect(waiting.value == 1)
        #expect(h.broker.flusher!.waitDurable(t2, waiter: Waiter(waker: waiting.waker)) == .failed)
        #expect(Int(h.stat("broker_journal_write_errors") ?? "0")! > 0)
    }

    @Test func compactionRewritesAMostlyConsumedJournal() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let h = try BrokerHarness(dataDirectory: dir.path) {
            $0.fsync = .never
            $0.compactMinBytes = 64 << 10
        }
        let body = String(repeating: "z", count: 1000)
        for _ in 0..<200 { h.put("cq", body) }
        for _ in 0..<195 { _ = h.take("cq") }
        h.broker.flusher!.start()
        // The flusher writes every 20 ms with --fsync=never and compacts once it sees the file.
        var size = 0
        for _ in 0..<100 {
            usleep(20_000)
            size = fileSize(dir.path + "/cq.journal")
            if size > 0 && size < 64 << 10 { break }
        }
        h.broker.stop()
        #expect(size > 5 * 1000 && size < 64 << 10)
        let again = try BrokerHarness(dataDirectory: dir.path)
        #expect(again.drain("cq").count == 5)
    }

    private func fileSize(_ path: String) -> Int {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : -1
    }

    private func readBytes(_ path: String) -> [UInt8] {
        guard let data = FileIO.readAll(path) else { return [] }
        defer { data.deallocate() }
        return Array(data)
    }

    private func writeBytes(_ path: String, _ bytes: [UInt8]) {
        let fd = open(path, O_WRONLY | O_TRUNC)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    private func appendBytes(_ path: String, _ bytes: [UInt8]) {
        let fd = open(path, O_WRONLY | O_APPEND)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }
}

@Suite struct ReadBehindTests {
    @Test func aBacklogPastTheMemoryShareWaitsOnDiskAndComesBackInOrder() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let h = try BrokerHarness(dataDirectory: dir.path, memoryMB: 1) { $0.fsync = .never }
        let body = String(repeating: "b", count: 990)
        // About 1,000 bodies fit 1 MB: the rest must wait on disk, not be refused.
        for i in 0..<3000 { #expect(h.put("backlog", String(format4(i)) + body) == .stored) }
        #expect(h.broker.share.inUse <= h.broker.share.limit)
        let q = h.broker.queue(named: "backlog")!
        let spilled = q.lock.withLock { q.spill!.live }
        #expect(spilled > 1500)
        #expect(h.stat("queue_backlog_items") == "3000")
        #expect(Int(h.stat("queue_backlog_mem_items")!)! == 3000 - spilled)
        // Peek and get see the same body, loaded from disk when it is spilled.
        var got: [String] = []
        while true {
            guard case .message(let m) = h.broker.take(q, consumer: 1, open: false, peek: false) else { break }
            got.append(String(h.text(m).prefix(4)))
        }
        #expect(got == (0..<3000).map { format4($0) })
        #expect(h.broker.share.inUse == 0)
        #expect(q.lock.withLock { q.spill!.live } == 0)
    }

    @Test func recoveryOfABacklogLargerThanTheShareSpillsInsteadOfLosing() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        do {
            let h = try BrokerHarness(dataDirectory: dir.path, memoryMB: 1) { $0.fsync = .always }
            for i in 0..<2500 { h.put("big", format4(i) + String(repeating: "x", count: 996)) }
            h.broker.flusher!.start()
            h.broker.stop()
        }
        let h = try BrokerHarness(dataDirectory: dir.path, memoryMB: 1)
        #expect(h.broker.recoveryNotes.isEmpty, "\(h.broker.recoveryNotes)")
        #expect(h.broker.share.inUse <= h.broker.share.limit)
        let bodies = h.drain("big")
        #expect(bodies.map { String($0.prefix(4)) } == (0..<2500).map { format4($0) })
        #expect(bodies.allSatisfy { $0.count == 1000 })
    }

    @Test func withoutADataDirectoryThePastTheShareIsRefused() throws {
        let h = try BrokerHarness(memoryMB: 1)
        var refused = false
        for _ in 0..<2000 where h.put("mem", String(repeating: "m", count: 1000)) == .outOfMemory { refused = true }
        #expect(refused)
    }
}

private func format4(_ i: Int) -> String {
    let s = String(i)
    return String(repeating: "0", count: max(0, 4 - s.count)) + s
}
