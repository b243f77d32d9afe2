// Headers routing looks each binding pair up in a set of the message's headers; the result must
// be the former scan's, binding by binding, on random bindings (all and any, duplicate pairs,
// no pairs) and random headers.
@testable import Broker
import TestSupport
import Testing

@Suite struct HeadersRoutingTests {
    static func scanRoute(_ bindings: [Binding], _ headers: [HeaderPair]) -> [String] {
        var out: [String] = []
        for b in bindings where !out.contains(b.queue) {
            let present = b.headers.map { headers.contains($0) }
            let hit = b.headers.isEmpty ? b.matchAll : (b.matchAll ? !present.contains(false) : present.contains(true))
            if hit { out.append(b.queue) }
        }
        return out
    }

    @Test func randomBindingsRouteAsTheScan() {
        var rng = SplitMix64(seed: 5)
        func pairs(_ max: Int) -> [HeaderPair] {
            (0..<Int.random(in: 0...max, using: &rng)).map { _ in
                HeaderPair(["a", "b", "c"].randomElement(using: &rng)!, ["1", "2"].randomElement(using: &rng)!)
            }
        }
        for _ in 0..<200 {
            var ex = Exchange(name: "h", kind: .headers)
            let bindings = (0..<20).map { _ in
                Binding(queue: "q\(Int.random(in: 0..<6, using: &rng))", key: "", matchAll: Bool.random(using: &rng), headers: pairs(3))
            }
            ex.bindings = bindings
            for _ in 0..<20 {
                let h = pairs(4)
                #expect(ex.route(routingKey: "", headers: h) == Self.scanRoute(bindings, h))
            }
        }
    }
}
