// The one way a connection waits for something another thread produces (DESIGN.md §5): a queue
// read with a timeout, an fsync, and later BLPOP over several keys or XREAD over several
// streams. The connection makes one `Waiter`, adds it to the `WaitList` of every source it waits
// on, and parks. A producer, holding its source's lock, claims the first armed waiter of its
// list; the claim is one compare-and-exchange, so when several sources (on several workers)
// race for the same waiter exactly one wins, and the others move on to their next waiter. The
// winner hands its value over and wakes the connection through its worker. The owner, woken or
// timed out, collects the value, or cancels: a cancel that loses to a claim finds the value (or,
// while the producer is between its claim and its hand-over, waits for the wake that follows).
// No thread ever sleeps on behalf of a connection.
import Synchronization

/// A waiter's states (outside the generic class: static stored properties cannot be generic).
private enum State {
    static let armed: UInt8 = 0
    /// Won by a producer, whose value is on its way.
    static let claimed: UInt8 = 1
    static let delivered: UInt8 = 2
    static let cancelled: UInt8 = 3
    /// Delivered, and taken by the owner.
    static let collected: UInt8 = 4
}

public final class Waiter<Value>: @unchecked Sendable {
    // Safe to share: `state` is atomic. `value` and `source` are written only by the producer
    // whose `claim` moved the state from armed to claimed, before it stores `delivered` with
    // release ordering; the owner reads them only after loading `delivered` with acquiring
    // ordering, and clears them only then. Nobody else touches them.
    private let state = Atomic<UInt8>(State.armed)
    private var value: Value?
    private var source = 0
    /// Wakes the waiting connection's worker.
    public let waker: ConnectionWaker

    public init(waker: ConnectionWaker) {
        self.waker = waker
    }

    /// No producer has claimed it and its owner has not given up.
    public var isArmed: Bool { state.load(ordering: .relaxed) == State.armed }

    // MARK: producers

    /// Wins the waiter for the caller if it is still armed: then, and only then, the caller must
    /// `deliver` (at once, still under its source's lock).
    public func claim() -> Bool {
        state.compareExchange(expected: State.armed, desired: State.claimed, ordering: .acquiring).exchanged
    }

    /// After a successful `claim`: hands `value` over from source number `source` (the position
    /// of the source in the owner's list). The caller wakes the waiter (`waker.wake()`), usually
    /// after releasing its lock.
    public func deliver(_ value: Value, source: Int = 0) {
        self.value = value
        self.source = source
        state.store(State.delivered, ordering: .releasing)
    }

    // MARK: the owner

    /// Where a wait stands for its owner.
    public enum Outcome {
        /// Nothing yet: a producer may still claim it, or one claimed it and its wake is coming.
        case waiting
        /// A producer handed `value` over from source number `source`.
        case delivered(Value, source: Int)
        /// Given up before any producer claimed it (or collected before): nothing will come.
        case cancelled
    }

    /// The owner, woken: the value if one was handed over.
    public func collect() -> Outcome {
        switch state.load(ordering: .acquiring) {
        case State.delivered: return take()
        case State.cancelled, State.collected: return .cancelled
        default: return .waiting
        }
    }

    /// The owner gives up (timeout, close): no producer can claim it from now on. A producer that
    /// won before is not undone: its value is returned (the caller puts it back or uses it), or,
    /// between that claim and its hand-over, `.waiting` (the wake follows; call again then).
    public func cancel() -> Outcome {
        let (exchanged, seen) = state.compareExchange(expected: State.armed, desired: State.cancelled,
                                                      ordering: .acquiring)
        if exchanged { return .cancelled }
        switch seen {
        case State.delivered: return take()
        case State.claimed: return .waiting
        default: return .cancelled
        }
    }

    private func take() -> Outcome {
        let v = value!
        value = nil
        state.store(State.collected, ordering: .relaxed)
        return .delivered(v, source: source)
    }
}

/// The waiters of one source, oldest first, each with what the source needs to know about it
/// (`Info`: for a queue, the consumer and whether the read stays open). Guarded by the source's
/// own lock. Waiters that were cancelled or won by another source are dropped as they are met.
public struct WaitList<Value, Info> {
    // Visible to inlined code only for `hasArmed`'s empty check (below).
    @usableFromInline var entries: [(waiter: Waiter<Value>, info: Info)] = []
    private var head = 0

    public init() {}

    /// Adds `waiter` at the tail.
    public mutating func add(_ waiter: Waiter<Value>, _ info: Info) {
        pruneHead()
        entries.append((waiter, info))
    }

    /// Whether some waiter may still be claimed. Inlined, so a producer whose list is empty (a
    /// log append, an XADD nobody waits for) pays one load: the generic path below instantiates
    /// the entries' tuple metadata on every call (14% of an XADD flood's CPU when it was not).
    @inlinable
    public var hasArmed: Bool {
        mutating get {
            if entries.isEmpty { return false }
            return armedAfterPruning()
        }
    }

    @usableFromInline
    mutating func armedAfterPruning() -> Bool {
        pruneHead()
        return head < entries.count
    }

    /// Armed waiters (for stats).
    public var armedCount: Int {
        var n = 0
        for i in head..<entries.count where entries[i].waiter.isArmed { n += 1 }
        return n
    }

    /// Claims the oldest waiter still armed and removes it from the list; the caller must
    /// `deliver` to it. Nil when no waiter is left.
    public mutating func claimFirst() -> (waiter: Waiter<Value>, info: Info)? {
        while head < entries.count {
            let e = entries[head]
            head += 1
            if e.waiter.claim() {
                compact()
                return e
            }
        }
        compact()
        return nil
    }

    /// Claims the oldest armed waiter whose `info` `matches` and removes it; the others stay in
    /// their places (a key's list clients while it holds a sorted set, as redis serves only the
    /// clients blocked for the key's type).
    public mutating func claimFirst(where matches: (Info) -> Bool) -> (waiter: Waiter<Value>, info: Info)? {
        pruneHead()
        var i = head
        while i < entries.count {
            let e = entries[i]
            if e.waiter.isArmed && matches(e.info) && e.waiter.claim() {
                if i == head { head += 1 } else { entries.remove(at: i) }
                compact()
                return e
            }
            i += 1
        }
        return nil
    }

    /// The source is going away: empties the list and returns the waiters still armed, for the
    /// caller to wake. Each owner finds the source gone and cancels (its other sources, if any,
    /// may still win it).
    public mutating func removeAll() -> [Waiter<Value>] {
        // Nobody waiting (the usual case when a queue is deleted): nothing to build.
        guard head < entries.count else {
            entries.removeAll()
            head = 0
            return []
        }
        let armed = entries[head...].lazy.map(\.waiter).filter(\.isArmed)
        let result = Array(armed)
        entries.removeAll()
        head = 0
        return result
    }

    /// Forgets `waiter` (its owner gave up); other cancelled waiters go with it.
    public mutating func remove(_ waiter: Waiter<Value>) {
        entries.removeAll { $0.waiter === waiter || !$0.waiter.isArmed }
        head = 0
    }

    private mutating func pruneHead() {
        while head < entries.count && !entries[head].waiter.isArmed { head += 1 }
        compact()
    }

    /// Gives the claimed prefix back once it is most of the array.
    private mutating func compact() {
        if head == entries.count {
            entries.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 32 && head * 2 > entries.count {
            entries.removeFirst(head)
            head = 0
        }
    }
}

extension Waiter.Outcome: Sendable where Value: Sendable {}
