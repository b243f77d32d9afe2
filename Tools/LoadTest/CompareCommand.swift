import ArgumentParser
import LoadTestCore
#if canImport(Glibc)
import Glibc
#endif

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Start swiftcached, memcached, redis-server and the null server on free loopback ports and compare them side by side.",
        discussion: """
        swiftcached and memcached get the same settings (-t, -m, -U 0, -l 127.0.0.1); redis-server \
        gets the same memory as maxmemory with allkeys-lru, no persistence, and is driven over RESP \
        (SET, GET, MGET); the null server (`null-server`, this executable) frames memcached requests \
        and stores nothing: the ceiling of the box. Each round runs every workload against each \
        server in turn, every server started afresh for each workload (so 4 KB values filling -m \
        never shape the next row); the table shows per workload the median ops/s, p99 and ops per server \
        CPU-second (utime+stime from /proc/PID/stat during the measured run) of each server, and the \
        ratios of swiftcached to each. Workloads: p1 (50 connections, 100-byte values, 100k keys, \
        warm, set:get 1:9, pipeline 1), p16 (the same at pipeline 16), mget16 (p1 with 16-key gets), \
        4k (p1 with 4 KB values), zipf (p1 with zipf 0.99 keys). Every server started is stopped at \
        the end, on errors and on SIGINT/SIGTERM.
        """
    )

    @Option(help: "Path of the swiftcached binary.")
    var swiftcached = ".build/release/swiftcached"
    @Option(help: "memcached binary (searched in PATH).")
    var memcached = "memcached"
    @Option(help: "redis-server binary (searched in PATH).")
    var redis = "redis-server"
    @Flag(name: .customLong("no-redis"), help: "Leave redis-server out.")
    var noRedis = false
    @Flag(name: .customLong("resp"), help: "Also run swiftcached's Redis port (--redis-port) as the column swiftcached-resp, beside redis-server, on the RESP workloads.")
    var resp = false
    @Flag(name: .customLong("no-null"), help: "Leave the null server (the ceiling column) out.")
    var noNull = false
    @Option(help: "Only these workloads, comma-separated (p1,p16,mget16,4k,zipf; also meta-p1,meta-p16,meta-mget16, memcached-protocol servers only).")
    var workloads: String?
    @Option(help: "Rounds (each runs every workload against each server).")
    var rounds = 3
    @Option(help: "Seconds per measured run.")
    var duration: Double = 10
    @Option(name: .customLong("server-threads"), help: "Worker threads of each server (-t).")
    var serverThreads = 2
    @Option(help: "Memory of each server in MB (-m).")
    var memory = 256
    @Option(help: "Load threads.")
    var threads = 1
    @Option(help: "Connections in all (split over the load threads).")
    var conns = 50
    @Option(help: "Also write the Markdown table to this file.")
    var markdown: String?
    @Option(help: "Also write the results as JSON to this file.")
    var json: String?
    @Option(help: "Also write an SVG chart (ops/s and p99 per workload per server) to this file.")
    var svg: String?

    func validate() throws {
        guard rounds >= 1 && rounds <= 100 else { throw ValidationError("--rounds must be 1...100") }
        guard duration > 0 && duration <= 3600 else { throw ValidationError("--duration must be in (0, 3600]") }
        guard serverThreads >= 1 && serverThreads <= 256 else { throw ValidationError("--server-threads must be 1...256") }
        guard memory >= 1 else { throw ValidationError("--memory must be at least 1") }
        guard threads >= 1 && conns >= threads else { throw ValidationError("--threads must be 1...--conns") }
        _ = try selectedWorkloads()
    }

    func selectedWorkloads() throws -> [Workload] {
        let defaults = Workload.defaultMatrix(loadThreads: threads, connections: conns)
        guard let workloads else { return defaults }
        let all = defaults + Workload.metaWorkloads(loadThreads: threads, connections: conns)
        let names = workloads.split(separator: ",").map(String.init)
        for n in names where !all.contains(where: { $0.name == n }) {
            throw ValidationError("unknown workload \(n); known: " + all.map(\.name).joined(separator: ","))
        }
        return all.filter { names.contains($0.name) }
    }

    func run() throws {
        ChildRegistry.installSignalCleanup()
        var o = CompareOptions()
        o.swiftcached = swiftcached
        o.memcached = memcached
        o.rounds = rounds
        o.durationSeconds = duration
        o.serverThreads = serverThreads
        o.memoryMB = memory
        o.workloads = try selectedWorkloads()
        o.redis = noRedis ? nil : redis
        o.swiftcachedRESP = resp
        o.nullServer = noNull ? nil : selfExecutable()
        let report: CompareReport
        do {
            report = try CompareRunner.run(o) { printError($0) }
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        let table = report.markdown
        print(table, terminator: "")
        if let markdown { try writeFile(markdown, table) }
        if let json { try writeFile(json, report.json().render(indent: 2) + "\n") }
        if let svg { try writeFile(svg, report.svg) }
    }
}

/// This executable's path (/proc/self/exe), to start `null-server` as a child.
func selfExecutable() -> String {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buf, buf.count - 1)
    guard n > 0 else { return CommandLine.arguments[0] }
    return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

struct NullServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "null-server",
        abstract: "A memcached-text server that stores nothing: the ceiling of the box.",
        discussion: """
        Frames memcached text requests and answers without storing: every get/gets/gat misses \
        (END), every set/add/replace/append/prepend/cas is STORED once its data block arrived, \
        delete/incr/decr/touch are NOT_FOUND, mg is EN, ms is HD, version is VERSION null. One epoll \
        thread per core, up to --threads. Runs until killed.
        """
    )

    @Option(help: "Port on 127.0.0.1.")
    var port: Int = 11311
    @Option(help: "Event-loop threads (at most one per core).")
    var threads = 2

    func validate() throws {
        guard port >= 1 && port <= 65535 else { throw ValidationError("--port must be 1...65535") }
        guard threads >= 1 && threads <= 256 else { throw ValidationError("--threads must be 1...256") }
    }

    func run() throws {
        do {
            try NullServer.run(port: UInt16(port), threads: threads)
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
    }
}
