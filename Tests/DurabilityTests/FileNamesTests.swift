// Names to file names: safe names stand for themselves, anything else round-trips, long names
// are shortened with a hash.
import Durability
import Testing

struct FileNamesTests {
    private func encode(_ bytes: [UInt8]) -> String { bytes.withUnsafeBytes { FileNames.encode($0) } }

    @Test func safeNamesMapToThemselves() {
        let safe = ["q", "jq", "orders", "a.b", "a..b", "x:y", "under_score", "da-sh", "Mixed.Case-09:_",
                    "trailing.", "...a", "a.", String(repeating: "z", count: 200)]
        for name in safe {
            let n = name.hasPrefix(".") ? "x" + name : name
            #expect(FileNames.encode(n) == n, "\(n)")
            #expect(FileNames.decode(n) == Array(n.utf8))
        }
    }

    @Test func otherBytesAreEscapedAndRoundTrip() {
        #expect(encode([]) == "%")
        #expect(FileNames.decode("%") == [])
        #expect(encode(Array("a/b".utf8)) == "a%2Fb")
        #expect(encode(Array("100%".utf8)) == "100%25")
        #expect(encode([0]) == "%00")
        #expect(encode([0xff]) == "%FF")
        #expect(encode(Array("a b~c".utf8)) == "a%20b%7Ec")
        #expect(encode(Array(".".utf8)) == "%2E")
        #expect(encode(Array("..".utf8)) == "%2E.")
        #expect(encode(Array(".hidden".utf8)) == "%2Ehidden")
        #expect(FileNames.encode("é") == "%C3%A9")

        var samples: [[UInt8]] = [[], [0], [0xff], Array("/".utf8), Array("%".utf8), Array("%25".utf8),
                                  Array("a/../b".utf8), [0, 0xff, 0x25, 0x2f, 0x2e], Array(0...255),
                                  Array("~".utf8), Array(" ".utf8), Array("%2F".utf8)]
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<300 {
            var s: [UInt8] = []
            seed = seed &* 6_364_136_223_846_793_005 &+ 1
            for _ in 0..<Int(seed >> 58) {
                seed = seed &* 6_364_136_223_846_793_005 &+ 1
                s.append(UInt8(truncatingIfNeeded: seed >> 33))
            }
            samples.append(s)
        }
        for s in samples {
            let f = encode(s)
            let bytes = Array(f.utf8)
            #expect(!bytes.contains(0) && !bytes.contains(UInt8(ascii: "/")))
            #expect(f != "." && f != ".." && !f.hasPrefix("."))
            #expect(!f.isEmpty && bytes.count <= FileNames.maxLength)
            if FileNames.isHashed(f) { continue }
            #expect(FileNames.decode(f) == s, "\(s) -> \(f)")
        }
    }

    @Test func onlyCanonicalEncodingsDecode() {
        for bad in ["", "a/b", "%41", "%2f", "%2", "%G0", "a%", "%%", ".x", "a b", "a~b", "é"] {
            #expect(FileNames.decode(bad) == nil, "\(bad)")
        }
    }

    @Test func overLongNamesAreShortenedWithAHash() {
        let long = String(repeating: "a", count: 201)
        let f = FileNames.encode(long)
        #expect(f.utf8.count <= FileNames.maxLength)
        #expect(FileNames.isHashed(f) && FileNames.decode(f) == nil)
        #expect(f.hasPrefix(String(repeating: "a", count: 183) + "~"))
        #expect(f.utf8.count == 200)
        // Same long prefix, different ends: different names. Stable across calls.
        #expect(FileNames.encode(long + "b") != f)
        #expect(FileNames.encode(long) == f)
        // An escape is never cut in half.
        let slashes = [UInt8](repeating: UInt8(ascii: "/"), count: 100)
        let g = encode(slashes)
        #expect(FileNames.isHashed(g))
        let prefix = g.prefix { $0 != "~" }
        #expect(prefix.utf8.count % 3 == 0 && prefix.utf8.count == 183)
        // 66 escaped bytes (198 characters) still fit.
        #expect(!FileNames.isHashed(encode([UInt8](repeating: 0, count: 66))))
        #expect(FileNames.isHashed(encode([UInt8](repeating: 0, count: 67))))
    }
}
