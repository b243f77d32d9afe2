// Routing and binding keys are bounded (255 bytes, AMQP's shortstr; 32 words on a topic
// exchange, which bounds a topic walk); what the bounds refuse is counted in
// `broker_keys_too_long`, and a binding over them in an older broker.meta is dropped with a note.
@testable import Broker
import Durability
import TestSupport
import Testing

@Suite struct ExchangeKeyBoundsTests {
    static let words32 = Array(repeating: "w", count: Broker.maxTopicWords).joined(separator: ".")
    static let words33 = words32 + ".w"
    static let bytes255 = String(repeating: "k", count: Broker.maxKeyBytes)

    @Test func theBoundsThemselves() {
        #expect(Broker.keyFits(Self.bytes255, kind: .direct))
        #expect(!Broker.keyFits(Self.bytes255 + "k", kind: .direct))
        #expect(!Broker.keyFits(Self.bytes255 + "k", kind: nil))
        #expect(Broker.keyFits(Self.words32, kind: .topic))
        #expect(!Broker.keyFits(Self.words33, kind: .topic))
        // Words only matter to topic exchanges.
        #expect(Broker.keyFits(Self.words33, kind: .direct))
        #expect(Broker.keyFits(Self.words33, kind: nil))
        // Empty words count.
        #expect(!Broker.keyFits(String(repeating: ".", count: 32), kind: .topic))
        #expect(Broker.keyFits(String(repeating: ".", count: 31), kind: .topic))
        #expect(Broker.keyFits("", kind: .topic))
    }

    @Test func bindRefusesAndCounts() throws {
        let h = try BrokerHarness()
        #expect(h.broker.declareExchange("t", kind: .topic, alternate: nil) == .ok)
        #expect(h.broker.declareExchange("d", kind: .direct, alternate: nil) == .ok)
        #expect(h.stat("broker_keys_too_long") == "0")
        #expect(h.broker.bind(exchange: "t", Binding(queue: "q", key: Self.words32)) == .ok)
        #expect(h.broker.bind(exchange: "t", Binding(queue: "q", key: Self.words33)) == .keyTooLong)
        #expect(h.broker.bind(exchange: "t", Binding(queue: "q", key: Self.bytes255 + "k")) == .keyTooLong)
        #expect(h.broker.bind(exchange: "d", Binding(queue: "q", key: Self.words33)) == .ok)
        #expect(h.broker.bind(exchange: "d", Binding(queue: "q", key: Self.bytes255 + "k")) == .keyTooLong)
        #expect(h.stat("broker_keys_too_long") == "3")
        #expect(h.broker.registry.withLock { h.broker.exchanges["t"]!.bindings.map(\.key) } == [Self.words32])
    }

    @Test func publishRefusesAndCounts() throws {
        let h = try BrokerHarness()
        #expect(h.broker.declareExchange("t", kind: .topic, alternate: nil) == .ok)
        #expect(h.broker.declareExchange("d", kind: .direct, alternate: nil) == .ok)
        #expect(h.broker.bind(exchange: "t", Binding(queue: "q", key: "#")) == .ok)
        #expect(h.broker.admitRoutingKey(Self.words32, exchange: "t"))
        #expect(!h.broker.admitRoutingKey(Self.words33, exchange: "t"))
        #expect(h.broker.admitRoutingKey(Self.words33, exchange: "d"))
        #expect(h.broker.admitRoutingKey(Self.words33, exchange: "missing"))
        #expect(!h.broker.admitRoutingKey(Self.bytes255 + "k", exchange: "d"))
        #expect(h.stat("broker_keys_too_long") == "2")
        // publish checks again against the exchange it routes through.
        let it = h.item("x")
        #expect(h.broker.publish(exchange: "t", routingKey: Self.words33, headers: [], item: it, expiresMs: 0, priority: 0).0 == nil)
        #expect(h.broker.publish(exchange: "t", routingKey: Self.words32, headers: [], item: it, expiresMs: 0, priority: 0).0 == 1)
        h.engine.release(it)
        #expect(h.stat("broker_keys_too_long") == "3")
        #expect(h.take("q") == "x")
    }

    /// A broker.meta written before the bounds: the binding over them is dropped, noted and
    /// counted; the others come back.
    @Test func recoveryDropsBindingsOverTheBounds() throws {
        let dir = ScratchDirectory()
        defer { dir.remove() }
        let meta = "exchange t topic\nbind t q a.# x-match=all\nbind t q \(Self.words33) x-match=all\n"
        let written = FileIO.replace(dir.path + "/broker.meta") { fd in
            Array(meta.utf8).withUnsafeBytes { FileIO.writeAll(fd, $0) } ? meta.utf8.count : nil
        }
        #expect(written)
        let h = try BrokerHarness(dataDirectory: dir.path)
        #expect(h.broker.registry.withLock { h.broker.exchanges["t"]!.bindings.map(\.key) } == ["a.#"])
        #expect(h.broker.recoveryNotes.contains { $0.contains("exchange t: binding of queue q dropped") })
        #expect(h.stat("broker_keys_too_long") == "1")
    }
}
