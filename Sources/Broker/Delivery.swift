// What happens to a message after it is handed out: confirmed (gone), aborted or nacked with
// requeue (back at the head of its level, redelivered count +1), rejected, over its delivery
// limit or expired (to the dead-letter queue, or dropped when the queue has none). Open reads
// come back when their connection closes or their visibility timeout passes.
import CacheEngine
import Platform

extension BrokerQueue {
    static let maxDeaths: UInt32 = 16

    /// Confirms an open read of `consumer` (Kestrel's /close, `ack`). False if no such read.
    func lockedConfirm(id: UInt64, consumer: UInt64) -> Bool {
        guard let o = open[id], o.consumer == consumer else { return false }
        open[id] = nil
        journal?.append(.confirm, id: id)
        share.release(o.message.memoryBytes)
        engine.release(o.message.item)
        return true
    }

    /// Ids of `consumer`'s open reads, oldest first.
    func lockedOpenIDs(consumer: UInt64) -> [UInt64] {
        open.values.filter { $0.consumer == consumer }.map(\.message.id).sorted()
    }

    /// Returns an open read to the queue (abort, nack requeue, close, visibility timeout), or
    /// dead-letters it past its delivery limit.
    func lockedRequeue(id: UInt64, consumer: UInt64?, nowMs: UInt64, dead: inout [DeadLetter],
                       wake: inout [ConnectionWaker]) -> Bool {
        guard let o = open[id], consumer == nil || o.consumer == consumer else { return false }
        open[id] = nil
        var m = o.message
        m.redeliveries.incrementSaturating()
        counters.redeliveries += 1
        if config.deliveryLimit > 0 && Int(m.redeliveries) >= config.deliveryLimit {
            journal?.append(.remove, id: id)
            lockedDeadLetterOrRelease(m, reason: .deliveryLimit, into: &dead)
            return true
        }
        journal?.append(.abort, id: id)
        lockedMakeReady(m, atHead: true, nowMs: nowMs, wake: &wake)
        return true
    }

    /// `nack ... reject`: straight to the dead-letter queue (or dropped).
    func lockedReject(id: UInt64, consumer: UInt64, dead: inout [DeadLetter]) -> Bool {
        guard let o = open[id], o.consumer == consumer else { return false }
        open[id] = nil
        journal?.append(.remove, id: id)
        lockedDeadLetterOrRelease(o.message, reason: .rejected, into: &dead)
        return true
    }

    /// Open reads whose visibility timeout passed go back to the queue.
    func lockedReturnTimedOut(nowMs: UInt64, dead: inout [DeadLetter], wake: inout [ConnectionWaker]) {
        // Newest first: each goes back to the head, so they end up in their old order.
        let due = open.values.filter { $0.deadlineMs != 0 && $0.deadlineMs <= nowMs }.map(\.message.id).sorted(by: >)
        for id in due { _ = lockedRequeue(id: id, consumer: nil, nowMs: nowMs, dead: &dead, wake: &wake) }
    }

    /// A message leaves this queue for good: to the dead-letter queue with its death counted, or
    /// freed. The queue's item reference goes with it.
    func lockedDeadLetterOrRelease(_ m: Message, reason: DeathReason, into dead: inout [DeadLetter]) {
        var m = m
        // A message that keeps dying (queues dead-lettering to each other) is dropped in the end,
        // as RabbitMQ drops dead-letter cycles.
        guard let target = config.deadLetter, target != name, m.deaths < Self.maxDeaths, lockedLoad(&m) else {
            lockedDrop(m)
            return
        }
        share.release(m.memoryBytes)
        do {
            var d = m
            d.deaths.incrementSaturating()
            d.deathReason = reason
            d.redeliveries = 0
            // RabbitMQ drops the expiration of a dead letter so it does not expire again at once.
            d.expiresMs = 0
            counters.deadLettered += 1
            dead.append(DeadLetter(message: d, target: target))
        }
    }
}
