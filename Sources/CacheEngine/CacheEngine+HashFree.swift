// Freeing a hash's fields when its root goes (DEL, overwrite, expiry, eviction, flush, the last
// reference of an unlinked root), as lists are freed (CacheEngine+ListFree.swift): the index's
// directories and segments are strung in front of the entries' insertion-order chain, and the
// chain goes to `freeNodeChain`, which frees up to 64 items at once and queues a longer chain for
// the list-free thread (INFO's lazyfree_pending_objects / lazyfreed_objects count it). Building
// the chain touches only the index items (at most 1 + 2^bits / 4,096 of them per table), never
// the entries, so deleting a hash of 1M fields costs the deleting client a few hundred stores.
import SlabAllocator

extension CacheEngine {
    /// The root is going (its last reference): its fields are freed now or queued. Its
    /// descriptor is emptied first, so nothing can free them twice.
    func releaseHashNodes(_ root: Item) {
        let d = root.hashDescriptor
        var empty = HashDescriptor()
        empty.encoding = d.encoding
        root.hashDescriptor = empty
        lockedHashFreeChain(d)
    }

    /// Frees (or queues) everything `d` holds.
    func lockedHashFreeChain(_ d: HashDescriptor) {
        if d.packed {
            freeNodeChain(head: d.head, nodes: d.head == 0 ? 0 : 1)
            return
        }
        let head = chainFieldTables(d, onto: d.head)
        freeNodeChain(head: head, nodes: d.count + d.indexItems)
    }

    /// Frees what `d` holds at once (a half-built copy or conversion: short, or the caller's to bound).
    func lockedHashFreeNow(_ d: HashDescriptor) {
        if d.packed {
            if d.head != 0 { refDecrement(node(d.head)) }
            return
        }
        var h = chainFieldTables(d, onto: d.head)
        while h != 0 {
            let n = node(h)
            h = n.next
            n.next = 0
            refDecrement(n)
        }
    }
}
