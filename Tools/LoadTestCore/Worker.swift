// One load thread: an epoll loop over its connections, closed-loop (each connection keeps
// `pipeline` requests in flight), requests composed into a preallocated send buffer, replies
// parsed straight from one read buffer. Nothing in the loop allocates or uses Foundation.
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import CLoadTestShims

/// Set (e.g. from a SIGINT handler) to stop every running load as soon as possible.
public let loadStopRequest = Atomic<Int>(0)

enum StopCode: Int {
    case none = 0, watchdog = 1, external = 2, abort = 3
}

/// Shared between the coordinator and the load threads.
final class RunControl: Sendable {
    /// StopCode of the first reason to stop.
    let stop = Atomic<Int>(0)
    /// 0 connecting, 1 warm, 2 measure.
    let phase = Atomic<Int>(0)
    let ready = Atomic<Int>(0)
    let warmDone = Atomic<Int>(0)
    let done = Atomic<Int>(0)
    let deadline = Atomic<UInt64>(0)

    func requestStop(_ code: StopCode) {
        _ = stop.compareExchange(expected: 0, desired: code.rawValue, ordering: .relaxed)
    }

    var stopping: Bool {
        if stop.load(ordering: .relaxed) != 0 { return true }
        if loadStopRequest.load(ordering: .relaxed) != 0 { requestStop(.external); return true }
        return false
    }
}

struct ThreadStats {
    var requests = 0
    var sets = 0
    var getRequests = 0
    var getKeys = 0
    var hits = 0
}

/// Per-connection state, kept in one preallocated array per thread.
struct Conn {
    var fd: Int32 = -1
    var alive = false
    var wantWrite = false
    var desync = false
    /// Owned by `Worker.parsers` (no reference counting in the loop).
    unowned(unsafe) let parser: ReplyParser
    unowned(unsafe) let respParser: RESPParser
    /// RESP: elements of the current MGET reply still to come.
    var respPending = 0
    var sendBuf: UnsafeMutablePointer<UInt8>
    var sendLen = 0
    // In-flight ring (capacity `ringCapacity`): kind (0 set, 1 get), send time, requested keys.
    var kinds: UnsafeMutablePointer<UInt8>
    var times: UnsafeMutablePointer<UInt64>
    var keys: UnsafeMutablePointer<Int32>
    var head = 0
    var inFlight = 0
    var unstamped = 0
    // The get reply being received.
    var cursor = 0
    var replyHits = 0
    var valueKey = -1
    var valueOffset = 0
    var valueOK = true
    // Watchdog: time of the last reply, or of the first send after an idle spell.
    var lastProgress: UInt64 = 0
    // Position in the set:get cycle.
    var mix = 0
    // Queue flood: this connection produces (else it consumes).
    var producer = false
}

struct ConnSink: ReplySink {
    unowned(unsafe) let w: Worker
    let c: UnsafeMutablePointer<Conn>

    @inline(__always) mutating func simpleReply(_ kind: SimpleReply) { w.onSimple(c, kind) }
    @inline(__always) mutating func errorReply(_ kind: ErrorReply, line: UnsafeRawBufferPointer) { w.onErrorReply(c, line) }
    @inline(__always) mutating func valueHeader(key: UnsafeRawBufferPointer, flags: UInt32, length: Int, cas: UInt64?) {
        w.onValueHeader(c, key, length)
    }
    @inline(__always) mutating func valueData(_ bytes: UnsafeRawBufferPointer) { w.onValueData(c, bytes) }
    @inline(__always) mutating func valueEnd() { w.onValueEnd(c) }
    @inline(__always) mutating func end() { w.onEnd(c) }
}

struct RESPConnSink: RESPSink {
    unowned(unsafe) let w: Worker
    let c: UnsafeMutablePointer<Conn>

    @inline(__always) mutating func simpleString(_ text: UnsafeRawBufferPointer) {
        w.onSimple(c, text.count == 2 && text[0] == UInt8(ascii: "O") && text[1] == UInt8(ascii: "K") ? .stored : .ok)
    }
    @inline(__always) mutating func errorString(line: UnsafeRawBufferPointer) { w.onErrorReply(c, line) }
    @inline(__always) mutating func integer(_ value: Int64) { w.onRESPInteger(c) }
    @inline(__always) mutating func bulkHeader(length: Int) { w.onBulkHeader(c, length) }
    @inline(__always) mutating func bulkData(_ bytes: UnsafeRawBufferPointer) { w.onValueData(c, bytes) }
    @inline(__always) mutating func bulkEnd() { w.onValueEnd(c); w.onRESPElementDone(c) }
    @inline(__always) mutating func arrayHeader(count: Int) { w.onArrayHeader(c, count) }
}

final class Worker: @unchecked Sendable {
    // Safe to share: the coordinator touches the plain fields only before the thread starts and
    // after it is joined; while it runs, only the atomics are read from outside.
    let id: Int
    let config: LoadConfig
    let keySpace: KeySpace
    let control: RunControl
    private var chooser: KeyChooser
    private let conns: UnsafeMutablePointer<Conn>
    private let parsers: [ReplyParser]
    private let respParsers: [RESPParser]
    private let resp: Bool
    // RESP request pieces: "*3\r\n$3\r\nSET\r\n$<kw>\r\n", "\r\n$<V>\r\n", "*2\r\n$3\r\nGET\r\n$<kw>\r\n",
    // "*<1+K>\r\n$4\r\nMGET\r\n", "$<kw>\r\n".
    private let respSetHead: [UInt8]
    private let respSetMid: [UInt8]
    private let respGetHead: [UInt8]
    private let respMGetHead: [UInt8]
    private let respKeyHead: [UInt8]
    private let connCount: Int
    private var liveConns = 0
    private var epfd: Int32 = -1
    private let recvCap = 256 * 1024
    private let recvBuf: UnsafeMutablePointer<UInt8>
    private let events: UnsafeMutablePointer<epoll_event>
    private let ringCapacity: Int
    private let multiget: Int
    private let cycle: Int
    private let setWeight: Int
    private let verify: Bool
    private let valueSize: Int
    // Value-size range: sizes sizeMin ... valueSize (sizeSpan 0: every value is valueSize).
    private let sizeMin: Int
    private let sizeSpan: UInt64
    private var sizeRandom: UInt64
    // The set headers without their size, for a range: " 0 0 ", "\r\n$", " ", and the queue's.
    private let queueSetSizeless: [UInt8]
    private let keyWidth: Int
    private let setSuffix: UnsafeMutablePointer<UInt8>
    private let setSuffixLength: Int
    private let watchdogNanos: UInt64
    // Meta commands: "ms <key> <V>\r\n", "mg <key> k v\r\n" (q added in a multi-get, then "mn").
    private let metaMode: Bool
    private let metaSetSuffix: [UInt8]
    // Queue flood: "set <queue> 0 0 <V>\r\n" and "get <queue>/t=100\r\n".
    private let queueMode: Bool
    private let queueSet: [UInt8]
    private let queueGet: [UInt8]

    // Phase state.
    private var now: UInt64 = 0
    private var recording = false
    private var warming = false
    private var depth = 1
    private var warmNext = 0
    private var warmEnd = 0
    private var quota = Int.max
    private var issued = 0
    private var deadline = UInt64.max
    private var issuingStopped = false
    private var totalInFlight = 0

    // Results (read by the coordinator after join).
    var histogram = LatencyHistogram()
    var stats = ThreadStats()
    var errors = ErrorCounts()
    var warmErrors = ErrorCounts()
    var lastCompletion: UInt64 = 0
    var connectError: String? = nil
    /// The first few distinct error reply lines, with counts (a String only when an error comes).
    var errorTexts: [(text: String, count: Int)] = []
    // Progress (read by the coordinator while running).
    let publishedOps = Atomic<Int>(0)
    let publishedP99 = Atomic<UInt64>(0)
    let publishedErrors = Atomic<Int>(0)
    let publishP99: Bool

    init(id: Int, config: LoadConfig, keySpace: KeySpace, zipf: ZipfTable?, control: RunControl,
         warmRange: Range<Int>, quota: Int, publishP99: Bool) {
        self.id = id
        self.config = config
        self.keySpace = keySpace
        self.control = control
        self.publishP99 = publishP99
        chooser = KeyChooser(keys: config.keys, zipf: zipf, seed: config.seed &+ UInt64(id) &* 0x9E37_79B9)
        metaMode = config.wire == .meta
        metaSetSuffix = Array(" \(config.valueSize)\r\n".utf8)
        queueMode = config.wire.isQueue
        connCount = queueMode ? config.producers + config.consumers : config.connsPerThread
        let q = config.queueName
        if config.wire == .respQueue {
            queueSetSizeless = Array("*3\r\n$5\r\nLPUSH\r\n$\(q.utf8.count)\r\n\(q)\r\n$".utf8)
            queueSet = Array("*3\r\n$5\r\nLPUSH\r\n$\(q.utf8.count)\r\n\(q)\r\n$\(config.valueSize)\r\n".utf8)
            queueGet = Array("*3\r\n$5\r\nBRPOP\r\n$\(q.utf8.count)\r\n\(q)\r\n$3\r\n0.1\r\n".utf8)
        } else {
            queueSetSizeless = Array("set \(q) 0 0 ".utf8)
            queueSet = Array("set \(q) 0 0 \(config.valueSize)\r\n".utf8)
            queueGet = Array("get \(q)\(config.reliableConsumers ? "/close/open" : "")/t=100\r\n".utf8)
        }
        multiget = config.multiget
        cycle = config.setWeight + config.getWeight
        setWeight = config.setWeight
        verify = config.verify
        valueSize = config.valueSize
        sizeMin = config.valueSizeMin ?? config.valueSize
        sizeSpan = UInt64(config.valueSize - sizeMin)
        sizeRandom = (config.seed &+ UInt64(id) &* 0xD1B5_4A32_D192_ED03) | 1
        keyWidth = keySpace.keyWidth
        watchdogNanos = UInt64(config.watchdogSeconds * 1e9)
        warmNext = warmRange.lowerBound
        warmEnd = warmRange.upperBound
        self.quota = quota
        ringCapacity = max(config.pipeline, config.warm ? config.warmPipeline : 1)

        resp = config.wire.isRESP
        respSetHead = Array("*3\r\n$3\r\nSET\r\n$\(keySpace.keyWidth)\r\n".utf8)
        respSetMid = Array("\r\n$\(config.valueSize)\r\n".utf8)
        respGetHead = Array("*2\r\n$3\r\nGET\r\n$\(keySpace.keyWidth)\r\n".utf8)
        respMGetHead = Array("*\(1 + config.multiget)\r\n$4\r\nMGET\r\n".utf8)
        respKeyHead = Array("$\(keySpace.keyWidth)\r\n".utf8)
        let suffix = Array(" 0 0 \(config.valueSize)\r\n".utf8)
        setSuffixLength = suffix.count
        setSuffix = .allocate(capacity: suffix.count)
        setSuffix.initialize(from: suffix, count: suffix.count)

        let setBytes = max(4 + keyWidth + setSuffixLength, respSetHead.count + keyWidth + respSetMid.count, queueSet.count) + valueSize + 2
        let getBytes = max(3 + multiget * (keyWidth + 1) + 2, queueGet.count, multiget * (keyWidth + 12) + 4,
                           max(respGetHead.count + keyWidth + 2, respMGetHead.count + multiget * (respKeyHead.count + keyWidth + 2)))
        let sendCap = ringCapacity * max(setBytes, getBytes)
        recvBuf = .allocate(capacity: recvCap)
        events = .allocate(capacity: connCount)
        conns = .allocate(capacity: connCount)
        parsers = (0..<connCount).map { _ in ReplyParser() }
        respParsers = (0..<connCount).map { _ in RESPParser() }
        for i in 0..<connCount {
            (conns + i).initialize(to: Conn(
                parser: parsers[i],
                respParser: respParsers[i],
                sendBuf: .allocate(capacity: sendCap),
                kinds: .allocate(capacity: ringCapacity),
                times: .allocate(capacity: ringCapacity),
                keys: .allocate(capacity: ringCapacity * multiget)))
            conns[i].mix = (i &+ id &* 7) % cycle
            conns[i].producer = i < config.producers
        }
    }

    deinit {
        for i in 0..<connCount {
            if conns[i].fd >= 0 { close(conns[i].fd) }
            conns[i].sendBuf.deallocate()
            conns[i].kinds.deallocate()
            conns[i].times.deallocate()
            conns[i].keys.deallocate()
        }
        conns.deinitialize(count: connCount)
        conns.deallocate()
        events.deallocate()
        recvBuf.deallocate()
        setSuffix.deallocate()
        if epfd >= 0 { close(epfd) }
    }

    // MARK: Thread body

    func main() {
        defer { closeAll(); _ = control.done.add(1, ordering: .releasing) }
        let ok = connectAll()
        _ = control.ready.add(1, ordering: .releasing)
        guard ok, waitForPhase(1) else {
            _ = control.warmDone.add(1, ordering: .releasing)
            return
        }
        if config.warm {
            warming = true
            depth = config.warmPipeline
            runPhase()
            warming = false
            warmErrors = errors
            errors = ErrorCounts()
        }
        _ = control.warmDone.add(1, ordering: .releasing)
        guard waitForPhase(2) else { return }
        deadline = control.deadline.load(ordering: .acquiring)
        depth = config.pipeline
        recording = true
        runPhase()
        recording = false
    }

    private func waitForPhase(_ p: Int) -> Bool {
        while control.phase.load(ordering: .acquiring) < p {
            if control.stopping { return false }
            sleepNanos(100_000)
        }
        return !control.stopping
    }

    private func connectAll() -> Bool {
        epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epfd >= 0 else { connectError = "epoll_create1: \(String(cString: strerror(errno)))"; return false }
        for i in 0..<connCount {
            switch Net.connect(host: config.host, port: config.port, nonBlocking: true) {
            case .success(let fd):
                conns[i].fd = fd
                conns[i].alive = true
                liveConns += 1
                var ev = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(u64: UInt64(i)))
                if epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0 {
                    connectError = "epoll_ctl: \(String(cString: strerror(errno)))"
                    return false
                }
            case .failure(let e):
                connectError = e.description
                return false
            }
        }
        return true
    }

    private func closeAll() {
        for i in 0..<connCount where conns[i].alive { closeConn(conns + i) }
        publishedErrors.store(errors.total, ordering: .relaxed)
    }

    // MARK: The loop

    private func runPhase() {
        issuingStopped = false
        now = monotonicNanos()
        for i in 0..<connCount where conns[i].alive {
            fill(conns + i)
            flush(conns + i)
        }
        var nextTick = now &+ 100_000_000
        var nextP99 = now &+ 1_000_000_000
        while liveConns > 0 && !(totalInFlight == 0 && !canIssue()) {
            if control.stopping { break }
            let n = epoll_wait(epfd, events, Int32(connCount), 20)
            now = monotonicNanos()
            if n > 0 {
                for e in 0..<Int(n) {
                    let ev = events[e]
                    let c = conns + Int(ev.data.u64)
                    guard c.pointee.alive else { continue }
                    if ev.events & (EPOLLIN.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 { onReadable(c) }
                    if c.pointee.alive && ev.events & EPOLLOUT.rawValue != 0 { flush(c) }
                }
            }
            if now >= nextTick {
                nextTick = now &+ 100_000_000
                watchdog()
                publishedOps.store(stats.sets &+ stats.getKeys, ordering: .relaxed)
                publishedErrors.store(errors.total, ordering: .relaxed)
                if publishP99 && recording && now >= nextP99 {
                    nextP99 = now &+ 1_000_000_000
                    publishedP99.store(histogram.percentile(99), ordering: .relaxed)
                }
            }
        }
        publishedOps.store(stats.sets &+ stats.getKeys, ordering: .relaxed)
        publishedErrors.store(errors.total, ordering: .relaxed)
    }

    private func watchdog() {
        for i in 0..<connCount where conns[i].alive {
            if conns[i].inFlight > 0 && now &- conns[i].lastProgress > watchdogNanos {
                errors.timeouts += 1
                closeConn(conns + i)
                control.requestStop(.watchdog)
            }
        }
    }

    @inline(__always)
    private func canIssue() -> Bool {
        if issuingStopped { return false }
        if warming { return warmNext < warmEnd }
        if issued >= quota || now >= deadline { issuingStopped = true; return false }
        return true
    }

    // MARK: Requests

    @inline(__always)
    private func fill(_ c: UnsafeMutablePointer<Conn>) {
        while c.pointee.inFlight < depth && canIssue() {
            if c.pointee.inFlight == 0 { c.pointee.lastProgress = now }
            issue(c)
        }
    }

    @inline(__always)
    private func issue(_ c: UnsafeMutablePointer<Conn>) {
        var slot = c.pointee.head &+ c.pointee.inFlight
        if slot >= ringCapacity { slot &-= ringCapacity }
        let p = c.pointee.sendBuf + c.pointee.sendLen
        var n: Int
        if warming {
            n = writeSet(warmNext, p)
            warmNext &+= 1
            c.pointee.kinds[slot] = 0
        } else if queueMode {
            issued &+= 1
            if c.pointee.producer {
                if sizeSpan == 0 {
                    n = put(queueSet, p)
                    keySpace.writeValue(0, into: p + n)
                    n &+= valueSize
                } else {
                    let v = pickSize()
                    n = put(queueSetSizeless, p)
                    n &+= writeSizeLine(v, p + n)
                    keySpace.writeFiller(into: p + n, length: v)
                    n &+= v
                }
                p[n] = 0x0D; p[n + 1] = 0x0A
                n &+= 2
                c.pointee.kinds[slot] = 0
            } else {
                n = put(queueGet, p)
                c.pointee.kinds[slot] = 1
            }
        } else {
            let isSet = c.pointee.mix < setWeight
            c.pointee.mix &+= 1
            if c.pointee.mix == cycle { c.pointee.mix = 0 }
            issued &+= 1
            if isSet {
                n = writeSet(chooser.next(), p)
                c.pointee.kinds[slot] = 0
            } else if resp {
                n = writeRESPGet(c.pointee.keys + slot &* multiget, p)
                c.pointee.kinds[slot] = 1
            } else if metaMode {
                n = writeMetaGet(c.pointee.keys + slot &* multiget, p)
                c.pointee.kinds[slot] = 1
            } else {
                p[0] = UInt8(ascii: "g"); p[1] = UInt8(ascii: "e"); p[2] = UInt8(ascii: "t")
                n = 3
                let keys = c.pointee.keys + slot &* multiget
                for j in 0..<multiget {
                    let k = chooser.next()
                    keys[j] = Int32(truncatingIfNeeded: k)
                    p[n] = 0x20
                    (p + n + 1).update(from: keySpace.key(k), count: keyWidth)
                    n &+= 1 &+ keyWidth
                }
                p[n] = 0x0D; p[n + 1] = 0x0A
                n &+= 2
                c.pointee.kinds[slot] = 1
            }
        }
        c.pointee.times[slot] = 0
        c.pointee.sendLen &+= n
        c.pointee.inFlight &+= 1
        c.pointee.unstamped &+= 1
        totalInFlight &+= 1
    }

    @inline(__always)
    private func put(_ bytes: [UInt8], _ p: UnsafeMutablePointer<UInt8>) -> Int {
        bytes.withUnsafeBufferPointer { p.update(from: $0.baseAddress!, count: $0.count) }
        return bytes.count
    }

    /// RESP `GET <key>` or `MGET <key>...` at p (keys chosen here, recorded in `keys`); returns its length.
    @inline(__always)
    private func writeRESPGet(_ keys: UnsafeMutablePointer<Int32>, _ p: UnsafeMutablePointer<UInt8>) -> Int {
        var n: Int
        if multiget == 1 {
            let k = chooser.next()
            keys[0] = Int32(truncatingIfNeeded: k)
            n = put(respGetHead, p)
            (p + n).update(from: keySpace.key(k), count: keyWidth)
            n &+= keyWidth
            p[n] = 0x0D; p[n + 1] = 0x0A
            return n &+ 2
        }
        n = put(respMGetHead, p)
        for j in 0..<multiget {
            let k = chooser.next()
            keys[j] = Int32(truncatingIfNeeded: k)
            n &+= put(respKeyHead, p + n)
            (p + n).update(from: keySpace.key(k), count: keyWidth)
            n &+= keyWidth
            p[n] = 0x0D; p[n + 1] = 0x0A
            n &+= 2
        }
        return n
    }

    /// `mg <key> k v` (one key: a hit is VA, a miss EN), or K quiet `mg <key> k v q` and `mn`
    /// (hits only, then MN).
    @inline(__always)
    private func writeMetaGet(_ keys: UnsafeMutablePointer<Int32>, _ p: UnsafeMutablePointer<UInt8>) -> Int {
        var n = 0
        for j in 0..<multiget {
            let k = chooser.next()
            keys[j] = Int32(truncatingIfNeeded: k)
            p[n] = UInt8(ascii: "m"); p[n + 1] = UInt8(ascii: "g"); p[n + 2] = 0x20
            n &+= 3
            (p + n).update(from: keySpace.key(k), count: keyWidth)
            n &+= keyWidth
            p[n] = 0x20; p[n + 1] = UInt8(ascii: "k"); p[n + 2] = 0x20; p[n + 3] = UInt8(ascii: "v")
            n &+= 4
            if multiget > 1 { p[n] = 0x20; p[n + 1] = UInt8(ascii: "q"); n &+= 2 }
            p[n] = 0x0D; p[n + 1] = 0x0A
            n &+= 2
        }
        if multiget > 1 {
            p[n] = UInt8(ascii: "m"); p[n + 1] = UInt8(ascii: "n"); p[n + 2] = 0x0D; p[n + 3] = 0x0A
            n &+= 4
        }
        return n
    }

    /// "set <key> 0 0 <V>\r\n<value>\r\n" (RESP `SET <key> <value>`, meta `ms <key> <V>`) at p;
    /// returns its length. With a value-size range each set picks its size.
    @inline(__always)
    private func writeSet(_ k: Int, _ p: UnsafeMutablePointer<UInt8>) -> Int {
        var n: Int
        if metaMode {
            p[0] = UInt8(ascii: "m"); p[1] = UInt8(ascii: "s"); p[2] = 0x20
            n = 3
            (p + n).update(from: keySpace.key(k), count: keyWidth)
            n &+= keyWidth
            if sizeSpan == 0 { n &+= put(metaSetSuffix, p + n) } else { p[n] = 0x20; n &+= 1 }
        } else if resp {
            n = put(respSetHead, p)
            (p + n).update(from: keySpace.key(k), count: keyWidth)
            n &+= keyWidth
            if sizeSpan == 0 {
                n &+= put(respSetMid, p + n)
            } else {
                p[n] = 0x0D; p[n + 1] = 0x0A; p[n + 2] = UInt8(ascii: "$")
                n &+= 3
            }
        } else {
            p[0] = UInt8(ascii: "s"); p[1] = UInt8(ascii: "e"); p[2] = UInt8(ascii: "t"); p[3] = 0x20
            n = 4
            (p + n).update(from: keySpace.key(k), count: keyWidth)
            n &+= keyWidth
            if sizeSpan == 0 {
                (p + n).update(from: setSuffix, count: setSuffixLength)
                n &+= setSuffixLength
            } else {
                p[n] = 0x20; p[n + 1] = 0x30; p[n + 2] = 0x20; p[n + 3] = 0x30; p[n + 4] = 0x20
                n &+= 5
            }
        }
        if sizeSpan == 0 {
            keySpace.writeValue(k, into: p + n)
            n &+= valueSize
        } else {
            let v = pickSize()
            n &+= writeSizeLine(v, p + n)
            keySpace.writeFiller(into: p + n, length: v)
            n &+= v
        }
        p[n] = 0x0D; p[n + 1] = 0x0A
        return n &+ 2
    }

    /// A size in sizeMin ... valueSize, uniformly (xorshift64*).
    @inline(__always)
    private func pickSize() -> Int {
        sizeRandom ^= sizeRandom >> 12
        sizeRandom ^= sizeRandom << 25
        sizeRandom ^= sizeRandom >> 27
        return sizeMin + Int((sizeRandom &* 0x2545_F491_4F6C_DD1D) % (sizeSpan + 1))
    }

    /// "<v>\r\n" at p; returns its length.
    @inline(__always)
    private func writeSizeLine(_ v: Int, _ p: UnsafeMutablePointer<UInt8>) -> Int {
        var digits = 1
        var t = v
        while t >= 10 { t /= 10; digits &+= 1 }
        t = v
        for i in stride(from: digits - 1, through: 0, by: -1) {
            p[i] = UInt8(truncatingIfNeeded: 0x30 + t % 10)
            t /= 10
        }
        p[digits] = 0x0D; p[digits + 1] = 0x0A
        return digits &+ 2
    }

    private func flush(_ c: UnsafeMutablePointer<Conn>) {
        let len = c.pointee.sendLen
        guard len > 0 else { return }
        if c.pointee.unstamped > 0 {
            let t = monotonicNanos()
            var slot = c.pointee.head &+ c.pointee.inFlight &- c.pointee.unstamped
            if slot >= ringCapacity { slot &-= ringCapacity }
            for _ in 0..<c.pointee.unstamped {
                c.pointee.times[slot] = t
                slot &+= 1
                if slot == ringCapacity { slot = 0 }
            }
            c.pointee.unstamped = 0
        }
        let n = send(c.pointee.fd, c.pointee.sendBuf, len, Int32(MSG_NOSIGNAL))
        if n == len {
            c.pointee.sendLen = 0
            if c.pointee.wantWrite { setWantWrite(c, false) }
        } else if n > 0 {
            memmove(c.pointee.sendBuf, c.pointee.sendBuf + n, len - n)
            c.pointee.sendLen = len - n
            if !c.pointee.wantWrite { setWantWrite(c, true) }
        } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            if !c.pointee.wantWrite { setWantWrite(c, true) }
        } else {
            errors.closed += 1
            closeConn(c)
        }
    }

    private func setWantWrite(_ c: UnsafeMutablePointer<Conn>, _ on: Bool) {
        c.pointee.wantWrite = on
        var ev = epoll_event(events: EPOLLIN.rawValue | (on ? EPOLLOUT.rawValue : 0),
                             data: epoll_data_t(u64: UInt64(c - conns)))
        _ = epoll_ctl(epfd, EPOLL_CTL_MOD, c.pointee.fd, &ev)
    }

    private func closeConn(_ c: UnsafeMutablePointer<Conn>) {
        guard c.pointee.alive else { return }
        errors.lost += c.pointee.inFlight
        totalInFlight -= c.pointee.inFlight
        c.pointee.inFlight = 0
        c.pointee.unstamped = 0
        c.pointee.sendLen = 0
        c.pointee.alive = false
        _ = epoll_ctl(epfd, EPOLL_CTL_DEL, c.pointee.fd, nil)
        close(c.pointee.fd)
        c.pointee.fd = -1
        liveConns -= 1
    }

    // MARK: Replies

    private func onReadable(_ c: UnsafeMutablePointer<Conn>) {
        while true {
            let n = read(c.pointee.fd, recvBuf, recvCap)
            if n > 0 {
                now = monotonicNanos()
                let ok: Bool
                if resp {
                    var sink = RESPConnSink(w: self, c: c)
                    ok = c.pointee.respParser.feed(recvBuf, n, into: &sink)
                } else {
                    var sink = ConnSink(w: self, c: c)
                    ok = c.pointee.parser.feed(recvBuf, n, into: &sink)
                }
                if !ok {
                    errors.malformed += 1
                    closeConn(c)
                    return
                }
                if c.pointee.desync {
                    closeConn(c)
                    return
                }
                if n < recvCap { break }
            } else if n == 0 {
                errors.closed += 1
                closeConn(c)
                return
            } else {
                let e = errno
                if e == EAGAIN || e == EWOULDBLOCK { break }
                if e == EINTR { continue }
                errors.closed += 1
                closeConn(c)
                return
            }
        }
        fill(c)
        flush(c)
    }

    @inline(__always)
    private func headIsGet(_ c: UnsafeMutablePointer<Conn>) -> Bool { c.pointee.kinds[c.pointee.head] == 1 }

    @inline(__always)
    private func desync(_ c: UnsafeMutablePointer<Conn>) {
        errors.unexpected += 1
        c.pointee.desync = true
    }

    @inline(__always)
    func onSimple(_ c: UnsafeMutablePointer<Conn>, _ kind: SimpleReply) {
        if c.pointee.desync { return }
        guard c.pointee.inFlight > 0, !headIsGet(c) else { desync(c); return }
        if kind != .stored { errors.unexpected += 1 }
        complete(c)
    }

    @inline(__always)
    func onErrorReply(_ c: UnsafeMutablePointer<Conn>, _ line: UnsafeRawBufferPointer) {
        if c.pointee.desync { return }
        guard c.pointee.inFlight > 0 else { desync(c); return }
        errors.errorReplies += 1
        noteErrorText(line)
        complete(c)
    }

    /// Counts an error reply by its text; keeps up to 8 distinct texts.
    private func noteErrorText(_ line: UnsafeRawBufferPointer) {
        let text = String(decoding: line.prefix(200), as: UTF8.self)
        if let i = errorTexts.firstIndex(where: { $0.text == text }) {
            errorTexts[i].count += 1
        } else if errorTexts.count < 8 {
            errorTexts.append((text, 1))
        }
    }

    @inline(__always)
    func onValueHeader(_ c: UnsafeMutablePointer<Conn>, _ key: UnsafeRawBufferPointer, _ length: Int) {
        if c.pointee.desync { return }
        guard c.pointee.inFlight > 0, headIsGet(c) else { desync(c); return }
        c.pointee.valueKey = -1
        if queueMode {
            // A message: any queue key, one per get.
            if length > valueSize || length < sizeMin || c.pointee.replyHits > 0 { errors.unexpected += 1 }
            c.pointee.replyHits &+= 1
            return
        }
        guard let k = keySpace.index(ofKey: key) else { errors.unexpected += 1; return }
        let keys = c.pointee.keys + c.pointee.head &* multiget
        var j = c.pointee.cursor
        while j < multiget && Int(keys[j]) != k { j &+= 1 }
        guard j < multiget else { errors.unexpected += 1; return }
        c.pointee.cursor = j &+ 1
        c.pointee.replyHits &+= 1
        if verify {
            c.pointee.valueKey = k
            c.pointee.valueOffset = 0
            c.pointee.valueOK = length == valueSize
        }
    }

    @inline(__always)
    func onValueData(_ c: UnsafeMutablePointer<Conn>, _ bytes: UnsafeRawBufferPointer) {
        guard verify, c.pointee.valueKey >= 0, c.pointee.valueOK else { return }
        c.pointee.valueOK = keySpace.check(c.pointee.valueKey, offset: c.pointee.valueOffset, bytes)
        c.pointee.valueOffset &+= bytes.count
    }

    @inline(__always)
    func onValueEnd(_ c: UnsafeMutablePointer<Conn>) {
        if verify && c.pointee.valueKey >= 0 && !c.pointee.valueOK { errors.verify += 1 }
        c.pointee.valueKey = -1
        // A one-key mg hit has no END: its value completes it.
        if metaMode && multiget == 1 && !c.pointee.desync && c.pointee.inFlight > 0 && headIsGet(c) { complete(c) }
    }

    @inline(__always)
    func onEnd(_ c: UnsafeMutablePointer<Conn>) {
        if c.pointee.desync { return }
        guard c.pointee.inFlight > 0, headIsGet(c) else { desync(c); return }
        complete(c)
    }

    // MARK: RESP replies

    /// `:N`: the reply to LPUSH (queue flood); anything else does not expect one.
    @inline(__always)
    func onRESPInteger(_ c: UnsafeMutablePointer<Conn>) {
        if c.pointee.desync { return }
        guard queueMode, c.pointee.inFlight > 0, !headIsGet(c) else { desync(c); return }
        complete(c)
    }

    @inline(__always)
    func onRESPUnexpected(_ c: UnsafeMutablePointer<Conn>) {
        if c.pointee.desync { return }
        desync(c)
    }

    /// `*N` opens an MGET reply of N elements.
    @inline(__always)
    func onArrayHeader(_ c: UnsafeMutablePointer<Conn>, _ count: Int) {
        if c.pointee.desync { return }
        if queueMode {
            // BRPOP: [queue, message], or the nil array on timeout.
            guard c.pointee.inFlight > 0, headIsGet(c), c.pointee.respPending == 0, count == 2 || count == -1 else { desync(c); return }
            c.pointee.cursor = 0
            if count == -1 { complete(c) } else { c.pointee.respPending = 2 }
            return
        }
        guard c.pointee.inFlight > 0, headIsGet(c), multiget > 1, c.pointee.respPending == 0, count >= 0 else { desync(c); return }
        if count != multiget { errors.unexpected += 1 }
        c.pointee.respPending = count
        c.pointee.cursor = 0
        if count == 0 { complete(c) }
    }

    /// `$N` (a hit of N bytes) or `$-1` (a miss): the reply to GET, or the next element of MGET.
    @inline(__always)
    func onBulkHeader(_ c: UnsafeMutablePointer<Conn>, _ length: Int) {
        if c.pointee.desync { return }
        guard c.pointee.inFlight > 0, headIsGet(c), multiget == 1 || c.pointee.respPending > 0 else { desync(c); return }
        c.pointee.valueKey = -1
        let j = c.pointee.cursor
        c.pointee.cursor = j &+ 1
        if queueMode {
            guard c.pointee.respPending > 0, length >= 0 else { desync(c); return }
            if j == 1 {
                if length > valueSize || length < sizeMin { errors.unexpected += 1 }
                c.pointee.replyHits &+= 1
            }
            return
        }
        if length >= 0 {
            c.pointee.replyHits &+= 1
            if verify && j < multiget {
                c.pointee.valueKey = Int(c.pointee.keys[c.pointee.head &* multiget &+ j])
                c.pointee.valueOffset = 0
                c.pointee.valueOK = length == valueSize
            }
        } else {
            onRESPElementDone(c)
        }
    }

    @inline(__always)
    func onRESPElementDone(_ c: UnsafeMutablePointer<Conn>) {
        if c.pointee.desync { return }
        if multiget == 1 && !queueMode { complete(c); return }
        c.pointee.respPending &-= 1
        if c.pointee.respPending == 0 { complete(c) }
    }

    @inline(__always)
    private func complete(_ c: UnsafeMutablePointer<Conn>) {
        let slot = c.pointee.head
        if recording {
            histogram.record(now &- c.pointee.times[slot])
            stats.requests &+= 1
            if c.pointee.kinds[slot] == 1 {
                stats.getRequests &+= 1
                stats.getKeys &+= multiget
                stats.hits &+= c.pointee.replyHits
            } else {
                stats.sets &+= 1
            }
            lastCompletion = now
        }
        c.pointee.head = slot &+ 1 == ringCapacity ? 0 : slot &+ 1
        c.pointee.inFlight &-= 1
        totalInFlight &-= 1
        c.pointee.cursor = 0
        c.pointee.replyHits = 0
        c.pointee.lastProgress = now
    }
}

/// A joinable OS thread.
final class OSThread {
    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    private var thread = pthread_t()

    init(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Body(body)).toOpaque()
        let rc = pthread_create(&thread, nil, { arg in
            let body = Unmanaged<Body>.fromOpaque(arg!).takeRetainedValue()
            body.run()
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    func join() { pthread_join(thread, nil) }
}
