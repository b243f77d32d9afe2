// `swiftcached-loadtest hitratio`: the same seeded zipf key sequence replayed cache-aside against
// several RESP servers already running (swiftcached's Redis port under its eviction policies,
// redis-server under allkeys-lru / allkeys-lfu), hit ratios printed side by side (BENCHMARKS.md).
import ArgumentParser
import LoadTestCore

struct HitRatioCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hitratio",
        abstract: "Replay one zipf key sequence (GET, SET on a miss) against RESP servers and print their hit ratios.",
        discussion: """
        Each --target is label=port or label=port/policy (then CONFIG SET maxmemory-policy policy \
        first); every target is flushed (FLUSHALL) and gets the same requests, in the same order, \
        over one connection (GETs pipelined by 256, then the SETs of their misses). Start the \
        servers yourself with the same memory (swiftcached -m N --redis-port P; redis-server \
        --maxmemory Nmb); DBSIZE at the end shows how many keys each held.
        """
    )

    @Option(name: .customLong("target"), help: "label=port[/policy], repeatable.")
    var targets: [String] = []
    @Option(help: "Distinct keys.")
    var keys = 1_000_000
    @Option(help: "Requests replayed.")
    var requests = 3_000_000
    @Option(help: "Zipf exponent.")
    var exponent = 0.99
    @Option(name: .customLong("value-size"), help: "Value bytes.")
    var valueSize = 100
    @Option(help: "Seed of the key sequence.")
    var seed: UInt64 = 1

    func run() throws {
        guard !targets.isEmpty else { throw ValidationError("give at least one --target label=port[/policy]") }
        let zipf = ZipfTable(count: keys, exponent: exponent)
        print("keys \(keys), requests \(requests), zipf \(exponent), values \(valueSize) B, seed \(seed)")
        print("target                 policy            hit ratio   keys held   refused sets")
        for t in targets {
            let parts = t.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ValidationError("bad --target \(t)") }
            let portPolicy = parts[1].split(separator: "/", maxSplits: 1).map(String.init)
            guard let port = UInt16(portPolicy[0]) else { throw ValidationError("bad port in --target \(t)") }
            let policy = portPolicy.count == 2 ? portPolicy[1] : nil
            switch HitRatio.replay(port: port, policy: policy, keys: keys, requests: requests, exponent: exponent,
                                   valueSize: valueSize, seed: seed, zipf: zipf) {
            case .success(let r):
                func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
                print(pad(parts[0], 23) + pad(policy ?? "(as started)", 18) + pad(formatFixed(r.ratio * 100, 2) + " %", 12)
                      + pad(String(r.keysHeld), 12) + String(r.refusedSets))
            case .failure(let e):
                throw ValidationError("\(parts[0]): \(e)")
            }
        }
    }
}
