// The waiter primitive: one waiter on several sources, claim races between producer threads,
// cancel (timeout) racing a claim, and the wait lists' order and pruning.
import Platform
import Synchronization
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Counts wake-ups instead of waking a connection.
final class WakeCounter: Sendable {
    let count = Atomic<Int>(0)
    var waker: ConnectionWaker { ConnectionWaker { self.count.wrappingAdd(1, ordering: .relaxed) } }
    var value: Int { count.load(ordering: .relaxed) }
}

/// A source: a wait list under its own lock, as a queue or a key keeps one.
typealias Source = WaitSource<Int, Int>

/// Runs `body(i)` on `n` threads at once and waits for all of them.
func onThreads(_ n: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let ready = Atomic<Int>(0)
    let threads = (0..<n).map { i in
        BackgroundThread(name: "test \(i)") {
            ready.wrappingAdd(1, ordering: .relaxed)
            while ready.load(ordering: .relaxed) < n {}
            body(i)
        }
    }
    for t in threads { t.join() }
}

@Suite("Waiter and WaitList")
struct WaiterTests {
    @Test("a producer claims, delivers and wakes; the owner collects once")
    func deliverAndCollect() {
        let woken = WakeCounter()
        let w = Waiter<Int>(waker: woken.waker)
        guard case .waiting = w.collect() else { Issue.record("armed waiter must be waiting"); return }
        #expect(w.claim())
        #expect(!w.claim(), "a second producer must lose")
        guard case .waiting = w.collect() else { Issue.record("claimed, not delivered: still waiting"); return }
        w.deliver(42, source: 3)
        w.waker.wake()
        guard case .delivered(let v, let source) = w.collect() else { Issue.record("must be delivered"); return }
        #expect(v == 42 && source == 3 && woken.value == 1)
        guard case .cancelled = w.collect() else { Issue.record("collected once only"); return }
    }

    @Test("a cancel before any claim wins: no producer can claim it after")
    func cancelFirst() {
        let w = Waiter<Int>(waker: WakeCounter().waker)
        guard case .cancelled = w.cancel() else { Issue.record("cancel of an armed waiter"); return }
        #expect(!w.claim())
        var list = WaitList<Int, Int>()
        list.add(w, 0)
        let armed = list.hasArmed
        #expect(!armed)
        #expect(list.claimFirst() == nil)
    }

    @Test("a cancel after a claim finds the value, or waits for it while it is on its way")
    func cancelAfterClaim() {
        let w = Waiter<Int>(waker: WakeCounter().waker)
        #expect(w.claim())
        guard case .waiting = w.cancel() else { Issue.record("between claim and delivery: waiting"); return }
        w.deliver(7)
        guard case .delivered(let v, _) = w.cancel() else { Issue.record("the value must not be lost"); return }
        #expect(v == 7)
    }

    @Test("wait lists serve the oldest armed waiter first and skip cancelled ones")
    func fifoAndPruning() {
        var list = WaitList<Int, String>()
        let ws = (0..<5).map { _ in Waiter<Int>(waker: WakeCounter().waker) }
        for (i, w) in ws.enumerated() { list.add(w, "w\(i)") }
        _ = ws[0].cancel()
        _ = ws[2].cancel()
        #expect(list.armedCount == 3)
        #expect(list.claimFirst()?.info == "w1")
        list.remove(ws[3])
        #expect(list.armedCount == 1)
        #expect(list.claimFirst()?.info == "w4")
        #expect(list.claimFirst() == nil)
        let armed = list.hasArmed
        #expect(!armed)
        // Added after everything was claimed: served next.
        let late = Waiter<Int>(waker: WakeCounter().waker)
        list.add(late, "late")
        #expect(list.removeAll().count == 1 && list.armedCount == 0)
    }

    @Test("claimFirst(where:) takes the oldest armed matching waiter and leaves the others in order")
    func claimMatching() {
        var list = WaitList<Int, String>()
        let ws = (0..<5).map { _ in Waiter<Int>(waker: WakeCounter().waker) }
        for (i, w) in ws.enumerated() { list.add(w, i % 2 == 0 ? "list\(i)" : "zset\(i)") }
        _ = ws[1].cancel()
        #expect(list.claimFirst(where: { $0.hasPrefix("zset") })?.info == "zset3")
        #expect(list.claimFirst(where: { $0.hasPrefix("zset") }) == nil)
        #expect(list.armedCount == 3)
        #expect(list.claimFirst()?.info == "list0")
        #expect(list.claimFirst(where: { $0.hasPrefix("list") })?.info == "list2")
        #expect(list.claimFirst()?.info == "list4")
        let armed = list.hasArmed
        #expect(!armed)
    }

    @Test("one waiter on three sources: exactly one producer wins it, the others keep their values")
    func severalSources() {
        for round in 0..<300 {
            let woken = WakeCounter()
            let w = Waiter<Int>(waker: woken.waker)
            let sources = (0..<3).map { _ in Source() }
            for (i, s) in sources.enumerated() { s.lock.withLock { s.waiters.add(w, i) } }
            onThreads(3) { i in sources[i].produce(round * 10 + i, index: i) }
            guard case .delivered(let v, let source) = w.collect() else {
                Issue.record("round \(round): nobody delivered")
                return
            }
            #expect(v == round * 10 + source)
            let kept = sources.reduce(0) { $0 + $1.kept.count }
            #expect(kept == 2, "round \(round): the losing producers keep their values")
            #expect(!sources[source].kept.contains(v))
            #expect(woken.value == 1)
        }
    }

    @Test("claim races: 4 producer threads, 200 waiters on every source: each waiter won once, no value lost")
    func claimRaces() {
        let sources = (0..<4).map { _ in Source() }
        let counters = (0..<200).map { _ in WakeCounter() }
        let waiters = counters.map { Waiter<Int>(waker: $0.waker) }
        for s in sources {
            s.lock.withLock { for (i, w) in waiters.enumerated() { s.waiters.add(w, i) } }
        }
        onThreads(4) { t in
            for n in 0..<150 { sources[t].produce(t * 1000 + n, index: t) }
        }
        var delivered: [Int] = []
        for (i, w) in waiters.enumerated() {
            guard case .delivered(let v, let source) = w.collect() else {
                Issue.record("waiter \(i) was not won")
                continue
            }
            #expect(v / 1000 == source)
            #expect(counters[i].value == 1, "woken exactly once")
            delivered.append(v)
        }
        let kept = sources.flatMap(\.kept)
        #expect(delivered.count == 200)
        #expect(delivered.count + kept.count == 600)
        #expect(Set(delivered + kept).count == 600, "every value is either delivered or kept, once")
        for s in sources { #expect(s.lock.withLock { s.waiters.armedCount } == 0) }
    }

    @Test("timeouts racing producers: a waiter is cancelled or delivered, never both, never lost")
    func cancelRaces() {
        for round in 0..<500 {
            let source = Source()
            let w = Waiter<Int>(waker: WakeCounter().waker)
            source.lock.withLock { source.waiters.add(w, 0) }
            let outcome = LockedValue<Waiter<Int>.Outcome?>(nil)
            onThreads(2) { t in
                if t == 0 {
                    source.produce(round, index: 0)
                } else {
                    // The owner's timeout: cancel under the source lock, as the broker does, so a
                    // claim is never seen half done.
                    let o = source.lock.withLock { () -> Waiter<Int>.Outcome in
                        let o = w.cancel()
                        source.waiters.remove(w)
                        return o
                    }
                    outcome.withLock { $0 = o }
                }
            }
            switch outcome.withLock({ $0 })! {
            case .delivered(let v, _):
                #expect(v == round && source.kept.isEmpty)
            case .cancelled:
                #expect(source.kept == [round], "a cancelled waiter leaves the value with its source")
            case .waiting:
                Issue.record("round \(round): a cancel under the source lock never sees a claim half done")
            }
        }
    }
}

@Suite("PushQueue")
struct PushQueueTests {
    @Test("the first push after a take wakes the connection once; the bytes come out in order")
    func wakesOncePerTake() {
        let woken = WakeCounter()
        let q = PushQueue(waker: woken.waker, limit: 1024)
        #expect(q.push("one\n") && q.push("two\n"))
        #expect(woken.value == 1)
        let out = OutputBuffer()
        let (n, dropped) = q.take(into: out)
        #expect(n == 8 && dropped == 0)
        var bytes: [UInt8] = []
        out.drain { bytes += $0 }
        #expect(String(decoding: bytes, as: UTF8.self) == "one\ntwo\n")
        #expect(q.push("three\n"))
        #expect(woken.value == 2)
    }

    @Test("past the limit pushes are refused and counted, announced before the next bytes")
    func boundedBacklog() {
        let q = PushQueue(waker: WakeCounter().waker, limit: 10)
        #expect(q.push("12345678\n"))
        #expect(!q.push("overflow\n"))
        #expect(!q.push("x\n"))
        #expect(q.pendingBytes == 9)
        let out = OutputBuffer()
        let (_, dropped) = q.take(into: out) { count, output in output.append("dropped \(count)\n") }
        #expect(dropped == 2)
        var bytes: [UInt8] = []
        out.drain { bytes += $0 }
        #expect(String(decoding: bytes, as: UTF8.self) == "dropped 2\n12345678\n")
        #expect(q.push("after\n"), "room again after the take")
    }

    @Test("producers on 4 threads: every byte that was accepted is delivered once")
    func concurrentPushes() {
        let woken = WakeCounter()
        let q = PushQueue(waker: woken.waker, limit: 1 << 20)
        let done = Atomic<Int>(0)
        let total = LockedValue(0)
        onThreads(5) { t in
            if t < 4 {
                for _ in 0..<2000 { q.push("abcd") }
                done.wrappingAdd(1, ordering: .relaxed)
            } else {
                let out = OutputBuffer()
                while done.load(ordering: .relaxed) < 4 {
                    let (n, _) = q.take(into: out)
                    total.withLock { $0 += n }
                }
                let (n, _) = q.take(into: out)
                total.withLock { $0 += n }
            }
        }
        #expect(total.withLock { $0 } == 4 * 2000 * 4)
        #expect(woken.value >= 1)
    }
}
