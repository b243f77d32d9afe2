// Background threads and a plain mutex, shared by the engine (LRU maintainer, crawler, hash
// expander) and the server (listener, workers). pthreads directly: no Foundation in the server.
import CStripeLock
#if canImport(Glibc)
import Glibc
#endif

private final class ThreadBody {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}

/// Starts a detached-on-join OS thread running `body`; `join()` waits for it.
public final class BackgroundThread: @unchecked Sendable {
    // Safe to share: `thread` is written once in init before any other thread can see self.
    private var thread = pthread_t()

    /// `name` documents the thread at the call site (glibc's pthread_setname_np is not visible
    /// to Swift without _GNU_SOURCE).
    public init(name: String, _ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        pthread_attr_setstacksize(&attr, 1 << 20)
        let rc = pthread_create(&thread, &attr, { arg in
            let body = Unmanaged<ThreadBody>.fromOpaque(arg!).takeRetainedValue()
            body.run()
            return nil
        }, box)
        pthread_attr_destroy(&attr)
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    public func join() {
        pthread_join(thread, nil)
    }
}

/// A pthread mutex in stable memory, for state shared between threads.
public final class PlainMutex: @unchecked Sendable {
    // Safe to share: the mutex itself is the synchronisation.
    public let raw: UnsafeMutablePointer<pthread_mutex_t>

    public init() {
        raw = .allocate(capacity: 1)
        pthread_mutex_init(raw, nil)
    }

    deinit {
        pthread_mutex_destroy(raw)
        raw.deallocate()
    }

    /// A stripe the thread kept (CStripeLock) is given back first: a PlainMutex may be taken
    /// before item locks (ListWaits'), so waiting on one while keeping a stripe could deadlock.
    @inline(__always) public func lock() {
        cstripe_release()
        pthread_mutex_lock(raw)
    }
    @inline(__always) public func unlock() { pthread_mutex_unlock(raw) }

    @inline(__always)
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        cstripe_release()
        pthread_mutex_lock(raw)
        defer { pthread_mutex_unlock(raw) }
        return try body()
    }
}

/// A condition variable created for CLOCK_MONOTONIC timeouts.
public func makeMonotonicCondition() -> UnsafeMutablePointer<pthread_cond_t> {
    let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    var attr = pthread_condattr_t()
    pthread_condattr_init(&attr)
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
    pthread_cond_init(cond, &attr)
    pthread_condattr_destroy(&attr)
    return cond
}

/// Waits on `cond` (made by makeMonotonicCondition) for at most `microseconds`; `mutex` held.
public func timedWait(_ cond: UnsafeMutablePointer<pthread_cond_t>, _ mutex: PlainMutex, microseconds: Int) {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    let ns = Int(ts.tv_nsec) + (microseconds % 1_000_000) * 1000
    ts.tv_sec += microseconds / 1_000_000 + ns / 1_000_000_000
    ts.tv_nsec = ns % 1_000_000_000
    pthread_cond_timedwait(cond, mutex.raw, &ts)
}

/// Sleeps that a stop request cuts short: background loops wait on this instead of sleeping.
public final class StopSignal: @unchecked Sendable {
    // Safe to share: `stopped` is read and written with `mutex` held.
    private let mutex = PlainMutex()
    private let cond: UnsafeMutablePointer<pthread_cond_t>
    private var stopped = false

    public init() {
        cond = makeMonotonicCondition()
    }

    deinit {
        pthread_cond_destroy(cond)
        cond.deallocate()
    }

    public var isStopped: Bool { mutex.withLock { stopped } }

    public func stop() {
        mutex.withLock {
            stopped = true
            pthread_cond_broadcast(cond)
        }
    }

    /// Wakes any waiter early without stopping (work arrived).
    public func poke() {
        mutex.withLock { _ = pthread_cond_broadcast(cond) }
    }

    /// Waits up to `microseconds`; returns false once stopped.
    @discardableResult
    public func wait(microseconds: Int) -> Bool {
        mutex.lock()
        defer { mutex.unlock() }
        if !stopped { timedWait(cond, mutex, microseconds: microseconds) }
        return !stopped
    }
}
