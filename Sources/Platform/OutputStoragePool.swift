// The memory an `OutputBuffer` writes replies into (its text arena and its segment array), lent
// by a worker to its connections only while they have output (memcached's per-thread response
// object cache). A connection takes a set with its first reply and gives it back once everything
// is written, so an idle connection holds none, and a busy worker reuses a few sets instead of
// allocating per request. One pool per worker; used only on that worker's thread.

public struct OutputStorage {
    var text: UnsafeMutableRawPointer
    var textCapacity: Int
    var segments: UnsafeMutablePointer<OutputSegment>
    var segmentCapacity: Int

    static let textCapacity = 2048
    static let segmentCapacity = 64

    static func allocate() -> OutputStorage {
        OutputStorage(text: .allocate(byteCount: textCapacity, alignment: 8), textCapacity: textCapacity,
                      segments: .allocate(capacity: segmentCapacity), segmentCapacity: segmentCapacity)
    }

    func deallocate() {
        text.deallocate()
        segments.deallocate()
    }
}

public final class OutputStoragePool {
    private var free: [OutputStorage] = []
    /// Sets kept for reuse; more are freed when given back (only connections whose output is
    /// waiting for a slow reader hold one at the same time, and those are few).
    public let keep: Int
    public let maxKeptBytes: Int

    public init(keep: Int = 8, maxKeptBytes: Int = 64 * 1024) {
        self.keep = keep
        self.maxKeptBytes = maxKeptBytes
        free.reserveCapacity(keep)
    }

    deinit {
        for s in free { s.deallocate() }
    }

    /// Sets kept for reuse now.
    public var count: Int { free.count }

    func take() -> OutputStorage {
        free.popLast() ?? .allocate()
    }

    /// A set grown past `maxKeptBytes` (a large multi-get's reply) is freed rather than kept, so
    /// that the pool holds at most `keep` modest ones.
    func give(_ s: OutputStorage) {
        if free.count < keep && s.textCapacity + s.segmentCapacity * MemoryLayout<OutputSegment>.stride <= maxKeptBytes {
            free.append(s)
        } else {
            s.deallocate()
        }
    }
}
