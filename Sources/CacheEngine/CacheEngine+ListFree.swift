// Freeing a list's nodes (and a hash's entries, CacheEngine+HashFree.swift) when its root goes (DEL, overwrite, expiry, eviction, flush, the last
// reference of an unlinked root). A root's last reference may drop under an item lock and even
// an LRU lock (the tail walkers), so a long list must not be freed there: up to
// `listInlineFreeNodes` nodes (redis's LAZYFREE_THRESHOLD, 64) are freed at once, a longer chain
// goes on this queue and the engine's "list-free" thread (EngineThreads) frees it 256 nodes at a
// time, taking the queue's lock for each step only. An allocation that finds no free chunk takes
// a bounded step of the queue first, so memory a deleted list held comes back before anything is
// evicted for it. The queue's lock is a leaf: nothing else is taken while it is held.
import Platform
import SlabAllocator
import Synchronization

/// Chains of nodes waiting to be freed: the chains are linked through their first node's hash
/// next field, each chain through the nodes' next fields.
public final class ListFreeQueue: @unchecked Sendable {
    // Safe to share: `first` and `pendingLists` are read and written with `mutex` held; the
    // counters are atomic.
    let mutex = PlainMutex()
    var first: SlabHandle = 0
    var pendingLists = 0
    /// Wakes the freer when a chain is queued, and stops it.
    public let signal = StopSignal()
    /// Nodes queued and not yet freed.
    public let pendingNodes = Atomic<Int>(0)
    /// Lists whose nodes went to the background freer (INFO's lazyfreed_objects).
    public let lazyFreedLists = Atomic<Int>(0)

    public init() {}

    /// Lists queued and not yet wholly freed (INFO's lazyfree_pending_objects).
    public var pendingListCount: Int { mutex.withLock { pendingLists } }
}

extension CacheEngine {
    /// Nodes a root's release frees on the spot; a longer list goes to the background freer.
    static let listInlineFreeNodes = 64

    /// The root is going (its last reference): its nodes are freed now or queued. Its descriptor
    /// is emptied first, so nothing can free them twice.
    func releaseListNodes(_ root: Item) {
        let d = root.listDescriptor
        root.listDescriptor = ListDescriptor()
        freeNodeChain(head: d.head, nodes: d.nodes)
    }

    /// Frees a chain of keyless items linked through their next fields (a list's nodes, a hash's
    /// entries and index): now when short, else on the lazy-free queue.
    func freeNodeChain(head: SlabHandle, nodes: Int) {
        guard head != 0 else { return }
        if nodes <= Self.listInlineFreeNodes {
            var h = head
            while h != 0 {
                let n = Item(arena.pointer(h))
                h = n.next
                releaseKeyless(n)
            }
            return
        }
        let q = listFrees
        q.mutex.lock()
        Item(arena.pointer(head)).hashNext = q.first
        q.first = head
        q.pendingLists += 1
        q.pendingNodes.add(nodes, ordering: .relaxed)
        q.mutex.unlock()
        q.lazyFreedLists.add(1, ordering: .relaxed)
        q.signal.poke()
    }

    /// Frees up to `maxNodes` queued nodes; returns how many it freed. Any thread.
    @discardableResult
    public func listFreeStep(maxNodes: Int) -> Int {
        let q = listFrees
        if q.pendingNodes.load(ordering: .relaxed) == 0 { return 0 }
        // Detach up to maxNodes nodes from the front chain under the lock, free them after it.
        q.mutex.lock()
        let start = q.first
        guard start != 0 else { q.mutex.unlock(); return 0 }
        let startNode = Item(arena.pointer(start))
        let nextChain = startNode.hashNext
        var last = startNode
        var taken = 1
        while taken < maxNodes && last.next != 0 {
            last = Item(arena.pointer(last.next))
            taken += 1
        }
        let rest = last.next
        last.next = 0
        if rest != 0 {
            Item(arena.pointer(rest)).hashNext = nextChain
            q.first = rest
        } else {
            q.first = nextChain
            q.pendingLists -= 1
        }
        q.mutex.unlock()
        var h = start
        while h != 0 {
            let n = Item(arena.pointer(h))
            h = n.next
            n.hashNext = 0
            releaseKeyless(n)
        }
        q.pendingNodes.subtract(taken, ordering: .relaxed)
        return taken
    }

    /// Frees every queued node (tests; an engine without its threads).
    public func drainListFrees() {
        while listFreeStep(maxNodes: 256) > 0 {}
    }
}
