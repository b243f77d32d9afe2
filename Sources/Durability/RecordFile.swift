// A record file: an append-only file of records, each framed as
//   [payload length: u32 LE][CRC-32C of the payload: u32 LE][payload]
// and nothing else (no file header), so that a file is valid up to any record boundary. The
// owner decides what a payload means; this file knows only bytes.
//
// Appending: records are framed into an in-memory buffer under the file's own mutex (the owner
// may hold its own locks around it); the group-commit thread swaps the buffer out and writes and
// fsyncs it (`flush`). A failed write is cut off again and its records kept for the next try, so
// the file never holds half a flush. Compaction writes a complete new file beside the old one and
// renames it over (`replace`), taking the buffered records it supersedes with it.
//
// Replay is `RecordReader` (RecordReader.swift): it skips damaged records and resynchronises on
// the next valid one; the owner then cuts a torn or unreadable tail with `cut(to:)`.
import Platform
#if canImport(Glibc)
import Glibc
#endif

/// An append-only file of `[length][CRC-32C][payload]` records with buffered appends.
public final class RecordFile: @unchecked Sendable {
    // Safe to share: `pending` and `closed` are guarded by `lock`, and so is replacing `fd`;
    // `fd` is otherwise used, and `spare`, `sizeOnDisk` and `unsynced` are touched, only by the
    // flushing thread (or by the owner before any flusher knows the file).
    /// Where the file is.
    public let path: String
    private let lock = PlainMutex()
    private var pending = ByteBuffer()
    private var spare = ByteBuffer()
    private var fd: Int32
    private var closed = false
    /// Written but not yet fsynced (an fsync failed, or the policy never syncs).
    private var unsynced = false
    /// Bytes in the file. Flushing thread only (owners read it there to decide on compaction).
    public private(set) var sizeOnDisk: Int

    /// Opens (creating if needed) `path` for appending; nil when it cannot be opened.
    public init?(path: String) {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        if fd < 0 { return nil }
        var st = stat()
        fstat(fd, &st)
        sizeOnDisk = Int(st.st_size)
    }

    deinit {
        pending.deallocate()
        spare.deallocate()
        if fd >= 0 { close(fd) }
    }

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
    public func restorePending(_ earlier: ByteBuffer) {
        guard earlier.count > 0 else { return }
        lock.withLock {
            guard !closed else { return }
            var merged = ByteBuffer()
            merged.append(earlier.bytes)
            merged.append(pending.bytes)
            pending.deallocate()
            pending = merged
        }
    }

    // MARK: flushing thread

    /// Writes what was appended since the last call and fdatasyncs when `sync` (also retrying
    /// an earlier failed fsync). On a write error the partial write is truncated away and the
    /// records are kept, ahead of newer ones, for the next call.
    @discardableResult
    public func flush(sync: Bool) -> FlushResult {
        let isClosed = lock.withLock { () -> Bool in
            if !closed { swap(&pending, &spare) }
            return closed
        }
        if isClosed { return .idle }
        defer { spare.removeAll() }
        var result = FlushResult.idle
        if spare.count > 0 {
            guard FileIO.writeAll(fd, spare.bytes) else {
                _ = ftruncate(fd, off_t(sizeOnDisk))
                restorePending(spare)
                return .failed
            }
            sizeOnDisk += spare.count
            unsynced = true
            result = .wrote
        }
        if sync && unsynced {
            guard fdatasync(fd) == 0 else { return .failed }
            unsynced = false
        }
        return result
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
            let nfd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
            guard nfd >= 0 else { return false }
            close(fd)
            fd = nfd
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
        unlink(path)
    }

    /// Tests: every later write of this file fails as on a full disk (`/dev/full`).
    public func failWritesForTesting() {
        lock.withLock {
            let full = open("/dev/full", O_WRONLY | O_CLOEXEC)
            if full >= 0 {
                dup2(full, fd)
                close(full)
            }
        }
    }

    /// Cuts the file to its first `validBytes` (the tail after a `RecordReader`'s last record),
    /// so that appends continue from a record boundary. Through this file's descriptor, so that
    /// `sizeOnDisk` stays true: a failed write is undone by truncating to it, which must never
    /// extend the file with zeros. Owner before any flusher knows the file.
    @discardableResult
    public func cut(to validBytes: Int) -> Bool {
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
