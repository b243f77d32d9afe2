// The meta get (`mg`) and debug (`me`) operations: everything that reads and changes an item in one
// request happens here under the key's item lock (memcached's process_mget_command), so that the
// flags that look before the bump (h, l), change the item (T, bump) or decide a winner (N vivify,
// R recache, a stale item's single W) see one consistent item. The protocol gets a copy of the
// header and composes its reply after the lock.

/// What a meta get asks of the item beyond reading it.
public struct MetaGetRequest: Sendable {
    /// N: on a miss, create an empty item with this expiry; its creator wins (W).
    public var vivifyExpiry: UInt32? = nil
    /// T: the item's new expiry.
    public var touchExpiry: UInt32? = nil
    /// R: win the recache when the item expires before this time.
    public var recacheBefore: UInt32? = nil
    /// T came before R among the flags, so R judges the new expiry (flags apply in order).
    public var touchBeforeRecache = false
    /// Count the read as an access (meta's u flag turns it off).
    public var bump = true
    /// Keep a reference to the item for the caller (to write its value); else none is kept.
    public var keepItem = false

    public init() {}
}

/// What a meta get found and did.
public struct MetaGetReply {
    public var outcome = GetOutcome.miss
    /// The item (hit or created); with a reference the caller must `release` when `keepItem`.
    public var item: Item? = nil
    /// The header before this request changed it (expiry before T, access before the bump).
    public var info = ItemInfo()
    /// The expiry after T.
    public var touchedExpiry: UInt32 = 0
    /// The item was created by N on this miss.
    public var created = false
    /// Z: a win token had already been handed out for this item.
    public var tokenSent = false
    /// X: the item is stale.
    public var stale = false
    /// W: this request won the right to recache.
    public var won = false

    /// A live item was found or created (`item` is set only with `keepItem`).
    public var found = false
}

extension CacheEngine {
    /// A meta get of `key`: see `MetaGetRequest`. On a miss without vivify, `outcome` says why;
    /// past the reference limit, `.overflow` and nothing else.
    public func metaGet(_ key: UnsafeRawBufferPointer, hash hv: UInt32, _ request: MetaGetRequest) -> MetaGetReply {
        var reply = MetaGetReply()
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        var found = limited(lockedGet(key, hv, bump: false, outcome: &reply.outcome), &reply.outcome)
        if case .overflow = reply.outcome { return reply }
        if found == nil, let vivify = request.vivifyExpiry,
           case .item(let fresh) = allocate(key: key, flags: 0, expiry: vivify, valueLength: 0, memcachedEviction: true) {
            lockedLink(fresh, hv)
            found = fresh
            reply.created = true
        }
        guard let it = found else { return reply }
        reply.found = true
        // A created item counts as found, as memcached's mg counts it (a hit, or a touch hit).
        if request.touchExpiry != nil {
            classCommands.add(.touchHits, it.slabClass, hash: hv)
        } else {
            classCommands.addHit(it.slabClass, segment: Int(it.classAndSegment >> 6), hash: hv)
        }
        reply.info = itemInfo(it)
        var won = reply.created
        if let recache = request.recacheBefore {
            let expiry = request.touchBeforeRecache ? (request.touchExpiry ?? it.expiry) : it.expiry
            if it.flags & ItemFlag.tokenSent == 0 && !reply.created && expiry != 0 && expiry < recache {
                won = true
            }
        }
        if let touch = request.touchExpiry { lockedSetExpiry(it, touch) }
        reply.touchedExpiry = it.expiry
        reply.tokenSent = it.flags & ItemFlag.tokenSent != 0
        reply.stale = it.flags & ItemFlag.stale != 0
        if reply.stale && !reply.tokenSent { won = true }
        if won { it.flags |= ItemFlag.tokenSent }
        reply.won = won
        if request.bump { lockedBump(it) }
        if request.keepItem { reply.item = it } else { refDecrement(it) }
        return reply
    }

    /// `me`: a copy of the live item's header without counting an access (expired and flushed
    /// items found on the way are unlinked, as by any lookup).
    /// `database`, `anyType`: as `get`'s.
    public func inspect(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int = 0, anyType: Bool = false) -> ItemInfo? {
        var outcome = GetOutcome.miss
        return inspect(key, hash: hv, database: database, anyType: anyType, outcome: &outcome)
    }

    /// `inspect`, saying how the lookup went (`.expired`: it found the key expired and removed it,
    /// which Redis mode's keyspace notifications publish).
    public func inspect(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int = 0, anyType: Bool = false,
                        outcome: inout GetOutcome) -> ItemInfo? {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        guard let it = lockedGet(key, hv, database: database, anyType: anyType, bump: false, outcome: &outcome) else { return nil }
        defer { refDecrement(it) }
        return itemInfo(it)
    }

    /// `inspect` that changes nothing: an expired or flushed item reads as absent but stays
    /// linked (no removal, no `expired` report). Redis mode's WATCH and EXEC compare what they
    /// see this way, as redis's keyIsExpired, which deletes nothing.
    public func peek(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int = 0) -> ItemInfo? {
        peekWithExpired(key, hash: hv, database: database).info
    }

    /// `peek`, and the unique of an expired item still linked under the key (0 when there is
    /// none): WATCH tells a key stored and expired since it (redis marks the store) from one
    /// that was never there. A flushed item counts as absent.
    public func peekWithExpired(_ key: UnsafeRawBufferPointer, hash hv: UInt32,
                                database: Int = 0) -> (info: ItemInfo?, expiredCAS: UInt64) {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        guard let it = lockedHashFind(key, hv, database: physicalDatabase(database)) else { return (nil, 0) }
        let now = clock.current
        if isFlushed(it, now: now) { return (nil, 0) }
        if expired(it, now: now) { return (nil, itemInfo(it).cas) }
        return (itemInfo(it), 0)
    }
}
