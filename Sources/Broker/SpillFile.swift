// Read-behind (Kestrel's term): with a data directory, a message that does not fit the broker's
// memory share keeps its place in the queue but its body goes to the queue's spill file instead
// of slab memory; it is read back into a slab item when it is about to be delivered. The journal
// stays the durable copy: the spill file is a cache of bodies, rebuilt from the journal at
// start-up, and emptied whenever no spilled message is left.
import CacheEngine
import Durability
#if canImport(Glibc)
import Glibc
#endif

final class SpillFile {
    // Used only with its queue's lock held.
    let path: String
    private let fd: Int32
    private var end: Int64 = 0
    /// Spilled messages still in the queue.
    private(set) var live = 0
    /// The queue was deleted and the file removed (a new queue may own the name now).
    private var removed = false

    init?(path: String) {
        self.path = path
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { return nil }
    }

    deinit {
        close(fd)
        if !removed { unlink(path) }
    }

    /// The queue is deleted: the name goes now, the descriptor with the object.
    func remove() {
        if !removed { unlink(path) }
        removed = true
        live = 0
    }

    /// Writes the item's body; returns its offset (nil on an I/O error).
    func store(_ item: Item, engine: CacheEngine) -> Int64? {
        let start = end
        for i in 0..<engine.valueSegmentCount(item) {
            let seg = UnsafeRawBufferPointer(engine.valueSegment(item, i))
            guard writeAll(at: end, seg) else { return nil }
            end += Int64(seg.count)
        }
        live += 1
        return start
    }

    func store(_ body: UnsafeRawBufferPointer) -> Int64? {
        let start = end
        guard writeAll(at: end, body) else { return nil }
        end += Int64(body.count)
        live += 1
        return start
    }

    /// Reads a spilled body back into `item` (allocated by the caller with the right length).
    func load(_ offset: Int64, into item: Item, engine: CacheEngine) -> Bool {
        var pos = offset
        for i in 0..<engine.valueSegmentCount(item) {
            let seg = engine.valueSegment(item, i)
            var done = 0
            while done < seg.count {
                let n = pread(fd, seg.baseAddress! + done, seg.count - done, off_t(pos) + off_t(done))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                done += n
            }
            pos += Int64(seg.count)
        }
        return true
    }

    /// Reads a spilled body into `buffer` (snapshots).
    func read(_ offset: Int64, length: Int, into b: inout ByteBuffer) -> Bool {
        b.reserve(length)
        var done = 0
        while done < length {
            let n = pread(fd, b.base! + b.count + done, length - done, off_t(offset) + off_t(done))
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        b.advance(length)
        return true
    }

    /// A spilled message left the queue; the file empties when none is left.
    func release() {
        if removed { return }
        live -= 1
        if live == 0 && end > 0 {
            ftruncate(fd, 0)
            end = 0
        }
    }

    private func writeAll(at offset: Int64, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }
}
