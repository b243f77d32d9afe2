// INFO commandstats and errorstats: per command, how often it ran, the microseconds it took, how
// often it was rejected before running (arity, authentication) and how often it answered an error
// (redis 7.0's calls, usec, rejected_calls, failed_calls); per error code (the reply's first word),
// how many error replies carried it. Counted per worker in one `StatCounters` set, summed when
// INFO runs, so counting is a relaxed load and store on the worker's own cache lines.
import Platform
#if canImport(Glibc)
import Glibc
#endif

enum RESPCommandStats {
    /// The slots of one command: calls, usec, rejected_calls, failed_calls.
    static let slotsPerCommand = 4
    static let calls = 0, microseconds = 1, rejected = 2, failed = 3

    static func makeCounters(commands: Int) -> StatCounters {
        StatCounters(count: commands * slotsPerCommand + RESPErrorCode.allCases.count)
    }

    @inline(__always)
    static func slot(command: Int, _ field: Int) -> Int { command * slotsPerCommand + field }

    @inline(__always)
    static func slot(error: RESPErrorCode, commands: Int) -> Int { commands * slotsPerCommand + error.rawValue }

    /// Microseconds on the monotonic clock, to time a command as redis's `ustime` calls do.
    @inline(__always)
    static func now() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) &* 1_000_000 &+ UInt64(t.tv_nsec / 1000)
    }

    /// Unix time in microseconds (CLOCK_REALTIME): where a read of requests places `now`'s
    /// marks on the Unix clock (`RESPConnection.commandMilliseconds`).
    @inline(__always)
    static func unixMicroseconds() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_REALTIME, &t)
        return UInt64(t.tv_sec) &* 1_000_000 &+ UInt64(t.tv_nsec / 1000)
    }
}

/// The error codes this port answers with: the first word of the error line, as errorstats names
/// them (`errorstat_ERR`, `errorstat_WRONGTYPE`). A reply whose first word is none of these is
/// counted as ERR.
enum RESPErrorCode: Int, CaseIterable {
    case err, wrongType, noAuth, wrongPass, noProto, execAbort, busyKey, oom, unblocked

    var word: StaticString {
        switch self {
        case .err: "ERR"
        case .wrongType: "WRONGTYPE"
        case .noAuth: "NOAUTH"
        case .wrongPass: "WRONGPASS"
        case .noProto: "NOPROTO"
        case .execAbort: "EXECABORT"
        case .busyKey: "BUSYKEY"
        case .oom: "OOM"
        case .unblocked: "UNBLOCKED"
        }
    }

    /// The code an error line starts with.
    static func of(_ line: UnsafeRawBufferPointer) -> RESPErrorCode {
        let end = line.firstIndex(of: 0x20) ?? line.count
        let first = UnsafeRawBufferPointer(rebasing: line[0..<end])
        for code in allCases where first.elementsEqual(code.word.utf8Bytes) { return code }
        return .err
    }
}
