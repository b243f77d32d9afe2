// The binary protocol through the connection handler: request framing split at every byte,
// quiet commands, error bodies, and the -B choices. memccapable -b (black-box) covers each
// command's semantics.
import CacheEngine
import MemcacheProtocol
import Testing

/// A binary request: header fields big-endian, opaque as given.
func binaryRequest(_ opcode: UInt8, key: String = "", extras: [UInt8] = [], value: [UInt8] = [],
                   opaque: UInt32 = 0x0102_0304, cas: UInt64 = 0) -> [UInt8] {
    let k = Array(key.utf8)
    var out: [UInt8] = [0x80, opcode, UInt8(k.count >> 8), UInt8(k.count & 0xff), UInt8(extras.count), 0, 0, 0]
    let body = UInt32(extras.count + k.count + value.count)
    out += withUnsafeBytes(of: body.bigEndian, Array.init)
    out += withUnsafeBytes(of: opaque, Array.init)
    out += withUnsafeBytes(of: cas.bigEndian, Array.init)
    return out + extras + k + value
}

/// A decoded response.
struct BinaryResponse: Equatable {
    var opcode: UInt8
    var status: UInt16
    var extras: [UInt8]
    var key: String
    var value: [UInt8]
    var opaque: UInt32
    var cas: UInt64

    /// Every response in `bytes` (nil if they do not frame exactly).
    static func all(_ bytes: [UInt8]) -> [BinaryResponse]? {
        var out: [BinaryResponse] = []
        var i = 0
        while i < bytes.count {
            guard bytes.count - i >= 24, bytes[i] == 0x81 else { return nil }
            let keyLength = Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            let extrasLength = Int(bytes[i + 4])
            let status = UInt16(bytes[i + 6]) << 8 | UInt16(bytes[i + 7])
            let body = bytes[(i + 8)..<(i + 12)].reduce(0) { $0 << 8 | Int($1) }
            let opaque = bytes[(i + 12)..<(i + 16)].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            let cas = bytes[(i + 16)..<(i + 24)].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard bytes.count - i - 24 >= body else { return nil }
            let b = Array(bytes[(i + 24)..<(i + 24 + body)])
            out.append(BinaryResponse(opcode: bytes[i + 1], status: status, extras: Array(b[0..<extrasLength]),
                                      key: String(decoding: b[extrasLength..<(extrasLength + keyLength)], as: UTF8.self),
                                      value: Array(b[(extrasLength + keyLength)...]), opaque: opaque, cas: cas))
            i += 24 + body
        }
        return out
    }
}

@Suite("binary protocol")
struct BinaryProtocolTests {
    static let setExtras: [UInt8] = [0, 0, 0, 7, 0, 0, 0, 0]  // flags 7, no expiry

    @Test("set then getk, the requests split at every byte, answer the same")
    func splitAtEveryByte() throws {
        let request = binaryRequest(0x01, key: "k", extras: Self.setExtras, value: Array("hello".utf8))
            + binaryRequest(0x0c, key: "k")
        var reference: [BinaryResponse]?
        for cut in 0...request.count {
            let c = try Client()
            var reply = c.feed(request[0..<cut])
            reply += c.feed(request[cut...])
            let responses = try #require(BinaryResponse.all(reply), "cut at \(cut)")
            if reference == nil { reference = responses }
            #expect(responses == reference, "cut at \(cut)")
        }
        let r = try #require(reference)
        #expect(r.count == 2)
        #expect(r[0].opcode == 0x01 && r[0].status == 0 && r[0].cas != 0 && r[0].opaque == 0x0102_0304)
        #expect(r[1].status == 0 && r[1].key == "k" && r[1].value == Array("hello".utf8) && r[1].extras == [0, 0, 0, 7])
        #expect(r[1].cas == r[0].cas)
    }

    @Test("quiet gets answer hits only; a noop ends the batch; misses of get and getk")
    func quietAndMisses() throws {
        let c = try Client()
        _ = c.feed(binaryRequest(0x11, key: "a", extras: Self.setExtras, value: [0x31]))  // setq: no answer
        let reply = c.feed(binaryRequest(0x09, key: "missing") + binaryRequest(0x0d, key: "a")
                           + binaryRequest(0x00, key: "missing") + binaryRequest(0x0c, key: "missing")
                           + binaryRequest(0x0a))
        let r = try #require(BinaryResponse.all(reply))
        #expect(r.map(\.opcode) == [0x0d, 0x00, 0x0c, 0x0a])
        #expect(r[0].key == "a" && r[0].value == [0x31])
        #expect(r[1].status == 1 && r[1].value == Array("Not found".utf8))
        #expect(r[2].status == 1 && r[2].key == "missing")
        #expect(r[3].status == 0 && r[3].value.isEmpty)
    }

    @Test("expiration times are unsigned, as memcached reads them: past 2^31 a far-future Unix time, not an expired one")
    func unsignedExpiration() throws {
        let c = try Client()
        let far: [UInt8] = [0xd6, 0x00, 0x00, 0x00]  // 3,586,129,920: a Unix time in 2083
        let incrExtras: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 1] + [0, 0, 0, 0, 0, 0, 0, 5] + far
        let reply = c.feed(binaryRequest(0x01, key: "s", extras: [0, 0, 0, 0] + far, value: [0x31])
                           + binaryRequest(0x05, key: "n", extras: incrExtras)
                           + binaryRequest(0x01, key: "t", extras: Self.setExtras, value: [0x32])
                           + binaryRequest(0x1c, key: "t", extras: far)
                           + binaryRequest(0x0c, key: "s") + binaryRequest(0x0c, key: "n") + binaryRequest(0x0c, key: "t"))
        let r = try #require(BinaryResponse.all(reply))
        #expect(r.map(\.status) == [0, 0, 0, 0, 0, 0, 0])
        #expect(r.suffix(3).map(\.value) == [[0x31], Array("5".utf8), [0x32]])
    }

    @Test("errors: add on an existing key, replace of a missing one, non-numeric incr, unknown opcode")
    func errorStatuses() throws {
        let c = try Client()
        let incrExtras: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 1] + [UInt8](repeating: 0, count: 8) + [0xff, 0xff, 0xff, 0xff]
        let reply = c.feed(binaryRequest(0x01, key: "s", extras: Self.setExtras, value: Array("abc".utf8))
                           + binaryRequest(0x02, key: "s", extras: Self.setExtras, value: [0x31])
                           + binaryRequest(0x03, key: "nope", extras: Self.setExtras, value: [0x31])
                           + binaryRequest(0x05, key: "s", extras: incrExtras)
                           + binaryRequest(0x05, key: "nope", extras: incrExtras)
                           + binaryRequest(0x42))
        let r = try #require(BinaryResponse.all(reply))
        #expect(r.map(\.status) == [0, 2, 1, 6, 1, 0x81])
        #expect(r[1].value == Array("Data exists for key.".utf8))
        #expect(r[3].value == Array("Non-numeric server-side value for incr or decr".utf8))
        #expect(r[5].value == Array("Unknown command".utf8))
    }

    @Test("a malformed store (wrong extras) is answered Invalid arguments, then the connection closes")
    func malformedStoreCloses() throws {
        let c = try Client()
        let reply = c.feed(binaryRequest(0x01, key: "k", extras: [0, 0, 0, 0], value: [0x31]))
        let r = try #require(BinaryResponse.all(reply))
        #expect(r.count == 1 && r[0].status == 4 && r[0].value == Array("Invalid arguments".utf8))
        #expect(c.closed)
    }

    @Test("-B ascii closes a binary client; -B binary closes a text client")
    func bindingProtocol() throws {
        var ascii = ProtocolSettings()
        ascii.bindingProtocol = "ascii"
        let a = try Client(protocolSettings: ascii)
        #expect(a.feed(binaryRequest(0x0a)).isEmpty && a.closed)
        var binary = ProtocolSettings()
        binary.bindingProtocol = "binary"
        let b = try Client(protocolSettings: binary)
        #expect(b.send("version\r\n").isEmpty && b.closed)
    }
}
