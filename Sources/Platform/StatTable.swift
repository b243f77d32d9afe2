// Statistics declared once per module: a name as memcached spells it, a kind, and the section of
// Redis INFO it belongs to. A module's per-worker counters are an enum whose cases are the slots of
// its `StatCounters` (one writer per set, summed on demand); a `StatTable` lists a stats group's
// lines in the order they are rendered, counters and computed gauges side by side, so `stats`
// (and INFO later) renders from the declarations.

/// A counter only grows between resets; a gauge is a value read when rendered.
public enum StatKind: Sendable {
    case counter
    case gauge
}

/// The Redis INFO section a statistic goes under.
public enum StatSection: String, Sendable, CaseIterable {
    case server, clients, memory, persistence, stats, replication, cpu, keyspace
}

/// A statistic's name, kind and INFO section.
public struct StatDeclaration: Sendable, Equatable {
    public let name: String
    public let kind: StatKind
    public let section: StatSection

    public init(_ name: String, _ kind: StatKind, _ section: StatSection) {
        self.name = name
        self.kind = kind
        self.section = section
    }
}

/// A module's per-worker counters: each case is a slot of the module's `StatCounters`, and names
/// its statistic.
public protocol StatCounter: CaseIterable, Sendable, RawRepresentable where RawValue == Int {
    /// Its name as memcached spells it.
    var name: String { get }
    var section: StatSection { get }
}

extension StatCounter {
    public var declaration: StatDeclaration { StatDeclaration(name, .counter, section) }

    /// One worker's set of these counters.
    public static func makeCounters() -> StatCounters { StatCounters(count: allCases.count) }

    /// The counter summed over the worker sets.
    public func total(_ sets: [StatCounters]) -> UInt64 {
        sets.reduce(0) { $0 &+ $1[rawValue] }
    }
}

extension StatCounters {
    /// `stats reset` of every counter of the set.
    public func resetAll() {
        for i in 0..<count { reset(i) }
    }
}

/// The lines of a stats group, in rendering order. A counter's value is its slot summed over the
/// worker sets `Source` gives; a gauge's is computed from `Source` (nil: the line is left out,
/// e.g. journal figures without a journal).
public struct StatTable<Source>: Sendable {
    public struct Entry: Sendable {
        public let declaration: StatDeclaration
        let value: @Sendable (Source, [StatCounters]) -> String?

        public static func counter<C: StatCounter>(_ c: C) -> Entry {
            Entry(declaration: c.declaration) { _, sets in String(c.total(sets)) }
        }

        /// A counter whose line is shown only while `shown` holds (memcached prints some counters
        /// only while their mechanism is on: the TLS lines with -Z).
        public static func counter<C: StatCounter>(_ c: C, shown: @escaping @Sendable (Source) -> Bool) -> Entry {
            Entry(declaration: c.declaration) { source, sets in shown(source) ? String(c.total(sets)) : nil }
        }

        public static func gauge(_ name: String, _ section: StatSection,
                                 _ value: @escaping @Sendable (Source) -> String?) -> Entry {
            Entry(declaration: StatDeclaration(name, .gauge, section)) { source, _ in value(source) }
        }
    }

    public let entries: [Entry]
    let counterSets: @Sendable (Source) -> [StatCounters]

    /// `counterSets`: the worker sets this table's counters are summed over.
    public init(counterSets: @escaping @Sendable (Source) -> [StatCounters] = { _ in [] }, _ entries: [Entry]) {
        self.entries = entries
        self.counterSets = counterSets
    }

    public var declarations: [StatDeclaration] { entries.map(\.declaration) }

    /// The (name, value) lines, each name after `prefix`.
    public func lines(_ source: Source, prefix: String = "") -> [(String, String)] {
        let sets = counterSets(source)
        var out: [(String, String)] = []
        out.reserveCapacity(entries.count)
        for e in entries {
            if let v = e.value(source, sets) { out.append((prefix + e.declaration.name, v)) }
        }
        return out
    }
}

extension StatTable {
    /// This table's entries from `first` through `last` (from the start / to the end when nil),
    /// read from the part of a larger source that `part` picks. A protocol whose stats group
    /// interleaves lines several modules declare (memcached's `stats`) lists slices of their
    /// tables in its order; each line stays declared once, by its module.
    public func slice<Outer>(from first: String? = nil, through last: String? = nil,
                             of part: @escaping @Sendable (Outer) -> Source) -> [StatTable<Outer>.Entry] {
        let names = entries.map(\.declaration.name)
        let start = first.flatMap { names.firstIndex(of: $0) } ?? 0
        let end = last.flatMap { names.firstIndex(of: $0) } ?? (entries.count - 1)
        precondition(first == nil || names.contains(first!), "no stat \(first!) to slice from")
        precondition(last == nil || names.contains(last!), "no stat \(last!) to slice through")
        let counterSets = self.counterSets
        return entries[start...end].map { e in
            StatTable<Outer>.Entry(declaration: e.declaration) { outer, _ in
                let inner = part(outer)
                return e.value(inner, counterSets(inner))
            }
        }
    }
}
