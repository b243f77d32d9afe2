// Redis pub/sub across workers: who listens to which channel, pattern or shard channel, and the
// delivery of a published message to each listener's `PushQueue`. A publisher never waits for a
// subscriber: the message is rendered once per protocol version and appended to each queue, and
// the subscriber's worker writes it out between that connection's own replies. At-most-once, as
// redis: a subscriber whose queue passes redis's `client-output-buffer-limit pubsub` hard limit
// (32 MB) loses the message, and one that stays past the soft limit (8 MB) for longer than its
// seconds (60) is cut off too; either is disconnected (`PubSubSubscriber.overflowed`), counted in
// INFO's `client_output_buffer_limit_disconnections`. The limits are CONFIG SET's, read at each
// publish; what is measured is the messages not yet moved to the connection's output.
//
// One lock guards the three maps; a publish holds it while it appends to the queues (each
// append takes that queue's own lock briefly: registry → queue is the only lock order).
import Platform
import Synchronization

/// One subscribed connection, as the registry and publishers see it.
final class PubSubSubscriber: Sendable {
    let queue: PushQueue
    let waker: ConnectionWaker
    /// The connection's protocol (HELLO may change it while subscribed): messages are rendered in it.
    let version: Atomic<UInt8>
    /// A message was refused by the full queue: the connection is to be closed.
    let overflowed = Atomic<Bool>(false)
    /// Unix ms since when the queue has been past the soft limit (0: it is not).
    let softLimitSince = Atomic<UInt64>(0)

    init(waker: ConnectionWaker, version: RESPVersion, limit: Int) {
        self.waker = waker
        queue = PushQueue(waker: waker, limit: limit)
        self.version = Atomic(version.rawValue)
    }
}

/// redis's `client-output-buffer-limit` for one class of client: bytes past which it is cut off
/// at once (0: no limit), and bytes it may stay past for at most `softSeconds` (0 bytes: none).
struct OutputLimit: Sendable, Equatable {
    var hard: Int
    var soft: Int
    var softSeconds: Int

    /// redis 7.0's defaults.
    static let pubsubDefault = OutputLimit(hard: 32 << 20, soft: 8 << 20, softSeconds: 60)
    static let normalDefault = OutputLimit(hard: 0, soft: 0, softSeconds: 0)
    static let replicaDefault = OutputLimit(hard: 256 << 20, soft: 64 << 20, softSeconds: 60)
}

/// The three kinds of subscription: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE.
enum SubscriptionKind: Int {
    case channel, pattern, shard
}

/// One value per kind of subscription, changed in place through its kind (a computed get/set
/// would copy the whole value on every change).
struct PerKind<Value> {
    private var values: [Value]

    init(_ initial: Value) { values = [initial, initial, initial] }

    subscript(kind: SubscriptionKind) -> Value {
        get { values[kind.rawValue] }
        _modify { yield &values[kind.rawValue] }
    }
}

final class PubSubRegistry: Sendable {
    /// redis's `client-output-buffer-limit pubsub` hard limit.
    static let defaultOutputLimit = OutputLimit.pubsubDefault.hard

    /// Subscribers by name, per kind.
    private typealias Listeners = PerKind<[[UInt8]: [ObjectIdentifier: PubSubSubscriber]]>

    private let listeners = LockedValue(Listeners([:]))
    /// Subscribers disconnected because their queue was full.
    let overflowDisconnections = Atomic<Int>(0)

    func add(_ s: PubSubSubscriber, to name: [UInt8], _ kind: SubscriptionKind) {
        listeners.withLock { $0[kind][name, default: [:]][ObjectIdentifier(s)] = s }
    }

    func remove(_ s: PubSubSubscriber, from name: [UInt8], _ kind: SubscriptionKind) {
        listeners.withLock { l in
            l[kind][name]?[ObjectIdentifier(s)] = nil
            if l[kind][name]?.isEmpty == true { l[kind][name] = nil }
        }
    }

    /// PUBLISH (or SPUBLISH with `shard`): the message to every subscriber of the channel and, for
    /// PUBLISH, of every matching pattern; returns how many received it.
    func publish(channel: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer, shard: Bool, limit: OutputLimit,
                 nowMs: UInt64) -> Int {
        let key = Array(channel)
        func deliver(_ bytes: [UInt8], to s: PubSubSubscriber) { self.deliver(bytes, to: s, limit, nowMs) }
        var rendered: [[UInt8]?] = [nil, nil]  // by version: RESP2, RESP3
        return listeners.withLock { l in
            var receivers = 0
            if let subscribers = l[shard ? .shard : .channel][key] {
                for s in subscribers.values {
                    let v = s.version.load(ordering: .relaxed) == RESPVersion.resp3.rawValue ? 1 : 0
                    if rendered[v] == nil { rendered[v] = Self.render(shard ? "smessage" : "message", nil, channel, message, v == 1) }
                    deliver(rendered[v]!, to: s)
                    receivers += 1
                }
            }
            if shard { return receivers }
            for (pattern, subscribers) in l[.pattern] {
                let matches = pattern.withUnsafeBytes { globMatches($0, channel, ignoringCase: false) }
                guard matches else { continue }
                var pm: [[UInt8]?] = [nil, nil]
                for s in subscribers.values {
                    let v = s.version.load(ordering: .relaxed) == RESPVersion.resp3.rawValue ? 1 : 0
                    if pm[v] == nil { pm[v] = pattern.withUnsafeBytes { Self.render("pmessage", $0, channel, message, v == 1) } }
                    deliver(pm[v]!, to: s)
                    receivers += 1
                }
            }
            return receivers
        }
    }

    private func deliver(_ bytes: [UInt8], to s: PubSubSubscriber, _ limit: OutputLimit, _ nowMs: UInt64) {
        if s.overflowed.load(ordering: .relaxed) { return }
        let bound = min(s.queue.limit, limit.hard > 0 ? limit.hard : Int.max)
        guard let pending = bytes.withUnsafeBytes({ s.queue.push($0, within: bound) }) else { return cutOff(s) }
        // redis's checkClientOutputBufferLimits: past the soft limit, the first time is noted and a
        // client still past it more than `softSeconds` later is cut off.
        if limit.soft > 0 && pending > limit.soft {
            let since = s.softLimitSince.load(ordering: .relaxed)
            if since == 0 {
                s.softLimitSince.store(nowMs, ordering: .relaxed)
            } else if nowMs > since && nowMs - since > UInt64(limit.softSeconds) * 1000 {
                cutOff(s)
            }
        } else if s.softLimitSince.load(ordering: .relaxed) != 0 {
            s.softLimitSince.store(0, ordering: .relaxed)
        }
    }

    private func cutOff(_ s: PubSubSubscriber) {
        s.overflowed.store(true, ordering: .relaxed)
        overflowDisconnections.add(1, ordering: .relaxed)
        s.waker.wake()
    }

    /// `[kind, pattern?, channel, message]` as a push (RESP3) or array (RESP2).
    private static func render(_ kind: StaticString, _ pattern: UnsafeRawBufferPointer?, _ channel: UnsafeRawBufferPointer,
                               _ message: UnsafeRawBufferPointer, _ resp3: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(32 + (pattern?.count ?? 0) + channel.count + message.count)
        func header(_ marker: UInt8, _ n: Int) {
            out.append(marker)
            out.append(contentsOf: String(n).utf8)
            out.append(contentsOf: [0x0D, 0x0A])
        }
        func bulk(_ b: UnsafeRawBufferPointer) {
            header(UInt8(ascii: "$"), b.count)
            out.append(contentsOf: b)
            out.append(contentsOf: [0x0D, 0x0A])
        }
        header(resp3 ? UInt8(ascii: ">") : UInt8(ascii: "*"), pattern == nil ? 3 : 4)
        bulk(UnsafeRawBufferPointer(start: kind.utf8Start, count: kind.utf8CodeUnitCount))
        if let pattern { bulk(pattern) }
        bulk(channel)
        bulk(message)
        return out
    }

    /// PUBSUB CHANNELS / SHARDCHANNELS: the channels with at least one subscriber that match
    /// `pattern` (all without one).
    func activeChannels(matching pattern: UnsafeRawBufferPointer?, shard: Bool) -> [[UInt8]] {
        listeners.withLock { l in
            l[shard ? .shard : .channel].keys.filter { name in
                guard let pattern else { return true }
                return name.withUnsafeBytes { globMatches(pattern, $0, ignoringCase: false) }
            }
        }
    }

    /// PUBSUB NUMSUB / SHARDNUMSUB.
    func subscriberCount(_ channel: UnsafeRawBufferPointer, shard: Bool) -> Int {
        let key = Array(channel)
        return listeners.withLock { $0[shard ? .shard : .channel][key]?.count ?? 0 }
    }

    /// PUBSUB NUMPAT: patterns with at least one subscriber.
    var patternCount: Int { listeners.withLock { $0[.pattern].count } }

    /// INFO's pubsub_channels.
    var channelCount: Int { listeners.withLock { $0[.channel].count } }
}
