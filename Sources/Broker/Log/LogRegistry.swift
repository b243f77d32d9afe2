// The broker's topics, by name, under their own lock (taken after the registry lock, which a
// declaration holds to check that no queue has the name). No I/O under it: a declaration makes
// its directories and `topic.meta` before taking it. The timer thread applies retention once a
// second. Start-up reads `<data>/logs/*/topic.meta` back and recovers every partition.
import Durability
import Platform
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public final class LogRegistry: @unchecked Sendable {
    // Safe to share: `topics` is guarded by `lock`; `lastRetentionMs` is touched by the timer
    // thread only; the rest is constant or atomic.
    let lock = PlainMutex()
    var topics: [String: LogTopic] = [:]
    /// Bumped by every new topic: a connection's cached "not a topic" answer is good while it stays.
    public let generation = Atomic<UInt64>(0)
    public let memory: LogMemory
    /// `<data>/logs`, or nil without a data directory.
    let directory: String?
    let descriptors: DescriptorCache?
    var lastRetentionMs: UInt64 = 0
    /// The groups' commits (ConsumerOffsetsLog.swift); nil without a data directory. Set at start-up.
    var offsetsLog: ConsumerOffsetsLog?
    /// Called with a topic after the broker port appended to a topic a Redis stream reads
    /// (`LogRegistry+StreamWakes.swift`); installed by the Redis port, nil without one.
    let streamAppendHook = LockedValue<(@Sendable (LogTopic) -> Void)?>(nil)

    public static let maxTopics = 1000

    init(directory: String?, descriptors: DescriptorCache?, memory: LogMemory) {
        self.directory = directory
        self.descriptors = descriptors
        self.memory = memory
    }

    public func topic(named name: String) -> LogTopic? { lock.withLock { topics[name] } }

    public var count: Int { lock.withLock { topics.count } }

    public var all: [LogTopic] { lock.withLock { topics.values.sorted { $0.name < $1.name } } }

    func topicDirectory(_ name: String) -> String? { directory.map { $0 + "/" + FileNames.encode(name) } }
}

extension Broker {
    public enum DeclareLogResult: Equatable, Sendable {
        case ok
        /// A queue has the name.
        case isQueue
        /// Declared before with another partition count.
        case partitionsDiffer(Int)
        case tooManyTopics
        /// The name is an XADD-made Redis stream's topic: its settings are the stream's.
        case stream
        /// Its directory or topic.meta could not be written.
        case unwritable
    }

    /// `log <topic> ...`: makes the topic (its directories and topic.meta first, outside every
    /// lock), or updates the settings of an existing one.
    public func declareLog(_ name: String, _ config: LogConfig) -> DeclareLogResult {
        enum Found { case queue, topic(LogTopic), none }
        let found: Found = registry.withLock {
            if queues[name] != nil { return .queue }
            if let t = logs.topic(named: name) { return .topic(t) }
            return .none
        }
        switch found {
        case .queue: return .isQueue
        case .topic(let t):
            if t.ownedByStream { return .stream }
            guard t.partitions.count == config.partitions else { return .partitionsDiffer(t.partitions.count) }
            t.update(config)
            return writeTopicMeta(name, config) ? .ok : .unwritable
        case .none: break
        }
        if logs.count >= LogRegistry.maxTopics {
            logs.memory.limitRefusals.wrappingAdd(1, ordering: .relaxed)
            return .tooManyTopics
        }
        if let dir = logs.topicDirectory(name) {
            guard let root = logs.directory, Self.makeDirectory(root), Self.makeDirectory(dir),
                  (0..<config.partitions).allSatisfy({ Self.makeDirectory(dir + "/\($0)") }),
                  writeTopicMeta(name, config) else { return .unwritable }
        }
        let t = LogTopic(name: name, config: config, directory: logs.topicDirectory(name), descriptors: logs.descriptors,
                         memory: logs.memory, nowMs: clockMs())
        t.offsetsLog = logs.offsetsLog
        let result: DeclareLogResult = registry.withLock {
            if queues[name] != nil { return .isQueue }
            return logs.lock.withLock {
                if let existing = logs.topics[name] {
                    return existing.partitions.count == config.partitions ? .ok : .partitionsDiffer(existing.partitions.count)
                }
                guard logs.topics.count < LogRegistry.maxTopics else { return .tooManyTopics }
                logs.topics[name] = t
                logs.generation.wrappingAdd(1, ordering: .relaxed)
                flusher?.register(t)
                return .ok
            }
        }
        return result
    }

    /// The topic called `name`, if any.
    public func logTopic(named name: String) -> LogTopic? { logs.topic(named: name) }

    /// Whether `name` is a topic (queue creation refuses it). Registry lock held.
    func lockedIsTopic(_ name: String) -> Bool { logs.topic(named: name) != nil }

    private func writeTopicMeta(_ name: String, _ config: LogConfig) -> Bool {
        guard let dir = logs.topicDirectory(name) else { return true }
        var text = config.words + "\n"
        return text.withUTF8 { b in
            FileIO.replace(dir + "/topic.meta") { fd in FileIO.writeAll(fd, UnsafeRawBufferPointer(b)) ? b.count : nil }
        }
    }

    static func makeDirectory(_ path: String) -> Bool {
        if mkdir(path, 0o755) == 0 {
            FileIO.syncDirectory(of: path)
            return true
        }
        var st = stat()
        return errno == EEXIST && stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Start-up: every topic under `<data>/logs` with its partitions and group offsets.
    func recoverLogs() {
        guard let root = logs.directory, let d = opendir(root) else { return }
        var names: [String] = []
        while let e = readdir(d) {
            let file = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            guard file != ".", file != "..", let raw = FileNames.decode(file) else { continue }
            let name = String(decoding: raw, as: UTF8.self)
            if Self.isValidName(name) && FileNames.encode(name) == file { names.append(name) }
        }
        closedir(d)
        for name in names.sorted() {
            guard let dir = logs.topicDirectory(name), let data = FileIO.readAll(dir + "/topic.meta") else { continue }
            // broker.meta declared a queue of that name (they cannot share one): the queue stays.
            if registry.withLock({ queues[name] != nil }) {
                data.deallocate()
                recoveryNotes.append("log \(dir): a queue has the topic's name; topic not loaded")
                continue
            }
            let text = String(decoding: UnsafeRawBufferPointer(data), as: UTF8.self)
            data.deallocate()
            guard case .success(let config) = LogConfig.parse(text.split(whereSeparator: { $0 == " " || $0 == "\n" })) else {
                recoveryNotes.append("log \(dir): topic.meta unreadable; topic not loaded")
                continue
            }
            let t = LogTopic(name: name, config: config, directory: dir, descriptors: logs.descriptors, memory: logs.memory,
                             nowMs: clockMs())
            t.offsetsLog = logs.offsetsLog
            for p in t.partitions {
                _ = Self.makeDirectory(dir + "/\(p.id)")
                p.recover(nowMs: clockMs(), notes: &recoveryNotes)
            }
            t.loadOffsets()
            logs.lock.withLock { logs.topics[name] = t }
            // Connections look topics up only once one exists.
            logs.generation.wrappingAdd(1, ordering: .relaxed)
            flusher?.register(t)
        }
    }

    /// Timer thread, once a second: retention of every partition, then compaction of the
    /// compacted ones (LogPartition+Compaction.swift).
    func applyLogRetention(nowMs: UInt64) {
        expireLogGroups(nowMs: nowMs)
        guard nowMs >= logs.lastRetentionMs + 1000 else { return }
        logs.lastRetentionMs = nowMs
        for t in logs.all {
            // A topic a Redis stream reads is not compacted: the stream's view of its records
            // (IDs, emulated nodes) is kept by the stream, which trims with XTRIM.
            let compacts = !t.readByStream.load(ordering: .relaxed)
            for p in t.partitions {
                _ = p.applyRetention(nowMs: nowMs)
                if compacts { p.compact(nowMs: nowMs) }
            }
        }
    }

    /// At stop, after the flusher's last flush: the active segments' indexes.
    func writeLogIndexes() {
        for t in logs.all { for p in t.partitions { p.writeActiveIndexes() } }
    }

    // MARK: appending

    /// The flusher ticket an append's reply waits for: with `--fsync=always` its cycle; while the
    /// logs' memory is past its bound (data directory) the next cycle, asked for now, whatever the
    /// policy (the producer slows to the disk's pace instead of being refused); else none.
    func logAppendTicket() -> UInt64 {
        guard let flusher else { return 0 }
        if settings.fsync == .always { return flusher.ticket() }
        guard logs.memory.pressing else { return 0 }
        logs.memory.memoryWaits.wrappingAdd(1, ordering: .relaxed)
        return flusher.ticket()
    }

    public enum LogAppendOutcome: Equatable, Sendable {
        case appended(partition: Int, offset: UInt64)
        case badPartition
        case outOfMemory
        /// With a data directory the files cannot be written now: nothing kept.
        case notWritable
    }

    /// Appends one record to `topic` (partition given, or chosen from the key / round-robin);
    /// returns the flusher ticket to wait for with `--fsync=always` (0 otherwise).
    public func appendLog(_ topic: LogTopic, partition: Int?, key: UnsafeRawBufferPointer?, valueLength: Int, flags: UInt32,
                          writeValue: (UnsafeMutableRawPointer) -> Void) -> (LogAppendOutcome, UInt64) {
        let p = partition ?? topic.partition(forKey: key)
        guard p >= 0 && p < topic.partitions.count else { return (.badPartition, 0) }
        if let flusher, flusher.isFailing {
            journalRefusedCount.wrappingAdd(1, ordering: .relaxed)
            return (.notWritable, 0)
        }
        // No lock held: a missing chunk may have a page moved to its class (LogPartition.appendFramed).
        switch topic.partitions[p].append(key: key, valueLength: valueLength, flags: flags, nowMs: clockMs(), noChunk: .makeRoom,
                                          writeValue: writeValue) {
        case .appended(let offset):
            logs.appendedToStreamTopic(topic)
            return (.appended(partition: p, offset: offset), logAppendTicket())
        case .outOfMemory, .noChunk:
            return (.outOfMemory, 0)
        }
    }
}
