// Pub/sub commands of the Redis port: SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE SSUBSCRIBE
// SUNSUBSCRIBE PUBLISH SPUBLISH PUBSUB, with redis-server 7.0's replies. A connection's own
// subscriptions are kept here (`Subscriptions`, made at its first subscribe); the registry
// (PubSub.swift) maps names to subscribers for publishers on any worker. Messages reach the
// connection through its push queue, written between its replies (`deliverPushes`); in RESP2 a
// subscribed connection may only (un)subscribe, PING, QUIT and RESET, as in redis.
import Platform

/// One connection's subscriptions, in the order redis reports them on UNSUBSCRIBE without names.
final class Subscriptions {
    let subscriber: PubSubSubscriber
    /// The names, per kind, in subscription order.
    var names = PerKind<[[UInt8]]>([])

    init(_ subscriber: PubSubSubscriber) { self.subscriber = subscriber }

    subscript(kind: SubscriptionKind) -> [[UInt8]] {
        get { names[kind] }
        _modify { yield &names[kind] }
    }

    /// The count SUBSCRIBE/PSUBSCRIBE replies carry (redis: channels + patterns); shard
    /// subscriptions are counted apart.
    func count(_ kind: SubscriptionKind) -> Int { kind == .shard ? self[.shard].count : self[.channel].count + self[.pattern].count }

    var isEmpty: Bool { self[.channel].isEmpty && self[.pattern].isEmpty && self[.shard].isEmpty }
}

extension RESPConnection {
    static let pubSubCommands: [RESPCommand] = [
        RESPCommand("subscribe", arity: -2, flags: [.pubsub, .noscript, .loading, .stale]) { c, out in c.subscribe(.channel, "subscribe", out) },
        RESPCommand("psubscribe", arity: -2, flags: [.pubsub, .noscript, .loading, .stale]) { c, out in c.subscribe(.pattern, "psubscribe", out) },
        RESPCommand("ssubscribe", arity: -2, keys: (1, -1, 1), flags: [.pubsub, .noscript, .loading, .stale]) { c, out in c.subscribe(.shard, "ssubscribe", out) },
        RESPCommand("unsubscribe", arity: -1, flags: [.pubsub, .noscript, .loading, .stale]) { c, out in c.unsubscribe(.channel, "unsubscribe", out) },
        RESPCommand("punsubscribe", arity: -1, flags: [.pubsub, .noscript, .loading, .stale]) { c, out in c.unsubscribe(.pattern, "punsubscribe", out) },
        RESPCommand("sunsubscribe", arity: -1, keys: (1, -1, 1), flags: [.pubsub, .noscript, .loading, .stale]) { c, out in c.unsubscribe(.shard, "sunsubscribe", out) },
        RESPCommand("publish", arity: 3, flags: [.pubsub, .loading, .stale, .fast]) { c, out in c.publish(shard: false, out) },
        RESPCommand("spublish", arity: 3, keys: (1, 1, 1), flags: [.pubsub, .loading, .stale, .fast]) { c, out in c.publish(shard: true, out) },
        RESPCommand("pubsub", arity: -2, subcommands: ["channels", "numsub", "numpat", "shardchannels", "shardnumsub", "help"]) { c, out in c.containerHelp(out) ?? c.pubsub(out) },
    ]

    /// In RESP2, a connection with a subscription is in redis's subscribed mode.
    var inSubscribedMode: Bool { version == .resp2 && !(subscriptions?.isEmpty ?? true) }

    /// What redis lets a RESP2 connection in subscribed mode run.
    static func allowedWhileSubscribed(_ name: StaticString) -> Bool {
        let n = name.utf8Bytes
        return ["ping", "subscribe", "ssubscribe", "unsubscribe", "sunsubscribe", "psubscribe", "punsubscribe", "quit", "reset"]
            .contains { equalFolded(n, $0) }
    }

    private func ownSubscriptions() -> Subscriptions {
        if let subscriptions { return subscriptions }
        let s = Subscriptions(PubSubSubscriber(waker: waker, version: version, limit: service.pubsubOutputLimit))
        subscriptions = s
        return s
    }

    private func subscribe(_ kind: SubscriptionKind, _ word: StaticString, _ out: OutputBuffer) -> HandlerAction {
        let s = ownSubscriptions()
        for i in 1..<argumentCount {
            let name = Array(argument(i))
            if !s[kind].contains(name) {
                s[kind].append(name)
                service.pubsub.add(s.subscriber, to: name, kind)
            }
            confirmation(word, argument(i), s.count(kind), out)
        }
        publishSubscriptionCounts()
        return .proceed
    }

    private func unsubscribe(_ kind: SubscriptionKind, _ word: StaticString, _ out: OutputBuffer) -> HandlerAction {
        let s = subscriptions
        if argumentCount == 1 {
            guard let s, !s[kind].isEmpty else {
                out.appendRESPPushHeader(3, version)
                out.appendRESPBulk(word)
                out.appendRESPNull(version)
                out.appendRESPInteger(Int64(subscriptions?.count(kind) ?? 0))
                return .proceed
            }
            while let name = s[kind].first {
                s[kind].removeFirst()
                service.pubsub.remove(s.subscriber, from: name, kind)
                name.withUnsafeBytes { confirmation(word, $0, s.count(kind), out) }
            }
            publishSubscriptionCounts()
            return .proceed
        }
        for i in 1..<argumentCount {
            let name = Array(argument(i))
            if let s, let at = s[kind].firstIndex(of: name) {
                s[kind].remove(at: at)
                service.pubsub.remove(s.subscriber, from: name, kind)
            }
            confirmation(word, argument(i), s?.count(kind) ?? 0, out)
        }
        publishSubscriptionCounts()
        return .proceed
    }

    /// `[word, name, count]`, as a push in RESP3.
    private func confirmation(_ word: StaticString, _ name: UnsafeRawBufferPointer, _ count: Int, _ out: OutputBuffer) {
        out.appendRESPPushHeader(3, version)
        out.appendRESPBulk(word)
        out.appendRESPBulk(name)
        out.appendRESPInteger(Int64(count))
    }

    private func publish(shard: Bool, _ out: OutputBuffer) -> HandlerAction {
        let receivers = service.publish(channel: argument(1), message: argument(2), shard: shard)
        // A connection subscribed to what it publishes (RESP3) gets the message before the
        // count, as redis writes it.
        if let s = subscriptions { s.subscriber.queue.take(into: out) }
        out.appendRESPInteger(Int64(receivers))
        return .proceed
    }

    /// PUBSUB CHANNELS [pattern] | NUMSUB [channel ...] | NUMPAT | SHARDCHANNELS [pattern] |
    /// SHARDNUMSUB [channel ...].
    private func pubsub(_ out: OutputBuffer) -> HandlerAction {
        let registry = service.pubsub
        let sub = argument(1)
        let channels = equalFolded(sub, "channels"), shardChannels = equalFolded(sub, "shardchannels")
        let numsub = equalFolded(sub, "numsub"), shardNumsub = equalFolded(sub, "shardnumsub")
        let numpat = equalFolded(sub, "numpat")
        guard channels || shardChannels || numsub || shardNumsub || numpat else {
            return error(out, "ERR unknown subcommand '" + String(decoding: sub.prefix(128), as: UTF8.self) + "'. Try PUBSUB HELP.")
        }
        // redis's subcommand arities: CHANNELS [pattern], NUMPAT alone.
        if ((channels || shardChannels) && argumentCount > 3) || (numpat && argumentCount != 2) {
            return error(out, "ERR wrong number of arguments for 'pubsub|" + String(decoding: sub, as: UTF8.self).lowercased() + "' command")
        }
        if channels || shardChannels {
            let names = registry.activeChannels(matching: argumentCount == 3 ? argument(2) : nil, shard: shardChannels)
            out.appendRESPArrayHeader(names.count)
            for n in names { n.withUnsafeBytes { out.appendRESPBulk($0) } }
        } else if numsub || shardNumsub {
            out.appendRESPArrayHeader(2 * (argumentCount - 2))
            for i in 2..<max(2, argumentCount) {
                out.appendRESPBulk(argument(i))
                out.appendRESPInteger(Int64(registry.subscriberCount(argument(i), shard: shardNumsub)))
            }
        } else {
            out.appendRESPInteger(Int64(registry.patternCount))
        }
        return .proceed
    }

    /// RESET, and a closed connection: every subscription goes.
    func dropSubscriptions() {
        guard let s = subscriptions else { return }
        for kind in [SubscriptionKind.channel, .pattern, .shard] {
            for name in s[kind] { service.pubsub.remove(s.subscriber, from: name, kind) }
        }
        subscriptions = nil
        publishSubscriptionCounts()
    }

    /// Messages published to this connection go out between its replies; one refused for a full
    /// queue closes it (redis's client-output-buffer-limit).
    func deliverPushes(output: OutputBuffer) -> HandlerAction {
        // CLIENT KILL from another worker wakes the victim through the same path.
        if client.killed.load(ordering: .acquiring) { return .closeNow }
        guard let s = subscriptions else { return .proceed }
        if s.subscriber.overflowed.load(ordering: .relaxed) { return .closeNow }
        s.subscriber.queue.take(into: output)
        return .proceed
    }

    func pushesOverflowed() -> Bool {
        client.killed.load(ordering: .acquiring) || (subscriptions?.subscriber.overflowed.load(ordering: .relaxed) ?? false)
    }

    /// sub, psub and ssub for CLIENT LIST on other workers.
    func publishSubscriptionCounts() {
        client.channels.store(subscriptions?[.channel].count ?? 0, ordering: .relaxed)
        client.patterns.store(subscriptions?[.pattern].count ?? 0, ordering: .relaxed)
        client.shardChannels.store(subscriptions?[.shard].count ?? 0, ordering: .relaxed)
    }
}
