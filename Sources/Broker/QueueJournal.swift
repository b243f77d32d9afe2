// A queue's journal: the queue-specific records on top of a Durability `RecordFile`. One record
// per state change (add, open, confirm, abort, remove, flush), appended under the queue lock;
// the group-commit thread writes and fsyncs them with every other journal. Recovery replays the
// records (open reads come back ready and marked redelivered) and rewrites the journal as a
// snapshot of what is live, which is also how a mostly consumed journal is compacted while the
// server runs: the journal is the group commit's member, and its `afterFlush` hook decides on
// compaction under the queue lock (the group commit knows nothing of queues).
//
// Payloads (little-endian): op u8, id u64; an add continues with priority u8, flags u32,
// expiresMs u64, enqueuedMs u64, redeliveries u32, deaths u32, death reason u8, length u32, body.
import CacheEngine
import Durability
import Platform
#if canImport(Glibc)
import Glibc
#endif

enum JournalOp: UInt8 {
    case add = 1, open = 2, confirm = 3, abort = 4, remove = 5, flush = 6
}

final class QueueJournal: Flushable, @unchecked Sendable {
    // Safe to share: `owner` is guarded by `ownerLock`; `file` guards its own buffer; the rest
    // is constant.
    let file: RecordFile
    /// A journal over this size whose live part is under a quarter of it is compacted.
    let compactMinBytes: Int
    private let ownerLock = PlainMutex()
    /// The queue this journal records, for compaction. A strong reference (a weak one would give
    /// every queue a side table and slow down each retain on the request path); the cycle is
    /// broken when the queue is deleted.
    private var owner: BrokerQueue?

    /// Shortest payload: op and id (every record but an add is exactly this).
    static let minimumPayload = 9
    /// An add's fields before its body; the body length is the last of them.
    static let addHeaderLength = 43
    static let addBodyLengthOffset = 39

    /// What replay may believe of a journal record: a known op, and a length that fits it (an
    /// add's body length field says how long the record is; every other op is 9 bytes). This is
    /// what keeps resynchronisation after damage off random bytes, and a damaged length field
    /// from being believed. The longest record holds the largest body any -I allows, not the
    /// current -I: a journal written with a larger one is refused at start-up, not skipped as damage.
    static let recordShape = RecordShape(minimumLength: minimumPayload,
                                         maximumLength: addHeaderLength + EngineSettings.largestItemSizeMax,
                                         prefixLength: addHeaderLength) { length, prefix in
        guard let op = JournalOp(rawValue: prefix[0]) else { return false }
        guard op == .add else { return length == minimumPayload }
        guard length >= addHeaderLength else { return false }
        let body = UInt32(littleEndian: prefix.loadUnaligned(fromByteOffset: addBodyLengthOffset, as: UInt32.self))
        return Int(body) == length - addHeaderLength
    }

    var queue: BrokerQueue? {
        get { ownerLock.withLock { owner } }
        set { ownerLock.withLock { owner = newValue } }
    }

    /// Nil when the file cannot be opened (or created) now.
    init?(path: String, compactMinBytes: Int, descriptors: DescriptorCache) {
        guard let file = RecordFile(path: path, descriptors: descriptors) else { return nil }
        self.file = file
        self.compactMinBytes = compactMinBytes
    }

    // MARK: appending (queue lock held)

    func append(_ op: JournalOp, id: UInt64) {
        file.append { b in
            b.append(op.rawValue)
            b.append(id)
        }
    }

    func appendAdd(_ m: Message, engine: CacheEngine) {
        file.append { Self.encodeAdd(m, engine: engine, into: &$0) }
    }

    /// An add record's payload; a spilled body is read back from `spill`.
    static func encodeAdd(_ m: Message, engine: CacheEngine, spill: SpillFile? = nil, into b: inout ByteBuffer) {
        b.append(JournalOp.add.rawValue)
        b.append(m.id)
        b.append(m.priority)
        b.append(m.flags)
        b.append(m.expiresMs)
        b.append(m.enqueuedMs)
        b.append(m.redeliveries)
        b.append(m.deaths)
        b.append(m.deathReason.rawValue)
        b.append(UInt32(m.length))
        if m.isSpilled {
            if let spill, spill.read(m.spillOffset, length: m.length, into: &b) { return }
            // The spill file failed us: keep the record well-formed (zeros) rather than torn.
            b.reserve(m.length)
            memset(b.base! + b.count, 0, m.length)
            b.advance(m.length)
            return
        }
        for i in 0..<engine.valueSegmentCount(m.item) {
            b.append(UnsafeRawBufferPointer(engine.valueSegment(m.item, i)))
        }
    }

    // MARK: group-commit thread

    func flush(sync: Bool) -> FlushResult { file.flush(sync: sync) }

    /// Compacts when the file is over `compactMinBytes` and what is live is under a quarter of it.
    func afterFlush() {
        let size = file.sizeOnDisk
        guard size > compactMinBytes, let q = queue else { return }
        let live = q.lock.withLock { q.readyBytes + q.open.values.reduce(0) { $0 + $1.message.bodyBytes } }
        guard live * 4 < size else { return }
        compact(q, engine: q.engine)
    }

    /// Rewrites the journal as a snapshot of what is live in `q`: an add per open read (with its
    /// open record) and per ready message, in order. The list is taken under the queue lock (one
    /// reference per body, no copies); the bodies are written after it is released, a megabyte
    /// at a time, so neither the lock nor memory grows with the backlog. The buffered records
    /// are superseded by the snapshot and come back if it cannot be written. Group-commit thread
    /// (or start-up).
    func compact(_ q: BrokerQueue, engine: CacheEngine) {
        var entries: [(message: Message, open: Bool)] = []
        var superseded = ByteBuffer()
        q.lock.withLock {
            entries.reserveCapacity(q.open.count + q.readyCount)
            for o in q.open.values.sorted(by: { $0.message.id < $1.message.id }) { entries.append((o.message, true)) }
            for level in q.levels.indices.reversed() {
                for i in 0..<q.levels[level].count { entries.append((q.levels[level][i], false)) }
            }
            for e in entries where !e.message.isSpilled { engine.retain(e.message.item) }
            superseded = file.takePending()
        }
        defer {
            for e in entries where !e.message.isSpilled { engine.release(e.message.item) }
            superseded.deallocate()
        }
        let written = file.replace { fd in
            var b = ByteBuffer()
            defer { b.deallocate() }
            var total = 0
            func spill() -> Bool {
                guard FileIO.writeAll(fd, b.bytes) else { return false }
                total += b.count
                b.removeAll()
                return true
            }
            for e in entries {
                // A spilled body consumed meanwhile may read back wrong or as zeros: the records
                // after the snapshot remove that message again on replay.
                RecordFile.frame(into: &b) { Self.encodeAdd(e.message, engine: engine, spill: q.spill, into: &$0) }
                if e.open {
                    RecordFile.frame(into: &b) {
                        $0.append(JournalOp.open.rawValue)
                        $0.append(e.message.id)
                    }
                }
                if b.count >= 1 << 20 && !spill() { return nil }
            }
            return spill() ? total : nil
        }
        if !written { file.restorePending(superseded) }
    }

    /// Tests: make every later write of this journal fail as on a full disk.
    func failWritesForTesting() { file.failWritesForTesting() }

    /// The queue was deleted: stop writing and remove the file.
    func closeAndRemove() {
        file.closeAndRemove()
        queue = nil
    }
}

