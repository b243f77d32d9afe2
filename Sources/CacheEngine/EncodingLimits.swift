// redis 7.0's encoding thresholds for hashes, sets and sorted sets, settable at run time (CONFIG
// SET hash-max-listpack-entries/-value, set-max-intset-entries, zset-max-listpack-entries/-value).
// Each is read once per operation where a listpack or intset would grow past it (relaxed atomics:
// a change applies from the next write, as redis's does; a key converted stays converted, as
// redis never converts back). The static defaults (CacheEngine.hashListpackEntries...) are redis's.
import Synchronization

public final class EncodingLimits: Sendable {
    private let hashEntriesLimit = Atomic<Int>(CacheEngine.hashListpackEntries)
    private let hashValueLimit = Atomic<Int>(CacheEngine.hashListpackValue)
    private let setIntsetLimit = Atomic<Int>(CacheEngine.setIntsetEntries)
    private let zsetEntriesLimit = Atomic<Int>(CacheEngine.zsetListpackEntries)
    private let zsetValueLimit = Atomic<Int>(CacheEngine.zsetListpackValue)
    private let listNodeLimit = Atomic<Int>(CacheEngine.listNodeMax)

    init() {}

    /// hash-max-listpack-entries: more fields convert a listpack hash to a hashtable.
    public var hashEntries: Int {
        get { hashEntriesLimit.load(ordering: .relaxed) }
        set { hashEntriesLimit.store(newValue, ordering: .relaxed) }
    }
    /// hash-max-listpack-value: a longer field or value converts it.
    public var hashValue: Int {
        get { hashValueLimit.load(ordering: .relaxed) }
        set { hashValueLimit.store(newValue, ordering: .relaxed) }
    }
    /// set-max-intset-entries: more members convert an intset to a hashtable.
    public var setIntsetEntries: Int {
        get { setIntsetLimit.load(ordering: .relaxed) }
        set { setIntsetLimit.store(newValue, ordering: .relaxed) }
    }
    /// zset-max-listpack-entries: more members convert a listpack sorted set to a skip list.
    public var zsetEntries: Int {
        get { zsetEntriesLimit.load(ordering: .relaxed) }
        set { zsetEntriesLimit.store(newValue, ordering: .relaxed) }
    }
    /// zset-max-listpack-value: a longer member converts it.
    public var zsetValue: Int {
        get { zsetValueLimit.load(ordering: .relaxed) }
        set { zsetValueLimit.store(newValue, ordering: .relaxed) }
    }
    /// The bytes a packed list node may grow to (list-max-listpack-size's quicklist node size).
    public var listNodeBytes: Int { listNodeLimit.load(ordering: .relaxed) }

    /// list-max-listpack-size as redis's quicklist reads it: -1 ... -5 are nodes of 4, 8, 16, 32
    /// and 64 KB (below -5 is -5); a positive fill bounds redis's nodes by entry count and by its
    /// 8 KB safety limit, and here by the 8 KB only (nodes count no entries against a fill).
    public func setListFill(_ fill: Int) {
        let bytes = fill < 0 ? 4096 << min(4, -fill - 1) : 8192
        listNodeLimit.store(bytes, ordering: .relaxed)
    }
}
