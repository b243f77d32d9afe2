// A connection's pending output: reply text in one growing byte arena, plus a list of segments
// that a writer turns into one iovec array per write. A segment is either a range of the arena or
// bytes owned by someone else (item memory) with an opaque reference that is handed back through
// `releaseReference` once those bytes are on the wire — so value bytes go out without a copy, and
// the item cannot be freed while they are in flight. A line known only once what follows it is
// written (a stream range's count) keeps room in a segment of its own (`beginDeferred`), filled
// at the room's end, the segment started there (`endDeferred`): nothing after it is moved.
#if canImport(Glibc)
import Glibc
#endif

public struct OutputSegment {
    /// nil: `offset` is into the text arena.
    public var base: UnsafeRawPointer?
    public var offset: Int
    public var length: Int
    /// Handed to `releaseReference` when the segment is fully written.
    public var reference: UnsafeMutableRawPointer?
}

public final class OutputBuffer {
    // With a pool, the arena and the segment array are taken from it with the first reply and
    // given back once all is written (`compact`, `reset`): capacity 0 means none is held, and the
    // pointers are then placeholders that are never dereferenced (every write checks capacity
    // first, and only the slow path of that check takes storage).
    public private(set) var text: UnsafeMutableRawPointer
    public private(set) var textCount = 0
    private var textCapacity: Int
    public private(set) var segments: UnsafeMutablePointer<OutputSegment>
    public private(set) var segmentCount = 0
    private var segmentCapacity: Int
    /// First segment not yet fully written, and bytes of it already written.
    public private(set) var firstSegment = 0
    public private(set) var firstSegmentWritten = 0
    public var releaseReference: ((UnsafeMutableRawPointer) -> Void)?
    private let pool: OutputStoragePool?

    /// A buffer that owns its storage for its whole life (tests, UDP replies).
    public init(textCapacity: Int = 2048, segmentCapacity: Int = 64) {
        self.textCapacity = textCapacity
        self.segmentCapacity = segmentCapacity
        text = .allocate(byteCount: textCapacity, alignment: 8)
        segments = .allocate(capacity: segmentCapacity)
        pool = nil
    }

    /// A buffer that holds storage from `pool` only while it has output (a connection). Used
    /// only on the pool's thread.
    public init(pool: OutputStoragePool) {
        self.pool = pool
        textCapacity = 0
        segmentCapacity = 0
        text = UnsafeMutableRawPointer(bitPattern: 8)!
        segments = UnsafeMutablePointer(bitPattern: MemoryLayout<OutputSegment>.alignment)!
    }

    deinit {
        // Not given back to the pool: the last reference may be dropped on another thread.
        releaseAll()
        if hasStorage {
            text.deallocate()
            segments.deallocate()
        }
    }

    /// Whether an arena and a segment array are held.
    public var hasStorage: Bool { textCapacity > 0 }

    /// Takes storage from the pool (or allocates it) for the first reply after an idle spell.
    @inline(never)
    private func takeStorage() {
        let s = pool?.take() ?? .allocate()
        text = s.text
        textCapacity = s.textCapacity
        segments = s.segments
        segmentCapacity = s.segmentCapacity
    }

    /// Gives the (empty) buffer's storage back to the pool.
    private func giveStorage() {
        guard let pool, hasStorage else { return }
        pool.give(OutputStorage(text: text, textCapacity: textCapacity, segments: segments,
                                segmentCapacity: segmentCapacity))
        textCapacity = 0
        segmentCapacity = 0
    }

    public var isEmpty: Bool { firstSegment == segmentCount }

    /// Bytes queued and not yet written.
    public var pendingBytes: Int {
        var n = 0
        for i in firstSegment..<segmentCount { n += segments[i].length }
        return n - firstSegmentWritten
    }

    @inline(__always)
    private func reserveText(_ n: Int) {
        if textCount + n > textCapacity {
            growText(n)
        }
    }

    @inline(never)
    private func growText(_ n: Int) {
        if !hasStorage { takeStorage() }
        if textCount + n > textCapacity {
            var cap = textCapacity * 2
            while cap < textCount + n { cap *= 2 }
            let grown = UnsafeMutableRawPointer.allocate(byteCount: cap, alignment: 8)
            grown.copyMemory(from: text, byteCount: textCount)
            text.deallocate()
            text = grown
            textCapacity = cap
        }
    }

    @inline(__always)
    private func pushSegment(_ s: OutputSegment) {
        if segmentCount == segmentCapacity {
            growSegments()
        }
        (segments + segmentCount).initialize(to: s)
        segmentCount += 1
    }

    @inline(never)
    private func growSegments() {
        if !hasStorage {
            takeStorage()
        } else {
            let cap = segmentCapacity * 2
            let grown = UnsafeMutablePointer<OutputSegment>.allocate(capacity: cap)
            grown.moveInitialize(from: segments, count: segmentCount)
            segments.deallocate()
            segments = grown
            segmentCapacity = cap
        }
    }

    /// Extends the last text segment if it ends where new text goes, else starts one.
    @inline(__always)
    private func noteText(_ start: Int, _ n: Int) {
        if segmentCount > firstSegment {
            let last = segments + (segmentCount - 1)
            if last.pointee.base == nil && last.pointee.offset + last.pointee.length == start {
                last.pointee.length += n
                return
            }
        }
        pushSegment(OutputSegment(base: nil, offset: start, length: n, reference: nil))
    }

    @inline(__always)
    public func append(_ bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        if n == 0 { return }
        reserveText(n)
        (text + textCount).copyMemory(from: bytes.baseAddress!, byteCount: n)
        noteText(textCount, n)
        textCount += n
    }

    @inline(__always)
    public func append(_ s: StaticString) {
        append(UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    public func append(_ s: String) {
        var s = s
        s.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    @inline(__always)
    public func append(byte: UInt8) {
        reserveText(1)
        text.storeBytes(of: byte, toByteOffset: textCount, as: UInt8.self)
        noteText(textCount, 1)
        textCount += 1
    }

    /// Appends the decimal form of `v`.
    @inline(__always)
    public func append(decimal v: UInt64) {
        let digits = decimalDigits(v)
        reserveText(digits)
        writeDecimal(v, digits: digits, text + textCount)
        noteText(textCount, digits)
        textCount += digits
    }

    /// Appends what `write` writes at the arena's end, which has room for `capacity` bytes; it
    /// returns the bytes written. A reply part whose length is known only as an upper bound
    /// before it is written (a stream entry from its batch) is written in place, no copy.
    @inline(__always)
    public func append(upTo capacity: Int, _ write: (UnsafeMutableRawPointer) -> Int) {
        reserveText(capacity)
        let n = write(text + textCount)
        assert(n >= 0 && n <= capacity, "an in-place write past the room it asked for")
        if n == 0 { return }
        noteText(textCount, n)
        textCount += n
    }

    /// Starts a reply part whose first line is known only once the rest is written (the count
    /// of a stream range's entries, which a scan learns as it writes them): `room` arena bytes
    /// kept for the line, in a segment of its own that the text appended after it extends.
    /// Returns the handle for `endDeferred`.
    public func beginDeferred(room: Int) -> Int {
        reserveText(room)
        let index = segmentCount
        pushSegment(OutputSegment(base: nil, offset: textCount, length: room, reference: nil))
        textCount += room
        return index
    }

    /// Writes the line of the part begun with `beginDeferred(room:)` (`write` returns its length,
    /// at most `room`, written at the pointer given) at the end of the room kept for it, and
    /// starts the segment at the line: the unused room is never sent, nothing after it moves.
    public func endDeferred(_ index: Int, room: Int, _ write: (UnsafeMutableRawPointer) -> Int) {
        let s = segments + index
        withUnsafeTemporaryAllocation(byteCount: room, alignment: 1) { line in
            let n = write(line.baseAddress!)
            assert(n >= 0 && n <= room, "a deferred line longer than its room")
            let skip = room - n
            (text + s.pointee.offset + skip).copyMemory(from: line.baseAddress!, byteCount: n)
            s.pointee.offset += skip
            s.pointee.length -= skip
        }
    }

    /// Queues bytes owned elsewhere; `reference` (if any) is released once they are written.
    @inline(__always)
    public func appendExternal(_ base: UnsafeRawPointer, count: Int, reference: UnsafeMutableRawPointer?) {
        if count == 0 && reference == nil { return }
        pushSegment(OutputSegment(base: base, offset: 0, length: count, reference: reference))
    }

    /// The index the next segment will have: with `beginHeld`, a handle on that reply for
    /// `replaceHeld` while nothing of it has been written.
    public var nextSegmentIndex: Int { segmentCount }

    /// Starts a held reply in the arena: a segment of its own, which the text appended until
    /// `endHeld` fills (nothing, for a quiet reply that may yet have to say something). Returns
    /// its index, for `replaceHeld` while nothing of it has been written.
    public func beginHeld() -> Int {
        reserveText(1)
        let index = segmentCount
        pushSegment(OutputSegment(base: nil, offset: textCount, length: 0, reference: nil))
        return index
    }

    /// Ends the held reply begun with `beginHeld`: one unused arena byte after it, so that the
    /// next text starts a segment of its own rather than extending it (`noteText`).
    public func endHeld() {
        reserveText(1)
        textCount += 1
    }

    /// Drops the empty segments at the end (held quiet replies that stayed quiet): a writer
    /// takes an output that is not empty for one with bytes to write.
    public func dropEmptyTail() {
        while segmentCount > firstSegment && segments[segmentCount - 1].length == 0
                && segments[segmentCount - 1].reference == nil {
            segmentCount -= 1
        }
    }

    /// Points unwritten arena segment `index`, still holding exactly `old` (a held reply, see
    /// `beginHeld`), at a copy of `new` instead. False when that segment is not there unwritten.
    public func replaceHeld(at index: Int, old: UnsafeRawBufferPointer, with new: UnsafeRawBufferPointer) -> Bool {
        guard index >= firstSegment && index < segmentCount, !(index == firstSegment && firstSegmentWritten > 0) else { return false }
        let s = segments[index]
        guard s.base == nil && s.reference == nil && s.length == old.count,
              UnsafeRawBufferPointer(start: text + s.offset, count: s.length).elementsEqual(old) else { return false }
        reserveText(new.count + 1)
        if let base = new.baseAddress { (text + textCount).copyMemory(from: base, byteCount: new.count) }
        segments[index] = OutputSegment(base: nil, offset: textCount, length: new.count, reference: nil)
        // The unused byte again: text appended next is not taken for this segment's tail.
        textCount += new.count + 1
        return true
    }

    /// A position to roll back to (a request whose earlier replies must be withdrawn).
    /// The last segment is remembered by where it ends, not by its length: `endDeferred` may move
    /// its start after the mark (a count line written at its room's end), and a rollback must not
    /// then stretch it past what was written.
    public struct Mark {
        let textCount: Int
        let segmentCount: Int
        let lastEnd: Int
    }

    public func mark() -> Mark {
        Mark(textCount: textCount, segmentCount: segmentCount,
             lastEnd: segmentCount > firstSegment ? segments[segmentCount - 1].offset + segments[segmentCount - 1].length : 0)
    }

    /// Withdraws everything appended since `mark`, releasing references it held.
    public func rollback(to mark: Mark) {
        let release = releaseReference
        for i in mark.segmentCount..<segmentCount {
            if let r = segments[i].reference { release?(r) }
        }
        segmentCount = mark.segmentCount
        if segmentCount > firstSegment { segments[segmentCount - 1].length = mark.lastEnd - segments[segmentCount - 1].offset }
        textCount = mark.textCount
    }

    /// Fills `iov` with the unwritten bytes; returns the number of entries used.
    public func fill(_ iov: UnsafeMutablePointer<iovec>, capacity: Int) -> Int {
        var n = 0
        var i = firstSegment
        while i < segmentCount && n < capacity {
            let s = segments[i]
            let skip = i == firstSegment ? firstSegmentWritten : 0
            let start = s.base.map { $0 + s.offset } ?? UnsafeRawPointer(text + s.offset)
            if s.length - skip > 0 {
                iov[n] = iovec(iov_base: UnsafeMutableRawPointer(mutating: start + skip), iov_len: s.length - skip)
                n += 1
            }
            i += 1
        }
        return n
    }

    /// Hands every unwritten byte to `sink` in order and marks it written (UDP replies, which are
    /// copied into datagrams rather than written with writev).
    public func drain(_ sink: (UnsafeRawBufferPointer) -> Void) {
        while firstSegment < segmentCount {
            let s = segments[firstSegment]
            let skip = firstSegmentWritten
            let start = s.base.map { $0 + s.offset } ?? UnsafeRawPointer(text + s.offset)
            let n = s.length - skip
            if n > 0 { sink(UnsafeRawBufferPointer(start: start + skip, count: n)) }
            consume(n)
        }
    }

    /// Marks `n` bytes as written, releasing references of finished segments.
    public func consume(_ n: Int) {
        var left = n
        // Loaded once: calling the stored closure per segment would retain its context each time.
        let release = releaseReference
        while firstSegment < segmentCount {
            let s = segments + firstSegment
            let remaining = s.pointee.length - firstSegmentWritten
            if left < remaining {
                firstSegmentWritten += left
                return
            }
            left -= remaining
            if let r = s.pointee.reference { release?(r) }
            firstSegment += 1
            firstSegmentWritten = 0
        }
        if firstSegment == segmentCount { resetWritten() }
    }

    private func resetWritten() {
        segmentCount = 0
        firstSegment = 0
        firstSegmentWritten = 0
        textCount = 0
    }

    /// Drops everything queued, releasing every reference (connection closing), and gives the
    /// storage back to the pool.
    public func reset() {
        releaseAll()
        giveStorage()
    }

    private func releaseAll() {
        let release = releaseReference
        for i in firstSegment..<segmentCount {
            if let r = segments[i].reference { release?(r) }
        }
        resetWritten()
    }

    /// Called once all output is written: a pooled buffer gives its storage back (an idle
    /// connection holds none); one that owns its storage shrinks the arena after a large reply.
    public func compact(maxIdleTextCapacity: Int = 64 * 1024) {
        guard isEmpty else { return }
        resetWritten()
        if pool != nil {
            giveStorage()
            return
        }
        guard textCapacity > maxIdleTextCapacity else { return }
        text.deallocate()
        textCapacity = 2048
        text = .allocate(byteCount: textCapacity, alignment: 8)
    }
}
