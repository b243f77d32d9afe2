// Counters written by one thread and read by any: one writer means a relaxed load + store is
// enough (no read-modify-write, no contention), and the atomic type makes the cross-thread read
// well defined. Each worker owns its own set; `stats` sums them on demand (memcached's per-thread
// stats).
import Synchronization

public final class StatCounters: @unchecked Sendable {
    // Safe to share: every slot is an Atomic; only the owning thread calls `add`.
    private let slots: UnsafeMutablePointer<Atomic<UInt64>>
    public let count: Int

    public init(count: Int) {
        self.count = count
        slots = .allocate(capacity: count)
        for i in 0..<count { (slots + i).initialize(to: Atomic(0)) }
    }

    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
    }

    @inline(__always)
    public func add(_ index: Int, _ n: UInt64 = 1) {
        let s = slots + index
        s.pointee.store(s.pointee.load(ordering: .relaxed) &+ n, ordering: .relaxed)
    }

    @inline(__always)
    public func subtract(_ index: Int, _ n: UInt64 = 1) {
        let s = slots + index
        s.pointee.store(s.pointee.load(ordering: .relaxed) &- n, ordering: .relaxed)
    }

    @inline(__always)
    public subscript(_ index: Int) -> UInt64 { slots[index].load(ordering: .relaxed) }

    /// `stats reset`: zero from another thread. A concurrent add may survive or be lost, as in
    /// memcached.
    public func reset(_ index: Int) { slots[index].store(0, ordering: .relaxed) }
}
