// Walks over the LRU lists for `stats cachedump`, `lru_crawler metadump` and `stats items`: each
// holds one list's lock at a time and hands the caller read-only views valid during the call.
// A metadump walks in pieces (CacheEngine+MetadumpWalk.swift).
import SlabAllocator

extension CacheEngine {
    /// `stats cachedump`: the COLD list of a class from its head, up to `limit` items (0 = all)
    /// while `line` (given key, value length, expiry) returns a running byte count under
    /// `maxBytes`. Holds the list's lock; key bytes are valid only during the call.
    public func dumpCold(classID: Int, limit: Int, maxBytes: Int,
                         _ line: (UnsafeRawBufferPointer, Int, UInt32) -> Int) {
        let id = classID | (LRUSegment.cold.rawValue << 6)
        lruLock(id)
        defer { lruUnlock(id) }
        var h = lrus[id].head
        var shown = 0
        while h != 0 && (limit == 0 || shown < limit) {
            let it = Item(arena.pointer(h))
            h = it.next
            if it.flags & ItemFlag.crawler != 0 { continue }
            shown += 1
            if line(it.key, it.valueLength, it.expiry) >= maxBytes { break }
        }
    }

    /// Last-access time of the tail item of each segment of a class (0 = empty): `stats items` ages.
    public func tailTimes(classID: Int) -> [UInt32] {
        LRUSegment.allCases.map { seg in
            let id = classID | (seg.rawValue << 6)
            lruLock(id)
            defer { lruUnlock(id) }
            var h = lrus[id].tail
            while h != 0 {
                let it = Item(arena.pointer(h))
                if it.flags & ItemFlag.crawler == 0 { return it.lastAccess(now: clock.current) }
                h = it.prev
            }
            return 0
        }
    }
}
