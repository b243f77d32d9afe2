// Issue 11's data loss: queues need no descriptor of their own (1,200 queues through 8
// descriptors, all recovered), a journal that cannot be created or written is a refusal, never a
// silent STORED, and a refused message is not kept.
@testable import Broker
import CacheEngine
import Durability
import Platform
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct JournalRefusalTests {
    @Test func twelveHundredQueuesShareEightDescriptorsAndAllComeBack() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        do {
            let h = try BrokerHarness(dataDirectory: dir.path) {
                $0.fsync = .interval(ms: 5)
                $0.fileDescriptors = 8
            }
            h.broker.start()
            for i in 0..<1200 { #expect(h.put("q\(i)", "message \(i)") == .stored) }
            #expect(h.broker.descriptors!.openCount <= 8)
            h.broker.stop()
            #expect(h.broker.descriptors!.openCount <= 8)
            #expect(h.stat("broker_file_descriptors_max") == "8")
            #expect(Int(h.stat("broker_file_descriptor_evictions")!)! > 1000)
        }
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fileDescriptors = 8 }
        #expect(h.broker.queueNames.count == 1200)
        for i in 0..<1200 { #expect(h.drain("q\(i)") == ["message \(i)"]) }
        #expect(h.broker.descriptors!.openCount <= 8)
    }

    @Test func aQueueWhoseJournalCannotBeCreatedIsNotMade() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .always }
        // A directory where the journal should be: open(2) fails (EISDIR), even for root.
        #expect(mkdir(dir.path + "/blocked.journal", 0o755) == 0)
        guard case .journalUnavailable = h.broker.openQueue(named: "blocked") else {
            Issue.record("a queue without a journal was made")
            return
        }
        #expect(h.broker.queue(named: "blocked") == nil)
        #expect(!h.broker.declareQueue("blocked", QueueConfig()))
        #expect(h.broker.bind(exchange: "x", Binding(queue: "blocked", key: "k", matchAll: true, headers: [])) == .notFound)
        _ = h.broker.declareExchange("x", kind: .direct, alternate: nil)
        #expect(h.broker.bind(exchange: "x", Binding(queue: "blocked", key: "k", matchAll: true, headers: [])) == .journalUnavailable)
        #expect(h.stat("broker_journal_open_errors") == "4")
        #expect(!h.broker.queueNames.contains("blocked"))
    }

    @Test(.hangGuard) func aFailingJournalRefusesNewMessagesAndKeepsNothingOfThem() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        do {
            let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .always }
            h.broker.start()
            let q = h.broker.queue(named: "full")!
            let other = h.broker.queue(named: "other")!
            #expect(h.put("full", "before") == .stored)
            // The disk fills: the message appended now waits (its reply is held) ...
            q.journal!.file.setFreeSpaceForTesting(0)
            let (r1, t1) = h.broker.enqueue(q, item: h.item("in flight"), expiresMs: 0, priority: 0)
            #expect(r1 == .stored && t1 > 0)
            for _ in 0..<500 where !h.broker.flusher!.isFailing { usleep(2_000) }
            #expect(h.broker.flusher!.isFailing && q.journal!.file.isFailing)
            // ... and every later one is refused, on this queue and (--fsync=always) any other.
            let refusedItem = h.item("refused")
            let (r2, t2) = h.broker.enqueue(q, item: refusedItem, expiresMs: 0, priority: 0)
            #expect(r2 == .journalFailed && t2 == 0)
            h.engine.release(refusedItem)
            let otherItem = h.item("refused too")
            #expect(h.broker.enqueue(other, item: otherItem, expiresMs: 0, priority: 0).0 == .journalFailed)
            h.engine.release(otherItem)
            #expect(h.stat("broker_journal_refused") == "2")
            #expect(q.lock.withLock { q.readyCount } == 2)
            // A plain read would wait for its confirm record and lose the message with its
            // connection: the queue reads as empty; a peek and an open read still work.
            #expect(h.take("full") == nil)
            #expect(h.stat("broker_journal_reads_refused") == "1")
            if case .message(let m) = h.broker.take(q, consumer: 1, open: false, peek: true) { #expect(h.text(m) == "before") }
            else { Issue.record("a peek found nothing") }
            let opened = try #require(h.open("full"))
            #expect(h.text(opened) == "before")
            #expect(h.broker.requeue(q, id: opened.id, consumer: 1))
            #expect(other.lock.withLock { other.readyCount } == 0)
            // Room again: the backlog goes out, the held reply becomes durable, sets succeed.
            q.journal!.file.setFreeSpaceForTesting(nil)
            let woken = WakeCounter()
            var state = h.broker.flusher!.waitDurable(t1, waiter: Waiter(waker: woken.waker))
            for _ in 0..<500 where state != .durable {
                usleep(2_000)
                state = h.broker.flusher!.waitDurable(t1, waiter: Waiter(waker: woken.waker))
            }
            #expect(state == .durable && !h.broker.flusher!.isFailing)
            #expect(h.put("full", "after") == .stored)
            h.broker.stop()
        }
        // A producer that retried its refused set stores it once: nothing of the refusal was kept.
        let h = try BrokerHarness(dataDirectory: dir.path)
        #expect(h.drain("full") == ["before", "in flight", "after"])
        #expect(h.drain("other") == [])
    }

    @Test func withoutFsyncAlwaysOnlyTheFailingJournalRefuses() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .never }
        let q = h.broker.queue(named: "bad")!
        #expect(h.put("bad", "kept") == .stored)
        q.journal!.file.failWritesForTesting()
        #expect(q.journal!.flush(sync: false) == .failed)
        #expect(h.put("bad", "refused") == .journalFailed)
        #expect(h.put("good", "stored") == .stored)
        #expect(h.stat("broker_journal_refused") == "1")
        q.journal!.file.setFreeSpaceForTesting(nil)
        #expect(q.journal!.flush(sync: false) == .wrote)
        #expect(h.put("bad", "again") == .stored)
        #expect(h.drain("bad") == ["kept", "again"])
    }
}
