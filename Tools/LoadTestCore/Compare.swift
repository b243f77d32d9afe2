// `compare`: starts swiftcached, memcached, redis-server and the null server on free loopback ports
// with matching settings, runs a workload matrix against each in turn (A B C D A B C D ...) for
// some rounds, and reports per workload the median ops/s, p99 and ops per server CPU-second of
// each, and the ratios of swiftcached to each.
#if canImport(Glibc)
import Glibc
#endif

/// A server the harness started on a free loopback port; `stop()` on every path.
public final class ManagedServer: @unchecked Sendable {
    // Safe to share: immutable; ChildProcess is thread-safe.
    public let name: String
    public let port: UInt16
    public let process: ChildProcess
    public let wire: WireProtocol

    private init(name: String, port: UInt16, process: ChildProcess, wire: WireProtocol) {
        self.name = name
        self.port = port
        self.process = process
        self.wire = wire
    }

    deinit { stop() }

    /// Starts `executable arguments(port)` on a fresh free port and waits until it accepts; tries
    /// another port if the server exits during startup (port taken meanwhile), 3 times.
    public static func start(name: String, executable: String, wire: WireProtocol = .memcache,
                             arguments: (UInt16) -> [String]) throws -> ManagedServer {
        var failures: [String] = []
        for _ in 0..<3 {
            let port = try Net.freePort()
            let log = "/tmp/swiftcached-loadtest-\(name)-\(port)-\(getpid()).log"
            let child = try ChildProcess.spawn(executable, arguments(port), logPath: log)
            do {
                try child.waitUntilAccepting(port: port)
                return ManagedServer(name: name, port: port, process: child, wire: wire)
            } catch {
                child.stop()
                unlink(log)
                failures.append("\(error)")
            }
        }
        throw ProcessError("\(name) failed to start 3 times:\n" + failures.joined(separator: "\n"))
    }

    public func stop() {
        process.stop()
        unlink(process.logPath)
    }

    /// The server's version: the `version` reply, e.g. "VERSION 1.6.18", or for RESP the
    /// redis_version line of `INFO server`.
    public func version() -> String? {
        if wire == .resp {
            let marker = Array("redis_version:".utf8)
            return ask("*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n", capacity: 8192) { text, _ in
                guard let r = text.firstRange(of: marker), let e = text[r.upperBound...].firstIndex(of: 0x0D) else { return nil }
                return "redis " + String(decoding: text[r.upperBound..<e], as: UTF8.self)
            }
        }
        return ask("version\r\n", capacity: 256) { text, ended in
            // The first line; at the end of what came, whatever came.
            let e = text.firstIndex(where: { $0 == 0x0D || $0 == 0x0A })
            guard e != nil || ended else { return nil }
            return String(decoding: text[..<(e ?? text.endIndex)], as: UTF8.self)
        }
    }

    /// Sends `request` on a fresh connection and reads (2 s timeout, at most `capacity` bytes)
    /// until `answer` finds what it wants in what came so far; `answer` is asked once more, with
    /// `ended` set, when nothing more comes.
    private func ask(_ request: String, capacity: Int, _ answer: (ArraySlice<UInt8>, _ ended: Bool) -> String?) -> String? {
        guard case .success(let fd) = Net.connect(host: "127.0.0.1", port: port, nonBlocking: false) else { return nil }
        defer { close(fd) }
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let q = Array(request.utf8)
        guard send(fd, q, q.count, Int32(MSG_NOSIGNAL)) == q.count else { return nil }
        var buf = [UInt8](repeating: 0, count: capacity)
        var got = 0
        while got < buf.count {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, $0.count - got, 0) }
            if n <= 0 { break }
            got += n
            if let found = answer(buf[0..<got], false) { return found }
        }
        return answer(buf[0..<got], true)
    }
}

public struct Workload: Sendable {
    public var name: String
    public var description: String
    /// Everything but host, port, protocol and duration.
    public var config: LoadConfig

    public init(name: String, description: String, config: LoadConfig) {
        self.name = name
        self.description = description
        self.config = config
    }

    /// The default matrix: 50 connections, 100-byte values, 100k keys, warm, set:get 1:9, at
    /// pipeline 1 and 16, with 16-key multi-gets, with 4 KB values, and with zipf 0.99 keys.
    public static func defaultMatrix(loadThreads: Int = 1, connections: Int = 50) -> [Workload] {
        var base = LoadConfig()
        base.threads = loadThreads
        base.connsPerThread = max(1, connections / loadThreads)
        base.valueSize = 100
        base.keys = 100_000
        base.warm = true
        base.setWeight = 1
        base.getWeight = 9
        var p16 = base
        p16.pipeline = 16
        var mget = base
        mget.multiget = 16
        var large = base
        large.valueSize = 4096
        var zipf = base
        zipf.keyDistribution = .zipf(0.99)
        return [
            Workload(name: "p1", description: "1:9 set:get, 100 B, 100k keys, pipeline 1", config: base),
            Workload(name: "p16", description: "1:9 set:get, 100 B, 100k keys, pipeline 16", config: p16),
            Workload(name: "mget16", description: "1:9 set:16-key get, 100 B, 100k keys, pipeline 1", config: mget),
            Workload(name: "4k", description: "1:9 set:get, 4 KB, 100k keys, pipeline 1", config: large),
            Workload(name: "zipf", description: "1:9 set:get, 100 B, 100k keys zipf 0.99, pipeline 1", config: zipf),
        ]
    }

    /// Selectable with --workloads, not in the default matrix: the meta protocol (ms / mg, a
    /// multi-get as quiet mg + mn), for the memcached-protocol servers only.
    public static func metaWorkloads(loadThreads: Int = 1, connections: Int = 50) -> [Workload] {
        defaultMatrix(loadThreads: loadThreads, connections: connections)
            .filter { ["p1", "p16", "mget16"].contains($0.name) }
            .map { w in
                var c = w.config
                c.wire = .meta
                return Workload(name: "meta-" + w.name, description: w.description + ", meta commands", config: c)
            }
    }
}

public struct CompareOptions: Sendable {
    public var swiftcached = ".build/release/swiftcached"
    public var memcached = "memcached"
    /// redis-server binary, or nil to leave redis out.
    public var redis: String? = "redis-server"
    /// Run the null server (this executable's `null-server`) as the ceiling column; nil to leave it out.
    public var nullServer: String? = nil
    /// Also run swiftcached's Redis port as the column `swiftcached-resp` (RESP workloads only).
    public var swiftcachedRESP = false
    public var serverThreads = 2
    public var memoryMB = 256
    public var rounds = 3
    public var durationSeconds: Double = 10
    public var workloads = Workload.defaultMatrix()
    public init() {}
}

public struct CompareSample: Sendable {
    public var round: Int
    public var workload: String
    public var server: String
    public var opsPerSecond: Double
    public var p99: UInt64
    public var cpuSeconds: Double
    public var errors: Int
    public var hitRatio: Double
    public var opsPerCPUSecond: Double { cpuSeconds > 0 ? opsPerSecond * elapsed / cpuSeconds : 0 }
    public var elapsed: Double

    public init(round: Int, workload: String, server: String, opsPerSecond: Double, p99: UInt64, cpuSeconds: Double,
                errors: Int, hitRatio: Double, elapsed: Double) {
        self.round = round
        self.workload = workload
        self.server = server
        self.opsPerSecond = opsPerSecond
        self.p99 = p99
        self.cpuSeconds = cpuSeconds
        self.errors = errors
        self.hitRatio = hitRatio
        self.elapsed = elapsed
    }
}

/// The column name of a server: the null server is the box's ceiling.
public func serverLabel(_ name: String) -> String { name == "null" ? "null (ceiling)" : name }

public struct CompareReport: Sendable {
    public var options: CompareOptions
    /// Server names in run order; the first is the one the ratios are of (swiftcached).
    public var servers: [String]
    public var versions: [String: String]
    public var samples: [CompareSample]
    public var started: String
    public var machine: String
    /// How each server was started, for the notes under the table.
    public var commands: [String: String] = [:]

    public init(options: CompareOptions, servers: [String], versions: [String: String], samples: [CompareSample],
                started: String, machine: String, commands: [String: String] = [:]) {
        self.options = options
        self.servers = servers
        self.versions = versions
        self.samples = samples
        self.started = started
        self.machine = machine
        self.commands = commands
    }

    public struct Row: Sendable {
        public var workload: Workload
        public var ops: [Double]       // median per server, in `servers` order
        public var p99: [UInt64]
        public var opsPerCPU: [Double]
        public var errors: [Int]       // sum over rounds
        public var hitRatio: [Double]
        /// Whether the server ran this workload at all (redis runs no meta workload).
        public var ran: [Bool]
    }

    public var rows: [Row] {
        options.workloads.map { w in
            func pick(_ s: String) -> [CompareSample] { samples.filter { $0.workload == w.name && $0.server == s } }
            return Row(workload: w,
                       ops: servers.map { median(pick($0).map(\.opsPerSecond)) },
                       p99: servers.map { UInt64(median(pick($0).map { Double($0.p99) })) },
                       opsPerCPU: servers.map { median(pick($0).map(\.opsPerCPUSecond)) },
                       errors: servers.map { pick($0).reduce(0) { $0 + $1.errors } },
                       hitRatio: servers.map { median(pick($0).map(\.hitRatio)) },
                       ran: servers.map { !pick($0).isEmpty })
        }
    }

    /// The servers the first one is compared with (all but itself).
    var others: [Int] { Array(servers.indices.dropFirst()) }

    static func ratio(_ a: Double, _ b: Double) -> String { b > 0 ? formatFixed(a / b, 2) + "×" : "–" }

    public var markdown: String {
        let o = options
        let first = servers[0]
        var out: [String] = []
        out.append("Medians of \(o.rounds) rounds of \(formatFixed(o.durationSeconds, 0)) s per workload and server, run in turn "
                   + servers.map(serverLabel).joined(separator: ", ") + " in each round, every server started afresh for each workload. "
                   + "Servers (" + servers.map { "\($0): \(versions[$0] ?? "?")" }.joined(separator: ", ") + "): "
                   + servers.map { "\($0) `\(commands[$0] ?? "?")`" }.joined(separator: "; ") + ". "
                   + "ops = key operations (a set is 1, a 16-key get is 16); p99 per request; CPU = server utime+stime during the measured run; "
                   + "ratios are \(first)/other (for null: the share of the ceiling).")
        out.append("")
        out.append("Machine: \(machine); \(started).")
        out.append("")
        // Table 1: throughput and p99.
        var h = "| workload |" + servers.map { " \(serverLabel($0)) ops/s |" }.joined()
        h += others.map { " \(first)/\(servers[$0]) |" }.joined()
        h += servers.map { " \(serverLabel($0)) p99 |" }.joined()
        out.append(h)
        out.append("|---|" + String(repeating: "---:|", count: servers.count * 2 + others.count))
        for r in rows {
            var line = "| \(r.workload.name): \(r.workload.description) |"
            line += r.ops.indices.map { r.ran[$0] ? " \(formatGrouped(Int(r.ops[$0].rounded()))) |" : " – |" }.joined()
            line += others.map { " \(Self.ratio(r.ops[0], r.ops[$0])) |" }.joined()
            line += r.p99.indices.map { r.ran[$0] ? " \(formatLatency(r.p99[$0])) |" : " – |" }.joined()
            out.append(line)
        }
        out.append("")
        // Table 2: efficiency, hits, errors.
        h = "| workload |" + servers.map { " \(serverLabel($0)) ops/CPU-s |" }.joined()
        h += others.map { " \(first)/\(servers[$0]) |" }.joined()
        h += " hit ratio (" + servers.joined(separator: " / ") + ") | errors |"
        out.append(h)
        out.append("|---|" + String(repeating: "---:|", count: servers.count + others.count + 2))
        for r in rows {
            var line = "| \(r.workload.name) |"
            line += r.opsPerCPU.indices.map { r.ran[$0] ? " \(formatGrouped(Int(r.opsPerCPU[$0].rounded()))) |" : " – |" }.joined()
            line += others.map { " \(Self.ratio(r.opsPerCPU[0], r.opsPerCPU[$0])) |" }.joined()
            line += " " + r.hitRatio.indices.map { r.ran[$0] ? formatFixed(r.hitRatio[$0] * 100, 1) + " %" : "–" }.joined(separator: " / ") + " |"
            line += " " + r.errors.map(String.init).joined(separator: " / ") + " |"
            out.append(line)
        }
        return out.joined(separator: "\n") + "\n"
    }

    public func json() -> JSONValue {
        .object([
            ("started", .string(started)),
            ("machine", .string(machine)),
            ("rounds", .int(options.rounds)),
            ("duration_s", .double(options.durationSeconds, decimals: 1)),
            ("server_threads", .int(options.serverThreads)),
            ("memory_mb", .int(options.memoryMB)),
            ("servers", .array(servers.map { s in
                .object([("name", .string(s)), ("version", .string(versions[s] ?? "")), ("command", .string(commands[s] ?? ""))])
            })),
            ("workloads", .array(rows.map { r in
                .object([
                    ("name", .string(r.workload.name)),
                    ("description", .string(r.workload.description)),
                    ("config", r.workload.config.json()),
                    ("median", .object(servers.enumerated().map { (i, s) in
                        (s, .object([("ops_per_s", .double(r.ops[i], decimals: 1)),
                                     ("p99_us", .double(Double(r.p99[i]) / 1e3, decimals: 1)),
                                     ("ops_per_cpu_s", .double(r.opsPerCPU[i], decimals: 1)),
                                     ("hit_ratio", .double(r.hitRatio[i], decimals: 4)),
                                     ("errors", .int(r.errors[i]))]))
                    })),
                    ("ratio_ops", .object(others.map { i in
                        (servers[i], .double(r.ops[i] > 0 ? r.ops[0] / r.ops[i] : 0, decimals: 3))
                    })),
                    ("ratio_ops_per_cpu", .object(others.map { i in
                        (servers[i], .double(r.opsPerCPU[i] > 0 ? r.opsPerCPU[0] / r.opsPerCPU[i] : 0, decimals: 3))
                    })),
                ])
            })),
            ("samples", .array(samples.map { s in
                .object([("round", .int(s.round)), ("workload", .string(s.workload)), ("server", .string(s.server)),
                         ("ops_per_s", .double(s.opsPerSecond, decimals: 1)), ("p99_us", .double(Double(s.p99) / 1e3, decimals: 1)),
                         ("cpu_s", .double(s.cpuSeconds, decimals: 2)), ("ops_per_cpu_s", .double(s.opsPerCPUSecond, decimals: 1)),
                         ("hit_ratio", .double(s.hitRatio, decimals: 4)), ("errors", .int(s.errors))])
            })),
        ])
    }
}

public func median(_ xs: [Double]) -> Double {
    guard !xs.isEmpty else { return 0 }
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

public enum CompareRunner {
    /// Runs the comparison; `log` gets one line per run (for stderr). Stops the servers it started
    /// on every path (and, with ChildRegistry.installSignalCleanup, on SIGINT/SIGTERM).
    public static func run(_ o: CompareOptions, log: (String) -> Void) throws -> CompareReport {
        guard access(o.swiftcached, X_OK) == 0 else {
            throw ProcessError("swiftcached not found at \(o.swiftcached) (build it: swift build -c release --product swiftcached)")
        }
        guard let memcached = findExecutable(o.memcached) else {
            throw ProcessError("memcached not found (\(o.memcached)); on Debian: apt-get install memcached")
        }
        var redis: String? = nil
        if let r = o.redis {
            guard let path = findExecutable(r) else {
                throw ProcessError("redis-server not found (\(r)); on Debian: apt-get install redis-server (or --no-redis)")
            }
            redis = path
        }
        let t = String(o.serverThreads), m = String(o.memoryMB)
        let common = ["-l", "127.0.0.1", "-U", "0", "-t", t, "-m", m]
        let started = utcNow()
        var commands: [String: String] = [:]
        // Both refuse to run as root without -u.
        let asNobody = geteuid() == 0 ? ["-u", "nobody"] : []
        commands["swiftcached"] = "-t \(t) -m \(m) -U 0 -l 127.0.0.1" + (asNobody.isEmpty ? "" : " -u nobody")
        commands["memcached"] = "-t \(t) -m \(m) -U 0 -l 127.0.0.1" + (asNobody.isEmpty ? "" : " -u nobody")
        // redis-server: one event-loop thread (redis.conf advises no I/O threads below 4 cores),
        // the same memory limit with LRU eviction, no persistence.
        let redisArgs = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no",
                         "--maxmemory", "\(o.memoryMB)mb", "--maxmemory-policy", "allkeys-lru"]
        if redis != nil {
            commands["redis"] = "--bind 127.0.0.1 --save '' --appendonly no --protected-mode no --maxmemory \(o.memoryMB)mb --maxmemory-policy allkeys-lru"
        }
        if o.nullServer != nil { commands["null"] = "swiftcached-loadtest null-server --threads \(t)" }
        if o.swiftcachedRESP { commands["swiftcached-resp"] = "-p 0 --redis-port=<port> " + commands["swiftcached"]! }

        /// Every server, freshly started: each workload runs against servers that start empty, so
        /// one workload's items (4 KB values fill -m and take the slab pages) never shape the next.
        func startAll() throws -> [ManagedServer] {
            var servers: [ManagedServer] = []
            do {
                servers.append(try ManagedServer.start(name: "swiftcached", executable: o.swiftcached) { ["-p", String($0)] + common + asNobody })
                servers.append(try ManagedServer.start(name: "memcached", executable: memcached) { ["-p", String($0)] + common + asNobody })
                if o.swiftcachedRESP {
                    servers.append(try ManagedServer.start(name: "swiftcached-resp", executable: o.swiftcached, wire: .resp) {
                        ["-p", "0", "--redis-port=\($0)"] + common + asNobody
                    })
                }
                if let redis {
                    servers.append(try ManagedServer.start(name: "redis", executable: redis, wire: .resp) { ["--port", String($0)] + redisArgs })
                }
                if let null = o.nullServer {
                    servers.append(try ManagedServer.start(name: "null", executable: null) { ["null-server", "--port", String($0), "--threads", t] })
                }
            } catch {
                for s in servers.reversed() { s.stop() }
                throw error
            }
            return servers
        }

        var names: [String] = []
        var versions: [String: String] = [:]
        var samples: [CompareSample] = []
        for round in 1...o.rounds {
            for w in o.workloads {
                let servers = try startAll()
                defer { for s in servers.reversed() { s.stop() } }
                if names.isEmpty {
                    names = servers.map(\.name)
                    for s in servers { versions[s.name] = s.version() ?? "?" }
                    log("servers: " + servers.map { "\($0.name) \(versions[$0.name] ?? "?")" }.joined(separator: ", ")
                        + "; started afresh for every workload of every round")
                }
                for s in servers {
                    guard s.process.isRunning else {
                        throw ProcessError("\(s.name) exited during the comparison; log:\n\(s.process.log)")
                    }
                    var config = w.config
                    config.host = "127.0.0.1"
                    config.port = s.port
                    if w.config.wire == .meta {
                        // Meta commands: memcached-protocol servers only (not RESP, not the null server).
                        if s.wire != .memcache || s.name == "null" { continue }
                    } else {
                        config.wire = s.wire
                    }
                    config.durationSeconds = o.durationSeconds
                    config.requests = nil
                    if s.name == "null" { config.warm = false }  // it stores nothing
                    var cpu0 = 0.0, cpu1 = 0.0
                    let r = try LoadRunner.run(config, beforeMeasure: { cpu0 = s.process.cpuSeconds ?? 0 },
                                               afterMeasure: { cpu1 = s.process.cpuSeconds ?? 0 })
                    if loadStopRequest.load(ordering: .relaxed) != 0 { throw ProcessError("interrupted") }
                    let sample = CompareSample(round: round, workload: w.name, server: s.name, opsPerSecond: r.opsPerSecond,
                                               p99: r.latency.p99, cpuSeconds: cpu1 - cpu0,
                                               errors: r.errors.total + r.warmErrors.total, hitRatio: r.hitRatio,
                                               elapsed: r.elapsedSeconds)
                    samples.append(sample)
                    log("round \(round) \(w.name) \(s.name): \(formatGrouped(Int(r.opsPerSecond.rounded()))) ops/s, p99 \(formatLatency(r.latency.p99)), "
                        + "server CPU \(formatFixed(sample.cpuSeconds, 2)) s (\(formatGrouped(Int(sample.opsPerCPUSecond.rounded()))) ops/CPU-s), "
                        + "hits \(formatFixed(r.hitRatio * 100, 1)) %, errors \(sample.errors)"
                        + (r.errors.total > 0 ? " (\(r.errors.fields.filter { $0.1 > 0 }.map { "\($0.0) \($0.1)" }.joined(separator: ", ")))" : "")
                        + r.errorTexts.map { "; \($0.count) x \($0.text.debugDescription)" }.joined()
                        + (r.stopReason.map { ", \($0)" } ?? ""))
                }
            }
        }
        return CompareReport(options: o, servers: names, versions: versions, samples: samples,
                             started: started, machine: machineDescription(), commands: commands)
    }
}

/// "YYYY-MM-DD HH:MM UTC".
public func utcNow() -> String {
    var t = time(nil)
    var tmv = tm()
    gmtime_r(&t, &tmv)
    func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
    return "\(tmv.tm_year + 1900)-\(two(tmv.tm_mon + 1))-\(two(tmv.tm_mday)) \(two(tmv.tm_hour)):\(two(tmv.tm_min)) UTC"
}

/// "N cores, <CPU model>".
public func machineDescription() -> String {
    let cores = sysconf(Int32(_SC_NPROCESSORS_ONLN))
    var model = "unknown CPU"
    if let info = readTextFile("/proc/cpuinfo"),
       let line = info.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
       let colon = line.firstIndex(of: ":") {
        model = line[line.index(after: colon)...].trimmingCharacters(in: " \t")
    }
    return "\(cores) cores, \(model)"
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var s = self
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
