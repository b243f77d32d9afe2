// A key's value under another key or database: RENAME, RENAMENX, MOVE and COPY as one engine
// operation each, atomic: both keys' item locks are held (taken in stripe order, as lockAll
// takes them, so no two transfers deadlock; other paths hold one item lock and only try others)
// while the destination is checked, the new item linked and, for a rename or move, the source
// unlinked. Type, value and expiry (to the millisecond) go along.
//
// What "the value goes along" means depends on the type, in one switch (`lockedTransferValue`):
// a string's bytes are copied into the new item. A list, hash, set or sorted set root's value is a descriptor of
// node items: a rename or move hands the descriptor to the new root, a copy copies the nodes. A
// stream's root holds its owner's token (CacheEngine+ExternalValues.swift): handed over, or copied
// by the owner's hook.

/// What a transfer did.
public enum KeyTransferResult: Sendable, Equatable {
    case done
    case noSource
    /// The destination holds a key and the operation does not replace it (RENAMENX, MOVE, COPY
    /// without REPLACE).
    case destinationExists
    /// The source's type cannot be transferred yet.
    case unsupportedType(ItemType)
    case tooLarge
    case outOfMemory
}

extension CacheEngine {
    /// RENAME / RENAMENX (`replace` false): `key` of logical `database` becomes `newKey` of the
    /// same database. The caller handles `key == newKey`.
    public func renameKey(_ key: UnsafeRawBufferPointer, to newKey: UnsafeRawBufferPointer, database: Int,
                          replace: Bool) -> KeyTransferResult {
        transfer(key, database, to: newKey, database, replace: replace, keepSource: false)
    }

    /// MOVE key db: to another logical database, never replacing.
    public func moveKey(_ key: UnsafeRawBufferPointer, from database: Int, to target: Int) -> KeyTransferResult {
        transfer(key, database, to: key, target, replace: false, keepSource: false)
    }

    /// COPY source destination [DB n] [REPLACE].
    public func copyKey(_ key: UnsafeRawBufferPointer, from database: Int, to newKey: UnsafeRawBufferPointer,
                        database target: Int, replace: Bool) -> KeyTransferResult {
        transfer(key, database, to: newKey, target, replace: replace, keepSource: true)
    }

    private func transfer(_ key: UnsafeRawBufferPointer, _ database: Int, to newKey: UnsafeRawBufferPointer,
                          _ target: Int, replace: Bool, keepSource: Bool) -> KeyTransferResult {
        let hv = Self.hash(key), newHV = Self.hash(newKey)
        let a = Int(hv) & itemLocks.mask, b = Int(newHV) & itemLocks.mask
        itemLocks.lock(UInt32(min(a, b)))
        if a != b { itemLocks.lock(UInt32(max(a, b))) }
        defer {
            if a != b { itemLocks.unlock(UInt32(max(a, b))) }
            itemLocks.unlock(UInt32(min(a, b)))
        }
        var outcome = GetOutcome.miss
        guard let source = lockedGet(key, hv, database: database, anyType: true, bump: false, outcome: &outcome) else {
            return .noSource
        }
        defer { refDecrement(source) }
        let existing = lockedGet(newKey, newHV, database: target, anyType: true, bump: false, outcome: &outcome)
        defer { if let existing { refDecrement(existing) } }
        if existing != nil && !replace { return .destinationExists }
        let fresh: Item
        switch lockedTransferValue(source, to: newKey, database: target, keepSource: keepSource) {
        case .item(let it): fresh = it
        case .tooLarge: return .tooLarge
        case .outOfMemory: return .outOfMemory
        case .unsupported(let type): return .unsupportedType(type)
        }
        defer { refDecrement(fresh) }
        fresh.expiry = source.expiry
        fresh.expiryMs = source.expiryMs
        if let existing { lockedReplace(existing, with: fresh, newHV) } else { lockedLink(fresh, newHV) }
        if !keepSource { lockedUnlink(source, hv) }
        return .done
    }

    enum TransferValue {
        case item(Item)
        case tooLarge, outOfMemory
        case unsupported(ItemType)
    }

    /// A new unlinked item (one reference, the caller's) for `newKey` in logical `database`
    /// holding `source`'s value, by type. Both keys' item locks held.
    private func lockedTransferValue(_ source: Item, to newKey: UnsafeRawBufferPointer, database: Int,
                                     keepSource: Bool) -> TransferValue {
        switch source.type {
        case .string:
            switch allocate(key: newKey, flags: source.clientFlags, expiry: 0, valueLength: source.valueLength,
                            database: database, type: .string) {
            case .item(let it):
                copyValue(from: source, to: it, at: 0)
                return .item(it)
            case .tooLarge: return .tooLarge
            case .outOfMemory: return .outOfMemory
            }
        case .list:
            switch allocate(key: newKey, flags: 0, expiry: 0, valueLength: Self.listRootValueLength,
                            database: database, type: .list) {
            case .item(let it):
                if keepSource {
                    guard let copy = lockedListCopy(source) else {
                        // The new root's value is not a descriptor yet: its release must free nothing.
                        it.listDescriptor = ListDescriptor()
                        refDecrement(it)
                        return .outOfMemory
                    }
                    lockedListAttach(copy, to: it)
                } else {
                    // Nothing can fail after this: the source is unlinked with an empty descriptor.
                    lockedListAttach(lockedListDetach(source), to: it)
                }
                return .item(it)
            case .tooLarge: return .tooLarge
            case .outOfMemory: return .outOfMemory
            }
        case .hash, .set, .zset:
            switch allocate(key: newKey, flags: 0, expiry: 0, valueLength: Self.hashRootValueLength,
                            database: database, type: source.type) {
            case .item(let it):
                if keepSource {
                    guard let copy = source.type == .zset ? lockedZSetCopy(source) : lockedHashCopy(source) else {
                        it.hashDescriptor = HashDescriptor()
                        refDecrement(it)
                        return .outOfMemory
                    }
                    lockedHashAttach(copy, to: it)
                } else {
                    lockedHashAttach(lockedHashDetach(source), to: it)
                }
                return .item(it)
            case .tooLarge: return .tooLarge
            case .outOfMemory: return .outOfMemory
            }
        case .stream:
            return lockedTransferExternal(source, to: newKey, database: database, keepSource: keepSource)
        }
    }
}
