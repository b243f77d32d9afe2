// BrokerSession: a consumer's open reads, prefetch, requeue on close, names, parked waits and the
// fsync a reply waits for, without any protocol around it.
@testable import Broker
import CacheEngine
import Platform
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("broker session")
struct BrokerSessionTests {
    /// A session of `h`'s broker whose wake-ups are counted.
    static func session(_ h: BrokerHarness, _ wakes: WakeCounter = WakeCounter(), name: String? = nil) -> BrokerSession {
        BrokerSession(broker: h.broker, waker: wakes.waker, consumerName: name)
    }

    /// The session's queue called `name` (nil for an invalid name).
    static func queue(_ s: BrokerSession, _ name: String) -> BrokerQueue? {
        Array(name.utf8).withUnsafeBytes { s.queue(named: $0) }
    }

    /// The message of a read, or nil.
    static func message(_ r: BrokerSession.ReadResult) -> Message? {
        if case .message(let m) = r { return m }
        return nil
    }

    @Test func openConfirmAbort() throws {
        let h = try BrokerHarness()
        for s in ["a", "b", "c"] { h.put("oc", s) }
        let s = Self.session(h)
        let q = try #require(Self.queue(s, "oc"))
        #expect(q === h.broker.queue(named: "oc"))
        let a = try #require(Self.message(s.read(q, open: true, peek: false)))
        #expect(h.text(a) == "a")
        #expect(s.openCount(q) == 1)
        s.confirmOpenReads(q)
        #expect(s.openCount(q) == 0)
        #expect(h.stat("queue_oc_open_transactions") == "0")

        let b = try #require(Self.message(s.read(q, open: true, peek: false)))
        #expect(h.text(b) == "b")
        s.abortOpenReads(q)
        #expect(s.openCount(q) == 0)
        let again = try #require(h.open("oc", consumer: 99))
        #expect(again.redeliveries == 1)
        #expect(h.text(again) == "b")

        // A peek leaves the message in place and opens nothing.
        let peeked = try #require(Self.message(s.read(q, open: false, peek: true)))
        #expect(h.text(peeked) == "c")
        #expect(s.openCount(q) == 0)
        #expect(h.drain("oc") == ["c"])
        s.close()
    }

    @Test func settleEndsOnlyThisSessionsReads() throws {
        let h = try BrokerHarness { $0.prefetch = 3 }
        for s in ["a", "b", "c"] { h.put("st", s) }
        let s = Self.session(h)
        let q = h.broker.queue(named: "st")!
        let ids = (0..<3).map { _ in Self.message(s.read(q, open: true, peek: false))! }.map { m in
            _ = h.text(m)
            return m.id
        }
        #expect(s.settle(q, ids: [ids[0], 12345], .confirm) == 1)
        #expect(s.settle(q, ids: [ids[2], ids[1]], .requeue) == 2)
        #expect(s.openCount(q) == 0)
        #expect(h.drain("st") == ["b", "c"])
    }

    @Test func prefetchLimit() throws {
        let h = try BrokerHarness { $0.prefetch = 2 }
        for s in ["a", "b", "c"] { h.put("pf", s) }
        let s = Self.session(h)
        let q = h.broker.queue(named: "pf")!
        #expect(s.hasRoomToOpen(q, pending: 0))
        #expect(s.hasRoomToOpen(q, pending: 1))
        #expect(!s.hasRoomToOpen(q, pending: 2))
        _ = h.text(Self.message(s.read(q, open: true, peek: false))!)
        _ = h.text(Self.message(s.read(q, open: true, peek: false))!)
        #expect(!s.hasRoomToOpen(q, pending: 0))
        // A request that closes its reads first may open again.
        #expect(s.hasRoomToOpen(q, pending: 0, afterClosing: true))
        #expect(!s.hasRoomToOpen(q, pending: 2, afterClosing: true))
        // Another consumer has its own limit.
        #expect(Self.session(h).hasRoomToOpen(q, pending: 0))
        s.confirmOpenReads(q)
        #expect(s.hasRoomToOpen(q, pending: 1))
    }

    @Test func prefetchCountsReadsThatTimedOutAsGone() throws {
        let h = try BrokerHarness { $0.visibilityTimeoutMs = 100 }
        h.put("vt", "a")
        let s = Self.session(h)
        let q = h.broker.queue(named: "vt")!
        _ = h.text(Self.message(s.read(q, open: true, peek: false))!)
        #expect(!s.hasRoomToOpen(q, pending: 0))
        h.clock.advance(200)
        h.broker.tick()
        #expect(s.hasRoomToOpen(q, pending: 0))
        #expect(s.openCount(q) == 0)
    }

    @Test func closeRequeuesInOriginalOrder() throws {
        let h = try BrokerHarness { $0.prefetch = 3 }
        for s in ["a", "b", "c", "d"] { h.put("cl", s) }
        h.put("other", "x")
        let s = Self.session(h)
        let q = h.broker.queue(named: "cl")!
        for _ in 0..<3 { _ = h.text(Self.message(s.read(q, open: true, peek: false))!) }
        _ = h.text(Self.message(s.read(h.broker.queue(named: "other")!, open: true, peek: false))!)
        s.close()
        #expect(h.stat("queue_cl_open_transactions") == "0")
        var order: [String] = []
        while let m = h.open("cl", consumer: 50) {
            if m.id < 4 { #expect(m.redeliveries == 1) }
            order.append(h.text(m))
        }
        #expect(order == ["a", "b", "c", "d"])
        #expect(h.drain("other") == ["x"])
    }

    @Test func namedConsumersShareTheirID() throws {
        let h = try BrokerHarness()
        h.put("nm", "a")
        let w1 = Self.session(h, name: "worker-1")
        let w1again = Self.session(h, name: "worker-1")
        let w2 = Self.session(h, name: "worker-2")
        let anon1 = Self.session(h), anon2 = Self.session(h)
        #expect(w1.consumerName == "worker-1" && anon1.consumerName == nil)
        #expect(w1.consumer == w1again.consumer)
        #expect(w1.consumer != w2.consumer)
        #expect(anon1.consumer != anon2.consumer)
        #expect(![w1.consumer, w2.consumer].contains(anon1.consumer))
        let q = h.broker.queue(named: "nm")!
        let m = try #require(Self.message(w1.read(q, open: true, peek: false)))
        _ = h.text(m)
        // The broker records the read under the name's id.
        #expect(h.broker.openIDs(q, consumer: w1again.consumer) == [m.id])
        #expect(h.broker.openIDs(q, consumer: anon1.consumer).isEmpty)
        w1.close()
        #expect(h.drain("nm") == ["a"])
    }

    @Test func parkedWaitWokenByAProducer() throws {
        let h = try BrokerHarness()
        let wakes = WakeCounter()
        let s = Self.session(h, wakes)
        let q = h.broker.queue(named: "pw")!
        guard case .waiting = s.read(q, open: true, peek: false, waitMs: 500) else {
            Issue.record("a read with a wait on an empty queue parks")
            return
        }
        #expect(s.isWaiting)
        #expect(h.stat("queue_pw_waiters") == "1")
        guard case .waiting = s.resumeWait(timedOut: false) else {
            Issue.record("nothing was delivered yet")
            return
        }
        h.put("pw", "hello")
        #expect(wakes.value == 1)
        guard case .message(let m) = s.resumeWait(timedOut: false) else {
            Issue.record("the producer hands the message to the parked read")
            return
        }
        #expect(h.text(m) == "hello")
        #expect(!s.isWaiting)
        #expect(s.openCount(q) == 1)
        // Without a wait, an empty queue is just empty.
        guard case .empty = s.read(q, open: false, peek: false) else {
            Issue.record("no wait asked")
            return
        }
        s.close()
        #expect(h.drain("pw") == ["hello"])
    }

    @Test func parkedWaitTimesOut() throws {
        let h = try BrokerHarness()
        let wakes = WakeCounter()
        let s = Self.session(h, wakes)
        let q = h.broker.queue(named: "to")!
        guard case .waiting = s.read(q, open: false, peek: false, waitMs: 100) else {
            Issue.record("must park")
            return
        }
        guard case .nothing = s.resumeWait(timedOut: true) else {
            Issue.record("a timed-out wait has nothing")
            return
        }
        #expect(!s.isWaiting)
        #expect(h.stat("queue_to_waiters") == "0")
        h.put("to", "later")
        #expect(wakes.value == 0)
        #expect(h.take("to") == "later")
    }

    @Test func closeGivesBackAMessageHandedToTheParkedWait() throws {
        let h = try BrokerHarness()
        let s = Self.session(h)
        let q = h.broker.queue(named: "gb")!
        guard case .waiting = s.read(q, open: true, peek: false, waitMs: 100) else {
            Issue.record("must park")
            return
        }
        h.put("gb", "unsent")
        s.close()
        let m = try #require(h.open("gb", consumer: 7))
        #expect(m.redeliveries == 0)  // never seen by the client
        #expect(h.text(m) == "unsent")
    }

    @Test func repliesWaitForTheJournalsFsync() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let h = try BrokerHarness(dataDirectory: dir.path) { $0.fsync = .always }
        h.broker.start()
        defer { h.broker.stop() }
        let s = Self.session(h)
        let q = h.broker.queue(named: "fs")!
        #expect(!s.holdsReplies)
        let item = h.item("durable")
        #expect(s.enqueue(q, item: item, expiresMs: 0, priority: 0) == .stored)
        #expect(s.holdsReplies)
        var state = s.waitDurable()
        for _ in 0..<200 where state != .durable {
            usleep(10_000)
            state = s.waitDurable()
        }
        #expect(state == .durable)
        #expect(!s.holdsReplies)
        // A read waits for its removal record too.
        _ = h.text(Self.message(s.read(q, open: false, peek: false))!)
        #expect(s.holdsReplies)
        s.close()
    }

    @Test func deleteQueueDropsItsOpenReads() throws {
        let h = try BrokerHarness()
        h.put("dq", "a")
        let s = Self.session(h)
        let q = h.broker.queue(named: "dq")!
        _ = h.text(Self.message(s.read(q, open: true, peek: false))!)
        #expect(s.deleteQueue("dq"))
        #expect(!s.deleteQueue("dq"))
        #expect(s.openCount(q) == 0)
        #expect(Self.queue(s, "bad/name") == nil)
        s.close()
    }
}
