// The group-commit thread over members that are not files: tickets, waking, the hook, a failing
// disk, the last flush at stop.
import Durability
import Platform
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A member that counts its flushes and hook calls, and fails while told to.
final class FakeMember: Flushable, Sendable {
    let flushes = Atomic<Int>(0)
    let syncs = Atomic<Int>(0)
    let hooks = Atomic<Int>(0)
    let buffered = Atomic<Int>(0)
    let failing = Atomic<Bool>(false)

    func flush(sync: Bool) -> FlushResult {
        flushes.wrappingAdd(1, ordering: .relaxed)
        if failing.load(ordering: .relaxed) { return .failed }
        if sync { syncs.wrappingAdd(1, ordering: .relaxed) }
        return buffered.exchange(0, ordering: .relaxed) > 0 ? .wrote : .idle
    }

    func afterFlush() { hooks.wrappingAdd(1, ordering: .relaxed) }
}

final class Wakes: Sendable {
    let count = Atomic<Int>(0)
    var waker: ConnectionWaker { ConnectionWaker { self.count.wrappingAdd(1, ordering: .relaxed) } }
    var value: Int { count.load(ordering: .relaxed) }
}

struct GroupCommitTests {
    @Test func fsyncPolicyFlag() {
        #expect(FsyncPolicy(flag: "always") == .always)
        #expect(FsyncPolicy(flag: "never") == .never)
        #expect(FsyncPolicy(flag: "100ms") == .interval(ms: 100))
        #expect(FsyncPolicy(flag: "7") == .interval(ms: 7))
        #expect(FsyncPolicy(flag: "0ms") == nil && FsyncPolicy(flag: "soon") == nil)
        #expect(FsyncPolicy.interval(ms: 5).description == "5ms" && FsyncPolicy.always.description == "always")
    }

    @Test func aTicketBecomesDurableAndItsWaiterIsWoken() throws {
        let g = GroupCommit(policy: .always)
        let m = FakeMember()
        g.register(m)
        g.start()
        defer { g.stop() }
        m.buffered.store(1, ordering: .relaxed)
        let t = g.ticket()
        let woken = Wakes()
        if g.waitDurable(t, waiter: Waiter(waker: woken.waker)) == .waiting {
            // The waiter is woken once the cycle covering its ticket completes.
            for _ in 0..<200 where woken.value == 0 { usleep(5_000) }
            #expect(woken.value == 1)
        }
        #expect(g.waitDurable(t, waiter: Waiter(waker: woken.waker)) == .durable && g.isDurable(t))
        #expect(m.flushes.load(ordering: .relaxed) >= 1 && m.hooks.load(ordering: .relaxed) >= 1)
        #expect(m.syncs.load(ordering: .relaxed) >= 1 && g.fsyncCount >= 1)
        #expect(g.writeErrorCount == 0)
    }

    @Test func neverSyncsAndUnregisteredMembersAreLeftAlone() throws {
        let g = GroupCommit(policy: .never)
        let m = FakeMember()
        let gone = FakeMember()
        g.register(m)
        g.register(gone)
        g.unregister(gone)
        g.start()
        for _ in 0..<100 where m.flushes.load(ordering: .relaxed) < 3 { usleep(10_000) }
        g.stop()
        #expect(m.flushes.load(ordering: .relaxed) >= 3)
        #expect(m.syncs.load(ordering: .relaxed) == 0 && g.fsyncCount == 0)
        #expect(gone.flushes.load(ordering: .relaxed) == 0 && gone.hooks.load(ordering: .relaxed) == 0)
    }

    @Test func stopFlushesWhatIsLeftAndReleasesWaiters() {
        let g = GroupCommit(policy: .interval(ms: 60_000))
        let m = FakeMember()
        g.register(m)
        g.start()
        let t = g.ticket()
        let woken = Wakes()
        // The ticket's cycle may already have run; if not, the stop releases it.
        if g.waitDurable(t, waiter: Waiter(waker: woken.waker)) == .waiting {
            g.stop()
            #expect(woken.value == 1)
        } else {
            g.stop()
        }
        #expect(m.flushes.load(ordering: .relaxed) >= 1)
        #expect(g.isDurable(t + 100))
        #expect(g.waitDurable(t + 100, waiter: Waiter(waker: woken.waker)) == .durable)
    }

    @Test func aDiskThatKeepsFailingReleasesTheWaitersAsFailed() throws {
        let g = GroupCommit(policy: .always)
        let m = FakeMember()
        g.register(m)
        g.start()
        defer { g.stop() }
        m.failing.store(true, ordering: .relaxed)
        let t = g.ticket()
        let waiting = Wakes()
        #expect(g.waitDurable(t, waiter: Waiter(waker: waiting.waker)) == .waiting)
        // Retried every 10 ms; after the grace period the waiter is woken and told.
        for _ in 0..<400 where waiting.value == 0 { usleep(10_000) }
        #expect(waiting.value == 1)
        #expect(g.waitDurable(t, waiter: Waiter(waker: waiting.waker)) == .failed)
        #expect(g.writeErrorCount > 10)
        #expect(!g.isDurable(t))
        // The disk comes back: the retried cycle completes and the ticket is durable.
        m.failing.store(false, ordering: .relaxed)
        for _ in 0..<200 where !g.isDurable(t) { usleep(10_000) }
        #expect(g.isDurable(t))
    }
}
