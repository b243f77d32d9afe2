// memcached's binary protocol (deprecated upstream, still spoken by some clients): 24-byte
// request headers (magic 0x80), responses with magic 0x81, the quiet variants that answer only
// errors, and memcached's status codes and error texts. A connection is binary when its first
// byte is 0x80 (-B auto) and stays so. Values stream into item memory like text `set`s. The
// framing (header, check, replies) is public: the broker port answers the same frames for queues.
import CacheEngine
import Platform

public enum BinaryOpcode {
    public static let get: UInt8 = 0x00, set: UInt8 = 0x01, add: UInt8 = 0x02, replace: UInt8 = 0x03
    public static let delete: UInt8 = 0x04, increment: UInt8 = 0x05, decrement: UInt8 = 0x06, quit: UInt8 = 0x07
    public static let flush: UInt8 = 0x08, getq: UInt8 = 0x09, noop: UInt8 = 0x0a, version: UInt8 = 0x0b
    public static let getk: UInt8 = 0x0c, getkq: UInt8 = 0x0d, append: UInt8 = 0x0e, prepend: UInt8 = 0x0f
    public static let stat: UInt8 = 0x10, setq: UInt8 = 0x11, addq: UInt8 = 0x12, replaceq: UInt8 = 0x13
    public static let deleteq: UInt8 = 0x14, incrementq: UInt8 = 0x15, decrementq: UInt8 = 0x16, quitq: UInt8 = 0x17
    public static let flushq: UInt8 = 0x18, appendq: UInt8 = 0x19, prependq: UInt8 = 0x1a, verbosity: UInt8 = 0x1b
    public static let touch: UInt8 = 0x1c, gat: UInt8 = 0x1d, gatq: UInt8 = 0x1e, gatk: UInt8 = 0x23, gatkq: UInt8 = 0x24
}

public enum BinaryStatus {
    public static let ok: UInt16 = 0x00, keyNotFound: UInt16 = 0x01, keyExists: UInt16 = 0x02, tooLarge: UInt16 = 0x03
    public static let invalidArguments: UInt16 = 0x04, notStored: UInt16 = 0x05, nonNumeric: UInt16 = 0x06
    public static let unknownCommand: UInt16 = 0x81, outOfMemory: UInt16 = 0x82

    /// memcached's write_bin_error texts.
    public static func text(_ status: UInt16) -> StaticString {
        switch status {
        case keyNotFound: "Not found"
        case keyExists: "Data exists for key."
        case tooLarge: "Too large."
        case invalidArguments: "Invalid arguments"
        case notStored: "Not stored."
        case nonNumeric: "Non-numeric server-side value for incr or decr"
        case outOfMemory: "Out of memory"
        default: "Unknown command"
        }
    }
}

/// A parsed request header (big-endian fields decoded; `opaque` kept as sent).
public struct BinaryHeader: Sendable {
    public var opcode: UInt8
    public var keyLength: Int
    public var extrasLength: Int
    public var bodyLength: Int
    public var opaque: UInt32
    public var cas: UInt64

    public static let size = 24

    public init(opcode: UInt8, keyLength: Int, extrasLength: Int, bodyLength: Int, opaque: UInt32, cas: UInt64) {
        self.opcode = opcode
        self.keyLength = keyLength
        self.extrasLength = extrasLength
        self.bodyLength = bodyLength
        self.opaque = opaque
        self.cas = cas
    }

    /// The header of the 24 bytes at `p` (the magic byte is the caller's to check).
    @inline(__always)
    public init(at p: UnsafeRawPointer) {
        self.init(
            opcode: p.load(fromByteOffset: 1, as: UInt8.self),
            keyLength: Int(UInt16(bigEndian: p.loadUnaligned(fromByteOffset: 2, as: UInt16.self))),
            extrasLength: Int(p.load(fromByteOffset: 4, as: UInt8.self)),
            bodyLength: Int(UInt32(bigEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt32.self))),
            opaque: p.loadUnaligned(fromByteOffset: 12, as: UInt32.self),
            cas: UInt64(bigEndian: p.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
    }
}

/// How a binary storage command answers once its value is in.
public struct BinaryStoreReply: Sendable {
    public var opcode: UInt8
    public var opaque: UInt32
    public var quiet: Bool

    public init(opcode: UInt8, opaque: UInt32, quiet: Bool) {
        self.opcode = opcode
        self.opaque = opaque
        self.quiet = quiet
    }
}

enum BinaryStep {
    case needMore
    case done(Int, HandlerAction)
}

extension MemcacheConnection {
    /// One binary request at `pos`: its reply is appended (or a pending store begins).
    func processBinary(_ input: UnsafeRawBufferPointer, _ pos: Int, _ output: OutputBuffer) -> BinaryStep {
        let h: BinaryHeader, command: BinaryCommand, bodyStart: Int
        // The header alone decides whether a body is awaited (BinaryProtocol+HeaderCheck.swift).
        switch BinaryFrame.read(input, at: pos, output, serving: { _ in true }) {
        case .needMore:
            return .needMore
        case .request(let header, let c, let start):
            h = header
            command = c
            bodyStart = start
        case .refused(let next, let action):
            stats.add(.binaryHeaderInvalid)
            return .done(next, action)
        case .unknown(let next, let swallow):
            swallowRemaining = swallow
            return .done(next, .proceed)
        }
        if case .store(let mode) = command.handler {
            // The value streams into the item: only extras and key must be here.
            guard input.count - bodyStart >= h.extrasLength + h.keyLength else { return .needMore }
            let (next, action) = binaryStore(input, bodyStart, h, command, mode, output)
            return .done(next, action)
        }
        // Any other accepted body is its extras and key: a few hundred bytes at most.
        guard input.count - bodyStart >= h.bodyLength else { return .needMore }
        let extras = UnsafeRawBufferPointer(rebasing: input[bodyStart..<bodyStart + h.extrasLength])
        let key = UnsafeRawBufferPointer(rebasing: input[(bodyStart + h.extrasLength)..<(bodyStart + h.extrasLength + h.keyLength)])
        let next = bodyStart + h.bodyLength
        switch command.handler {
        case .get(let touch, let value):
            return .done(next, binaryGet(h, command, touch: touch, value: value, extras, key, output))
        case .store:
            preconditionFailure("storage opcodes are handled above")
        case .delete:
            return .done(next, binaryDelete(h, command, key, output))
        case .delta(let incr):
            return .done(next, binaryDelta(h, command, incr: incr, extras, key, output))
        case .quit:
            if !command.quiet { binaryResponse(h, BinaryStatus.ok, output) }
            return .done(next, .close)
        case .flush:
            guard settings.flushEnabled else {
                binaryError(h, BinaryStatus.invalidArguments, output)
                return .done(next, .proceed)
            }
            // Expiration times in the binary protocol are unsigned, as memcached reads them (a
            // time_t from a uint32): past 2^31 they are far-future Unix times, not negative.
            let delay = extras.count == 4 ? Int64(UInt32(bigEndian: extras.loadUnaligned(as: UInt32.self))) : 0
            stats.add(.cmdFlush)
            engine.flushAll(delay: delay)
            if !command.quiet { binaryResponse(h, BinaryStatus.ok, output) }
            return .done(next, .proceed)
        case .noop:
            binaryResponse(h, BinaryStatus.ok, output)
            return .done(next, .proceed)
        case .version:
            let v = settings.version
            binaryResponse(h, BinaryStatus.ok, bodyLength: v.utf8.count, output)
            output.append(v)
            return .done(next, .proceed)
        case .stat:
            binaryStat(h, key, output)
            return .done(next, .proceed)
        }
    }

    // MARK: replies

    /// A response header (BinaryProtocol+Replies.swift); the caller appends `extras`, key and
    /// value making up `bodyLength`.
    @inline(__always)
    func binaryResponse(_ h: BinaryHeader, _ status: UInt16, keyLength: Int = 0, extrasLength: Int = 0,
                        bodyLength: Int = 0, cas: UInt64 = 0, opcode: UInt8? = nil, _ output: OutputBuffer) {
        output.appendBinaryResponse(h, status, keyLength: keyLength, extrasLength: extrasLength,
                                    bodyLength: bodyLength, cas: cas, opcode: opcode)
    }

    /// An error response with memcached's text as its body.
    @inline(__always)
    func binaryError(_ h: BinaryHeader, _ status: UInt16, _ output: OutputBuffer) {
        output.appendBinaryError(h, status)
    }

    @inline(__always)
    private func appendBigEndian32(_ v: UInt32, _ output: OutputBuffer) {
        output.appendBigEndian32(v)
    }

    // MARK: get, getk, touch, gat (and quiet)

    private func binaryGet(_ h: BinaryHeader, _ command: BinaryCommand, touch touching: Bool, value withValue: Bool,
                           _ extras: UnsafeRawBufferPointer, _ key: UnsafeRawBufferPointer,
                           _ output: OutputBuffer) -> HandlerAction {
        let quiet = command.quiet
        let returnKey = command.returnsKey
        let hv = CacheEngine.hash(key)
        var outcome = GetOutcome.miss
        let found: Item?
        if touching {
            let exptime = UInt32(bigEndian: extras.loadUnaligned(as: UInt32.self))  // unsigned, as memcached (see flush)
            found = engine.touch(key, hash: hv, expiry: engine.clock.expiry(fromClient: Int64(exptime)), outcome: &outcome)
            stats.add(.cmdTouch)
        } else {
            found = engine.get(key, hash: hv, outcome: &outcome)
            // memcached's process_bin_get_or_touch: a touch counts in touch_cmds only.
            stats.add(.cmdGet)
        }
        if case .overflow = outcome {
            binaryError(h, BinaryStatus.outOfMemory, output)
            return .proceed
        }
        if service.watch.isActive(.fetchers) { logFetch(key, found, outcome) }
        guard let it = found else {
            // memcached's lookup (do_item_get) counts what it found dead, for GET, GAT and TOUCH.
            switch outcome {
            case .expired: stats.add(.getExpired)
            case .flushed: stats.add(.getFlushed)
            default: break
            }
            stats.add(touching ? .touchMisses : .getMisses)
            if quiet { return .proceed }
            if returnKey {
                binaryResponse(h, BinaryStatus.keyNotFound, keyLength: key.count, bodyLength: key.count, output)
                output.append(key)
            } else {
                binaryError(h, BinaryStatus.keyNotFound, output)
            }
            return .proceed
        }
        stats.add(touching ? .touchHits : .getHits)
        // TOUCH answers with the flags only; the others with the value too.
        let valueLength = withValue ? it.valueLength : 0
        let keyLength = returnKey ? key.count : 0
        binaryResponse(h, BinaryStatus.ok, keyLength: keyLength, extrasLength: 4,
                       bodyLength: 4 + keyLength + valueLength, cas: it.cas, output)
        appendBigEndian32(it.clientFlags, output)
        if returnKey { output.append(key) }
        if valueLength == 0 {
            engine.release(it)
            return .proceed
        }
        engine.appendValue(of: it, to: output)
        return .proceed
    }

    // MARK: set, add, replace, append, prepend (and quiet)

    /// Allocates the item and starts reading the value into it; returns the position after the
    /// key (the value follows, consumed by the pending store).
    private func binaryStore(_ input: UnsafeRawBufferPointer, _ bodyStart: Int, _ h: BinaryHeader,
                             _ command: BinaryCommand, _ declaredMode: StoreMode, _ output: OutputBuffer) -> (Int, HandlerAction) {
        let isAppend = declaredMode == .append || declaredMode == .prepend
        let valueLength = h.bodyLength - h.extrasLength - h.keyLength
        let afterKey = bodyStart + h.extrasLength + h.keyLength
        let key = UnsafeRawBufferPointer(rebasing: input[(bodyStart + h.extrasLength)..<afterKey])
        var flags: UInt32 = 0
        var exptime: UInt32 = 0  // unsigned, as memcached (see flush)
        if !isAppend {
            let extras = UnsafeRawBufferPointer(rebasing: input[bodyStart..<bodyStart + 8])
            flags = UInt32(bigEndian: extras.loadUnaligned(as: UInt32.self))
            exptime = UInt32(bigEndian: extras.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        }
        var mode = declaredMode
        // memcached: a CAS in the header makes any set/add/replace a compare-and-swap.
        if h.cas != 0 && !isAppend { mode = .cas }
        let hash = CacheEngine.hash(key)
        let quiet = command.quiet
        switch engine.allocate(key: key, flags: flags, expiry: engine.clock.expiry(fromClient: Int64(exptime)),
                               valueLength: valueLength, memcachedEviction: true) {
        case .item(let item):
            stats.add(.cmdSet)  // as memcached: not for a refused size
            pending = PendingStore(item: item, hash: hash, mode: mode, casIn: h.cas, noreply: quiet,
                                   block: ValueBlock(terminated: false),
                                   binary: BinaryStoreReply(opcode: h.opcode, opaque: h.opaque, quiet: quiet))
        case .tooLarge:
            stats.add(.storeTooLarge)
            binaryError(h, BinaryStatus.tooLarge, output)
            swallowRemaining = valueLength
            if mode == .set { engine.unlink(key, hash: hash) }
        case .outOfMemory:
            stats.add(.storeNoMemory)
            binaryError(h, BinaryStatus.outOfMemory, output)
            swallowRemaining = valueLength
            if mode == .set { engine.unlink(key, hash: hash) }
        }
        return (afterKey, .proceed)
    }

    /// The value is in: store it and answer as memcached's complete_update_bin.
    func finishBinaryStore(_ p: PendingStore, _ reply: BinaryStoreReply, _ output: OutputBuffer) {
        let h = BinaryHeader(opcode: reply.opcode, keyLength: 0, extrasLength: 0, bodyLength: 0, opaque: reply.opaque, cas: 0)
        let (result, cas) = engine.store(p.item, hash: p.hash, mode: p.mode, casIn: p.casIn)
        if service.watch.isActive(.mutations) { logStore(p.item, mode: p.mode, result: result) }
        let status: UInt16
        switch result {
        case .stored:
            if p.mode == .cas { stats.add(.casHits) }
            if !reply.quiet { binaryResponse(h, BinaryStatus.ok, cas: cas, output) }
            return
        case .exists:
            if p.mode == .cas { stats.add(.casBadval) }
            status = BinaryStatus.keyExists
        case .notFound:
            if p.mode == .cas { stats.add(.casMisses) }
            status = BinaryStatus.keyNotFound
        case .notStored:
            switch p.mode {
            case .add: status = BinaryStatus.keyExists
            case .replace: status = BinaryStatus.keyNotFound
            default: status = BinaryStatus.notStored
            }
        }
        binaryError(h, status, output)
    }

    // MARK: delete

    private func binaryDelete(_ h: BinaryHeader, _ command: BinaryCommand, _ key: UnsafeRawBufferPointer,
                              _ output: OutputBuffer) -> HandlerAction {
        let status: UInt16
        var outcome = GetOutcome.miss
        let result = engine.delete(key, hash: CacheEngine.hash(key), casIn: h.cas == 0 ? nil : h.cas, outcome: &outcome)
        stats.addDeadLookup(outcome)
        switch result {
        case .deleted: status = BinaryStatus.ok
        case .notFound: status = BinaryStatus.keyNotFound
        case .exists: status = BinaryStatus.keyExists
        }
        stats.add(status == BinaryStatus.ok ? .deleteHits : .deleteMisses)
        if status != BinaryStatus.ok {
            binaryError(h, status, output)
        } else if !command.quiet {
            binaryResponse(h, BinaryStatus.ok, output)
        }
        return .proceed
    }

    // MARK: increment, decrement

    private func binaryDelta(_ h: BinaryHeader, _ command: BinaryCommand, incr: Bool, _ extras: UnsafeRawBufferPointer,
                             _ key: UnsafeRawBufferPointer, _ output: OutputBuffer) -> HandlerAction {
        let quiet = command.quiet
        let delta = UInt64(bigEndian: extras.loadUnaligned(as: UInt64.self))
        let initial = UInt64(bigEndian: extras.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        let expiration = UInt32(bigEndian: extras.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
        var request = DeltaRequest(incr: incr, delta: delta)
        request.casIn = h.cas
        // memcached: an expiration of all ones means "do not create".
        if expiration != 0xffff_ffff {
            request.create = (initial, engine.clock.expiry(fromClient: Int64(expiration)))  // unsigned (see flush)
        }
        let r = engine.delta(key, hash: CacheEngine.hash(key), request)
        stats.addDeadLookup(r.outcome)
        if r.created || r.result == .notFound { stats.add(incr ? .incrMisses : .decrMisses) }
        var status = BinaryStatus.ok
        var value: UInt64 = 0
        switch r.result {
        case .ok(let v):
            if !r.created { stats.add(incr ? .incrHits : .decrHits) }
            value = v
        case .notFound: status = BinaryStatus.keyNotFound
        case .notStored: status = BinaryStatus.notStored
        case .nonNumeric: status = BinaryStatus.nonNumeric
        case .outOfMemory: status = BinaryStatus.outOfMemory
        case .casMismatch: status = BinaryStatus.keyExists
        }
        let cas = r.item.cas
        if status != BinaryStatus.ok {
            binaryError(h, status, output)
            return .proceed
        }
        if quiet { return .proceed }
        binaryResponse(h, BinaryStatus.ok, bodyLength: 8, cas: cas, output)
        var be = value.bigEndian
        withUnsafeBytes(of: &be) { output.append($0) }
        return .proceed
    }
}
