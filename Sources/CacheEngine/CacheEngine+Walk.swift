// Walking the hash table (SCAN, KEYS, RANDOMKEY, FLUSHDB): redis's dictScan cursor. The cursor
// counts buckets with its bits reversed, so that when the table doubles between two calls the
// buckets already visited are exactly the low-bit prefixes the bigger table splits them into:
// a walk that runs across an expansion returns every key present throughout (some maybe twice),
// as redis guarantees. While the table expands (HashTable.swift: an old table whose buckets not
// yet moved are still read, and a new one twice its size) one step visits the old bucket
// `cursor & m0` and both new buckets it splits into, under that bucket's item lock; the
// expander moves a bucket under the same lock, so a step never sees a bucket half moved, and
// the start and end of an expansion take every lock, so the table cannot change under a step.
// The cursor then advances with the smaller table's mask, as redis's.
import SlabAllocator

/// One SCAN call's keys (each with its type) and where to continue (0: the walk is done).
public struct ScanPage: Sendable {
    public var keys: [[UInt8]] = []
    public var types: [ItemType] = []
    public var cursor: UInt64 = 0
    /// Buckets visited (the call's work).
    public var buckets = 0
    /// The bucket budget ended the call before `count` keys were found (and before the end).
    public var cutShort = false
}

extension CacheEngine {
    /// The cursor after the one whose buckets were just visited, with table mask `mask`
    /// (redis's: set the bits above the mask, reverse, add one, reverse back).
    @inline(__always)
    static func nextCursor(_ v: UInt64, mask: UInt64) -> UInt64 {
        var v = v | ~mask
        v = reverseBits(v)
        v &+= 1
        return reverseBits(v)
    }

    @inline(__always)
    static func reverseBits(_ x: UInt64) -> UInt64 {
        var v = x
        v = ((v >> 1) & 0x5555_5555_5555_5555) | ((v & 0x5555_5555_5555_5555) << 1)
        v = ((v >> 2) & 0x3333_3333_3333_3333) | ((v & 0x3333_3333_3333_3333) << 2)
        v = ((v >> 4) & 0x0F0F_0F0F_0F0F_0F0F) | ((v & 0x0F0F_0F0F_0F0F_0F0F) << 4)
        return v.byteSwapped
    }

    /// One step of the walk: calls `body` with every linked item of the bucket(s) `cursor`
    /// names, under their item lock (`body` may unlink the item it is given, nothing else).
    /// Returns the next cursor (0 once the walk has come round) and the buckets visited.
    func walkStep(_ cursor: UInt64, _ body: (Item) -> Void) -> (next: UInt64, buckets: Int) {
        // Every bucket this step visits has this cursor's low bits, so one stripe covers them
        // (ItemLocks: the stripe bits are at most the table's smallest power).
        let hv = UInt32(truncatingIfNeeded: cursor)
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        let st = hashTable.pointee
        func chain(_ head: SlabHandle) {
            var h = head
            while h != 0 {
                let it = Item(arena.pointer(h))
                h = it.hashNext  // before `body`, which may unlink `it`
                body(it)
            }
        }
        if !st.expanding {
            let mask = UInt64(1) << UInt64(st.power) - 1
            chain(st.primary[Int(cursor & mask)])
            return (Self.nextCursor(cursor, mask: mask), 1)
        }
        let m0 = UInt64(1) << UInt64(st.power - 1) - 1
        let m1 = UInt64(1) << UInt64(st.power) - 1
        // The old bucket: empty once moved (the expander clears it).
        chain(st.old![Int(cursor & m0)])
        var v = cursor
        var buckets = 1
        repeat {
            chain(st.primary[Int(v & m1)])
            buckets += 1
            v = (((v | m0) &+ 1) & ~m0) | (v & m0)
        } while v & (m0 ^ m1) != 0
        return (Self.nextCursor(cursor, mask: m0), buckets)
    }

    /// Walks the whole table once, one bucket's lock at a time (FLUSHDB, KEYS).
    func walkTable(_ body: (Item) -> Void) {
        var cursor: UInt64 = 0
        repeat {
            cursor = walkStep(cursor, body).next
        } while cursor != 0
    }

    /// SCAN: from `cursor`, the live keys of logical `database` until `count` are found, the
    /// walk ends, or `bucketBudget` buckets have been visited (the bound on one call's work).
    public func scan(cursor: UInt64, database: Int, count: Int, bucketBudget: Int) -> ScanPage {
        let p = physicalDatabase(database)
        var page = ScanPage()
        var v = cursor
        repeat {
            let now = clock.current
            let step = walkStep(v) { it in
                guard it.database == p, !isFlushed(it, now: now), !expired(it, now: now) else { return }
                page.keys.append(Array(it.key))
                page.types.append(it.type)
            }
            v = step.next
            page.buckets += step.buckets
        } while v != 0 && page.keys.count < count && page.buckets < bucketBudget
        page.cursor = v
        page.cutShort = v != 0 && page.keys.count < count
        return page
    }

    /// The hash table's buckets (SCAN sizes its bucket budget by them).
    public var hashBucketCount: Int {
        itemLocks.lock(0)
        defer { itemLocks.unlock(0) }
        return 1 << hashTable.pointee.power
    }

    /// KEYS: every live key of logical `database`, with its type, bucket by bucket.
    public func forEachKey(database: Int, _ body: (UnsafeRawBufferPointer, ItemType) -> Void) {
        let p = physicalDatabase(database)
        walkTable { it in
            let now = clock.current
            guard it.database == p, !isFlushed(it, now: now), !expired(it, now: now) else { return }
            body(it.key, it.type)
        }
    }

    /// RANDOMKEY: a live key of logical `database`, nil when it has none. From a random bucket
    /// the walk goes round the table at most once and takes a random key of the first bucket
    /// step that has one.
    public func randomKey(database: Int) -> [UInt8]? {
        guard keyCount(database: database) > 0 else { return nil }
        let p = physicalDatabase(database)
        var v = UInt64.random(in: 0...UInt64(UInt32.max))
        var rounds = 0
        while true {
            var found: [[UInt8]] = []
            let now = clock.current
            let step = walkStep(v) { it in
                if it.database == p, !isFlushed(it, now: now), !expired(it, now: now) { found.append(Array(it.key)) }
            }
            if let k = found.randomElement() { return k }
            v = step.next
            if v == 0 {
                rounds += 1
                if rounds == 2 { return nil }
            }
        }
    }
}
