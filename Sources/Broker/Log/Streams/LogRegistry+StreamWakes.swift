// A broker-port append (`set`, `produce`) to a topic a Redis stream reads (an adopted
// one-partition topic, or a stream's own topic published under its key) wakes the clients
// blocked on that stream (XREAD BLOCK, XREADGROUP BLOCK), as an XADD does. The blocked readers
// live in the RESP module (`ListWaits`), which the broker does not import: the Redis port installs
// a hook (`StreamStore.onBrokerAppend`) called with the topic's name, which is the key the stream
// was made or adopted under in database 0 (after a RENAME of the stream's key the old name's
// readers are woken instead, read again and park again: harmless). One relaxed load per append to
// any other topic.
import Synchronization

extension LogRegistry {
    /// After an append to `topic` on the broker port, no lock held.
    func appendedToStreamTopic(_ topic: LogTopic) {
        guard topic.readByStream.load(ordering: .relaxed), let hook = streamAppendHook.load() else { return }
        hook(topic.name)
    }
}

extension StreamStore {
    /// The Redis port's wake-up of a stream's blocked readers, for broker-port appends.
    public func onBrokerAppend(_ hook: @escaping @Sendable (_ topicName: String) -> Void) {
        broker?.logs.streamAppendHook.withLock { $0 = hook }
    }
}
