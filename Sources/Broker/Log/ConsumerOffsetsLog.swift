// The groups' committed offsets as an internal log, as Kafka's `__consumer_offsets`: every
// commit (a read that moved a group's committed offset, a `/close`, a seek) appends one record
// `<data>/__consumer_offsets.log`, and start-up replays the file with the latest record per
// (topic, group, partition) winning. The records are a `RecordFile`'s (`[len][CRC-32C][payload]`),
// written by the group-commit thread with the segments, so under `--fsync=always` a reply that
// waits for its flusher ticket is answered once its commit is on disk and survives kill -9.
// Kafka compacts the topic; here, once the file passes 16 MB and four times what is live, the
// flusher replaces it with one record per live key (the map this object keeps of them).
//
// Payload, little-endian: kind u8 (1 commit, 2 topic deleted), topic length u16, topic,
// group length u16, group, partition u32, offset u64 (kind 2: topic only).
import Durability
import Platform
#if canImport(Glibc)
import Glibc
#endif

public final class ConsumerOffsetsLog: Flushable, @unchecked Sendable {
    // Safe to share: `latest` is guarded by `lock`, which also orders appends to `file` (its
    // own lock is taken inside); `file` guards itself; the rest is constant.
    struct Key: Hashable {
        let topic: String
        let group: String
        let partition: Int
    }
    let file: RecordFile
    private let lock = PlainMutex()
    private var latest: [Key: UInt64] = [:]
    /// Records appended (stats: `log_offset_commits`).
    private(set) var commits: UInt64 = 0

    static let fileName = "__consumer_offsets.log"
    static let compactBytes = 16 << 20
    static let kindCommit: UInt8 = 1
    static let kindTopicDeleted: UInt8 = 2

    init?(directory: String, descriptors: DescriptorCache?) {
        guard let f = RecordFile(path: directory + "/" + Self.fileName, descriptors: descriptors) else { return nil }
        file = f
    }

    /// Appends a commit (any thread; the topic's lock may be held: no I/O here).
    func commit(topic: String, group: String, partition: Int, offset: UInt64) {
        lock.withLock {
            latest[Key(topic: topic, group: group, partition: partition)] = offset
            commits &+= 1
            file.append { Self.encode(&$0, Self.kindCommit, topic, group, partition, offset) }
        }
    }

    /// A topic deleted: its commits no longer apply (a topic made again under its name starts afresh).
    func topicDeleted(_ topic: String) {
        lock.withLock {
            latest = latest.filter { $0.key.topic != topic }
            file.append { Self.encode(&$0, Self.kindTopicDeleted, topic, "", 0, 0) }
        }
    }

    var commitCount: UInt64 { lock.withLock { commits } }

    private static func encode(_ b: inout ByteBuffer, _ kind: UInt8, _ topic: String, _ group: String, _ p: Int, _ o: UInt64) {
        b.append(kind)
        var t = topic, g = group
        t.withUTF8 { u in
            b.append(UInt16(u.count))
            b.append(UnsafeRawBufferPointer(u))
        }
        g.withUTF8 { u in
            b.append(UInt16(u.count))
            b.append(UnsafeRawBufferPointer(u))
        }
        b.append(UInt32(p))
        b.append(o)
    }

    /// One record's fields, or nil when it does not parse.
    static func decode(_ b: UnsafeRawBufferPointer) -> (kind: UInt8, topic: String, group: String, partition: Int, offset: UInt64)? {
        guard b.count >= 1 + 2 else { return nil }
        let kind = b[0]
        var at = 1
        func string() -> String? {
            guard at + 2 <= b.count else { return nil }
            let n = Int(UInt16(littleEndian: b.loadUnaligned(fromByteOffset: at, as: UInt16.self)))
            at += 2
            guard at + n <= b.count else { return nil }
            defer { at += n }
            return String(decoding: UnsafeRawBufferPointer(rebasing: b[at..<at + n]), as: UTF8.self)
        }
        guard let topic = string(), let group = string(), at + 12 == b.count else { return nil }
        let p = Int(UInt32(littleEndian: b.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
        let o = UInt64(littleEndian: b.loadUnaligned(fromByteOffset: at + 4, as: UInt64.self))
        return (kind, topic, group, p, o)
    }

    /// Start-up, before any flusher knows the file: every record in order (damaged ones are
    /// skipped, a torn tail is cut); `apply` gets the latest offset per key.
    func replay(_ apply: (_ topic: String, _ group: String, _ partition: Int, _ offset: UInt64) -> Void) -> (records: Int, cutBytes: Int) {
        guard let reader = RecordReader(path: file.path) else { return (0, 0) }
        var found: [Key: UInt64] = [:]
        var records = 0
        while let payload = reader.next() {
            if let r = Self.decode(payload) {
                records += 1
                if r.kind == Self.kindCommit {
                    found[Key(topic: r.topic, group: r.group, partition: r.partition)] = r.offset
                } else if r.kind == Self.kindTopicDeleted {
                    found = found.filter { $0.key.topic != r.topic }
                }
            }
            reader.accept()
        }
        var cut = 0
        if reader.hasDamagedTail, reader.tornTail != nil || reader.damaged.last.map({ $0.offset + $0.length == reader.size }) == true {
            cut = reader.size - reader.acceptedBytes
            file.cut(to: reader.acceptedBytes)
        }
        for (k, o) in found.sorted(by: { ($0.key.topic, $0.key.group, $0.key.partition) < ($1.key.topic, $1.key.group, $1.key.partition) }) {
            apply(k.topic, k.group, k.partition, o)
        }
        lock.withLock { latest = found }
        return (records, cut)
    }

    // MARK: group commit

    public func flush(sync: Bool) -> FlushResult { file.flush(sync: sync) }

    /// Compaction: past 16 MB and four times the live records, one record per live key.
    public func afterFlush() {
        let size = file.sizeOnDisk
        guard size > Self.compactBytes else { return }
        var snapshot = ByteBuffer()
        defer { snapshot.deallocate() }
        var taken = lock.withLock { () -> ByteBuffer in
            for (k, o) in latest {
                RecordFile.frame(into: &snapshot) { Self.encode(&$0, Self.kindCommit, k.topic, k.group, k.partition, o) }
            }
            // Superseded by the snapshot, which holds their effect.
            return file.takePending()
        }
        defer { taken.deallocate() }
        guard size > 4 * snapshot.count else {
            file.restorePending(taken)
            return
        }
        let ok = file.replace { fd in FileIO.writeAll(fd, snapshot.bytes) ? snapshot.count : nil }
        if !ok { file.restorePending(taken) }
    }
}
