// Monotonic time in nanoseconds (vDSO clock_gettime), the only clock of the load loop.
#if canImport(Glibc)
import Glibc
#endif

@inline(__always)
public func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// Sleeps `nanos` nanoseconds (restarting on EINTR is not needed: callers poll).
public func sleepNanos(_ nanos: UInt64) {
    var ts = timespec(tv_sec: Int(nanos / 1_000_000_000), tv_nsec: Int(nanos % 1_000_000_000))
    _ = nanosleep(&ts, nil)
}
