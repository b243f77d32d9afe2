// The RabbitMQ model on the broker port, one line per verb with memcached-style replies:
//   queue <name> [max_items=N] [max_bytes=N] [max_priority=N] [message_ttl=MS]
//         [dead_letter=<queue>] [delivery_limit=N] [overflow=reject|drop_oldest]     -> OK
//   exchange <name> direct|topic|fanout|headers [alternate=<queue>]                  -> OK
//   bind|unbind <exchange> <queue> <binding-key> [x-match=all|any] [k=v ...]        -> OK | NOT_FOUND
//   publish <exchange> <routing-key> <flags> <exptime> <bytes> [priority=N] [k=v ...] + data
//                                                                     -> ROUTED <n> | NOT_FOUND
// Keys past 255 bytes, or 32 words on a topic exchange, get CLIENT_ERROR (BrokerReply).
// and ack/nack (AckVerbs.swift). These are declarations and acknowledgements, not the message
// hot path: the line is split into words once.
import Broker
import MemcacheProtocol
import Platform

extension BrokerConnection {
    /// The line split into words: these verbs take any number of them (header pairs).
    func words(_ line: TextLine) -> [Substring] {
        String(decoding: UnsafeRawBufferPointer(rebasing: line.input[line.start..<line.end]), as: UTF8.self)
            .split(separator: " ")
    }

    func declareQueue(_ w: [Substring], _ output: OutputBuffer) {
        guard w.count >= 2, Broker.isValidName(String(w[1])) else {
            output.append(BrokerReply.badQueueName)
            return
        }
        if broker.logTopic(named: String(w[1])) != nil {
            output.append("CLIENT_ERROR \(w[1]) is a topic\r\n")
            return
        }
        switch QueueConfig.parse(Array(w.dropFirst(2))) {
        case .success(let c):
            output.append(broker.declareQueue(String(w[1]), c) ? Reply.ok : BrokerReply.journalUnavailable)
        case .failure(.badOption(let word)):
            output.append("CLIENT_ERROR bad queue option \(word)\r\n")
        }
    }

    func declareExchange(_ w: [Substring], _ output: OutputBuffer) {
        guard w.count == 3 || w.count == 4, Broker.isValidName(String(w[1])),
              String(w[1]) != Broker.defaultExchange else {
            output.append(Reply.badFormat)
            return
        }
        guard let kind = ExchangeKind(rawValue: String(w[2])) else {
            output.append("CLIENT_ERROR unknown exchange type \(w[2])\r\n")
            return
        }
        var alternate: String? = nil
        if w.count == 4 {
            guard w[3].hasPrefix("alternate="), Broker.isValidName(String(w[3].dropFirst(10))) else {
                output.append(Reply.badFormat)
                return
            }
            alternate = String(w[3].dropFirst(10))
        }
        switch broker.declareExchange(String(w[1]), kind: kind, alternate: alternate) {
        case .ok: output.append(Reply.ok)
        case .typeMismatch: output.append("CLIENT_ERROR exchange \(w[1]) exists with another type\r\n")
        case .tooManyExchanges: output.append("SERVER_ERROR too many exchanges (\(Broker.maxExchanges))\r\n")
        case .notFound, .tooManyBindings, .keyTooLong, .journalUnavailable: output.append(Reply.notFound)
        }
    }

    func bind(_ w: [Substring], _ output: OutputBuffer) {
        guard w.count >= 4, Broker.isValidName(String(w[2])) else {
            output.append(Reply.badFormat)
            return
        }
        let exchange = String(w[1]), queue = String(w[2]), key = String(w[3])
        if w[0] == "unbind" {
            output.append(broker.unbind(exchange: exchange, queue: queue, key: key) == .ok ? Reply.ok : Reply.notFound)
            return
        }
        var matchAll = true
        var headers: [HeaderPair] = []
        for word in w.dropFirst(4) {
            guard let eq = word.firstIndex(of: "=") else {
                output.append(Reply.badFormat)
                return
            }
            let k = String(word[..<eq]), v = String(word[word.index(after: eq)...])
            if k == "x-match" {
                guard v == "all" || v == "any" else {
                    output.append(Reply.badFormat)
                    return
                }
                matchAll = v == "all"
            } else {
                headers.append(HeaderPair(k, v))
            }
        }
        switch broker.bind(exchange: exchange, Binding(queue: queue, key: key, matchAll: matchAll, headers: headers)) {
        case .ok: output.append(Reply.ok)
        case .tooManyBindings: output.append("SERVER_ERROR too many bindings on exchange \(exchange)\r\n")
        case .keyTooLong: output.append(BrokerReply.bindingKeyTooLong)
        case .journalUnavailable: output.append(BrokerReply.journalUnavailable)
        default: output.append(Reply.notFound)
        }
    }

    func publish(_ w: [Substring], _ output: OutputBuffer) -> HandlerAction {
        guard w.count >= 6, let flags = UInt32(w[3]), let exptime = Int32(w[4]),
              let length = Int32(w[5]), length >= 0, length <= Int32.max - 2 else {
            output.append(Reply.badFormat)
            if w.count >= 6, let length = Int(w[5]), length >= 0, length < Int(Int32.max) { swallowRemaining = length + 2 }
            return .proceed
        }
        var priority: UInt8 = 0
        var headers: [HeaderPair] = []
        var noreply = false
        for word in w.dropFirst(6) {
            if word == "noreply" { noreply = true; continue }
            guard let eq = word.firstIndex(of: "=") else {
                output.append(Reply.badFormat)
                swallowRemaining = Int(length) + 2
                return .proceed
            }
            let k = String(word[..<eq]), v = String(word[word.index(after: eq)...])
            if k == "priority" {
                guard let p = UInt8(v) else {
                    output.append(Reply.badFormat)
                    swallowRemaining = Int(length) + 2
                    return .proceed
                }
                priority = p
            } else {
                headers.append(HeaderPair(k, v))
            }
        }
        let exchange = String(w[1]), routingKey = String(w[2])
        // Refused before the body is allocated; the body is read and dropped.
        guard broker.admitRoutingKey(routingKey, exchange: exchange) else {
            if !noreply { output.append(BrokerReply.routingKeyTooLong) }
            swallowRemaining = Int(length) + 2
            return .proceed
        }
        return beginMessage(flags: flags, exptime: Int64(exptime), length: Int(length), noreply: noreply,
                            target: .exchange(exchange, routingKey: routingKey, headers: headers, priority: priority),
                            output)
    }
}
