import ArgumentParser
import LoadTestCore
#if canImport(Glibc)
import Glibc
#endif

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Closed-loop load against one server speaking the memcached text protocol or RESP.",
        discussion: """
        Each of --threads OS threads runs an epoll loop over --conns connections, each keeping \
        --pipeline requests in flight. Latency is measured per request from the send that carries \
        it to the read that completes it. ops/s counts key operations (a set is 1, a get of K keys \
        is K). Exits with status 1 if any error was counted. Ctrl-C stops the run early and prints \
        what was measured.
        """
    )

    @Option(help: "Server address, IPv4:PORT.")
    var server = "127.0.0.1:11211"
    @Option(name: .customLong("protocol"), help: "memcache (set/get, multi-get as one get), meta (ms/mg, multi-get as quiet mg + mn), resp (SET/GET/MGET, for redis-server) queue (a flood of set <queue> / get <queue>/t=100 on a broker port) or resp-queue (the same flood as LPUSH / BRPOP 0.1, for redis-server).")
    var wire = "memcache"
    @Option(help: "Load threads (OS threads, one epoll loop each).")
    var threads = 1
    @Option(help: "Connections per thread.")
    var conns = 50
    @Option(help: "Requests in flight per connection.")
    var pipeline = 1
    @Option(help: "Seconds to measure (unless --requests).")
    var duration: Double = 10
    @Option(help: "Requests to measure in all, instead of a duration.")
    var requests: Int?
    @Option(help: "Number of distinct keys.")
    var keys = 100_000
    @Option(name: .customLong("value-size"), help: "Value size in bytes, or A-B: each set picks a size uniformly in A...B.")
    var valueSize = "100"
    @Option(help: "SET:GET request ratio, e.g. 1:9.")
    var ratio = "1:9"
    @Option(help: "Keys per get request (multi-get).")
    var multiget = 1
    @Option(name: .customLong("key-dist"), help: "Key distribution: uniform or zipf:S (e.g. zipf:0.99).")
    var keyDist = "uniform"
    @Flag(help: "Set every key once before measuring.")
    var warm = false
    @Flag(help: "Values embed their key and a checksum; every hit is checked (a mismatch is an error).")
    var verify = false
    @Option(help: "Seconds without a reply on a connection with requests in flight before the run ends.")
    var watchdog: Double = 5
    @Option(help: "Queue mode: the queue name.")
    var queue = "loadtest"
    @Option(help: "Queue mode: producer connections per thread.")
    var producers = 4
    @Option(help: "Queue mode: consumer connections per thread.")
    var consumers = 4
    @Flag(help: "Queue mode: consumers read with /close/open (each read confirms the one before).")
    var reliable = false
    @Flag(help: "Print one JSON object instead of the text summary.")
    var json = false

    func makeConfig() throws -> LoadConfig {
        var c: LoadConfig
        do { c = try LoadConfig(parsingServer: server) } catch { throw ValidationError("\(error)") }
        guard let w = WireProtocol(rawValue: wire) else { throw ValidationError("--protocol must be memcache, meta, resp, queue or resp-queue, got \(wire)") }
        c.wire = w
        c.queueName = queue
        c.producers = producers
        c.consumers = consumers
        c.reliableConsumers = reliable
        c.threads = threads
        c.connsPerThread = conns
        c.pipeline = pipeline
        c.durationSeconds = duration
        c.requests = requests
        c.keys = keys
        do { try c.setValueSize(valueSize) } catch { throw ValidationError("\(error)") }
        do { try c.setRatio(ratio) } catch { throw ValidationError("\(error)") }
        c.multiget = multiget
        guard let dist = KeyDistribution(parsing: keyDist) else {
            throw ValidationError("--key-dist must be uniform or zipf:S with S > 0, got \(keyDist)")
        }
        c.keyDistribution = dist
        c.warm = warm
        c.verify = verify
        c.watchdogSeconds = watchdog
        do { try c.validate() } catch { throw ValidationError("\(error)") }
        return c
    }

    func validate() throws { _ = try makeConfig() }

    func run() throws {
        let config = try makeConfig()
        signal(SIGINT) { _ in loadStopRequest.store(1, ordering: .relaxed) }
        signal(SIGTERM) { _ in loadStopRequest.store(1, ordering: .relaxed) }
        let live = isatty(2) == 1
        var printed = false
        let result: LoadResult
        do {
            result = try LoadRunner.run(config, progress: live ? { p in
                writeStderr("\r\u{1B}[K\(formatFixed(p.elapsedSeconds, 0)) s  \(formatGrouped(Int(p.opsPerSecond.rounded()))) ops/s  p99 \(formatLatency(p.p99))  errors \(p.errors)")
                printed = true
            } : nil)
        } catch {
            if printed { writeStderr("\r\u{1B}[K") }
            printError("error: \(error)")
            throw ExitCode(2)
        }
        if printed { writeStderr("\r\u{1B}[K") }
        print(json ? result.json().render(indent: 2) : result.text)
        if result.errors.total + result.warmErrors.total > 0 { throw ExitCode(1) }
    }
}
