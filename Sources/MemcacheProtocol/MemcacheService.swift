// The memcached text protocol as a connection handler factory: what every connection of the
// cache port shares (engine, per-worker counters, settings) and how a handler is made.
import CacheEngine
import Platform

public struct ProtocolSettings: Sendable {
    /// -A: allow `shutdown`.
    public var allowShutdown = false
    /// -R: requests handled per read event before yielding to other connections.
    public var requestsPerEvent = 20
    /// Longest request line without a newline that is not a multi-get (memcached: 2048).
    public var maxPlainLine = 2048
    /// Longest multi-get line.
    public var maxGetLine = 1 << 20
    /// What `version` (and the binary protocol's version, and `stats`'s `version`) answers:
    /// memcached's, because clients parse it as a version number (Ruby's Gem::Version, Python's
    /// packaging) and decide features by it.
    public var version = "1.6.18"
    /// swiftcached's own version, `stats`'s `swiftcached_version` (and `-V`).
    public var serverVersion = ProtocolSettings.swiftcachedVersion
    /// The one place swiftcached's version is written.
    public static let swiftcachedVersion = "0.1.0"
    /// -D: the key prefix delimiter of `stats detail`.
    public var prefixDelimiter: UInt8 = UInt8(ascii: ":")
    /// -X clears it: stats cachedump is refused.
    public var dumpEnabled = true
    /// -F clears it: flush_all is refused.
    public var flushEnabled = true
    /// -W clears it: `watch` is refused.
    public var watchEnabled = true
    /// -B: "ascii", "binary" or "auto".
    public var bindingProtocol = "auto"
    /// `-o reject_key_control_chars`: refuse keys with control bytes (memcached, and the
    /// default, accept any byte but the space).
    public var rejectKeyControlCharacters = false
    /// -Y: the user/password pairs of the auth file; nil = no authentication.
    public var authEntries: [AuthEntry]? = nil
    public init() {}
}

/// One `user:password` line of a `-Y` auth file.
public struct AuthEntry: Sendable, Equatable {
    public let user: [UInt8]
    public let password: [UInt8]
    public init(user: [UInt8], password: [UInt8]) {
        self.user = user
        self.password = password
    }

    /// The entries of an auth file's text: `user:password` per line (blank lines skipped); nil
    /// when a line has no colon.
    public static func parse(_ text: String) -> [AuthEntry]? {
        var out: [AuthEntry] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let l = line.hasSuffix("\r") ? line.dropLast() : Substring(line)
            if l.isEmpty { continue }
            guard let colon = l.firstIndex(of: ":") else { return nil }
            out.append(AuthEntry(user: Array(l[..<colon].utf8), password: Array(l[l.index(after: colon)...].utf8)))
        }
        return out
    }
}

/// What `stats` needs from outside the protocol (server counters, settings, process facts).
public struct StatsSources: Sendable {
    public var general: @Sendable () -> [(String, String)] = { [] }
    public var settings: @Sendable () -> [(String, String)] = { [] }
    public var resetServer: @Sendable () -> Void = {}
    /// The listeners and connections `stats conns` lists.
    public var connections: @Sendable () -> ConnectionsSnapshot = { .empty }
    /// The whole of `stats` in memcached's order, when the executable composes it from the
    /// process, connection and protocol tables; nil: `general` then `generalStatTable`.
    public var memcachedStats: (@Sendable (GeneralStatsSource) -> [(String, String)])? = nil
    public init() {}
}

public final class MemcacheService: ConnectionHandlerFactory, @unchecked Sendable {
    // Safe to share: all `let`; `workerStats[i]` is written only by worker i.
    public let engine: CacheEngine
    public let settings: ProtocolSettings
    public let workerStats: [StatCounters]
    let sources: StatsSources
    let onShutdown: @Sendable () -> Void
    /// `refresh_certs`: reloads the TLS certificates; nil when done, else the reason.
    let refreshCertificates: @Sendable () -> String?
    /// memcached's `refresh_certs` answer without -Z.
    public static let tlsNotEnabled = "Error TLS not enabled"
    let verbosity: StatCounters
    let prefixStats: PrefixStats
    /// `watch` streams (shared with the engine and the server).
    public let watch: WatchLog

    /// The Redis port's gate, when that port is on: each read's requests run inside it, so
    /// that none lands between an EXEC's commands (Platform's CommandGate.swift).
    let gate: CommandGate?

    public init(engine: CacheEngine, settings: ProtocolSettings, workers: Int,
                sources: StatsSources = StatsSources(), watch: WatchLog = WatchLog(),
                onShutdown: @escaping @Sendable () -> Void = {},
                refreshCertificates: @escaping @Sendable () -> String? = { MemcacheService.tlsNotEnabled },
                gate: CommandGate? = nil) {
        self.engine = engine
        self.gate = gate
        self.watch = watch
        self.settings = settings
        // One extra slot set for callers that are not workers (tests).
        self.workerStats = (0...workers).map { _ in CommandCounter.makeCounters() }
        self.sources = sources
        self.onShutdown = onShutdown
        self.refreshCertificates = refreshCertificates
        self.verbosity = StatCounters(count: 1)
        self.prefixStats = PrefixStats(delimiter: settings.prefixDelimiter)
    }

    /// `stats detail on|off` (or -D) as it is now.
    public var detailEnabled: Bool { prefixStats.isEnabled }

    public func makeHandler(workerIndex: Int, fd: Int32, output: OutputBuffer, waker: ConnectionWaker) -> ConnectionHandler {
        let engine = self.engine
        output.releaseReference = { raw in engine.release(Item(raw)) }
        return MemcacheConnection(service: self, stats: workerStats[min(workerIndex, workerStats.count - 1)],
                                  fd: fd, waker: waker, gateSlot: min(workerIndex, workerStats.count - 1))
    }
}
