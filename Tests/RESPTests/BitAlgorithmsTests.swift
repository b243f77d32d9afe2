// The edges of LCS, BITPOS and BITOP as redis-server 7.0 computes them (the same cases run
// against redis itself in resp_compare.py): empty and missing values, runs cut by MINMATCHLEN,
// the table bound, BITPOS's clamped and bit-granular ranges and its zero padding, BITOP's padding.
@testable import RESP
import Testing

@Suite("RESP LCS, BITPOS, BITOP algorithms")
struct BitAlgorithmsTests {
    private func lcs(_ a: String, _ b: String, lengthOnly: Bool = false, matches: Bool = true, min: Int = 0,
                     limit: Int = 512 << 20) -> Result<BitAlgorithms.LCSResult, BitAlgorithms.LCSRefusal> {
        Array(a.utf8).withUnsafeBytes { a in
            Array(b.utf8).withUnsafeBytes { b in
                BitAlgorithms.lcs(a, b, lengthOnly: lengthOnly, wantMatches: matches, minMatchLength: min, limit: limit)
            }
        }
    }

    private func value(_ r: Result<BitAlgorithms.LCSResult, BitAlgorithms.LCSRefusal>) throws -> BitAlgorithms.LCSResult {
        guard case .success(let v) = r else { throw BitTestError() }
        return v
    }

    private struct BitTestError: Error {}

    @Test("LCS of redis's example: the string, the length and the runs, last first")
    func lcsExample() throws {
        let r = try value(lcs("ohmytext", "mynewtext"))
        #expect(String(decoding: r.string, as: UTF8.self) == "mytext")
        #expect(r.length == 6)
        #expect(r.matches == [BitAlgorithms.Match(aStart: 4, aEnd: 7, bStart: 5, bEnd: 8),
                              BitAlgorithms.Match(aStart: 2, aEnd: 3, bStart: 0, bEnd: 1)])
        let long = try value(lcs("ohmytext", "mynewtext", min: 4))
        #expect(long.matches == [BitAlgorithms.Match(aStart: 4, aEnd: 7, bStart: 5, bEnd: 8)])
        #expect(long.length == 6)
        #expect(try value(lcs("ohmytext", "mynewtext", lengthOnly: true)).length == 6)
    }

    @Test("LCS with empty, identical and disjoint strings")
    func lcsEdges() throws {
        for (a, b) in [("", ""), ("", "abc"), ("abc", "")] {
            let r = try value(lcs(a, b))
            #expect(r.length == 0 && r.string.isEmpty && r.matches.isEmpty)
            #expect(try value(lcs(a, b, lengthOnly: true)).length == 0)
        }
        let same = try value(lcs("abcdef", "abcdef"))
        #expect(same.matches == [BitAlgorithms.Match(aStart: 0, aEnd: 5, bStart: 0, bEnd: 5)])
        let none = try value(lcs("abc", "xyz"))
        #expect(none.length == 0 && none.matches.isEmpty)
    }

    @Test("LCS LEN (two rows) agrees with the full table; the string is a subsequence of both")
    func lcsLengthAgrees() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let a = String((0..<Int.random(in: 0...30, using: &generator)).map { _ in "ACGT".randomElement(using: &generator)! })
            let b = String((0..<Int.random(in: 0...30, using: &generator)).map { _ in "ACGT".randomElement(using: &generator)! })
            let full = try value(lcs(a, b))
            #expect(try value(lcs(a, b, lengthOnly: true)).length == full.length, "\(a) \(b)")
            for s in [Array(a.utf8), Array(b.utf8)] {
                var i = 0
                for c in s where i < full.string.count && full.string[i] == c { i += 1 }
                #expect(i == full.string.count, "\(full.string) is not a subsequence")
            }
        }
    }

    @Test("LCS refuses a table past the limit (proto-max-bulk-len), before any work")
    func lcsBound() {
        // (12000 + 1)^2 * 4 bytes = 576 MB > 512 MB.
        let big = String(repeating: "a", count: 12_000)
        guard case .failure(.tooLarge) = lcs(big, big, lengthOnly: true) else { Issue.record("not refused"); return }
        #expect(BitAlgorithms.lcsTableBytes(3, 4) == 4 * 5 * 4)
        guard case .failure(.tooLarge) = lcs("abc", "abcd", limit: 79) else { Issue.record("not refused at 79"); return }
        #expect((try? value(lcs("abc", "abcd", limit: 80)))?.length == 3)
        #expect(BitAlgorithms.lcsTableBytes(Int.max / 2, 8) == Int.max)
    }

    private func bitpos(_ bytes: [UInt8], _ bit: Bool, _ start: Int? = nil, _ end: Int? = nil, bits: Bool = false) -> Int {
        bytes.withUnsafeBytes { BitAlgorithms.bitpos($0, bit: bit, start: start, end: end, bitMode: bits) }
    }

    @Test("BITPOS: redis's examples, byte and bit ranges, clamping")
    func bitposRanges() {
        #expect(bitpos([0xFF, 0xF0, 0x00], false) == 12)
        #expect(bitpos([0x00, 0xFF, 0xF0], true, 0) == 8)
        #expect(bitpos([0x00, 0xFF, 0xF0], true, 2) == 16)
        #expect(bitpos([0x00, 0xFF, 0xF0], true, 2, -1) == 16)
        #expect(bitpos([0x00, 0xFF, 0xF0], true, 7, 15, bits: true) == 8)
        #expect(bitpos([0x00, 0xFF, 0xF0], true, 7, -3, bits: true) == 8)
        #expect(bitpos([0x00, 0xFF, 0xF0], true, 5, 2) == -1)
        #expect(bitpos([0x00, 0xFF, 0xF0], true, -100, 100) == 8)
        #expect(bitpos([0x00, 0xFF, 0xF0], false, 20, 22, bits: true) == 20)
        // Within one byte in bit mode: the bits outside the range do not count.
        #expect(bitpos([0b1000_0001], true, 1, 6, bits: true) == -1)
        #expect(bitpos([0b1000_0001], true, 1, 7, bits: true) == 7)
    }

    @Test("BITPOS: zeros past the end count unless an end is given; empty strings")
    func bitposPadding() {
        #expect(bitpos([0xFF, 0xFF, 0xFF], false) == 24)
        #expect(bitpos([0xFF, 0xFF, 0xFF], false, 0) == 24)
        #expect(bitpos([0xFF, 0xFF, 0xFF], false, 0, -1) == -1)
        #expect(bitpos([0xFF, 0xFF, 0xFF], true, 3) == -1)
        #expect(bitpos([0, 0, 0], true) == -1)
        #expect(bitpos([0, 0, 0], false, -1) == 16)
        #expect(bitpos([], false) == -1)
        #expect(bitpos([], true) == -1)
        #expect(bitpos([], false, 0) == -1)
        #expect(bitpos([], false, 0, 0, bits: true) == -1)
    }

    @Test("BITOP: AND, OR, XOR pad the shorter sources with zeros; NOT inverts")
    func bitop() {
        let a = Array("foobar".utf8), b = Array("abcdef".utf8)
        #expect(BitAlgorithms.bitop(.and, [a, b]) == zip(a, b).map { $0 & $1 })
        #expect(BitAlgorithms.bitop(.or, [a, b]) == zip(a, b).map { $0 | $1 })
        #expect(BitAlgorithms.bitop(.xor, [a, b]) == zip(a, b).map { $0 ^ $1 })
        #expect(BitAlgorithms.bitop(.not, [a]) == a.map { ~$0 })
        #expect(BitAlgorithms.bitop(.and, [a, [0xFF]]) == [a[0]] + [UInt8](repeating: 0, count: 5))
        #expect(BitAlgorithms.bitop(.or, [[0x0F], a, []]) == [a[0] | 0x0F] + a.dropFirst())
        #expect(BitAlgorithms.bitop(.xor, [[], []]).isEmpty)
    }
}
