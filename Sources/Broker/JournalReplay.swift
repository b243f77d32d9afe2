// Replaying a queue's journal (records in QueueJournal.swift) into the messages it leaves live.
// Replay changes no file: it reads the journal and reports what it found, damage included, so
// that recovery can refuse to start before anything on disk is touched.
//
// Damaged records are skipped (`RecordReader` resynchronises on the next valid one). What that
// costs depends on the record: a lost add loses that message (its bytes are kept in a copy); a
// lost confirm, remove or flush brings messages back, and a lost open or abort changes only a
// redelivery count. Replay errs towards delivering again, never towards dropping.
//
// A body is never dropped for want of room: past the memory share, or when the slabs have no
// chunk for it (a smaller -m than the journal was written with), it goes to the spill file, as
// read-behind does while running. A body larger than the current -I cannot be held at all (a
// spilled body is read back into an item to be delivered), so it is counted for recovery to
// refuse the start, naming the -I it needs.
import CacheEngine
import Durability
#if canImport(Glibc)
import Glibc
#endif

/// What replaying a journal found.
struct ReplayResult {
    /// Live messages in id order, each holding one item reference (or its place in the spill
    /// file); `redeliveries` already counts reads that were open at the end of the journal.
    var messages: [Message] = []
    var nextID: UInt64 = 1
    /// Where the last valid record ends; a torn or unreadable tail starts here.
    var validBytes = 0
    var records = 0
    /// The journal's size when it was read.
    var size = 0
    /// Stretches that could not be read and were skipped.
    var damaged: [DamagedRegion] = []
    /// Where a torn tail (a last record cut short) starts.
    var tornTail: Int?
    /// Bytes after the last valid record (torn or damaged), cut before the journal is appended to.
    var hasUnreadTail = false
    /// The journal could not be read (errno); replay stopped there.
    var readError: Int32?
    /// Add records whose body is larger than the current -I allows, and the largest item size
    /// one of them needs.
    var tooLarge = 0
    var largestItemNeeded = 0
    /// Add records whose body found neither memory nor a place in the spill file.
    var unplaced = 0

    /// Gives back what the messages hold (recovery refused to go on).
    func release(engine: CacheEngine, share: MemoryShare?, spill: SpillFile?) {
        for m in messages {
            if m.isSpilled {
                spill?.release()
            } else {
                share?.release(m.memoryBytes)
                engine.release(m.item)
            }
        }
    }
}

enum JournalReplay {
    /// Replays `path`; bodies go to slab items through `engine` while `share` has room and the
    /// slabs have a chunk, then to `spill` (when given).
    static func replay(path: String, engine: CacheEngine, share: MemoryShare? = nil, spill: SpillFile? = nil,
                       window: Int = RecordReader.defaultWindow) -> ReplayResult {
        var result = ReplayResult()
        guard let file = RecordReader(path: path, window: window, shape: QueueJournal.recordShape) else {
            return result
        }
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
        // Record by record through a window of the file, so memory does not grow with it. The
        // reader's shape check has vouched for the op and, for an add, its length.
        while let payload = file.next() {
            file.accept()
            result.records += 1
            guard let op = JournalOp(rawValue: payload[0]) else { continue }
            var r = Reader(payload, at: 1)
            let id: UInt64 = r.read()
            result.nextID = max(result.nextID, id &+ 1)
            switch op {
            case .add:
                switch decodeAdd(id: id, &r, engine: engine, payload: payload, share: share, spill: spill) {
                case .message(let m):
                    // An id added twice (a giveBack's re-add) replaces the first.
                    if let old = live.updateValue(m, forKey: id) { drop(old) }
                case .tooLarge(let needed):
                    result.tooLarge += 1
                    result.largestItemNeeded = max(result.largestItemNeeded, needed)
                case .unplaced:
                    result.unplaced += 1
                }
            case .open:
                opened.insert(id)
            case .confirm, .remove:
                release(id)
            case .abort:
                if opened.remove(id) != nil { live[id]?.redeliveries.incrementSaturating() }
            case .flush:
                // Ready messages go; open reads stay.
                for (id, m) in live where !opened.contains(id) {
                    drop(m)
                    live[id] = nil
                }
            }
        }
        result.size = file.size
        result.validBytes = file.acceptedBytes
        result.damaged = file.damaged
        result.tornTail = file.tornTail
        result.hasUnreadTail = file.hasDamagedTail
        result.readError = file.readError
        for id in opened { live[id]?.redeliveries.incrementSaturating() }
        result.messages = live.values.sorted { $0.id < $1.id }
        return result
    }

    enum Decoded {
        case message(Message)
        /// The body needs items of this size, more than -I allows.
        case tooLarge(Int)
        /// Neither memory nor the spill file could take the body.
        case unplaced
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
        let body = UnsafeRawBufferPointer(rebasing: payload[r.pos..<(r.pos + length)])
        let death = DeathReason(rawValue: reason) ?? .none
        let size = ItemLayout.totalSize(keyLength: 0, valueLength: length)
        // Checked before the spill file is tried: a body that no item can hold could be spilled
        // but never delivered. The -I it needs is the engine's rule for any item.
        let needed = engine.itemSizeNeeded(keyLength: 0, valueLength: length, flags: flags)
        if needed > engine.settings.itemSizeMax { return .tooLarge(needed) }
        func spilled() -> Decoded {
            guard let spill, let offset = spill.store(body) else { return .unplaced }
            return .message(Message(id: id, spilledAt: offset, length: length, flags: flags, expiresMs: expiresMs,
                                    enqueuedMs: enqueuedMs, priority: priority, redeliveries: redeliveries,
                                    deaths: deaths, deathReason: death))
        }
        if let share, !share.reserve(size) { return spilled() }
        let empty = UnsafeRawBufferPointer(start: payload.baseAddress!, count: 0)
        switch engine.allocate(key: empty, flags: flags, expiry: 0, valueLength: length) {
        case .item(let item):
            engine.writeValue(item, at: 0, body)
            return .message(Message(id: id, item: item, expiresMs: expiresMs, enqueuedMs: enqueuedMs, priority: priority,
                                    redeliveries: redeliveries, deaths: deaths, deathReason: death))
        case .outOfMemory:
            // The share had room but the slabs have no chunk of this size (a smaller -m, or the
            // pages went to other classes): the body waits on disk like any past the share.
            share?.release(size)
            return spilled()
        case .tooLarge:
            share?.release(size)
            return .tooLarge(needed)
        }
    }

    /// Little-endian fields of a payload; `ok` turns false (and reads give 0) past its end.
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
}
