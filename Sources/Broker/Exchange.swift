// Exchanges route a published message to queues, exactly as RabbitMQ defines the four types:
// direct (binding key == routing key), topic (dot-separated words; `*` matches one word, `#`
// zero or more), fanout (every bound queue) and headers (`x-match=all|any` over the binding's
// key/value pairs against the message's headers). A queue bound several ways gets one copy.

public enum ExchangeKind: String, Sendable {
    case direct, topic, fanout, headers
}

public struct Binding: Sendable, Equatable {
    public let queue: String
    public let key: String
    /// Headers exchanges: all pairs must match (x-match=all) or any one (x-match=any).
    public let matchAll: Bool
    public let headers: [HeaderPair]

    public init(queue: String, key: String, matchAll: Bool = true, headers: [HeaderPair] = []) {
        self.queue = queue
        self.key = key
        self.matchAll = matchAll
        self.headers = headers
    }
}

public struct HeaderPair: Sendable, Equatable {
    public let name: String
    public let value: String
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

public struct Exchange: Sendable {
    public let name: String
    public let kind: ExchangeKind
    /// Where unroutable messages go (RabbitMQ's alternate-exchange, here a queue).
    public var alternate: String?
    public var bindings: [Binding] = []
    /// Messages that matched no binding.
    public var unroutable: UInt64 = 0

    public init(name: String, kind: ExchangeKind, alternate: String? = nil) {
        self.name = name
        self.kind = kind
        self.alternate = alternate
    }

    /// The queues a message with `routingKey` and `headers` goes to, each once, in binding order.
    public func route(routingKey: String, headers: [HeaderPair]) -> [String] {
        var out: [String] = []
        for b in bindings where !out.contains(b.queue) {
            let hit: Bool
            switch kind {
            case .direct: hit = b.key == routingKey
            case .fanout: hit = true
            case .topic: hit = Self.topicMatches(pattern: b.key, routingKey: routingKey)
            case .headers: hit = Self.headersMatch(b, headers)
            }
            if hit { out.append(b.queue) }
        }
        return out
    }

    /// RabbitMQ's topic matching over dot-separated words, by dynamic programming over
    /// (pattern words, key words): linear in their product whatever the `#`s.
    public static func topicMatches(pattern: String, routingKey: String) -> Bool {
        let p = pattern.isEmpty ? [] : pattern.split(separator: ".", omittingEmptySubsequences: false)
        let k = routingKey.isEmpty ? [] : routingKey.split(separator: ".", omittingEmptySubsequences: false)
        // row[j]: the pattern words so far match the first j key words.
        var row = [Bool](repeating: false, count: k.count + 1)
        row[0] = true
        for word in p {
            var next = [Bool](repeating: false, count: k.count + 1)
            if word == "#" {
                // Zero words, or one more word for the same #.
                for j in 0...k.count { next[j] = row[j] || (j > 0 && next[j - 1]) }
            } else {
                for j in stride(from: 1, through: k.count, by: 1) where row[j - 1] {
                    next[j] = word == "*" || word == k[j - 1]
                }
            }
            row = next
        }
        return row[k.count]
    }

    static func headersMatch(_ b: Binding, _ headers: [HeaderPair]) -> Bool {
        if b.headers.isEmpty { return b.matchAll }
        let present = b.headers.map { pair in headers.contains(pair) }
        return b.matchAll ? !present.contains(false) : present.contains(true)
    }
}
