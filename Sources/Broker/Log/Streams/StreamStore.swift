// Every Redis stream of one server: the log memory their records count against (the broker's
// logs' share when the broker keeps its logs in memory, else a share of --broker-memory's size of
// their own), the counters of what was refused, and the engine hooks that tie a stream's life
// to its key (CacheEngine+ExternalValues.swift): the key's root holds a `StreamLog`'s address as
// its token and the store keeps the key's reference; freeing the root releases it, COPY clones it.
import CacheEngine
import Durability
import Platform
import Synchronization

public final class StreamStore: Sendable {
    public let memory: LogMemory
    /// The broker whose topics database 0's streams also are (nil: no broker port).
    let broker: Broker?
    let clockMs: @Sendable () -> UInt64
    /// Appends refused for memory (the share full, or the log's own refusal).
    public let appendsRefused = Atomic<UInt64>(0)
    /// Entries refused for their size alone (over four segments, framing included: StreamLog.append).
    public let entriesTooLarge = Atomic<UInt64>(0)
    /// XREADGROUP deliveries stopped at a group's pending-entries bound (StreamLog.maxPending).
    public let pendingRefusals = Atomic<UInt64>(0)
    /// Streams alive (keys holding one, and clones in flight).
    public let live = Atomic<Int>(0)

    /// A stream's segments roll at this size, so trimming frees memory in pieces this big.
    static let segmentBytes = 256 << 10

    /// Streams of `broker`: in its logs' memory when they are kept in memory (--broker-memory,
    /// shared with queues and topics), else in a share of `memoryLimit` bytes of their own
    /// (with --data-dir the logs' memory has no share: segments are on disk, streams are not).
    public init(broker: Broker, memoryLimit: Int, clockMs: @escaping @Sendable () -> UInt64) {
        memory = broker.logs.memory.share != nil ? broker.logs.memory
            : LogMemory(share: MemoryShare(limit: memoryLimit), chunks: LogChunkAllocator(engine: broker.engine))
        self.broker = broker
        self.clockMs = clockMs
    }

    /// Streams with a memory share of their own of `memoryLimit` bytes (no broker), their
    /// memory chunks slab items of `engine` (heap memory without one: unit tests).
    public init(memoryLimit: Int, engine: CacheEngine? = nil, clockMs: @escaping @Sendable () -> UInt64) {
        memory = LogMemory(share: MemoryShare(limit: memoryLimit), chunks: LogChunkAllocator(engine: engine))
        broker = nil
        self.clockMs = clockMs
    }

    /// After an append answered `.noChunk(bytes)`: a page of another slab class moved to the
    /// chunk's at once (`CacheEngine.makeRoomForBuffer`, counted in `slab_reassign_forced`); true
    /// when the append is worth trying again. The caller holds no lock (the move evicts cache
    /// items, and a stream root's release takes its stream's lock).
    public func makeRoom(for bytes: Int) -> Bool { memory.chunks.makeRoom(for: bytes) }

    /// A stream made under a key of database 0 is also the broker's topic of the key's name, if
    /// that name is a valid topic name that no queue or topic has: the broker port reads it with
    /// `get <name>/group=<g>`. It stays the topic of that name until the stream is freed (a
    /// RENAME does not rename the topic). False when not published.
    @discardableResult
    public func publishAsTopic(_ stream: StreamLog) -> Bool {
        guard let broker, Broker.isValidName(stream.topic.name) else { return false }
        let name = stream.topic.name
        let done: Bool = broker.registry.withLock {
            if broker.queues[name] != nil { return false }
            return broker.logs.lock.withLock {
                guard broker.logs.topics[name] == nil, broker.logs.topics.count < LogRegistry.maxTopics else { return false }
                broker.logs.topics[name] = stream.topic
                broker.logs.generation.wrappingAdd(1, ordering: .relaxed)
                return true
            }
        }
        if done { stream.lock.withLock { stream.publishedIn = broker } }
        return done
    }

    func nowMs() -> UInt64 { clockMs() }

    /// The topics streams read (their own, or adopted ones): a topic is one stream's at most.
    private let owned = LockedValue<Set<ObjectIdentifier>>([])

    /// A new empty stream (not yet under a key).
    public func makeStream(name: String) -> StreamLog {
        live.wrappingAdd(1, ordering: .relaxed)
        let s = StreamLog(store: self, name: name)
        owned.withLock { _ = $0.insert(ObjectIdentifier(s.topic)) }
        s.topic.readByStream.store(true, ordering: .relaxed)
        return s
    }

    /// A one-partition topic `name` declared on the broker port, as a stream (not yet under a
    /// key): nil when there is no such topic, it has more partitions, or a stream reads it.
    public func adoptTopic(named name: UnsafeRawBufferPointer) -> StreamLog? {
        guard let broker, let t = broker.logTopic(named: String(decoding: name, as: UTF8.self)), t.partitions.count == 1 else { return nil }
        let fresh = owned.withLock { $0.insert(ObjectIdentifier(t)).inserted }
        guard fresh else { return nil }
        t.readByStream.store(true, ordering: .relaxed)
        live.wrappingAdd(1, ordering: .relaxed)
        return StreamLog(store: self, adopting: t)
    }

    /// A stream's end: its topic may be adopted again.
    func forget(_ topic: LogTopic) {
        _ = owned.withLock { $0.remove(ObjectIdentifier(topic)) }
        topic.readByStream.store(false, ordering: .relaxed)
    }

    // MARK: keys

    /// The streams keys hold, by token: the keys' references. The token in a root is only the
    /// stream's address; the reference lives here, in the heap, where a leak checker sees it
    /// (a root's value bytes in the slab arena are neither scanned nor aligned).
    private let keyed = LockedValue<[UInt64: StreamLog]>([:])

    /// The token a key's root holds for `stream` (the key's reference is kept in `keyed`).
    public func token(for stream: StreamLog) -> UInt64 {
        let token = UInt64(UInt(bitPattern: ObjectIdentifier(stream)))
        keyed.withLock { $0[token] = stream }
        return token
    }

    /// A reference to the stream a token names (the caller holds the key's item lock, so the
    /// key's reference stands).
    public static func stream(token: UInt64) -> StreamLog {
        Unmanaged<StreamLog>.fromOpaque(UnsafeRawPointer(bitPattern: UInt(token))!).takeUnretainedValue()
    }

    /// Gives back a token: no key took it, or its root was freed. The stream's last reference
    /// may go here, outside the table's lock (its deinit takes the broker's).
    public func releaseToken(_ token: UInt64) {
        let stream = keyed.withLock { $0.removeValue(forKey: token) }
        stream?.keyLetGo()
    }

    /// Installs the hooks on `engine`: a freed root releases its stream, COPY clones it, and
    /// both a freed root and a rename's hand-over tell the clients blocked on the old key. The
    /// hooks hold the store weakly: the store's log memory holds the engine (its chunks are the
    /// engine's items), so a strong hold would make a cycle that frees neither.
    public func install(on engine: CacheEngine) {
        engine.setExternalValueHooks(ExternalValueHooks(release: { [weak self] token in
            self?.releaseToken(token)
        }, copy: { [weak self] original in
            guard let self, let copy = Self.stream(token: original).clone(into: self) else { return nil }
            return self.token(for: copy)
        }, moved: { token in
            Self.stream(token: token).keyLetGo()
        }))
    }
}

extension StreamLog {
    /// COPY: the live entries (same IDs) and the stream's state in a new stream; nil without
    /// memory for them.
    func clone(into store: StreamStore) -> StreamLog? {
        let copy = store.makeStream(name: topic.name)
        return lock.withLock { () -> StreamLog? in
            var ok = true
            let now = store.nowMs()
            var strings: [Range<Int>] = []
            var resp = ByteBuffer()
            defer { resp.deallocate() }
            lockedScan(from: firstOffset) { e in
                // Every entry's fields as a RESP array of one pair at least, split into strings.
                resp.removeAll()
                resp.reserve(e.fields.maxRESPLength)
                resp.advance(e.fields.writeRESP(resp.base!))
                let fields = resp.bytes
                guard StreamFields.split(fields, into: &strings), strings.count >= 2, strings.count % 2 == 0 else { return true }
                let r = copy.append(requested: e.id, seqGiven: true, nowMs: now, fieldCount: strings.count) {
                    UnsafeRawBufferPointer(rebasing: fields[strings[$0]])
                }
                if case .added = r { return true }
                ok = false
                return false
            }
            guard ok else { return nil }
            copy.lock.withLock {
                copy.lastID = lastID
                copy.entriesAdded = entriesAdded
                copy.maxDeletedID = maxDeletedID
                copy.groups = groups.map { $0.copy() }
            }
            return copy
        }
    }
}
