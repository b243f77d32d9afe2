// The topic trie against two plain matchers (backtracking over the words, and the per-binding
// table the exchange used before the trie) on random patterns and keys, its bookkeeping under
// bind and unbind, and issue 11's publish: its work counted in trie expansions, not timed.
@testable import Broker
import TestSupport
import Testing

enum ReferenceTopic {
    static func words(_ s: String) -> [Substring] {
        s.isEmpty ? [] : s.split(separator: ".", omittingEmptySubsequences: false)
    }

    /// Backtracking straight from the definition: `#` takes zero or more words, `*` exactly one.
    static func backtracking(pattern: String, key: String) -> Bool {
        func match(_ p: ArraySlice<Substring>, _ k: ArraySlice<Substring>) -> Bool {
            guard let w = p.first else { return k.isEmpty }
            if w == "#" {
                for taken in 0...k.count where match(p.dropFirst(), k.dropFirst(taken)) { return true }
                return false
            }
            guard let kw = k.first else { return false }
            return (w == "*" || w == kw) && match(p.dropFirst(), k.dropFirst())
        }
        return match(words(pattern)[...], words(key)[...])
    }

    /// The exchange's matcher before the trie: a table over (pattern words, key words) per binding.
    static func table(pattern: String, key: String) -> Bool {
        let p = words(pattern), k = words(key)
        var row = [Bool](repeating: false, count: k.count + 1)
        row[0] = true
        for word in p {
            var next = [Bool](repeating: false, count: k.count + 1)
            if word == "#" {
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

    /// Routing as the exchange did it: each binding in turn, each queue once, in binding order.
    static func route(_ bindings: [Binding], _ key: String) -> [String] {
        var out: [String] = []
        for b in bindings where !out.contains(b.queue) && backtracking(pattern: b.key, key: key) {
            out.append(b.queue)
        }
        return out
    }
}

@Suite struct TopicTrieTests {
    static let patternWords = ["a", "b", "ab", "", "*", "#", "#", "*"]
    static let keyWords = ["a", "b", "ab", "", "c", "*", "#"]

    static func random(_ words: [String], maxWords: Int, _ rng: inout SplitMix64) -> String {
        let n = Int.random(in: 0...maxWords, using: &rng)
        return (0..<n).map { _ in words.randomElement(using: &rng)! }.joined(separator: ".")
    }

    @Test func namedShapesMatchAsTheReferences() {
        let patterns = ["#", "#.#", "#.#.#", "#.a", "a.#", "a.#.b", "#.a.#", "*.#", "#.*", "*.#.*", "#.*.#",
                        "a..b", "..", ".", "#..#", "a.*.", ".#", "#.", "*", "*.*", "", "a", "a.b.c", "#.#.a.#.#"]
        let keys = ["", "a", "b", "a.b", "a.a", "a.b.c", "b.a", ".", "..", "a..b", "a.", ".a", "a.x.b",
                    "x.a.y", "a.b.a.b", "a.#", "*", "#", "a.*"]
        for p in patterns {
            for k in keys {
                let expected = ReferenceTopic.backtracking(pattern: p, key: k)
                #expect(ReferenceTopic.table(pattern: p, key: k) == expected, "references disagree: \(p) / \(k)")
                #expect(Exchange.topicMatches(pattern: p, routingKey: k) == expected, "pattern '\(p)' key '\(k)'")
            }
        }
    }

    @Test func randomPatternsMatchAsTheReferences() {
        var rng = SplitMix64(seed: 11)
        for _ in 0..<3000 {
            let p = Self.random(Self.patternWords, maxWords: 7, &rng)
            let k = Self.random(Self.keyWords, maxWords: 7, &rng)
            let expected = ReferenceTopic.backtracking(pattern: p, key: k)
            #expect(ReferenceTopic.table(pattern: p, key: k) == expected, "references disagree: \(p) / \(k)")
            #expect(Exchange.topicMatches(pattern: p, routingKey: k) == expected, "pattern '\(p)' key '\(k)'")
        }
    }

    /// Keys of 50 to 200 words: position sets span several machine words (64 positions each),
    /// so shifts carry across them. The table is the reference here (backtracking would take
    /// too long on such keys).
    @Test func longKeysMatchAsTheTable() {
        var rng = SplitMix64(seed: 64)
        for _ in 0..<400 {
            let p = Self.random(Self.patternWords, maxWords: 8, &rng)
            let n = Int.random(in: 50...200, using: &rng)
            let k = (0..<n).map { _ in ["a", "b", "ab"].randomElement(using: &rng)! }.joined(separator: ".")
            let expected = ReferenceTopic.table(pattern: p, key: k)
            #expect(Exchange.topicMatches(pattern: p, routingKey: k) == expected, "pattern '\(p)' key '\(k)'")
            // The same pattern where the key ends, past a `#`: every word boundary counts.
            let tail = "#." + k.split(separator: ".").suffix(3).joined(separator: ".")
            #expect(Exchange.topicMatches(pattern: tail, routingKey: k))
            #expect(Exchange.topicMatches(pattern: tail + ".#", routingKey: k))
            #expect(Exchange.topicMatches(pattern: tail + ".*", routingKey: k)
                    == ReferenceTopic.table(pattern: tail + ".*", key: k))
        }
    }

    /// Many bindings in one trie (shared prefixes, several per queue, the same pattern for two
    /// queues): the same queues in the same order as binding by binding.
    @Test func randomExchangesRouteAsBindingByBinding() {
        var rng = SplitMix64(seed: 2026)
        for _ in 0..<40 {
            var ex = Exchange(name: "t", kind: .topic)
            let bindings = (0..<60).map { _ in
                Binding(queue: "q\(Int.random(in: 0..<8, using: &rng))", key: Self.random(Self.patternWords, maxWords: 5, &rng))
            }
            ex.bindings = bindings
            for _ in 0..<100 {
                let k = Self.random(Self.keyWords, maxWords: 6, &rng)
                #expect(ex.route(routingKey: k, headers: []) == ReferenceTopic.route(bindings, k), "key '\(k)'")
            }
        }
    }

    /// Bind and unbind in random order: routing follows the bindings left, and unbinding
    /// everything gives every node back.
    @Test(.hangGuard) func unbindingKeepsRoutingAndGivesNodesBack() {
        var rng = SplitMix64(seed: 7)
        var ex = Exchange(name: "t", kind: .topic)
        var live: [Binding] = []
        for step in 0..<2000 {
            if live.isEmpty || Int.random(in: 0..<3, using: &rng) > 0 {
                let b = Binding(queue: "q\(Int.random(in: 0..<4, using: &rng))", key: Self.random(Self.patternWords, maxWords: 5, &rng))
                if !live.contains(b) {
                    ex.add(b)
                    live.append(b)
                }
            } else {
                let b = live.randomElement(using: &rng)!
                let removed = ex.remove(queue: b.queue, key: b.key)
                #expect(removed)
                live.removeAll { $0.queue == b.queue && $0.key == b.key }
            }
            if step % 20 == 0 {
                let k = Self.random(Self.keyWords, maxWords: 6, &rng)
                #expect(ex.route(routingKey: k, headers: []) == ReferenceTopic.route(live, k), "step \(step) key '\(k)'")
            }
        }
        let removedNothing = ex.remove(queue: "nobody", key: "a.b")
        #expect(!removedNothing)
        for b in live { _ = ex.remove(queue: b.queue, key: b.key) }
        #expect(ex.bindings.isEmpty)
        #expect(ex.topics.nodeCount == 1)
    }

    @Test func deletingAQueueRemovesItsBindingsOnly() {
        var ex = Exchange(name: "t", kind: .topic)
        ex.bindings = [Binding(queue: "a", key: "x.#"), Binding(queue: "b", key: "x.#"), Binding(queue: "a", key: "*.y")]
        ex.removeAll(queue: "a")
        #expect(ex.bindings == [Binding(queue: "b", key: "x.#")])
        #expect(ex.route(routingKey: "x.y", headers: []) == ["b"])
        #expect(ex.route(routingKey: "z.y", headers: []) == [])
    }

    /// Issue 11: 3,000 patterns of 500 `#`s and a distinct last word against a routing key of
    /// 2,000 empty words. Binding by binding this was 3,000 × 501 × 2,001 table cells (11.7 s under
    /// the registry lock); the trie shares the `#` chain and expands each node once.
    @Test func issue11PublishExpandsEachNodeOnce() {
        var ex = Exchange(name: "atk", kind: .topic)
        let hashes = Array(repeating: "#", count: 500).joined(separator: ".")
        ex.bindings = (0..<3000).map { Binding(queue: "q", key: hashes + ".z\($0)") }
        #expect(ex.topics.nodeCount == 1 + 500 + 3000)
        let (queues, cost) = ex.routeTopic(String(repeating: ".", count: 1999))
        #expect(queues.isEmpty)
        // The root and the 500 `#`s; no key word is spelled by a pattern, so no lookup at all.
        #expect(cost == TopicTrie.WalkCost(expanded: 501, lookups: 0))

        // A key the patterns can end on: z0 after 1,999 words. 3,000 literal edges leave the last
        // `#`, and one word of the key is spelled by a pattern: that node looks up one word, not
        // 3,000 edges.
        let (hit, hitCost) = ex.routeTopic(String(repeating: "a.", count: 1999) + "z0")
        #expect(hit == ["q"])
        #expect(hitCost == TopicTrie.WalkCost(expanded: 502, lookups: 1))

        // Every binding matches: one queue each, in binding order.
        ex.bindings = (0..<3000).map { Binding(queue: "q\($0 % 7)", key: hashes + ".z") }
        let all = ex.routeTopic(String(repeating: "a.", count: 1999) + "z")
        #expect(all.queues == (0..<7).map { "q\($0)" })
        #expect(all.cost.expanded <= ex.topics.nodeCount)
    }

    /// The worst trie the broker's bounds allow: 4,096 patterns of 32 wildcard words that part
    /// early (no shared chain), against a 32-word key every one of them can follow. Expanding
    /// (node, position) pairs, as RabbitMQ does, took about 2 million steps here.
    @Test func worstCaseWithinTheBoundsExpandsEachNodeOnce() {
        var ex = Exchange(name: "w", kind: .topic)
        ex.bindings = (0..<Broker.maxBindings).map { i in
            // 12 words spell i in `*` and `#`, then 20 more alternate.
            let head = (0..<12).map { bit in (i >> bit) & 1 == 1 ? "#" : "*" }
            let tail = (0..<20).map { $0 % 2 == 0 ? "#" : "*" }
            return Binding(queue: "q\(i % 50)", key: (head + tail).joined(separator: "."))
        }
        for b in ex.bindings { #expect(Broker.keyFits(b.key, kind: .topic)) }
        let key = Array(repeating: "a", count: Broker.maxTopicWords).joined(separator: ".")
        #expect(Broker.keyFits(key, kind: .topic))
        let (queues, cost) = ex.routeTopic(key)
        #expect(queues == (0..<50).map { "q\($0)" })
        #expect(cost.expanded == ex.topics.nodeCount)
        #expect(cost.lookups == 0)
    }

    /// Literal patterns that share nothing: the walk follows the key, whatever the bindings.
    @Test func literalPatternsCostTheKeysWordsOnly() {
        var ex = Exchange(name: "l", kind: .topic)
        ex.bindings = (0..<Broker.maxBindings).map { Binding(queue: "q\($0)", key: "stock.\($0).nyse.trade") }
        let (queues, cost) = ex.routeTopic("stock.1234.nyse.trade")
        #expect(queues == ["q1234"])
        // Root, "stock", "1234", "nyse", "trade": at each, a lookup of the fewer of its edges and
        // the key's 4 distinct words.
        #expect(cost.expanded == 5)
        #expect(cost.lookups <= 4 * 4)
    }
}
