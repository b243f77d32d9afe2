// A sorted-set member and its skip-list node in one item (issue 14): the member's compact entry
// (KeylessLayout.swift, flagged `KeylessFlag.zsetNode`) carries the node's backward link, level
// and levels after the member and its score (ZSetLayout.swift), so a member of 10 bytes at level
// 1 takes one 56-byte chunk where an entry and a node of their own took a 48- and a 40-byte one
// (and a 96-byte one each before the keyless classes). A member whose folded size passes the
// largest keyless class (a long member or a tall node), or that finds its class without memory,
// is a 44-byte entry with a node of its own, which the entry names in its expiry field (unused on
// entries) so that freeing the entry frees the node (`releaseKeyless`). Item lock held throughout.
import SlabAllocator

extension CacheEngine {
    /// A new member with its node, both unlinked (level and score set, links 0); nil when no
    /// memory. Folded when a keyless class holds it and has a chunk.
    func newZslMember(_ m: UnsafeRawBufferPointer, _ score: Double, level: Int) -> (Item, ZslNode)? {
        let h = Self.hash(m)
        if let e = newEntry(fieldLength: m.count, length: m.count + 8, hash: h, extra: 5 + 8 * level,
                            flags: KeylessFlag.zsetNode, compactOnly: true) {
            writeEntry(e, at: 0, m)
            let x = ZslNode(e)
            x.score = score
            x.level = level
            x.backward = 0
            for i in 0..<level {
                x.setForward(i, 0)
                x.setSpan(i, 0)
            }
            return (e, x)
        }
        guard let x = newZslNode(level: level) else { return nil }
        guard case .item(let e) = allocate(key: Self.noKey, flags: UInt32(m.count), expiry: 0, valueLength: m.count + 8) else {
            releaseKeyless(x.item)
            return nil
        }
        e.entryHash = h
        e.next = 0
        e.prev = 0
        e.hashNext = 0
        writeEntry(e, at: 0, m)
        withUnsafeBytes(of: score.bitPattern) { writeEntry(e, at: m.count, $0) }
        e.expiry = arena.handle(x.item.raw)
        x.entry = arena.handle(e.raw)
        x.score = score
        return (e, x)
    }

    /// A member whose node `x` is out of the skip list leaves the hashtable and is freed (with
    /// its node when it has one of its own); its memory is uncounted.
    func lockedZslFree(_ x: ZslNode, _ d: inout HashDescriptor) {
        let e = zslEntry(x)
        lockedFieldUnlink(e, &d)
        if !x.folded { d.memory -= chunkBytes(x.item) }
        releaseKeyless(e)
    }
}
