// swiftcached-loadtest: closed-loop load against a memcached-protocol server (`run`, the default),
// and a side-by-side comparison of swiftcached and memcached (`compare`).
import ArgumentParser
import LoadTestCore
#if canImport(Glibc)
import Glibc
#endif

@main
struct LoadTestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftcached-loadtest",
        abstract: "Load tests for memcached-protocol and RESP servers (swiftcached, memcached, redis-server).",
        subcommands: [RunCommand.self, CompareCommand.self, NullServerCommand.self, HitRatioCommand.self],
        defaultSubcommand: RunCommand.self
    )
}

/// Writes `text` to a file (created or truncated).
func writeFile(_ path: String, _ text: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw ValidationError("cannot write \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var bytes = Array(text.utf8)
    var off = 0
    while off < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + off, $0.count - off) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { throw ValidationError("cannot write \(path): \(String(cString: strerror(errno)))") }
        off += n
    }
}

/// Writes `text` to stderr as is.
func writeStderr(_ text: String) {
    var bytes = Array(text.utf8)
    var off = 0
    while off < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress! + off, $0.count - off) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return }
        off += n
    }
}

/// Writes `text` and a newline to stderr.
func printError(_ text: String) {
    writeStderr(text.hasSuffix("\n") ? text : text + "\n")
}
