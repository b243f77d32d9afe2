// Acknowledgements on the broker port (RabbitMQ's basic.ack / basic.nack), for open reads of
// this connection's consumer:
//   ack <queue> <id>...                        -> ACKED <n>
//   nack <queue> <id>... [requeue|reject]      -> NACKED <n>
import Broker
import MemcacheProtocol
import Platform

extension BrokerConnection {
    func acknowledge(_ w: [Substring], _ output: OutputBuffer) {
        let isAck = w[0] == "ack"
        var ids = w.dropFirst(2)
        var reject = false
        if !isAck, let last = ids.last, last == "requeue" || last == "reject" {
            reject = last == "reject"
            ids = ids.dropLast()
        }
        guard w.count >= 3, !ids.isEmpty else {
            output.append(Reply.badFormat)
            return
        }
        var name = w[1]
        guard let q = name.withUTF8({ session.queue(named: UnsafeRawBufferPointer($0)) }) else {
            output.append(BrokerReply.badQueueName)
            return
        }
        var parsed: [UInt64] = []
        for word in ids {
            guard let id = UInt64(word) else {
                output.append(Reply.badFormat)
                return
            }
            parsed.append(id)
        }
        let done = session.settle(q, ids: parsed, isAck ? .confirm : reject ? .reject : .requeue)
        output.append(isAck ? "ACKED \(done)\r\n" : "NACKED \(done)\r\n")
    }
}
