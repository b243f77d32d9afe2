// What one load run does.

public struct LoadConfigError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The request protocol: memcached text (`set`/`get`, multi-get as one `get k1 k2 ...`), RESP
/// (`SET`/`GET`, multi-get as `MGET`), or a queue flood on a broker port (producers `set <queue>`,
/// consumers `get <queue>/t=100`), or the same flood as Redis lists for redis-server (producers
/// `LPUSH <queue>`, consumers `BRPOP <queue> 0.1`).
public enum WireProtocol: String, Sendable {
    /// memcached's meta commands: `ms <key> <V>`, `mg <key> k v` (a multi-get is K quiet
    /// `mg <key> k v q` and an `mn`).
    case memcache, meta, resp, queue
    case respQueue = "resp-queue"

    public var isQueue: Bool { self == .queue || self == .respQueue }
    public var isRESP: Bool { self == .resp || self == .respQueue }
}

public struct LoadConfig: Sendable {
    /// IPv4 address (dotted quad or "localhost") and port of the server.
    public var host: String = "127.0.0.1"
    public var port: UInt16 = 11211
    public var wire: WireProtocol = .memcache
    /// OS threads, each with its own epoll loop over its connections.
    public var threads = 1
    public var connsPerThread = 50
    /// Requests in flight per connection.
    public var pipeline = 1
    /// Measure for this long (ignored when `requests` is set).
    public var durationSeconds: Double = 10
    /// Measure this many requests in all (split over the threads) instead of a duration.
    public var requests: Int? = nil
    public var keys = 100_000
    public var valueSize = 100
    /// With a value-size range `--value-size A-B`: A (each set picks a size uniformly in A...B,
    /// and `valueSize` is B). nil: every value is `valueSize` bytes.
    public var valueSizeMin: Int? = nil
    public var setWeight = 1
    public var getWeight = 9
    /// Keys per get request.
    public var multiget = 1
    public var keyDistribution: KeyDistribution = .uniform
    /// Set every key once before measuring.
    public var warm = false
    /// Values embed their key and a checksum; every hit is checked.
    public var verify = false
    /// A connection with requests in flight and no reply for this long ends the run.
    public var watchdogSeconds: Double = 5
    /// Requests in flight per connection while warming.
    public var warmPipeline = 16
    public var seed: UInt64 = 0x5C0FFEE
    /// Queue flood: the queue, and producer / consumer connections per thread (they replace
    /// `connsPerThread`). Reliable consumers read with `/close/open` (each read confirms the last).
    public var queueName = "loadtest"
    public var producers = 4
    public var consumers = 4
    public var reliableConsumers = false

    public init() {}

    public init(parsingServer server: String) throws {
        self.init()
        guard let colon = server.lastIndex(of: ":"), let port = UInt16(server[server.index(after: colon)...]), port > 0 else {
            throw LoadConfigError("--server must be HOST:PORT (IPv4), got \(server)")
        }
        host = String(server[..<colon])
        self.port = port
        guard Net.ipv4Address(host) != nil else {
            throw LoadConfigError("--server host must be an IPv4 address or localhost, got \(host)")
        }
    }

    /// `SET:GET` weights, e.g. "1:9" (either may be 0, not both).
    public mutating func setRatio(_ text: String) throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let s = Int(parts[0]), let g = Int(parts[1]), s >= 0, g >= 0, s + g > 0, s + g <= 1_000_000 else {
            throw LoadConfigError("--ratio must be SET:GET with non-negative integers, not both 0 (e.g. 1:9), got \(text)")
        }
        setWeight = s
        getWeight = g
    }

    public var ratioDescription: String { "\(setWeight):\(getWeight)" }

    /// "100" or "10-1000".
    public var valueSizeDescription: String { valueSizeMin.map { "\($0)-\(valueSize)" } ?? "\(valueSize)" }

    /// `--value-size`: "V" or "A-B".
    public mutating func setValueSize(_ text: String) throws {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard (parts.count == 1 || parts.count == 2), let hi = Int(parts.last!), hi >= 0 else {
            throw LoadConfigError("--value-size must be V or A-B (bytes), got \(text)")
        }
        valueSize = hi
        valueSizeMin = nil
        if parts.count == 2 {
            guard let lo = Int(parts[0]), lo >= 0, lo <= hi else {
                throw LoadConfigError("--value-size A-B needs 0 <= A <= B, got \(text)")
            }
            valueSizeMin = lo
        }
    }

    public func validate() throws {
        func check(_ ok: Bool, _ message: String) throws { if !ok { throw LoadConfigError(message) } }
        try check(Net.ipv4Address(host) != nil, "host must be an IPv4 address or localhost: \(host)")
        try check(threads >= 1 && threads <= 256, "--threads must be 1...256")
        try check(connsPerThread >= 1 && connsPerThread <= 10_000, "--conns must be 1...10000")
        try check(pipeline >= 1 && pipeline <= 4096, "--pipeline must be 1...4096")
        try check(requests != nil || (durationSeconds > 0 && durationSeconds <= 86_400), "--duration must be in (0, 86400] s")
        try check(requests.map { $0 >= 1 } ?? true, "--requests must be at least 1")
        try check(keys >= 1 && keys <= 100_000_000, "--keys must be 1...100000000")
        try check(valueSize >= 0 && valueSize <= 16 << 20, "--value-size must be 0...16777216")
        try check(multiget >= 1 && multiget <= 1000, "--multiget must be 1...1000")
        try check(multiget * (KeySpace.keyWidth(for: keys) + 1) + 8 < 1 << 20, "--multiget request too long")
        try check(watchdogSeconds > 0, "watchdog must be positive")
        try check(warmPipeline >= 1 && warmPipeline <= 4096, "warm pipeline must be 1...4096")
        if case .zipf(let s) = keyDistribution { try check(s > 0 && s.isFinite, "zipf exponent must be positive") }
        if wire.isQueue {
            try check(producers >= 0 && consumers >= 0 && producers + consumers >= 1, "--producers + --consumers must be at least 1")
            try check(!warm && !verify && multiget == 1, "queue mode has no --warm, --verify or --multiget")
            try check(queueName.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "/") } && !queueName.isEmpty,
                      "--queue must be a queue name")
        }
        if let lo = valueSizeMin {
            try check(lo >= 0 && lo <= valueSize, "--value-size A-B needs 0 <= A <= B")
            try check(!verify, "--verify needs a fixed --value-size")
        }
        if verify {
            let minimum = KeySpace.minimumVerifiedValueSize(keys: keys)
            try check(valueSize >= minimum, "--verify needs --value-size of at least \(minimum) (key + '|' + '|' + 16-digit checksum)")
        }
    }

    public func json() -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("server", .string("\(host):\(port)")),
            ("protocol", .string(wire.rawValue)),
            ("threads", .int(threads)),
            ("conns_per_thread", .int(connsPerThread)),
            ("pipeline", .int(pipeline)),
            ("duration_s", requests == nil ? .double(durationSeconds, decimals: 3) : .null),
            ("requests", requests.map { .int($0) } ?? .null),
            ("keys", .int(keys)),
            ("value_size", .int(valueSize)),
            ("value_size_min", valueSizeMin.map { .int($0) } ?? .null),
            ("ratio", .string(ratioDescription)),
            ("multiget", .int(multiget)),
            ("key_dist", .string(keyDistribution.description)),
            ("warm", .bool(warm)),
            ("verify", .bool(verify)),
        ]
        if wire.isQueue {
            fields.append(("queue", .string(queueName)))
            fields.append(("producers", .int(producers)))
            fields.append(("consumers", .int(consumers)))
            fields.append(("reliable", .bool(reliableConsumers)))
        }
        return .object(fields)
    }
}
