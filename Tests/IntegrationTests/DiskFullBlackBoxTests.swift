// A real full disk under the broker (issue 11, audit 4b/4c): the binary with --data-dir on a 1 MB
// tmpfs mounted in a mount namespace of its own (unshare -m; root only: mounting needs
// CAP_SYS_ADMIN), --fsync=always, and the tmpfs filled through /proc/<pid>/root while a set waits
// for its fsync. The set is answered with the refusal once the flusher gives up, the message is
// not kept, and the producer's retry, once there is room, is stored once.
import Foundation
import Testing
import TestSupport

@Suite("broker on a full disk (tmpfs), black-box", .hangGuard)
struct DiskFullBlackBoxTests {
    /// Whether this machine lets the tests mount a tmpfs in a mount namespace of their own (root
    /// with CAP_SYS_ADMIN; a container may refuse it even to root).
    static let canMountTmpfs: Bool = {
        guard geteuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else { return false }
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        probe.arguments = ["-m", "/bin/sh", "-c", "mount --make-rprivate / && mount -t tmpfs -o size=64k tmpfs /mnt"]
        probe.standardOutput = FileHandle.nullDevice
        probe.standardError = FileHandle.nullDevice
        guard (try? probe.run()) != nil else { return false }
        return ToolRunner.waitForExit(probe, upTo: .seconds(10))?.status == 0
    }()

    @Test("--fsync=always, the disk fills under a waiting set: SERVER_ERROR journal not writable; not stored, nothing kept, the retry stored once",
          .enabled(if: canMountTmpfs, "mounting a tmpfs in a mount namespace needs root with CAP_SYS_ADMIN"))
    func setWaitingWhenTheDiskFills() async throws {
        let binary = try IntegrationPaths.serverBinary()
        let mountPoint = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcached-full-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: mountPoint) }
        let brokerPort = try Loopback.freePort()
        let script = "mount --make-rprivate / && mount -t tmpfs -o size=1m tmpfs \"$1\" && chmod 777 \"$1\" && shift && exec \"$@\""
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        process.arguments = ["-m", "/bin/sh", "-c", script, "sh", mountPoint, binary, "-p", "0", "-U", "0", "-l", "127.0.0.1",
                             "--broker-port=\(brokerPort)", "--data-dir=\(mountPoint)", "--fsync=always"] + IntegrationPaths.privilegeArguments
        let log = Pipe()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        // Foundation's Process may never notice the exit (ServerProcess.swift, ChildExit): poll it.
        var running: Bool { ChildExit.poll(process) == nil }
        defer {
            if running { kill(process.processIdentifier, SIGKILL) }
            _ = ToolRunner.waitForExit(process, upTo: .seconds(10))
        }
        for _ in 0..<200 where running && !Loopback.canConnect(port: brokerPort) { try await Task.sleep(for: .milliseconds(50)) }
        try #require(running && Loopback.canConnect(port: brokerPort), "the server did not start on a tmpfs")
        // unshare and sh exec: the pid is the server's, and its root shows its mount namespace.
        let data = "/proc/\(process.processIdentifier)/root\(mountPoint)"

        let c = try RawConnection(port: brokerPort)
        c.setReceiveTimeout(milliseconds: 15_000)
        c.send("set q 0 0 6\r\nbefore\r\n")
        #expect(c.receive(until: "\r\n") == "STORED\r\n")
        // Fill the tmpfs to the last byte.
        let fd = open(data + "/filler", O_WRONLY | O_CREAT, 0o600)
        try #require(fd >= 0, "cannot create \(data)/filler")
        let block = [UInt8](repeating: 0x78, count: 4096)
        while block.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) > 0 {}
        let one: [UInt8] = [0x78]
        while one.withUnsafeBytes({ write(fd, $0.baseAddress, 1) }) > 0 {}
        close(fd)
        // A set whose record no longer fits: its STORED waits, then becomes the refusal; the
        // version behind it is answered after it.
        let body = String(repeating: "y", count: 8000)
        c.send("set q 0 0 8000\r\n\(body)\r\nversion\r\n")
        let reply = c.receive(containing: "VERSION ")
        #expect(reply.hasPrefix("SERVER_ERROR journal not writable; not stored\r\nVERSION "), "\(reply)")
        c.send("stats\r\n")
        #expect(c.receive(until: "END\r\n").contains("STAT broker_journal_refused 1\r\n"))
        // Room again: the retry is stored, and the queue holds each message once.
        #expect(unlink(data + "/filler") == 0)
        var retry = ""
        for _ in 0..<50 {
            c.send("set q 0 0 8000\r\n\(body)\r\n")
            retry = c.receive(until: "\r\n")
            if retry == "STORED\r\n" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(retry == "STORED\r\n")
        c.send("get q\r\n")
        #expect(c.receive(until: "END\r\n") == "VALUE q 0 6\r\nbefore\r\nEND\r\n")
        c.send("get q\r\n")
        #expect(c.receive(until: "END\r\n") == "VALUE q 0 8000\r\n\(body)\r\nEND\r\n")
        c.send("get q\r\n")
        #expect(c.receive(until: "END\r\n") == "END\r\n")
        #expect(running)
    }
}
