// Command lines memcached 1.6.18 refuses (audit of issue 12): swiftcached must print memcached's
// words and exit with its status (1 for what its option switch refuses, 64 for the checks after
// it). Each case carries the expected text and status, so the test means something without
// memcached; where memcached is installed its own output and status are compared too.
import Foundation
import Testing
import TestSupport

/// memcached, when installed.
private let memcachedBinary = IntegrationPaths.findExecutable("memcached", extraDirectories: ["/usr/bin", "/usr/local/bin"])

@Suite("command-line refusals in memcached 1.6.18's words and exit status", .hangGuard)
struct RefusalParityTests {
    static let lockTable = "Item lock table grows with `-t N` (worker threadcount)\nHash table grows with `-o hashpower=N` \n"

    static let cases: [([String], Int32, String)] = [
        (["-o", "idle_timeout"], 1, "Missing numeric argument for idle_timeout\n"),
        (["-o", "hashpower"], 1, "Missing numeric argument for hashpower\n"),
        (["-o", "tail_repair_time"], 1, "Missing numeric argument for tail_repair_time\n"),
        (["-o", "tail_repair_time=x"], 1, "Cannot set tail_repair_time to less than 10 seconds\n"),
        (["-o", "lru_crawler_sleep"], 1, "Missing lru_crawler_sleep value\n"),
        (["-o", "lru_crawler_tocrawl"], 1, "Missing lru_crawler_tocrawl value\n"),
        (["-o", "hot_lru_pct"], 1, "Missing hot_lru_pct argument\n"),
        (["-o", "warm_lru_pct"], 1, "Missing warm_lru_pct argument\n"),
        (["-o", "hot_max_factor"], 1, "Missing hot_max_factor argument\n"),
        (["-o", "read_buf_mem_limit"], 1, "Missing read_buf_mem_limit argument\n"),
        (["-o", "hot_lru_pct=80"], 1, "hot_lru_pct must be > 1 and < 80\n"),
        (["-o", "hot_lru_pct=0"], 1, "hot_lru_pct must be > 1 and < 80\n"),
        (["-o", "warm_max_factor=x"], 1, "warm_max_factor must be > 0\n"),
        (["-o", "slab_automove=3"], 1, "slab_automove must be between 0 and 2\n"),
        (["-o", "no_such"], 1, "Illegal suboption \"no_such\"\n"),
        (["-o", "hashpower=11"], 1, "Initial hashtable multiplier of 11 is too low\n"),
        (["-o", "hashpower=40"], 1,
         "Initial hashtable multiplier of 40 is too high\nChoose a value based on \"STAT hash_power_level\" from a running instance\n"),
        // The hash table must be larger than the item lock table, which grows with -t.
        (["-t", "8", "-o", "hashpower=12"], 1, "Hash table power size (12) cannot be equal to or less than item lock table (13)\n" + lockTable),
        (["-o", "hashpower=12x"], 1, "Hash table power size (12) cannot be equal to or less than item lock table (12)\n" + lockTable),
        (["-c", "x"], 1, "Maximum connections must be greater than 0\n"),
        (["-c", "0"], 1, "Maximum connections must be greater than 0\n"),
        (["-t", "x"], 1, "Number of threads must be greater than 0\n"),
        (["-t", "-1"], 1, "Number of threads must be greater than 0\n"),
        (["-R", "x"], 1, "Number of requests per event must be greater than 0\n"),
        (["-n", "x"], 1, "Chunk size must be greater than 0\n"),
        (["-f", "x"], 1, "Factor must be greater than 1\n"),
        // After the switch: EX_USAGE.
        (["-I", "1000k"], 64, "-I (item_size_max: 1024000) must be evenly divisible by slab_chunk_max (bytes: 524288)\n"),
        (["-m", "0"], 64, "Cannot set item size limit higher than 1/2 of memory max.\n"),
        (["-m", "1"], 64, "Cannot set item size limit higher than 1/2 of memory max.\n"),
        (["-m", "x"], 64, "Cannot set item size limit higher than 1/2 of memory max.\n"),
    ]

    private func run(_ binary: String, _ args: [String]) async throws -> ToolResult {
        let port = try Loopback.freePort()
        return try await ToolRunner.run(binary, ["-p", String(port), "-l", "127.0.0.1", "-U", "0"] + IntegrationPaths.privilegeArguments + args,
                                        timeout: .seconds(10))
    }

    @Test("memcached's refusal text and exit status", arguments: cases)
    func refusal(_ args: [String], _ status: Int32, _ text: String) async throws {
        let ours = try await run(try IntegrationPaths.serverBinary(), args)
        #expect(!ours.timedOut && !ours.terminatedBySignal, "\(ours.report)")
        #expect(ours.status == status, "\(ours.report)")
        #expect(ours.output == text, "\(ours.report)")
        if let memcachedBinary {
            let theirs = try await run(memcachedBinary, args)
            #expect(theirs.status == ours.status && theirs.output == ours.output, "memcached: \(theirs.report)\nswiftcached: \(ours.report)")
        }
    }

    /// memcached 1.6.18 prints these words and then crashes (SIGBUS/SIGSEGV); here the start is
    /// refused with status 1 (README, differences on purpose).
    @Test("slab_chunk_max without a number: memcached's words, then a clean refusal", arguments: [
        (["-o", "slab_chunk_max"], "Missing slab_chunk_max argument\n"),
        (["-o", "slab_chunk_max=abc"], "could not parse argument to slab_chunk_max\n"),
    ])
    func slabChunkMaxRefused(_ args: [String], _ text: String) async throws {
        let ours = try await run(try IntegrationPaths.serverBinary(), args)
        #expect(!ours.terminatedBySignal && ours.status == 1 && ours.output == text, "\(ours.report)")
        if let memcachedBinary {
            let theirs = try await run(memcachedBinary, args)
            #expect(theirs.output.hasPrefix(text), "memcached: \(theirs.report)")
        }
    }

    /// memcached 1.6.18 crashes (SIGSEGV) on a bare sock_cookie_id; here it is refused as missing
    /// (README, differences on purpose).
    @Test("sock_cookie_id without a value is refused, where memcached crashes")
    func sockCookieIdMissing() async throws {
        let ours = try await run(try IntegrationPaths.serverBinary(), ["-o", "sock_cookie_id"])
        #expect(!ours.terminatedBySignal && ours.status == 1 && ours.output == "Missing sock_cookie_id argument\n", "\(ours.report)")
    }

    /// `-o sock_cookie_id=N` sets SO_MARK on the listening sockets (CAP_NET_ADMIN, which a
    /// container usually lacks): both servers start and serve, and print the same refusal lines
    /// (one `setsockopt: ...` per listening socket, TCP and UDP), or none where the kernel allows it.
    @Test("sock_cookie_id: the server starts, marks its sockets or says why as memcached",
          arguments: [["-U", "0"], ["-U", "-1"]])
    func sockCookieId(_ udp: [String]) async throws {
        func markLines(_ log: String) -> [Substring] {
            log.split(separator: "\n").filter { $0.hasPrefix("setsockopt: ") }
        }
        var ours: [Substring] = []
        try await withServer(["-o", "sock_cookie_id=5"] + udp) { server in
            let c = try RawConnection(port: server.port)
            c.send("version\r\n")
            #expect(c.receive(until: "\r\n").hasPrefix("VERSION "))
            ours = markLines(server.log)
        }
        // One TCP socket on 127.0.0.1, and one UDP socket with -U: at most one refusal each, in
        // memcached's words.
        #expect(ours.count <= (udp == ["-U", "0"] ? 1 : 2) && ours.allSatisfy { $0 == "setsockopt: Operation not permitted" }, "\(ours)")
        if let memcachedBinary {
            var theirs: [Substring] = []
            try await withServer(["-o", "sock_cookie_id=5"] + udp, binary: memcachedBinary) { server in
                let c = try RawConnection(port: server.port)
                c.send("version\r\n")
                #expect(c.receive(until: "\r\n").hasPrefix("VERSION "))
                theirs = markLines(server.log)
            }
            #expect(theirs == ours, "memcached printed \(theirs), swiftcached \(ours)")
        }
    }

    /// What memcached reads with atoi and takes: both start and serve.
    @Test("atoi values memcached takes start the server", arguments: [
        ["-o", "idle_timeout=abc"], ["-o", "temporary_ttl=-5"], ["-o", "slab_automove=x"], ["-m", "2"],
        ["-o", "sock_cookie_id=abc"], ["-o", "sock_cookie_id=0"],
    ])
    func atoiValuesStart(_ args: [String]) async throws {
        try await withServer(args) { server in
            let c = try RawConnection(port: server.port)
            c.send("version\r\n")
            #expect(c.receive(until: "\r\n").hasPrefix("VERSION "))
        }
        if let memcachedBinary {
            try await withServer(args, binary: memcachedBinary) { server in
                let c = try RawConnection(port: server.port)
                c.send("version\r\n")
                #expect(c.receive(until: "\r\n").hasPrefix("VERSION "))
            }
        }
    }
}
