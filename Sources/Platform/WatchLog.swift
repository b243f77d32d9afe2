// memcached's `watch` log streams: connections that asked to watch fetchers, mutations,
// evictions or connection events get one line per event. Producers check `isActive` (one relaxed
// load) before building a line, so with nobody watching the request path pays nothing else.
// Each watcher's lines go to its connection's `PushQueue`, bounded in bytes as memcached's
// per-watcher buffer (`watcher_logbuf_size`); past it lines are dropped, and the watcher's next
// delivery starts with a line saying how many (memcached: `skipped`).
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public struct WatchKind: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let fetchers = WatchKind(rawValue: 1)
    public static let mutations = WatchKind(rawValue: 2)
    public static let evictions = WatchKind(rawValue: 4)
    public static let connevents = WatchKind(rawValue: 8)
}

/// One watching connection: what it watches and where its lines wait.
public final class Watcher: Sendable {
    public let kinds: WatchKind
    /// The connection's pushed output.
    public let lines: PushQueue

    fileprivate init(kinds: WatchKind, lines: PushQueue) {
        self.kinds = kinds
        self.lines = lines
    }

    /// The lines that arrived (after a `skipped` line if some were dropped) go to `output`.
    public func deliver(into output: OutputBuffer) {
        lines.take(into: output) { dropped, output in
            output.append("ts=0.0 gid=0 type=skipped count=\(dropped)\n")
        }
    }
}

public final class WatchLog: @unchecked Sendable {
    // Safe to share: `watchers` is guarded by `lock`; `active` is atomic.
    private let lock = PlainMutex()
    private var watchers: [Watcher] = []
    private let active = Atomic<UInt32>(0)
    private let gid = Atomic<UInt64>(0)
    /// memcached's default `watcher_logbuf_size`.
    public static let defaultBufferBytes = 256 * 1024
    /// Bytes of lines a watcher may have waiting before new ones are dropped
    /// (`-o watcher_logbuf_size`).
    public let bufferBytes: Int
    /// Events logged (memcached's log_worker_written), lines queued to watchers
    /// (log_watcher_sent) and lines a full watcher buffer dropped (log_watcher_skipped).
    private let logged = Atomic<UInt64>(0)
    private let sent = Atomic<UInt64>(0)
    private let skipped = Atomic<UInt64>(0)

    public init(bufferBytes: Int = WatchLog.defaultBufferBytes) {
        self.bufferBytes = bufferBytes
    }

    public var eventsLogged: UInt64 { logged.load(ordering: .relaxed) }
    public var linesSent: UInt64 { sent.load(ordering: .relaxed) }
    public var linesSkipped: UInt64 { skipped.load(ordering: .relaxed) }
    /// Watchers now (memcached's log_watchers).
    public var watcherCount: Int { lock.withLock { watchers.count } }

    /// `stats reset`.
    public func resetCounts() {
        logged.store(0, ordering: .relaxed)
        sent.store(0, ordering: .relaxed)
        skipped.store(0, ordering: .relaxed)
    }

    @inline(__always)
    public func isActive(_ kind: WatchKind) -> Bool {
        active.load(ordering: .relaxed) & kind.rawValue != 0
    }

    /// memcached's limit on log watchers.
    public static let maxWatchers = 20

    /// A new watcher whose lines wake its connection through `waker`, or nil when `maxWatchers`
    /// are watching.
    public func add(kinds: WatchKind, waker: ConnectionWaker) -> Watcher? {
        let w = Watcher(kinds: kinds, lines: PushQueue(waker: waker, limit: bufferBytes))
        let added = lock.withLock { () -> Bool in
            guard watchers.count < Self.maxWatchers else { return false }
            watchers.append(w)
            recomputeLocked()
            return true
        }
        return added ? w : nil
    }

    public func remove(_ w: Watcher) {
        lock.withLock {
            watchers.removeAll { $0 === w }
            recomputeLocked()
        }
    }

    private func recomputeLocked() {
        active.store(watchers.reduce(0) { $0 | $1.kinds.rawValue }, ordering: .relaxed)
    }

    /// Logs one event: `body` is the line after memcached's "ts=<s>.<us> gid=<n> " prefix,
    /// without the newline.
    public func emit(_ kind: WatchKind, _ body: String) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let id = gid.wrappingAdd(1, ordering: .relaxed).newValue
        let line = "ts=\(ts.tv_sec).\(ts.tv_nsec / 1000) gid=\(id) " + body + "\n"
        // Pushing may wake a worker (a pipe write): not under the lock.
        let targets = lock.withLock { watchers.filter { $0.kinds.contains(kind) } }
        logged.add(1, ordering: .relaxed)
        for w in targets {
            if w.lines.push(line) { sent.add(1, ordering: .relaxed) } else { skipped.add(1, ordering: .relaxed) }
        }
    }

    /// memcached's uriencode: letters, digits and `-._~` as they are, everything else %XX.
    public static func uriEncode(_ key: UnsafeRawBufferPointer) -> String {
        var out = ""
        out.reserveCapacity(key.count)
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(key.count * 3)
        for b in key {
            let plain = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a)
                || b == 0x2d || b == 0x2e || b == 0x5f || b == 0x7e
            if plain {
                bytes.append(b)
            } else {
                bytes += [0x25, hex[Int(b >> 4)], hex[Int(b & 15)]]
            }
        }
        out += String(decoding: bytes, as: UTF8.self)
        return out
    }
}
