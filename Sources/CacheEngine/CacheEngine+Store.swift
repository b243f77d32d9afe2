// Stores and deletes: memcached's do_store_item (set add replace append prepend cas, with the meta
// set's stale CAS, explicit CAS and vivify-on-miss) and deletes (plain, with a CAS to match, or
// meta's invalidate, which marks the item stale instead of removing it). Each takes the key's item
// lock; nothing outside the engine does.

/// memcached's store commands.
public enum StoreMode: Sendable {
    case set, add, replace, append, prepend, cas
}

public enum StoreResult: Sendable, Equatable {
    case stored, notStored, exists, notFound
}

extension CacheEngine {
    /// memcached's do_store_item. `item` is a fresh item from `allocate` (the caller keeps and
    /// releases its own reference). Returns the result and, when stored, the new CAS.
    ///
    /// The meta set's I flag: `allowStale` lets a `.cas` with an older unique store the value
    /// marked stale. (memcached 1.6.18's meta set has no E, and N does not create an item for an
    /// append: neither is offered here.)
    ///
    /// `anyType` (the Redis port): `.replace` and `.cas` find a key of any type (SET XX, KEEPTTL
    /// replace a list); without it they see strings only, as the memcached port does.
    @inline(__always)
    public func store(_ item: Item, hash hv: UInt32, mode: StoreMode, casIn: UInt64,
                      allowStale: Bool = false, anyType: Bool = false) -> (StoreResult, UInt64) {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        lockedPrefetchHinted()
        classCommands.add(.cmdSet, item.slabClass, hash: hv)
        return lockedStore(item, hv, mode: mode, casIn: casIn, allowStale: allowStale, anyType: anyType)
    }

    /// `store` with the item lock held. `allowStale` (meta set's I flag): a `.cas` whose unique is
    /// older than the item's still stores, marking the new value stale. `newCAS` (E flag) is the
    /// unique to give the stored item.
    func lockedStore(_ item: Item, _ hv: UInt32, mode: StoreMode, casIn: UInt64,
                     allowStale: Bool = false, newCAS: UInt64? = nil, anyType: Bool = false) -> (StoreResult, UInt64) {
        var outcome = GetOutcome.miss
        var stored = StoreResult.notStored
        var storedItem = item
        if let old = lockedGet(item.key, hv, physical: item.database, anyType: true, bump: false, outcome: &outcome) {
            defer { refDecrement(old) }
            // A Redis list, hash... under the key: replaced by a set, present for an add; the
            // memcached port's append, prepend, replace and cas see no string there.
            if old.type != .string && mode != .set && mode != .add && !(anyType && (mode == .replace || mode == .cas)) {
                return (mode == .cas ? .notFound : .notStored, 0)
            }
            let casMatch = casIn == 0 ? nil : casIn == old.cas
            var doStore = false
            switch mode {
            case .add:
                lockedUpdate(old)
            case .cas:
                if casMatch == true {
                    classCommands.add(.casHits, old.slabClass, hash: hv)
                    doStore = true
                } else if allowStale && casIn < old.cas {
                    // memcached's CAS_STALE: the value goes in, marked stale, keeping the TTL and
                    // whether a win token went out.
                    item.expiry = old.expiry
                    item.flags |= ItemFlag.stale | (old.flags & ItemFlag.tokenSent)
                    doStore = true
                } else {
                    classCommands.add(.casBadval, old.slabClass, hash: hv)
                    stored = .exists
                }
            case .append, .prepend:
                if casMatch == false { stored = .exists; break }
                guard case .item(let combined) = allocate(
                    key: item.key, flags: old.clientFlags, expiry: old.expiry,
                    valueLength: old.valueLength + item.valueLength, memcachedEviction: true) else { break }
                if mode == .append {
                    copyValue(from: old, to: combined, at: 0)
                    copyValue(from: item, to: combined, at: old.valueLength)
                } else {
                    copyValue(from: item, to: combined, at: 0)
                    copyValue(from: old, to: combined, at: item.valueLength)
                }
                storedItem = combined
                doStore = true
            case .set, .replace:
                doStore = true
            }
            if doStore {
                lockedReplace(old, with: storedItem, hv, cas: newCAS)
                stored = .stored
            }
            if storedItem != item { refDecrement(storedItem) }
        } else {
            switch mode {
            case .add, .set:
                lockedLink(item, hv, cas: newCAS)
                stored = .stored
            case .cas:
                stored = .notFound
            case .replace, .append, .prepend:
                break
            }
        }
        return (stored, stored == .stored ? storedItem.cas : 0)
    }

    /// Removes the item under `key`; false when there was none.
    /// `anyType`: whatever the key holds (Redis's DEL); memcached's delete sees strings only.
    public func delete(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int = 0, anyType: Bool = false) -> Bool {
        var outcome = GetOutcome.miss
        return delete(key, hash: hv, database: database, anyType: anyType, outcome: &outcome)
    }

    /// `delete`, saying what the lookup met (`.expired`/`.flushed`: a dead item it unlinked).
    public func delete(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int = 0, anyType: Bool = false,
                       outcome: inout GetOutcome) -> Bool {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        guard let it = lockedGet(key, hv, database: database, anyType: anyType, bump: false, outcome: &outcome) else { return false }
        classCommands.add(.deleteHits, it.slabClass, hash: hv)
        lockedUnlink(it, hv)
        refDecrement(it)
        return true
    }

    /// A delete with meta's and the binary protocol's conditions: `casIn` must equal the item's
    /// unique when given; `invalidate` (meta's I) marks the item stale instead of removing it, with
    /// a new unique (`StaleMark.newCAS`, else the next one) and optionally a new expiry, so that the
    /// next reader wins the recache.
    public func delete(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int = 0, casIn: UInt64?,
                       invalidate: StaleMark? = nil) -> DeleteResult {
        var outcome = GetOutcome.miss
        return delete(key, hash: hv, database: database, casIn: casIn, invalidate: invalidate, outcome: &outcome)
    }

    /// The conditional `delete`, saying what the lookup met.
    public func delete(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int = 0, casIn: UInt64?,
                       invalidate: StaleMark? = nil, outcome: inout GetOutcome) -> DeleteResult {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        guard let it = lockedGet(key, hv, database: database, bump: false, outcome: &outcome) else { return .notFound }
        defer { refDecrement(it) }
        if let casIn, casIn != it.cas { return .exists }
        classCommands.add(.deleteHits, it.slabClass, hash: hv)
        if let mark = invalidate {
            if let expiry = mark.expiry { lockedSetExpiry(it, expiry) }
            it.flags = (it.flags | ItemFlag.stale) & ~ItemFlag.tokenSent
            it.cas = mark.newCAS ?? nextCAS()
        } else {
            lockedUnlink(it, hv)
        }
        return .deleted
    }
}

public enum DeleteResult: Sendable, Equatable {
    case deleted, notFound
    /// The item's CAS unique differs from the one given.
    case exists
}

/// How meta delete's I flag leaves an item: stale, with this expiry (nil: unchanged) and unique.
public struct StaleMark: Sendable {
    public var expiry: UInt32?
    public var newCAS: UInt64?
    public init(expiry: UInt32?, newCAS: UInt64?) {
        self.expiry = expiry
        self.newCAS = newCAS
    }
}
