// Redis's 16 databases over one hash table. An item's header holds its *physical* database; the
// Redis port and the memcached port name *logical* ones (the memcached port is always logical 0).
// A logical → physical map, one nibble per database in one atomic word, is applied by every
// lookup and allocation, so SWAPDB is one compare-and-swap (O(1), as redis's). A write racing a
// SWAPDB lands in the database its logical one named when the write began (redis runs commands
// one at a time, so it has no such race).
//
// Per physical database the engine keeps the linked keys, the expiring ones and the sum of their
// expiry times (DBSIZE, INFO keyspace's keys=, expires=, avg_ttl=): relaxed atomics changed where
// an item is linked, unlinked or gets a new expiry (lockedLink, lockedUnlink,
// lockedUnlinkHoldingLRU, lockedSetExpiry, restore). FLUSHDB and FLUSHALL walk the table
// (CacheEngine+Walk.swift) and unlink what they flush at once, so the counts are right after
// them; memcached's flush_all stays lazy (items invisible at once, counted until the crawler or a
// lookup takes them away, within the crawler's pass of ~2 s).
//
// The counts are kept per CPU and summed when read (the kernel's percpu counters): a SET that
// replaces a key with a new item unlinks one item and links another, and one shared counter per
// database moved its cache line between the two workers' cores on every such request (12 % of the server's
// samples under redis-benchmark SET -P 16 were that one instruction). A thread adds to the block
// of the CPU it runs on (`cpercpu_current`: glibc's sched_getcpu, a read of the kernel's rseq area); being moved between
// the read and the add only costs a shared line once, since every block is summed.
import CPerCPU
import Synchronization

/// Keys per physical database; safe to share: fixed atomics.
final class DatabaseCounts: @unchecked Sendable {
    // Safe to share: a fixed block of atomics, allocated once, freed in deinit.
    /// Per CPU block: [db] keys, [16 + db] expiring keys, [32 + db] the sum of their expiry
    /// times (ms). A block is 384 bytes, cache-line aligned, so no two CPUs' blocks share a line.
    private let slots: UnsafeMutablePointer<Atomic<Int>>
    private static let perBlock = ItemLayout.databaseCount * 3
    /// CPUs past this many share blocks (correct, only slower).
    private static let blocks = 16
    private static var count: Int { perBlock * blocks }

    init() {
        slots = UnsafeMutableRawPointer.allocate(byteCount: Self.count * MemoryLayout<Atomic<Int>>.stride, alignment: 64)
            .bindMemory(to: Atomic<Int>.self, capacity: Self.count)
        for i in 0..<Self.count { (slots + i).initialize(to: Atomic(0)) }
    }

    deinit {
        slots.deinitialize(count: Self.count)
        UnsafeMutableRawPointer(slots).deallocate()
    }

    /// This CPU's block.
    @inline(__always)
    private var block: UnsafeMutablePointer<Atomic<Int>> {
        slots + Int(truncatingIfNeeded: cpercpu_current() & Int32(Self.blocks - 1)) &* Self.perBlock
    }

    /// The sum of slot `i` over every block (a block alone may be negative).
    private func sum(_ i: Int) -> Int {
        var total = 0
        for b in 0..<Self.blocks { total &+= slots[b * Self.perBlock + i].load(ordering: .relaxed) }
        return total
    }

    /// An expiry as milliseconds of process time, capped so that sums of millions cannot overflow
    /// (a TTL past ~34 years counts as 34 years in avg_ttl).
    @inline(__always)
    static func expiryMillis(_ it: Item) -> Int {
        let e = Int(it.expiry)
        let ms = it.expiryMs
        let t = ms & 0x8000 == 0 ? e * 1000 : (e - 1) * 1000 + Int(ms & 0x3ff)
        return min(t, 1 << 40)
    }

    @inline(__always)
    func linked(_ it: Item) {
        let b = block
        b[it.database].wrappingAdd(1, ordering: .relaxed)
        changeExpiry(it, by: 1, in: b)
    }

    @inline(__always)
    func unlinked(_ it: Item) {
        let b = block
        b[it.database].wrappingSubtract(1, ordering: .relaxed)
        changeExpiry(it, by: -1, in: b)
    }

    /// The item's expiry joins its database's (it is linked, or being linked).
    @inline(__always)
    func linkedExpiry(_ it: Item) {
        // Asked before the CPU's block: most items have no expiry, and lockedSetExpiry (every
        // in-chunk SET) calls both.
        if it.expiry != 0 { changeExpiry(it, by: 1, in: block) }
    }

    @inline(__always)
    func unlinkedExpiry(_ it: Item) {
        if it.expiry != 0 { changeExpiry(it, by: -1, in: block) }
    }

    @inline(__always)
    private func changeExpiry(_ it: Item, by sign: Int, in b: UnsafeMutablePointer<Atomic<Int>>) {
        guard it.expiry != 0 else { return }
        let db = it.database
        b[ItemLayout.databaseCount + db].wrappingAdd(sign, ordering: .relaxed)
        b[2 * ItemLayout.databaseCount + db].wrappingAdd(sign &* Self.expiryMillis(it), ordering: .relaxed)
    }

    func keys(_ physical: Int) -> Int { sum(physical) }
    func expiring(_ physical: Int) -> Int { sum(ItemLayout.databaseCount + physical) }
    func expirySum(_ physical: Int) -> Int { sum(2 * ItemLayout.databaseCount + physical) }
}

/// One database's figures (INFO keyspace).
public struct DatabaseFigures: Sendable, Equatable {
    public var keys: Int
    public var expires: Int
    /// The mean remaining TTL of its expiring keys, in ms (redis estimates it by sampling; this
    /// is the exact mean of the expiry times kept, 0 when none).
    public var averageTTL: Int
}

extension CacheEngine {
    /// Nibble i = i: every logical database is its own physical one.
    static let identityDatabaseMap: UInt64 = 0xFEDC_BA98_7654_3210

    /// The physical database logical `database` names now.
    @inline(__always)
    func physicalDatabase(_ database: Int) -> Int {
        Int(truncatingIfNeeded: (databaseMap.load(ordering: .relaxed) >> UInt64((database & 0xf) &* 4)) & 0xf)
    }

    /// SWAPDB a b: the two logical databases exchange their contents, for every client at once
    /// (the memcached port is logical 0: after SWAPDB 0 1 it sees what was database 1).
    public func swapDatabases(_ a: Int, _ b: Int) {
        precondition(a >= 0 && a < ItemLayout.databaseCount && b >= 0 && b < ItemLayout.databaseCount)
        var map = databaseMap.load(ordering: .relaxed)
        while true {
            let pa = (map >> UInt64(a * 4)) & 0xf, pb = (map >> UInt64(b * 4)) & 0xf
            var next = map & ~(0xf << UInt64(a * 4)) & ~(0xf << UInt64(b * 4))
            next |= pb << UInt64(a * 4) | pa << UInt64(b * 4)
            let (exchanged, current) = databaseMap.compareExchange(expected: map, desired: next, ordering: .relaxed)
            if exchanged { return }
            map = current
        }
    }

    /// The map as a word (warm restart saves it with the items, whose headers hold physical
    /// databases).
    var databaseMapWord: UInt64 {
        get { databaseMap.load(ordering: .relaxed) }
        set { databaseMap.store(newValue, ordering: .relaxed) }
    }

    /// Whether `word` is a permutation of 0...15, one nibble each (a saved map is checked).
    static func isDatabaseMap(_ word: UInt64) -> Bool {
        var seen: UInt32 = 0
        for i in 0..<ItemLayout.databaseCount { seen |= 1 << UInt32((word >> UInt64(i * 4)) & 0xf) }
        return seen == 0xffff
    }

    /// Items expired so far: found expired by a lookup, or reclaimed by the crawler or at an
    /// LRU tail (INFO's expired_keys).
    public var expiredItemCount: Int {
        expiredOnLookup.load(ordering: .relaxed) + itemStats().reclaimed
    }

    /// DBSIZE: keys linked in logical `database` (expired ones not yet taken away included, as
    /// redis counts them until they are found or its expire cycle deletes them).
    public func keyCount(database: Int) -> Int {
        max(0, databaseCounts.keys(physicalDatabase(database)))
    }

    /// INFO keyspace's line for logical `database`.
    public func databaseFigures(database: Int) -> DatabaseFigures {
        let p = physicalDatabase(database)
        let expiring = max(0, databaseCounts.expiring(p))
        var avg = 0
        if expiring > 0 {
            avg = max(0, databaseCounts.expirySum(p) / expiring - Int(clock.relativeMilliseconds))
        }
        return DatabaseFigures(keys: max(0, databaseCounts.keys(p)), expires: expiring, averageTTL: avg)
    }

    /// FLUSHDB (one logical database) or FLUSHALL (nil: every database, with memcached's
    /// flush_all marks so the two ports' flushes are one). What it flushes is unlinked before it
    /// returns. Returns the number of items unlinked.
    @discardableResult
    public func flushDatabase(_ database: Int?) -> Int {
        var removed = 0
        if let database {
            let p = physicalDatabase(database)
            walkTable { it in
                if it.database == p {
                    lockedUnlink(it, murmur3(it.key))
                    removed += 1
                }
            }
        } else {
            flushAll(delay: 0)
            let now = clock.current
            walkTable { it in
                if isFlushed(it, now: now) {
                    lockedUnlink(it, murmur3(it.key))
                    removed += 1
                }
            }
        }
        return removed
    }
}
