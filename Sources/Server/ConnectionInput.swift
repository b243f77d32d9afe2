// A connection's unconsumed input. An idle connection holds no buffer: a read goes into its
// worker's shared read buffer (memcached's per-thread read buffer cache), the handler consumes
// the complete requests there, and only what is left (a request cut short, or requests left for
// later by a yield or a park) is copied into a buffer of the connection's own, sized to it, before
// the worker serves another connection (`settle`). That buffer is freed once it is consumed. Input
// held past half the shared buffer (a long multi-get line) is read into the own buffer, grown as
// needed; the handler bounds it (a line longer than memcached allows closes the connection).

struct ConnectionInput {
    /// Where the held bytes are: the worker's shared buffer during an event, else `own`.
    private(set) var base: UnsafeMutableRawPointer?
    private(set) var capacity = 0
    private(set) var start = 0
    private(set) var end = 0
    private var own: UnsafeMutableRawPointer?
    private var ownCapacity = 0
    private var inShared = false

    /// Smallest own buffer: the tail of a request cut short is usually a few bytes.
    static let minimumOwnCapacity = 256

    var count: Int { end - start }
    var isEmpty: Bool { start == end }
    /// Bytes held in the connection's own buffer, or 0 (what an idle connection pins).
    var ownBytes: Int { own == nil ? 0 : ownCapacity }

    /// The unconsumed bytes.
    var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base.map { $0 + start }, count: end - start)
    }

    mutating func consume(_ n: Int) {
        start += n
        if start == end {
            start = 0
            end = 0
        }
    }

    /// Free space after the held bytes to read into: the shared buffer (the held bytes copied to
    /// its start) when they fit in half of it, else the own buffer, compacted or grown when full.
    mutating func readSpace(shared: UnsafeMutableRawPointer, sharedCapacity: Int) -> UnsafeMutableRawBufferPointer {
        let held = end - start
        if !inShared && held <= sharedCapacity / 2 {
            if held > 0 { shared.copyMemory(from: base! + start, byteCount: held) }
            base = shared
            capacity = sharedCapacity
            start = 0
            end = held
            inShared = true
        }
        if end == capacity {
            if start > 0 {
                memmove(base!, base! + start, held)
                end = held
                start = 0
            } else {
                grow()
            }
        }
        return UnsafeMutableRawBufferPointer(start: base! + end, count: capacity - end)
    }

    /// How many bytes the own buffer would grow by in the next `readSpace` (its limit is checked
    /// before: read_buf_mem_limit).
    func growthBeforeRead(sharedCapacity: Int) -> Int {
        let held = end - start
        if !inShared && held <= sharedCapacity / 2 { return 0 }
        guard end == capacity, start == 0 else { return 0 }
        return Swift.max(capacity * 2, Self.minimumOwnCapacity) - ownCapacity
    }

    /// `n` bytes were read into the space `readSpace` gave.
    mutating func received(_ n: Int) { end += n }

    /// Before the worker serves another connection: bytes left in the shared buffer move to the
    /// connection's own (reused when it fits), and an own buffer with nothing left is freed.
    mutating func settle() {
        let held = end - start
        if held == 0 {
            release()
            return
        }
        guard inShared else { return }
        if own == nil || ownCapacity < held {
            own?.deallocate()
            var cap = Self.minimumOwnCapacity
            while cap < held { cap *= 2 }
            own = .allocate(byteCount: cap, alignment: 8)
            ownCapacity = cap
        }
        own!.copyMemory(from: base! + start, byteCount: held)
        base = own
        capacity = ownCapacity
        start = 0
        end = held
        inShared = false
    }

    /// Drops the held bytes and frees the own buffer (settled with nothing left, or closing).
    mutating func release() {
        own?.deallocate()
        own = nil
        ownCapacity = 0
        base = nil
        capacity = 0
        start = 0
        end = 0
        inShared = false
    }

    /// Moves the held bytes into a new own buffer twice the size of the full one (the shared
    /// buffer stays the worker's).
    private mutating func grow() {
        let cap = Swift.max(capacity * 2, Self.minimumOwnCapacity)
        let grown = UnsafeMutableRawPointer.allocate(byteCount: cap, alignment: 8)
        grown.copyMemory(from: base! + start, byteCount: end - start)
        own?.deallocate()
        own = grown
        ownCapacity = cap
        base = grown
        capacity = cap
        end -= start
        start = 0
        inShared = false
    }
}

#if canImport(Glibc)
import Glibc
#endif
