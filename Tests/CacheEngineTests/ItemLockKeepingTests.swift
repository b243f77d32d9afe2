// The kept item-lock stripe (ItemLocks.swift, CStripeLock): while a thread keeps stripes, the
// unlock that ends its last lock call on a stripe leaves the mutex locked for its next lock call
// there; another stripe's lock, a PlainMutex, stopping or releasing gives it back first. Checked
// by a second thread's trylock (a non-recursive mutex held by this thread fails it).
@testable import CacheEngine
import CStripeLock
import Platform
import Synchronization
import Testing

@Suite("Item lock keeping")
struct ItemLockKeepingTests {
    final class Flag: Sendable { let value = Atomic<Int>(-1) }

    /// Whether another thread can take (and then gives back) the stripe of `hv` now.
    private func freeElsewhere(_ locks: ItemLocks, _ hv: UInt32) -> Bool {
        let flag = Flag()
        let t = BackgroundThread(name: "probe") {
            let ok = locks.tryLock(hv)
            if ok { locks.unlock(hv) }
            flag.value.store(ok ? 1 : 0, ordering: .sequentiallyConsistent)
        }
        t.join()
        return flag.value.load(ordering: .sequentiallyConsistent) == 1
    }

    @Test("an unlock keeps the stripe; nested calls count; another stripe, a PlainMutex, release and stop give it back")
    func keepAndGiveBack() {
        let locks = ItemLocks(power: 4)
        let a: UInt32 = 1, b: UInt32 = 2, sameAsA: UInt32 = 1 + 16
        // Not keeping: an unlock gives the stripe back, as a plain mutex.
        locks.lock(a)
        locks.unlock(a)
        #expect(freeElsewhere(locks, a))

        cstripe_start_keeping()
        locks.lock(a)
        locks.unlock(a)
        #expect(!freeElsewhere(locks, a), "the last unlock while keeping leaves the stripe locked")
        // The next lock call on the stripe (any key of it) takes the kept mutex without waiting.
        locks.lock(sameAsA)
        locks.lock(a)  // nested, as lockedHashRead inside an operation
        locks.unlock(a)
        #expect(!locks.tryLock(a), "trylock by the thread whose lock call holds the stripe fails (non-recursive)")
        locks.unlock(sameAsA)
        // Kept but held by no call: this thread's trylock takes it.
        #expect(locks.tryLock(a))
        locks.unlock(a)
        #expect(!freeElsewhere(locks, a))
        // Another stripe: the kept one is given back first, and the new one is kept.
        locks.lock(b)
        #expect(freeElsewhere(locks, a))
        locks.unlock(b)
        #expect(!freeElsewhere(locks, b))
        // Two stripes in one call (lockPair): the first is kept, the second unlocked as usual.
        locks.lockPair(a, b)
        locks.unlockPair(a, b)
        #expect(!freeElsewhere(locks, a) && freeElsewhere(locks, b), "the pair's first (lower) stripe is kept")
        cstripe_release()
        #expect(freeElsewhere(locks, a) && freeElsewhere(locks, b))
        // A PlainMutex gives the kept stripe back before it waits.
        locks.lock(a)
        locks.unlock(a)
        let m = PlainMutex()
        m.lock()
        #expect(freeElsewhere(locks, a))
        m.unlock()
        // Stopping gives it back, and unlocks give stripes back again.
        locks.lock(b)
        locks.unlock(b)
        cstripe_stop_keeping()
        #expect(freeElsewhere(locks, b))
        locks.lock(b)
        locks.unlock(b)
        #expect(freeElsewhere(locks, b))
        // lockAll and unlockAll through a kept stripe neither wait on it nor leave others locked.
        cstripe_start_keeping()
        locks.lock(b)
        locks.unlock(b)
        locks.lockAll()
        locks.unlockAll()
        cstripe_stop_keeping()
        for hv in UInt32(0)..<16 { #expect(freeElsewhere(locks, hv)) }
    }
}
