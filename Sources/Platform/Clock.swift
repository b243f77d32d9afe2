// The one clock of the process (DESIGN.md §4), in two resolutions:
// - seconds since a start point, as memcached's rel_time_t: items store times on it in 32 bits,
//   connections stamp their last command with it. The server's timer ticks it once a second from
//   the monotonic clock; tests set it by hand. The start point is placed ITEM_UPDATE_INTERVAL + 2
//   seconds in the past, as memcached does, so that relative time 1 ("expired long ago") is
//   always before "now".
// - Unix milliseconds, read when asked (the broker's TTLs and visibility timeouts, Redis's PX and
//   PTTL); tests pin and move it by hand.
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

public final class ProcessClock: Sendable {
    /// Unix time of relative time 0.
    public let processStarted: Int
    private let monotonicStart: Double
    /// Process time at `monotonicStart`.
    private let startValue: UInt32
    /// Usable from inline: `current` is inlined into the other modules (see there).
    @usableFromInline let now: Atomic<UInt32>
    /// Unix ms pinned by a test (0 = read the real clock). Usable from inline: see
    /// `pinnedMilliseconds`.
    @usableFromInline let pinnedMs = Atomic<UInt64>(0)

    /// memcached's REALTIME_MAXDELTA: expiry times above 30 days are absolute Unix times.
    public static let maxRelativeExpiry = 60 * 60 * 24 * 30
    /// memcached's ITEM_UPDATE_INTERVAL: an item is bumped at most once per this many seconds.
    public static let updateInterval = 60

    public init(unixNow: Int = Int(Glibc.time(nil))) {
        processStarted = unixNow - Self.updateInterval - 2
        monotonicStart = Self.monotonicSeconds()
        startValue = UInt32(Self.updateInterval + 2)
        now = Atomic(startValue)
    }

    /// The clock of a previous run, continued (a warm restart, `-e`): item times and expiries
    /// are kept on the saved relative clock, so it resumes at the saved time plus the seconds
    /// the server was down, and TTLs keep counting across the downtime as memcached's do.
    public init(processStarted: Int, current: UInt32) {
        self.processStarted = processStarted
        monotonicStart = Self.monotonicSeconds()
        startValue = current
        now = Atomic(current)
    }

    /// Current process time. Inlinable: every command reads it (RESP's last interaction, the
    /// engine's lookups), and as a call into this module it was a call with a retain and a
    /// release of the clock around it.
    @inlinable
    public var current: UInt32 { now.load(ordering: .relaxed) }

    /// Advance from the monotonic clock (the server's once-a-second timer).
    public func tick() {
        let elapsed = Self.monotonicSeconds() - monotonicStart
        now.store(startValue &+ UInt32(elapsed), ordering: .relaxed)
    }

    /// Set the clock (tests).
    public func set(_ value: UInt32) { now.store(value, ordering: .relaxed) }

    public var unixNow: Int { processStarted + Int(current) }

    /// A client's exptime as process time, by memcached's rules: 0 never expires; up to 30 days is
    /// relative; larger is an absolute Unix time (in the past = already expired); negative is
    /// already expired.
    public func expiry(fromClient exptime: Int64) -> UInt32 {
        if exptime == 0 { return 0 }
        if exptime < 0 { return 1 }
        if exptime > Int64(Self.maxRelativeExpiry) {
            if exptime <= Int64(processStarted) { return 1 }
            let rel = exptime - Int64(processStarted)
            return rel > Int64(UInt32.max) ? UInt32.max : UInt32(rel)
        }
        return UInt32(exptime) &+ current
    }

    /// Unix time in milliseconds.
    @inline(__always)
    public var milliseconds: UInt64 {
        let pinned = pinnedMs.load(ordering: .relaxed)
        if pinned != 0 { return pinned }
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
    }

    /// The Unix ms a test pinned the clock at, 0 when the real clock is read: for a caller that
    /// reads the real clock its own way (RESP's per-command time). Inlinable, as `current`.
    @inlinable
    public var pinnedMilliseconds: UInt64 { pinnedMs.load(ordering: .relaxed) }

    /// Milliseconds since relative time 0 (`processStarted`), from the millisecond clock: what a
    /// millisecond-precise item expiry is compared with.
    @inline(__always)
    public var relativeMilliseconds: UInt64 {
        let ms = milliseconds, start = UInt64(max(0, processStarted)) * 1000
        return ms > start ? ms - start : 0
    }

    /// Pins the millisecond clock at `ms` (tests).
    public func setMilliseconds(_ ms: UInt64) { pinnedMs.store(ms, ordering: .relaxed) }

    /// Moves a pinned millisecond clock forward (tests).
    public func advanceMilliseconds(_ d: UInt64) { pinnedMs.wrappingAdd(d, ordering: .relaxed) }

    private static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
