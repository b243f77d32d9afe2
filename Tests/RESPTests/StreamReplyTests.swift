// Stream replies written straight from the stream batches (appendStreamEntry: the entry's ID and
// its fields from the compact record, the counts as deferred lines): XRANGE, XREVRANGE, XREAD and
// XREADGROUP in RESP2 and RESP3 against replies built here independently: the batch's first entry
// and later ones, field names the master's and other ones, more fields, empty names and values,
// IDs of one and two length digits, replies after other text in a pipeline, replies that outgrow
// the output arena mid-reply, a stream not served between two that are (taken back), and a
// history read of a deleted entry; XCLAIM, XAUTOCLAIM and XINFO STREAM FULL, whose entries are
// written the same way (their counts, and XAUTOCLAIM's cursor, deferred); plain XINFO STREAM's
// first and last entries.
import CacheEngine
import Platform
@testable import RESP
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("RESP stream replies from the batch")
struct StreamReplyTests {
    typealias Client = TransactionTests.Client

    /// An entry's reply as redis writes it: `*2`, the ID bulk, the fields' array.
    static func entry(_ id: String, _ fields: [String]) -> String {
        var s = "*2\r\n$\(id.utf8.count)\r\n\(id)\r\n*\(fields.count)\r\n"
        for f in fields { s += "$\(f.utf8.count)\r\n\(f)\r\n" }
        return s
    }

    static let entries: [(String, [String])] = [
        ("1-1", ["f", "v"]),                       // the batch's first entry (its names the master's)
        ("1-2", ["f", ""]),                        // the master's names, an empty value
        ("2-0", ["g", "x", "h", "y"]),             // other names, more fields
        ("3-5", ["f", "zz"]),
        ("1000000000000-99", ["", ""]),            // an empty name and value, a two-digit ID length
        ("1000000000001-7", ["f", String(repeating: "q", count: 300)]),
    ]

    func filled() throws -> Client {
        let c = try Client()
        for (id, fields) in Self.entries {
            #expect(c.send(["XADD", "s", id] + fields) == "$\(id.utf8.count)\r\n\(id)\r\n")
        }
        return c
    }

    @Test("XRANGE / XREVRANGE: every entry shape as redis writes it, in RESP2 and RESP3, after other replies")
    func ranges() throws {
        let c = try filled()
        let all = Self.entries.map { Self.entry($0.0, $0.1) }
        for hello in ["2", "3"] {
            _ = c.send(["HELLO", hello])
            #expect(c.send(["XRANGE", "s", "-", "+"]) == "*\(all.count)\r\n" + all.joined())
            #expect(c.send(["XREVRANGE", "s", "+", "-"]) == "*\(all.count)\r\n" + all.reversed().joined())
            // After other text in the same pipeline, and followed by more.
            #expect(c.send(["PING"], ["XRANGE", "s", "2", "(1000000000000-99"], ["PING"])
                    == "+PONG\r\n*2\r\n" + all[2] + all[3] + "+PONG\r\n")
            #expect(c.send(["XRANGE", "s", "4", "5"], ["XRANGE", "none", "-", "+"]) == "*0\r\n*0\r\n")
            #expect(c.send(["XRANGE", "s", "-", "+", "COUNT", "1"], ["XREVRANGE", "s", "+", "-", "COUNT", "2"])
                    == "*1\r\n" + all[0] + "*2\r\n" + all[5] + all[4])
        }
    }

    /// 150 entries `i-i f <i bytes>` under `big` (2 KB of output is passed after a few dozen);
    /// their expected replies in order.
    static func addGrowingEntries(_ c: Client) -> [String] {
        (1...150).map { i in
            let v = String(repeating: Character(UnicodeScalar(UInt8(97 + i % 26))), count: i)
            _ = c.send(["XADD", "big", "\(i)-\(i)", "f", v])
            return entry("\(i)-\(i)", ["f", v])
        }
    }

    @Test("a range that outgrows the output arena (2 KB) mid-reply, its count written once the entries are")
    func largeRange() throws {
        let c = try Client()
        let expected = Self.addGrowingEntries(c)
        #expect(c.send(["PING"], ["XRANGE", "big", "-", "+"]) == "+PONG\r\n*150\r\n" + expected.joined())
        #expect(c.send(["XREVRANGE", "big", "+", "-", "COUNT", "120"]) == "*120\r\n" + expected.reversed().prefix(120).joined())
    }

    @Test("XREAD: several streams, one not served between two that are; RESP2 arrays and RESP3 maps; none served: null")
    func xread() throws {
        let c = try filled()
        _ = c.send(["XADD", "t", "5-0", "a", "b"])
        let s = Self.entries.map { Self.entry($0.0, $0.1) }
        let t = Self.entry("5-0", ["a", "b"])
        #expect(c.send(["XREAD", "COUNT", "2", "STREAMS", "s", "none", "t", "3-5", "0", "0"])
                == "*2\r\n*2\r\n$1\r\ns\r\n*2\r\n" + s[4] + s[5] + "*2\r\n$1\r\nt\r\n*1\r\n" + t)
        // `t` has nothing past 5-0: left out, the count says one stream.
        #expect(c.send(["XREAD", "STREAMS", "t", "s", "5-0", "1000000000000-99"]) == "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n" + s[5])
        #expect(c.send(["XREAD", "STREAMS", "s", "t", "$", "$"]) == "*-1\r\n")
        _ = c.send(["HELLO", "3"])
        #expect(c.send(["XREAD", "COUNT", "1", "STREAMS", "s", "t", "0", "0"])
                == "%2\r\n$1\r\ns\r\n*1\r\n" + s[0] + "$1\r\nt\r\n*1\r\n" + t)
        #expect(c.send(["XREAD", "STREAMS", "t", "5-0"]) == "_\r\n")
    }

    @Test("XREADGROUP: new entries, the history (a deleted entry with no fields), RESP2 and RESP3")
    func xreadgroup() throws {
        let c = try filled()
        let s = Self.entries.map { Self.entry($0.0, $0.1) }
        #expect(c.send(["XGROUP", "CREATE", "s", "g", "0"]) == "+OK\r\n")
        #expect(c.send(["XREADGROUP", "GROUP", "g", "c", "COUNT", "3", "STREAMS", "s", ">"])
                == "*1\r\n*2\r\n$1\r\ns\r\n*3\r\n" + s[0] + s[1] + s[2])
        #expect(c.send(["XDEL", "s", "1-2"]) == ":1\r\n")
        #expect(c.send(["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0"])
                == "*1\r\n*2\r\n$1\r\ns\r\n*3\r\n" + s[0] + "*2\r\n$3\r\n1-2\r\n*-1\r\n" + s[2])
        _ = c.send(["HELLO", "3"])
        #expect(c.send(["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0"])
                == "%1\r\n$1\r\ns\r\n*3\r\n" + s[0] + "*2\r\n$3\r\n1-2\r\n_\r\n" + s[2])
        // `t`'s group has nothing new: its key, written before the group read found that, is
        // taken back, the count says one stream.
        #expect(c.send(["XADD", "t", "5-0", "a", "b"], ["XGROUP", "CREATE", "t", "g", "$"]) == "$3\r\n5-0\r\n+OK\r\n")
        #expect(c.send(["XREADGROUP", "GROUP", "g", "d", "STREAMS", "t", "s", "t", ">", ">", ">"])
                == "%1\r\n$1\r\ns\r\n*3\r\n" + s[3] + s[4] + s[5])
        // Nothing new: null.
        #expect(c.send(["XREADGROUP", "GROUP", "g", "d", "STREAMS", "s", ">"]) == "_\r\n")
        // A stream not served between two that are: its key, written after the first one's
        // entries, is taken back, and the second's entries follow the first's.
        #expect(c.send(["XADD", "s", "1000000000002-0", "f", "v"]) == "$15\r\n1000000000002-0\r\n")
        #expect(c.send(["XADD", "u", "1-0", "x", "y"], ["XGROUP", "CREATE", "u", "g", "0"]) == "$3\r\n1-0\r\n+OK\r\n")
        #expect(c.send(["XREADGROUP", "GROUP", "g", "d", "STREAMS", "s", "t", "u", ">", ">", ">"])
                == "%2\r\n$1\r\ns\r\n*1\r\n" + Self.entry("1000000000002-0", ["f", "v"]) + "$1\r\nu\r\n*1\r\n" + Self.entry("1-0", ["x", "y"]))
        _ = c.send(["HELLO", "2"])
        #expect(c.send(["XADD", "s", "1000000000003-0", "f", "w"], ["XADD", "u", "2-0", "x", "z"]) == "$15\r\n1000000000003-0\r\n$3\r\n2-0\r\n")
        #expect(c.send(["XREADGROUP", "GROUP", "g", "d", "STREAMS", "s", "t", "u", ">", ">", ">"])
                == "*2\r\n*2\r\n$1\r\ns\r\n*1\r\n" + Self.entry("1000000000003-0", ["f", "w"])
                + "*2\r\n$1\r\nu\r\n*1\r\n" + Self.entry("2-0", ["x", "z"]))
    }

    @Test("XREVRANGE: entries written newest first from their batches across nodes, COUNT cutting inside one, past the arena, deleted entries skipped")
    func reverseAcrossNodes() throws {
        let c = try Client()
        var expected: [(id: String, entry: String)] = []
        // 250 entries: three nodes (100, 100, 50) and as many batches; values growing to 250 bytes.
        for i in 1...250 {
            let v = String(repeating: Character(UnicodeScalar(UInt8(97 + i % 26))), count: i)
            let fields = i % 7 == 0 ? ["g", v, "h", "x"] : ["f", v]
            _ = c.send(["XADD", "r", "\(i)-\(i * 3)"] + fields)
            expected.append(("\(i)-\(i * 3)", Self.entry("\(i)-\(i * 3)", fields)))
        }
        #expect(c.send(["XDEL", "r", "150-450", "101-303", "250-750"]) == ":3\r\n")
        let live = expected.filter { !["150-450", "101-303", "250-750"].contains($0.id) }.map(\.entry)
        let back = Array(live.reversed())
        for hello in ["2", "3"] {
            _ = c.send(["HELLO", hello])
            #expect(c.send(["PING"], ["XREVRANGE", "r", "+", "-"], ["PING"]) == "+PONG\r\n*\(back.count)\r\n" + back.joined() + "+PONG\r\n")
            // COUNT ending inside the first node reached and inside a middle one.
            #expect(c.send(["XREVRANGE", "r", "+", "-", "COUNT", "30"]) == "*30\r\n" + back.prefix(30).joined())
            #expect(c.send(["XREVRANGE", "r", "+", "-", "COUNT", "130"]) == "*130\r\n" + back.prefix(130).joined())
            // Bounds inside nodes (one exclusive), spanning a node boundary.
            let inRange = expected.filter { e in
                let ms = Int(e.id.split(separator: "-")[0])!
                return ms >= 95 && ms < 160 && !["150-450", "101-303"].contains(e.id)
            }.map(\.entry).reversed()
            #expect(c.send(["XREVRANGE", "r", "(160-480", "95"]) == "*\(inRange.count)\r\n" + inRange.joined())
            #expect(c.send(["XREVRANGE", "r", "(160-480", "95", "COUNT", "12"]) == "*12\r\n" + inRange.prefix(12).joined())
            #expect(c.send(["XREVRANGE", "r", "99", "98-0", "COUNT", "5"]) == "*2\r\n" + expected[98].entry + expected[97].entry)
            #expect(c.send(["XREVRANGE", "r", "2000", "1000"], ["XREVRANGE", "r", "1", "2"]) == "*0\r\n*0\r\n")
        }
    }

    static func bulk(_ s: String) -> String { "$\(s.utf8.count)\r\n\(s)\r\n" }

    @Test("XCLAIM: claimed entries of every shape from the batch in the IDs' order, JUSTID, a deleted one dropped, RESP2 and RESP3")
    func xclaim() throws {
        let c = try filled()
        let s = Self.entries.map { Self.entry($0.0, $0.1) }
        #expect(c.send(["XGROUP", "CREATE", "s", "g", "0"]) == "+OK\r\n")
        _ = c.send(["XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", ">"])
        #expect(c.send(["XDEL", "s", "2-0"]) == ":1\r\n")
        for hello in ["2", "3"] {
            _ = c.send(["HELLO", hello])
            // Out of order, a deleted one (dropped), one never delivered (skipped), after other text.
            #expect(c.send(["PING"], ["XCLAIM", "s", "g", "b", "0", "1000000000001-7", "1-1", "2-0", "9-9", "1-2", "3-5", "1000000000000-99"], ["PING"])
                    == "+PONG\r\n*5\r\n" + s[5] + s[0] + s[1] + s[3] + s[4] + "+PONG\r\n")
            #expect(c.send(["XCLAIM", "s", "g", "c", "0", "3-5", "1-1", "JUSTID"]) == "*2\r\n" + Self.bulk("3-5") + Self.bulk("1-1"))
            #expect(c.send(["XCLAIM", "s", "g", "c", "3600000", "3-5"]) == "*0\r\n")
            #expect(c.send(["XCLAIM", "s", "nog", "c", "0", "3-5"]) == "-NOGROUP No such key 's' or consumer group 'nog'\r\n")
        }
    }

    @Test("XCLAIM and XAUTOCLAIM replies that outgrow the output arena (2 KB) mid-reply")
    func largeClaims() throws {
        let c = try Client()
        let expected = Self.addGrowingEntries(c)
        _ = c.send(["XGROUP", "CREATE", "big", "g", "0"])
        _ = c.send(["XREADGROUP", "GROUP", "g", "a", "STREAMS", "big", ">"])
        #expect(c.send(["PING"], ["XCLAIM", "big", "g", "b", "0"] + (1...150).map { "\($0)-\($0)" })
                == "+PONG\r\n*150\r\n" + expected.joined())
        #expect(c.send(["XAUTOCLAIM", "big", "g", "c", "0", "0", "COUNT", "120"])
                == "*3\r\n" + Self.bulk("121-121") + "*120\r\n" + expected.prefix(120).joined() + "*0\r\n")
    }

    @Test("XAUTOCLAIM: the cursor and the claimed count written after the entries; deleted IDs; JUSTID; the end's 0-0")
    func xautoclaim() throws {
        let c = try filled()
        let s = Self.entries.map { Self.entry($0.0, $0.1) }
        // A group for each protocol, every entry pending in both before 1-2 is deleted.
        for g in ["g2", "g3"] {
            #expect(c.send(["XGROUP", "CREATE", "s", g, "0"]) == "+OK\r\n")
            _ = c.send(["XREADGROUP", "GROUP", g, "a", "STREAMS", "s", ">"])
        }
        #expect(c.send(["XDEL", "s", "1-2"]) == ":1\r\n")
        for hello in ["2", "3"] {
            let g = "g" + hello
            _ = c.send(["HELLO", hello])
            // 1-1 claimed, 1-2 gone (in the deleted IDs, counted), 2-0 claimed: the cursor is 3-5.
            #expect(c.send(["XAUTOCLAIM", "s", g, "b", "0", "0", "COUNT", "3"])
                    == "*3\r\n" + Self.bulk("3-5") + "*2\r\n" + s[0] + s[2] + "*1\r\n" + Self.bulk("1-2"))
            #expect(c.send(["PING"], ["XAUTOCLAIM", "s", g, "b", "0", "3-5"], ["PING"])
                    == "+PONG\r\n*3\r\n" + Self.bulk("0-0") + "*3\r\n" + s[3] + s[4] + s[5] + "*0\r\n+PONG\r\n")
            #expect(c.send(["XAUTOCLAIM", "s", g, "c", "0", "(1-1", "COUNT", "2", "JUSTID"])
                    == "*3\r\n" + Self.bulk("1000000000000-99") + "*2\r\n" + Self.bulk("2-0") + Self.bulk("3-5") + "*0\r\n")
            #expect(c.send(["XAUTOCLAIM", "s", "nog", "b", "0", "0"]) == "-NOGROUP No such key 's' or consumer group 'nog'\r\n")
        }
    }

    @Test("XINFO STREAM FULL: the figures, then the entries straight from the batch, their count deferred; RESP2 pairs and a RESP3 map")
    func xinfoFull() throws {
        let c = try filled()
        let s = Self.entries.map { Self.entry($0.0, $0.1) }
        #expect(c.send(["XDEL", "s", "2-0"]) == ":1\r\n")
        func figures(_ entries: [String]) -> String {
            Self.bulk("length") + ":5\r\n" + Self.bulk("radix-tree-keys") + ":1\r\n" + Self.bulk("radix-tree-nodes") + ":1\r\n"
                + Self.bulk("last-generated-id") + Self.bulk("1000000000001-7") + Self.bulk("max-deleted-entry-id") + Self.bulk("2-0")
                + Self.bulk("entries-added") + ":6\r\n" + Self.bulk("recorded-first-entry-id") + Self.bulk("1-1")
                + Self.bulk("entries") + "*\(entries.count)\r\n" + entries.joined() + Self.bulk("groups") + "*0\r\n"
        }
        let live = [s[0], s[1], s[3], s[4], s[5]]
        #expect(c.send(["PING"], ["XINFO", "STREAM", "s", "FULL"], ["PING"]) == "+PONG\r\n*18\r\n" + figures(live) + "+PONG\r\n")
        #expect(c.send(["XINFO", "STREAM", "s", "FULL", "COUNT", "2"]) == "*18\r\n" + figures(Array(live.prefix(2))))
        _ = c.send(["HELLO", "3"])
        #expect(c.send(["XINFO", "STREAM", "s", "FULL", "COUNT", "0"]) == "%9\r\n" + figures(live))
    }

    @Test("XINFO STREAM: first-entry and last-entry straight from the batch, as they were copied before; deleted edges, a group, a last entry past the output arena, an empty stream; RESP2 pairs and a RESP3 map")
    func xinfoPlain() throws {
        let c = try filled()
        let s = Self.entries.map { Self.entry($0.0, $0.1) }
        func reply(_ v: String, length: Int, nodes: Int, last: String, maxDeleted: String, added: Int, recordedFirst: String,
                   groups: Int, first: String?, lastEntry: String?) -> String {
            let null = v == "2" ? "$-1\r\n" : "_\r\n"
            return (v == "2" ? "*20\r\n" : "%10\r\n")
                + Self.bulk("length") + ":\(length)\r\n" + Self.bulk("radix-tree-keys") + ":\(nodes)\r\n"
                + Self.bulk("radix-tree-nodes") + ":\(nodes)\r\n" + Self.bulk("last-generated-id") + Self.bulk(last)
                + Self.bulk("max-deleted-entry-id") + Self.bulk(maxDeleted) + Self.bulk("entries-added") + ":\(added)\r\n"
                + Self.bulk("recorded-first-entry-id") + Self.bulk(recordedFirst) + Self.bulk("groups") + ":\(groups)\r\n"
                + Self.bulk("first-entry") + (first ?? null) + Self.bulk("last-entry") + (lastEntry ?? null)
        }
        let big = String(repeating: "B", count: 5000)
        for hello in ["2", "3"] {
            _ = c.send(["HELLO", hello])
            if hello == "2" {
                // The batch's first entry (its names the master's) and one with a long value.
                #expect(c.send(["PING"], ["XINFO", "STREAM", "s"], ["PING"])
                        == "+PONG\r\n" + reply(hello, length: 6, nodes: 1, last: "1000000000001-7", maxDeleted: "0-0", added: 6,
                                                recordedFirst: "1-1", groups: 0, first: s[0], lastEntry: s[5]) + "+PONG\r\n")
                // Both edges deleted: the next live ones, not the batch's first.
                #expect(c.send(["XDEL", "s", "1-1", "1000000000001-7"]) == ":2\r\n")
                #expect(c.send(["XGROUP", "CREATE", "s", "g", "0"]) == "+OK\r\n")
            }
            #expect(c.send(["XINFO", "STREAM", "s"])
                    == reply(hello, length: 4, nodes: 1, last: "1000000000001-7", maxDeleted: "1000000000001-7", added: 6,
                             recordedFirst: "1-2", groups: 1, first: s[1], lastEntry: s[4]))
        }
        // A last entry longer than the output arena (2 KB), after other text.
        #expect(c.send(["XADD", "s", "1000000000002-0", "f", big]) == Self.bulk("1000000000002-0"))
        #expect(c.send(["PING"], ["XINFO", "STREAM", "s"])
                == "+PONG\r\n" + reply("3", length: 5, nodes: 1, last: "1000000000002-0", maxDeleted: "1000000000001-7", added: 7,
                                        recordedFirst: "1-2", groups: 1, first: s[1],
                                        lastEntry: Self.entry("1000000000002-0", ["f", big])))
        // One entry: it is both edges.
        #expect(c.send(["XTRIM", "s", "MAXLEN", "1"]) == ":4\r\n")
        let only = Self.entry("1000000000002-0", ["f", big])
        #expect(c.send(["XINFO", "STREAM", "s"])
                == reply("3", length: 1, nodes: 1, last: "1000000000002-0", maxDeleted: "1000000000001-7", added: 7,
                         recordedFirst: "1000000000002-0", groups: 1, first: only, lastEntry: only))
        // Empty: both null.
        #expect(c.send(["XTRIM", "s", "MAXLEN", "0"]) == ":1\r\n")
        for hello in ["2", "3"] {
            _ = c.send(["HELLO", hello])
            #expect(c.send(["XINFO", "STREAM", "s"])
                    == reply(hello, length: 0, nodes: 0, last: "1000000000002-0", maxDeleted: "1000000000001-7", added: 7,
                             recordedFirst: "0-0", groups: 1, first: nil, lastEntry: nil))
        }
    }

    @Test("XADD `*` in a pipeline: each on the command's time (one Unix clock read a read), IDs increasing; a pinned clock wins")
    func xaddCommandTime() throws {
        let c = try Client()
        func unixMs() -> UInt64 {
            var t = timespec()
            clock_gettime(CLOCK_REALTIME, &t)
            return UInt64(t.tv_sec) * 1000 + UInt64(t.tv_nsec) / 1_000_000
        }
        let before = unixMs()
        let reply = c.send(["XADD", "t", "*", "f", "v"], ["PING"], ["XADD", "t", "*", "f", "v"], ["XADD", "t", "*", "g", "w"],
                           ["XADD", "t", "*", "f", "v"])
        let after = unixMs()
        let ids = reply.split(separator: "\r\n").filter { $0.contains("-") }.map { line in
            line.split(separator: "-").map { UInt64($0)! }
        }
        #expect(ids.count == 4)
        for (i, id) in ids.enumerated() {
            #expect(id[0] >= before && id[0] <= after, "the ID's ms on the Unix clock")
            if i > 0 { #expect(id[0] > ids[i - 1][0] || (id[0] == ids[i - 1][0] && id[1] > ids[i - 1][1])) }
        }
        c.engine.clock.setMilliseconds(5000)
        #expect(c.send(["XADD", "p", "*", "f", "v"], ["XADD", "p", "*", "f", "v"]) == "$6\r\n5000-0\r\n$6\r\n5000-1\r\n")
        c.engine.clock.setMilliseconds(7000)
        #expect(c.send(["XADD", "p", "*", "f", "v"]) == "$6\r\n7000-0\r\n")
    }
}
