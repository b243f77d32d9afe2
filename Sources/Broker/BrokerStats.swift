// `stats` on the broker port: Kestrel's per-queue lines plus the delivery counters of the
// RabbitMQ model, and the broker-wide memory and journal figures.

extension Broker {
    public func statsLines() -> [(String, String)] {
        let all = registry.withLock { queues.values.sorted { $0.name < $1.name } }
        var out: [(String, String)] = [
            ("broker_queues", "\(all.count)"),
            ("broker_exchanges", "\(registry.withLock { exchanges.count })"),
            ("broker_memory_limit", "\(share.limit)"),
            ("broker_memory_used", "\(share.inUse)"),
            ("broker_unroutable", "\(unroutable)"),
        ]
        let total = all.reduce(UInt64(0)) { sum, q in sum + q.lock.withLock { q.counters.totalItems } }
        out.append(("broker_total_messages", "\(total)"))
        if let flusher {
            out.append(("broker_fsyncs", "\(flusher.fsyncCount)"))
            out.append(("broker_journal_write_errors", "\(flusher.writeErrorCount)"))
        }
        for q in all {
            let p = "queue_\(q.name)_"
            q.lock.withLock {
                let openBytes = q.open.values.reduce(0) { $0 + $1.message.bodyBytes }
                let c = q.counters
                out += [
                    (p + "items", "\(q.readyCount)"),
                    (p + "bytes", "\(q.readyBytes)"),
                    (p + "total_items", "\(c.totalItems)"),
                    (p + "expired_items", "\(c.expiredItems)"),
                    (p + "mem_items", "\(q.readyCount + q.open.count - (q.spill?.live ?? 0))"),
                    (p + "mem_bytes", "\(q.readyBytes + openBytes - q.spilledBytes)"),
                    (p + "age", "\(c.lastAgeMs)"),
                    (p + "discarded", "\(c.discarded)"),
                    (p + "waiters", "\(q.liveWaiters)"),
                    (p + "open_transactions", "\(q.open.count)"),
                    (p + "redeliveries", "\(c.redeliveries)"),
                    (p + "dead_lettered", "\(c.deadLettered)"),
                ]
            }
        }
        return out
    }
}
