// The algorithms behind LCS, BITPOS and BITOP on plain bytes, as redis-server 7.0's t_string.c
// and bitops.c compute them (RESPConnection+Bits.swift reads the items and writes the replies).
// Kept apart from the connection so their edges are tested directly (BitAlgorithmsTests).
#if canImport(Glibc)
import Glibc
#endif

enum BitAlgorithms {
    /// One run of LCS IDX: `a[aStart...aEnd]` equals `b[bStart...bEnd]`.
    struct Match: Equatable {
        var aStart, aEnd, bStart, bEnd: Int
        var length: Int { aEnd - aStart + 1 }
    }

    struct LCSResult {
        var length = 0
        /// The common subsequence itself (not computed for LEN alone).
        var string: [UInt8] = []
        /// IDX's runs, last first, those shorter than MINMATCHLEN left out.
        var matches: [Match] = []
    }

    enum LCSRefusal: Error, Equatable {
        /// The table would pass proto-max-bulk-len.
        case tooLarge
        /// malloc refused the table.
        case noMemory
    }

    /// Bytes of redis's LCS table for strings of these lengths: (a + 1) x (b + 1) 32-bit cells.
    static func lcsTableBytes(_ a: Int, _ b: Int) -> Int {
        let (cells, o1) = (a + 1).multipliedReportingOverflow(by: b + 1)
        let (bytes, o2) = cells.multipliedReportingOverflow(by: 4)
        return o1 || o2 ? Int.max : bytes
    }

    /// redis's lcsCommand: the full dynamic-programming table, then the walk back from its last
    /// cell that yields the string and the runs (with redis's way of cutting runs, so IDX answers
    /// the same ranges). `limit` is proto-max-bulk-len, which the table may not pass. LEN alone
    /// keeps two rows only: the same length in O(b) memory.
    static func lcs(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, lengthOnly: Bool, wantMatches: Bool,
                    minMatchLength: Int, limit: Int) -> Result<LCSResult, LCSRefusal> {
        let alen = a.count, blen = b.count
        guard lcsTableBytes(alen, blen) <= limit else { return .failure(.tooLarge) }
        if lengthOnly {
            if alen == 0 || blen == 0 { return .success(LCSResult()) }
            var previous = [UInt32](repeating: 0, count: blen + 1)
            var row = previous
            for i in 1...alen {
                swap(&previous, &row)
                row[0] = 0
                for j in 1...blen {
                    row[j] = a[i - 1] == b[j - 1] ? previous[j - 1] + 1 : max(previous[j], row[j - 1])
                }
            }
            return .success(LCSResult(length: Int(row[blen])))
        }
        let width = blen + 1
        guard let table = malloc(lcsTableBytes(alen, blen))?.bindMemory(to: UInt32.self, capacity: (alen + 1) * width) else {
            return .failure(.noMemory)
        }
        defer { free(table) }
        for i in 0...alen {
            for j in 0...blen {
                if i == 0 || j == 0 {
                    table[i * width + j] = 0
                } else if a[i - 1] == b[j - 1] {
                    table[i * width + j] = table[(i - 1) * width + j - 1] + 1
                } else {
                    table[i * width + j] = max(table[(i - 1) * width + j], table[i * width + j - 1])
                }
            }
        }
        var result = LCSResult(length: Int(table[alen * width + blen]))
        result.string = [UInt8](repeating: 0, count: result.length)
        var index = result.length
        // `aStart == alen`: no run is open.
        var aStart = alen, aEnd = 0, bStart = 0, bEnd = 0
        var i = alen, j = blen
        while i > 0 && j > 0 {
            var emit = false
            if a[i - 1] == b[j - 1] {
                result.string[index - 1] = a[i - 1]
                if aStart == alen {
                    aStart = i - 1; aEnd = i - 1
                    bStart = j - 1; bEnd = j - 1
                } else if aStart == i && bStart == j {
                    aStart -= 1
                    bStart -= 1
                } else {
                    emit = true
                }
                if aStart == 0 || bStart == 0 { emit = true }
                index -= 1; i -= 1; j -= 1
            } else {
                if table[(i - 1) * width + j] > table[i * width + j - 1] { i -= 1 } else { j -= 1 }
                if aStart != alen { emit = true }
            }
            if emit {
                let m = Match(aStart: aStart, aEnd: aEnd, bStart: bStart, bEnd: bEnd)
                if wantMatches && (minMatchLength == 0 || m.length >= minMatchLength) { result.matches.append(m) }
                aStart = alen
            }
        }
        return .success(result)
    }

    /// redis's bitposCommand on a string's bytes: the first bit equal to `bit` in the range
    /// (`start`/`end` as given, nil when absent; in bits with `bitMode`), -1 when there is none.
    /// Looking for a 0 without an explicit end finds the first bit past the string, as redis
    /// counts the string as padded with zeros to the right.
    static func bitpos(_ v: UnsafeRawBufferPointer, bit: Bool, start: Int?, end: Int?, bitMode: Bool) -> Int {
        var first = 0, last = v.count - 1
        if let start {
            var total = v.count
            last = end ?? (bitMode ? (total << 3) + 7 : total - 1)
            first = start
            if bitMode { total <<= 3 }
            if first < 0 { first = total + first }
            if last < 0 { last = total + last }
            if first < 0 { first = 0 }
            if last < 0 { last = 0 }
            if last >= total { last = total - 1 }
        }
        if first > last { return -1 }
        let firstBit = bitMode ? first : first << 3
        let lastBit = bitMode ? last : (last << 3) + 7
        let skip: UInt8 = bit ? 0x00 : 0xFF
        var byte = firstBit >> 3
        while byte <= lastBit >> 3 {
            let b = v[byte]
            if b != skip || byte == firstBit >> 3 || byte == lastBit >> 3 {
                let from = max(firstBit, byte << 3), to = min(lastBit, (byte << 3) + 7)
                for position in from...to where (b >> UInt8(7 - position & 7)) & 1 == (bit ? 1 : 0) {
                    return position
                }
            }
            byte += 1
        }
        if bit || end != nil { return -1 }
        return ((lastBit >> 3) + 1) << 3
    }

    enum BitOperation {
        case and, or, xor, not
    }

    /// BITOP's result byte at one offset from the sources' bytes there (a source shorter than
    /// the offset counts as zero, as redis pads it).
    @inline(__always)
    static func combine(_ op: BitOperation, _ bytes: UnsafeBufferPointer<UInt8>) -> UInt8 {
        switch op {
        case .not: return ~bytes[0]
        case .and: return bytes.reduce(0xFF) { $0 & $1 }
        case .or: return bytes.reduce(0) { $0 | $1 }
        case .xor: return bytes.reduce(0) { $0 ^ $1 }
        }
    }

    /// BITOP over whole values (tests, and a model of the windowed loop the command runs).
    static func bitop(_ op: BitOperation, _ sources: [[UInt8]]) -> [UInt8] {
        let length = sources.map(\.count).max() ?? 0
        var column = [UInt8](repeating: 0, count: sources.count)
        return (0..<length).map { at in
            for (k, s) in sources.enumerated() { column[k] = at < s.count ? s[at] : 0 }
            return column.withUnsafeBufferPointer { combine(op, $0) }
        }
    }
}
