// Sorted-set scores as redis 7.0 reads and writes them: string2d for ZADD/ZINCRBY/WEIGHTS (all of the
// argument, strtod's forms, inf, no NaN, no leading blank, no overflow or underflow to 0),
// zslParseRange's ends (`(` exclusive, strtod up to the first NUL, "" is 0) and
// zslParseLexRangeItem's (`-`, `+`, `[`, `(`), and `%.17g` output (the values checked against
// redis-server 7.0.15's replies in resp_zsets.py).
import CacheEngine
@testable import RESP
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Sorted-set score parsing and formatting")
struct SortedSetScoreTests {
    private func score(_ s: String) -> Double? { Array(s.utf8).withUnsafeBytes { redisScore($0) } }
    private func bound(_ s: [UInt8]) -> ZScoreBound? { s.withUnsafeBytes { redisScoreBound($0) } }
    private func text(_ d: Double) -> String {
        var buffer = [UInt8](repeating: 0, count: 40)
        let n = buffer.withUnsafeMutableBytes { formatDouble(d, into: $0) }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }

    @Test("string2d: strtod's forms, whole argument, inf accepted, NaN and range errors refused")
    func scores() {
        #expect(score("1.5") == 1.5)
        #expect(score("-0.5e-3") == -0.0005)
        #expect(score(".5") == 0.5 && score("5.") == 5)
        #expect(score("0x10") == 16)
        #expect(score("inf") == .infinity && score("+inf") == .infinity && score("-inf") == -.infinity)
        #expect(score("Infinity") == .infinity)
        #expect(score("4.9e-324") == 4.9e-324, "a denormal is not an underflow to 0")
        #expect(score("1.7976931348623157e308") == 1.7976931348623157e308)
        for bad in ["", " 1", "1 ", "nan", "NaN", "1e400", "-1e400", "1e-400", "1x", "x", "--1", "1\u{0}"] {
            #expect(score(bad) == nil, "\(bad.debugDescription)")
        }
    }

    @Test("zslParseRange: ( is exclusive, strtod up to a NUL, empty is 0, NaN refused")
    func rangeEnds() {
        #expect(bound(Array("(2".utf8)) == ZScoreBound(2, exclusive: true))
        #expect(bound(Array("2".utf8)) == ZScoreBound(2, exclusive: false))
        #expect(bound(Array("".utf8)) == ZScoreBound(0, exclusive: false))
        #expect(bound(Array("(".utf8)) == ZScoreBound(0, exclusive: true))
        #expect(bound(Array(" 3".utf8)) == ZScoreBound(3, exclusive: false), "strtod skips leading blanks here")
        #expect(bound(Array("-inf".utf8)) == ZScoreBound(-.infinity, exclusive: false))
        #expect(bound(Array("1e400".utf8)) == ZScoreBound(.infinity, exclusive: false), "an overflow is inf here")
        #expect(bound([UInt8(ascii: "5"), 0, UInt8(ascii: "x")]) == ZScoreBound(5, exclusive: false), "read up to the NUL")
        for bad in ["3 ", "x", "nan", "(nan", "((1"] {
            #expect(bound(Array(bad.utf8)) == nil, "\(bad)")
        }
    }

    @Test("zslParseLexRangeItem: - + [ ( and nothing else")
    func lexEnds() {
        func kind(_ s: String) -> String? {
            Array(s.utf8).withUnsafeBytes { b -> String? in
                switch redisLexBound(b) {
                case .minusInfinity: "-"
                case .plusInfinity: "+"
                case .inclusive(let x): "[" + String(decoding: x, as: UTF8.self)
                case .exclusive(let x): "(" + String(decoding: x, as: UTF8.self)
                case nil: nil
                }
            }
        }
        #expect(kind("-") == "-" && kind("+") == "+")
        #expect(kind("[abc") == "[abc" && kind("(abc") == "(abc" && kind("[") == "[" && kind("(") == "(")
        for bad in ["", "a", "-x", "+x", "]a"] { #expect(kind(bad) == nil, "\(bad)") }
    }

    @Test("%.17g as redis 7.0's addReplyDouble, with inf and -inf spelled as redis")
    func formatting() {
        #expect(text(1.5) == "1.5")
        #expect(text(0.1) == "0.10000000000000001")
        #expect(text(3.0000000000000004) == "3.0000000000000004")
        #expect(text(16) == "16" && text(1000) == "1000")
        #expect(text(123456789012345678) == "1.2345678901234568e+17")
        #expect(text(-0.0005) == "-0.00050000000000000001")
        #expect(text(4.9e-324) == "4.9406564584124654e-324")
        #expect(text(.infinity) == "inf" && text(-.infinity) == "-inf")
        #expect(text(-0.0) == "-0")
    }

    /// %.17g through vsnprintf, the reference for the integral fast path.
    private func printed(_ d: Double) -> String {
        var buffer = [CChar](repeating: 0, count: 40)
        _ = withVaList([d]) { vsnprintf(&buffer, 40, "%.17g", $0) }
        return String(cString: buffer)
    }

    @Test("integral scores: the fast paths read and write exactly what strtod and %.17g do")
    func integralFastPaths() {
        var values: [Double] = [0, -0.0, 1, -1, 7, 10, 99_999, -100_000, 123_456_789_012_345, -999_999_999_999_999,
                                1e15, -1e15, 1e16, 9_007_199_254_740_992, 1e17, 0.5, -2.5, 1e-3]
        for p in 0..<20 { values.append(Double(1 << (p * 2)) - 1); values.append(-Double(1 << (p * 3))) }
        for v in values {
            #expect(text(v) == printed(v), "\(v)")
        }
        #expect(text(-0.0) == "-0" && text(0) == "0")
        // Digits only (1-15, an optional minus) take the fast path; strtod reads the rest.
        func strtodValue(_ s: String) -> Double { strtod(s, nil) }
        for s in ["0", "-0", "007", "-007", "42", "-42", "123456789012345", "-999999999999999",
                  "1234567890123456", "12345678901234567890", "+5", "5.", "1e3", "0x10"] {
            let v = score(s)
            #expect(v == strtodValue(s), "\(s)")
            #expect(v?.sign == strtodValue(s).sign, "\(s): the sign of zero")
        }
        #expect(score("-") == nil && score("-x") == nil && score("1-") == nil)
    }
}
