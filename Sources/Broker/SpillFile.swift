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
    // Used only with its queue's lock held; the descriptor is the broker's `DescriptorCache`'s,
    // used only while pinned.
    let path: String
    private let descriptors: DescriptorCache
    private let slot: DescriptorCache.Slot
    private var end: Int64 = 0
    /// Spilled messages still in the queue.
    private(set) var live = 0
    /// The queue was deleted and the file removed (a new queue may own the name now).
    private var removed = false

    /// Nothing is opened until a body is spilled: a queue that never spills holds no
    /// descriptor, and one that does holds one only while it reads or writes. A file left by an
    /// earlier run is stale (the journal holds every body) and goes now.
    init(path: String, descriptors: DescriptorCache) {
        self.path = path
        self.descriptors = descriptors
        slot = descriptors.slot(path: path, flags: O_RDWR | O_CREAT)
        unlink(path)
    }

    deinit {
        descriptors.close(slot, forGood: true)
        if !removed { unlink(path) }
    }

    /// The queue is deleted: the name goes now.
    func remove() {
        descriptors.close(slot, forGood: true)
        if !removed { unlink(path) }
        removed = true
        live = 0
    }

    /// Runs `body` with the file's descriptor (false when it cannot be opened).
    private func withDescriptor(_ body: (Int32) -> Bool) -> Bool {
        guard !removed, let (fd, _) = descriptors.pin(slot) else { return false }
        defer { descriptors.unpin(slot, dirty: false) }
        return body(fd)
    }

    /// Writes the item's body; returns its offset (nil on an I/O error).
    func store(_ item: Item, engine: CacheEngine) -> Int64? {
        let start = end
        var at = start
        let ok = withDescriptor { fd in
            for i in 0..<engine.valueSegmentCount(item) {
                let seg = UnsafeRawBufferPointer(engine.valueSegment(item, i))
                guard Self.writeAll(fd, at: at, seg) else { return false }
                at += Int64(seg.count)
            }
            return true
        }
        guard ok else { return nil }
        end = at
        live += 1
        return start
    }

    func store(_ body: UnsafeRawBufferPointer) -> Int64? {
        let start = end
        guard withDescriptor({ Self.writeAll($0, at: start, body) }) else { return nil }
        end += Int64(body.count)
        live += 1
        return start
    }

    /// Reads a spilled body back into `item` (allocated by the caller with the right length).
    func load(_ offset: Int64, into item: Item, engine: CacheEngine) -> Bool {
        withDescriptor { fd in Self.read(fd, offset, into: item, engine: engine) }
    }

    private static func read(_ fd: Int32, _ offset: Int64, into item: Item, engine: CacheEngine) -> Bool {
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
        let base = b.base! + b.count
        guard withDescriptor({ fd in Self.read(fd, offset, length: length, into: base) }) else { return false }
        b.advance(length)
        return true
    }

    private static func read(_ fd: Int32, _ offset: Int64, length: Int, into base: UnsafeMutableRawPointer) -> Bool {
        var done = 0
        while done < length {
            let n = pread(fd, base + done, length - done, off_t(offset) + off_t(done))
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }

    /// A spilled message left the queue; the file empties when none is left.
    func release() {
        if removed { return }
        live -= 1
        if live == 0 && end > 0 {
            // Empty: the file goes, and with it its descriptor.
            descriptors.close(slot)
            unlink(path)
            end = 0
        }
    }

    private static func writeAll(_ fd: Int32, at offset: Int64, _ bytes: UnsafeRawBufferPointer) -> Bool {
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
