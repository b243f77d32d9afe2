// Replay of a record file (framing in RecordFile.swift): its records in order, through a read
// window, past damage.
//
// The window is 4 MB by default (or the file's size, when smaller) and grows only for a larger
// record, so recovery needs memory in proportion to the largest record, not to the file.
//
// Damage. One bad record must cost that record, not everything after it. A record fails when its
// length is outside the owner's bounds, its payload's first bytes do not fit the owner's
// `RecordShape` check, or its CRC-32C does not match. The reader then looks for the next valid
// record:
// - At a record boundary whose header is believable (length within bounds, and the owner's shape
//   check agrees with it), only the payload or the CRC field can be bad: the reader skips that one
//   frame by its length. Without an owner check a header is never believed: a flipped length
//   would skip good records.
// - Otherwise the length cannot be trusted, and the reader scans forward byte by byte for the
//   first position where a whole valid record starts: length within bounds, shape check, CRC.
//   The CRC alone lets a random position through once in 2^32; the shape check makes it rarer
//   (the journal's needs a valid op and, for an add, a body length field equal to the record's).
//   What it cannot tell apart is a genuine record inside a damaged record's payload (a message
//   body that is itself a journal): that is replayed.
// Skipped stretches are listed in `damaged`, for the owner to keep a copy of and count.
//
// The end of the file is different. An incomplete record (a believable header whose length runs
// past the end, or fewer than 8 bytes) or zeros, with no valid record after them, are a torn
// tail: the last write, cut short by a crash (or a file the crash extended but never wrote).
// `tornTail`, not damage. The owner cuts the file at `acceptedBytes` before appending again.
//
// A read error is neither: `readError` is set and replay stops, so that the owner refuses to go
// on rather than cut or rewrite a file it could not read.
#if canImport(Glibc)
import Glibc
#endif

/// What the owner of a record file knows of its records beyond the framing.
public struct RecordShape: Sendable {
    /// Payload length bounds; a length outside them is damage.
    public var minimumLength: Int
    public var maximumLength: Int
    /// How many of the payload's first bytes `check` is given (fewer for a shorter payload).
    public var prefixLength: Int
    /// True when a payload of this length may start with these bytes; nil: any may.
    public var check: (@Sendable (_ length: Int, _ prefix: UnsafeRawBufferPointer) -> Bool)?

    public init(minimumLength: Int = 0, maximumLength: Int = Int(UInt32.max), prefixLength: Int = 0,
                check: (@Sendable (_ length: Int, _ prefix: UnsafeRawBufferPointer) -> Bool)? = nil) {
        self.minimumLength = minimumLength
        self.maximumLength = maximumLength
        self.prefixLength = prefixLength
        self.check = check
    }
}

/// A stretch of a record file that replay could not read and skipped.
public struct DamagedRegion: Equatable, Sendable {
    /// Its first byte in the file.
    public let offset: Int
    public let length: Int
    /// Records lost in it: one per frame skipped by its length, and one for a stretch scanned byte
    /// by byte (its record boundaries are lost with it, so it may have held more).
    public let records: Int

    public init(offset: Int, length: Int, records: Int) {
        self.offset = offset
        self.length = length
        self.records = records
    }
}

/// Reads a record file's records in order through a bounded window. `next` gives the next valid
/// record, `accept` moves past it; `acceptedBytes` is then where the last one ends.
public final class RecordReader {
    // Not shared between threads: one replay owns it.
    private let fd: Int32
    /// The file's size when it was opened.
    public let size: Int
    private let shape: RecordShape
    private var buffer: UnsafeMutableRawBufferPointer
    /// Bytes of the file in `buffer`, from `bufferOffset`; `head` is the read position in it.
    private var filled = 0
    private var head = 0
    private var bufferOffset = 0
    private var pendingLength = 0
    private var finished = false
    /// Where the last accepted record ends: everything after it is torn or damaged.
    public private(set) var acceptedBytes = 0
    /// Stretches skipped so far, in file order.
    public private(set) var damaged: [DamagedRegion] = []
    /// Where a torn tail starts (it runs to the end of the file), once replay has reached it.
    public private(set) var tornTail: Int?
    /// errno of a read that failed; replay stopped there.
    public private(set) var readError: Int32?

    /// The default read window: 4 MB.
    public static let defaultWindow = 4 << 20

    /// Opens `path` for replay; nil when it cannot be opened. `window` is the initial buffer
    /// (grown only for a record larger than it), but never more than the file holds: nothing past
    /// `size` is ever read, so a small journal (most of a broker's queues) costs its own size, not
    /// 4 MB, at start-up.
    public init?(path: String, window: Int = RecordReader.defaultWindow, shape: RecordShape = RecordShape()) {
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        var st = stat()
        fstat(fd, &st)
        size = Int(st.st_size)
        self.shape = shape
        buffer = .allocate(byteCount: max(min(window, size), 8), alignment: 8)
    }

    deinit {
        buffer.deallocate()
        close(fd)
    }

    /// True when the file holds bytes after the last accepted record (torn or damaged).
    public var hasDamagedTail: Bool { acceptedBytes < size }
    /// Bytes in `damaged`.
    public var damagedBytes: Int { damaged.reduce(0) { $0 + $1.length } }
    /// Records counted in `damaged`.
    public var damagedRecords: Int { damaged.reduce(0) { $0 + $1.records } }

    /// The window's current size (grown past the initial one only by a larger record).
    public var windowSize: Int { buffer.count }

    /// The payload of the next valid record, valid until the next call; nil at the end of the
    /// file (or at a read error). Damage on the way is skipped and listed in `damaged`.
    /// `accept()` moves past the record.
    public func next() -> UnsafeRawBufferPointer? {
        pendingLength = 0
        guard !finished else { return nil }
        // The first unreadable byte since the last valid record, and the frames skipped since.
        var damageStart: Int? = nil
        var skipped = 0
        func endDamage(at end: Int, scanned: Bool) {
            guard let start = damageStart, end > start else { return }
            damaged.append(DamagedRegion(offset: start, length: end - start, records: skipped + (scanned ? 1 : 0)))
        }
        // At a record boundary (reached by a valid or believable frame).
        while true {
            if position == size {
                endDamage(at: size, scanned: false)
                return finish()
            }
            let frame = frameAtBoundary()
            switch frame {
            case .valid(let length):
                endDamage(at: position, scanned: false)
                return hold(length)
            case .badPayload(let length):
                if damageStart == nil { damageStart = position }
                skipped += 1
                head += 8 + length
            case .incomplete, .garbage:
                guard readError == nil else { return finish() }
                // Whatever starts here, a valid record further on proves it damage and not the
                // end of what was written: scan for one.
                let cutShort = frame == .incomplete
                if damageStart == nil { damageStart = position }
                let scanStart = position
                switch scan() {
                case .found(let length):
                    endDamage(at: position, scanned: true)
                    return hold(length)
                case .end(let allZero):
                    guard readError == nil else { return finish() }
                    if cutShort || allZero {
                        // A record cut short, or zeros (a file extended by a write the crash
                        // never made): the torn tail of the last write.
                        endDamage(at: scanStart, scanned: false)
                        tornTail = scanStart
                    } else {
                        endDamage(at: size, scanned: true)
                    }
                    return finish()
                }
            }
        }
    }

    /// Moves past the record `next` returned.
    public func accept() {
        head += pendingLength
        if pendingLength > 0 { acceptedBytes = position }
        pendingLength = 0
    }

    // MARK: frames

    private var position: Int { bufferOffset + head }

    private enum Frame: Equatable {
        /// A valid record of this payload length.
        case valid(Int)
        /// A believable header over a payload that fails its CRC: the frame (8 + length) can be skipped.
        case badPayload(Int)
        /// A believable record cut off by the end of the file, or fewer than 8 bytes left (or a read error).
        case incomplete
        /// No believable record starts here.
        case garbage
    }

    private func finish() -> UnsafeRawBufferPointer? {
        finished = true
        return nil
    }

    private func hold(_ length: Int) -> UnsafeRawBufferPointer {
        pendingLength = 8 + length
        return UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[(head + 8)..<(head + 8 + length)])
    }

    private func header() -> (length: Int, crc: UInt32) {
        let base = UnsafeRawBufferPointer(buffer)
        return (Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: head, as: UInt32.self))),
                UInt32(littleEndian: base.loadUnaligned(fromByteOffset: head + 4, as: UInt32.self)))
    }

    /// The owner's shape check of a payload of `length` at the read position, whose first
    /// `min(length, prefixLength)` bytes are in the buffer.
    private func shapeFits(_ length: Int) -> Bool {
        guard let check = shape.check else { return true }
        let n = min(length, shape.prefixLength)
        return check(length, UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[(head + 8)..<(head + 8 + n)]))
    }

    private func crcMatches(_ length: Int, _ crc: UInt32) -> Bool {
        CRC32C.checksum(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[(head + 8)..<(head + 8 + length)])) == crc
    }

    /// What starts at the read position, a record boundary.
    private func frameAtBoundary() -> Frame {
        let remaining = size - position
        guard remaining >= 8, ensure(8) else { return .incomplete }
        let (length, crc) = header()
        guard length >= shape.minimumLength, length <= shape.maximumLength else { return .garbage }
        let prefix = min(length, shape.prefixLength)
        if 8 + length > remaining {
            // Torn, if what was written of it is believable (all of it that the check needs).
            guard shape.check != nil, 8 + prefix <= remaining else { return .incomplete }
            guard ensure(8 + prefix) else { return .incomplete }
            return shapeFits(length) ? .incomplete : .garbage
        }
        guard ensure(8 + prefix) else { return .incomplete }
        guard shapeFits(length) else { return .garbage }
        // A length past the end of the file was refused above: this allocates no more than the file.
        guard ensure(8 + length) else { return .incomplete }
        if crcMatches(length, crc) { return .valid(length) }
        return shape.check != nil ? .badPayload(length) : .garbage
    }

    private enum ScanResult {
        /// A valid record of this payload length starts at the read position.
        case found(Int)
        /// None up to the end of the file; `allZero`: every byte from the scan's start was zero.
        case end(allZero: Bool)
    }

    /// From the read position (where no believable record starts), byte by byte to the first
    /// position where a whole valid record starts. Nothing but a valid record ends the scan: a
    /// believable header there proves nothing.
    private func scan() -> ScanResult {
        var allZero = true
        let smallest = 8 + shape.minimumLength
        while size - position >= smallest {
            guard ensure(smallest) else { return .end(allZero: false) }
            skipUnbelievableLengths(&allZero)
            // The window ran out of positions to rule out: read on (or end).
            guard filled - head >= smallest else { continue }
            if allZero && UnsafeRawBufferPointer(buffer)[head] != 0 { allZero = false }
            let remaining = size - position
            let (length, crc) = header()
            if length >= shape.minimumLength, length <= shape.maximumLength, 8 + length <= remaining,
               ensure(8 + min(length, shape.prefixLength)), shapeFits(length), ensure(8 + length),
               crcMatches(length, crc) {
                return .found(length)
            }
            if readError != nil { return .end(allZero: false) }
            head += 1
        }
        // The last bytes, too short for a record.
        let rest = size - position
        if rest > 0 {
            guard ensure(rest) else { return .end(allZero: false) }
            if allZero { allZero = UnsafeRawBufferPointer(buffer)[head..<(head + rest)].allSatisfy { $0 == 0 } }
            head += rest
        }
        return .end(allZero: allZero)
    }

    /// The scan's fast path: moves `head` past every position of the window whose length field
    /// alone rules a record out (under the shape's minimum, or running past the end of the file),
    /// stopping at the first that could start one, or after the last whose `8 + minimumLength`
    /// bytes the window holds. Most of a damaged stretch goes this way, at one comparison per byte
    /// where the full check costs a dozen (and a fuzzer's instrumentation a call for each).
    /// `allZero` turns false at a non-zero byte passed over. Nothing is done while the shape's
    /// maximum, not the end of the file, is the nearer bound (a stretch over 1 GB from the end):
    /// the full check then goes byte by byte as before.
    private func skipUnbelievableLengths(_ allZero: inout Bool) {
        let minimum = shape.minimumLength
        // The last position whose header and shortest payload are in the window.
        let last = filled - 8 - minimum
        // Payload bytes the file holds after the header at `head`: the longest believable length.
        let room = size - position - 8
        guard head <= last, room <= shape.maximumLength, room >= minimum else { return }
        let base = UnsafeRawPointer(buffer.baseAddress!)
        var i = head
        // A length is believable when `minimum <= length <= room`, i.e. when `length - minimum`
        // (wrapping below `minimum`) is at most `room - minimum`; `room` shrinks by one per byte.
        var span = UInt64(room - minimum)
        if allZero {
            while i <= last {
                let length = UInt64(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt32.self)))
                if base.load(fromByteOffset: i, as: UInt8.self) != 0 {
                    allZero = false
                    break
                }
                if length &- UInt64(minimum) <= span { break }
                i += 1
                span &-= 1
            }
        }
        while i <= last {
            let length = UInt64(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt32.self)))
            if length &- UInt64(minimum) <= span { break }
            i += 1
            span &-= 1
        }
        head = i
    }

    /// At least `n` bytes from `head` in the buffer, reading (and sliding or growing) as needed.
    /// Callers never ask past the end of the file; a read that fails (or finds the file shorter
    /// than it was) sets `readError`.
    private func ensure(_ n: Int) -> Bool {
        if filled - head >= n { return true }
        if readError != nil { return false }
        if head > 0 {
            memmove(buffer.baseAddress!, buffer.baseAddress! + head, filled - head)
            filled -= head
            bufferOffset += head
            head = 0
        }
        if n > buffer.count {
            let grown = UnsafeMutableRawBufferPointer.allocate(byteCount: max(n, buffer.count * 2), alignment: 8)
            grown.baseAddress!.copyMemory(from: buffer.baseAddress!, byteCount: filled)
            buffer.deallocate()
            buffer = grown
        }
        while filled < n {
            let want = min(buffer.count - filled, size - (bufferOffset + filled))
            let got = pread(fd, buffer.baseAddress! + filled, want, off_t(bufferOffset + filled))
            if got < 0 && errno == EINTR { continue }
            if got <= 0 {
                readError = got < 0 ? errno : EIO
                return false
            }
            filled += got
        }
        return true
    }
}
