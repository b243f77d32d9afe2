// `stats detail on|off|dump`: gets, hits, sets and deletes per key prefix (the part of the key
// before the delimiter, `-D`, default ':'), memcached's stats_prefix. Off by default; when off the
// request path pays one relaxed atomic load. When on, every counted request takes a mutex and may
// allocate a new prefix entry: a debugging aid, as in memcached.
import Platform
import Synchronization

public final class PrefixStats: @unchecked Sendable {
    // Safe to share: `table` is touched with `mutex` held; `enabled` is atomic.
    private let mutex = PlainMutex()
    private var table: [[UInt8]: (get: UInt64, hit: UInt64, set: UInt64, del: UInt64)] = [:]
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
            var e = table[prefix] ?? (0, 0, 0, 0)
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

    /// memcached's dump lines, ordered by prefix.
    func dump() -> String {
        mutex.withLock {
            table.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map { prefix, e in
                "PREFIX \(String(decoding: prefix, as: UTF8.self)) get \(e.get) hit \(e.hit) set \(e.set) del \(e.del)\r\n"
            }.joined() + "END\r\n"
        }
    }
}
