// A copy of an item's header taken under its item lock, so that a protocol composes its reply
// after the lock is released and never reads or writes the header itself (DESIGN.md §1: the item
// layout stays in the engine).

/// An item's header fields as they were when an engine operation looked at it.
public struct ItemInfo: Sendable {
    public var cas: UInt64 = 0
    public var clientFlags: UInt32 = 0
    public var valueLength = 0
    /// Process time of expiry (0 = never).
    public var expiry: UInt32 = 0
    /// Process time of the last access before this operation.
    public var lastAccess: UInt32 = 0
    /// The LFU counter, decayed to now (OBJECT FREQ; meaningful while an LFU policy runs).
    public var frequency: UInt8 = 0
    public var slabClass = 0
    /// Bytes the item takes as stored (header, key, value).
    public var size = 0
    /// Fetched before this operation (meta's h, me's fetch=).
    public var fetched = false
    /// The value's type (a Redis key's).
    public var type = ItemType.string
    /// Stored by a meta set with the b flag (Item.binaryKey).
    public var binaryKey = false
    /// A millisecond expiry's last-second milliseconds (bit 15 set), or 0 (`Item.expiryMs`).
    var expiryMs: UInt16 = 0

    public init() {}

    init(_ it: Item, now: UInt32, lfuDecayMinutes: Int) {
        cas = it.cas
        clientFlags = it.clientFlags
        valueLength = it.valueLength
        expiry = it.expiry
        lastAccess = it.lastAccess(now: now)
        frequency = LFU.decayed(it.lfuCounter, elapsedMinutes: LFU.elapsedMinutes(from: lastAccess, to: now),
                                decayMinutes: lfuDecayMinutes)
        slabClass = it.slabClass
        size = ItemLayout.totalSize(keyLength: it.keyLength, valueLength: it.valueLength)
        fetched = it.flags & ItemFlag.fetched != 0
        type = it.type
        binaryKey = it.binaryKey
        expiryMs = it.expiryMs
    }

    /// The Unix time in milliseconds at which the item expires, nil for never (Redis's
    /// PEXPIRETIME): a whole-second expiry at its second, a millisecond one at its millisecond.
    public func expiryUnixMilliseconds(processStarted: Int) -> Int? {
        if expiry == 0 { return nil }
        if expiryMs & 0x8000 == 0 { return (processStarted + Int(expiry)) * 1000 }
        return (processStarted + Int(expiry) - 1) * 1000 + Int(expiryMs & 0x3ff)
    }
}
