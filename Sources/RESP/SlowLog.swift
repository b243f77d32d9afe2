// SLOWLOG: the commands that took longer than `slowlog-log-slower-than` microseconds (10000 by
// default; 0 logs every command, a negative value none), the newest `slowlog-max-len` (128) kept,
// as redis-server's slowlog.c keeps them: an id, the Unix time, the duration, the arguments (at most
// 32, each at most 128 bytes, the rest summarised), the client's address and name. Commands are
// timed anyway for INFO commandstats; only a slow one takes the log's lock.
import Platform
import Synchronization

final class SlowLog: Sendable {
    struct Entry: Sendable {
        let id: Int
        let time: Int
        let microseconds: Int
        let arguments: [[UInt8]]
        let client: String
        let name: [UInt8]
    }

    /// `slowlog-log-slower-than`.
    let threshold = Atomic<Int>(10_000)
    /// `slowlog-max-len`.
    let maxLength = Atomic<Int>(128)
    private let state = LockedValue<(entries: [Entry], nextID: Int)>(([], 0))

    static let maxArguments = 32
    static let maxArgumentLength = 128

    /// Whether a command of this duration is logged.
    @inline(__always)
    func isSlow(_ microseconds: UInt64) -> Bool {
        let t = threshold.load(ordering: .relaxed)
        return t >= 0 && microseconds >= UInt64(t)
    }

    func add(arguments: (Int) -> UnsafeRawBufferPointer, count: Int, microseconds: Int, time: Int, client: String, name: [UInt8]) {
        var args: [[UInt8]] = []
        let kept = count > Self.maxArguments ? Self.maxArguments - 1 : count
        for i in 0..<kept {
            let a = arguments(i)
            if a.count > Self.maxArgumentLength {
                args.append(Array(a.prefix(Self.maxArgumentLength)) + Array("... (\(a.count - Self.maxArgumentLength) more bytes)".utf8))
            } else {
                args.append(Array(a))
            }
        }
        if kept < count { args.append(Array("... (\(count - kept) more arguments)".utf8)) }
        let limit = maxLength.load(ordering: .relaxed)
        state.withLock { s in
            s.entries.insert(Entry(id: s.nextID, time: time, microseconds: microseconds, arguments: args, client: client, name: name), at: 0)
            s.nextID += 1
            if s.entries.count > limit { s.entries.removeLast(s.entries.count - max(0, limit)) }
        }
    }

    /// The newest `count` entries (all for nil).
    func newest(_ count: Int?) -> [Entry] {
        state.withLock { s in Array(s.entries.prefix(count ?? s.entries.count)) }
    }

    var count: Int { state.withLock { $0.entries.count } }

    func reset() { state.withLock { $0.entries.removeAll() } }
}
