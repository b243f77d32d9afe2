// Redis pub/sub across workers: who listens to which channel, pattern or shard channel, and the
// delivery of a published message to each listener's `PushQueue`. A publisher never waits for a
// subscriber: the message is rendered once per protocol version and appended to each queue, and
// the subscriber's worker writes it out between that connection's own replies. At-most-once, as
// redis: a subscriber whose queue passes its bound (redis's `client-output-buffer-limit pubsub`
// hard limit, 32 MB) loses the message and is disconnected (`PubSubSubscriber.overflowed`),
// counted in INFO's `client_output_buffer_limit_disconnections`.
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

    init(waker: ConnectionWaker, version: RESPVersion, limit: Int) {
        self.waker = waker
        queue = PushQueue(waker: waker, limit: limit)
        self.version = Atomic(version.rawValue)
    }
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
    static let defaultOutputLimit = 32 << 20

    /// Subscribers by name, per kind.
    private typealias Listeners = PerKind<[[UInt8]: [ObjectIdentifier: PubSubSubscriber]]>

    private let listeners = Mutex(Listeners([:]))
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
    func publish(channel: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer, shard: Bool) -> Int {
        let key = Array(channel)
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

    private func deliver(_ bytes: [UInt8], to s: PubSubSubscriber) {
        if s.overflowed.load(ordering: .relaxed) { return }
        if !bytes.withUnsafeBytes({ s.queue.push($0) }) {
            s.overflowed.store(true, ordering: .relaxed)
            overflowDisconnections.add(1, ordering: .relaxed)
            s.waker.wake()
        }
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
