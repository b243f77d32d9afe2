// Freeing a hash's (or set's, or sorted set's) fields when its root goes (DEL, overwrite, expiry, eviction, flush, the last
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
        let head = chainFieldTables(d, onto: lockedZslChain(d))
        freeNodeChain(head: head, nodes: d.count + d.indexItems + (d.zslHeader == 0 ? 0 : 1))
    }

    /// The entries' chain with a sorted set's skip-list header after it: the other nodes are
    /// folded into their entries or named by them (ZSetLayout.swift), so this is one store.
    func lockedZslChain(_ d: HashDescriptor) -> SlabHandle {
        guard d.zslHeader != 0 else { return d.head }
        guard d.tail != 0 else { return d.zslHeader }
        node(d.tail).next = d.zslHeader
        return d.head
    }

    /// Frees what `d` holds at once (a half-built copy or conversion: short, or the caller's to bound).
    func lockedHashFreeNow(_ d: HashDescriptor) {
        if d.packed {
            if d.head != 0 { refDecrement(node(d.head)) }
            return
        }
        var h = chainFieldTables(d, onto: lockedZslChain(d))
        while h != 0 {
            let n = node(h)
            h = n.next
            n.next = 0
            releaseKeyless(n)
        }
    }
}
