// Keys whose value lives outside the engine: a Redis stream's entries are a log of the broker
// (Broker/Log/Streams), and its key is a root item of type `.stream` holding only an opaque
// 8-byte token (naming an object its owner keeps). The key is an item like any other (hash table,
// LRU, expiry, eviction, TYPE, DEL, RENAME, FLUSHDB), so the keyspace rules hold unchanged; the
// owner installs three hooks: `release` when the root's last reference goes (whatever freed it:
// DEL, overwrite, expiry, eviction, FLUSHDB), `copy` for COPY, and `moved` when a rename or move
// hands the token to the new root (the old one's is zeroed, so its release frees nothing, as a
// list's detach).
// The token is read under the item lock, where the owner turns it into a reference of its own
// (`withExternalValue`), so a concurrent DEL cannot free the object under a reader.
import Platform
import Synchronization

/// The owner's hooks for `.stream` roots' tokens. Called with an item lock held: they must take
/// no engine lock.
public final class ExternalValueHooks: Sendable {
    let release: @Sendable (UInt64) -> Void
    let copy: @Sendable (UInt64) -> UInt64?
    /// The token now lives under another key (RENAME, MOVE): the old key let go of it.
    let moved: @Sendable (UInt64) -> Void

    public init(release: @escaping @Sendable (UInt64) -> Void, copy: @escaping @Sendable (UInt64) -> UInt64?,
                moved: @escaping @Sendable (UInt64) -> Void = { _ in }) {
        self.release = release
        self.copy = copy
        self.moved = moved
    }
}

/// What a lookup of an external value found.
public enum ExternalLookup<T> {
    case found(T)
    case wrongType
    case none
}

/// What creating an external value's key did.
public enum ExternalCreateResult: Sendable, Equatable {
    case created
    /// A live key holds the name (of any type): look again.
    case exists
    case tooLarge
    case outOfMemory
}

extension CacheEngine {
    /// The value bytes of an external value's root.
    public static let externalValueLength = 8

    /// Installs the owner's hooks (once, before the port serves).
    public func setExternalValueHooks(_ hooks: ExternalValueHooks) {
        externalValueHooks.withLock { $0 = hooks }
    }

    /// `body` on the token of `key`'s value when it is of `type`, run under the key's item lock.
    public func withExternalValue<T>(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int = 0, type: ItemType,
                                     _ body: (UInt64) -> T) -> ExternalLookup<T> {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        var outcome = GetOutcome.miss
        guard let it = lockedGet(key, hv, database: database, anyType: true, bump: true, outcome: &outcome) else { return .none }
        defer { refDecrement(it) }
        guard it.type == type else { return .wrongType }
        let token = it.value.loadUnaligned(as: UInt64.self)
        guard token != 0 else { return .none }
        return .found(body(token))
    }

    /// A new CAS unique for `key`'s root when it is of `type`, as a store would give it: the
    /// value behind it changed outside the engine (a stream's entries), which a Redis WATCH of the
    /// key must see. Not a use of the key (no LRU bump).
    public func renewCAS(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int = 0, type: ItemType) {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        var outcome = GetOutcome.miss
        guard let it = lockedGet(key, hv, database: database, anyType: true, bump: false, outcome: &outcome) else { return }
        defer { refDecrement(it) }
        if it.type == type { it.cas = nextCAS() }
    }

    /// Links a new root of `type` for `key` holding `token`, unless a live key has the name.
    /// On any result but `.created` the token stays the caller's.
    public func createExternal(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int = 0, type: ItemType,
                               token: UInt64) -> ExternalCreateResult {
        switch allocate(key: key, flags: 0, expiry: 0, valueLength: Self.externalValueLength, database: database, type: type) {
        case .tooLarge: return .tooLarge
        case .outOfMemory: return .outOfMemory
        case .item(let it):
            it.value.storeBytes(of: token, as: UInt64.self)
            let (r, _) = store(it, hash: hv, mode: .add, casIn: 0, anyType: true)
            // Not linked: its release must not give the caller's token back.
            if r != .stored { it.value.storeBytes(of: 0, as: UInt64.self) }
            refDecrement(it)
            return r == .stored ? .created : .exists
        }
    }

    /// From `freeItem`: a root's token goes back to its owner.
    func releaseExternalValue(_ it: Item) {
        guard it.valueLength == Self.externalValueLength, !it.isChunked else { return }
        let token = it.value.loadUnaligned(as: UInt64.self)
        guard token != 0, let hooks = externalValueHooks.load() else { return }
        hooks.release(token)
    }

    /// A transfer's new root for `source`'s token: handed over (rename, move; the source's is
    /// zeroed) or copied by the owner (COPY). Both keys' item locks held.
    func lockedTransferExternal(_ source: Item, to newKey: UnsafeRawBufferPointer, database: Int,
                                keepSource: Bool) -> TransferValue {
        let token = source.value.loadUnaligned(as: UInt64.self)
        var given = token
        if keepSource {
            guard token != 0, let hooks = externalValueHooks.load(), let copy = hooks.copy(token) else {
                return .outOfMemory
            }
            given = copy
        }
        switch allocate(key: newKey, flags: 0, expiry: 0, valueLength: Self.externalValueLength, database: database,
                        type: source.type) {
        case .item(let it):
            it.value.storeBytes(of: given, as: UInt64.self)
            if !keepSource {
                source.value.storeBytes(of: 0, as: UInt64.self)
                externalValueHooks.load()?.moved(token)
            }
            return .item(it)
        case .tooLarge:
            if keepSource { externalValueHooks.load()?.release(given) }
            return .tooLarge
        case .outOfMemory:
            if keepSource { externalValueHooks.load()?.release(given) }
            return .outOfMemory
        }
    }
}
