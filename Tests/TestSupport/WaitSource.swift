// A source of values for the waiter tests (PlatformTests' WaiterTests, ServerTests'
// WaitAndPushTests): a wait list under its own lock, as a queue or a key keeps one.
import Platform

/// A wait list under its own lock and the values no waiter took; `Info` is what each waiter's
/// entry carries.
public final class WaitSource<Value, Info>: @unchecked Sendable {
    // Safe to share: `waiters` and `kept` are touched only with `lock` held.
    public let lock = PlainMutex()
    public var waiters = WaitList<Value, Info>()
    /// Values produced that no waiter took.
    public var kept: [Value] = []

    public init() {}

    /// Hands `value` to the oldest armed waiter (as source number `index`), or keeps it.
    public func produce(_ value: Value, index: Int) {
        let won = lock.withLock { () -> Waiter<Value>? in
            if let (w, _) = waiters.claimFirst() {
                w.deliver(value, source: index)
                return w
            }
            kept.append(value)
            return nil
        }
        won?.waker.wake()
    }
}
