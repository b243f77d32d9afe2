// Slab classes, computed exactly as memcached 1.6's slabs_init() does, so that a memcached user
// reasons about memory here the same way: the smallest chunk is memcached's item header (48 bytes)
// plus `-n`, each next class is the previous times `-f` (truncated to an integer, then rounded up to
// 8 bytes), classes stop once the next size would pass slab_chunk_max / factor or 62 classes exist,
// and the last class is exactly slab_chunk_max. Items above slab_chunk_max are chunked.
//
// Beside that table, a few engine-only "keyless" classes (ids from `keylessBase` on, 40 to 128
// bytes) hold the engine's compact keyless items (a Redis hash's, set's or sorted set's members,
// CacheEngine's KeylessLayout.swift), so that a 34-byte set member does not round up to
// memcached's smallest class. They are not memcached's: `stats slabs` / `stats items` list
// 1...largest only, `slabs reassign` and automove never name them, and their pages never move.

/// The chunk-size table of the slab allocator (class ids 1...largest; id 0 means "no class").
public struct SlabClassTable: Sendable {
    /// memcached's `sizeof(item)` on 64-bit Linux: the base of the class arithmetic. Our own item
    /// header is smaller (see CacheEngine's ItemLayout); the table stays memcached's on purpose.
    public static let memcachedItemHeaderSize = 48
    /// memcached's MAX_NUMBER_OF_SLAB_CLASSES is 64 with ids 1...63.
    public static let maxClasses = 63
    public static let chunkAlignment = 8

    /// `chunkSizes[id]` for id in 1...largest; index 0 is unused (0).
    public let chunkSizes: [Int]
    /// Chunks per page for each class id.
    public let perPage: [Int]
    public let pageSize: Int
    public let chunkMax: Int
    /// Class id for every 8-byte step up to chunkMax: O(1) size → class on the hot path.
    private let classForStep: [UInt8]

    public var largest: Int { chunkSizes.count - 1 }

    /// The first keyless class id (past memcached's 63), and the keyless chunk sizes.
    public static let keylessBase = 64
    public static let keylessSizes = [40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120, 128]
    /// One past the highest class id, keyless classes included (sizes per-class state arrays).
    public static var classLimit: Int { keylessBase + keylessCount }
    /// `keylessSizes.count`, as a constant (read on the allocation path; SlabClassTableTests
    /// checks the two agree).
    @inline(__always) public static var keylessCount: Int { 12 }
    public var keylessIDs: Range<Int> { Self.keylessBase..<Self.classLimit }
    /// Every class id in use: memcached's 1...largest, then the keyless ones.
    public var allClassIDs: [Int] { Array(1...largest) + Array(keylessIDs) }

    @inline(__always)
    public static func isKeyless(_ id: Int) -> Bool { id >= keylessBase && id < classLimit }

    /// A keyless class's chunk size: `keylessSizes` is every 8 bytes from 40, computed here
    /// because reading that static array from the engine (every member freed or unlinked) took
    /// its lazy initialiser's check and a retain and release of the array.
    @inline(__always)
    public static func keylessChunkSize(_ id: Int) -> Int { 40 + 8 * (id - keylessBase) }

    /// Chunk size of any class id (memcached's or keyless).
    @inline(__always)
    public func chunkSize(_ id: Int) -> Int {
        id >= Self.keylessBase ? Self.keylessChunkSize(id) : chunkSizes[id]
    }

    /// Chunks per page of any class id.
    @inline(__always)
    public func chunksPerPage(_ id: Int) -> Int {
        id >= Self.keylessBase ? pageSize / Self.keylessSizes[id - Self.keylessBase] : perPage[id]
    }

    /// The smallest keyless class holding `size` bytes, or 0 when none does.
    @inline(__always)
    public static func keylessClassID(forSize size: Int) -> Int {
        if size > keylessChunkSize(classLimit - 1) { return 0 }
        // 40, 48, ... 128: every 8 bytes from 40.
        return keylessBase + max(0, (size - 33) / 8)
    }

    /// The most chunks any class puts on a page (sizes a page's per-chunk bookkeeping).
    public var maxChunksPerPage: Int { max(perPage.max() ?? 1, pageSize / Self.keylessSizes[0]) }

    /// - Parameters: `factor` (-f), `minimumSpace` (-n), `pageSize` (slab_page_size), `chunkMax`
    ///   (slab_chunk_max).
    ///   `sizes` (`-o slab_sizes`): the classes below chunkMax, in place of the progression.
    public init(factor: Double, minimumSpace: Int, pageSize: Int, chunkMax: Int, sizes given: [Int]? = nil) {
        var sizes = [0]
        var perPage = [0]
        var size = UInt32(Self.memcachedItemHeaderSize + minimumSpace)
        var id = 0
        while true {
            id += 1
            if id >= Self.maxClasses { break }
            if let given {
                // memcached's slabs_init with slab_sizes: the list, then slab_chunk_max.
                if id > given.count { break }
                size = UInt32(given[id - 1])
            } else if Double(size) >= Double(chunkMax) / factor { break }
            if size % UInt32(Self.chunkAlignment) != 0 {
                size += UInt32(Self.chunkAlignment) - size % UInt32(Self.chunkAlignment)
            }
            sizes.append(Int(size))
            perPage.append(pageSize / Int(size))
            size = UInt32(Double(size) * factor)
        }
        sizes.append(chunkMax)
        perPage.append(pageSize / chunkMax)
        self.chunkSizes = sizes
        self.perPage = perPage
        self.pageSize = pageSize
        self.chunkMax = chunkMax

        var steps = [UInt8](repeating: 0, count: chunkMax / Self.chunkAlignment + 1)
        var cls = 1
        for step in 0..<steps.count {
            let bytes = step * Self.chunkAlignment
            while cls < sizes.count - 1 && sizes[cls] < bytes { cls += 1 }
            steps[step] = UInt8(cls)
        }
        self.classForStep = steps
    }

    /// The smallest class whose chunks hold `size` bytes, or 0 when size > chunkMax.
    @inlinable
    public func classID(forSize size: Int) -> Int {
        if size > chunkMax { return 0 }
        return classIDUnchecked(forSize: size)
    }

    @usableFromInline
    func classIDUnchecked(forSize size: Int) -> Int {
        classForStep.withUnsafeBufferPointer {
            Int($0[(size + Self.chunkAlignment - 1) / Self.chunkAlignment])
        }
    }

    /// The lines `memcached -vv` prints at start-up.
    public func verboseLines() -> [String] {
        (1...largest).map { id in
            "slab class \(pad(id, 3)): chunk size \(pad(chunkSizes[id], 9)) perslab \(pad(perPage[id], 7))"
        }
    }

    private func pad(_ value: Int, _ width: Int) -> String {
        let s = String(value)
        return s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
    }
}
