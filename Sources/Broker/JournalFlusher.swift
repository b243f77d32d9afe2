// The flusher thread: group commit for every queue journal. Each cycle swaps out what all
// journals buffered, writes it, and fsyncs per policy; producers that must not see STORED before
// the fsync (`--fsync=always`) take a ticket and park until the cycle that covers their record
// completes, so one fsync confirms everything that arrived while the previous one ran. The same
// thread compacts journals that are mostly consumed.
import Platform
#if canImport(Glibc)
import Glibc
#endif

public enum FsyncPolicy: Sendable, Equatable {
    /// Confirm a write only after it is on disk.
    case always
    /// fsync every N ms; replies do not wait.
    case interval(ms: Int)
    /// write(2) every few ms and leave the rest to the OS.
    case never

    /// `always`, `never` or `<N>ms` (the --fsync flag).
    public init?(flag: String) {
        switch flag {
        case "always": self = .always
        case "never": self = .never
        default:
            var digits = Substring(flag)
            if digits.hasSuffix("ms") { digits = digits.dropLast(2) }
            guard let n = Int(digits), n > 0 else { return nil }
            self = .interval(ms: n)
        }
    }

    public var description: String {
        switch self {
        case .always: "always"
        case .never: "never"
        case .interval(let ms): "\(ms)ms"
        }
    }
}

public final class JournalFlusher: @unchecked Sendable {
    // Safe to share: every `var` is guarded by `mutex`; the journals' buffers have their own locks.
    public let policy: FsyncPolicy
    private let mutex = PlainMutex()
    private let cond: UnsafeMutablePointer<pthread_cond_t>
    private var journals: [Journal] = []
    private var startedCycle: UInt64 = 0
    private var completedCycle: UInt64 = 0
    private var requested = false
    private var stopped = false
    private var waiters: [(ticket: UInt64, waker: ConnectionWaker)] = []
    private var thread: BackgroundThread?
    /// Compaction: a journal over this size whose live part is under a quarter of it is rewritten.
    let compactMinBytes: Int
    /// Rewrites a queue's journal as a snapshot of what is live. Set by the broker before `start`.
    var compact: (@Sendable (BrokerQueue, Journal) -> Void)?
    private(set) var fsyncs: UInt64 = 0
    /// Cycles that failed to write or fsync some journal (retried).
    private(set) var writeErrors: UInt64 = 0
    private(set) var syncedRecordsBytes: UInt64 = 0

    init(policy: FsyncPolicy, compactMinBytes: Int = 16 << 20) {
        self.policy = policy
        self.compactMinBytes = compactMinBytes
        cond = makeMonotonicCondition()
    }

    deinit {
        pthread_cond_destroy(cond)
        cond.deallocate()
    }

    func register(_ j: Journal) {
        mutex.withLock { journals.append(j) }
    }

    func unregister(_ j: Journal) {
        mutex.withLock { journals.removeAll { $0 === j } }
    }

    /// Any thread, after appending: the cycle whose completion makes the append durable.
    public func ticket() -> UInt64 {
        mutex.withLock {
            if !requested {
                requested = true
                pthread_cond_signal(cond)
            }
            return startedCycle + 1
        }
    }

    public func isDurable(_ ticket: UInt64) -> Bool {
        mutex.withLock { completedCycle >= ticket || stopped }
    }

    public enum Durability: Sendable {
        case durable, waiting
        /// The journals have failed to write or fsync for `failureGraceSeconds`: a reply that
        /// waits for the disk must not be sent (the caller drops the connection instead).
        case failed
    }

    /// Where `ticket` stands; while waiting, `waker` is called once that changes.
    public func waitDurable(_ ticket: UInt64, waker: ConnectionWaker) -> Durability {
        mutex.withLock {
            if completedCycle >= ticket || stopped { return .durable }
            if failingSince != nil && failedWakeDone { return .failed }
            waiters.append((ticket, waker))
            return .waiting
        }
    }

    /// Seconds of continuous write or fsync failures before waiting replies are given up on.
    static let failureGraceSeconds: UInt64 = 2
    private var failingSince: UInt64?
    private var failedWakeDone = false

    /// Counters for `stats`: fsyncs done and records' bytes they covered.
    public var fsyncCount: UInt64 { mutex.withLock { fsyncs } }
    public var writeErrorCount: UInt64 { mutex.withLock { writeErrors } }

    func start() {
        thread = BackgroundThread(name: "journal flusher") { [self] in self.run() }
    }

    func stop() {
        mutex.withLock {
            stopped = true
            pthread_cond_signal(cond)
        }
        thread?.join()
        thread = nil
        // The last buffered records go out on the way down.
        let js = mutex.withLock { journals }
        for j in js { j.flush(sync: policy != .never) }
        wakeAll()
    }

    private func run() {
        while true {
            let (cycle, js, stop) = waitForWork()
            if stop { return }
            let sync = policy != .never
            var wrote = false
            var failed = false
            for j in js {
                let before = j.sizeOnDisk
                if !j.flush(sync: sync) { failed = true }
                if j.sizeOnDisk != before { wrote = true }
                compactIfWorthIt(j)
            }
            if failed {
                // Nothing of this cycle counts as durable: try again shortly (the records were
                // kept). Past the grace period the waiters are told, so that no client waits on
                // a broken disk forever.
                var ts = timespec()
                clock_gettime(CLOCK_MONOTONIC, &ts)
                let now = UInt64(ts.tv_sec)
                let giveUp = mutex.withLock { () -> Bool in
                    writeErrors += 1
                    requested = true
                    if failingSince == nil { failingSince = now }
                    if !failedWakeDone && now - failingSince! >= Self.failureGraceSeconds {
                        failedWakeDone = true
                        return true
                    }
                    return false
                }
                if giveUp { wakeAll() }
                usleep(10_000)
                continue
            }
            mutex.withLock {
                failingSince = nil
                failedWakeDone = false
                if wrote && sync { fsyncs += 1 }
                completedCycle = cycle
            }
            wakeDue(cycle)
        }
    }

    /// Sleeps until a ticket is asked for (always) or the interval passes; starts a cycle.
    private func waitForWork() -> (UInt64, [Journal], Bool) {
        mutex.lock()
        defer { mutex.unlock() }
        let intervalMs: Int
        switch policy {
        case .always: intervalMs = 200
        case .interval(let ms): intervalMs = ms
        case .never: intervalMs = 20
        }
        if !requested && !stopped { timedWait(cond, mutex, microseconds: intervalMs * 1000) }
        if stopped { return (0, [], true) }
        requested = false
        startedCycle += 1
        return (startedCycle, journals, false)
    }

    private func wakeDue(_ cycle: UInt64) {
        let due = mutex.withLock { () -> [ConnectionWaker] in
            guard !waiters.isEmpty else { return [] }
            var out: [ConnectionWaker] = []
            waiters.removeAll { w in
                if w.ticket <= cycle { out.append(w.waker); return true }
                return false
            }
            return out
        }
        for w in due { w.wake() }
    }

    private func wakeAll() {
        let all = mutex.withLock { () -> [ConnectionWaker] in
            let out = waiters.map(\.waker)
            waiters.removeAll()
            return out
        }
        for w in all { w.wake() }
    }

    private func compactIfWorthIt(_ j: Journal) {
        guard j.sizeOnDisk > compactMinBytes, let q = j.queue, let compact else { return }
        let live = q.lock.withLock { q.readyBytes + q.open.values.reduce(0) { $0 + $1.message.bodyBytes } }
        guard live * 4 < j.sizeOnDisk else { return }
        compact(q, j)
    }
}
