// The hash table: buckets of 32-bit item handles chained through the item header, memcached's
// assoc.c. When items exceed 1.5 x buckets the expander thread doubles it: with every item lock
// held (so no request is inside the table) it swaps in a table twice the size and keeps the old one;
// then it moves old buckets over one by one, each under that bucket's item lock. A lookup reads
// the old table for buckets not yet moved. The table pointers, power and `expanding` change only
// with every item lock held; `expandBucket` is an atomic that only the expander writes, and a
// lookup's decision for its own bucket is stable because moving that bucket needs the lookup's lock.
// A bucket is stored atomically (`cprefetch_bucket_store`): a prefetch hint reads another
// stripe's bucket without its lock (CacheEngine+KeyHints.swift).
import CPrefetch
import SlabAllocator
import Synchronization

struct HashTableState {
    var primary: UnsafeMutablePointer<SlabHandle>
    var old: UnsafeMutablePointer<SlabHandle>?
    var power: Int
    var expanding: Bool
}

extension CacheEngine {
    @inline(__always)
    func bucket(_ hv: UInt32) -> UnsafeMutablePointer<SlabHandle> {
        let st = hashTable
        if st.pointee.expanding {
            let oldBucket = Int(hv) & ((1 << (st.pointee.power - 1)) - 1)
            if oldBucket >= expandBucket.pointee.load(ordering: .relaxed) {
                return st.pointee.old! + oldBucket
            }
        }
        return st.pointee.primary + (Int(hv) & ((1 << st.pointee.power) - 1))
    }

    /// The linked item with this key, if any. Item lock for `hv` held.
    @inline(__always)
    func lockedHashFind(_ key: UnsafeRawBufferPointer, _ hv: UInt32, database: Int = 0) -> Item? {
        var h = bucket(hv).pointee
        while h != 0 {
            let it = Item(arena.pointer(h))
            if it.keyEquals(key, database: database) { return it }
            h = it.hashNext
        }
        return nil
    }

    /// Item lock held.
    @inline(__always)
    func lockedHashInsert(_ it: Item, _ hv: UInt32) {
        let b = bucket(hv)
        it.hashNext = b.pointee
        cprefetch_bucket_store(b, arena.handle(it.raw))
    }

    /// Item lock held.
    func lockedHashDelete(_ it: Item, _ hv: UInt32) {
        let target = arena.handle(it.raw)
        var link = bucket(hv)
        while link.pointee != 0 {
            if link.pointee == target {
                // `link` is the bucket or the previous item's chain field.
                cprefetch_bucket_store(link, it.hashNext)
                it.hashNext = 0
                return
            }
            link = (arena.pointer(link.pointee) + ItemLayout.hashNextOffset).assumingMemoryBound(to: SlabHandle.self)
        }
        assertionFailure("item not in its hash chain")
    }

    /// One step of the expander thread: start an expansion when the table is loaded past 1.5,
    /// or move a batch of old buckets. Returns true while there is work left.
    @discardableResult
    func hashExpanderStep(bucketsPerStep: Int = 1024) -> Bool {
        itemLocks.lock(0)
        let expanding = hashTable.pointee.expanding
        let power = hashTable.pointee.power
        itemLocks.unlock(0)

        if !expanding {
            guard currentItemCount() > (3 << power) / 2, power < 32 else { return false }
            let newSize = 1 << (power + 1)
            let table = UnsafeMutablePointer<SlabHandle>.allocate(capacity: newSize)
            table.initialize(repeating: 0, count: newSize)
            itemLocks.lockAll()
            hashTable.pointee.old = hashTable.pointee.primary
            hashTable.pointee.primary = table
            hashTable.pointee.power = power + 1
            expandBucket.pointee.store(0, ordering: .relaxed)
            hashTable.pointee.expanding = true
            itemLocks.unlockAll()
            return true
        }

        let oldCount = 1 << (power - 1)
        let mask = (1 << power) - 1
        for _ in 0..<bucketsPerStep {
            let b = expandBucket.pointee.load(ordering: .relaxed)
            let hv = UInt32(truncatingIfNeeded: b)
            itemLocks.lock(hv)
            let old = hashTable.pointee.old!
            let primary = hashTable.pointee.primary
            var h = old[b]
            while h != 0 {
                let it = Item(arena.pointer(h))
                let next = it.hashNext
                let nb = Int(murmur3(it.key)) & mask
                it.hashNext = primary[nb]
                cprefetch_bucket_store(primary + nb, h)
                h = next
            }
            cprefetch_bucket_store(old + b, 0)
            expandBucket.pointee.store(b + 1, ordering: .relaxed)
            itemLocks.unlock(hv)
            if b + 1 == oldCount {
                finishExpansion()
                return false
            }
        }
        return true
    }

    private func finishExpansion() {
        itemLocks.lockAll()
        let old = hashTable.pointee.old
        hashTable.pointee.old = nil
        hashTable.pointee.expanding = false
        itemLocks.unlockAll()
        old?.deallocate()
    }
}
