// Key choice: uniform, or Zipf(s) by an exact inverse-CDF table (binary search, no allocation).
#if canImport(Glibc)
import Glibc
#endif

public enum KeyDistribution: Sendable, Equatable, CustomStringConvertible {
    case uniform
    case zipf(Double)

    /// `uniform` or `zipf:S` (S > 0), as on the command line.
    public init?(parsing text: String) {
        if text == "uniform" { self = .uniform; return }
        if text.hasPrefix("zipf:"), let s = Double(text.dropFirst(5)), s > 0, s.isFinite {
            self = .zipf(s); return
        }
        return nil
    }

    public var description: String {
        switch self {
        case .uniform: return "uniform"
        case .zipf(let s): return "zipf:\(formatFixed(s, 2))"
        }
    }
}

/// The cumulative distribution of Zipf(s) over ranks 1...n: P(k) = (1/k^s) / H(n, s).
/// Immutable once built; shared by all load threads.
public final class ZipfTable: @unchecked Sendable {
    // Safe to share: written only in init.
    public let count: Int
    public let exponent: Double
    private let cdf: UnsafeMutablePointer<Double>

    public init(count: Int, exponent: Double) {
        precondition(count > 0 && exponent > 0)
        self.count = count
        self.exponent = exponent
        cdf = .allocate(capacity: count)
        var sum = 0.0
        for k in 1...count {
            sum += 1.0 / pow(Double(k), exponent)
            cdf[k - 1] = sum
        }
        for i in 0..<count { cdf[i] /= sum }
        cdf[count - 1] = 1.0
    }

    deinit { cdf.deallocate() }

    /// The theoretical probability of rank `k` (1-based).
    public func probability(ofRank k: Int) -> Double {
        k == 1 ? cdf[0] : cdf[k - 1] - cdf[k - 2]
    }

    /// The 0-based rank whose CDF interval holds `u` in [0, 1).
    @inline(__always)
    public func rank(for u: Double) -> Int {
        var lo = 0, hi = count - 1
        while lo < hi {
            let mid = (lo &+ hi) >> 1
            if cdf[mid] > u { hi = mid } else { lo = mid &+ 1 }
        }
        return lo
    }
}

/// Picks key indices in 0 ..< keys for one load thread.
public struct KeyChooser {
    private var rng: Xoshiro256
    private let keys: Int
    private let zipf: ZipfTable?

    public init(keys: Int, zipf: ZipfTable?, seed: UInt64) {
        self.keys = keys
        self.zipf = zipf
        rng = Xoshiro256(seed: seed)
    }

    @inline(__always)
    public mutating func next() -> Int {
        if let zipf { return zipf.rank(for: rng.unit()) }
        return rng.below(keys)
    }
}
