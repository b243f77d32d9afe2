// Topic deletion (`delete <topic>` on the broker port, as a queue is deleted): the topic leaves
// the table under the registry and log registry locks (so a queue may take its name at once), the
// group commit forgets it, every partition gives its segments' memory back under its own lock and
// keeps one empty memory segment (a request that looked the topic up just before appends there
// and is dropped with it), the files are removed after the locks, and the offsets log records the
// deletion so a topic declared again under the name starts without the old commits. Readers
// parked on it are woken and find it deleted (`LogTopic.isDeleted`): they answer at once as a
// read of a missing topic.
import Durability
import Platform
#if canImport(Glibc)
import Glibc
#endif

/// What `delete <topic>` did.
public enum LogDeletion: Sendable, Equatable {
    case deleted
    case notFound
    /// A Redis stream reads the topic: DEL of its key on the Redis port deletes it.
    case readByStream
}

extension Broker {
    /// Deletes the topic called `name`, unless a Redis stream reads it.
    public func deleteLog(_ name: String) -> LogDeletion {
        var refused = false
        let removed: LogTopic? = registry.withLock {
            logs.lock.withLock {
                if logs.topics[name]?.readByStream.load(ordering: .relaxed) == true {
                    refused = true
                    return nil
                }
                return logs.topics.removeValue(forKey: name)
            }
        }
        if refused { return .readByStream }
        guard let t = removed else { return .notFound }
        // Before any wake-up: a reader parking from here on sees it once its waiter is added
        // (the partition lock orders the two).
        t.deleted.store(true, ordering: .releasing)
        // Connections' cached lookups of the name are stale from here.
        logs.generation.wrappingAdd(1, ordering: .relaxed)
        flusher?.unregister(t)
        var gone: [LogSegment] = []
        for p in t.partitions { gone += p.retire(nowMs: clockMs()) }
        // A compaction writing files now finishes (it finds its segment deleted before the next
        // change) before any file is removed; a later one changes none.
        for p in t.partitions { p.compactionLock.withLock {} }
        for s in gone { s.removeFiles(descriptors: logs.descriptors) }
        logs.offsetsLog?.topicDeleted(name)
        if let dir = t.directory { Self.removeTopicDirectory(dir, partitions: t.partitions.count) }
        t.wakeReaders()
        logs.memory.topicsDeleted.wrappingAdd(1, ordering: .relaxed)
        return .deleted
    }

    /// `<dir>/<p>/*`, the partition directories, `<dir>/*`, then `<dir>`.
    static func removeTopicDirectory(_ dir: String, partitions: Int) {
        for p in 0..<partitions { removeFlat(dir + "/\(p)") }
        removeFlat(dir)
        FileIO.syncDirectory(of: dir)
    }

    /// Removes the files of `dir` (no subdirectories left by then) and `dir` itself.
    private static func removeFlat(_ dir: String) {
        guard let d = opendir(dir) else { return }
        var names: [String] = []
        while let e = readdir(d) {
            let file = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if file != "." && file != ".." { names.append(file) }
        }
        closedir(d)
        for n in names { unlink(dir + "/" + n) }
        rmdir(dir)
    }
}

extension LogPartition {
    /// A deleted topic's partition: every segment leaves (memory given back, marked deleted so a
    /// flush in progress skips it), one empty memory-only segment stays. Returns the segments,
    /// whose files the caller removes.
    func retire(nowMs: UInt64) -> [LogSegment] {
        lock.withLock {
            let old = segments
            for s in old { lockedForget(s) }
            segments = [LogSegment(baseOffset: lockedEndOffset, createdMs: nowMs, directory: nil, descriptors: nil, chunks: memory.chunks)]
            return old
        }
    }
}
