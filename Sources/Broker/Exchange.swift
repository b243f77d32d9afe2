// Exchanges route a published message to queues, exactly as RabbitMQ defines the four types:
// direct (binding key == routing key), topic (dot-separated words; `*` matches one word, `#`
// zero or more), fanout (every bound queue) and headers (`x-match=all|any` over the binding's
// key/value pairs against the message's headers). A queue bound several ways gets one copy.
// Topic exchanges keep their patterns in a trie (TopicTrie.swift). An exchange is a value: a
// publish copies it under the registry lock (copy-on-write, O(1)) and routes after releasing it.

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

public struct HeaderPair: Sendable, Hashable {
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
    /// In binding order. Setting the list rebuilds the topic trie; the broker adds and removes
    /// one binding at a time (`add`, `remove`, `removeAll`).
    public var bindings: [Binding] {
        get { list }
        set {
            list = []
            topics = TopicTrie()
            for b in newValue { add(b) }
        }
    }
    private var list: [Binding] = []
    /// Topic exchanges: the bindings' patterns (empty for the other kinds).
    private(set) var topics = TopicTrie()
    /// Numbers the bindings in the order they were added, which routing keeps.
    private var nextOrdinal: UInt64 = 0
    /// Messages that matched no binding.
    public var unroutable: UInt64 = 0

    public init(name: String, kind: ExchangeKind, alternate: String? = nil) {
        self.name = name
        self.kind = kind
        self.alternate = alternate
    }

    mutating func add(_ b: Binding) {
        list.append(b)
        if kind == .topic { topics.insert(pattern: b.key, TopicTrie.Entry(ordinal: nextOrdinal, queue: b.queue)) }
        nextOrdinal += 1
    }

    /// Removes the bindings of `queue` with `key` (whatever their headers); false if none.
    mutating func remove(queue: String, key: String) -> Bool {
        let before = list.count
        list.removeAll { $0.queue == queue && $0.key == key }
        if list.count == before { return false }
        if kind == .topic { topics.remove(pattern: key, queue: queue) }
        return true
    }

    /// Removes every binding of `queue` (the queue was deleted).
    mutating func removeAll(queue: String) {
        var keys: Set<String> = []
        for b in list where b.queue == queue { keys.insert(b.key) }
        for key in keys { _ = remove(queue: queue, key: key) }
    }

    /// The queues a message with `routingKey` and `headers` goes to, each once, in binding order.
    public func route(routingKey: String, headers: [HeaderPair]) -> [String] {
        if kind == .topic { return routeTopic(routingKey).queues }
        var out: [String] = []
        var seen: Set<String> = []
        // The message's headers hashed once: each binding pair is then one lookup, not a scan.
        let present = kind == .headers ? Set(headers) : []
        for b in list where !seen.contains(b.queue) {
            let hit: Bool
            switch kind {
            case .direct: hit = b.key == routingKey
            case .fanout: hit = true
            case .topic: hit = false
            case .headers: hit = Self.headersMatch(b, present)
            }
            if hit {
                out.append(b.queue)
                seen.insert(b.queue)
            }
        }
        return out
    }

    /// Topic routing through the trie, with what the walk cost.
    func routeTopic(_ routingKey: String) -> (queues: [String], cost: TopicTrie.WalkCost) {
        let (found, cost) = topics.match(routingKey)
        var out: [String] = []
        var seen: Set<String> = []
        // Bindings come out of the trie by pattern; the ordinals put them back in binding order.
        for e in found.sorted(by: { $0.ordinal < $1.ordinal }) where seen.insert(e.queue).inserted {
            out.append(e.queue)
        }
        return (out, cost)
    }

    /// RabbitMQ's topic matching over dot-separated words, through a trie of the one pattern.
    public static func topicMatches(pattern: String, routingKey: String) -> Bool {
        var trie = TopicTrie()
        trie.insert(pattern: pattern, TopicTrie.Entry(ordinal: 0, queue: ""))
        return !trie.match(routingKey).entries.isEmpty
    }

    static func headersMatch(_ b: Binding, _ present: Set<HeaderPair>) -> Bool {
        if b.headers.isEmpty { return b.matchAll }
        return b.matchAll ? b.headers.allSatisfy(present.contains) : b.headers.contains(where: present.contains)
    }
}
