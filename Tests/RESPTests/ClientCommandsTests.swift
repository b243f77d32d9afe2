// CLIENT KILL and UNBLOCK reach another connection only through its `RESPClient` and its waker:
// the victim is out of the registry at once and closes itself when woken; UNBLOCK ends a blocked
// state exactly once. CLIENT REPLY withholds replies; DEBUG SLEEP parks and answers at its
// timeout. COMMAND's table and its generated metadata agree.
import CacheEngine
import Platform
@testable import RESP
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("RESP CLIENT, COMMAND and DEBUG in process")
struct ClientCommandsTests {
    private final class Wakes: Sendable {
        let count = Atomic<Int>(0)
    }

    private struct Client {
        let handler: ConnectionHandler
        let output: OutputBuffer
        let wakes: Wakes

        func send(_ words: [String]) -> (String, HandlerAction) {
            let (_, action) = multibulk(words).withUnsafeBytes { handler.process($0, output: output) }
            return (take(), action)
        }

        func take() -> String {
            var reply: [UInt8] = []
            output.drain { reply.append(contentsOf: $0) }
            return String(decoding: reply, as: UTF8.self)
        }
    }

    private func makeService() throws -> RESPService {
        var settings = EngineSettings()
        settings.hashPowerInit = 12
        settings.memoryLimit = 16 * 1024 * 1024
        let engine = try #require(CacheEngine(settings: settings, clock: ProcessClock(unixNow: 1_700_000_000)))
        return RESPService(engine: engine, settings: RESPSettings(), workers: 2)
    }

    private func connect(_ service: RESPService, worker: Int) -> Client {
        let output = OutputBuffer()
        let wakes = Wakes()
        let handler = service.makeHandler(workerIndex: worker, fd: -1, output: output,
                                          waker: ConnectionWaker { wakes.count.add(1, ordering: .relaxed) })
        return Client(handler: handler, output: output, wakes: wakes)
    }

    @Test("CLIENT KILL ID from another connection: out of the registry, woken, closed by its own handler")
    func killAcrossConnections() throws {
        let service = try makeService()
        let a = connect(service, worker: 0), b = connect(service, worker: 1)
        defer { a.handler.connectionClosed(); b.handler.connectionClosed() }
        let victim = try #require(Int(b.send(["CLIENT", "ID"]).0.dropFirst().dropLast(1)))
        #expect(service.clients.all().count == 2)
        #expect(a.send(["CLIENT", "KILL", "ID", String(victim)]).0 == ":1\r\n")
        #expect(service.clients.all().count == 1)
        #expect(b.wakes.count.load(ordering: .relaxed) == 1)
        // The victim's worker, at the wake: nothing more is delivered, the connection closes.
        #expect(b.handler.deliverPushes(output: b.output) == .closeNow)
        #expect(b.handler.pushesOverflowed())
        #expect(b.send(["PING"]).1 == .closeNow)
        // Killed once: a second kill finds nobody.
        #expect(a.send(["CLIENT", "KILL", "ID", String(victim)]).0 == ":0\r\n")
        #expect(service.total(.clientsKilled) == 1)
        // SKIPME yes (the default) spares the caller; SKIPME no kills it after its reply.
        #expect(a.send(["CLIENT", "KILL", "TYPE", "normal"]).0 == ":0\r\n")
        let (reply, action) = a.send(["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no"])
        #expect(reply == ":1\r\n" && action == .close)
    }

    @Test("CLIENT LIST shows every connection, oldest first, with its name, subscriptions and last command")
    func listAndInfo() throws {
        let service = try makeService()
        let a = connect(service, worker: 0), b = connect(service, worker: 1)
        defer { a.handler.connectionClosed(); b.handler.connectionClosed() }
        _ = a.send(["CLIENT", "SETNAME", "first"])
        _ = b.send(["SUBSCRIBE", "x", "y"])
        let list = a.send(["CLIENT", "LIST"]).0
        let lines = list.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }).dropFirst().filter { $0.hasPrefix("id=") }
        #expect(lines.count == 2, "\(list)")
        #expect(lines.first?.contains(" name=first age=0 idle=0 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 ") == true, "\(list)")
        #expect(lines.first?.contains(" cmd=client|list user=default redir=-1 resp=2") == true, "\(list)")
        #expect(lines.last?.contains(" flags=P db=0 sub=2 psub=0 ssub=0 ") == true && lines.last?.contains(" cmd=subscribe ") == true, "\(list)")
        let pubsub = a.send(["CLIENT", "LIST", "TYPE", "pubsub"]).0
        #expect(pubsub.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }).filter { $0.hasPrefix("id=") }.count == 1 && pubsub.contains("sub=2"), "\(pubsub)")
        let info = a.send(["CLIENT", "INFO"]).0
        #expect(info.contains(" cmd=client|info ") && info.hasSuffix("\n\r\n"), "\(info)")
        _ = a.send(["CLIENT", "NO-EVICT", "on"])
        #expect(a.send(["CLIENT", "INFO"]).0.contains(" flags=e "))
    }

    @Test("CLIENT UNBLOCK ends a BLPOP once, from another worker, as an error; 0 when not blocked")
    func unblockBlockedList() throws {
        let service = try makeService()
        let a = connect(service, worker: 0), b = connect(service, worker: 1)
        defer { a.handler.connectionClosed(); b.handler.connectionClosed() }
        let id = try #require(Int(b.send(["CLIENT", "ID"]).0.dropFirst().dropLast(1)))
        #expect(a.send(["CLIENT", "UNBLOCK", String(id)]).0 == ":0\r\n")
        let (reply, action) = b.send(["BLPOP", "q", "0"])
        #expect(reply == "")
        guard case .park = action else {
            Issue.record("BLPOP on an empty list did not park: \(action)")
            return
        }
        #expect(a.send(["CLIENT", "LIST", "ID", String(id)]).0.contains(" flags=b "))
        #expect(a.send(["CLIENT", "UNBLOCK", String(id), "ERROR"]).0 == ":1\r\n")
        #expect(b.wakes.count.load(ordering: .relaxed) == 1)
        _ = b.handler.resume(output: b.output, timedOut: false)
        #expect(b.take() == "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n")
        #expect(a.send(["CLIENT", "UNBLOCK", String(id)]).0 == ":0\r\n")
        #expect(service.total(.clientsUnblocked) == 1)
    }

    @Test("CLIENT REPLY OFF and SKIP withhold replies, errors included; ON answers")
    func replyModes() throws {
        let service = try makeService()
        let a = connect(service, worker: 0)
        defer { a.handler.connectionClosed() }
        #expect(a.send(["CLIENT", "REPLY", "OFF"]).0 == "")
        #expect(a.send(["PING"]).0 == "")
        #expect(a.send(["NOSUCH"]).0 == "")
        #expect(a.send(["CLIENT", "REPLY", "ON"]).0 == "+OK\r\n")
        #expect(a.send(["CLIENT", "REPLY", "SKIP"]).0 == "")
        #expect(a.send(["ECHO", "x"]).0 == "")
        #expect(a.send(["ECHO", "y"]).0 == "$1\r\ny\r\n")
        // A streamed MGET withheld is dropped with its rest.
        _ = a.send(["CLIENT", "REPLY", "OFF"])
        #expect(a.send(["MGET"] + (0..<2000).map { "k\($0)" }) == ("", .proceed))
    }

    @Test("DEBUG SLEEP parks and answers +OK at its timeout, not at an earlier wake")
    func debugSleep() throws {
        let service = try makeService()
        let a = connect(service, worker: 0)
        defer { a.handler.connectionClosed() }
        let (reply, action) = a.send(["DEBUG", "SLEEP", "0.25"])
        #expect(reply == "" && action == .park(timeoutMs: 250))
        #expect(a.handler.resume(output: a.output, timedOut: false) == .park(timeoutMs: 0))
        #expect(a.handler.resume(output: a.output, timedOut: true) == .proceed)
        #expect(a.take() == "+OK\r\n")
        // 1e10 s is 1e16 microseconds, within redis's long long: a sleep of centuries, cut here.
        #expect(a.send(["DEBUG", "SLEEP", "1e10"]).1 == .park(timeoutMs: Int(Int32.max)))
        #expect(service.total(.debugSleepsClamped) == 1)
        // Past 2^63 microseconds (and infinities, NaN) redis's conversion goes negative and
        // nanosleep refuses it: +OK at once, nothing parked or cut.
        let b = connect(service, worker: 0)
        defer { b.handler.connectionClosed() }
        for time in ["1e300", "inf", "9223372036854775807", "nan", "-inf"] {
            let (r, act) = b.send(["DEBUG", "SLEEP", time])
            #expect(r == "+OK\r\n" && act == .proceed, "DEBUG SLEEP \(time)")
        }
        #expect(service.total(.debugSleepsClamped) == 1)
    }

    @Test("DEBUG LOG writes its message to the server log and answers +OK")
    func debugLog() throws {
        let logged = Mutex<[String]>([])
        var settings = EngineSettings()
        settings.hashPowerInit = 12
        settings.memoryLimit = 16 * 1024 * 1024
        let engine = try #require(CacheEngine(settings: settings, clock: ProcessClock(unixNow: 1_700_000_000)))
        let service = RESPService(engine: engine, settings: RESPSettings(), workers: 1, log: { line in logged.withLock { $0.append(line) } })
        let a = connect(service, worker: 0)
        defer { a.handler.connectionClosed() }
        #expect(a.send(["DEBUG", "LOG", "hello there"]).0 == "+OK\r\n")
        #expect(logged.withLock { $0 } == ["DEBUG LOG: hello there"])
        #expect(a.send(["DEBUG", "LOG"]).0.hasPrefix("-ERR unknown subcommand or wrong number of arguments for 'LOG'"))
    }

    @Test("every command has redis's metadata; subcommands match the generated entries in order")
    func commandMetadata() throws {
        for c in RESPConnection.commands {
            let row = try #require(RESPCommandDocs.row(c.name), "no metadata for \(c.name)")
            #expect(row.subcommands.map { RESPCommandDocs.name(ofSubcommand: $0) } == c.subcommands.map { "\(c.name)|\($0)" },
                    "subcommands of \(c.name)")
            #expect(row.subcommandDocs.count == row.subcommands.count && row.subcommandCategories.count == row.subcommands.count)
        }
        #expect(RESPCommandDocs.rows.count == RESPConnection.commands.count)
    }
}
