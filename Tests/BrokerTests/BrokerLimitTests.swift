// The broker's counts are bounded: queues (`maxQueues`), exchanges (`maxExchanges`) and bindings
// per exchange (`maxBindings`); a creation refused at a bound is counted in
// `broker_limit_refusals`, and what exists stays usable.
@testable import Broker
import Testing

@Suite struct BrokerLimitTests {
    @Test func exchangesAreBoundedAndRefusalsCounted() throws {
        let h = try BrokerHarness()
        #expect(h.stat("broker_limit_refusals") == "0")
        for i in 0..<Broker.maxExchanges {
            #expect(h.broker.declareExchange("x\(i)", kind: .fanout, alternate: nil) == .ok)
        }
        #expect(h.broker.declareExchange("one-more", kind: .fanout, alternate: nil) == .tooManyExchanges)
        #expect(h.broker.declareExchange("another", kind: .direct, alternate: nil) == .tooManyExchanges)
        // Re-declaring one that exists is not a creation.
        #expect(h.broker.declareExchange("x7", kind: .fanout, alternate: nil) == .ok)
        #expect(h.stat("broker_limit_refusals") == "2")
        #expect(h.stat("broker_exchanges") == String(Broker.maxExchanges))
        // Room again once one is deleted.
        #expect(h.broker.deleteExchange("x0"))
        #expect(h.broker.declareExchange("one-more", kind: .fanout, alternate: nil) == .ok)
    }

    @Test func bindingsPerExchangeAreBoundedAndCounted() throws {
        let h = try BrokerHarness()
        #expect(h.broker.declareExchange("d", kind: .direct, alternate: nil) == .ok)
        for i in 0..<Broker.maxBindings {
            #expect(h.broker.bind(exchange: "d", Binding(queue: "q", key: "k\(i)")) == .ok)
        }
        #expect(h.broker.bind(exchange: "d", Binding(queue: "q", key: "past")) == .tooManyBindings)
        #expect(h.stat("broker_limit_refusals") == "1")
    }
}
