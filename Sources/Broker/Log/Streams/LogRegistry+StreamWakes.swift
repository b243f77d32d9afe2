// A broker-port append (`set`, `produce`) to a topic a Redis stream reads (an adopted
// one-partition topic, or a stream's own topic published under its key) is told to the Redis
// port, which makes it look like an XADD there: the clients blocked on the stream are woken
// (XREAD BLOCK, XREADGROUP BLOCK), and, when the stream under the key takes the record in (an
// adopted topic's), a WATCH of the key aborts its EXEC and the `xadd` keyspace event is published.
// The blocked readers, WATCH and pub/sub live in the RESP module, which the broker does not
// import: the Redis port installs a hook (`StreamStore.onBrokerAppend`) called with the topic,
// whose name is the key the stream was made or adopted under in database 0 (after a RENAME of
// the stream's key the old name's readers are woken instead, read again and park again:
// harmless; before renewing the key's WATCH unique or publishing the event, the Redis port checks
// that the stream under the key takes the topic's records in). One relaxed
// load per append to any other topic.
import Synchronization

extension LogRegistry {
    /// After an append to `topic` on the broker port, no lock held.
    func appendedToStreamTopic(_ topic: LogTopic) {
        guard topic.readByStream.load(ordering: .relaxed), let hook = streamAppendHook.load() else { return }
        hook(topic)
    }
}

extension StreamStore {
    /// The Redis port's XADD-like handling of broker-port appends to a topic a stream reads.
    public func onBrokerAppend(_ hook: @escaping @Sendable (_ topic: LogTopic) -> Void) {
        broker?.logs.streamAppendHook.withLock { $0 = hook }
    }
}
