// All slab memory is one reservation of virtual address space, taken with mmap(MAP_NORESERVE) at
// start-up and touched page by page as the allocator hands pages out, so RSS follows what is used.
// Because it is contiguous, a chunk is named by a 32-bit handle (its offset / 8): the item header
// stores three links as handles instead of pointers, which is what keeps it at 41 bytes with CAS
// (memcached: 56). The cost is a 32 GiB ceiling on -m, checked at start-up.
// With `-e <file>` the same reservation is a MAP_SHARED mapping of that file (memcached's
// restartable cache): the items outlive the process, and because links are handles, not
// pointers, they stay valid wherever the next run maps the file.
#if canImport(Glibc)
import Glibc
#endif

/// A handle names an 8-byte aligned position in the arena; 0 is "none" (the arena's first bytes
/// are never handed out).
public typealias SlabHandle = UInt32

public final class SlabArena: @unchecked Sendable {
    // Safe to share: base and size never change after init; the memory itself is partitioned
    // between owners by the allocator (slab lock) and the engine (item locks and refcounts).
    public let base: UnsafeMutableRawPointer
    public let reservedBytes: Int
    /// Bytes at the start of the arena kept out of the page pool: handle 0 lives there, and the
    /// engine places a few fixed objects (LRU crawler markers) in it.
    public static let reservedPrefix = 64 * 1024
    public static let maxBytes = Int(UInt32.max) * 8 - reservedPrefix

    /// Whether the arena is a mapped file (`-e`).
    public let isFileBacked: Bool

    /// - Parameter file: an open descriptor of the memory file (`-e`), already `totalBytes(for:)`
    ///   long; nil for anonymous memory. The mapping keeps the file; the caller may close it.
    public init?(bytes: Int, file: Int32? = nil) {
        let total = Self.totalBytes(for: bytes)
        guard total <= Self.maxBytes + Self.reservedPrefix else { return nil }
        let p: UnsafeMutableRawPointer?
        if let file {
            p = mmap(nil, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, file, 0)
        } else {
            p = mmap(nil, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        }
        guard let p, p != MAP_FAILED else { return nil }
        self.base = p
        self.reservedBytes = total
        self.isFileBacked = file != nil
    }

    /// The mapping's size for `bytes` of pages: the reserved prefix comes first.
    public static func totalBytes(for bytes: Int) -> Int { bytes + reservedPrefix }

    /// Writes a file-backed arena's pages back to its file (a no-op on tmpfs, needed on DAX or
    /// a disk). Returns false when msync fails.
    public func sync() -> Bool {
        guard isFileBacked else { return true }
        return msync(base, reservedBytes, MS_SYNC) == 0
    }

    deinit {
        munmap(base, reservedBytes)
    }

    @inline(__always)
    public func pointer(_ handle: SlabHandle) -> UnsafeMutableRawPointer {
        base + (Int(handle) &<< 3)
    }

    @inline(__always)
    public func handle(_ pointer: UnsafeRawPointer) -> SlabHandle {
        SlabHandle(truncatingIfNeeded: (pointer - UnsafeRawPointer(base)) &>> 3)
    }
}
