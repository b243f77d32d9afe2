// The broker port's command table: Kestrel's verbs (QueueVerbs.swift), the RabbitMQ model's
// (ExchangeVerbs.swift, AckVerbs.swift) and the memcached admin words the port keeps. Every
// unknown line, and every line outside its command's arity, is answered ERROR. The model's
// verbs take any number of words and answer a wrong count in their own way.
import MemcacheProtocol
import Platform

extension BrokerConnection {
    static let commands = CommandTable<BrokerConnection>([
        Command("get", .atLeast(2)) { c, line, out in c.processGet(line.input, line.tokens, line.end, out, withCAS: false) },
        Command("gets", .atLeast(2)) { c, line, out in c.processGet(line.input, line.tokens, line.end, out, withCAS: true) },
        Command("set", CommandArity(5...6)) { c, line, out in c.processSet(line.input, line.tokens, out) },
        Command("produce", CommandArity(5...6)) { c, line, out in c.processProduce(line.input, line.tokens, out) },
        Command("delete") { c, line, out in c.processDelete(line.input, line.tokens, out) },
        Command("flush", CommandArity(2...2)) { c, line, out in c.processFlush(line.input, line.tokens, out) },
        Command("flush_all") { c, line, out in c.processFlushAll(line, out) },
        Command("version") { c, _, out in
            out.append("VERSION \(c.settings.version)\r\n")
            return .proceed
        },
        Command("quit") { c, _, _ in c.processQuit() },
        Command("stats", CommandArity(1...2)) { c, line, out in c.processStats(line.input, line.tokens, out) },
        Command("queue") { c, line, out in
            c.declareQueue(c.words(line), out)
            return .proceed
        },
        Command("log") { c, line, out in
            c.declareLog(c.words(line), out)
            return .proceed
        },
        Command("seek") { c, line, out in
            c.seekLog(c.words(line), out)
            return .proceed
        },
        Command("exchange") { c, line, out in
            c.declareExchange(c.words(line), out)
            return .proceed
        },
        Command("bind") { c, line, out in
            c.bind(c.words(line), out)
            return .proceed
        },
        Command("unbind") { c, line, out in
            c.bind(c.words(line), out)
            return .proceed
        },
        Command("publish") { c, line, out in c.publish(c.words(line), out) },
        Command("ack") { c, line, out in
            c.acknowledge(c.words(line), out)
            return .proceed
        },
        Command("nack") { c, line, out in
            c.acknowledge(c.words(line), out)
            return .proceed
        },
    ], unknown: { _, _, out in
        out.append(Reply.error)
        return .proceed
    })
}
