// Black-box tests of the command line and of connection-level behaviour: flags refused with
// memcached's messages, -vv's slab table, -h, -c, -R, shutdown with and without -A, and a clean
// exit on SIGTERM. Each test starts its own server on its own port and always stops it.

import Foundation
import Testing
import TestSupport

/// A raw text-protocol connection for exact-byte checks.
final class RawConnection {
    let fd: Int32

    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { Glibc.close(fd); throw IntegrationSetupError("connect to \(port) failed") }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { Glibc.close(fd) }

    func send(_ s: String) {
        var bytes = Array(s.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.send(fd, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            off += n
        }
    }

    /// Reads until `terminator` ends the received bytes, the peer closes, or 5 s pass.
    func receive(until terminator: String) -> String {
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 65536)
        while !out.reversed().starts(with: terminator.utf8.reversed()) {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Reads until what came contains `marker` and ends a line (or the peer stops sending).
    func receive(containing marker: String) -> String {
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let text = String(decoding: out, as: UTF8.self)
            if let r = text.range(of: marker), text[r.upperBound...].contains("\n") { return text }
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n <= 0 { return text }
            out += buf[0..<n]
        }
    }

    /// Replies not received within `milliseconds` end `receive` (default 5 s).
    func setReceiveTimeout(milliseconds: Int) {
        var tv = timeval(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// The value of `STAT <name>` in a `stats` reply, if any.
    func stat(_ name: String) -> Int? {
        send("stats\r\n")
        return receive(until: "END\r\n").split(separator: "\r\n").first { $0.hasPrefix("STAT \(name) ") }
            .flatMap { Int($0.split(separator: " ")[2]) }
    }

    /// True once the server has closed the connection (EOF within 5 s).
    func isClosedByPeer() -> Bool {
        var b: UInt8 = 0
        return recv(fd, &b, 1, 0) == 0
    }
}

@Suite("swiftcached command line and connections")
struct CommandLineTests {
    @Test("invalid flags print memcached's error and exit non-zero", arguments: [
        (["-t", "0"], "Number of threads must be greater than 0"),
        (["-c", "0"], "Maximum connections must be greater than 0"),
        (["-I", "512"], "Item max size cannot be less than 1024 bytes."),
        (["-f", "1"], "Factor must be greater than 1"),
        (["-R", "0"], "Number of requests per event must be greater than 0"),
        (["-U", "70000"], "Invalid UDP port number"),
        (["-o", "no_such_option"], "Illegal suboption"),
        (["-I", "256k"], "slab_chunk_max (bytes: 524288) cannot be larger than -I"),
        (["--no-such-flag"], "unrecognized option"),
        (["-D", "ab"], "No delimiter specified"),
        (["-S"], "-S, --enable-sasl (SASL authentication) is not supported by swiftcached yet"),
        (["-s", "/nonexistent-dir/swiftcached.sock"], "failed to listen"),
        (["-Y", "/nonexistent/authfile"], "Could not load authfile"),
        (["-B", "fooble"], "Invalid value for binding protocol"),
        // Issue 11: values that cannot be represented where they are used refuse the start
        // (each crashed the server, at start-up or later, before).
        (["-o", "warm_max_factor=1e300"], "warm_max_factor must be greater than 0 and at most 4294967295"),
        (["-o", "hot_max_factor=1e17"], "hot_max_factor must be greater than 0 and at most 4294967295"),
        (["-o", "hot_lru_pct=60,warm_lru_pct=40"], "hot_lru_pct + warm_lru_pct cannot be more than 80% combined"),
        (["-o", "slab_chunk_max=9999999999999999m"], "could not parse argument to slab_chunk_max"),
        (["-I", "9999999999999999m"], "Invalid max item size"),
        (["-f", "inf"], "Factor must be greater than 1"),
        (["-n", "99999999999"], "Chunk size must be at most 1073741824"),
        (["-t", "100000"], "Number of threads must be at most 1024"),
        (["-b", "99999999999"], "Invalid backlog"),
        (["-c", "99999999999"], "Maximum connections must be at most 1048576"),
        (["--fsync=9223372036854775807ms"], "Invalid --fsync"),
    ])
    func invalidFlags(_ args: [String], _ message: String) async throws {
        let binary = try IntegrationPaths.serverBinary()
        let port = try Loopback.freePort()
        let r = try await ToolRunner.run(binary, ["-p", String(port), "-l", "127.0.0.1"] + IntegrationPaths.privilegeArguments + args,
                                         timeout: .seconds(10))
        #expect(!r.timedOut, "\(r.report)")
        #expect(r.status != 0, "\(r.report)")
        #expect(r.output.contains(message), "\(r.report)")
    }

    @Test("lru tune refuses an age factor stats settings cannot print; a large one that fits is printed as %.2f")
    func lruTuneLargeFactor() async throws {
        try await withServer { server in
            let c = try RawConnection(port: server.port)
            // Issue 11: this was OK, and the next stats settings killed the server.
            c.send("lru tune 10 20 0.1 1e17\r\n")
            #expect(c.receive(until: "\r\n") == "ERROR hot/warm age factors must be greater than 0 and at most 4294967295\r\n")
            c.send("stats settings\r\n")
            let before = c.receive(until: "END\r\n")
            #expect(before.contains("STAT warm_max_factor 2.00\r\n"), "\(before)")
            c.send("lru tune 10 20 0.125 4294967295\r\n")
            #expect(c.receive(until: "\r\n") == "OK\r\n")
            c.send("stats settings\r\n")
            let after = c.receive(until: "END\r\n")
            #expect(after.contains("STAT hot_max_factor 0.12\r\n") && after.contains("STAT warm_max_factor 4294967295.00\r\n"),
                    "\(after)")
            #expect(server.isRunning, "log:\n\(server.log)")
        }
    }

    @Test("an address that does not resolve is an error at start-up")
    func badListenAddress() async throws {
        let binary = try IntegrationPaths.serverBinary()
        let port = try Loopback.freePort()
        let r = try await ToolRunner.run(binary, ["-p", String(port), "-l", "fooble"] + IntegrationPaths.privilegeArguments,
                                         timeout: .seconds(20))
        #expect(!r.timedOut && r.status != 0, "\(r.report)")
        #expect(r.output.contains("fooble"), "\(r.report)")
    }

    @Test("-h lists the implemented flags only; -V prints the version")
    func helpAndVersion() async throws {
        let binary = try IntegrationPaths.serverBinary()
        let h = try await ToolRunner.run(binary, ["-h"], timeout: .seconds(10))
        #expect(h.succeeded, "\(h.report)")
        for flag in ["-p, --port", "-t, --threads", "-m, --memory-limit", "-c, --conn-limit", "-I, --max-item-size",
                     "-M, --disable-evictions", "-C, --disable-cas", "-R, --max-reqs-per-event", "-A, --enable-shutdown",
                     "no_modern", "temporary_ttl", "slab_chunk_max", "-Z, --enable-ssl", "ssl_chain_cert", "ssl_min_version", "-e, --memory-file"] {
            #expect(h.output.contains(flag), "-h does not mention \(flag)")
        }
        #expect(h.output.contains("-B, --protocol=<name>     protocol - one of ascii, binary, or auto"))
        for unimplemented in ["-S, --enable-sasl"] {
            #expect(!h.output.contains(unimplemented), "-h advertises \(unimplemented), which is not implemented")
        }
        let v = try await ToolRunner.run(binary, ["-V"], timeout: .seconds(10))
        #expect(v.succeeded && v.output.hasPrefix("swiftcached "), "\(v.report)")
    }

    @Test("-vv prints memcached's slab class table")
    func verboseSlabTable() async throws {
        try await withServer(["-vv"]) { server in
            let lines = server.log.split(separator: "\n").filter { $0.hasPrefix("slab class") }
            #expect(lines.count == 39, "log:\n\(server.log)")
            #expect(lines.first == "slab class   1: chunk size        96 perslab   10922")
            #expect(lines.last == "slab class  39: chunk size    524288 perslab       2")
        }
    }

    @Test("-c 40 -t 2: memcached's admission (its own descriptors come out of -c); the one over it gets ERROR Too many open connections and is closed; a slot frees when one closes")
    func connectionLimit() async throws {
        try await withServer(["-c", "40", "-t", "2"]) { server in
            let a = try RawConnection(port: server.port)
            // The start-up probe's connection is closed, but on a loaded machine its worker may not
            // have seen the close yet: wait until `a` is the only connection counted.
            func currentConnections() -> Int? {
                a.send("stats\r\n")
                let stats = a.receive(until: "END\r\n")
                return stats.split(separator: "\r\n").first { $0.hasPrefix("STAT curr_connections ") }
                    .flatMap { Int($0.split(separator: " ")[2]) }
            }
            func waitUntilOnlyA() async throws {
                let deadline = ContinuousClock.now + .seconds(10)
                while currentConnections() != 1 && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            try await waitUntilOnlyA()
            // memcached's descriptors for -t 2 and one TCP port (3 + 4 x 2 + 1) and what the
            // process inherited (at least stdio) leave at most 40 - 1 - 15 for clients.
            var open: [RawConnection] = [a]
            var refusal = ""
            while open.count < 40 {
                let c = try RawConnection(port: server.port)
                c.setReceiveTimeout(milliseconds: 2000)
                c.send("version\r\n")
                let reply = c.receive(until: "\r\n")
                guard reply.hasPrefix("VERSION ") else {
                    refusal = reply
                    #expect(c.isClosedByPeer())
                    break
                }
                open.append(c)
            }
            // Once under a loaded full suite accepting paused here instead (listen_disabled_num 7
            // at 24 admitted): say what the server had then, so that a repeat tells why.
            #expect(refusal == "ERROR Too many open connections\r\n", "\(refusal.isEmpty ? admissionFacts(server.pid, a) : "")")
            #expect(open.count >= 2 && open.count <= 40 - 1 - 15, "\(open.count) admitted")
            // The admitted keep working, and a slot frees when one closes.
            a.send("version\r\n")
            #expect(a.receive(until: "\r\n").hasPrefix("VERSION "))
            let admitted = open.count
            open.removeLast().send("quit\r\n")
            let deadline = ContinuousClock.now + .seconds(10)
            while currentConnections() != admitted - 1 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            let d = try RawConnection(port: server.port)
            d.send("version\r\n")
            #expect(d.receive(until: "\r\n").hasPrefix("VERSION "))
            a.send("stats\r\n")
            let stats = a.receive(until: "END\r\n")
            #expect(stats.contains("STAT rejected_connections 1\r\n"), "\(stats)")
            withExtendedLifetime(open) {}
        }
    }

    @Test("descriptors running out before -c: the waiting connection is refused, accepting pauses (listen_disabled_num), no spinning, and it resumes",
          .hangGuard)
    func outOfDescriptors() async throws {
        // Issue 11: under `ulimit -n 1024` with -c 1024 the listener spun at 100% of a core on
        // EMFILE and new connections hung. The server reserves what -c and its own files need at
        // start-up (broker queues no longer take a descriptor each), so here the limit is lowered
        // under the running server, as the -u user may (prlimit(2) needs matching ids), so that
        // descriptors run out well before -c 200.
        guard let setpriv = IntegrationPaths.findExecutable("setpriv"),
              let prlimit = IntegrationPaths.findExecutable("prlimit") else {
            Issue.record("setpriv and prlimit (util-linux) are needed to lower the server's descriptor limit")
            return
        }
        let server = try await ServerProcess.start(["-t", "2", "-c", "200"], descriptorLimit: 256)
        defer { server.stop() }
        let first = try RawConnection(port: server.port)
        let lower = [prlimit, "--pid", String(server.pid), "--nofile=64:64"]
        let lowered = geteuid() == 0
            ? try await ToolRunner.run(setpriv, ["--reuid=nobody", "--regid=nogroup", "--clear-groups"] + lower, timeout: .seconds(10))
            : try await ToolRunner.run(prlimit, Array(lower.dropFirst()), timeout: .seconds(10))
        #expect(lowered.succeeded, "prlimit failed:\n\(lowered.report)")
        var open: [RawConnection] = []
        var refusal = ""
        while open.count < 200 {
            guard let c = try? RawConnection(port: server.port) else { refusal = "connect failed"; break }
            c.setReceiveTimeout(milliseconds: 1000)
            c.send("version\r\n")
            let reply = c.receive(until: "\r\n")
            guard reply.hasPrefix("VERSION ") else { refusal = reply.isEmpty ? "no reply" : reply; break }
            open.append(c)
        }
        #expect(open.count < 200, "descriptors never ran out")
        #expect(refusal == "ERROR Too many open connections\r\n", "\(refusal.debugDescription) after \(open.count)")
        // One more waits in the backlog: the accept event stays readable while descriptors are
        // out, which made the listener spin.
        let waiting = try RawConnection(port: server.port)
        waiting.setReceiveTimeout(milliseconds: 3000)
        waiting.send("version\r\n")
        func cpuTicks() throws -> Int {
            let stat = try String(contentsOfFile: "/proc/\(server.pid)/stat", encoding: .utf8)
            let fields = stat[stat.range(of: ")", options: .backwards)!.upperBound...].split(separator: " ")
            return Int(fields[11])! + Int(fields[12])!  // utime, stime
        }
        let before = try cpuTicks()
        try await Task.sleep(for: .seconds(1))
        let ticks = try cpuTicks() - before
        #expect(ticks <= Int(sysconf(Int32(_SC_CLK_TCK))) / 5, "server used \(ticks) ticks of CPU in 1 s while out of descriptors")
        // The existing connections are served, and the pause is counted.
        #expect((first.stat("listen_disabled_num") ?? 0) > 0)
        #expect(first.stat("rejected_connections").map { $0 >= 1 } == true)
        #expect(open.last.map { c in c.send("version\r\n"); return c.receive(until: "\r\n").hasPrefix("VERSION ") } == true)
        // The waiting connection is refused at the next try (not left waiting for ever) ...
        #expect(waiting.receive(until: "\r\n") == "ERROR Too many open connections\r\n")
        // ... and once connections close, accepting resumes.
        open.removeAll()
        var served = false
        let deadline = ContinuousClock.now + .seconds(10)
        while !served && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            if let c = try? RawConnection(port: server.port) {
                c.setReceiveTimeout(milliseconds: 2000)
                c.send("version\r\n")
                served = c.receive(until: "\r\n").hasPrefix("VERSION ")
            }
        }
        #expect(served, "no connection accepted after others closed; log:\n\(server.log)")
        #expect(first.stat("accepting_conns") == 1)
        #expect(server.isRunning)
    }

    @Test("-R 1: 50 pipelined requests are all answered in order, yielding between them")
    func requestsPerEvent() async throws {
        try await withServer(["-R", "1"]) { server in
            let c = try RawConnection(port: server.port)
            var batch = ""
            var expected = ""
            for i in 0..<50 {
                batch += "set k\(i) 0 0 \(String(i).count)\r\n\(i)\r\nget k\(i)\r\n"
                expected += "STORED\r\nVALUE k\(i) 0 \(String(i).count)\r\n\(i)\r\nEND\r\n"
            }
            c.send(batch)
            #expect(c.receive(until: "VALUE k49 0 2\r\n49\r\nEND\r\n") == expected)
            c.send("stats\r\n")
            let stats = c.receive(until: "END\r\n")
            let yields = stats.split(separator: "\r\n").first { $0.hasPrefix("STAT conn_yields ") }
            #expect(yields.flatMap { Int($0.split(separator: " ")[2]) }.map { $0 > 0 } == true, "\(stats)")
        }
    }

    @Test("1 MB value sent in one write and read back byte for byte")
    func oneMegabyteValue() async throws {
        try await withServer(["-I", "2m"]) { server in
            let c = try RawConnection(port: server.port)
            let value = String((0..<(1 << 20)).map { Character(UnicodeScalar(UInt8(97 + $0 % 26))) })
            c.send("set big 7 0 \(value.utf8.count)\r\n\(value)\r\n")
            #expect(c.receive(until: "\r\n") == "STORED\r\n")
            c.send("get big\r\n")
            let reply = c.receive(until: "END\r\n")
            #expect(reply == "VALUE big 7 \(1 << 20)\r\n\(value)\r\nEND\r\n")
        }
    }

    @Test("-k -L: slab pages are locked in RAM as they are taken (VmLck grows), and the server serves")
    func lockedLargePages() async throws {
        try await withServer(["-k", "-L", "-m", "16"]) { server in
            let c = try RawConnection(port: server.port)
            let value = String(repeating: "v", count: 1000)
            for i in 0..<2000 { c.send("set k\(i) 0 0 1000 noreply\r\n\(value)\r\n") }
            c.send("get k1999\r\n")
            #expect(c.receive(until: "END\r\n") == "VALUE k1999 0 1000\r\n\(value)\r\nEND\r\n")
            let status = (try? String(contentsOfFile: "/proc/\(server.pid)/status", encoding: .utf8)) ?? ""
            let locked = status.split(separator: "\n").first { $0.hasPrefix("VmLck:") }
                .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") } ?? 0
            // 2000 items of ~1 KB fill 2 MB+ of 1 MB slab pages; without -k nothing is locked. A
            // low RLIMIT_MEMLOCK may refuse the locks: then the warning must be in the log.
            #expect(locked >= 2048 || server.log.contains("mlockall() failed"), "VmLck \(locked) kB; log:\n\(server.log)")
        }
    }

    @Test("-Y: before a set with a user and password of the auth file every command is refused; then it serves")
    func asciiAuth() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcached-auth-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("auth").path
        try "alice:secret\nbob:pw2\n".write(toFile: file, atomically: true, encoding: .utf8)
        let brokerPort = try Loopback.freePort()
        try await withServer(["-Y", file, "--broker-port=\(brokerPort)"]) { server in
            // The broker port asks for the same authentication.
            let b = try RawConnection(port: brokerPort)
            b.send("get q\r\n")
            #expect(b.receive(until: "\r\n") == "CLIENT_ERROR unauthenticated\r\n")
            b.send("set auth 0 0 7\r\nbob pw2\r\nget q\r\n")
            #expect(b.receive(until: "END\r\n").hasSuffix("STORED\r\nEND\r\n"))
            // An oversized "token" is skipped, not buffered.
            let big = try RawConnection(port: server.port)
            big.send("set auth 0 0 9000\r\n" + String(repeating: "x", count: 9000) + "\r\nget a\r\n")
            #expect(big.receive(until: "unauthenticated\r\n")
                    == "CLIENT_ERROR bad authentication token format\r\nCLIENT_ERROR unauthenticated\r\n")
            let c = try RawConnection(port: server.port)
            // One request at a time, as memcached 1.6.18 answered them side by side.
            for (request, reply) in [
                ("version\r\n", "CLIENT_ERROR unauthenticated\r\n"),
                ("get a\r\n", "CLIENT_ERROR unauthenticated\r\n"),
                ("set x 0 0\r\n", "CLIENT_ERROR unauthenticated\r\n"),
                ("set auth 0 0 11\r\nalice wrong\r\n", "CLIENT_ERROR authentication failure\r\n"),
                ("set auth 0 0 5\r\nalice\r\n", "CLIENT_ERROR bad authentication token format\r\n"),
                ("set auth 0 0 12\r\nalice secret\r\n", "STORED\r\n"),
                ("set a 0 0 1\r\n1\r\nget a\r\n", "STORED\r\nVALUE a 0 1\r\n1\r\nEND\r\n"),
            ] {
                c.send(request)
                #expect(c.receive(until: reply.hasSuffix("END\r\n") ? "END\r\n" : "\r\n") == reply, "\(request.debugDescription)")
            }
            c.send("stats\r\n")
            let stats = c.receive(until: "END\r\n")
            #expect(stats.contains("STAT auth_cmds 2\r\n") && stats.contains("STAT auth_errors 1\r\n"), "\(stats)")
            c.send("stats settings\r\n")
            #expect(c.receive(until: "END\r\n").contains("STAT auth_enabled_ascii \(file)\r\n"))
            // Another connection starts unauthenticated.
            let d = try RawConnection(port: server.port)
            d.send("get a\r\n")
            #expect(d.receive(until: "\r\n") == "CLIENT_ERROR unauthenticated\r\n")
        }
        // As memcached: ASCII auth and the binary protocol do not mix.
        let binary = try IntegrationPaths.serverBinary()
        let r = try await ToolRunner.run(binary, ["-p", String(try Loopback.freePort()), "-l", "127.0.0.1", "-B", "binary", "-Y", file]
                                             + IntegrationPaths.privilegeArguments,
                                         timeout: .seconds(10))
        #expect(r.status != 0 && r.output.contains("You cannot allow the BINARY protocol while using ascii authentication tokens."),
                "\(r.report)")
    }

    @Test("watch: fetchers, mutations, evictions and connevents lines in memcached's format; -W refuses it")
    func watchStreams() async throws {
        try await withServer(["-m", "8", "-I", "512k", "-o", "slab_chunk_max=256k"]) { server in
            let w = try RawConnection(port: server.port)
            w.send("watch fetchers mutations evictions connevents\r\n")
            // Log lines may follow OK in the same read.
            let first = w.receive(containing: "OK")
            #expect(first.hasPrefix("OK\r\n"), "\(first)")
            let c = try RawConnection(port: server.port)
            c.send("set foo 0 100 3\r\nbar\r\nget foo\r\nget nope\r\n")
            #expect(c.receive(until: "END\r\nEND\r\n").hasSuffix("END\r\n"))
            let value = String(repeating: "x", count: 100_000)
            for i in 0..<120 { c.send("set big\(i) 0 0 100000 noreply\r\n\(value)\r\n") }
            c.send("get big119\r\nquit\r\n")
            _ = c.receive(until: "END\r\n")
            // Read up to our own last get, then to a close after it (the readiness probe's close
            // may show up first).
            var log = String(first.dropFirst(4))
            if !log.contains("type=item_get key=big119") { log += w.receive(containing: "type=item_get key=big119") }
            if !(log.components(separatedBy: "type=item_get key=big119").last ?? "").contains("type=conn_close") {
                log += w.receive(containing: "type=conn_close")
            }
            let lines = log.split(separator: "\n").map(String.init)
            func has(_ pattern: String) -> Bool { lines.contains { $0.range(of: pattern, options: .regularExpression) != nil } }
            let ts = "^ts=[0-9]+\\.[0-9]+ gid=[0-9]+ "
            #expect(has(ts + "type=conn_new rip=127\\.0\\.0\\.1 rport=[0-9]+ transport=tcp cfd=[0-9]+$"), "\(log.prefix(2000))")
            #expect(has(ts + "type=item_store key=foo status=stored cmd=set ttl=100 clsid=1 cfd=[0-9]+ size=3$"), "\(log.prefix(2000))")
            #expect(has(ts + "type=item_get key=foo status=found clsid=1 cfd=[0-9]+ size=3$"), "\(log.prefix(2000))")
            #expect(has(ts + "type=item_get key=nope status=not_found clsid=0 cfd=[0-9]+ size=0$"), "\(log.prefix(2000))")
            #expect(has(ts + "type=eviction key=big[0-9]+ fetch=no ttl=-1 la=[0-9]+ clsid=[0-9]+ size=100000$"), "\(log.suffix(2000))")
            #expect(has(ts + "type=conn_close rip=127\\.0\\.0\\.1 rport=[0-9]+ transport=tcp reason=normal cfd=[0-9]+"), "\(log.suffix(2000))")
        }
        // memcached's limit of 20 watchers.
        try await withServer { server in
            var watchers: [RawConnection] = []
            for _ in 0..<20 {
                let w = try RawConnection(port: server.port)
                w.send("watch\r\n")
                #expect(w.receive(until: "\r\n") == "OK\r\n")
                watchers.append(w)
            }
            let extra = try RawConnection(port: server.port)
            extra.send("watch\r\n")
            #expect(extra.receive(until: "\r\n") == "WATCHER_TOO_MANY log watcher limit reached\r\n")
            withExtendedLifetime(watchers) {}
        }
        try await withServer(["-W"]) { server in
            let c = try RawConnection(port: server.port)
            c.send("watch\r\n")
            #expect(c.receive(until: "\r\n") == "CLIENT_ERROR watch commands not allowed\r\n")
        }
    }

    @Test("-F: flush_all is refused (silently with noreply) and nothing is flushed")
    func flushDisabled() async throws {
        try await withServer(["-F"]) { server in
            let c = try RawConnection(port: server.port)
            c.send("set a 0 0 1\r\n1\r\nflush_all\r\nflush_all noreply\r\nget a\r\n")
            #expect(c.receive(until: "END\r\n") == "STORED\r\nCLIENT_ERROR flush_all not allowed\r\nVALUE a 0 1\r\n1\r\nEND\r\n")
        }
    }

    @Test("-p -1 -U -1 bind free ports and MEMCACHED_PORT_FILENAME reports both")
    func ephemeralPortFile() async throws {
        let binary = try IntegrationPaths.serverBinary()
        let portFile = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcached-port-\(UUID().uuidString)").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["-p", "-1", "-l", "127.0.0.1", "-U", "-1"] + IntegrationPaths.privilegeArguments
        process.environment = ProcessInfo.processInfo.environment.merging(["MEMCACHED_PORT_FILENAME": portFile]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            if process.isRunning { kill(process.processIdentifier, SIGKILL); ToolRunner.waitForExit(process, upTo: .seconds(5)) }
            try? FileManager.default.removeItem(atPath: portFile)
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while !FileManager.default.fileExists(atPath: portFile) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        let text = try String(contentsOfFile: portFile, encoding: .utf8)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.count == 2 && lines[0].hasPrefix("TCP INET: ") && lines[1].hasPrefix("UDP INET: ") && text.hasSuffix("\n"), "\(text)")
        let port = try #require(UInt16(lines[0].dropFirst("TCP INET: ".count)))
        #expect(UInt16(lines.count == 2 ? String(lines[1].dropFirst("UDP INET: ".count)) : "") != nil, "\(text)")
        let c = try RawConnection(port: port)
        c.send("version\r\n")
        #expect(c.receive(until: "\r\n").hasPrefix("VERSION "))
    }

    @Test("-d -P -s -a: a daemon on a UNIX socket with its mask and pid file, both removed at exit")
    func daemonOnUnixSocket() async throws {
        let binary = try IntegrationPaths.serverBinary()
        // The daemon writes its socket and pid file as -u's user.
        let dir = try IntegrationPaths.serverWritableDirectory("swiftcached").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sock = dir + "/sc.sock", pidFile = dir + "/sc.pid"
        // Started as a shell starts it: the foreground process returns once the daemon has forked.
        let user = IntegrationPaths.privilegeArguments.joined(separator: " ")
        let status = system("'\(binary)' \(user) -d -P '\(pidFile)' -s '\(sock)' -a 770 </dev/null >/dev/null 2>&1")
        #expect(status == 0)
        let deadline = ContinuousClock.now + .seconds(10)
        while !FileManager.default.fileExists(atPath: pidFile) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        let pid = try #require(Int32(try String(contentsOfFile: pidFile, encoding: .utf8).dropLast()))
        defer { kill(pid, SIGKILL) }
        let attributes = try FileManager.default.attributesOfItem(atPath: sock)
        #expect((attributes[.posixPermissions] as? Int).map { $0 & 0o777 } == 0o770)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { Glibc.close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(sock.utf8)) }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(rc == 0)
        let request = Array("set a 0 0 1\r\n1\r\nget a\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress!, $0.count, 0) }
        var reply = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 256)
        while !String(decoding: reply, as: UTF8.self).hasSuffix("END\r\n") {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n <= 0 { break }
            reply += buf[0..<n]
        }
        #expect(String(decoding: reply, as: UTF8.self) == "STORED\r\nVALUE a 0 1\r\n1\r\nEND\r\n")
        kill(pid, SIGTERM)
        let gone = ContinuousClock.now + .seconds(5)
        while FileManager.default.fileExists(atPath: pidFile) && ContinuousClock.now < gone {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(!FileManager.default.fileExists(atPath: pidFile))
        #expect(!FileManager.default.fileExists(atPath: sock))
    }

    @Test("as root without -u the server refuses to start, as memcached (exit status 64); -u with no such user is 67",
          .enabled(if: geteuid() == 0, "only root is refused"))
    func rootWithoutUser() async throws {
        let binary = try IntegrationPaths.serverBinary()
        let port = try Loopback.freePort()
        let r = try await ToolRunner.run(binary, ["-p", String(port), "-l", "127.0.0.1", "-U", "0"], timeout: .seconds(10))
        #expect(!r.timedOut && !r.terminatedBySignal && r.status == 64, "\(r.report)")
        #expect(r.output.contains("can't run as root without the -u switch"), "\(r.report)")
        #expect(!Loopback.canConnect(port: port))
        let u = try await ToolRunner.run(binary, ["-p", String(port), "-l", "127.0.0.1", "-U", "0", "-u", "no-such-user-x"],
                                         timeout: .seconds(10))
        #expect(u.status == 67 && u.output.contains("can't find the user no-such-user-x to switch to"), "\(u.report)")
    }

    @Test("-u nobody: started as root, the server drops to that user and serves")
    func dropPrivileges() async throws {
        // withServer adds -u nobody when the tests run as root.
        try await withServer(getuid() == 0 ? [] : ["-u", "nobody"]) { server in
            let c = try RawConnection(port: server.port)
            c.send("version\r\n")
            #expect(c.receive(until: "\r\n").hasPrefix("VERSION "))
            if getuid() == 0 {
                let status = try String(contentsOfFile: "/proc/\(server.pid)/status", encoding: .utf8)
                let uidLine = status.split(separator: "\n").first { $0.hasPrefix("Uid:") } ?? ""
                let nobody = getpwnam("nobody").map { $0.pointee.pw_uid } ?? 65534
                #expect(uidLine.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().allSatisfy { $0 == "\(nobody)" },
                        "\(uidLine)")
            }
        }
    }

    @Test("memcstat (libmemcached-tools) parses our stats")
    func memcstat() async throws {
        guard let tool = IntegrationPaths.findExecutable("memcstat") else {
            throw IntegrationSetupError("memcstat not found (install Debian package libmemcached-tools)")
        }
        try await withServer { server in
            let r = try await ToolRunner.run(tool, ["--servers=127.0.0.1:\(server.port)"], timeout: .seconds(30))
            #expect(r.succeeded, "\(r.report)")
            for field in ["pid:", "uptime:", "version: 1.6.18", "curr_connections:", "get_hits:",
                          "limit_maxbytes: 67108864", "threads: 4", "curr_items: 0", "evictions: 0"] {
                #expect(r.output.contains(field), "memcstat output lacks \(field):\n\(r.output)")
            }
        }
    }

    @Test("-o idle_timeout=1: an idle connection is closed and counted; stats conns lists connections")
    func idleTimeoutAndStatsConns() async throws {
        try await withServer(["-o", "idle_timeout=1"]) { server in
            let idle = try RawConnection(port: server.port)
            #expect(idle.isClosedByPeer(), "an idle connection was not closed within 5 s")
            let c = try RawConnection(port: server.port)
            c.send("stats\r\n")
            let stats = c.receive(until: "END\r\n")
            #expect(stats.contains("STAT idle_kicks 1\r\n") || stats.contains("STAT idle_kicks 2\r\n"), "\(stats)")
            c.send("stats settings\r\n")
            #expect(c.receive(until: "END\r\n").contains("STAT idle_timeout 1\r\n"))
        }
        // stats conns on a server without idle_timeout: on a loaded machine the asking connection
        // could itself sit idle for the timeout between two commands and be kicked.
        try await withServer { server in
            let c = try RawConnection(port: server.port)
            c.send("stats conns\r\n")
            let conns = c.receive(until: "END\r\n")
            #expect(conns.contains(":addr tcp:127.0.0.1:\(server.port)\r\n"), "\(conns)")
            #expect(conns.contains(":state conn_listening\r\n"), "\(conns)")
            #expect(conns.contains(":listen_addr tcp:127.0.0.1:\(server.port)\r\n"), "\(conns)")
            // The asking connection is running its command, as memcached's (conn_parse_cmd).
            #expect(conns.contains(":state conn_parse_cmd\r\n"), "\(conns)")
            #expect(conns.hasSuffix("END\r\n"))
        }
    }

    /// The `idle` lines of `stats settings` and `stats` (idle_timeout, idle_kicks).
    private static func idleLines(_ c: RawConnection) -> [String] {
        c.send("stats settings\r\n")
        let settings = c.receive(until: "END\r\n")
        c.send("stats\r\n")
        let stats = c.receive(until: "END\r\n")
        return (settings + stats).split(separator: "\r\n").filter { $0.contains(" idle_") }.map(String.init)
    }

    // Issue 11: -o idle_timeout=4294967296 was accepted and crashed the idle sweep a second later.
    // memcached reads it with atoi (a C int): 2^32 is 0 (off), 2^63 and -1 are -1 and 2^31 is
    // -2^31, which its sweep compares as unsigned, so nothing is ever kicked; stats settings shows
    // the int. Each must start, outlive the first sweeps (2.5 s) and keep an idle connection open.
    @Test("-o idle_timeout past an int: the server stays up, keeps idle connections and shows memcached's value", .hangGuard,
          arguments: [("4294967296", "0"), ("9223372036854775808", "-1"), ("-1", "-1"), ("2147483648", "-2147483648")])
    func idleTimeoutPastAnInt(_ value: String, _ shown: String) async throws {
        let memcached = IntegrationPaths.findExecutable("memcached", extraDirectories: ["/usr/bin", "/usr/local/bin"])
        var lines: [[String]] = []
        for binary in [try IntegrationPaths.serverBinary()] + (memcached.map { [$0] } ?? []) {
            try await withServer(["-o", "idle_timeout=\(value)"], binary: binary) { server in
                let idle = try RawConnection(port: server.port)
                idle.send("version\r\n")
                #expect(idle.receive(until: "\r\n").hasPrefix("VERSION "))
                try await Task.sleep(for: .milliseconds(2500))
                #expect(server.isRunning, "\(binary) -o idle_timeout=\(value) died; log:\n\(server.log)")
                idle.send("version\r\n")
                #expect(idle.receive(until: "\r\n").hasPrefix("VERSION "), "\(binary): the idle connection was closed")
                let c = try RawConnection(port: server.port)
                let found = Self.idleLines(c)
                #expect(found.contains("STAT idle_timeout \(shown)"), "\(binary): \(found)")
                #expect(!found.contains { $0.hasPrefix("STAT idle_kicks ") && $0 != "STAT idle_kicks 0" }, "\(binary): \(found)")
                lines.append(found)
            }
        }
        if lines.count == 2 {
            #expect(lines[0] == lines[1], "swiftcached \(lines[0]), memcached \(lines[1])")
        }
    }

    @Test("shutdown is refused without -A, and stops the server with -A")
    func shutdownCommand() async throws {
        try await withServer { server in
            let c = try RawConnection(port: server.port)
            c.send("shutdown\r\n")
            #expect(c.receive(until: "\r\n") == "ERROR: shutdown not enabled\r\n")
        }
        try await withServer(["-A"]) { server in
            let c = try RawConnection(port: server.port)
            c.send("shutdown\r\n")
            #expect(c.isClosedByPeer())
            let deadline = ContinuousClock.now + .seconds(5)
            while server.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            #expect(!server.isRunning, "server still running after shutdown")
        }
    }

    @Test("SIGTERM stops the server cleanly with exit status 0, also with connections open")
    func sigtermExitsCleanly() async throws {
        let binary = try IntegrationPaths.serverBinary()
        let port = try Loopback.freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["-p", String(port), "-l", "127.0.0.1", "-U", "0"] + IntegrationPaths.privilegeArguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if ChildExit.poll(process) == nil { kill(process.processIdentifier, SIGKILL); ToolRunner.waitForExit(process, upTo: .seconds(5)) } }
        let deadline = ContinuousClock.now + .seconds(10)
        while !Loopback.canConnect(port: port) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        let c = try RawConnection(port: port)
        c.send("set a 0 0 1\r\n1\r\n")
        #expect(c.receive(until: "\r\n") == "STORED\r\n")
        kill(process.processIdentifier, SIGTERM)
        let exit = ToolRunner.waitForExit(process, upTo: .seconds(5))
        #expect(exit != nil, "still running 5 s after SIGTERM")
        #expect(exit == ChildExit.Status(status: 0, signalled: false))
        #expect(c.isClosedByPeer())
    }
}

/// What decides admission in a server: its open descriptors and limit (/proc), and the `stats`
/// lines on connections and accepting, as seen through `c`.
private func admissionFacts(_ pid: Int32, _ c: RawConnection) -> String {
    let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count).map(String.init) ?? "?"
    let limit = (try? String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8))?
        .split(separator: "\n").first { $0.hasPrefix("Max open files") }.map(String.init) ?? "?"
    c.send("stats\r\n")
    let keep = ["curr_connections", "total_connections", "rejected_connections", "listen_disabled_num", "accepting_conns"]
    let stats = c.receive(until: "END\r\n").split(separator: "\r\n").filter { l in keep.contains { l.hasPrefix("STAT \($0) ") } }
    return "descriptors open \(fds); \(limit); " + stats.joined(separator: "; ")
}
