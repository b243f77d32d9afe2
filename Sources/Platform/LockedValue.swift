// A value shared between threads behind a pthread mutex, with `Synchronization.Mutex`'s shape
// (`withLock` hands the body the value inout). Not `Mutex` itself: on Linux `Mutex`'s lock and
// unlock live in the standard library, which is not built with ThreadSanitizer, so TSan sees
// neither (Tools/sanitize.sh reported two correctly locked registrations as a race, and would
// miss a real race beside one). A pthread mutex is intercepted by TSan. Like `PlainMutex`, whose
// rule it inherits, taking it first gives back a stripe the thread kept (CStripeLock).
public final class LockedValue<Value>: @unchecked Sendable {
    // Safe to share: `value` is read and written only under `mutex` (`withLock`, `load`).
    private let mutex = PlainMutex()
    private var value: Value

    public init(_ value: Value) { self.value = value }

    @inline(__always)
    public func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        mutex.lock()
        defer { mutex.unlock() }
        return try body(&value)
    }

    /// A copy of the value, read under the lock. Read a function-typed value (a hook) this way,
    /// never with `withLock { $0 }`: handing a closure stored in this generic class to a body
    /// `inout` converts it to the caller's representation and back, and the conversion back
    /// wraps it in one more pair of thunks on every call, so the stored closure grew by two stack
    /// frames per read (13,000 broker appends to a stream's topic overflowed a worker's stack).
    @inline(__always)
    public func load() -> Value {
        mutex.lock()
        defer { mutex.unlock() }
        return value
    }
}
