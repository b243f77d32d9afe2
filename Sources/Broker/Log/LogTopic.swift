// A topic: N partitions declared once, the partitioner (Kafka's murmur2 for keyed records,
// round-robin for the rest), and the consumer groups' committed offsets. A plain read commits as
// it reads: under the topic's lock it claims the next records of the group's partition(s) by
// moving the committed offsets past them, then reads them with no topic lock held, so two
// connections of one group never get the same record. A stream (Redis, later) is a one-partition
// topic. Lock order: registry → topic → partition; the topic's lock guards `groups` and `config`.
//
// With a data directory the topic is the group commit's member: its flush writes every
// partition's new batches, then the groups' offsets (`offsets`, replaced whole) when they
// changed. Files: `<data>/logs/<topic>/topic.meta`, `offsets`, `<partition>/<base>.log|.index|.timeindex`.
import Durability
import Platform
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public final class LogTopic: Flushable, @unchecked Sendable {
    // Safe to share: `config`, `groups`, `groupsDirty` and `cursors` are guarded by `lock`;
    // partitions guard themselves; `roundRobin` is atomic.
    public let name: String
    public let partitions: [LogPartition]
    let directory: String?
    let lock = PlainMutex()
    private(set) var config: LogConfig
    /// Per group: the next offset to read in each partition (0 until read: the log start).
    var groups: [String: [UInt64]] = [:]
    var groupsDirty = false
    /// Per group: the partition a read without /partition starts from.
    private var cursors: [String: Int] = [:]
    /// Per group: members, assignment, open reads, ranges to read again (LogTopic+Groups.swift).
    var groupStates: [String: LogGroupState] = [:]
    /// Where commits are appended (with a data directory; set before the topic is shared).
    var offsetsLog: ConsumerOffsetsLog?
    private let roundRobin = Atomic<UInt64>(0)
    /// A Redis stream reads this topic (its own, or one it adopted: StreamStore): the broker
    /// port's `delete` refuses it, the stream's key is what deletes it.
    let readByStream = Atomic<Bool>(false)
    /// The topic is an XADD-made stream's own (StreamLog): its bounds are the stream's (XADD's
    /// MAXLEN/MINID, XTRIM), so the broker port's `log` may not re-declare it (a retention set
    /// there would remove entries behind the stream's length and IDs).
    let ownedByStream: Bool
    /// Set by `delete <topic>` (Broker+DeleteLog.swift) before it wakes the parked readers, so a
    /// read parked on the topic, or parking on it after its lookup, is answered at once.
    let deleted = Atomic<Bool>(false)
    public var isDeleted: Bool { deleted.load(ordering: .acquiring) }
    /// `cleanup=compact`: a record without a key is refused (read without the topic lock on every append).
    private let compacted = Atomic<Bool>(false)
    public var isCompacted: Bool { compacted.load(ordering: .relaxed) }

    /// Groups one topic keeps offsets for.
    public static let maxGroups = 1000

    init(name: String, config: LogConfig, directory: String?, descriptors: DescriptorCache?, memory: LogMemory, nowMs: UInt64,
         ownedByStream: Bool = false) {
        self.name = name
        self.ownedByStream = ownedByStream
        self.config = config
        self.directory = directory
        compacted.store(config.cleanup == .compact, ordering: .relaxed)
        partitions = (0..<config.partitions).map { i in
            LogPartition(id: i, config: config, directory: directory.map { $0 + "/\(i)" }, descriptors: descriptors,
                         memory: memory, nowMs: nowMs)
        }
    }

    /// A redeclaration's settings (the partition count cannot change: keys would move).
    func update(_ c: LogConfig) {
        lock.withLock { config = c }
        compacted.store(c.cleanup == .compact, ordering: .relaxed)
        for p in partitions { p.lock.withLock { p.config = c } }
    }

    // MARK: producing

    /// Kafka's choice: murmur2 of the key, or round-robin for an unkeyed record.
    public func partition(forKey key: UnsafeRawBufferPointer?) -> Int {
        if let key { return Murmur2.partition(forKey: key, partitions: partitions.count) }
        return Int(roundRobin.wrappingAdd(1, ordering: .relaxed).oldValue % UInt64(partitions.count))
    }

    // MARK: consuming

    public enum ReadRefusal: Error, Equatable { case badPartition, tooManyGroups }

    /// Claims and visits the group's next records: at most `maxRecords`, from `partition` or
    /// from each partition in turn (starting after the one the group's last read began with).
    /// The offsets are committed as they are claimed (at most once).
    public func read(group: String, partition: Int?, maxRecords: Int,
                     _ visit: (_ partition: Int, LogRecordView) -> Void) -> Result<Int, ReadRefusal> {
        if let partition, partition < 0 || partition >= partitions.count { return .failure(.badPartition) }
        let claims: [(p: Int, from: UInt64, until: UInt64, count: Int)]? = lock.withLock {
            guard var offsets = lockedGroup(group) else { return nil }
            var out: [(p: Int, from: UInt64, until: UInt64, count: Int)] = []
            var moved = false
            var left = maxRecords
            let n = partitions.count
            let first = partition ?? (cursors[group] ?? 0) % n
            for i in 0..<(partition == nil ? n : 1) where left > 0 {
                let p = (first + i) % n
                // Records, not offsets: a compacted partition's gaps are stepped over.
                let c = partitions[p].lock.withLock { partitions[p].lockedClaim(from: offsets[p], records: left) }
                if c.count > 0 { out.append((p, c.from, c.upper, c.count)) }
                if c.upper > offsets[p] {
                    offsets[p] = c.upper
                    moved = true
                }
                left -= c.count
            }
            if partition == nil { cursors[group] = first + 1 }
            if moved {
                groups[group] = offsets
                lockedCommitGroup(group)
            }
            return out
        }
        guard let claims else { return .failure(.tooManyGroups) }
        var total = 0
        for c in claims {
            let (_, n) = partitions[c.p].read(from: c.from, maxRecords: c.count, until: c.until) { visit(c.p, $0) }
            total += n
        }
        return .success(total)
    }

    /// Lock held: the group's offsets, made (at 0: the log start) if new; nil past `maxGroups`.
    func lockedGroup(_ group: String) -> [UInt64]? {
        if let o = groups[group] { return o }
        guard groups.count < Self.maxGroups else {
            partitions[0].memory.limitRefusals.wrappingAdd(1, ordering: .relaxed)
            return nil
        }
        let o = Array(repeating: UInt64(0), count: partitions.count)
        groups[group] = o
        return o
    }

    /// Parks `w` on `partition` (every partition when nil): the next append there wins it.
    public func addWaiter(_ w: Waiter<Void>, partition: Int?) {
        if let partition { partitions[partition].addWaiter(w) } else { for p in partitions { p.addWaiter(w) } }
    }

    /// Takes `w` off the partitions it was parked on (its owner gave up or was served).
    public func removeWaiter(_ w: Waiter<Void>, partition: Int?) {
        if let partition { partitions[partition].removeWaiter(w) } else { for p in partitions { p.removeWaiter(w) } }
    }

    public enum SeekTarget: Equatable, Sendable {
        case offset(UInt64), earliest, latest, time(UInt64)
    }

    /// Moves the group's committed offset in `partition` (every partition when nil) and returns
    /// the offsets set. An offset past the log end is set to the end, one before the start to the start.
    public func seek(group: String, partition: Int?, to target: SeekTarget) -> Result<[UInt64], ReadRefusal> {
        if let partition, partition < 0 || partition >= partitions.count { return .failure(.badPartition) }
        let which = partition.map { [$0] } ?? Array(0..<partitions.count)
        // Time lookups may read segment files: done before the topic lock is taken.
        var wanted: [UInt64] = []
        for p in which {
            let part = partitions[p]
            let (start, end) = part.lock.withLock { (part.lockedStartOffset, part.lockedEndOffset) }
            switch target {
            case .offset(let o): wanted.append(min(max(o, start), end))
            case .earliest: wanted.append(start)
            case .latest: wanted.append(end)
            case .time(let ms): wanted.append(part.offset(forTime: ms))
            }
        }
        return lock.withLock {
            guard var offsets = lockedGroup(group) else { return .failure(.tooManyGroups) }
            for (i, p) in which.enumerated() { offsets[p] = wanted[i] }
            groups[group] = offsets
            if !lockedNoteSeek(group: group, partitions: which) { groupsDirty = true }
            return .success(wanted)
        }
    }

    /// Every group's committed offsets (sorted by name), for `stats logs`.
    public var groupOffsets: [(group: String, offsets: [UInt64])] {
        lock.withLock { groups.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
    }

    // MARK: group commit

    public func flush(sync: Bool) -> FlushResult {
        var result = FlushResult.idle
        for p in partitions {
            switch p.flush(sync: sync) {
            case .idle: break
            case .wrote: if result == .idle { result = .wrote }
            case .failed: result = .failed
            }
        }
        if result != .failed && !writeOffsetsIfChanged() { result = .failed }
        return result
    }

    public func afterFlush() {}

    /// Replaces `offsets` when a read or seek changed them. False when the file cannot be written.
    func writeOffsetsIfChanged() -> Bool {
        guard let directory else { return true }
        let text: String? = lock.withLock {
            guard groupsDirty else { return nil }
            groupsDirty = false
            var t = ""
            for (g, o) in groups.sorted(by: { $0.key < $1.key }) {
                for (p, v) in o.enumerated() { t += "\(g) \(p) \(v)\n" }
            }
            return t
        }
        guard var text else { return true }
        let ok = text.withUTF8 { bytes in
            FileIO.replace(directory + "/offsets") { fd in FileIO.writeAll(fd, UnsafeRawBufferPointer(bytes)) ? bytes.count : nil }
        }
        if !ok { lock.withLock { groupsDirty = true } }
        return ok
    }

    /// Start-up: the offsets file read back.
    func loadOffsets() {
        guard let directory, let data = FileIO.readAll(directory + "/offsets") else { return }
        let text = String(decoding: UnsafeRawBufferPointer(data), as: UTF8.self)
        data.deallocate()
        for line in text.split(separator: "\n") {
            let w = line.split(separator: " ")
            guard w.count == 3, let p = Int(w[1]), p >= 0, p < partitions.count, let o = UInt64(w[2]) else { continue }
            let g = String(w[0])
            if groups[g] == nil {
                guard groups.count < Self.maxGroups else { continue }
                groups[g] = Array(repeating: 0, count: partitions.count)
            }
            groups[g]![p] = o
        }
    }
}
