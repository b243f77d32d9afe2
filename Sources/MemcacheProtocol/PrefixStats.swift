// `stats detail on|off|dump`: gets, hits, sets and deletes per key prefix (the part of the key
// before the delimiter, `-D`, default ':'), memcached's stats_prefix. Off by default; when off the
// request path pays one relaxed atomic load. When on, every counted request takes a mutex and may
// allocate a new prefix entry: a debugging aid, as in memcached. `dump` lists the prefixes in
// memcached's order: its table of 256 buckets by murmur3 of the prefix, each bucket's chain newest
// first (an entry is put at its chain's head).
import CacheEngine
import Platform
import Synchronization

public final class PrefixStats: @unchecked Sendable {
    // Safe to share: `table` is touched with `mutex` held; `enabled` is atomic.
    private let mutex = PlainMutex()
    private typealias Entry = (get: UInt64, hit: UInt64, set: UInt64, del: UInt64, order: UInt64)
    private var table: [[UInt8]: Entry] = [:]
    /// Entries made so far (an entry's `order`: newer first within a bucket).
    private var made: UInt64 = 0
    /// memcached's PREFIX_HASH_SIZE.
    static let buckets: UInt32 = 256
    let enabled = Atomic<Bool>(false)
    let delimiter: UInt8

    public init(delimiter: UInt8) {
        self.delimiter = delimiter
    }

    @inline(__always)
    var isEnabled: Bool { enabled.load(ordering: .relaxed) }

    enum Kind { case get(hit: Bool), set, delete }

    /// Counts a request on `key`; keys without the delimiter are not counted (memcached).
    func record(_ key: UnsafeRawBufferPointer, _ kind: Kind) {
        guard let end = key.firstIndex(of: delimiter) else { return }
        let prefix = Array(key[..<end])
        mutex.withLock {
            var e: Entry
            if let found = table[prefix] {
                e = found
            } else {
                e = (0, 0, 0, 0, made)
                made += 1
            }
            switch kind {
            case .get(let hit):
                e.get += 1
                if hit { e.hit += 1 }
            case .set: e.set += 1
            case .delete: e.del += 1
            }
            table[prefix] = e
        }
    }

    /// `stats reset`: every prefix forgotten (memcached's stats_prefix_clear); `stats detail on`
    /// stays on.
    func clear() {
        mutex.withLock { table.removeAll() }
    }

    /// memcached's dump lines, in its table's order (bucket, then newest first).
    func dump() -> String {
        mutex.withLock {
            var rows: [(bucket: UInt32, order: UInt64, line: String)] = []
            rows.reserveCapacity(table.count)
            for (prefix, e) in table {
                let bucket = prefix.withUnsafeBytes { murmur3($0) } % Self.buckets
                let line = "PREFIX " + String(decoding: prefix, as: UTF8.self)
                    + " get \(e.get) hit \(e.hit) set \(e.set) del \(e.del)\r\n"
                rows.append((bucket, e.order, line))
            }
            rows.sort { $0.bucket != $1.bucket ? $0.bucket < $1.bucket : $0.order > $1.order }
            return rows.map(\.line).joined() + "END\r\n"
        }
    }
}
