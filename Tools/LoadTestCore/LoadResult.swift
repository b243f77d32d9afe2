// What a run measured, as text or JSON.

public struct ErrorCounts: Sendable, Equatable {
    /// A well-formed reply that does not answer the request in flight (e.g. NOT_STORED to a set,
    /// a VALUE for a key not asked for, a reply with nothing in flight).
    public var unexpected = 0
    /// Bytes that are not a memcached reply; the connection is closed.
    public var malformed = 0
    /// ERROR, CLIENT_ERROR or SERVER_ERROR replies.
    public var errorReplies = 0
    /// The server closed a connection (or it failed).
    public var closed = 0
    /// Requests that never got a reply (connection closed, run stopped, watchdog).
    public var lost = 0
    /// Connections that had requests in flight and no reply for the watchdog time.
    public var timeouts = 0
    /// Hits whose value is not the one written for that key (--verify).
    public var verify = 0

    public init() {}

    public var total: Int { unexpected + malformed + errorReplies + closed + lost + timeouts + verify }

    public mutating func add(_ o: ErrorCounts) {
        unexpected += o.unexpected; malformed += o.malformed; errorReplies += o.errorReplies
        closed += o.closed; lost += o.lost; timeouts += o.timeouts; verify += o.verify
    }

    public var fields: [(String, Int)] {
        [("unexpected", unexpected), ("malformed", malformed), ("error_reply", errorReplies),
         ("closed", closed), ("lost", lost), ("timeout", timeouts), ("verify", verify)]
    }
}

public struct LoadResult: Sendable {
    public var config: LoadConfig
    /// From the start of measuring to the last reply.
    public var elapsedSeconds: Double = 0
    public var warmSeconds: Double? = nil
    /// Completed requests (a multi-get is one request).
    public var requests = 0
    public var sets = 0
    public var getRequests = 0
    /// Keys asked for by the completed gets.
    public var getKeys = 0
    public var hits = 0
    public var errors = ErrorCounts()
    public var warmErrors = ErrorCounts()
    public var latency = LatencySummary.empty
    /// CPU seconds the harness itself used while measuring (all threads).
    public var loaderCPUSeconds: Double = 0
    /// Why the run stopped early (watchdog, signal), if it did.
    public var stopReason: String? = nil
    /// Error reply lines (ERROR, CLIENT_ERROR ..., SERVER_ERROR ..., RESP -...) with their counts,
    /// warm-up included; up to 8 distinct lines per load thread.
    public var errorTexts: [(text: String, count: Int)] = []

    public init(config: LoadConfig) { self.config = config }

    /// Key operations: a set is one, a get of K keys is K.
    public var ops: Int { sets + getKeys }
    public var opsPerSecond: Double { elapsedSeconds > 0 ? Double(ops) / elapsedSeconds : 0 }
    public var requestsPerSecond: Double { elapsedSeconds > 0 ? Double(requests) / elapsedSeconds : 0 }
    public var hitRatio: Double { getKeys > 0 ? Double(hits) / Double(getKeys) : 0 }
    /// Queue flood: messages consumed per second.
    public var messagesPerSecond: Double { elapsedSeconds > 0 ? Double(hits) / elapsedSeconds : 0 }

    public var text: String {
        let c = config
        var lines: [String] = []
        let what = c.requests.map { "\($0) requests" } ?? "\(formatFixed(c.durationSeconds, 1)) s"
        let conns = c.wire.isQueue ? c.producers + c.consumers : c.connsPerThread
        lines.append("swiftcached-loadtest → \(c.host):\(c.port): \(c.threads) thread(s) × \(conns) conns, pipeline \(c.pipeline), \(what)")
        lines.append("  \(c.wire.isRESP ? "RESP, " : "")keys \(c.keys) (\(c.keyDistribution)), values \(c.valueSizeDescription) B, set:get \(c.ratioDescription), multiget \(c.multiget)\(c.warm ? ", warm" : "")\(c.verify ? ", verify" : "")")
        if let w = warmSeconds { lines.append("  warm:      \(c.keys) sets in \(formatFixed(w, 2)) s\(warmErrors.total > 0 ? ", \(warmErrors.total) errors" : "")") }
        lines.append("  elapsed:   \(formatFixed(elapsedSeconds, 3)) s  (harness CPU \(formatFixed(loaderCPUSeconds, 2)) s)")
        lines.append("  ops/s:     \(formatGrouped(Int(opsPerSecond.rounded())))  (key operations: a set is 1, a get of K keys is K)")
        lines.append("  req/s:     \(formatGrouped(Int(requestsPerSecond.rounded())))  (\(formatGrouped(requests)) requests: \(formatGrouped(sets)) sets, \(formatGrouped(getRequests)) gets of \(formatGrouped(getKeys)) keys)")
        if c.wire.isQueue {
            let produced = elapsedSeconds > 0 ? Double(sets) / elapsedSeconds : 0
            let how = c.wire == .respQueue ? "LPUSH/BRPOP" : "set/get" + (c.reliableConsumers ? "/close/open" : "")
            lines.append("  queue:     \(c.producers) producers, \(c.consumers) consumers per thread on \(c.queueName) (\(how))")
            lines.append("  messages:  \(formatGrouped(Int(messagesPerSecond.rounded())))/s through (\(formatGrouped(hits)) consumed), \(formatGrouped(Int(produced.rounded())))/s produced (\(formatGrouped(sets)))")
        } else {
            lines.append("  hit ratio: \(formatFixed(hitRatio * 100, 2)) %  (\(formatGrouped(hits)) hits)")
        }
        let l = latency
        lines.append("  latency:   p50 \(formatLatency(l.p50))  p90 \(formatLatency(l.p90))  p99 \(formatLatency(l.p99))  p99.9 \(formatLatency(l.p999))  max \(formatLatency(l.max))")
        let errs = errors.fields.filter { $0.1 > 0 }.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
        lines.append("  errors:    \(errors.total)\(errs.isEmpty ? "" : "  (\(errs))")")
        for e in errorTexts { lines.append("             \(e.count) x \(e.text.debugDescription)") }
        if errors.verify > 0 && !c.warm {
            lines.append("  note:      values written without --verify (or with another --value-size/--keys) fail the check; --warm rewrites every key first")
        }
        if let r = stopReason { lines.append("  stopped:   \(r)") }
        return lines.joined(separator: "\n")
    }

    public func json() -> JSONValue {
        func us(_ n: UInt64) -> JSONValue { .double(Double(n) / 1e3, decimals: 1) }
        var errs: [(String, JSONValue)] = errors.fields.map { ($0.0, .int($0.1)) }
        errs.append(("total", .int(errors.total)))
        return .object([
            ("config", config.json()),
            ("elapsed_s", .double(elapsedSeconds, decimals: 3)),
            ("warm_s", warmSeconds.map { .double($0, decimals: 3) } ?? .null),
            ("loader_cpu_s", .double(loaderCPUSeconds, decimals: 2)),
            ("ops", .int(ops)),
            ("ops_per_s", .double(opsPerSecond, decimals: 1)),
            ("requests", .int(requests)),
            ("requests_per_s", .double(requestsPerSecond, decimals: 1)),
            ("sets", .int(sets)),
            ("gets", .int(getRequests)),
            ("get_keys", .int(getKeys)),
            ("hits", .int(hits)),
            ("hit_ratio", .double(hitRatio, decimals: 4)),
            ("messages_per_s", config.wire.isQueue ? .double(messagesPerSecond, decimals: 1) : .null),
            ("latency_us", .object([
                ("count", .int(Int(latency.count))),
                ("p50", us(latency.p50)), ("p90", us(latency.p90)), ("p99", us(latency.p99)),
                ("p99_9", us(latency.p999)), ("max", us(latency.max)),
                ("mean", .double(latency.mean / 1e3, decimals: 1)),
            ])),
            ("errors", .object(errs)),
            ("error_replies", .array(errorTexts.map { .object([("text", .string($0.text)), ("count", .int($0.count))]) })),
            ("warm_errors", .int(warmErrors.total)),
            ("stop_reason", stopReason.map { .string($0) } ?? .null),
        ])
    }
}
