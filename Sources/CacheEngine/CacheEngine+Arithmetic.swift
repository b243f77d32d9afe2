// incr / decr (memcached's do_add_delta): 64-bit unsigned decimal values, incr wraps at 2^64, decr
// floors at 0; a result that fits is written in place (padded with spaces, as memcached), else a new
// item replaces the old. The meta and binary forms add a CAS to match, an explicit new CAS, a new
// TTL and creating a missing key with an initial value, all under the key's item lock.
#if canImport(Glibc)
import Glibc
#endif

public enum DeltaResult: Sendable, Equatable {
    case ok(UInt64)
    case notFound
    case nonNumeric
    case outOfMemory
    case casMismatch
    /// The key was missing and creating it from the initial value did not store.
    case notStored
}

/// The meta (`ma`) and binary forms of incr/decr.
public struct DeltaRequest: Sendable {
    public var incr: Bool
    public var delta: UInt64
    /// Must equal the item's CAS unique when not 0.
    public var casIn: UInt64 = 0
    /// The unique to give the changed item (meta's E); nil = the next one.
    public var newCAS: UInt64? = nil
    /// A new expiry for the item once changed (meta's T).
    public var touch: UInt32? = nil
    /// On a miss, create the key holding `initial` with `expiry` (meta's N + J, binary's initial).
    public var create: (initial: UInt64, expiry: UInt32)? = nil

    public init(incr: Bool, delta: UInt64) {
        self.incr = incr
        self.delta = delta
    }
}

/// What a `DeltaRequest` did, with the item's header as it was before `touch`.
public struct DeltaReply: Sendable {
    public var result: DeltaResult
    /// What the lookup met (`.expired`/`.flushed`: a dead item it unlinked; memcached counts it).
    public var outcome = GetOutcome.miss
    /// The key was missing and creation was attempted (`.ok(initial)` when it worked).
    public var created = false
    /// The changed (or created) item, when `result` is `.ok`.
    public var item = ItemInfo()
    /// The item's expiry after `touch`.
    public var touchedExpiry: UInt32 = 0
}

extension CacheEngine {
    /// memcached's do_add_delta: incr (wraps at 2^64) or decr (floors at 0) of a decimal value.
    public func delta(_ key: UnsafeRawBufferPointer, hash hv: UInt32, incr: Bool, by delta: UInt64) -> DeltaResult {
        var outcome = GetOutcome.miss
        return self.delta(key, hash: hv, incr: incr, by: delta, outcome: &outcome)
    }

    /// `delta`, saying what the lookup met (`.expired`/`.flushed`: a dead item it unlinked).
    public func delta(_ key: UnsafeRawBufferPointer, hash hv: UInt32, incr: Bool, by delta: UInt64,
                      outcome: inout GetOutcome) -> DeltaResult {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        let (result, it) = lockedDelta(key, hv, incr: incr, by: delta, outcome: &outcome)
        if let it { refDecrement(it) }
        return result
    }

    /// incr/decr with the meta and binary options (CAS to match, new CAS, new TTL, create on miss),
    /// under one item lock.
    public func delta(_ key: UnsafeRawBufferPointer, hash hv: UInt32, _ request: DeltaRequest) -> DeltaReply {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        var outcome = GetOutcome.miss
        var (result, found) = lockedDelta(key, hv, incr: request.incr, by: request.delta,
                                          casIn: request.casIn, newCAS: request.newCAS, outcome: &outcome)
        var reply = DeltaReply(result: result)
        reply.outcome = outcome
        if case .notFound = result, let create = request.create {
            reply.created = true
            var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
            let made: Item? = withUnsafeMutableBytes(of: &digits) { buf in
                let len = formatDecimal(create.initial, into: buf)
                guard case .item(let fresh) = allocate(key: key, flags: 0, expiry: create.expiry, valueLength: len, memcachedEviction: true) else { return nil }
                memcpy(fresh.value, buf.baseAddress!, len)
                return fresh
            }
            guard let fresh = made else {
                reply.result = .outOfMemory
                return reply
            }
            if lockedStore(fresh, hv, mode: .add, casIn: 0, newCAS: request.newCAS).0 == .stored {
                found = fresh
                result = .ok(create.initial)
            } else {
                refDecrement(fresh)
                result = .notStored
            }
            reply.result = result
        }
        guard let it = found else { return reply }
        defer { refDecrement(it) }
        reply.item = itemInfo(it)
        if let touch = request.touch { lockedSetExpiry(it, touch) }
        reply.touchedExpiry = it.expiry
        return reply
    }

    /// `delta` with the item lock held; on success also the item now holding the value, with a
    /// reference for the caller. `casIn` (meta arithmetic's C flag) must match when not 0.
    func lockedDelta(_ key: UnsafeRawBufferPointer, _ hv: UInt32, incr: Bool, by delta: UInt64,
                     casIn: UInt64 = 0, newCAS: UInt64? = nil, outcome: inout GetOutcome) -> (DeltaResult, Item?) {
        guard let it = lockedGet(key, hv, bump: false, outcome: &outcome) else { return (.notFound, nil) }
        guard !it.isChunked, it.valueLength > 0,
              let value = parseDecimal(UnsafeRawBufferPointer(start: it.value, count: it.valueLength))
        else { refDecrement(it); return (.nonNumeric, nil) }
        if casIn != 0 && casIn != it.cas { refDecrement(it); return (.casMismatch, nil) }
        classCommands.add(incr ? .incrHits : .decrHits, it.slabClass, hash: hv)
        let result = incr ? value &+ delta : (delta > value ? 0 : value - delta)
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        return withUnsafeMutableBytes(of: &digits) { buf -> (DeltaResult, Item?) in
            let len = formatDecimal(result, into: buf)
            if len <= it.valueLength && it.refcount.pointee.load(ordering: .acquiring) == 2 {
                // In place, padded with spaces like memcached, with a new CAS.
                it.cas = newCAS ?? nextCAS()
                memcpy(it.value, buf.baseAddress!, len)
                if len < it.valueLength { memset(it.value + len, 0x20, it.valueLength - len) }
                lockedUpdate(it)
                return (.ok(result), it)
            }
            guard case .item(let fresh) = allocate(key: it.key, flags: it.clientFlags, expiry: it.expiry, valueLength: len, memcachedEviction: true) else {
                refDecrement(it)
                return (.outOfMemory, nil)
            }
            memcpy(fresh.value, buf.baseAddress!, len)
            lockedReplace(it, with: fresh, hv, cas: newCAS)
            refDecrement(it)
            return (.ok(result), fresh)
        }
    }
}

/// memcached's safe_strtoull over a stored value: optional leading spaces, digits, then the end
/// of the value or whitespace (e.g. the padding of an in-place decr). nil when not a number or
/// above 2^64-1.
@inline(__always)
func parseDecimal(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
    var i = 0
    let n = bytes.count
    while i < n && isSpaceByte(bytes[i]) { i += 1 }
    if i < n && bytes[i] == UInt8(ascii: "+") { i += 1 }
    let start = i
    var v: UInt64 = 0
    while i < n, bytes[i] >= 0x30, bytes[i] <= 0x39 {
        let (m, o1) = v.multipliedReportingOverflow(by: 10)
        let (a, o2) = m.addingReportingOverflow(UInt64(bytes[i] - 0x30))
        if o1 || o2 { return nil }
        v = a
        i += 1
    }
    if i == start { return nil }
    // strtoull stops at the first non-digit; memcached accepts it if it is whitespace (the
    // stored value always ended in "\r\n" there, so the end of the value counts too).
    if i < n && !isSpaceByte(bytes[i]) { return nil }
    return v
}

@inline(__always)
func isSpaceByte(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0d) }

/// Writes `v` in decimal into `buf`; returns the length.
@inline(__always)
public func formatDecimal(_ v: UInt64, into buf: UnsafeMutableRawBufferPointer) -> Int {
    var tmp = v
    var len = 0
    repeat { len += 1; tmp /= 10 } while tmp != 0
    tmp = v
    var i = len - 1
    repeat {
        buf[i] = UInt8(truncatingIfNeeded: tmp % 10) + 0x30
        tmp /= 10
        i -= 1
    } while tmp != 0
    return len
}

/// What `addToInteger` did.
public enum IntegerUpdate: Sendable, Equatable {
    /// The key now holds this value.
    case value(Int)
    /// The value is not an integer as the protocol parses one.
    case notInteger
    /// The sum does not fit in 64 signed bits.
    case overflow
    /// The key holds a list, hash... (only with `anyType`).
    case wrongType
    case outOfMemory
}

extension CacheEngine {
    /// Redis's INCRBY as one storage operation under the item lock: `delta` added to the signed
    /// integer the string under `key` holds (`parse` reads it as the protocol reads integers; a
    /// missing key is 0 and is created without expiry), the sum written by `format` in place when
    /// its digits fit the old value exactly and no reader holds the item, else into a new item
    /// with the same flags and expiry. A new CAS unique either way.
    public func addToInteger(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int = 0, by delta: Int,
                             parse: (UnsafeRawBufferPointer) -> Int?,
                             format: (Int, UnsafeMutableRawBufferPointer) -> Int) -> IntegerUpdate {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        lockedPrefetchHinted()
        var outcome = GetOutcome.miss
        let old = lockedGet(key, hv, database: database, anyType: true, bump: false, outcome: &outcome)
        defer { if let old { refDecrement(old) } }
        var current = 0
        if let old {
            if old.type != .string { return .wrongType }
            // A sign and 19 digits at most: longer (or chunked) values are not integers.
            guard !old.isChunked, old.valueLength <= 20,
                  let v = parse(UnsafeRawBufferPointer(start: old.value, count: old.valueLength)) else { return .notInteger }
            current = v
        }
        let (sum, overflow) = current.addingReportingOverflow(delta)
        if overflow { return .overflow }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        return withUnsafeMutableBytes(of: &digits) { buf -> IntegerUpdate in
            let len = format(sum, buf)
            if let old, len == old.valueLength, old.refcount.pointee.load(ordering: .acquiring) == 2 {
                memcpy(old.value, buf.baseAddress!, len)
                old.cas = nextCAS()
                lockedUpdate(old)
                return .value(sum)
            }
            guard case .item(let fresh) = allocate(key: key, flags: old?.clientFlags ?? 0, expiry: old?.expiry ?? 0,
                                                   valueLength: len, database: database) else { return .outOfMemory }
            defer { refDecrement(fresh) }
            if let old { fresh.expiryMs = old.expiryMs }
            memcpy(fresh.value, buf.baseAddress!, len)
            if let old { lockedReplace(old, with: fresh, hv) } else { lockedLink(fresh, hv) }
            return .value(sum)
        }
    }
}
