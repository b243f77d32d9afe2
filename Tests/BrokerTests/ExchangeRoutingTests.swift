// Routing exactly as RabbitMQ's documentation describes it, with its own examples.
@testable import Broker
import Testing

@Suite struct ExchangeRoutingTests {
    /// RabbitMQ tutorial 5: Q1 gets `*.orange.*`, Q2 gets `*.*.rabbit` and `lazy.#`.
    @Test func tutorialTopicExamples() {
        var ex = Exchange(name: "topic_logs", kind: .topic)
        ex.bindings = [Binding(queue: "Q1", key: "*.orange.*"), Binding(queue: "Q2", key: "*.*.rabbit"),
                       Binding(queue: "Q2", key: "lazy.#")]
        let cases: [(String, [String])] = [
            ("quick.orange.rabbit", ["Q1", "Q2"]),
            ("lazy.orange.elephant", ["Q1", "Q2"]),
            ("quick.orange.fox", ["Q1"]),
            ("lazy.brown.fox", ["Q2"]),
            ("lazy.pink.rabbit", ["Q2"]),  // matches two bindings, delivered once
            ("quick.brown.fox", []),
            ("orange", []),
            ("quick.orange.new.rabbit", []),
            ("lazy.orange.new.rabbit", ["Q2"]),
            ("lazy", ["Q2"]),
        ]
        for (key, expected) in cases {
            #expect(ex.route(routingKey: key, headers: []) == expected, "routing key \(key)")
        }
    }

    @Test func hashMatchesEverythingAndStarExactlyOneWord() {
        #expect(Exchange.topicMatches(pattern: "#", routingKey: ""))
        #expect(Exchange.topicMatches(pattern: "#", routingKey: "a.b.c"))
        #expect(Exchange.topicMatches(pattern: "regions.na.cities.*", routingKey: "regions.na.cities.toronto"))
        #expect(!Exchange.topicMatches(pattern: "regions.na.cities.*", routingKey: "regions.na.cities"))
        #expect(!Exchange.topicMatches(pattern: "regions.na.cities.*", routingKey: "regions.na.cities.toronto.east"))
        #expect(Exchange.topicMatches(pattern: "regions.#", routingKey: "regions"))
        #expect(Exchange.topicMatches(pattern: "#.error", routingKey: "app.db.error"))
        #expect(Exchange.topicMatches(pattern: "#.error", routingKey: "error"))
        #expect(!Exchange.topicMatches(pattern: "#.error", routingKey: "app.error.db"))
        #expect(Exchange.topicMatches(pattern: "a.#.z", routingKey: "a.z"))
        #expect(Exchange.topicMatches(pattern: "a.#.z", routingKey: "a.b.c.z"))
        #expect(!Exchange.topicMatches(pattern: "*", routingKey: ""))
        #expect(!Exchange.topicMatches(pattern: "*", routingKey: "a.b"))
        #expect(Exchange.topicMatches(pattern: "exact.key", routingKey: "exact.key"))
        #expect(Exchange.topicMatches(pattern: "#.#", routingKey: "a"))
        #expect(Exchange.topicMatches(pattern: "*.#.*", routingKey: "a.b"))
        #expect(!Exchange.topicMatches(pattern: "*.#.*", routingKey: "a"))
    }

    @Test func manyHashesAgainstALongKeyStayCheap() {
        // Backtracking would take exponential time here; the table is 41 x 61.
        let pattern = Array(repeating: "#", count: 40).joined(separator: ".") + ".z"
        let key = Array(repeating: "a", count: 60).joined(separator: ".")
        let clock = ContinuousClock()
        let start = clock.now
        #expect(!Exchange.topicMatches(pattern: pattern, routingKey: key))
        #expect(Exchange.topicMatches(pattern: pattern, routingKey: key + ".z"))
        #expect(clock.now - start < .seconds(1))
    }

    @Test func directFanoutAndHeaders() {
        var direct = Exchange(name: "d", kind: .direct)
        direct.bindings = [Binding(queue: "errors", key: "error"), Binding(queue: "all", key: "error"),
                           Binding(queue: "all", key: "info")]
        #expect(direct.route(routingKey: "error", headers: []) == ["errors", "all"])
        #expect(direct.route(routingKey: "info", headers: []) == ["all"])
        #expect(direct.route(routingKey: "warn", headers: []) == [])

        var fanout = Exchange(name: "f", kind: .fanout)
        fanout.bindings = [Binding(queue: "a", key: "x"), Binding(queue: "b", key: "y"), Binding(queue: "c", key: "")]
        #expect(fanout.route(routingKey: "anything", headers: []) == ["a", "b", "c"])

        var headers = Exchange(name: "h", kind: .headers)
        headers.bindings = [
            Binding(queue: "all", key: "", matchAll: true, headers: [HeaderPair("format", "pdf"), HeaderPair("type", "report")]),
            Binding(queue: "any", key: "", matchAll: false, headers: [HeaderPair("format", "pdf"), HeaderPair("type", "log")]),
        ]
        #expect(headers.route(routingKey: "", headers: [HeaderPair("format", "pdf"), HeaderPair("type", "report")]) == ["all", "any"])
        #expect(headers.route(routingKey: "", headers: [HeaderPair("format", "pdf")]) == ["any"])
        #expect(headers.route(routingKey: "", headers: [HeaderPair("type", "log")]) == ["any"])
        #expect(headers.route(routingKey: "", headers: [HeaderPair("format", "zip")]) == [])
    }

    @Test func publishThroughBrokerCountsQueuesAndUsesAlternate() throws {
        let h = try BrokerHarness()
        #expect(h.broker.declareExchange("logs", kind: .fanout, alternate: nil) == .ok)
        #expect(h.broker.declareExchange("logs", kind: .topic, alternate: nil) == .typeMismatch)
        for q in ["a", "b", "c"] { #expect(h.broker.bind(exchange: "logs", Binding(queue: q, key: "#")) == .ok) }
        let it = h.item("hello")
        let (n, _, _) = h.broker.publish(exchange: "logs", routingKey: "k", headers: [], item: it, expiresMs: 0, priority: 0)
        h.engine.release(it)
        #expect(n == 3)
        #expect(h.take("a") == "hello" && h.take("b") == "hello" && h.take("c") == "hello")

        #expect(h.broker.declareExchange("routed", kind: .direct, alternate: "lost") == .ok)
        let it2 = h.item("nobody")
        let (n2, _, _) = h.broker.publish(exchange: "routed", routingKey: "none", headers: [], item: it2, expiresMs: 0, priority: 0)
        h.engine.release(it2)
        #expect(n2 == 1)
        #expect(h.take("lost") == "nobody")
        let it3 = h.item("x")
        #expect(h.broker.publish(exchange: "missing", routingKey: "", headers: [], item: it3, expiresMs: 0, priority: 0).0 == nil)
        h.engine.release(it3)
        #expect(h.broker.unbind(exchange: "logs", queue: "a", key: "#") == .ok)
        #expect(h.broker.unbind(exchange: "logs", queue: "a", key: "#") == .notFound)
    }
}
