import ArgumentParser
import LoadTestCore
#if canImport(Glibc)
import Glibc
#endif

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Start swiftcached and memcached on free loopback ports and compare them side by side.",
        discussion: """
        Both servers get the same settings (-t, -m, -U 0, -l 127.0.0.1). Each round runs every \
        workload against each server in turn; the table shows per workload the median ops/s, p99 and \
        ops per server CPU-second (utime+stime from /proc/PID/stat during the measured run) of each \
        server, and the ratios swiftcached/memcached. Workloads: p1 (50 connections, 100-byte values, \
        100k keys, warm, set:get 1:9, pipeline 1), p16 (the same at pipeline 16), mget16 (p1 with \
        16-key gets). Every server started is stopped at the end, on errors and on SIGINT/SIGTERM.
        """
    )

    @Option(help: "Path of the swiftcached binary.")
    var swiftcached = ".build/release/swiftcached"
    @Option(help: "memcached binary (searched in PATH).")
    var memcached = "memcached"
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

    func validate() throws {
        guard rounds >= 1 && rounds <= 100 else { throw ValidationError("--rounds must be 1...100") }
        guard duration > 0 && duration <= 3600 else { throw ValidationError("--duration must be in (0, 3600]") }
        guard serverThreads >= 1 && serverThreads <= 256 else { throw ValidationError("--server-threads must be 1...256") }
        guard memory >= 1 else { throw ValidationError("--memory must be at least 1") }
        guard threads >= 1 && conns >= threads else { throw ValidationError("--threads must be 1...--conns") }
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
        o.workloads = Workload.defaultMatrix(loadThreads: threads, connections: conns)
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
    }
}
