// A queue's append-only journal: one record per state change (add, open, confirm, abort,
// remove, flush), each framed as [payload length u32][CRC-32C u32][payload], little-endian.
// Appends go to an in-memory buffer under the journal's mutex (taken inside the queue lock);
// the flusher thread swaps the buffer out, writes it and fsyncs per policy (group commit).
// Recovery replays the records, drops a torn or corrupt tail, and rewrites the journal as a
// snapshot of what is live, which is also how a mostly consumed journal is compacted.
import CacheEngine
import Platform
#if canImport(Glibc)
import Glibc
#endif

enum JournalOp: UInt8 {
    case add = 1, open = 2, confirm = 3, abort = 4, remove = 5, flush = 6
}

/// Growable bytes, reused across flushes so appending allocates nothing in the steady state.
struct ByteBuffer {
    private(set) var base: UnsafeMutableRawPointer?
    private(set) var count = 0
    private var capacity = 0

    mutating func reserve(_ n: Int) {
        if count + n <= capacity { return }
        var c = max(4096, capacity * 2)
        while c < count + n { c *= 2 }
        let grown = UnsafeMutableRawPointer.allocate(byteCount: c, alignment: 8)
        if let base { grown.copyMemory(from: base, byteCount: count); base.deallocate() }
        base = grown
        capacity = c
    }

    mutating func append<T: FixedWidthInteger>(_ v: T) {
        reserve(MemoryLayout<T>.size)
        base!.storeBytes(of: v.littleEndian, toByteOffset: count, as: T.self)
        count += MemoryLayout<T>.size
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        reserve(bytes.count)
        (base! + count).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        count += bytes.count
    }

    /// Counts `n` bytes written straight into the reserved space.
    mutating func advance(_ n: Int) { count += n }

    mutating func patch(_ v: UInt32, at offset: Int) {
        base!.storeBytes(of: v.littleEndian, toByteOffset: offset, as: UInt32.self)
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    mutating func removeAll() { count = 0 }

    mutating func deallocate() {
        base?.deallocate()
        base = nil
        count = 0
        capacity = 0
    }
}

public final class Journal: @unchecked Sendable {
    // Safe to share: `pending`, `closed` and `owner` are guarded by `lock`; `fd`, `spare` and
    // `sizeOnDisk` are touched only by the flusher thread (and by the owner before the flusher
    // knows the journal).
    let path: String
    let lock = PlainMutex()
    private var pending = ByteBuffer()
    private var spare = ByteBuffer()
    private var fd: Int32
    private var closed = false
    /// Bytes in the file; the flusher compares it with what is live to decide on compaction.
    private(set) var sizeOnDisk: Int
    /// The queue this journal records, for compaction. A strong reference (a weak one would give
    /// every queue a side table and slow down each retain on the request path); the cycle is
    /// broken when the queue is deleted.
    private var owner: BrokerQueue?

    var queue: BrokerQueue? {
        get { lock.withLock { owner } }
        set { lock.withLock { owner = newValue } }
    }

    init?(path: String) {
        self.path = path
        fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        if fd < 0 { return nil }
        var st = stat()
        fstat(fd, &st)
        sizeOnDisk = Int(st.st_size)
    }

    deinit {
        pending.deallocate()
        spare.deallocate()
        if fd >= 0 { Glibc.close(fd) }
    }

    // MARK: appending (queue lock held)

    func append(_ op: JournalOp, id: UInt64) {
        lock.withLock {
            let start = beginRecord()
            pending.append(op.rawValue)
            pending.append(id)
            endRecord(start)
        }
    }

    func appendAdd(_ m: Message, engine: CacheEngine) {
        lock.withLock {
            let start = beginRecord()
            Self.encodeAdd(m, engine: engine, into: &pending)
            endRecord(start)
        }
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

    private func beginRecord() -> Int {
        let start = pending.count
        pending.append(UInt32(0))
        pending.append(UInt32(0))
        return start
    }

    private func endRecord(_ start: Int) {
        Self.sealRecord(&pending, start: start)
    }

    static func sealRecord(_ b: inout ByteBuffer, start: Int) {
        let payload = UnsafeRawBufferPointer(rebasing: b.bytes[(start + 8)...])
        b.patch(UInt32(payload.count), at: start)
        b.patch(CRC32C.checksum(payload), at: start + 4)
    }

    // MARK: flusher thread

    /// Writes what was appended since the last call; fsyncs when `sync`. False on an I/O error.
    @discardableResult
    func flush(sync: Bool) -> Bool {
        let isClosed = lock.withLock { () -> Bool in
            if !closed { swap(&pending, &spare) }
            return closed
        }
        if isClosed { return true }
        defer { spare.removeAll() }
        if spare.count > 0 {
            guard writeAll(fd, spare.bytes) else {
                // Cut what got half written and keep the records for the next cycle, ahead of
                // anything appended since.
                _ = ftruncate(fd, off_t(sizeOnDisk))
                restorePending(spare)
                return false
            }
            sizeOnDisk += spare.count
            unsynced = true
        }
        if sync && unsynced {
            guard fdatasync(fd) == 0 else { return false }
            unsynced = false
        }
        return true
    }

    /// Written but not yet fsynced (an fsync failed, or the policy is never).
    private var unsynced = false

    /// Takes the buffered records out; called under the queue lock with a snapshot that holds
    /// their effect. They come back with `restorePending` if the snapshot cannot be written.
    func discardPending() -> ByteBuffer {
        lock.withLock {
            var taken = ByteBuffer()
            swap(&taken, &pending)
            return taken
        }
    }

    /// Puts records back in front of whatever was appended since they were taken.
    func restorePending(_ earlier: ByteBuffer) {
        guard earlier.count > 0 else { return }
        lock.withLock {
            var merged = ByteBuffer()
            merged.append(earlier.bytes)
            merged.append(pending.bytes)
            pending.deallocate()
            pending = merged
        }
    }

    /// Replaces the file with a snapshot (a complete journal of what is live) that `write` puts
    /// into a temporary file (returning the bytes written, nil on failure); fsynced and renamed
    /// over the journal. Flusher thread (or start-up) only.
    func replace(_ write: (Int32) -> Int?) -> Bool {
        let temp = path + ".compact"
        let tfd = Glibc.open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard tfd >= 0 else { return false }
        guard let size = write(tfd), fdatasync(tfd) == 0 else {
            Glibc.close(tfd)
            unlink(temp)
            return false
        }
        Glibc.close(tfd)
        // Renamed under the lock: a queue deleted meanwhile must not come back from its snapshot.
        let swapped = lock.withLock { () -> Bool in
            guard !closed, rename(temp, path) == 0 else { return false }
            let nfd = Glibc.open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
            guard nfd >= 0 else { return false }
            Glibc.close(fd)
            fd = nfd
            return true
        }
        guard swapped else {
            unlink(temp)
            return false
        }
        syncDirectory(of: path)
        sizeOnDisk = size
        unsynced = false
        return true
    }

    /// Tests: make every later write of this journal fail as on a full disk.
    func failWritesForTesting() {
        lock.withLock {
            let full = Glibc.open("/dev/full", O_WRONLY | O_CLOEXEC)
            if full >= 0 {
                dup2(full, fd)
                Glibc.close(full)
            }
        }
    }

    /// The queue was deleted: stop writing and remove the file.
    func closeAndRemove() {
        lock.withLock {
            closed = true
            pending.removeAll()
            owner = nil
        }
        unlink(path)
    }
}

/// What replaying a journal found.
struct ReplayResult {
    /// Live messages in id order, each holding one item reference; `redeliveries` already counts
    /// reads that were open at the end of the journal.
    var messages: [Message] = []
    var nextID: UInt64 = 1
    /// Bytes of valid records; a torn or corrupt tail starts here.
    var validBytes = 0
    var records = 0
    var tornTail = false
    /// Add records whose body found no memory.
    var lost = 0
}

enum JournalReplay {
    /// Replays `path`; bodies go to slab items through `engine` while `share` has room, then to
    /// `spill` (when given).
    static func replay(path: String, engine: CacheEngine, share: MemoryShare? = nil, spill: SpillFile? = nil) -> ReplayResult {
        var result = ReplayResult()
        guard let file = RecordReader(path: path) else { return result }
        var live: [UInt64: Message] = [:]
        var opened = Set<UInt64>()
        func drop(_ m: Message) {
            if m.isSpilled {
                spill?.release()
            } else {
                share?.release(m.memoryBytes)
                engine.release(m.item)
            }
        }
        func release(_ id: UInt64) {
            if let m = live.removeValue(forKey: id) { drop(m) }
            opened.remove(id)
        }
        // Record by record through a window of the file, so memory does not grow with it.
        while let (payload, crc) = file.next() {
            guard CRC32C.checksum(payload) == crc, let op = JournalOp(rawValue: payload[0]) else { break }
            var r = Reader(payload, at: 1)
            let id: UInt64 = r.read()
            result.nextID = max(result.nextID, id &+ 1)
            switch op {
            case .add:
                switch decodeAdd(id: id, &r, engine: engine, payload: payload, share: share, spill: spill) {
                case .message(let m): live[id] = m
                case .noMemory: result.lost += 1
                case .corrupt: r.ok = false
                }
            case .open:
                opened.insert(id)
            case .confirm, .remove:
                release(id)
            case .abort:
                if opened.remove(id) != nil { live[id]?.redeliveries += 1 }
            case .flush:
                // Ready messages go; open reads stay.
                for (id, m) in live where !opened.contains(id) {
                    drop(m)
                    live[id] = nil
                }
            }
            guard r.ok else { break }
            file.accept()
            result.records += 1
        }
        result.validBytes = file.acceptedBytes
        result.tornTail = file.acceptedBytes < file.size
        for id in opened { live[id]?.redeliveries += 1 }
        result.messages = live.values.sorted { $0.id < $1.id }
        return result
    }

    /// Reads `[length][crc][payload]` records through a window that grows only to the largest
    /// record. `next` gives the record at the read position (nil at the end or a torn tail);
    /// `accept` moves past it.
    final class RecordReader {
        private let fd: Int32
        let size: Int
        private var buffer: UnsafeMutableRawBufferPointer
        private var filled = 0
        private var head = 0
        private var bufferOffset = 0
        private var pendingLength = 0
        private(set) var acceptedBytes = 0

        init?(path: String) {
            fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return nil }
            var st = stat()
            fstat(fd, &st)
            size = Int(st.st_size)
            buffer = .allocate(byteCount: 4 << 20, alignment: 8)
        }

        deinit {
            buffer.deallocate()
            Glibc.close(fd)
        }

        func next() -> (UnsafeRawBufferPointer, UInt32)? {
            guard ensure(8) else { return nil }
            let base = UnsafeRawBufferPointer(buffer)
            let length = Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: head, as: UInt32.self)))
            let crc = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: head + 4, as: UInt32.self))
            // A length past the end of the file is a torn record, not a reason to allocate it.
            guard length >= 9, bufferOffset + head + 8 + length <= size, ensure(8 + length) else { return nil }
            pendingLength = 8 + length
            return (UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[(head + 8)..<(head + 8 + length)]), crc)
        }

        func accept() {
            head += pendingLength
            acceptedBytes = bufferOffset + head
            pendingLength = 0
        }

        /// At least `n` bytes from `head` in the buffer, reading (and sliding or growing) as needed.
        private func ensure(_ n: Int) -> Bool {
            if filled - head >= n { return true }
            if head > 0 {
                memmove(buffer.baseAddress!, buffer.baseAddress! + head, filled - head)
                filled -= head
                bufferOffset += head
                head = 0
            }
            if n > buffer.count {
                let grown = UnsafeMutableRawBufferPointer.allocate(byteCount: max(n, buffer.count * 2), alignment: 8)
                grown.baseAddress!.copyMemory(from: buffer.baseAddress!, byteCount: filled)
                buffer.deallocate()
                buffer = grown
            }
            while filled < n {
                let got = read(fd, buffer.baseAddress! + filled, buffer.count - filled)
                if got < 0 && errno == EINTR { continue }
                if got <= 0 { return false }
                filled += got
            }
            return true
        }
    }

    enum Decoded {
        case message(Message), noMemory, corrupt
    }

    private static func decodeAdd(id: UInt64, _ r: inout Reader, engine: CacheEngine,
                                  payload: UnsafeRawBufferPointer, share: MemoryShare?, spill: SpillFile?) -> Decoded {
        let priority: UInt8 = r.read()
        let flags: UInt32 = r.read()
        let expiresMs: UInt64 = r.read()
        let enqueuedMs: UInt64 = r.read()
        let redeliveries: UInt32 = r.read()
        let deaths: UInt32 = r.read()
        let reason: UInt8 = r.read()
        let length = Int(r.read() as UInt32)
        guard r.ok, r.pos + length == payload.count else { return .corrupt }
        let body = UnsafeRawBufferPointer(rebasing: payload[r.pos..<(r.pos + length)])
        let death = DeathReason(rawValue: reason) ?? .none
        let size = ItemLayout.totalSize(keyLength: 0, valueLength: length)
        if let share, !share.reserve(size) {
            guard let spill, let offset = spill.store(body) else { return .noMemory }
            return .message(Message(id: id, spilledAt: offset, length: length, flags: flags, expiresMs: expiresMs,
                                    enqueuedMs: enqueuedMs, priority: priority, redeliveries: redeliveries,
                                    deaths: deaths, deathReason: death))
        }
        let empty = UnsafeRawBufferPointer(start: payload.baseAddress!, count: 0)
        guard case .item(let item) = engine.allocate(key: empty, flags: flags, expiry: 0, valueLength: length) else {
            share?.release(size)
            return .noMemory
        }
        engine.writeValue(item, at: 0, body)
        return .message(Message(id: id, item: item, expiresMs: expiresMs, enqueuedMs: enqueuedMs, priority: priority,
                                redeliveries: redeliveries, deaths: deaths, deathReason: death))
    }

    struct Reader {
        let bytes: UnsafeRawBufferPointer
        var pos: Int
        var ok = true
        init(_ bytes: UnsafeRawBufferPointer, at pos: Int) {
            self.bytes = bytes
            self.pos = pos
        }
        mutating func read<T: FixedWidthInteger>() -> T {
            guard ok, pos + MemoryLayout<T>.size <= bytes.count else { ok = false; return 0 }
            defer { pos += MemoryLayout<T>.size }
            return T(littleEndian: bytes.loadUnaligned(fromByteOffset: pos, as: T.self))
        }
    }

    static func readFile(_ path: String) -> UnsafeMutableRawBufferPointer? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        let size = Int(st.st_size)
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: 8)
        var done = 0
        while done < size {
            let n = read(fd, buf.baseAddress! + done, size - done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            done += n
        }
        return UnsafeMutableRawBufferPointer(rebasing: buf[0..<done])
    }
}

func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
    var done = 0
    while done < bytes.count {
        let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return false }
        done += n
    }
    return true
}

/// fsync of the directory, so a rename survives a crash.
func syncDirectory(of path: String) {
    var dir = path
    if let slash = dir.lastIndex(of: "/") { dir = String(dir[..<slash]) } else { dir = "." }
    if dir.isEmpty { dir = "/" }
    let dfd = Glibc.open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if dfd >= 0 {
        fsync(dfd)
        Glibc.close(dfd)
    }
}

/// CRC-32C (Castagnoli), the checksum Kafka's record batches use; slicing-by-8 tables.
enum CRC32C {
    /// Eight 256-entry tables, flat.
    static let table: [UInt32] = {
        var t = Array(repeating: UInt32(0), count: 8 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            t[i] = c
        }
        for k in 1..<8 {
            for i in 0..<256 { t[k * 256 + i] = (t[(k - 1) * 256 + i] >> 8) ^ t[Int(t[(k - 1) * 256 + i] & 0xff)] }
        }
        return t
    }()

    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var c: UInt32 = 0xffff_ffff
        var i = 0
        let n = bytes.count
        table.withUnsafeBufferPointer { t in
            @inline(__always) func at(_ k: Int, _ b: UInt32) -> UInt32 { t[k &* 256 &+ Int(b & 0xff)] }
            while i + 8 <= n {
                let lo = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt32.self)) ^ c
                let hi = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self))
                c = at(7, lo) ^ at(6, lo >> 8) ^ at(5, lo >> 16) ^ at(4, lo >> 24)
                    ^ at(3, hi) ^ at(2, hi >> 8) ^ at(1, hi >> 16) ^ at(0, hi >> 24)
                i += 8
            }
            while i < n {
                c = at(0, c ^ UInt32(bytes[i])) ^ (c >> 8)
                i += 1
            }
        }
        return ~c
    }
}
