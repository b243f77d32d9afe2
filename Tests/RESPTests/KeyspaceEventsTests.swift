// Keyspace notifications: notify-keyspace-events parsed and reported as redis 7.0's
// keyspaceEventsStringToFlags / keyspaceEventsFlagsToString (checked against redis-server
// 7.0.15's CONFIG GET), and an in-process subscriber receiving the events of SET, DEL, EXPIRE,
// LPUSH/LPOP emptying a list and RENAME, in redis's order and bytes.
import CacheEngine
import Platform
@testable import RESP
import Testing

@Suite("RESP keyspace notifications")
struct KeyspaceEventsTests {
    @Test("classes parse and format as redis 7.0's CONFIG SET/GET")
    func flagsBothWays() {
        // What redis-server 7.0.15 answers to CONFIG GET after CONFIG SET of each value.
        let redis: [(String, String)] = [
            ("", ""), ("A", "A"), ("An", "A"), ("AKE", "AKE"), ("KEA", "AKE"), ("Ag", "A"), ("Kg$", "g$K"),
            ("$lshzxetd", "$lshzxetd"), ("g$lshzxetd", "A"), ("g$lshzxetdn", "A"), ("Em", "Em"), ("x", "x"),
            ("KEm", "KEm"), ("AKEm", "AKEm"), ("El", "lE"), ("KEn", "nKE"),
        ]
        for (set, get) in redis {
            let flags = KeyspaceEvents.parse(Array(set.utf8))
            #expect(flags != nil, "\(set)")
            #expect(KeyspaceEvents.format(flags ?? -1) == get, "\(set)")
        }
        #expect(KeyspaceEvents.parse(Array("An".utf8))! & KeyspaceEvents.new != 0)
        for bad in ["foo", "K E", "KEa", "*"] { #expect(KeyspaceEvents.parse(Array(bad.utf8)) == nil, "\(bad)") }
    }

    @Test("a subscriber sees SET, DEL, EXPIRE, LPUSH/LPOP emptying a list and RENAME; CONFIG refuses a bad class")
    func subscriberSeesEvents() throws {
        var settings = EngineSettings()
        settings.hashPowerInit = 12
        settings.memoryLimit = 16 * 1024 * 1024
        let engine = try #require(CacheEngine(settings: settings, clock: ProcessClock(unixNow: 1_700_000_000)))
        let service = RESPService(engine: engine, settings: RESPSettings(), workers: 1)
        let subOut = OutputBuffer(), cmdOut = OutputBuffer()
        let sub = service.makeHandler(workerIndex: 0, fd: -1, output: subOut, waker: ConnectionWaker {})
        let cmd = service.makeHandler(workerIndex: 0, fd: -1, output: cmdOut, waker: ConnectionWaker {})
        defer { sub.connectionClosed(); cmd.connectionClosed(); subOut.reset(); cmdOut.reset() }
        func send(_ c: ConnectionHandler, _ output: OutputBuffer, _ words: [String]) -> String {
            _ = multibulk(words).withUnsafeBytes { c.process($0, output: output) }
            var reply: [UInt8] = []
            output.drain { reply.append(contentsOf: $0) }
            return String(decoding: reply, as: UTF8.self)
        }
        func pushes() -> [String] {
            _ = sub.deliverPushes(output: subOut)
            var bytes: [UInt8] = []
            subOut.drain { bytes.append(contentsOf: $0) }
            // One message per "*4\r\n" (pmessage).
            let text = String(decoding: bytes, as: UTF8.self)
            guard !text.isEmpty else { return [] }
            return text.split(separator: "*4\r\n", omittingEmptySubsequences: true).map(String.init)
        }
        func pm(_ channel: String, _ message: String) -> String {
            "$8\r\npmessage\r\n$10\r\n__key*__:*\r\n$\(channel.utf8.count)\r\n\(channel)\r\n$\(message.utf8.count)\r\n\(message)\r\n"
        }
        func both(_ key: String, _ event: String) -> [String] {
            [pm("__keyspace@0__:" + key, event), pm("__keyevent@0__:" + event, key)]
        }
        #expect(send(sub, subOut, ["PSUBSCRIBE", "__key*__:*"]).hasPrefix("*3\r\n$10\r\npsubscribe"))
        #expect(send(cmd, cmdOut, ["CONFIG", "SET", "notify-keyspace-events", "K E"])
                == "-ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'.\r\n")
        #expect(send(cmd, cmdOut, ["SET", "k", "1"]) == "+OK\r\n")
        #expect(pushes().isEmpty, "off by default")
        #expect(send(cmd, cmdOut, ["CONFIG", "SET", "notify-keyspace-events", "KEA"]) == "+OK\r\n")
        #expect(send(cmd, cmdOut, ["CONFIG", "GET", "notify-keyspace-events"]) == "*2\r\n$22\r\nnotify-keyspace-events\r\n$3\r\nAKE\r\n")
        _ = send(cmd, cmdOut, ["SET", "k", "2", "EX", "100"])
        #expect(pushes() == both("k", "set") + both("k", "expire"))
        _ = send(cmd, cmdOut, ["EXPIRE", "k", "50"])
        #expect(pushes() == both("k", "expire"))
        _ = send(cmd, cmdOut, ["RENAME", "k", "k2"])
        #expect(pushes() == both("k", "rename_from") + both("k2", "rename_to"))
        #expect(send(cmd, cmdOut, ["DEL", "k2", "missing"]) == ":1\r\n")
        #expect(pushes() == both("k2", "del"))
        _ = send(cmd, cmdOut, ["LPUSH", "l", "a", "b"])
        #expect(pushes() == both("l", "lpush"))
        _ = send(cmd, cmdOut, ["LPOP", "l"])
        #expect(pushes() == both("l", "lpop"))
        _ = send(cmd, cmdOut, ["LPOP", "l"])
        #expect(pushes() == both("l", "lpop") + both("l", "del"))
        // E only, list class only: the keyevent half, and nothing for a string.
        _ = send(cmd, cmdOut, ["CONFIG", "SET", "notify-keyspace-events", "El"])
        _ = send(cmd, cmdOut, ["SET", "s", "1"])
        _ = send(cmd, cmdOut, ["RPUSH", "l", "x"])
        #expect(pushes() == [pm("__keyevent@0__:rpush", "l")])
    }
}
