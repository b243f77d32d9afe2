// A topic's declared settings (the `log` verb's words) and the memory every log shares.
import Durability
import Synchronization

/// What `log <topic> ...` declares.
public struct LogConfig: Sendable, Equatable {
    public var partitions = 1
    /// Segments whose newest record is older than this are deleted (-1: kept forever). Kafka's
    /// default, 7 days.
    public var retentionMs: Int64 = 604_800_000
    /// A partition's oldest segments are deleted while it would stay at or over this without
    /// them (-1: no bound).
    public var retentionBytes: Int64 = -1
    /// A segment rolls once the next batch would take it past this (Kafka's default, 1 GB).
    public var segmentBytes = 1 << 30
    /// A segment rolls once it is this old (0: never by age).
    public var segmentMs: UInt64 = 0
    /// Kafka's `cleanup.policy`: `delete` (retention only) or `compact` (also the newest record
    /// per key in the closed segments, LogPartition+Compaction.swift).
    public enum Cleanup: String, Sendable, Equatable { case delete, compact }
    public var cleanup = Cleanup.delete
    /// A tombstone (empty value) of a compacted topic is dropped once older than this (Kafka's
    /// `delete.retention.ms`, default 1 day).
    public var deleteRetentionMs: UInt64 = 86_400_000
    /// A group member whose connections send no request for this long leaves its group and its
    /// partitions are reassigned (Kafka's `session.timeout.ms`, default 45 s; a read's
    /// `/session=<ms>` sets its member's own).
    public var sessionTimeoutMs: UInt64 = 45_000

    public static let maxPartitions = 1024

    public init() {}

    public enum ParseError: Error, Equatable { case badOption(String) }

    /// The `key=value` words after the topic name.
    public static func parse(_ words: [Substring]) -> Result<LogConfig, ParseError> {
        var c = LogConfig()
        for w in words {
            guard let eq = w.firstIndex(of: "=") else { return .failure(.badOption(String(w))) }
            let k = w[..<eq], v = w[w.index(after: eq)...]
            switch k {
            case "partitions":
                guard let n = Int(v), n >= 1, n <= maxPartitions else { return .failure(.badOption(String(w))) }
                c.partitions = n
            case "retention_ms":
                guard let n = Int64(v), n >= -1 else { return .failure(.badOption(String(w))) }
                c.retentionMs = n
            case "retention_bytes":
                guard let n = Int64(v), n >= -1 else { return .failure(.badOption(String(w))) }
                c.retentionBytes = n
            case "segment_bytes":
                // At least 1 KB, at most 1 GB: positions in the index are 32-bit.
                guard let n = Int(v), n >= 1024, n <= 1 << 30 else { return .failure(.badOption(String(w))) }
                c.segmentBytes = n
            case "segment_ms":
                guard let n = UInt64(v) else { return .failure(.badOption(String(w))) }
                c.segmentMs = n
            case "cleanup":
                guard let p = Cleanup(rawValue: String(v)) else { return .failure(.badOption(String(w))) }
                c.cleanup = p
            case "delete_retention_ms":
                guard let n = UInt64(v) else { return .failure(.badOption(String(w))) }
                c.deleteRetentionMs = n
            case "session_timeout_ms":
                guard let n = UInt64(v), n >= 1, n <= 86_400_000 else { return .failure(.badOption(String(w))) }
                c.sessionTimeoutMs = n
            default:
                return .failure(.badOption(String(w)))
            }
        }
        return .success(c)
    }

    /// The words that declare it again (topic.meta).
    public var words: String {
        "partitions=\(partitions) retention_ms=\(retentionMs) retention_bytes=\(retentionBytes) segment_bytes=\(segmentBytes) segment_ms=\(segmentMs) cleanup=\(cleanup.rawValue) delete_retention_ms=\(deleteRetentionMs) session_timeout_ms=\(sessionTimeoutMs)"
    }
}

/// What every log of a broker shares: the memory bound and the counters of `stats logs`.
public final class LogMemory: Sendable {
    /// Without a data directory segments live in this (--broker-memory, shared with queues).
    public let share: MemoryShare?
    /// With a data directory: the bytes of a partition's active segment kept in memory once written.
    public let hotTailBytes: Int
    /// Where every segment's memory chunks come from (SegmentMemory.swift).
    public let chunks: LogChunkAllocator
    public let memoryBytes = Atomic<Int>(0)
    public let segmentsDropped = Atomic<UInt64>(0)
    public let segmentsDeleted = Atomic<UInt64>(0)
    public let appendsRefused = Atomic<UInt64>(0)
    public let diskReads = Atomic<UInt64>(0)
    public let diskReadErrors = Atomic<UInt64>(0)
    public let recoveryTruncatedBytes = Atomic<Int>(0)
    public let recoverySegmentsRemoved = Atomic<Int>(0)
    public let indexesRebuilt = Atomic<Int>(0)
    /// Segments recovery read whole (no usable index, a sealed tail that did not end at the
    /// file's end, or a compacted partition); the others were recovered from their indexes.
    public let recoveryFullScans = Atomic<Int>(0)
    /// Topics refused at `LogRegistry.maxTopics`, groups at `LogTopic.maxGroups`.
    public let limitRefusals = Atomic<UInt64>(0)
    /// Group membership and reliable reads (LogTopic+Groups.swift).
    public let groups = LogGroupCounters()
    /// Topics deleted (`delete <topic>`).
    public let topicsDeleted = Atomic<UInt64>(0)
    /// Compaction (`cleanup=compact`): segment rewrites, records they removed, bytes reclaimed.
    public let compactions = Atomic<UInt64>(0)
    public let compactedRecords = Atomic<UInt64>(0)
    public let compactedBytes = Atomic<UInt64>(0)
    /// Records without a key refused by a compacted topic.
    public let keylessRefused = Atomic<UInt64>(0)

    /// With a data directory: past this many bytes in memory (hot tails and bytes not yet
    /// written) an append asks the flusher for a cycle at once and its connection's replies wait
    /// for it, reading no further meanwhile (`memoryWaits`): half of --broker-memory, so that the
    /// logs stay within it without refusing a producer. 0: no such bound (memory only: `share`).
    public let softLimit: Int
    /// Appends whose replies waited for a flush because the logs' memory was past `softLimit`.
    public let memoryWaits = Atomic<UInt64>(0)

    init(share: MemoryShare?, hotTailBytes: Int = 1 << 20, softLimit: Int = 0, chunks: LogChunkAllocator = LogChunkAllocator()) {
        self.share = share
        self.chunks = chunks
        self.hotTailBytes = hotTailBytes
        self.softLimit = softLimit
    }

    /// With a data directory: the memory bound for `limit` bytes of --broker-memory, with the hot
    /// tail kept to an eighth of it (at most 1 MB a partition, at least 64 KB) so that the flusher's
    /// trim brings a partition back under the bound.
    static func diskBacked(limit: Int, chunks: LogChunkAllocator) -> LogMemory {
        LogMemory(share: nil, hotTailBytes: max(64 << 10, min(1 << 20, limit / 8)), softLimit: max(1, limit / 2), chunks: chunks)
    }

    /// Past `softLimit`, or the broker's memory share (queue messages and log chunks, data
    /// directory) full: the next appends wait for the flusher.
    public var pressing: Bool {
        softLimit > 0 && (memoryBytes.load(ordering: .relaxed) >= softLimit || chunks.shareFull)
    }

    /// Without a data directory a segment rolls at a sixteenth of the share (at least 64 KB), so
    /// that dropping the oldest one frees memory in pieces.
    func segmentBytes(_ c: LogConfig) -> Int {
        guard let share else { return c.segmentBytes }
        return min(c.segmentBytes, max(64 << 10, share.limit / 16))
    }
}
