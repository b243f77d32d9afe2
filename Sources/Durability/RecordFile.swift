// A record file: an append-only file of records, each framed as
//   [payload length: u32 LE][CRC-32C of the payload: u32 LE][payload]
// and nothing else (no file header), so that a file is valid up to any record boundary. The
// owner decides what a payload means; this file knows only bytes.
//
// Appending: records are framed into an in-memory buffer under the file's own mutex (the owner
// may hold its own locks around it); the group-commit thread swaps the buffer out and writes and
// fsyncs it (`flush`), in pieces of whole records. A failed piece is cut off again and its records
// (and the later ones) kept for the next try, so the file never holds half a record, and a disk
// with a little room takes the pieces that fit. The descriptor comes from a `DescriptorCache`
// shared with the owner's other files, opened only while the file is used. Compaction writes a complete new file beside the old one and
// renames it over (`replace`), taking the buffered records it supersedes with it.
//
// Replay is `RecordReader` (RecordReader.swift): it skips damaged records and resynchronises on
// the next valid one; the owner then cuts a torn or unreadable tail with `cut(to:)`.
import Platform
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// An append-only file of `[length][CRC-32C][payload]` records with buffered appends.
public final class RecordFile: @unchecked Sendable {
    // Safe to share: `pending`, `closed` and `freeSpaceForTesting` are guarded by `lock`; the
    // descriptor is the cache's (opened on demand, guarded by its lock, used only while pinned);
    // `spare`, `sizeOnDisk` and `unsynced` are touched only by the flushing thread (or by the
    // owner before any flusher knows the file); `failing` is atomic.
    /// Where the file is.
    public let path: String
    private let lock = PlainMutex()
    private var pending = ByteBuffer()
    private var spare = ByteBuffer()
    private let descriptors: DescriptorCache
    private let slot: DescriptorCache.Slot
    private var closed = false
    /// Written but not yet fsynced (an fsync failed, or the policy never syncs).
    private var unsynced = false
    /// The last flush failed to open, write or fsync the file (cleared by one that succeeds).
    private let failing = Atomic<Bool>(false)
    /// Tests: the bytes a write may still add before it fails as on a full disk (nil: no limit).
    private var freeSpaceForTesting: Int?
    /// Bytes in the file. Flushing thread only (owners read it there to decide on compaction).
    public private(set) var sizeOnDisk: Int

    /// A flush writes at most this much per write(2), at record boundaries, so that a disk with
    /// a little room left takes what fits and the rest follows as room is freed.
    public static let writePieceBytes = 64 << 10

    /// Opens (creating if needed) `path` for appending, its descriptor held in `descriptors`
    /// (opened again whenever it is needed and was closed to make room for another file; a cache
    /// of its own when nil); nil when it cannot be opened now.
    public init?(path: String, descriptors: DescriptorCache? = nil) {
        self.path = path
        self.descriptors = descriptors ?? DescriptorCache(capacity: 1)
        slot = self.descriptors.slot(path: path, flags: O_WRONLY | O_CREAT | O_APPEND)
        guard let (fd, _) = self.descriptors.pin(slot) else { return nil }
        var st = stat()
        fstat(fd, &st)
        sizeOnDisk = Int(st.st_size)
        self.descriptors.unpin(slot, dirty: false)
    }

    deinit {
        pending.deallocate()
        spare.deallocate()
        descriptors.close(slot, forGood: true)
    }

    /// True while the file cannot be written: its last flush failed to open, write or fsync it.
    /// Owners refuse new records meanwhile rather than acknowledge what may never be written.
    public var isFailing: Bool { failing.load(ordering: .relaxed) }

    // MARK: appending (any thread)

    /// Frames one record whose payload `encode` appends, into the buffer the next flush writes.
    /// Nothing is allocated once the buffer has grown to the usual flush size.
    public func append(_ encode: (inout ByteBuffer) -> Void) {
        lock.withLock { Self.frame(into: &pending, encode) }
    }

    /// Appends to `b` one framed record whose payload `encode` appends (header, payload, then
    /// the length and CRC filled in). For snapshots built outside the file.
    public static func frame(into b: inout ByteBuffer, _ encode: (inout ByteBuffer) -> Void) {
        let start = b.count
        b.append(UInt32(0))
        b.append(UInt32(0))
        encode(&b)
        let payload = UnsafeRawBufferPointer(rebasing: b.bytes[(start + 8)...])
        b.patch(UInt32(payload.count), at: start)
        b.patch(CRC32C.checksum(payload), at: start + 4)
    }

    /// Takes the buffered records out, for a snapshot that holds their effect (the owner calls
    /// it under the lock that orders its appends). They go back with `restorePending` (which
    /// copies them) if the snapshot cannot be written; the caller deallocates them either way.
    public func takePending() -> ByteBuffer {
        lock.withLock {
            var taken = ByteBuffer()
            swap(&taken, &pending)
            return taken
        }
    }

    /// Puts records back in front of whatever was appended since they were taken (nothing
    /// once the file is closed).
    public func restorePending(_ earlier: ByteBuffer) { restorePending(earlier.bytes) }

    private func restorePending(_ earlier: UnsafeRawBufferPointer) {
        guard earlier.count > 0 else { return }
        lock.withLock {
            guard !closed else { return }
            var merged = ByteBuffer()
            merged.append(earlier)
            merged.append(pending.bytes)
            pending.deallocate()
            pending = merged
        }
    }

    // MARK: flushing thread

    /// Writes what was appended since the last call, in pieces of whole records, and
    /// fdatasyncs when `sync` (also retrying an earlier failed fsync). On an error the partial
    /// piece is truncated away and the records not written are kept, ahead of newer ones, for
    /// the next call: the pieces written stay, so a backlog larger than the room left on the
    /// disk goes out as room is freed.
    @discardableResult
    public func flush(sync: Bool) -> FlushResult {
        let isClosed = lock.withLock { () -> Bool in
            if !closed { swap(&pending, &spare) }
            return closed
        }
        if isClosed { return .idle }
        defer { spare.removeAll() }
        // An idle file needs no descriptor: most queues of a large broker are idle.
        guard spare.count > 0 || (sync && unsynced) else { return .idle }
        guard let (fd, dirty) = descriptors.pin(slot) else {
            restorePending(spare.bytes)
            return fail()
        }
        // An eviction may have synced it meanwhile.
        unsynced = unsynced && dirty
        var result = FlushResult.idle
        var offset = 0
        while offset < spare.count {
            let end = Self.pieceEnd(spare.bytes, from: offset)
            let piece = UnsafeRawBufferPointer(rebasing: spare.bytes[offset..<end])
            guard writePiece(fd, piece) else {
                _ = ftruncate(fd, off_t(sizeOnDisk))
                restorePending(UnsafeRawBufferPointer(rebasing: spare.bytes[offset...]))
                descriptors.unpin(slot, dirty: sync && unsynced)
                return fail()
            }
            sizeOnDisk += piece.count
            offset = end
            unsynced = true
            result = .wrote
        }
        if sync && unsynced {
            guard fdatasync(fd) == 0 else {
                descriptors.unpin(slot, dirty: true)
                return fail()
            }
            unsynced = false
        }
        // With a policy that never syncs, an evicted descriptor is not synced either.
        descriptors.unpin(slot, dirty: sync && unsynced)
        failing.store(false, ordering: .relaxed)
        return result
    }

    private func fail() -> FlushResult {
        failing.store(true, ordering: .relaxed)
        return .failed
    }

    /// The end of the piece starting at `from`: whole records up to `writePieceBytes` (one
    /// record at least, however long).
    static func pieceEnd(_ b: UnsafeRawBufferPointer, from: Int) -> Int {
        var pos = from
        while pos + 8 <= b.count {
            let length = Int(UInt32(littleEndian: b.loadUnaligned(fromByteOffset: pos, as: UInt32.self)))
            let next = pos + 8 + length
            if next - from > writePieceBytes && pos > from { break }
            pos = next
        }
        return min(max(pos, from + 1), b.count)
    }

    /// One write of a piece, failing as on a full disk past the room tests leave.
    private func writePiece(_ fd: Int32, _ piece: UnsafeRawBufferPointer) -> Bool {
        let room = lock.withLock { () -> Int? in
            guard let left = freeSpaceForTesting else { return nil }
            if piece.count <= left { freeSpaceForTesting = left - piece.count }
            return left
        }
        if let room, piece.count > room {
            errno = ENOSPC
            return false
        }
        return FileIO.writeAll(fd, piece)
    }

    /// Replaces the file atomically with a complete new one that `write` puts into
    /// `path + ".compact"` (returning the bytes written, nil on failure): fdatasync, rename
    /// (under the lock, and not once the file is closed, so that a removed file cannot come
    /// back), reopen, directory fsync. False, with the old file in place, on any failure.
    /// Flushing thread (or the owner before any flusher knows the file).
    public func replace(_ write: (Int32) -> Int?) -> Bool {
        let temp = path + ".compact"
        guard let size = FileIO.writeTemporary(temp, write) else { return false }
        let swapped = lock.withLock { () -> Bool in
            guard !closed, rename(temp, path) == 0 else { return false }
            // The descriptor still names the old file: the next use opens the new one.
            descriptors.close(slot)
            return true
        }
        guard swapped else {
            unlink(temp)
            return false
        }
        FileIO.syncDirectory(of: path)
        sizeOnDisk = size
        unsynced = false
        return true
    }

    /// Stops writing (buffered records are dropped) and removes the file.
    public func closeAndRemove() {
        lock.withLock {
            closed = true
            pending.removeAll()
        }
        descriptors.close(slot, forGood: true)
        unlink(path)
    }

    /// Tests: every later write of this file fails as on a full disk.
    public func failWritesForTesting() { setFreeSpaceForTesting(0) }

    /// Tests: later writes fail as on a full disk once `bytes` more have been written (nil: no
    /// limit). A piece that does not fit writes nothing, as a truncated partial write leaves it.
    public func setFreeSpaceForTesting(_ bytes: Int?) {
        lock.withLock { freeSpaceForTesting = bytes }
    }

    /// Cuts the file to its first `validBytes` (the tail after a `RecordReader`'s last record),
    /// so that appends continue from a record boundary. Through this file's descriptor, so that
    /// `sizeOnDisk` stays true: a failed write is undone by truncating to it, which must never
    /// extend the file with zeros. Owner before any flusher knows the file.
    @discardableResult
    public func cut(to validBytes: Int) -> Bool {
        guard let (fd, dirty) = descriptors.pin(slot) else { return false }
        defer { descriptors.unpin(slot, dirty: dirty) }
        guard ftruncate(fd, off_t(validBytes)) == 0 else { return false }
        sizeOnDisk = validBytes
        return true
    }
    /// Cuts `path` to its first `validBytes`, for a file no `RecordFile` has open.
    @discardableResult
    public static func truncate(path: String, to validBytes: Int) -> Bool {
        Glibc.truncate(path, off_t(validBytes)) == 0
    }
}
