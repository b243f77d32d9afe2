// Striped item locks, memcached's item_locks: the low bits of a key's hash pick one of 2^k mutexes.
// k is at most the initial hash power, so every key of one bucket (in the old table or the new one
// during an expansion) shares one stripe, and holding every stripe excludes all hash table users.
// Every lock, unlock and trylock goes through CStripeLock, whose thread-local record lets a RESP
// worker keep a stripe locked from one pipelined request to the next (ARCHITECTURE.md, "Locks"):
// outside `cstripe_start_keeping` they are the plain pthread calls.
import CStripeLock
#if canImport(Glibc)
import Glibc
#endif

final class ItemLocks: @unchecked Sendable {
    // Safe to share: an array of mutexes, initialised once.
    let locks: UnsafeMutablePointer<pthread_mutex_t>
    let count: Int
    let mask: Int

    /// memcached's item_lock_hashpower for `threads` worker threads.
    static func power(threads: Int) -> Int {
        threads < 3 ? 10 : threads < 4 ? 11 : threads < 5 ? 12 : threads <= 10 ? 13 : threads <= 20 ? 14 : 15
    }

    init(power: Int) {
        count = 1 << power
        mask = count - 1
        locks = .allocate(capacity: count)
        for i in 0..<count { pthread_mutex_init(locks + i, nil) }
    }

    deinit {
        for i in 0..<count { pthread_mutex_destroy(locks + i) }
        locks.deallocate()
    }

    @inline(__always) func lock(_ hv: UInt32) { cstripe_lock(locks + (Int(hv) & mask)) }
    @inline(__always) func unlock(_ hv: UInt32) { cstripe_unlock(locks + (Int(hv) & mask)) }
    @inline(__always) func tryLock(_ hv: UInt32) -> Bool { cstripe_trylock(locks + (Int(hv) & mask)) != 0 }

    /// Both keys' stripes, lower stripe first (so two-key operations never deadlock each other or
    /// `lockAll`); one lock when they share a stripe.
    func lockPair(_ a: UInt32, _ b: UInt32) {
        let i = Int(a) & mask, j = Int(b) & mask
        if i == j { lock(a) } else if i < j { lock(a); lock(b) } else { lock(b); lock(a) }
    }

    func unlockPair(_ a: UInt32, _ b: UInt32) {
        unlock(a)
        if Int(a) & mask != Int(b) & mask { unlock(b) }
    }

    func lockAll() { for i in 0..<count { cstripe_lock(locks + i) } }
    func unlockAll() { for i in 0..<count { cstripe_unlock(locks + i) } }
}
