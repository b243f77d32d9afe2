// Runs one load: starts the threads, warms, measures, merges the per-thread results.
#if canImport(Glibc)
import Glibc
#endif

/// Sampled once a second while measuring.
public struct LoadProgress: Sendable {
    public var elapsedSeconds: Double
    /// Key operations per second over the last interval.
    public var opsPerSecond: Double
    /// The largest per-thread p99 so far (ns).
    public var p99: UInt64
    public var errors: Int
}

public enum LoadRunner {
    /// Runs `config` to the end (duration, request count, or a stop) and returns what it measured.
    /// `beforeMeasure` runs after the warm-up and before the first measured request,
    /// `afterMeasure` right after the last reply; `progress` once a second while measuring.
    /// Throws if the configuration is invalid or a connection cannot be made.
    public static func run(_ config: LoadConfig,
                           beforeMeasure: () -> Void = {},
                           afterMeasure: () -> Void = {},
                           progress: ((LoadProgress) -> Void)? = nil) throws -> LoadResult {
        try config.validate()
        let keySpace = KeySpace(count: config.keys, valueSize: config.valueSize, verify: config.verify)
        var zipf: ZipfTable? = nil
        if case .zipf(let s) = config.keyDistribution { zipf = ZipfTable(count: config.keys, exponent: s) }
        let control = RunControl()
        let t = config.threads
        var workers: [Worker] = []
        for i in 0..<t {
            let warmRange = (config.keys * i / t) ..< (config.keys * (i + 1) / t)
            var quota = Int.max
            if let n = config.requests { quota = n / t + (i < n % t ? 1 : 0) }
            workers.append(Worker(id: i, config: config, keySpace: keySpace, zipf: zipf, control: control,
                                  warmRange: warmRange, quota: quota, publishP99: progress != nil))
        }
        let threads = workers.map { w in OSThread { w.main() } }
        var joined = false
        func joinAll() {
            if joined { return }
            joined = true
            for th in threads { th.join() }
        }
        defer { control.requestStop(.abort); joinAll() }

        func waitFor(_ counter: () -> Int) {
            while counter() < t { sleepNanos(1_000_000) }
        }
        waitFor { control.ready.load(ordering: .acquiring) }
        if let failure = workers.compactMap({ $0.connectError }).first {
            control.requestStop(.abort)
            joinAll()
            throw LoadConfigError("cannot connect: \(failure)")
        }

        var result = LoadResult(config: config)
        let warmStart = monotonicNanos()
        control.phase.store(1, ordering: .releasing)
        waitFor { control.warmDone.load(ordering: .acquiring) }
        if config.warm { result.warmSeconds = Double(monotonicNanos() - warmStart) / 1e9 }

        var start = monotonicNanos()
        if control.stop.load(ordering: .relaxed) == 0 {
            beforeMeasure()
            let cpu0 = processCPUSeconds()
            start = monotonicNanos()
            let deadline = config.requests == nil ? start + UInt64(config.durationSeconds * 1e9) : UInt64.max
            control.deadline.store(deadline, ordering: .relaxed)
            control.phase.store(2, ordering: .releasing)
            var lastOps = 0
            var lastSample = start
            var nextSample = start + 1_000_000_000
            while control.done.load(ordering: .acquiring) < t {
                sleepNanos(20_000_000)
                let now = monotonicNanos()
                if let progress, now >= nextSample {
                    nextSample += 1_000_000_000
                    let ops = workers.reduce(0) { $0 + $1.publishedOps.load(ordering: .relaxed) }
                    let p99 = workers.map { $0.publishedP99.load(ordering: .relaxed) }.max() ?? 0
                    let errs = workers.reduce(0) { $0 + $1.publishedErrors.load(ordering: .relaxed) }
                    progress(LoadProgress(elapsedSeconds: Double(now - start) / 1e9,
                                          opsPerSecond: Double(ops - lastOps) / (Double(now - lastSample) / 1e9),
                                          p99: p99, errors: errs))
                    lastOps = ops
                    lastSample = now
                }
            }
            result.loaderCPUSeconds = processCPUSeconds() - cpu0
            afterMeasure()
        }
        let end = monotonicNanos()
        joinAll()

        var histogram = LatencyHistogram()
        var lastCompletion: UInt64 = 0
        for w in workers {
            histogram.merge(w.histogram)
            result.requests += w.stats.requests
            result.sets += w.stats.sets
            result.getRequests += w.stats.getRequests
            result.getKeys += w.stats.getKeys
            result.hits += w.stats.hits
            result.errors.add(w.errors)
            result.warmErrors.add(w.warmErrors)
            for (text, count) in w.errorTexts {
                if let i = result.errorTexts.firstIndex(where: { $0.text == text }) {
                    result.errorTexts[i].count += count
                } else {
                    result.errorTexts.append((text, count))
                }
            }
            lastCompletion = max(lastCompletion, w.lastCompletion)
        }
        result.latency = histogram.summary
        let stopAt = lastCompletion > start ? lastCompletion : end
        result.elapsedSeconds = Double(stopAt - start) / 1e9
        switch StopCode(rawValue: control.stop.load(ordering: .relaxed)) ?? .none {
        case .watchdog: result.stopReason = "watchdog: a connection had requests in flight and no reply for \(formatFixed(config.watchdogSeconds, 1)) s"
        case .external: result.stopReason = "stopped by a signal"
        case .abort, .none: break
        }
        return result
    }
}

/// User + system CPU seconds of this process so far.
func processCPUSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6
        + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
}
