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

    /// RabbitMQ's topic matching over dot-separated words.
    public static func topicMatches(pattern: String, routingKey: String) -> Bool {
        let p = pattern.split(separator: ".", omittingEmptySubsequences: false)
        let k = routingKey.split(separator: ".", omittingEmptySubsequences: false)
        // An empty routing key is zero words.
        let words = routingKey.isEmpty ? [] : k
        let pats = pattern.isEmpty ? [] : p
        return matchWords(pats[...], words[...])
    }

    private static func matchWords(_ p: ArraySlice<Substring>, _ k: ArraySlice<Substring>) -> Bool {
        guard let first = p.first else { return k.isEmpty }
        if first == "#" {
            // Zero words, or swallow one and try again.
            let rest = p.dropFirst()
            if matchWords(rest, k) { return true }
            return !k.isEmpty && matchWords(p, k.dropFirst())
        }
        guard let word = k.first else { return false }
        if first == "*" || first == word { return matchWords(p.dropFirst(), k.dropFirst()) }
        return false
    }

    static func headersMatch(_ b: Binding, _ headers: [HeaderPair]) -> Bool {
        if b.headers.isEmpty { return b.matchAll }
        let present = b.headers.map { pair in headers.contains(pair) }
        return b.matchAll ? !present.contains(false) : present.contains(true)
    }
}
