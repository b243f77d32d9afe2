// The command gate: how EXEC runs its queued commands with no other client's command in between,
// although the Redis port's connections, and the memcached port's, live on several worker threads.
//
// Each worker has a slot, one `busy` word alone on its 128-byte line (no false sharing). A RESP
// command on worker w does `enter(w)`: busy[w] = 1, then reads the shared `exclusive` word; if it
// is 0 the command runs and `leave(w)` stores busy[w] = 0. EXEC (already entered on its own slot)
// takes `exclusive` with a compare-and-exchange 0 -> 1 (one EXEC at a time), then waits until every
// other slot's busy word reads 0, runs its commands, and stores exclusive = 0.
//
// Why no command of another worker runs inside that window (Dekker's argument): all four
// accesses that matter are sequentially consistent, so they fall in one total order that agrees
// with each thread's program order. Worker w stores busy[w] = 1 and then loads exclusive; EXEC
// stores exclusive = 1 and then loads busy[w]. Whichever store comes first in the total order is
// seen by the other thread's later load. So either w reads exclusive = 1 (it backs off: clears
// busy[w] and parks before running anything), or EXEC reads busy[w] = 1 and waits until w's
// command has left (the leave store, after the command's effects). It cannot be that both read
// 0. A command that entered after EXEC took the word reads 1 and backs off. The stores and loads
// also order the data: leave's store is a release and EXEC's load of it an acquire, so the
// command's writes are visible to EXEC's commands; EXEC's release of `exclusive` is read by the
// parked worker with acquire ordering, so EXEC's writes are visible to it.
//
// A worker that finds the word set parks: a short spin, then sched_yield, then sleeps of 50 µs,
// so a long EXEC does not burn a core. EXEC itself waits on the other slots the same way, which
// ends as soon as their running commands return (a command never waits for another worker while
// it runs: parking happens in `enter`, with busy cleared). Per command the cost is two stores to
// the worker's own line (the first sequentially consistent: on x86 an xchg) and one load of
// `exclusive`, a line that is written only by EXECs.
//
// A RESP connection also enters it to resume a woken blocked command and to give back a closed
// blocked client's elements (never nested: both run outside `process`). The memcached port's
// connections take the gate around each read's requests when the Redis port
// is on (one gate for both ports, made by the executable), so no memcached client's write lands
// between an EXEC's commands either. The slot past the workers serves callers that are not
// workers (tests), which must drive their connections from one thread.
import CStripeLock
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public final class CommandGate: @unchecked Sendable {
    // Safe to share: every word is an Atomic reached through a pointer fixed at init; slot i is
    // written only by worker i (enter/leave), `exclusive` only by compare-and-exchange and by
    // the EXEC that holds it.
    private static let line = 128
    private let memory: UnsafeMutableRawPointer
    public let slots: Int

    public init(workers: Int) {
        slots = workers + 1
        // Line 0: `exclusive`; line 1 + i: slot i.
        memory = .allocate(byteCount: (slots + 1) * Self.line, alignment: Self.line)
        for i in 0...slots {
            (memory + i * Self.line).bindMemory(to: Atomic<Int>.self, capacity: 1).initialize(to: Atomic(0))
        }
    }

    deinit {
        for i in 0...slots { word(i).deinitialize(count: 1) }
        memory.deallocate()
    }

    @inline(__always)
    private func word(_ line: Int) -> UnsafeMutablePointer<Atomic<Int>> {
        (memory + line * Self.line).assumingMemoryBound(to: Atomic<Int>.self)
    }

    @inline(__always)
    private var exclusive: UnsafeMutablePointer<Atomic<Int>> { word(0) }

    @inline(__always)
    private func busy(_ slot: Int) -> UnsafeMutablePointer<Atomic<Int>> { word(1 + slot) }

    /// Before a command on `slot`'s worker: returns once no EXEC holds the gate, with the slot busy.
    @inline(__always)
    /// Returns true when it had to wait for an EXEC.
    @discardableResult
    public func enter(_ slot: Int) -> Bool {
        // Not re-entrant: a nested enter's leave would clear the outer command's busy word.
        assert(busy(slot).pointee.load(ordering: .relaxed) == 0, "CommandGate.enter nested on slot \(slot)")
        busy(slot).pointee.store(1, ordering: .sequentiallyConsistent)
        if exclusive.pointee.load(ordering: .sequentiallyConsistent) == 0 { return false }
        enterSlow(slot)
        return true
    }

    @inline(never)
    private func enterSlow(_ slot: Int) {
        // A stripe this worker kept from its last command (CStripeLock) is given back before it
        // parks: the EXEC it waits for may need it.
        cstripe_release()
        while true {
            busy(slot).pointee.store(0, ordering: .sequentiallyConsistent)
            waitWhileExclusive()
            busy(slot).pointee.store(1, ordering: .sequentiallyConsistent)
            if exclusive.pointee.load(ordering: .sequentiallyConsistent) == 0 { return }
        }
    }

    /// After the command.
    @inline(__always)
    public func leave(_ slot: Int) {
        busy(slot).pointee.store(0, ordering: .releasing)
    }

    /// Runs `body` with no other slot's command running or starting; `slot` is the caller's own,
    /// entered. One holder at a time: a second waits (its slot idle meanwhile) for the first.
    public func exclusively<T>(_ slot: Int, _ body: () -> T) -> T {
        // A kept stripe goes back first: another slot's running command may be waiting for it.
        // (Defensive: EXEC comes through a command that does not keep, which gave it back.)
        cstripe_release()
        while !exclusive.pointee.compareExchange(expected: 0, desired: 1, ordering: .sequentiallyConsistent).exchanged {
            // Another EXEC holds it and waits for this slot to go idle.
            busy(slot).pointee.store(0, ordering: .sequentiallyConsistent)
            waitWhileExclusive()
            busy(slot).pointee.store(1, ordering: .sequentiallyConsistent)
        }
        for other in 0..<slots where other != slot {
            var round = 0
            while busy(other).pointee.load(ordering: .sequentiallyConsistent) != 0 {
                Self.backOff(&round)
            }
        }
        defer { exclusive.pointee.store(0, ordering: .sequentiallyConsistent) }
        return body()
    }

    private func waitWhileExclusive() {
        var round = 0
        while exclusive.pointee.load(ordering: .acquiring) != 0 { Self.backOff(&round) }
    }

    /// Spin a little, then yield the core, then sleep 50 µs at a time.
    private static func backOff(_ round: inout Int) {
        round += 1
        if round < 64 { return }
        if round < 128 {
            sched_yield()
            return
        }
        var t = timespec(tv_sec: 0, tv_nsec: 50_000)
        nanosleep(&t, nil)
    }

    /// True while an EXEC holds the gate (tests).
    public var isHeld: Bool { exclusive.pointee.load(ordering: .relaxed) != 0 }
}
