// A topic exchange's binding patterns in a trie, as RabbitMQ keeps them: one edge per pattern
// word (a literal word, `*` or `#`), bindings listed at the node where their pattern ends. A
// routing key is matched by walking the trie, so the cost follows the key and the patterns it
// can reach, not the number of bindings (matching each binding in turn cost bindings × pattern
// words × key words: issue 11's 11.7 s publish).
//
// The walk carries, for each node, the set of key positions its pattern prefix can end at (a
// bitset of key words + 1 bits). A node has one parent, so it is expanded at most once, with
// the whole set: `*` shifts the set by one, a literal word shifts the positions where the key
// has that word, and `#` takes every position from the set's lowest on. RabbitMQ's walk instead
// follows (node, position) pairs, which a `#` multiplies; here a walk costs at most one
// expansion per node, (key words + 1) / 64 machine words each, and one lookup per literal edge
// it follows or per distinct key word, whichever is fewer at that node.
//
// The trie is a value of flat arrays and dictionaries: a publish copies it under the registry
// lock in O(1) (copy-on-write) and walks the copy after releasing the lock.

struct TopicTrie: Sendable {
    /// A binding whose pattern ends at a node: its place in the exchange's binding order (routing
    /// lists queues in that order) and its queue.
    struct Entry: Sendable, Equatable {
        var ordinal: UInt64
        var queue: String
    }

    /// Plain integers only, so that copying the node array is a memcpy.
    struct Node: Sendable {
        var parent: Int32
        /// The edge from the parent: a literal word's id, or `starEdge` / `hashEdge`.
        var word: Int32
        var star: Int32 = -1
        var hash: Int32 = -1
        /// Literal children, a doubly linked list through `next` / `previous`, and its length.
        var firstLiteral: Int32 = -1
        var literals: Int32 = 0
        var next: Int32 = -1
        var previous: Int32 = -1
    }

    static let starEdge: Int32 = -2
    static let hashEdge: Int32 = -3
    static let root: Int32 = 0

    private(set) var nodes: [Node] = [Node(parent: -1, word: -1)]
    private var freeNodes: [Int32] = []
    /// Literal edges: `parent << 32 | word id` → child.
    private var edges: [UInt64: Int32] = [:]
    /// Bindings by the node their pattern ends at.
    private var entries: [Int32: [Entry]] = [:]
    /// Literal words interned once, so that the walk compares integers: a key word is looked up
    /// here once per publish. Words are Strings so that they compare as the exchange always
    /// compared them (Swift's `==`).
    private var wordIDs: [String: Int32] = [:]
    /// Per word id: its text (to forget it) and how many edges use it.
    private var wordText: [String] = []
    private var wordUses: [Int32] = []
    private var freeWords: [Int32] = []

    /// Nodes in use, the root included.
    var nodeCount: Int { nodes.count - freeNodes.count }

    /// A pattern's or a routing key's words: split on `.`, empty words kept; "" has none.
    static func words(_ s: String) -> [Substring] {
        s.isEmpty ? [] : s.split(separator: ".", omittingEmptySubsequences: false)
    }

    // MARK: changes

    mutating func insert(pattern: String, _ entry: Entry) {
        var node = Self.root
        for w in Self.words(pattern) { node = child(node, w) }
        entries[node, default: []].append(entry)
    }

    /// Removes the bindings of `queue` with this pattern; false when there were none.
    @discardableResult
    mutating func remove(pattern: String, queue: String) -> Bool {
        var node = Self.root
        for w in Self.words(pattern) {
            guard let next = existingChild(node, w) else { return false }
            node = next
        }
        guard var list = entries[node] else { return false }
        let before = list.count
        list.removeAll { $0.queue == queue }
        if list.count == before { return false }
        entries[node] = list.isEmpty ? nil : list
        prune(node)
        return true
    }

    private func existingChild(_ node: Int32, _ w: Substring) -> Int32? {
        let c: Int32
        switch w {
        case "*": c = nodes[Int(node)].star
        case "#": c = nodes[Int(node)].hash
        default:
            guard let id = wordIDs[String(w)], let e = edges[Self.edgeKey(node, id)] else { return nil }
            c = e
        }
        return c >= 0 ? c : nil
    }

    /// The child of `node` along `w`, made if absent.
    private mutating func child(_ node: Int32, _ w: Substring) -> Int32 {
        if let c = existingChild(node, w) { return c }
        switch w {
        case "*":
            let c = newNode(Node(parent: node, word: Self.starEdge))
            nodes[Int(node)].star = c
            return c
        case "#":
            let c = newNode(Node(parent: node, word: Self.hashEdge))
            nodes[Int(node)].hash = c
            return c
        default:
            let id = intern(String(w))
            let first = nodes[Int(node)].firstLiteral
            let c = newNode(Node(parent: node, word: id, next: first))
            if first >= 0 { nodes[Int(first)].previous = c }
            nodes[Int(node)].firstLiteral = c
            nodes[Int(node)].literals += 1
            edges[Self.edgeKey(node, id)] = c
            return c
        }
    }

    private mutating func newNode(_ n: Node) -> Int32 {
        if let free = freeNodes.popLast() {
            nodes[Int(free)] = n
            return free
        }
        nodes.append(n)
        return Int32(nodes.count - 1)
    }

    /// The word's id, one more edge counted on it.
    private mutating func intern(_ w: String) -> Int32 {
        if let id = wordIDs[w] {
            wordUses[Int(id)] += 1
            return id
        }
        let id: Int32
        if let free = freeWords.popLast() {
            id = free
            wordText[Int(id)] = w
            wordUses[Int(id)] = 1
        } else {
            id = Int32(wordText.count)
            wordText.append(w)
            wordUses.append(1)
        }
        wordIDs[w] = id
        return id
    }

    /// Unlinks `node` and its ancestors while they lead to no binding, so that unbinding gives
    /// back what binding took.
    private mutating func prune(_ start: Int32) {
        var node = start
        while node != Self.root, entries[node] == nil {
            let n = nodes[Int(node)]
            guard n.literals == 0, n.star < 0, n.hash < 0 else { return }
            switch n.word {
            case Self.starEdge: nodes[Int(n.parent)].star = -1
            case Self.hashEdge: nodes[Int(n.parent)].hash = -1
            default:
                edges[Self.edgeKey(n.parent, n.word)] = nil
                if n.previous >= 0 { nodes[Int(n.previous)].next = n.next } else { nodes[Int(n.parent)].firstLiteral = n.next }
                if n.next >= 0 { nodes[Int(n.next)].previous = n.previous }
                nodes[Int(n.parent)].literals -= 1
                wordUses[Int(n.word)] -= 1
                if wordUses[Int(n.word)] == 0 {
                    wordIDs[wordText[Int(n.word)]] = nil
                    wordText[Int(n.word)] = ""
                    freeWords.append(n.word)
                }
            }
            freeNodes.append(node)
            node = n.parent
        }
    }

    @inline(__always)
    private static func edgeKey(_ node: Int32, _ word: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: node)) << 32 | UInt64(UInt32(bitPattern: word))
    }

    // MARK: matching

    /// What a walk cost: nodes expanded and literal edges or words looked up.
    struct WalkCost: Equatable {
        var expanded = 0
        var lookups = 0
    }

    /// The bindings whose patterns match `routingKey`, in no particular order, and what finding
    /// them cost (at most one expansion per node, and one lookup per literal edge).
    func match(_ routingKey: String) -> (entries: [Entry], cost: WalkCost) {
        let words = Self.words(routingKey)
        let end = words.count
        // Position sets have bits 0...end, in `width` machine words.
        let width = end / 64 + 1
        // The positions of each distinct key word that some pattern spells; a word no pattern
        // spells has no literal edge, only `*` and `#` take it.
        var keyWords: [(id: Int32, mask: Int)] = []
        var maskOf: [Int32: Int] = [:]
        var masks: [UInt64] = []
        for (i, w) in words.enumerated() {
            guard let id = wordIDs[String(w)] else { continue }
            let at: Int
            if let m = maskOf[id] {
                at = m
            } else {
                at = masks.count
                masks.append(contentsOf: repeatElement(0, count: width))
                maskOf[id] = at
                keyWords.append((id, at))
            }
            masks[at + i / 64] |= 1 << UInt64(i % 64)
        }

        var found: [Entry] = []
        var cost = WalkCost()
        // Nodes to expand, their position sets stacked in `sets` in the same order.
        var pending: [Int32] = [Self.root]
        var sets = [UInt64](repeating: 0, count: width)
        sets[0] = 1
        // The set being expanded, and the same without `end` (positions that can take a word).
        var at = [UInt64](repeating: 0, count: width)
        var taking = [UInt64](repeating: 0, count: width)
        let endWord = end / 64, endBit: UInt64 = 1 << UInt64(end % 64)
        // Positions 0...end of the last machine word.
        let lastWordMask = (endBit << 1) &- 1

        // Pushes `child` with `taking` (masked by `mask`, if given) moved one word on.
        func pushShifted(_ child: Int32, mask: Int?) {
            var any: UInt64 = 0
            var carry: UInt64 = 0
            let base = sets.count
            for j in 0..<width {
                let w = mask.map { taking[j] & masks[$0 + j] } ?? taking[j]
                let shifted = w << 1 | carry
                carry = w >> 63
                sets.append(shifted)
                any |= shifted
            }
            if any == 0 { sets.removeLast(sets.count - base) } else { pending.append(child) }
        }

        while let node = pending.popLast() {
            let base = sets.count - width
            for j in 0..<width { at[j] = sets[base + j] }
            sets.removeLast(width)
            cost.expanded += 1
            let n = nodes[Int(node)]
            if at[endWord] & endBit != 0, let list = entries[node] { found += list }
            var anyTaking: UInt64 = 0
            for j in 0..<width {
                taking[j] = j == endWord ? at[j] & ~endBit : at[j]
                anyTaking |= taking[j]
            }
            if anyTaking != 0 {
                if n.star >= 0 { pushShifted(n.star, mask: nil) }
                if n.literals > 0 && !keyWords.isEmpty {
                    // Whichever is fewer: this node's literal edges, or the key's distinct words.
                    if Int(n.literals) <= keyWords.count {
                        var c = n.firstLiteral
                        while c >= 0 {
                            cost.lookups += 1
                            if let m = maskOf[nodes[Int(c)].word] { pushShifted(c, mask: m) }
                            c = nodes[Int(c)].next
                        }
                    } else {
                        for (id, m) in keyWords {
                            cost.lookups += 1
                            if let c = edges[Self.edgeKey(node, id)] { pushShifted(c, mask: m) }
                        }
                    }
                }
            }
            if n.hash >= 0 {
                // `#` takes zero or more words from any position of the set: every position
                // from the lowest on.
                var seen = false
                for j in 0..<width {
                    var w: UInt64 = 0
                    if seen {
                        w = ~0
                    } else if at[j] != 0 {
                        seen = true
                        w = ~0 << UInt64(at[j].trailingZeroBitCount)
                    }
                    sets.append(j == endWord ? w & lastWordMask : w)
                }
                pending.append(n.hash)
            }
        }
        return (found, cost)
    }
}
