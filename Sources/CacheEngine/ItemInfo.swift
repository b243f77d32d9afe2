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
    public var slabClass = 0
    /// Bytes the item takes as stored (header, key, value).
    public var size = 0
    /// Fetched before this operation (meta's h, me's fetch=).
    public var fetched = false

    public init() {}

    init(_ it: Item) {
        cas = it.cas
        clientFlags = it.clientFlags
        valueLength = it.valueLength
        expiry = it.expiry
        lastAccess = it.time
        slabClass = it.slabClass
        size = ItemLayout.totalSize(keyLength: it.keyLength, valueLength: it.valueLength)
        fetched = it.flags & ItemFlag.fetched != 0
    }
}
