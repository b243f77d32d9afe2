// Group commit's batching: every ticket taken while a cycle's flush runs is covered by the next
// cycle, one sync however many tickets, and each waiter is woken by the first cycle that covers
// its ticket (not before, not one cycle late). Counted through a member whose flush can be held.
import Durability
import Platform
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A member with records appended by the test: a flush that finds records takes them all, then
/// waits until the test releases it (so the cycle stays open while tickets are taken), and
/// counts a sync covering them. A flush that finds none (the policy's idle cycles) passes.
final class GatedMember: Flushable, Sendable {
    /// Records appended and not yet taken by a flush.
    let records = Atomic<Int>(0)
    /// Flushes that found records (each one a cycle that will sync).
    let gated = Atomic<Int>(0)
    /// How many of those flushes may finish.
    let released = Atomic<Int>(0)
    let syncs = Atomic<Int>(0)
    /// Records covered by each sync, in order.
    let covered = Mutex<[Int]>([])

    func flush(sync: Bool) -> FlushResult {
        let taken = records.exchange(0, ordering: .acquiring)
        guard taken > 0 else { return .idle }
        let n = gated.wrappingAdd(1, ordering: .releasing).newValue
        while released.load(ordering: .acquiring) < n { usleep(1_000) }
        if sync {
            syncs.wrappingAdd(1, ordering: .relaxed)
            covered.withLock { $0.append(taken) }
        }
        return .wrote
    }

    func afterFlush() {}
}

struct GroupCommitBatchingTests {
    /// Waits (up to 5 s) for `condition`.
    private func eventually(_ condition: () -> Bool) -> Bool {
        for _ in 0..<1_000 {
            if condition() { return true }
            usleep(5_000)
        }
        return condition()
    }

    @Test func ticketsTakenDuringOneFlushShareTheNextSync() throws {
        let g = GroupCommit(policy: .always)
        let m = GatedMember()
        g.register(m)
        g.start()
        defer {
            m.released.store(Int.max, ordering: .releasing)
            g.stop()
        }
        // The first record starts a cycle; its flush takes the record and is held.
        m.records.wrappingAdd(1, ordering: .releasing)
        let first = g.ticket()
        let firstWoken = Wakes()
        #expect(g.waitDurable(first, waiter: Waiter(waker: firstWoken.waker)) == .waiting)
        #expect(eventually { m.gated.load(ordering: .acquiring) == 1 })

        // 1,000 records while that flush runs: one ticket each, all the next cycle's.
        let n = 1_000
        var tickets: [UInt64] = []
        let woken = Wakes()
        for _ in 0..<n {
            m.records.wrappingAdd(1, ordering: .releasing)
            let t = g.ticket()
            tickets.append(t)
            #expect(g.waitDurable(t, waiter: Waiter(waker: woken.waker)) == .waiting)
        }
        #expect(tickets.allSatisfy { $0 == first + 1 })

        // The first cycle completes: its waiter is woken, the later ones are not (their records
        // are not on disk yet), and the next cycle's flush takes all 1,000 records at once.
        m.released.store(1, ordering: .releasing)
        #expect(eventually { firstWoken.value == 1 })
        #expect(g.isDurable(first) && !g.isDurable(first + 1))
        #expect(eventually { m.gated.load(ordering: .acquiring) == 2 })
        #expect(woken.value == 0)

        // It completes: every waiter is woken by that one sync.
        m.released.store(2, ordering: .releasing)
        #expect(eventually { woken.value == n })
        #expect(g.isDurable(first + 1))
        #expect(m.syncs.load(ordering: .relaxed) == 2)
        #expect(m.covered.withLock { $0 } == [1, n])
        #expect(g.fsyncCount == 2)
        // No cycle per ticket: nothing was left for a third sync.
        usleep(50_000)
        #expect(m.gated.load(ordering: .acquiring) == 2 && m.syncs.load(ordering: .relaxed) == 2)
    }
}
