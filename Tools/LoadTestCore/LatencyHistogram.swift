// Per-thread latency recording in an HdrHistogram (nanoseconds, 3 significant digits), merged at
// the end of a run.
import Histogram

public struct LatencySummary: Sendable, Equatable {
    public var count: UInt64
    public var p50: UInt64
    public var p90: UInt64
    public var p99: UInt64
    public var p999: UInt64
    public var max: UInt64
    public var mean: Double

    public static let empty = LatencySummary(count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0)
}

public struct LatencyHistogram: Sendable {
    /// Latencies above this (100 s) are recorded as this.
    public static let highestTrackable: UInt64 = 100_000_000_000

    public private(set) var histogram: Histogram<UInt64>

    public init() {
        histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: Self.highestTrackable,
                                      numberOfSignificantValueDigits: .three)
    }

    @inline(__always)
    public mutating func record(_ nanos: UInt64) {
        histogram.record(Swift.min(Swift.max(nanos, 1), Self.highestTrackable))
    }

    public mutating func merge(_ other: LatencyHistogram) {
        histogram.add(other.histogram)
    }

    public var count: UInt64 { histogram.totalCount }

    public func percentile(_ p: Double) -> UInt64 {
        histogram.totalCount == 0 ? 0 : histogram.valueAtPercentile(p)
    }

    public var summary: LatencySummary {
        guard histogram.totalCount > 0 else { return .empty }
        return LatencySummary(count: histogram.totalCount,
                              p50: histogram.valueAtPercentile(50), p90: histogram.valueAtPercentile(90),
                              p99: histogram.valueAtPercentile(99), p999: histogram.valueAtPercentile(99.9),
                              max: histogram.maxRecorded, mean: histogram.mean)
    }
}
