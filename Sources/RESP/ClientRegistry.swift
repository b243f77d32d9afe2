// Every open Redis-port connection, readable from any worker: CLIENT LIST, INFO and KILL run on
// one worker about connections that live on others. A connection publishes what a listing shows
// in its `RESPClient` (single-writer atomics, its name under a small lock); nothing of another
// connection is ever changed from the wrong thread except `killed`, an atomic its owner reads on
// its own worker after a wake-up (the pub/sub path, `ConnectionWaker`): CLIENT KILL from
// elsewhere. The record leaves the registry at once (so the victim is gone from the next listing
// and cannot be killed twice, as redis frees it at once); its worker closes it at the wake
// (`deliverPushes`, `pushesOverflowed`, `resume` or its next read). A connection blocked in BLPOP and its family is known to `ListWaits` (CLIENT UNBLOCK, flag `b`).
//
// The registry lock is taken only when a connection opens or closes, and by a listing or a kill.
import Platform
import Synchronization

/// One connection as other workers see it.
final class RESPClient: Sendable {
    let id: UInt64
    let fd: Int32
    /// redis's `addr` and `laddr` ("host:port").
    let address: String
    let localAddress: String
    /// Server seconds (ProcessClock) when it connected.
    let created: UInt32
    let waker: ConnectionWaker

    /// Server seconds of its last command (redis's `idle` counts from it).
    let lastInteraction: Atomic<UInt32>
    /// Its last command: table index + 1 (0: none yet), and in the high half the subcommand's
    /// place in `RESPSubcommands` + 1 (0: none), as redis's `cmd=` shows `client|list`.
    let lastCommand = Atomic<UInt32>(0)
    /// CLIENT SETNAME, written by its own worker only.
    let name = LockedValue<[UInt8]>([])
    /// sub, psub, ssub counts, written by its own worker after each (un)subscribe.
    let channels = Atomic<Int>(0)
    let patterns = Atomic<Int>(0)
    let shardChannels = Atomic<Int>(0)
    /// RESP version (2 or 3).
    let protocolVersion = Atomic<UInt8>(2)
    /// CLIENT NO-EVICT ON (flag `e`).
    let noEvict = Atomic<Bool>(false)
    /// CLIENT KILL from another connection: close at the next wake.
    let killed = Atomic<Bool>(false)

    init(id: UInt64, fd: Int32, now: UInt32, waker: ConnectionWaker) {
        self.id = id
        self.fd = fd
        address = SocketAddress(socket: fd, peer: true).redisFormat
        localAddress = SocketAddress(socket: fd, peer: false).redisFormat
        created = now
        lastInteraction = Atomic(now)
        self.waker = waker
    }

    /// A subscribed connection is redis's `pubsub` type (and shows flag `P`).
    var isPubSub: Bool {
        channels.load(ordering: .relaxed) + patterns.load(ordering: .relaxed) + shardChannels.load(ordering: .relaxed) > 0
    }
}

/// The Redis port's open connections by id.
final class RESPClientRegistry: Sendable {
    private let clients = LockedValue<[UInt64: RESPClient]>([:])

    func add(_ c: RESPClient) { clients.withLock { $0[c.id] = c } }

    func remove(_ id: UInt64) { clients.withLock { $0[id] = nil } }

    /// Every connection, oldest first (redis lists its clients in connection order).
    func all() -> [RESPClient] { clients.withLock { Array($0.values) }.sorted { $0.id < $1.id } }

    func find(_ id: UInt64) -> RESPClient? { clients.withLock { $0[id] } }

    /// CLIENT KILL of a connection other than the caller: out of the registry now, closed by its
    /// own worker when the wake reaches it. False if it was already gone.
    func kill(_ c: RESPClient) -> Bool {
        guard clients.withLock({ $0.removeValue(forKey: c.id) }) != nil else { return false }
        c.killed.store(true, ordering: .releasing)
        c.waker.wake()
        return true
    }
}
