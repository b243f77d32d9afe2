// Group commit: one background thread writes and fsyncs every registered file, so that one fsync
// covers every record that arrived while the previous one ran. A writer that must not answer
// before its record is on disk (`--fsync=always`) takes a ticket after appending and parks its
// connection; the thread wakes it once a cycle that started after the ticket has completed. No
// thread ever sleeps on behalf of a connection (DESIGN.md §5).
//
// The thread knows nothing of what it flushes: members conform to `Flushable` (write what is
// buffered, fsync; plus a hook, run after each member's flush, where the owner does compaction or
// retention under its own locks). When the disk keeps failing, a cycle is retried every 10 ms and
// counted; after `failureGraceSeconds` of failures the waiters are woken and told `.failed`, so
// that no client waits on a broken disk forever.
import Logging
import Platform
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The `--fsync` policy.
public enum FsyncPolicy: Sendable, Equatable {
    /// Confirm a write only after it is on disk.
    case always
    /// fsync every N ms; replies do not wait.
    case interval(ms: Int)
    /// write(2) every few ms and leave the rest to the OS.
    case never

    /// The longest `<N>ms` interval.
    public static let maxIntervalMs = 3_600_000

    /// `always`, `never` or `<N>ms` (the --fsync flag), N from 1 to `maxIntervalMs`.
    public init?(flag: String) {
        switch flag {
        case "always": self = .always
        case "never": self = .never
        default:
            var digits = Substring(flag)
            if digits.hasSuffix("ms") { digits = digits.dropLast(2) }
            // At most an hour: the flusher waits in microseconds.
            guard let n = Int(digits), n > 0, n <= Self.maxIntervalMs else { return nil }
            self = .interval(ms: n)
        }
    }

    /// The flag's spelling (`always`, `never`, `<N>ms`).
    public var description: String {
        switch self {
        case .always: "always"
        case .never: "never"
        case .interval(let ms): "\(ms)ms"
        }
    }
}

/// What one flush of a member did.
public enum FlushResult: Sendable, Equatable {
    /// Nothing new was written (an fsync may still have been done).
    case idle
    /// Records were written (and fsynced when asked).
    case wrote
    /// A write or fsync failed; the member keeps the records for the next cycle.
    case failed
}

/// Something the group-commit thread flushes: a file with buffered records.
public protocol Flushable: AnyObject, Sendable {
    /// Writes the records buffered since the last call; fsyncs when `sync`. Called on the
    /// group-commit thread only.
    func flush(sync: Bool) -> FlushResult
    /// Runs on the group-commit thread after this member's flush in every cycle (not at
    /// `stop`): the owner's compaction or retention, under the owner's own locks.
    func afterFlush()
}

/// The group-commit thread over a set of `Flushable` members.
public final class GroupCommit: @unchecked Sendable {
    // Safe to share: every `var` is guarded by `mutex` (and `cond` is used with it); `thread` is
    // set by `start` and cleared by `stop`, which the owner calls from one thread; the members
    // guard their own buffers.
    /// The fsync policy.
    public let policy: FsyncPolicy
    private let name: String
    private let mutex = PlainMutex()
    private let cond: UnsafeMutablePointer<pthread_cond_t>
    private var members: [any Flushable] = []
    private var startedCycle: UInt64 = 0
    private var completedCycle: UInt64 = 0
    private var requested = false
    private var stopped = false
    private var waiters: [(ticket: UInt64, waiter: Waiter<Void>)] = []
    private var thread: BackgroundThread?
    private var fsyncs: UInt64 = 0
    private var writeErrors: UInt64 = 0
    private var failingSince: UInt64?
    private var failedWakeDone = false
    /// `failingSince != nil`, readable without the mutex on the request path.
    private let failingNow = Atomic<Bool>(false)

    /// Seconds of continuous write or fsync failures before waiting writers are given up on.
    public static let failureGraceSeconds: UInt64 = 2

    /// Where failing and recovering disks are reported.
    private let logger: Logger

    /// A group commit with `policy`; `name` names its thread and its log lines. Nothing runs
    /// before `start`.
    public init(policy: FsyncPolicy, name: String = "journal flusher",
                logger: Logger = Logger(label: "swiftcached.durability")) {
        self.policy = policy
        self.name = name
        self.logger = logger
        cond = makeMonotonicCondition()
    }

    deinit {
        pthread_cond_destroy(cond)
        cond.deallocate()
    }

    /// Adds a member; it is flushed from the next cycle on.
    public func register(_ member: any Flushable) {
        mutex.withLock { members.append(member) }
    }

    /// Removes a member (by identity); a cycle already running may still flush it once.
    public func unregister(_ member: any Flushable) {
        mutex.withLock { members.removeAll { $0 === member } }
    }

    /// Any thread, after appending: the cycle whose completion makes the append durable. With
    /// `.always` it also starts a cycle at once if none is pending.
    public func ticket() -> UInt64 {
        mutex.withLock {
            if !requested {
                requested = true
                pthread_cond_signal(cond)
            }
            return startedCycle + 1
        }
    }

    /// True once the cycle of `ticket` has completed (or the group commit has stopped).
    public func isDurable(_ ticket: UInt64) -> Bool {
        mutex.withLock { completedCycle >= ticket || stopped }
    }

    /// Where a ticket stands.
    public enum TicketState: Sendable {
        /// The cycle covering the ticket has completed (or the group commit has stopped).
        case durable
        /// Not yet: the waker given is called once when that changes.
        case waiting
        /// The members have failed to write or fsync for `failureGraceSeconds`: a reply that
        /// waits for the disk must not be sent (the caller withdraws what it can and refuses it,
        /// or drops the connection).
        case failed
    }

    /// Where `ticket` stands; while `.waiting`, `waiter` is registered and is won (and its
    /// connection woken) when that changes: ask again then.
    public func waitDurable(_ ticket: UInt64, waiter: Waiter<Void>) -> TicketState {
        mutex.withLock {
            if completedCycle >= ticket || stopped { return .durable }
            if failingSince != nil && failedWakeDone { return .failed }
            waiters.append((ticket, waiter))
            return .waiting
        }
    }

    /// True from a cycle that failed to write or fsync some member until one succeeds: writers
    /// refuse new records meanwhile rather than promise what the disk is not taking.
    public var isFailing: Bool { failingNow.load(ordering: .relaxed) }

    /// Cycles that wrote something and fsynced (for `stats`).
    public var fsyncCount: UInt64 { mutex.withLock { fsyncs } }
    /// Cycles that failed to write or fsync some member (each retried).
    public var writeErrorCount: UInt64 { mutex.withLock { writeErrors } }

    /// Starts the thread.
    public func start() {
        thread = BackgroundThread(name: name) { [self] in self.run() }
    }

    /// Stops the thread, flushes (and, unless the policy is `.never`, fsyncs) what the members
    /// still buffer, and wakes every waiter (their tickets now count as durable).
    public func stop() {
        mutex.withLock {
            stopped = true
            pthread_cond_signal(cond)
        }
        thread?.join()
        thread = nil
        let all = mutex.withLock { members }
        for m in all { _ = m.flush(sync: policy != .never) }
        wakeAll()
    }

    private func run() {
        while true {
            let (cycle, all, stop) = waitForWork()
            if stop { return }
            let sync = policy != .never
            var wrote = false
            var failed = false
            for m in all {
                switch m.flush(sync: sync) {
                case .idle: break
                case .wrote: wrote = true
                case .failed: failed = true
                }
                m.afterFlush()
            }
            if failed {
                // Nothing of this cycle counts as durable: try again shortly (the records were
                // kept). Past the grace period the waiters are told.
                var ts = timespec()
                clock_gettime(CLOCK_MONOTONIC, &ts)
                let now = UInt64(ts.tv_sec)
                let (first, giveUp) = mutex.withLock { () -> (Bool, Bool) in
                    writeErrors += 1
                    requested = true
                    let first = failingSince == nil
                    if first {
                        failingSince = now
                        failingNow.store(true, ordering: .relaxed)
                    }
                    if !failedWakeDone && now - failingSince! >= Self.failureGraceSeconds {
                        failedWakeDone = true
                        return (first, true)
                    }
                    return (first, false)
                }
                if first { logger.error("\(name): write or fsync failed; records kept, retrying every 10 ms") }
                if giveUp {
                    logger.error("\(name): still failing after \(Self.failureGraceSeconds) s; replies waiting for the disk are refused or their connections closed")
                    wakeAll()
                }
                usleep(10_000)
                continue
            }
            let recovered = mutex.withLock { () -> Bool in
                let wasFailing = failingSince != nil
                failingSince = nil
                failingNow.store(false, ordering: .relaxed)
                failedWakeDone = false
                if wrote && sync { fsyncs += 1 }
                completedCycle = cycle
                return wasFailing
            }
            if recovered { logger.notice("\(name): writes succeed again") }
            wakeDue(cycle)
        }
    }

    /// Sleeps until a ticket is asked for or the policy's interval passes; starts a cycle.
    private func waitForWork() -> (UInt64, [any Flushable], Bool) {
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
        return (startedCycle, members, false)
    }

    /// Wins the waiters whose tickets `cycle` covers (all of them: nil) and wakes them.
    private func wakeDue(_ cycle: UInt64?) {
        let due = mutex.withLock { () -> [ConnectionWaker] in
            guard !waiters.isEmpty else { return [] }
            var out: [ConnectionWaker] = []
            waiters.removeAll { w in
                guard cycle.map({ w.ticket <= $0 }) ?? true else { return false }
                if w.waiter.claim() {
                    w.waiter.deliver(())
                    out.append(w.waiter.waker)
                }
                return true
            }
            return out
        }
        for w in due { w.wake() }
    }

    private func wakeAll() { wakeDue(nil) }
}
