// The binary protocol's STAT, group by group, against memcached 1.6.18 (Debian's /usr/bin/memcached)
// started with the same options: the statuses and the ordered key lists of every group memcached's
// process_bin_stat answers ("", settings, items, slabs, sizes, sizes_enable/disable, detail
// on/dump/off, reset) and of those it refuses (conns, `detail` with another word, an unknown group) must be
// memcached's; swiftcached's own lines only after memcached's, from the documented lists.
import Foundation
import Testing
import TestSupport
@testable import swiftcached

private let memcachedBinary = IntegrationPaths.findExecutable("memcached", extraDirectories: ["/usr/bin", "/usr/local/bin"])

/// One binary response: status, key, value.
struct BinaryStatPacket: Equatable, CustomStringConvertible {
    let status: UInt16
    let key: String
    let value: [UInt8]
    var description: String { "\(status) \(key)" }
}

extension RawConnection {
    func sendBytes(_ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            off += n
        }
    }

    /// Exactly `count` bytes, or nil when the peer closes or 5 s pass.
    func receiveBytes(_ count: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = out.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, count - got, 0) }
            if n <= 0 { return nil }
            got += n
        }
        return out
    }

    /// A binary request with `key` as its key and body, no extras.
    static func binaryRequest(opcode: UInt8, key: String) -> [UInt8] {
        let k = Array(key.utf8)
        var h = [UInt8](repeating: 0, count: 24)
        h[0] = 0x80
        h[1] = opcode
        h[2] = UInt8(k.count >> 8); h[3] = UInt8(k.count & 0xff)
        h[8] = UInt8((k.count >> 24) & 0xff); h[9] = UInt8((k.count >> 16) & 0xff)
        h[10] = UInt8((k.count >> 8) & 0xff); h[11] = UInt8(k.count & 0xff)
        return h + k
    }

    /// Responses until (and with) the first whose key is empty, or until `count` responses when
    /// given; nil entries end it early (closed or timed out: recorded as status 0xffff).
    func binaryResponses(count: Int? = nil) -> [BinaryStatPacket] {
        var out: [BinaryStatPacket] = []
        while count.map({ out.count < $0 }) ?? true {
            guard let h = receiveBytes(24) else {
                out.append(BinaryStatPacket(status: 0xffff, key: "<no reply>", value: []))
                return out
            }
            let keyLength = Int(h[2]) << 8 | Int(h[3])
            let extras = Int(h[4])
            let status = UInt16(h[6]) << 8 | UInt16(h[7])
            let body = Int(h[8]) << 24 | Int(h[9]) << 16 | Int(h[10]) << 8 | Int(h[11])
            guard let b = body == 0 ? [] : receiveBytes(body) else {
                out.append(BinaryStatPacket(status: 0xffff, key: "<short body>", value: []))
                return out
            }
            let key = String(decoding: b[extras..<(extras + keyLength)], as: UTF8.self)
            out.append(BinaryStatPacket(status: status, key: key, value: Array(b[(extras + keyLength)...])))
            if count == nil && keyLength == 0 { return out }
        }
        return out
    }
}

@Suite("binary STAT groups as memcached 1.6.18's", .serialized, .enabled(if: memcachedBinary != nil, "memcached is not installed"),
       .hangGuard)
struct BinaryStatParityTests {
    /// Per-class names with the class number taken out ("items:1:number" → "items:N:number").
    static func shape(_ name: String) -> String {
        name.split(separator: ":").map { $0.allSatisfy(\.isNumber) ? "N" : String($0) }.joined(separator: ":")
    }

    /// The names swiftcached may print after memcached's in a group.
    static func ownNames(_ group: String) -> Set<String> {
        switch group {
        case "": Set(ownStatsNames)
        case "settings": Set(SettingsTable.entries.drop { $0.name != SettingsTable.firstOwnLine }.map(\.name))
        default: []
        }
    }

    static let stat: UInt8 = 0x10, noop: UInt8 = 0x0a

    @Test("every group: statuses, names and order", arguments: [[], ["-o", "track_sizes"]])
    func groups(options: [String]) async throws {
        let theirs = try await ServerProcess.start(options, binary: memcachedBinary!)
        defer { theirs.stop() }
        let ours = try await ServerProcess.start(options)
        defer { ours.stop() }
        // (group, whether the reply has no empty terminator and a NOOP follows to end it). Not a
        // bare "detail": memcached compares " on" past the key's end (strncmp on the read buffer),
        // so its answer depends on what the buffer held before.
        let groups: [(String, Bool)] = [
            ("", false), ("settings", false), ("items", false), ("slabs", false), ("sizes", false),
            ("sizes_enable", true), ("sizes", false), ("sizes_disable", true), ("sizes", false),
            ("conns", false), ("detail on", false), ("detail dump", false), ("detail off", false),
            ("detail bogus", false), ("nosuchgroup", false), ("reset", false),
            ("items", false), ("slabs", false), ("", false),
        ]
        var replies: [[[BinaryStatPacket]]] = [[], []]
        for (i, server) in [theirs, ours].enumerated() {
            let text = try RawConnection(port: server.port)
            text.send("set a 0 0 1\r\n1\r\nset b:x 0 0 300\r\n\(String(repeating: "x", count: 300))\r\n")
            _ = text.receive(until: "STORED\r\nSTORED\r\n")
            let c = try RawConnection(port: server.port)
            for (group, needsNoop) in groups {
                var request = RawConnection.binaryRequest(opcode: Self.stat, key: group)
                if needsNoop { request += RawConnection.binaryRequest(opcode: Self.noop, key: "") }
                c.sendBytes(request)
                replies[i].append(c.binaryResponses())
                if group == "detail on" {
                    // A prefix to dump: one get and one set under prefix "b".
                    text.send("get b:x\r\nset b:y 0 0 1\r\n2\r\n")
                    _ = text.receive(until: "STORED\r\n")
                }
            }
        }
        for (n, (group, _)) in groups.enumerated() {
            let expected = replies[0][n], got = replies[1][n]
            #expect(!expected.isEmpty && expected.last?.status != 0xffff, "memcached did not answer STAT \(group): \(expected)")
            let shapeOf = { (p: BinaryStatPacket) in "\(p.status) \(Self.shape(p.key))" }
            let theirShapes = expected.dropLast().map(shapeOf), ourShapes = got.dropLast().map(shapeOf)
            #expect(Array(ourShapes.prefix(theirShapes.count)) == theirShapes,
                    "STAT \(group) \(options): memcached's \(theirShapes), swiftcached's \(ourShapes)")
            let extra = ourShapes.dropFirst(theirShapes.count).map { String($0.dropFirst(2)) }
            #expect(extra.allSatisfy { Self.ownNames(group).contains($0) }, "STAT \(group): undocumented extra keys \(extra)")
            #expect(got.last.map(shapeOf) == expected.last.map(shapeOf), "STAT \(group): last response \(String(describing: got.last)), memcached's \(String(describing: expected.last))")
            if group == "detail dump" || group.hasPrefix("sizes") || group == "conns" || group == "nosuchgroup" {
                #expect(got.map(\.value) == expected.map(\.value), "STAT \(group): values differ: \(got.map { String(decoding: $0.value, as: UTF8.self) }) vs \(expected.map { String(decoding: $0.value, as: UTF8.self) })")
            }
        }
    }

    // Audit of issue 12: STAT with the key `detail` alone. memcached reads " on"/" off"/" dump"
    // past the key's end in its read buffer; on a fresh connection with a NOOP after it that is
    // the NOOP's header, so it answers Not found, then the NOOP.
    @Test("STAT detail with no argument, then NOOP, on a fresh connection: memcached's packets")
    func bareDetail() async throws {
        var replies: [[BinaryStatPacket]] = [[], []]
        for (i, binary) in [memcachedBinary, nil].enumerated() {
            let server = try await ServerProcess.start([], binary: binary)
            defer { server.stop() }
            let c = try RawConnection(port: server.port)
            c.sendBytes(RawConnection.binaryRequest(opcode: Self.stat, key: "detail") + RawConnection.binaryRequest(opcode: Self.noop, key: ""))
            replies[i] = c.binaryResponses()
        }
        #expect(replies[0].first?.status == 1 && String(decoding: replies[0].first?.value ?? [], as: UTF8.self) == "Not found", "\(replies[0])")
        #expect(replies[1] == replies[0])
    }
}
