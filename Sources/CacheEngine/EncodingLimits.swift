// redis 7.0's encoding thresholds for hashes, sets and sorted sets, settable at run time (CONFIG
// SET hash-max-listpack-entries/-value, set-max-intset-entries, zset-max-listpack-entries/-value),
// and the list node size (list-max-listpack-size). Each is read once per operation where a
// listpack or intset would grow past it (relaxed atomics: a change applies from the next write,
// as redis's does; a key converted stays converted, as redis never converts back). The static
// defaults (CacheEngine.hashListpackEntries...) are redis's.
import Synchronization

public final class EncodingLimits: Sendable {
    /// What CONFIG SET may change.
    public enum Threshold: Sendable {
        /// hash-max-listpack-entries: more fields convert a listpack hash to a hashtable.
        case hashEntries
        /// hash-max-listpack-value: a longer field or value converts it.
        case hashValue
        /// set-max-intset-entries: more members convert an intset to a hashtable.
        case setIntsetEntries
        /// zset-max-listpack-entries: more members convert a listpack sorted set to a skip list.
        case zsetEntries
        /// zset-max-listpack-value: a longer member converts it.
        case zsetValue
        /// list-max-listpack-size as redis's quicklist reads it: -1 ... -5 are nodes of 4, 8, 16,
        /// 32 and 64 KB (below -5 is -5); a positive fill bounds redis's nodes by entry count and
        /// by its 8 KB safety limit, and here by the 8 KB only (nodes count no entries).
        case listFill
    }

    private let hashEntriesLimit = Atomic<Int>(CacheEngine.hashListpackEntries)
    private let hashValueLimit = Atomic<Int>(CacheEngine.hashListpackValue)
    private let setIntsetLimit = Atomic<Int>(CacheEngine.setIntsetEntries)
    private let zsetEntriesLimit = Atomic<Int>(CacheEngine.zsetListpackEntries)
    private let zsetValueLimit = Atomic<Int>(CacheEngine.zsetListpackValue)
    private let listNodeLimit = Atomic<Int>(CacheEngine.listNodeMax)

    init() {}

    public var hashEntries: Int { hashEntriesLimit.load(ordering: .relaxed) }
    public var hashValue: Int { hashValueLimit.load(ordering: .relaxed) }
    public var setIntsetEntries: Int { setIntsetLimit.load(ordering: .relaxed) }
    public var zsetEntries: Int { zsetEntriesLimit.load(ordering: .relaxed) }
    public var zsetValue: Int { zsetValueLimit.load(ordering: .relaxed) }
    /// The bytes a packed list node may grow to.
    public var listNodeBytes: Int { listNodeLimit.load(ordering: .relaxed) }

    /// Sets `threshold` to a value CONFIG SET has checked.
    public func set(_ threshold: Threshold, _ value: Int) {
        switch threshold {
        case .hashEntries: hashEntriesLimit.store(value, ordering: .relaxed)
        case .hashValue: hashValueLimit.store(value, ordering: .relaxed)
        case .setIntsetEntries: setIntsetLimit.store(value, ordering: .relaxed)
        case .zsetEntries: zsetEntriesLimit.store(value, ordering: .relaxed)
        case .zsetValue: zsetValueLimit.store(value, ordering: .relaxed)
        case .listFill: listNodeLimit.store(value < 0 ? 4096 << min(4, -value - 1) : 8192, ordering: .relaxed)
        }
    }
}
