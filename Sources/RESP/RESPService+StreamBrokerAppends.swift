// A broker-port append (`set`, `produce`) to a topic a stream of database 0 reads, as the Redis
// port sees it (the broker calls the hook installed here, LogRegistry+StreamWakes.swift): when
// the stream under the topic's name takes the record in as an entry (an adopted topic), it is an
// XADD to that key for Redis clients: a new CAS unique on the key's root for WATCH
// (`signalStreamModified`'s rule: only while a connection watches a key), then the `xadd` event
// (class t), then the key's blocked readers woken. A stream's own topic's appends are not its
// entries: its readers are only woken (they read again and park again). Runs on the appending
// broker connection's thread with no lock held; appends to topics no stream reads never come here.
import Broker
import CacheEngine
import Platform

extension RESPService {
    /// The broker port appended to `topic`, which a stream reads.
    func brokerAppended(to topic: LogTopic) {
        var key = topic.name
        key.withUTF8 { bytes in
            let k = UnsafeRawBufferPointer(bytes)
            let hv = CacheEngine.hash(k)
            let flags = config.keyspaceEvents.load(ordering: .relaxed)
            let watched = watchingClients.load(ordering: .sequentiallyConsistent) > 0
            if watched || flags & KeyspaceEvents.stream != 0 {
                let absorbed = engine.withExternalValue(k, hash: hv, database: 0, type: .stream) {
                    StreamStore.stream(token: $0).absorbsBrokerAppends(to: topic)
                }
                if case .found(true) = absorbed {
                    if watched { engine.renewCAS(k, hash: hv, database: 0, type: .stream) }
                    if flags & KeyspaceEvents.stream != 0 { publishKeyspaceEvent(flags, "xadd", key: k, database: 0) }
                }
            }
            listWaits.wakeStreamReaders(k, database: 0)
        }
    }
}
