// Output handed to a connection that is not waiting for it (DESIGN.md §5): `watch` lines today,
// pub/sub messages and RESP3 pushes tomorrow. Producers on any thread append bytes; the first
// append after the connection last took its bytes wakes it through its worker, which asks the
// handler (`ConnectionHandler.deliverPushes`) to move them into its output while the connection
// goes on reading and answering requests. The backlog is bounded: past `limit` bytes an append
// is refused and counted, and the owner decides what that means (watch: a `skipped` line;
// pub/sub: drop the client, as redis's client-output-buffer-limit does).
public final class PushQueue: @unchecked Sendable {
    // Safe to share: every `var` is guarded by `lock`; `waker` and `limit` are constant.
    private let lock = PlainMutex()
    private var bytes: [UInt8] = []
    private var dropped = 0
    private var wakePending = false
    private let waker: ConnectionWaker
    /// Bytes that may wait before appends are refused.
    public let limit: Int

    public init(waker: ConnectionWaker, limit: Int) {
        self.waker = waker
        self.limit = limit
    }

    /// Appends `data` for the connection; false (and counted as dropped) past the limit.
    @discardableResult
    public func push(_ data: UnsafeRawBufferPointer) -> Bool {
        push(data, within: limit) != nil
    }

    /// Appends `data` unless that would pass `bound` bytes waiting (a limit the owner may change
    /// at run time); returns the bytes now waiting, or nil (counted as dropped) when refused.
    public func push(_ data: UnsafeRawBufferPointer, within bound: Int) -> Int? {
        let result = lock.withLock { () -> (wake: Bool, pending: Int)? in
            guard bytes.count + data.count <= bound else {
                dropped += 1
                return nil
            }
            bytes.append(contentsOf: data)
            if wakePending { return (false, bytes.count) }
            wakePending = true
            return (true, bytes.count)
        }
        guard let result else { return nil }
        if result.wake { waker.wake() }
        return result.pending
    }

    /// Appends the UTF-8 of `text`.
    @discardableResult
    public func push(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { push(UnsafeRawBufferPointer($0)) }
    }

    /// The owner, on its worker: the waiting bytes go to `output`; returns how many appends were
    /// refused since the last take. When some were, `announceDrops` is given their count first,
    /// to write what the owner's protocol says about it ahead of the bytes. The next append wakes
    /// the connection again.
    @discardableResult
    public func take(into output: OutputBuffer,
                     announceDrops: ((_ count: Int, _ output: OutputBuffer) -> Void)? = nil) -> (bytes: Int, dropped: Int) {
        lock.withLock {
            wakePending = false
            let n = bytes.count
            if dropped > 0 { announceDrops?(dropped, output) }
            if n > 0 { bytes.withUnsafeBytes { output.append($0) } }
            bytes.removeAll(keepingCapacity: n <= 64 * 1024)
            let d = dropped
            dropped = 0
            return (n, d)
        }
    }

    /// Bytes waiting (for stats).
    public var pendingBytes: Int { lock.withLock { bytes.count } }
}
