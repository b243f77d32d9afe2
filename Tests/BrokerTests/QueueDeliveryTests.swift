// Queue semantics: FIFO, priorities, TTL, limits, open reads, redelivery, dead letters, waiters.
@testable import Broker
import CacheEngine
import Testing

@Suite struct QueueDeliveryTests {
    @Test func fifoAndPriorities() throws {
        let h = try BrokerHarness()
        for i in 0..<5 { h.put("fifo", "m\(i)") }
        #expect(h.drain("fifo") == ["m0", "m1", "m2", "m3", "m4"])

        var c = QueueConfig()
        c.maxPriority = 5
        h.broker.declareQueue("prio", c)
        h.put("prio", "low1", priority: 1)
        h.put("prio", "high1", priority: 5)
        h.put("prio", "none")
        h.put("prio", "high2", priority: 9)  // above max_priority: served as 5
        h.put("prio", "low2", priority: 1)
        #expect(h.drain("prio") == ["high1", "high2", "low1", "low2", "none"])
    }

    @Test func ttlExpiresAtTheHeadAndDeadLetters() throws {
        let h = try BrokerHarness()
        var c = QueueConfig()
        c.messageTTLms = 1000
        c.deadLetter = "dlq"
        h.broker.declareQueue("ttl", c)
        h.put("ttl", "old")
        h.clock.advance(600)
        h.put("ttl", "young")
        h.put("ttl", "short", ttlMs: 100)
        h.clock.advance(500)
        // "old" is 1100 ms old: expired; "young" 500 ms: alive.
        #expect(h.take("ttl") == "young")
        h.clock.advance(1)
        #expect(h.take("ttl") == nil)  // "short" expired behind it
        #expect(h.stat("queue_ttl_expired_items") == "2")
        let q = h.broker.queue(named: "dlq")!
        guard case .message(let m) = h.broker.take(q, consumer: 1, open: false, peek: false) else {
            Issue.record("dead letter missing")
            return
        }
        #expect(m.deaths == 1 && m.deathReason == .expired)
        #expect(h.text(m) == "old")
        #expect(h.take("dlq") == "short")
    }

    @Test func limitsRejectOrDropOldest() throws {
        let h = try BrokerHarness()
        var c = QueueConfig()
        c.maxItems = 2
        h.broker.declareQueue("cap", c)
        #expect(h.put("cap", "a") == .stored)
        #expect(h.put("cap", "b") == .stored)
        #expect(h.put("cap", "c") == .full)
        #expect(h.drain("cap") == ["a", "b"])

        c.dropOldest = true
        c.deadLetter = "overflowed"
        h.broker.declareQueue("ring", c)
        for s in ["a", "b", "c", "d"] { #expect(h.put("ring", s) == .stored) }
        #expect(h.drain("ring") == ["c", "d"])
        #expect(h.stat("queue_ring_discarded") == "2")
        #expect(h.drain("overflowed") == ["a", "b"])

        var b = QueueConfig()
        b.maxBytes = 10
        h.broker.declareQueue("bytes", b)
        #expect(h.put("bytes", "123456") == .stored)
        #expect(h.put("bytes", "12345") == .full)
        #expect(h.put("bytes", "1234") == .stored)
    }

    @Test func openReadsConfirmAbortAndRedeliver() throws {
        let h = try BrokerHarness()
        h.put("r", "one")
        h.put("r", "two")
        let q = h.broker.queue(named: "r")!
        let m1 = try #require(h.open("r", consumer: 7))
        #expect(h.text(m1) == "one")
        #expect(h.stat("queue_r_open_transactions") == "1")
        #expect(!h.broker.confirm(q, id: m1.id, consumer: 8))  // another consumer's read
        #expect(h.broker.requeue(q, id: m1.id, consumer: 7))
        let again = try #require(h.open("r", consumer: 7))
        #expect(again.id == m1.id && again.redeliveries == 1)
        #expect(h.text(again) == "one")
        #expect(h.broker.confirm(q, id: again.id, consumer: 7))
        #expect(!h.broker.confirm(q, id: again.id, consumer: 7))
        #expect(h.drain("r") == ["two"])
        #expect(h.stat("queue_r_redeliveries") == "1")
        #expect(h.broker.share.inUse == 0)
    }

    @Test func returningReadsGoBackToTheirPlaceWhateverOrderTheyReturnIn() throws {
        let h = try BrokerHarness()
        for s in ["m1", "m2", "m3", "m4", "m5"] { h.put("ord", s) }
        let q = h.broker.queue(named: "ord")!
        let opened = (0..<3).map { _ in h.open("ord")! }
        for m in opened { _ = h.text(m) }
        // m2 first, then m1, then m3: they still come back as m1 m2 m3, before m4 m5.
        for i in [1, 0, 2] { #expect(h.broker.requeue(q, id: opened[i].id, consumer: 1)) }
        #expect(h.drain("ord") == ["m1", "m2", "m3", "m4", "m5"])
        // A lone message returned after newer ones were taken goes to the head.
        for s in ["a", "b", "c"] { h.put("ord", s) }
        let a = try #require(h.open("ord"))
        #expect(h.take("ord") == "b")
        _ = h.text(a)
        #expect(h.broker.requeue(q, id: a.id, consumer: 1))
        #expect(h.drain("ord") == ["a", "c"])
    }

    @Test func deliveryLimitAndRejectDeadLetter() throws {
        let h = try BrokerHarness()
        var c = QueueConfig()
        c.deliveryLimit = 2
        c.deadLetter = "dead"
        h.broker.declareQueue("work", c)
        h.put("work", "poison")
        h.put("work", "bad")
        let q = h.broker.queue(named: "work")!
        let first = try #require(h.open("work"))
        _ = h.text(first)
        #expect(h.broker.requeue(q, id: first.id, consumer: 1))
        let second = try #require(h.open("work"))
        #expect(second.id == first.id)
        _ = h.text(second)
        #expect(h.broker.requeue(q, id: second.id, consumer: 1))  // second failure: dead-lettered
        let bad = try #require(h.open("work"))
        #expect(h.text(bad) == "bad")
        #expect(h.broker.reject(q, id: bad.id, consumer: 1))
        #expect(h.take("work") == nil)
        let dq = h.broker.queue(named: "dead")!
        var reasons: [DeathReason] = []
        while case .message(let m) = h.broker.take(dq, consumer: 1, open: false, peek: false) {
            reasons.append(m.deathReason)
            _ = h.text(m)
        }
        #expect(reasons == [.deliveryLimit, .rejected])
        #expect(h.stat("queue_work_dead_lettered") == "2")
    }

    @Test func visibilityTimeoutReturnsOpenReads() throws {
        let h = try BrokerHarness { $0.visibilityTimeoutMs = 500 }
        h.put("v", "lease")
        let m = try #require(h.open("v"))
        _ = h.text(m)
        h.clock.advance(400)
        h.broker.tick()
        #expect(h.take("v") == nil)
        h.clock.advance(200)
        h.broker.tick()
        let back = try #require(h.open("v"))
        #expect(back.redeliveries == 1)
        #expect(h.text(back) == "lease")
    }

    @Test func waitersAreServedFirstInFirstOut() throws {
        let h = try BrokerHarness()
        let q = h.broker.queue(named: "block")!
        let wa = WakeCounter(), wb = WakeCounter()
        guard case .waiting(let a) = h.broker.take(q, consumer: 1, open: false, peek: false, waitWith: wa.waker),
              case .waiting(let b) = h.broker.take(q, consumer: 2, open: true, peek: false, waitWith: wb.waker) else {
            Issue.record("readers of an empty queue must park")
            return
        }
        guard case .waiting = h.broker.collect(q, a, giveUp: false) else {
            Issue.record("nothing was delivered yet")
            return
        }
        h.put("block", "first")
        #expect(wa.value == 1 && wb.value == 0)
        h.put("block", "second")
        #expect(wb.value == 1)
        guard case .message(let ma) = h.broker.collect(q, a, giveUp: false),
              case .message(let mb) = h.broker.collect(q, b, giveUp: false) else {
            Issue.record("both waiters must have been handed a message")
            return
        }
        #expect(h.text(ma) == "first")
        #expect(h.text(mb) == "second")
        #expect(h.stat("queue_block_open_transactions") == "1")  // b read with /open
        // A waiter that gives up gets nothing and stops counting.
        let wc = WakeCounter()
        guard case .waiting(let c) = h.broker.take(q, consumer: 3, open: false, peek: false, waitWith: wc.waker) else {
            Issue.record("must park")
            return
        }
        #expect(h.stat("queue_block_waiters") == "1")
        guard case .nothing = h.broker.collect(q, c, giveUp: true) else {
            Issue.record("a timed-out waiter has nothing")
            return
        }
        #expect(h.stat("queue_block_waiters") == "0")
        h.put("block", "later")
        #expect(wc.value == 0)
        #expect(h.take("block") == "later")
    }

    @Test func giveBackPutsAnUnsentMessageAtTheHead() throws {
        let h = try BrokerHarness()
        h.put("g", "a")
        h.put("g", "b")
        let q = h.broker.queue(named: "g")!
        guard case .message(let m) = h.broker.take(q, consumer: 1, open: false, peek: false) else {
            Issue.record("expected a message")
            return
        }
        h.broker.giveBack(q, m, consumer: 1, wasOpen: false)
        #expect(h.drain("g") == ["a", "b"])
    }

    @Test func memoryShareRefusesPastItsLimit() throws {
        let h = try BrokerHarness(memoryMB: 1)
        var stored = 0
        while h.put("big", String(repeating: "x", count: 1000)) == .stored { stored += 1 }
        #expect(stored > 900 && stored < 1100)
        #expect(h.put("big", "x") == .stored || h.broker.share.inUse + 42 > h.broker.share.limit)
        _ = h.drain("big")
        #expect(h.broker.share.inUse == 0)
    }

    @Test func deleteAndFlush() throws {
        let h = try BrokerHarness()
        h.put("d", "1")
        h.put("d", "2")
        let m = try #require(h.open("d"))
        _ = h.text(m)
        #expect(h.broker.flushQueue("d"))
        #expect(h.stat("queue_d_items") == "0")
        #expect(h.stat("queue_d_open_transactions") == "1")
        #expect(h.broker.deleteQueue("d"))
        #expect(!h.broker.deleteQueue("d"))
        #expect(h.stat("queue_d_items") == nil)
        #expect(h.broker.share.inUse == 0)
    }
}
