// The key bounds on the wire: a binding or routing key past them gets a CLIENT_ERROR line, a
// refused publish's body is read and dropped (the next command is understood), and the refusals
// show in `stats` as broker_keys_too_long.
import Broker
import Testing

@Suite("broker port key bounds")
struct KeyBoundsTests {
    @Test func longKeysAreRefusedWithAnErrorLine() throws {
        let port = try BrokerPort()
        let c = BrokerClient(port)
        let words32 = Array(repeating: "w", count: Broker.maxTopicWords).joined(separator: ".")
        let words33 = words32 + ".w"
        let bytes256 = String(repeating: "k", count: Broker.maxKeyBytes + 1)
        let bindError = "CLIENT_ERROR binding key too long (255 bytes, 32 words on topic exchanges)\r\n"
        let publishError = "CLIENT_ERROR routing key too long (255 bytes, 32 words on topic exchanges)\r\n"
        #expect(c.send("exchange t topic\r\n") == "OK\r\n")
        #expect(c.send("exchange d direct\r\n") == "OK\r\n")
        #expect(c.send("bind t q \(words32)\r\n") == "OK\r\n")
        #expect(c.send("bind t q \(words33)\r\n") == bindError)
        #expect(c.send("bind d q \(bytes256)\r\n") == bindError)
        #expect(c.send("bind d q \(words33)\r\n") == "OK\r\n")
        #expect(c.send("publish t \(words33) 0 0 5\r\nhello\r\nversion\r\n").hasPrefix(publishError + "VERSION "))
        #expect(c.send("publish d \(bytes256) 0 0 5 noreply\r\nhello\r\n") == "")
        #expect(c.send("publish t \(words32) 0 0 5\r\nhello\r\n") == "ROUTED 1\r\n")
        #expect(c.send("publish d \(words33) 0 0 5\r\nhello\r\n") == "ROUTED 1\r\n")
        #expect(c.send("get q\r\nget q\r\nget q\r\n") == "VALUE q 0 5\r\nhello\r\nEND\r\nVALUE q 0 5\r\nhello\r\nEND\r\nEND\r\n")
        #expect(c.send("stats\r\n").contains("STAT broker_keys_too_long 4\r\n"))
        c.close()
    }
}
