// `stats sizes` (memcached's -o track_sizes, `stats sizes_enable|disable`): how many linked items
// there are of each total size, in 32-byte steps. Sizes are memcached's item sizes (its 48-byte
// header, the key and a NUL, the value and its CRLF, 8 bytes of CAS), so that the histogram of the
// same data reads the same on both servers; swiftcached's own header is smaller (ItemLayout).
import Synchronization

public final class ItemSizeHistogram: @unchecked Sendable {
    // Safe to share: the counts are atomics, allocated in init and freed in deinit only.
    static let bucketBytes = 32
    private let buckets: Int
    private let counts: UnsafeMutablePointer<Atomic<Int>>
    private let enabled: Atomic<Bool>
    private let withCAS: Bool
    /// The highest bucket ever counted (only grows): `lines()` and the clear on disabling stop
    /// there instead of walking all `buckets` (32,832 with -I 1m) for the few small sizes a
    /// cache usually holds.
    private let highest = Atomic<Int>(0)

    init(itemSizeMax: Int, enabled on: Bool, withCAS: Bool) {
        // A chunked item can be a little over -I with its header: one bucket past it takes them.
        buckets = itemSizeMax / Self.bucketBytes + 64
        counts = .allocate(capacity: buckets)
        for i in 0..<buckets { (counts + i).initialize(to: Atomic(0)) }
        enabled = Atomic(on)
        self.withCAS = withCAS
    }

    deinit {
        counts.deinitialize(count: buckets)
        counts.deallocate()
    }

    public var isEnabled: Bool { enabled.load(ordering: .relaxed) }

    /// `stats sizes_enable` / `sizes_disable`. Counting starts with the items linked from now on
    /// (memcached's does too); disabling clears the counts.
    public func setEnabled(_ on: Bool) {
        if !on {
            let top = highest.load(ordering: .relaxed)
            for i in 0...top { counts[i].store(0, ordering: .relaxed) }
        }
        enabled.store(on, ordering: .relaxed)
    }

    @inline(__always)
    private func bucket(keyLength: Int, valueLength: Int) -> Int {
        let total = 48 + keyLength + 1 + valueLength + 2 + (withCAS ? 8 : 0)
        return min((total + Self.bucketBytes - 1) / Self.bucketBytes, buckets - 1)
    }

    @inline(__always)
    func linked(keyLength: Int, valueLength: Int) {
        guard enabled.load(ordering: .relaxed) else { return }
        let b = bucket(keyLength: keyLength, valueLength: valueLength)
        // Raised before the count is added (relaxed: `stats sizes` is a snapshot anyway).
        var top = highest.load(ordering: .relaxed)
        while b > top {
            let (done, now) = highest.compareExchange(expected: top, desired: b, ordering: .relaxed)
            if done { break }
            top = now
        }
        counts[b].add(1, ordering: .relaxed)
    }

    @inline(__always)
    func unlinked(keyLength: Int, valueLength: Int) {
        guard enabled.load(ordering: .relaxed) else { return }
        let b = bucket(keyLength: keyLength, valueLength: valueLength)
        // An item linked before counting started is not in the counts: never below zero.
        var n = counts[b].load(ordering: .relaxed)
        while n > 0 {
            let (done, now) = counts[b].compareExchange(expected: n, desired: n - 1, ordering: .relaxed)
            if done { break }
            n = now
        }
    }

    /// The non-empty buckets: (upper size, items).
    public func lines() -> [(String, String)] {
        var out: [(String, String)] = []
        for i in 0...highest.load(ordering: .relaxed) {
            let n = counts[i].load(ordering: .relaxed)
            if n > 0 { out.append((String(i * Self.bucketBytes), String(n))) }
        }
        return out
    }
}
