// A connection's appends to topics: the record goes to its partition, and with --fsync=always
// the session's replies wait for the flusher cycle that writes it (the same ticket queues use).
extension BrokerSession {
    public func appendLog(_ topic: LogTopic, partition: Int?, key: UnsafeRawBufferPointer?, valueLength: Int, flags: UInt32,
                          writeValue: (UnsafeMutableRawPointer) -> Void) -> Broker.LogAppendOutcome {
        let (outcome, ticket) = broker.appendLog(topic, partition: partition, key: key, valueLength: valueLength, flags: flags,
                                                 writeValue: writeValue)
        hold(ticket)
        return outcome
    }
}
