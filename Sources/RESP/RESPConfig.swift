// What CONFIG GET reports and CONFIG SET changes, by parameter, in redis 7.0's names:
// - knobs that act: `maxmemory` (the cache's memory limit, as `cache_memlimit`), `requirepass`
//   (new connections and AUTH), `proto-max-bulk-len` (every connection at its next read),
//   `client-query-buffer-limit` (an unfinished request past it closes the connection),
//   `slowlog-log-slower-than`, `slowlog-max-len`, and the eviction knobs, engine-wide so for both
//   ports: `maxmemory-policy` (EvictionPolicy.swift: allkeys-lru is the segmented LRU, or the
//   sampled one `-o eviction=lru` chose), `maxmemory-samples`, `lfu-log-factor`, `lfu-decay-time`;
// - facts fixed at start, reported and refused by CONFIG SET as redis refuses an immutable
//   parameter: `timeout`
//   (idle_timeout), `maxclients` (-c), `port`, `databases`, `save`, `appendonly`;
// - redis's encoding knobs (`encodingKnobTable`, each with redis's kind and refusals, the ziplist
//   names as aliases of one value): the hash, set and zset ones set the engine's conversion
//   thresholds (EncodingLimits.swift: OBJECT ENCODING follows as redis's), list-max-listpack-size
//   the list node size; the stream, HyperLogLog and list-compress-depth ones are reported only;
// - `notify-keyspace-events`: redis's classes (KeyspaceEvents.swift), read by every command;
// - `client-output-buffer-limit`: the pubsub class acts (PubSub.swift); normal and replica are
//   kept and reported (a normal client's output is bounded by the server's own parking instead);
//   the replica class is printed `slave`, as redis 7.0 prints it;
// - `maxmemory-eviction-tenacity`, `maxmemory-clients`: accepted within redis's bounds and
//   reported, changing nothing (an allocation evicts what it needs; client memory is not evicted).
import CacheEngine
import Platform
import Synchronization

final class RESPConfig: Sendable {
    private let engine: CacheEngine
    let slowLog: SlowLog
    private let bulkLength: Atomic<Int>
    private let queryBuffer = Atomic<Int>(1 << 30)
    /// The last `CONFIG SET maxmemory`, as set (it may pass Int.max, the engine's limit then).
    private let setMaxmemory = Atomic<UInt64>(0)
    /// `notify-keyspace-events` as redis's flags (KeyspaceEvents): 0 when off.
    let keyspaceEvents = Atomic<Int>(0)
    private let requiredPassword: LockedValue<[UInt8]?>
    private let encodingKnobs: LockedValue<[String: String]>
    /// `client-output-buffer-limit`, by class.
    private let outputLimits: LockedValue<[OutputLimit]>

    /// The classes of `client-output-buffer-limit`, in redis's order.
    enum ClientClass: Int, CaseIterable {
        case normal, replica, pubsub
        /// As redis 7.0 prints them (`slave`; CONFIG SET takes `replica` too).
        var name: String { ["normal", "slave", "pubsub"][rawValue] }
    }

    init(settings: RESPSettings, engine: CacheEngine, slowLog: SlowLog) {
        self.engine = engine
        self.slowLog = slowLog
        bulkLength = Atomic(settings.limits.maxBulkLength)
        requiredPassword = LockedValue(settings.requirePassword)
        var knobs: [String: String] = [:]
        for (name, value) in Self.encodingDefaults + Self.evictionDefaults { knobs[name] = value }
        encodingKnobs = LockedValue(knobs)
        var pubsub = OutputLimit.pubsubDefault
        pubsub.hard = settings.pubsubOutputLimit
        outputLimits = LockedValue([.normalDefault, .replicaDefault, pubsub])
    }

    /// `maxmemory` as CONFIG GET and INFO report it: the engine's limit, or the value CONFIG SET
    /// gave when the engine's limit is that value clamped to Int.max.
    var maxmemoryText: String { String(maxmemoryBytes) }

    /// `maxmemory` in bytes, as `maxmemoryText`.
    var maxmemoryBytes: UInt64 {
        let limit = engine.memoryLimit, set = setMaxmemory.load(ordering: .relaxed)
        return limit == Int.max && set > UInt64(Int.max) ? set : UInt64(limit)
    }

    func outputLimit(_ c: ClientClass) -> OutputLimit { outputLimits.withLock { $0[c.rawValue] } }

    /// CONFIG SET client-output-buffer-limit's value: `<class> <hard> <soft> <seconds>` repeated
    /// (`slave` is `replica`), or redis's reason.
    private static func parseOutputLimits(_ v: [UInt8]) -> Result<[(ClientClass, OutputLimit)], ConfigRefusal> {
        let words = v.split(separator: 0x20).map { Array($0) }
        guard !words.isEmpty, words.count % 4 == 0 else { return .failure(.init("Wrong number of arguments in buffer limit configuration.")) }
        var out: [(ClientClass, OutputLimit)] = []
        for i in stride(from: 0, to: words.count, by: 4) {
            let name = String(decoding: words[i], as: UTF8.self).lowercased()
            guard let c = name == "replica" ? .replica : ClientClass.allCases.first(where: { $0.name == name }) else {
                return .failure(.init("Invalid client class specified in buffer limit configuration."))
            }
            guard let hard = memoryValue(words[i + 1]), let soft = memoryValue(words[i + 2]),
                  let seconds = integerValue(words[i + 3]), seconds >= 0 else {
                return .failure(.init("Error in hard, soft or soft_seconds setting in buffer limit configuration."))
            }
            out.append((c, OutputLimit(hard: hard, soft: soft, softSeconds: seconds)))
        }
        return .success(out)
    }

    struct ConfigRefusal: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }

    /// `proto-max-bulk-len`.
    var maxBulkLength: Int { bulkLength.load(ordering: .relaxed) }

    /// `client-query-buffer-limit`: the most bytes of one unfinished request a connection may hold.
    var queryBufferLimit: Int { queryBuffer.load(ordering: .relaxed) }

    /// `requirepass`: nil = none.
    var password: [UInt8]? { requiredPassword.load() }

    var passwordRequired: Bool { requiredPassword.withLock { $0 != nil } }

    /// One parameter: its value now, and how a new value is applied (nil: immutable). `set`
    /// returns redis's reason when the value is refused; `check` validates without applying, so
    /// that a CONFIG SET of several parameters applies all or none.
    struct Parameter: Sendable {
        let name: String
        let get: @Sendable (RESPConfig, RESPHostFacts) -> String
        let check: (@Sendable (RESPConfig, [UInt8]) -> String?)?
        let apply: (@Sendable (RESPConfig, [UInt8]) -> Void)?
    }

    /// How redis 7.0's config.c reads an encoding knob, and so its CONFIG SET refusals.
    enum KnobKind: Sendable {
        /// A long long or size_t config: 0 ... LLONG_MAX.
        case count
        /// A memory config (memtoll: `1kb`, `1k`...), printed back in bytes.
        case memory
        /// An int config within bounds.
        case int(Int, Int)

        /// redis's reason for refusing `v`, or nil.
        func refusal(_ v: [UInt8]) -> String? {
            switch self {
            case .count:
                guard let n = integerValue(v) else { return "argument couldn't be parsed into an integer" }
                return n < 0 ? "argument must be between 0 and 9223372036854775807 inclusive" : nil
            case .memory:
                return memoryValue(v) == nil ? "argument must be a memory value" : nil
            case .int(let low, let high):
                guard let n = integerValue(v) else { return "argument couldn't be parsed into an integer" }
                return n < low || n > high ? "argument must be between \(low) and \(high) inclusive" : nil
            }
        }

        /// The value as redis stores it.
        func value(_ v: [UInt8]) -> Int { self == .memory ? memoryValue(v)! : integerValue(v)! }

        static func == (a: KnobKind, b: KnobKind) -> Bool {
            switch (a, b) {
            case (.count, .count), (.memory, .memory): return true
            case (.int(let a1, let a2), .int(let b1, let b2)): return a1 == b1 && a2 == b2
            default: return false
            }
        }
    }

    /// One of redis 7.0's encoding knobs: its default, kind, and what it sets in the engine (the
    /// hash, set and zset conversion thresholds and the list node size; nil: reported only, as the
    /// stream and HyperLogLog knobs, and list-compress-depth: nodes are never compressed).
    struct EncodingKnob: Sendable {
        let name: String
        let value: String
        let kind: KnobKind
        let threshold: EncodingLimits.Threshold?
    }

    /// redis 7.0's encoding knobs, in CONFIG GET's order here.
    static let encodingKnobTable: [EncodingKnob] = [
        EncodingKnob(name: "hash-max-listpack-entries", value: "512", kind: .count, threshold: .hashEntries),
        EncodingKnob(name: "hash-max-listpack-value", value: "64", kind: .memory, threshold: .hashValue),
        EncodingKnob(name: "list-max-listpack-size", value: "-2", kind: .int(Int(Int32.min), Int(Int32.max)), threshold: .listFill),
        EncodingKnob(name: "list-compress-depth", value: "0", kind: .int(0, Int(Int32.max)), threshold: nil),
        EncodingKnob(name: "set-max-intset-entries", value: "512", kind: .count, threshold: .setIntsetEntries),
        EncodingKnob(name: "zset-max-listpack-entries", value: "128", kind: .count, threshold: .zsetEntries),
        EncodingKnob(name: "zset-max-listpack-value", value: "64", kind: .memory, threshold: .zsetValue),
        EncodingKnob(name: "stream-node-max-bytes", value: "4096", kind: .memory, threshold: nil),
        EncodingKnob(name: "stream-node-max-entries", value: "100", kind: .count, threshold: nil),
        EncodingKnob(name: "hll-sparse-max-bytes", value: "3000", kind: .memory, threshold: nil),
    ]

    /// redis 7.0's aliases (config.c's alias field): the same knob under its ziplist name.
    static let encodingAliases: [(alias: String, of: String)] = [
        ("hash-max-ziplist-entries", "hash-max-listpack-entries"), ("hash-max-ziplist-value", "hash-max-listpack-value"),
        ("list-max-ziplist-size", "list-max-listpack-size"),
        ("zset-max-ziplist-entries", "zset-max-listpack-entries"), ("zset-max-ziplist-value", "zset-max-listpack-value"),
    ]

    /// The encoding knobs' defaults, by name.
    private static var encodingDefaults: [(String, String)] { encodingKnobTable.map { ($0.name, $0.value) } }

    /// redis 7.0's eviction knobs this engine has no use for (an allocation evicts what it needs;
    /// client memory is not evicted): accepted within redis's bounds and reported.
    private static let evictionDefaults: [(String, String)] = [
        ("maxmemory-eviction-tenacity", "10"), ("maxmemory-clients", "0"),
    ]

    /// An integer knob's check, in redis's words.
    private static func integerCheck(_ low: Int, _ high: Int) -> @Sendable (RESPConfig, [UInt8]) -> String? {
        { _, v in
            guard let n = integerValue(v) else { return "argument couldn't be parsed into an integer" }
            return n < low || n > high ? "argument must be between \(low) and \(high) inclusive" : nil
        }
    }

    /// `maxmemory-clients`: a memory value, or a percentage of maxmemory ("10%"), as redis prints it.
    private static func clientMemoryValue(_ v: [UInt8]) -> Result<String, ConfigRefusal> {
        if v.last == UInt8(ascii: "%") {
            guard let p = integerValue(Array(v.dropLast())), p >= 0 else {
                return .failure(.init("argument must be a memory or percent value"))
            }
            guard p <= 100 else { return .failure(.init("percentage argument must be less or equal to 100")) }
            return .success(p == 0 ? "0" : "\(p)%")
        }
        // redis's memtoll takes an empty value as 0.
        if v.isEmpty { return .success("0") }
        guard let bytes = memoryValue(v) else { return .failure(.init("argument must be a memory or percent value")) }
        return .success(String(bytes))
    }

    static let parameters: [Parameter] = [
        Parameter(name: "maxmemory", get: { c, _ in c.maxmemoryText },
                  check: { _, v in
                      guard let bytes = unsignedMemoryValue(v) else { return "argument must be a memory value" }
                      // As cache_memlimit: the cache always has a limit, of at least 8 MB.
                      return bytes < 8 << 20 ? "the cache's memory limit must be at least 8mb" : nil
                  },
                  apply: { c, v in
                      // Past Int.max the engine's limit is Int.max (no limit short of the address
                      // space reserved at start); CONFIG GET reports the value set, as redis does.
                      let bytes = unsignedMemoryValue(v)!
                      c.setMaxmemory.store(bytes, ordering: .relaxed)
                      c.engine.setMemoryLimit(Int(clamping: bytes))
                  }),
        Parameter(name: "maxmemory-policy", get: { c, _ in c.engine.tuning.policy.redisName },
                  check: { c, v in
                      EvictionPolicy(redisName: String(decoding: v, as: UTF8.self), current: c.engine.tuning.policy) != nil ? nil
                          : "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"
                  },
                  apply: { c, v in
                      let tuning = c.engine.tuning
                      if let p = EvictionPolicy(redisName: String(decoding: v, as: UTF8.self), current: tuning.policy) { tuning.setPolicy(p) }
                  }),
        Parameter(name: "lfu-log-factor", get: { c, _ in String(c.engine.tuning.lfuLogFactor) },
                  check: integerCheck(0, Int(Int32.max)),
                  apply: { c, v in c.engine.tuning.setLFULogFactor(integerValue(v)!) }),
        Parameter(name: "lfu-decay-time", get: { c, _ in String(c.engine.tuning.lfuDecayMinutes) },
                  check: integerCheck(0, Int(Int32.max)),
                  apply: { c, v in c.engine.tuning.setLFUDecayMinutes(integerValue(v)!) }),
        Parameter(name: "requirepass", get: { c, _ in c.password.map { String(decoding: $0, as: UTF8.self) } ?? "" },
                  check: { _, _ in nil },
                  apply: { c, v in c.requiredPassword.withLock { $0 = v.isEmpty ? nil : v } }),
        Parameter(name: "proto-max-bulk-len", get: { c, _ in String(c.maxBulkLength) },
                  check: { _, v in
                      guard let bytes = memoryValue(v) else { return "argument must be a memory value" }
                      return bytes < 1 << 20 ? "argument must be between 1048576 and 9223372036854775807 inclusive" : nil
                  },
                  apply: { c, v in c.bulkLength.store(memoryValue(v)!, ordering: .relaxed) }),
        Parameter(name: "client-query-buffer-limit", get: { c, _ in String(c.queryBufferLimit) },
                  check: { _, v in
                      guard let bytes = memoryValue(v) else { return "argument must be a memory value" }
                      return bytes < 1 << 20 ? "argument must be between 1048576 and 9223372036854775807 inclusive" : nil
                  },
                  apply: { c, v in c.queryBuffer.store(memoryValue(v)!, ordering: .relaxed) }),
        Parameter(name: "notify-keyspace-events", get: { c, _ in KeyspaceEvents.format(c.keyspaceEvents.load(ordering: .relaxed)) },
                  check: { _, v in KeyspaceEvents.parse(v) == nil ? KeyspaceEvents.invalidClass : nil },
                  apply: { c, v in c.keyspaceEvents.store(KeyspaceEvents.parse(v)!, ordering: .relaxed) }),
        Parameter(name: "slowlog-log-slower-than", get: { c, _ in String(c.slowLog.threshold.load(ordering: .relaxed)) },
                  check: { _, v in
                      guard let n = integerValue(v) else { return "argument couldn't be parsed into an integer" }
                      return n < -1 ? "argument must be between -1 and 9223372036854775807 inclusive" : nil
                  },
                  apply: { c, v in c.slowLog.threshold.store(integerValue(v)!, ordering: .relaxed) }),
        Parameter(name: "slowlog-max-len", get: { c, _ in String(c.slowLog.maxLength.load(ordering: .relaxed)) },
                  check: { _, v in
                      guard let n = integerValue(v) else { return "argument couldn't be parsed into an integer" }
                      return n < 0 ? "argument must be between 0 and 9223372036854775807 inclusive" : nil
                  },
                  apply: { c, v in c.slowLog.maxLength.store(integerValue(v)!, ordering: .relaxed) }),
        Parameter(name: "client-output-buffer-limit",
                  get: { c, _ in
                      c.outputLimits.withLock { limits in
                          ClientClass.allCases.map { k in
                              let l = limits[k.rawValue]
                              return "\(k.name) \(l.hard) \(l.soft) \(l.softSeconds)"
                          }.joined(separator: " ")
                      }
                  },
                  check: { _, v in
                      if case .failure(let r) = parseOutputLimits(v) { return r.reason }
                      return nil
                  },
                  apply: { c, v in
                      guard case .success(let changes) = parseOutputLimits(v) else { return }
                      c.outputLimits.withLock { limits in for (k, l) in changes { limits[k.rawValue] = l } }
                  }),
        Parameter(name: "timeout", get: { _, h in String(h.idleTimeout) }, check: nil, apply: nil),
        Parameter(name: "maxclients", get: { _, h in String(h.maxClients) }, check: nil, apply: nil),
        Parameter(name: "port", get: { _, h in String(h.tcpPort) }, check: nil, apply: nil),
        Parameter(name: "databases", get: { _, _ in "16" }, check: nil, apply: nil),
        Parameter(name: "maxmemory-samples", get: { c, _ in String(c.engine.tuning.samples) },
                  check: integerCheck(1, Int(Int32.max)),
                  apply: { c, v in c.engine.tuning.setSamples(integerValue(v)!) }),
        Parameter(name: "maxmemory-eviction-tenacity", get: { c, _ in c.encodingKnobs.withLock { $0["maxmemory-eviction-tenacity"]! } },
                  check: integerCheck(0, 100),
                  apply: { c, v in c.encodingKnobs.withLock { $0["maxmemory-eviction-tenacity"] = String(integerValue(v)!) } }),
        Parameter(name: "maxmemory-clients", get: { c, _ in c.encodingKnobs.withLock { $0["maxmemory-clients"]! } },
                  check: { _, v in
                      if case .failure(let r) = clientMemoryValue(v) { return r.reason }
                      return nil
                  },
                  apply: { c, v in
                      guard case .success(let text) = clientMemoryValue(v) else { return }
                      c.encodingKnobs.withLock { $0["maxmemory-clients"] = text }
                  }),
        Parameter(name: "save", get: { _, _ in "" }, check: nil, apply: nil),
        Parameter(name: "appendonly", get: { _, _ in "no" }, check: nil, apply: nil),
    ] + (encodingKnobTable.map { ($0.name, $0) } + encodingAliases.map { a in (a.alias, encodingKnobTable.first { $0.name == a.of }!) }).map { name, knob in
        // An alias reads and writes its knob's one value, as redis's.
        Parameter(name: name, get: { c, _ in c.encodingKnobs.withLock { $0[knob.name]! } },
                  check: { _, v in knob.kind.refusal(v) },
                  apply: { c, v in
                      let n = knob.kind.value(v)
                      c.encodingKnobs.withLock { $0[knob.name] = String(n) }
                      if let t = knob.threshold { c.engine.encodingLimits.set(t, n) }
                  })
    }

    /// The parameter of this name (any case), or nil.
    static func parameter(named word: UnsafeRawBufferPointer) -> Parameter? {
        parameters.first { $0.name.utf8.elementsEqual(word.lazy.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }) }
    }
}

/// redis's memtoll: digits, then an optional unit (b; k, m, g: powers of 1000; kb, mb, gb: of
/// 1024), any case.
func memoryValue(_ v: [UInt8]) -> Int? {
    let lowered = v.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
    let digits = lowered.prefix { $0 >= 0x30 && $0 <= 0x39 }
    guard !digits.isEmpty, let n = Int(String(decoding: digits, as: UTF8.self)) else { return nil }
    guard let multiplier = memoryUnit(lowered.dropFirst(digits.count)) else { return nil }
    let (product, overflow) = n.multipliedReportingOverflow(by: multiplier)
    return overflow ? nil : product
}

/// memtoll's and memtoull's unit (lower-cased): nothing or b; k, m, g (powers of 1000); kb, mb,
/// gb (of 1024). nil for anything else.
private func memoryUnit(_ unit: ArraySlice<UInt8>) -> Int? {
    switch String(decoding: unit, as: UTF8.self) {
    case "", "b": return 1
    case "k": return 1000
    case "kb": return 1024
    case "m": return 1000 * 1000
    case "mb": return 1024 * 1024
    case "g": return 1000 * 1000 * 1000
    case "gb": return 1024 * 1024 * 1024
    default: return nil
    }
}

/// `maxmemory`'s value as redis 7.0's memtoull reads it: the digits by strtoull, which saturates at
/// 2^64-1 past it, times the unit wrapping modulo 2^64 (99999999999999999999999 is 2^64-1, and
/// with gb 2^64-2^30).
func unsignedMemoryValue(_ v: [UInt8]) -> UInt64? {
    let lowered = v.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
    let digits = lowered.prefix { $0 >= 0x30 && $0 <= 0x39 }
    guard !digits.isEmpty else { return nil }
    var n: UInt64 = 0
    for d in digits {
        let (times, o1) = n.multipliedReportingOverflow(by: 10)
        let (sum, o2) = times.addingReportingOverflow(UInt64(d - 0x30))
        if o1 || o2 { n = .max; break }
        n = sum
    }
    guard let multiplier = memoryUnit(lowered.dropFirst(digits.count)) else { return nil }
    return n &* UInt64(multiplier)
}

/// An integer argument as redis's string2ll reads it.
func integerValue(_ v: [UInt8]) -> Int? {
    v.withUnsafeBytes { $0.count == 0 ? nil : parseInteger($0.baseAddress!, $0.count) }
}
