// Keys the engine takes away on its own: evicted (any policy, either port's allocation) or
// expired (found expired by a lookup of either port, or reclaimed in the background by the LRU
// tail, the maintainer, the crawler or a sampled eviction). One hook hears of both: the Redis
// port publishes them as the keyspace events `evicted` and `expired` (redis's evict.c and
// expire.c / db.c's expireIfNeeded). Flushed items are not reported: redis's FLUSHALL publishes
// nothing per key.
//
// The hook runs on the thread that removed the key, with the item's lock (and, in the background
// paths, its LRU lock) held and a reference, so the key bytes stay valid for the call. It must
// take no engine lock (the Redis port's pub/sub registry takes none).
import Synchronization

/// Why the engine took a key away.
public enum KeyRemoval: Sendable {
    case evicted, expired
}

/// The hook in a box: a closure kept in a generic lock (then `Mutex`) and taken out again went through
/// reabstraction thunks that called each other without end (a crash found by resp_eviction.py).
final class KeyRemovalObserver: Sendable {
    let removed: @Sendable (UnsafeRawBufferPointer, Int, KeyRemoval) -> Void
    init(_ f: @escaping @Sendable (UnsafeRawBufferPointer, Int, KeyRemoval) -> Void) { removed = f }
}

extension CacheEngine {
    /// Sets the function told of every eviction and expiry (`removalHook`): the key, its logical
    /// database and why.
    public func onKeyRemoval(_ hook: @escaping @Sendable (UnsafeRawBufferPointer, Int, KeyRemoval) -> Void) {
        let observer = KeyRemovalObserver(hook)
        removalHook.withLock { $0 = observer }
    }

    /// Tells the hook, if any, of a key taken away. The item's lock and a reference held.
    func reportRemoval(_ it: Item, _ why: KeyRemoval) {
        guard let observer = removalHook.load() else { return }
        let physical = it.database
        let logical = (0..<ItemLayout.databaseCount).first { physicalDatabase($0) == physical } ?? physical
        observer.removed(it.key, logical, why)
    }
}
