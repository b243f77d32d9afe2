// `stats` on the broker port, declared once: the broker-wide memory and journal figures, then
// Kestrel's lines per queue with the delivery counters of the RabbitMQ model.
import Durability
import Platform
import Synchronization

/// The broker-wide figures of one `stats` reply.
struct BrokerFigures {
    let broker: Broker
    let queues: Int
    let exchanges: Int
    let totalMessages: UInt64
    /// Open reads that went back to their queue, summed over the queues that exist.
    let redeliveries: UInt64
}

/// What start-up recovery skipped and cut in the journals (fixed once the broker runs).
struct RecoveryFigures {
    /// Damaged records skipped (a stretch scanned byte by byte counts as one), and their bytes.
    var corruptRecords = 0
    var corruptBytes = 0
    /// Bytes of torn last records cut off.
    var tornBytes = 0
}

/// One queue's figures, taken under its lock.
struct QueueFigures {
    let items: Int
    let bytes: Int
    let memItems: Int
    let memBytes: Int
    let waiters: Int
    let openTransactions: Int
    let counters: QueueCounters
}

extension Broker {
    static let statTable = StatTable<BrokerFigures>([
        .gauge("broker_queues", .keyspace) { String($0.queues) },
        .gauge("broker_exchanges", .keyspace) { String($0.exchanges) },
        .gauge("broker_memory_limit", .memory) { String($0.broker.share.limit) },
        .gauge("broker_memory_used", .memory) { String($0.broker.share.inUse) },
        .gauge("broker_unroutable", .stats) { String($0.broker.unroutable) },
        .gauge("broker_keys_too_long", .stats) { String($0.broker.keysTooLong) },
        .gauge("broker_limit_refusals", .stats) { String($0.broker.limitRefusals) },
        .gauge("broker_lines_too_long", .stats) { String($0.broker.linesTooLong) },
        // Held replies reached 256 KB while parked for an fsync: the connection read no further.
        .gauge("broker_held_reply_cap", .stats) { String($0.broker.heldReplyCapHits) },
        .gauge("broker_binary_header_invalid", .stats) { String($0.broker.binaryHeaderInvalid) },
        .gauge("broker_total_messages", .stats) { String($0.totalMessages) },
        // What `gets` no longer says on memcached's VALUE line unless asked (`/redelivery`).
        .gauge("broker_redeliveries", .stats) { String($0.redeliveries) },
        // Only with a journal (--data-dir).
        .gauge("broker_fsyncs", .persistence) { $0.broker.flusher.map { String($0.fsyncCount) } },
        .gauge("broker_journal_write_errors", .persistence) { $0.broker.flusher.map { String($0.writeErrorCount) } },
        // Queues not made because their journal could not be created, and messages refused
        // (SERVER_ERROR) because their journal could not be written.
        .gauge("broker_journal_open_errors", .persistence) { f in f.broker.flusher.map { _ in String(f.broker.journalOpenErrorCount.load(ordering: .relaxed)) } },
        .gauge("broker_journal_refused", .persistence) { f in f.broker.flusher.map { _ in String(f.broker.journalRefusedCount.load(ordering: .relaxed)) } },
        // Plain reads answered empty while the journals fail with --fsync=always (their reply
        // would wait for the disk, and the message would be gone with the connection).
        .gauge("broker_journal_reads_refused", .persistence) { f in f.broker.flusher.map { _ in String(f.broker.journalReadsRefusedCount.load(ordering: .relaxed)) } },
        // The descriptors journals and spill files share (--data-dir): open now, the bound, and
        // how often one was closed to make room for another file.
        .gauge("broker_file_descriptors", .persistence) { $0.broker.descriptors.map { String($0.openCount) } },
        .gauge("broker_file_descriptors_max", .persistence) { $0.broker.descriptors.map { String($0.capacity) } },
        .gauge("broker_file_descriptor_evictions", .persistence) { $0.broker.descriptors.map { String($0.evictionCount) } },
        // What recovery skipped (each stretch is kept in <queue>.journal.corrupt-<n>) and cut.
        .gauge("broker_recovery_corrupt_records", .persistence) { f in f.broker.flusher.map { _ in String(f.broker.recoveryStats.corruptRecords) } },
        .gauge("broker_recovery_corrupt_bytes", .persistence) { f in f.broker.flusher.map { _ in String(f.broker.recoveryStats.corruptBytes) } },
        .gauge("broker_recovery_torn_bytes", .persistence) { f in f.broker.flusher.map { _ in String(f.broker.recoveryStats.tornBytes) } },
    ])

    /// Per queue, after "queue_<name>_".
    static let queueStatTable = StatTable<QueueFigures>([
        .gauge("items", .keyspace) { String($0.items) },
        .gauge("bytes", .memory) { String($0.bytes) },
        .gauge("total_items", .stats) { String($0.counters.totalItems) },
        .gauge("expired_items", .stats) { String($0.counters.expiredItems) },
        .gauge("mem_items", .memory) { String($0.memItems) },
        .gauge("mem_bytes", .memory) { String($0.memBytes) },
        .gauge("age", .stats) { String($0.counters.lastAgeMs) },
        .gauge("discarded", .stats) { String($0.counters.discarded) },
        .gauge("waiters", .clients) { String($0.waiters) },
        .gauge("open_transactions", .clients) { String($0.openTransactions) },
        .gauge("redeliveries", .stats) { String($0.counters.redeliveries) },
        .gauge("dead_lettered", .stats) { String($0.counters.deadLettered) },
    ])

    public func statsLines() -> [(String, String)] {
        let all = registry.withLock { queues.values.sorted { $0.name < $1.name } }
        let counters = all.map { q in q.lock.withLock { q.counters } }
        let figures = BrokerFigures(broker: self, queues: all.count, exchanges: registry.withLock { exchanges.count },
                                    totalMessages: counters.reduce(0) { $0 + $1.totalItems },
                                    redeliveries: counters.reduce(0) { $0 + $1.redeliveries })
        var out = Self.statTable.lines(figures)
        for q in all {
            let queue = q.lock.withLock {
                let openBytes = q.open.values.reduce(0) { $0 + $1.message.bodyBytes }
                return QueueFigures(items: q.readyCount, bytes: q.readyBytes,
                                    memItems: q.readyCount + q.open.count - (q.spill?.live ?? 0),
                                    memBytes: q.readyBytes + openBytes - q.spilledBytes,
                                    waiters: q.liveWaiters, openTransactions: q.open.count, counters: q.counters)
            }
            out += Self.queueStatTable.lines(queue, prefix: "queue_\(q.name)_")
        }
        return out
    }
}
