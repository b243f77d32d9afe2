// A bounded set of open descriptors shared by many files, so that the number of files the broker
// keeps (a journal and a spill file per queue, up to 10,000 queues) does not decide how many
// descriptors it needs. Each file has a `Slot` (its path and open flags); its descriptor is opened
// when the file is used and closed again when another file needs room: the least recently used
// slot that nobody is using goes. A slot written since its last fdatasync is marked dirty by its
// owner, and an evicted dirty descriptor is fdatasynced before it is closed, so that the group
// commit's fsync still covers everything written since the last one (on Linux, errors of a
// write-back are reported to the descriptors open at the time; a closed one would hide them). A
// dirty descriptor whose fdatasync fails is not closed: it is left for its owner's next flush,
// which sees the error.
//
// Descriptors are used between `pin` and `unpin`; a pinned slot is never evicted. Users pin one
// slot at a time for the length of a few system calls, so the cache holds at most `capacity`
// descriptors; when every open one is pinned, `pin` fails as open(2) would (EMFILE) and the owner
// takes its failure path (a journal keeps its records and retries, a spill keeps the body in
// memory).
import Platform
#if canImport(Glibc)
import Glibc
#endif

/// A bounded LRU of open file descriptors over many files.
public final class DescriptorCache: @unchecked Sendable {
    // Safe to share: every slot's mutable fields and every `var` here are guarded by `lock`.
    /// The most descriptors held open at once.
    public let capacity: Int
    private let lock = PlainMutex()
    private var openSlots: [Slot] = []
    private var useClock: UInt64 = 0
    private var opened: UInt64 = 0
    private var evicted: UInt64 = 0
    private var evictionSyncFailures: UInt64 = 0

    /// One file whose descriptor the cache opens on demand.
    public final class Slot: @unchecked Sendable {
        // Safe to share: the `var`s are guarded by the owning cache's lock.
        /// The file.
        public let path: String
        let flags: Int32
        var fd: Int32 = -1
        var pins = 0
        var lastUse: UInt64 = 0
        var dirty = false
        var removed = false

        init(path: String, flags: Int32) {
            self.path = path
            self.flags = flags
        }
    }

    /// A cache holding at most `capacity` (at least 1) descriptors.
    public init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    deinit {
        for s in openSlots { Glibc.close(s.fd) }
    }

    /// A slot for `path`, opened with `flags` (plus O_CLOEXEC; mode 0644 when O_CREAT creates it).
    /// Nothing is opened yet.
    public func slot(path: String, flags: Int32) -> Slot {
        Slot(path: path, flags: flags | O_CLOEXEC)
    }

    /// The slot's descriptor, opened if it is not (closing the least recently used unpinned one
    /// when the cache is full), and whether it was written since its last fdatasync. It stays
    /// open until `unpin`. Nil with `errno` set when it cannot be opened (EMFILE when every
    /// descriptor of the cache is pinned; ENOENT once the slot was closed for good).
    public func pin(_ s: Slot) -> (fd: Int32, dirty: Bool)? {
        lock.lock()
        defer { lock.unlock() }
        useClock += 1
        s.lastUse = useClock
        if s.fd >= 0 {
            s.pins += 1
            return (s.fd, s.dirty)
        }
        guard !s.removed else {
            errno = ENOENT
            return nil
        }
        while openSlots.count >= capacity {
            guard lockedEvictOne() else {
                errno = EMFILE
                return nil
            }
        }
        var fd = open(s.path, s.flags, 0o644)
        if fd < 0 && (errno == EMFILE || errno == ENFILE) && lockedEvictOne() {
            // The process ran short of descriptors elsewhere: give one of ours back and retry.
            fd = open(s.path, s.flags, 0o644)
        }
        guard fd >= 0 else { return nil }
        s.fd = fd
        s.pins = 1
        opened += 1
        openSlots.append(s)
        return (fd, s.dirty)
    }

    /// Ends a `pin`. `dirty`: the file holds writes no fdatasync has covered yet (an evicted
    /// descriptor is synced before it is closed); false once they are synced.
    public func unpin(_ s: Slot, dirty: Bool) {
        lock.withLock {
            s.pins -= 1
            s.dirty = dirty
        }
    }

    /// Closes the slot's descriptor without a sync (the file was replaced or removed, or its
    /// owner is going away); with `forGood` it is never opened again.
    public func close(_ s: Slot, forGood: Bool = false) {
        lock.withLock {
            if forGood { s.removed = true }
            s.dirty = false
            guard s.fd >= 0 else { return }
            Glibc.close(s.fd)
            s.fd = -1
            openSlots.removeAll { $0 === s }
        }
    }

    /// Descriptors open now.
    public var openCount: Int { lock.withLock { openSlots.count } }
    /// Descriptors opened so far.
    public var openedCount: UInt64 { lock.withLock { opened } }
    /// Descriptors closed to make room for another file.
    public var evictionCount: UInt64 { lock.withLock { evicted } }
    /// Evictions refused because the dirty descriptor's fdatasync failed.
    public var evictionSyncFailureCount: UInt64 { lock.withLock { evictionSyncFailures } }

    /// Closes the least recently used unpinned descriptor (fdatasynced first when dirty); false
    /// when there is none that can be closed. The fdatasync runs under the cache's lock: with a
    /// syncing policy every flush ends clean, so it is the exception (a failed sync, or a file
    /// written by a flush that another file's pin interrupts).
    private func lockedEvictOne() -> Bool {
        // A linear scan: at most `capacity` slots, and no allocation.
        for _ in 0..<openSlots.count {
            var best = -1
            for i in openSlots.indices where openSlots[i].pins == 0 {
                if best < 0 || openSlots[i].lastUse < openSlots[best].lastUse { best = i }
            }
            guard best >= 0 else { return false }
            let victim = openSlots[best]
            if victim.dirty {
                guard fdatasync(victim.fd) == 0 else {
                    // Left open for its owner's flush to see the error; the next oldest is tried.
                    evictionSyncFailures += 1
                    useClock += 1
                    victim.lastUse = useClock
                    continue
                }
                victim.dirty = false
            }
            Glibc.close(victim.fd)
            victim.fd = -1
            openSlots.remove(at: best)
            evicted += 1
            return true
        }
        return false
    }
}
