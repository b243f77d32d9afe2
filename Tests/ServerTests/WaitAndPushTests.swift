// The waiter primitive and push queues through a real server: a test protocol on an in-process
// `Server` (ephemeral loopback port, two workers), driven over TCP. A connection waits on two
// sources at once and the first producer wins it; a wait times out and leaves later values with
// their source; a connection that is not parked is handed pushed lines while it goes on answering
// requests.
import Glibc
import Platform
import Server
import Synchronization
import TestSupport
import Testing

/// One source of values, as a queue or a key is: a wait list and what no waiter took.
typealias TestSource = WaitSource<String, Void>

/// What the test protocol's connections share.
final class TestHub: Sendable {
    let sources = [TestSource(), TestSource()]
    /// The push queue of the connection that sent `sub` last.
    let subscriber = LockedValue<PushQueue?>(nil)
    /// How many connections are parked on a waiter (to start producing once they are).
    let parked = Atomic<Int>(0)
}

/// The test protocol, one line per request:
/// `ping` → `pong`; `sub` → `subscribed`, and lines pushed to the hub's subscriber queue follow;
/// `wait <ms>` (negative: forever) → parks on both sources → `got <value> from <source>` or `timeout`.
final class TestHandler: ConnectionHandler {
    let hub: TestHub
    let waker: ConnectionWaker
    var push: PushQueue?
    var waiter: Waiter<String>?

    init(hub: TestHub, waker: ConnectionWaker) {
        self.hub = hub
        self.waker = waker
    }

    func process(_ input: UnsafeRawBufferPointer, output: OutputBuffer) -> (consumed: Int, action: HandlerAction) {
        var consumed = 0
        while let nl = input[consumed...].firstIndex(of: UInt8(ascii: "\n")) {
            let line = String(decoding: input[consumed..<nl], as: UTF8.self)
            consumed = nl + 1
            if line == "ping" {
                output.append("pong\n")
            } else if line == "sub" {
                let queue = PushQueue(waker: waker, limit: 1 << 20)
                push = queue
                hub.subscriber.withLock { $0 = queue }
                output.append("subscribed\n")
            } else if line.hasPrefix("wait "), let ms = Int(line.dropFirst(5)) {
                let w = Waiter<String>(waker: waker)
                waiter = w
                for s in hub.sources { s.lock.withLock { s.waiters.add(w, ()) } }
                hub.parked.wrappingAdd(1, ordering: .relaxed)
                return (consumed, .park(timeoutMs: ms))
            } else {
                output.append("unknown\n")
            }
        }
        return (consumed, .proceed)
    }

    func resume(output: OutputBuffer, timedOut: Bool) -> HandlerAction {
        guard let w = waiter else { return .proceed }
        // Timed out: give up under every source's lock, so no claim is seen half done.
        let outcome: Waiter<String>.Outcome
        if timedOut {
            outcome = cancelEverywhere(w)
        } else {
            outcome = w.collect()
        }
        switch outcome {
        case .waiting:
            return .park(timeoutMs: -1)
        case .delivered(let value, let source):
            output.append("got \(value) from \(source)\n")
        case .cancelled:
            output.append("timeout\n")
        }
        waiter = nil
        hub.parked.wrappingAdd(-1, ordering: .relaxed)
        return .proceed
    }

    private func cancelEverywhere(_ w: Waiter<String>) -> Waiter<String>.Outcome {
        for s in hub.sources { s.lock.lock() }
        defer { for s in hub.sources.reversed() { s.lock.unlock() } }
        let outcome = w.cancel()
        for s in hub.sources { s.waiters.remove(w) }
        return outcome
    }

    func deliverPushes(output: OutputBuffer) -> HandlerAction {
        push?.take(into: output)
        return .proceed
    }

    func connectionClosed() {
        if let w = waiter { _ = cancelEverywhere(w) }
    }
}

struct TestFactory: ConnectionHandlerFactory {
    let hub: TestHub
    func makeHandler(workerIndex: Int, fd: Int32, output: OutputBuffer, waker: ConnectionWaker) -> ConnectionHandler {
        TestHandler(hub: hub, waker: waker)
    }
}

/// An in-process server with the test protocol on a free loopback port, stopped by `stop()`.
final class RunningServer {
    let server: Server
    let thread: BackgroundThread
    let port: UInt16

    init(hub: TestHub) throws {
        var settings = ServerSettings()
        settings.threads = 2
        let listener = ListenerConfig(transport: .tcp, handler: .stream(TestFactory(hub: hub)), hosts: ["127.0.0.1"], port: -1)
        let server = Server(settings: settings, listeners: [listener], clock: ProcessClock())
        try server.bind()
        self.server = server
        port = UInt16(server.boundPorts[0].port)
        thread = BackgroundThread(name: "test server") { server.run() }
    }

    func stop() {
        server.stop()
        thread.join()
    }
}

/// A blocking loopback client reading lines (5 s receive timeout).
final class LineClient {
    let fd: Int32
    private var pending: [UInt8] = []

    init(port: UInt16) {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        precondition(rc == 0, "connect failed")
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ s: String) {
        var bytes = Array(s.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// The next line without its newline; nil when the peer closes or 5 s pass.
    func line() -> String? {
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            if let nl = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<nl], as: UTF8.self)
                pending.removeFirst(nl + 1)
                return line
            }
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n <= 0 { return nil }
            pending += buf[0..<n]
        }
    }
}

/// Waits (up to 5 s) until `condition` holds.
func eventually(_ condition: () -> Bool) -> Bool {
    for _ in 0..<5000 {
        if condition() { return true }
        usleep(1000)
    }
    return condition()
}

@Suite("Waiting and pushing through the server", .serialized)
struct WaitAndPushTests {
    @Test("connections waiting on two sources: each is won by exactly one producer; the rest stays with its source")
    func severalSources() throws {
        let hub = TestHub()
        let running = try RunningServer(hub: hub)
        defer { running.stop() }
        let clients = (0..<6).map { _ in LineClient(port: running.port) }
        for c in clients { c.send("wait -1\n") }
        #expect(eventually { hub.parked.load(ordering: .relaxed) == clients.count })
        // Two producer threads, one per source, 6 values each, racing for the same 6 waiters.
        let producers = (0..<2).map { s in
            BackgroundThread(name: "producer \(s)") {
                for i in 0..<6 { hub.sources[s].produce("s\(s)v\(i)", index: s) }
            }
        }
        for p in producers { p.join() }
        var got: [String] = []
        for c in clients {
            let reply = c.line() ?? "nothing"
            let parts = reply.split(separator: " ")
            guard parts.count == 4, parts[0] == "got" else {
                Issue.record("unexpected reply \(reply)")
                continue
            }
            #expect(parts[1].hasPrefix("s\(parts[3])v"), "the source number names the source the value came from")
            got.append(String(parts[1]))
        }
        let kept = hub.sources.flatMap { s in s.lock.withLock { s.kept } }
        #expect(got.count == 6)
        #expect(Set(got + kept).count == 12 && got.count + kept.count == 12, "each value delivered or kept, once")
        // Nothing more arrives on a connection that was served.
        clients[0].send("ping\n")
        #expect(clients[0].line() == "pong")
    }

    @Test("a wait with a timeout answers timeout; a value produced after it stays with its source")
    func timeout() throws {
        let hub = TestHub()
        let running = try RunningServer(hub: hub)
        defer { running.stop() }
        let client = LineClient(port: running.port)
        client.send("wait 50\n")
        #expect(client.line() == "timeout")
        hub.sources[1].produce("late", index: 1)
        #expect(hub.sources[1].lock.withLock { hub.sources[1].kept } == ["late"])
        // The connection answers again, and a new wait is served.
        // (A parked connection holds its output: the pong must be read before the next wait.)
        client.send("ping\n")
        #expect(client.line() == "pong")
        client.send("wait 5000\n")
        #expect(eventually { hub.parked.load(ordering: .relaxed) == 1 })
        hub.sources[0].produce("next", index: 0)
        #expect(client.line() == "got next from 0")
    }

    @Test("a connection that is not parked gets pushed lines while it keeps sending requests")
    func pushToActiveConnection() throws {
        let hub = TestHub()
        let running = try RunningServer(hub: hub)
        defer { running.stop() }
        let client = LineClient(port: running.port)
        client.send("sub\n")
        #expect(client.line() == "subscribed")
        let queue = try #require(hub.subscriber.withLock { $0 })
        let pushes = 2000
        let producer = BackgroundThread(name: "publisher") {
            for i in 0..<pushes {
                queue.push("msg \(i)\n")
                if i % 100 == 0 { usleep(200) }
            }
        }
        // Requests interleave with the pushes: every ping is answered, every push arrives, in order.
        var pongs = 0
        var messages: [Int] = []
        var pingsSent = 0
        while pongs < 200 || messages.count < pushes {
            if pingsSent < 200 && pingsSent <= pongs {
                client.send("ping\n")
                pingsSent += 1
            }
            guard let line = client.line() else { break }
            if line == "pong" {
                pongs += 1
            } else if line.hasPrefix("msg "), let n = Int(line.dropFirst(4)) {
                messages.append(n)
            } else {
                Issue.record("unexpected line \(line)")
            }
        }
        producer.join()
        #expect(pongs == 200)
        #expect(messages == Array(0..<pushes))
    }
}
