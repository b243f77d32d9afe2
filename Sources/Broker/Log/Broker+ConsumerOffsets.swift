// The broker's side of the consumer-offsets log (ConsumerOffsetsLog.swift): opened before the
// topics are recovered (each topic appends its commits there), replayed after them (the latest
// commit per topic, group and partition wins over the older `offsets` files), then flushed by
// the group commit with the segments. The timer expires group members and open reads.
import Durability
import Platform

extension Broker {
    /// Start-up, before `recoverLogs`: `<data>/__consumer_offsets.log`, created if absent.
    func openConsumerOffsets(_ dataDirectory: String) {
        logs.offsetsLog = ConsumerOffsetsLog(directory: dataDirectory, descriptors: logs.descriptors)
        if logs.offsetsLog == nil {
            recoveryNotes.append("log \(dataDirectory)/\(ConsumerOffsetsLog.fileName): cannot be opened; offsets kept in each topic's offsets file")
        }
    }

    /// Start-up, after `recoverLogs`: every topic's committed offsets from the log.
    func replayConsumerOffsets() {
        guard let log = logs.offsetsLog else { return }
        let (_, cut) = log.replay { topic, group, partition, offset in
            logs.topic(named: topic)?.restoreCommitted(group: group, partition: partition, offset: offset)
        }
        if cut > 0 { recoveryNotes.append("log \(log.file.path): torn tail of \(cut) bytes cut") }
        flusher?.register(log)
    }

    /// Timer thread (every tick): members past their session timeout, open reads past their
    /// visibility timeout.
    func expireLogGroups(nowMs: UInt64) {
        guard logs.generation.load(ordering: .relaxed) != 0 else { return }
        for t in logs.all { t.expireGroupState(nowMs: nowMs) }
    }

    /// Commits appended to the offsets log since start (0 without one).
    public var logOffsetCommits: UInt64 { logs.offsetsLog?.commitCount ?? 0 }
}
