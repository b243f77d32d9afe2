// Redis lists as storage operations (layout: ListNode.swift). Each public operation takes the
// key's item lock (LMOVE both keys' locks, lower stripe first), finds the root with
// `lockedGet(anyType:)`, works on its nodes and descriptor, and gives the root a new CAS unique
// when the list changed (WATCH sees it). A list emptied by a pop, trim or removal loses its root,
// as redis deletes the key. Elements are handed to the caller as `ListElement`s while the lock is
// held: the caller copies them into its reply and keeps nothing.
//
// Node allocation is the engine's (`allocChunk`: it evicts from the node's class as any
// allocation does). A push that runs out of memory half-way takes back what it added.
import SlabAllocator
#if canImport(Glibc)
import Glibc
#endif

/// Which end of a list.
public enum ListEnd: Sendable, Equatable {
    case head, tail
}

/// What a list write did.
public enum ListWriteResult: Sendable, Equatable {
    /// The list's length after it.
    case length(Int)
    /// No key (PUSHX, LINSERT, LSET on a missing key).
    case noKey
    /// LINSERT's pivot is not in the list.
    case pivotNotFound
    /// LSET's index is past either end.
    case outOfRange
    case wrongType
    case outOfMemory
    /// An element larger than -I allows for an item.
    case tooLarge
}

/// What a list read found.
public enum ListReadResult: Sendable, Equatable {
    case ok
    case noKey
    case wrongType
}

/// What LMOVE did.
public enum ListMoveResult: Sendable, Equatable {
    case moved([UInt8])
    case noKey
    case wrongType
    case outOfMemory
}

/// A list's size (OBJECT ENCODING, MEMORY USAGE).
public struct ListSummary: Sendable, Equatable {
    public var count: Int
    /// The elements' own bytes.
    public var bytes: Int
    public var nodes: Int
}

extension CacheEngine {
    /// A packed node's largest size, header included: redis's 8 KB listpack (list-max-listpack-size -2).
    static let listNodeMax = 8192

    /// A packed node's largest data capacity.
    @inline(__always)
    var listPackedMax: Int { min(encodingLimits.listNodeBytes, slabs.table.chunkMax) - ItemLayout.headerSize }

    @inline(__always)
    func node(_ h: SlabHandle) -> Item { Item(arena.pointer(h)) }

    // MARK: public operations

    /// LPUSH / RPUSH (and their X forms with `onlyIfExists`): `count` elements, each from
    /// `element(i)`, pushed in order at `end`.
    public func listPush(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, end: ListEnd,
                         count: Int, onlyIfExists: Bool = false,
                         element: (Int) -> UnsafeRawBufferPointer) -> ListWriteResult {
        for i in 0..<count where listElementTooLarge(element(i).count) { return .tooLarge }
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        let (found, wrongType) = lockedListRoot(key, hv, database)
        if wrongType { return .wrongType }
        if found == nil && onlyIfExists { return .noKey }
        guard let root = found ?? newListRoot(key, database) else { return .outOfMemory }
        var d = root.listDescriptor
        let before = d.count
        for i in 0..<count {
            if !lockedListInsert(&d, at: end == .head ? 0 : d.count, element(i)) {
                lockedListRemove(&d, from: end == .head ? 0 : before, count: d.count - before)
                root.listDescriptor = d
                refDecrement(root)
                return .outOfMemory
            }
        }
        lockedListCommit(root, d, hv, created: found == nil)
        return .length(d.count)
    }

    /// LPOP / RPOP: up to `count` elements from `end`, handed to `visit` (in popping order) after
    /// `willVisit` learns how many; removed after.
    public func listPop(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, end: ListEnd, count: Int,
                        willVisit: (Int) -> Void = { _ in }, visit: (ListElement) -> Void) -> ListReadResult {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        let (found, wrongType) = lockedListRoot(key, hv, database)
        if wrongType { return .wrongType }
        guard let root = found else { return .noKey }
        var d = root.listDescriptor
        let n = min(count, d.count)
        willVisit(n)
        guard n > 0 else { refDecrement(root); return .ok }
        if end == .head {
            lockedListVisit(d, from: 0, count: n) { visit($0); return true }
            lockedListRemove(&d, from: 0, count: n)
        } else {
            lockedListVisitBackward(d, from: d.count - 1, count: n) { visit($0); return true }
            lockedListRemove(&d, from: d.count - n, count: n)
        }
        lockedListCommit(root, d, hv, created: false)
        return .ok
    }

    /// LLEN (0 for no key), or nil for a key of another type.
    public func listLength(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int) -> Int? {
        listSummary(key, hash: hv, database: database, missing: ListSummary(count: 0, bytes: 0, nodes: 0))?.count
    }

    /// The list's size; `missing` for no key; nil for another type.
    public func listSummary(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int,
                            missing: ListSummary? = nil) -> ListSummary? {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        let (found, wrongType) = lockedListRoot(key, hv, database)
        if wrongType { return nil }
        guard let root = found else { return missing }
        defer { refDecrement(root) }
        let d = root.listDescriptor
        return ListSummary(count: d.count, bytes: d.bytes, nodes: d.nodes)
    }

    /// LRANGE with redis's index rules (negative from the end, clamped).
    public func listRange(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, start: Int, stop: Int,
                          willVisit: (Int) -> Void, visit: (ListElement) -> Void) -> ListReadResult {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        let (found, wrongType) = lockedListRoot(key, hv, database)
        if wrongType { return .wrongType }
        guard let root = found else { return .noKey }
        defer { refDecrement(root) }
        let d = root.listDescriptor
        guard let (first, last) = Self.listSpan(start, stop, d.count) else { willVisit(0); return .ok }
        willVisit(last - first + 1)
        lockedListVisit(d, from: first, count: last - first + 1) { visit($0); return true }
        return .ok
    }

    /// LINDEX: `visit` sees the element when the index is in range.
    public func listIndex(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, index: Int,
                          visit: (ListElement?) -> Void) -> ListReadResult {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        let (found, wrongType) = lockedListRoot(key, hv, database)
        if wrongType { return .wrongType }
        guard let root = found else { return .noKey }
        defer { refDecrement(root) }
        let d = root.listDescriptor
        let i = index < 0 ? d.count + index : index
        guard i >= 0 && i < d.count else { visit(nil); return .ok }
        lockedListVisit(d, from: i, count: 1) { visit($0); return true }
        return .ok
    }

    /// LSET.
    public func listSet(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, index: Int,
                        element: UnsafeRawBufferPointer) -> ListWriteResult {
        if listElementTooLarge(element.count) { return .tooLarge }
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        let (found, wrongType) = lockedListRoot(key, hv, database)
        if wrongType { return .wrongType }
        guard let root = found else { return .noKey }
        var d = root.listDescriptor
        let i = index < 0 ? d.count + index : index
        guard i >= 0 && i < d.count else { refDecrement(root); return .outOfRange }
        // The new element goes in before the old one is taken out: no memory, no change.
        guard lockedListInsert(&d, at: i, element) else {
            root.listDescriptor = d
            refDecrement(root)
            return .outOfMemory
        }
        lockedListRemove(&d, from: i + 1, count: 1)
        lockedListCommit(root, d, hv, created: false)
        return .length(d.count)
    }

    /// LINSERT BEFORE|AFTER pivot.
    public func listInsert(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, before: Bool,
                           pivot: UnsafeRawBufferPointer, element: UnsafeRawBufferPointer) -> ListWriteResult {
        if listElementTooLarge(element.count) { return .tooLarge }
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        let (found, wrongType) = lockedListRoot(key, hv, database)
        if wrongType { return .wrongType }
        guard let root = found else { return .noKey }
        var d = root.listDescriptor
        var at = -1
        var i = 0
        lockedListVisit(d, from: 0, count: d.count) { e in
            if e.equals(pivot) { at = i; return false }
            i += 1
            return true
        }
        guard at >= 0 else { refDecrement(root); return .pivotNotFound }
        guard lockedListInsert(&d, at: before ? at : at + 1, element) else {
            root.listDescriptor = d
            refDecrement(root)
            return .outOfMemory
        }
        lockedListCommit(root, d, hv, created: false)
        return .length(d.count)
    }

    /// LREM: removes up to |count| elements equal to `element` (count > 0 from the head, < 0
    /// from the tail, 0 all); returns how many, or nil for another type.
    public func listRemove(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, count: Int,
                           element: UnsafeRawBufferPointer) -> Int? {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        let (found, wrongType) = lockedListRoot(key, hv, database)
        if wrongType { return nil }
        guard let root = found else { return 0 }
        var d = root.listDescriptor
        let limit = count == 0 || count == Int.min ? Int.max : abs(count)
        let removed = count >= 0 ? lockedListRemoveMatching(&d, element, limit: limit)
                                 : lockedListRemoveMatchingBackward(&d, element, limit: limit)
        if removed > 0 { lockedListCommit(root, d, hv, created: false) } else { refDecrement(root) }
        return removed
    }

    /// LTRIM with LRANGE's index rules; nil for another type.
    public func listTrim(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int, start: Int, stop: Int) -> Bool {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        let (found, wrongType) = lockedListRoot(key, hv, database)
        if wrongType { return false }
        guard let root = found else { return true }
        var d = root.listDescriptor
        let total = d.count
        if let (first, last) = Self.listSpan(start, stop, total) {
            lockedListRemove(&d, from: last + 1, count: total - last - 1)
            lockedListRemove(&d, from: 0, count: first)
        } else {
            lockedListRemove(&d, from: 0, count: total)
        }
        if d.count != total { lockedListCommit(root, d, hv, created: false) } else {
            // Nothing trimmed is still a write of the key: redis's ltrimCommand signals it (WATCH)
            // whenever the list exists.
            root.cas = nextCAS()
            refDecrement(root)
        }
        return true
    }

    /// LPOS: the indexes of elements equal to `element`, in the order found (`rank` > 0 from the
    /// head skipping rank - 1 matches, < 0 from the tail), at most `count` (0: all), comparing
    /// at most `maxLength` elements (0: all).
    public func listPositions(_ key: UnsafeRawBufferPointer, hash hv: UInt32, database: Int,
                              element: UnsafeRawBufferPointer, rank: Int, count: Int, maxLength: Int,
                              visit: (Int) -> Void) -> ListReadResult {
        itemLocks.lock(hv)
        defer { itemLocks.unlock(hv) }
        let (found, wrongType) = lockedListRoot(key, hv, database)
        if wrongType { return .wrongType }
        guard let root = found else { return .noKey }
        defer { refDecrement(root) }
        let d = root.listDescriptor
        guard d.count > 0 else { return .ok }
        var skip = rank == Int.min ? Int.max : abs(rank) - 1
        var matches = 0
        var seen = 0
        let limit = maxLength == 0 ? d.count : min(maxLength, d.count)
        let check: (ListElement) -> Bool = { e in
            let index = rank > 0 ? seen : d.count - 1 - seen
            seen += 1
            if e.equals(element) {
                if skip > 0 {
                    skip -= 1
                } else {
                    visit(index)
                    matches += 1
                    if count != 0 && matches == count { return false }
                }
            }
            return true
        }
        if rank > 0 {
            lockedListVisit(d, from: 0, count: limit, check)
        } else {
            lockedListVisitBackward(d, from: d.count - 1, count: limit, check)
        }
        return .ok
    }

    /// LMOVE / RPOPLPUSH: the element at `from` of `source` goes to `to` of `destination` (same
    /// database); the moved element's bytes are returned.
    public func listMove(_ source: UnsafeRawBufferPointer, hash sh: UInt32, _ destination: UnsafeRawBufferPointer,
                         hash dh: UInt32, database: Int, from: ListEnd, to: ListEnd) -> ListMoveResult {
        itemLocks.lockPair(sh, dh)
        defer { itemLocks.unlockPair(sh, dh) }
        let (found, wrongType) = lockedListRoot(source, sh, database)
        if wrongType { return .wrongType }
        guard let src = found else { return .noKey }
        let same = source.count == destination.count
            && (source.count == 0 || memcmp(source.baseAddress!, destination.baseAddress!, source.count) == 0)
        var dst: Item? = nil
        if !same {
            let (f, w) = lockedListRoot(destination, dh, database)
            if w { refDecrement(src); return .wrongType }
            dst = f
        }
        var sd = src.listDescriptor
        let fromIndex = from == .head ? 0 : sd.count - 1
        var copied: [UInt8] = []
        lockedListVisit(sd, from: fromIndex, count: 1) { e in
            copied = e.bytes
            return true
        }
        if same {
            if from == to || sd.count == 1 {
                // The list reads as before, yet redis popped and pushed: the key is signalled
                // (WATCH), so it gets a new CAS unique.
                src.cas = nextCAS()
                refDecrement(src)
                return .moved(copied)
            }
            lockedListRemove(&sd, from: fromIndex, count: 1)
            let ok = copied.withUnsafeBytes { lockedListInsert(&sd, at: to == .head ? 0 : sd.count, $0) }
            if !ok {
                // No memory even after freeing the element's place: put it back where it was.
                _ = copied.withUnsafeBytes { lockedListInsert(&sd, at: from == .head ? 0 : sd.count, $0) }
            }
            lockedListCommit(src, sd, sh, created: false)
            return ok ? .moved(copied) : .outOfMemory
        }
        guard let target = dst ?? newListRoot(destination, database) else { refDecrement(src); return .outOfMemory }
        var dd = target.listDescriptor
        let ok = copied.withUnsafeBytes { lockedListInsert(&dd, at: to == .head ? 0 : dd.count, $0) }
        guard ok else {
            target.listDescriptor = dd
            refDecrement(target)
            refDecrement(src)
            return .outOfMemory
        }
        lockedListCommit(target, dd, dh, created: dst == nil)
        lockedListRemove(&sd, from: fromIndex, count: 1)
        lockedListCommit(src, sd, sh, created: false)
        return .moved(copied)
    }

    // MARK: for RENAME, COPY and MOVE (called with the item locks held)

    /// Takes the list out of `root`: its descriptor is returned and the root's emptied, so the
    /// root can be unlinked (`lockedUnlink`) without freeing the nodes, which now belong to
    /// whoever holds the descriptor. Item lock held.
    func lockedListDetach(_ root: Item) -> ListDescriptor {
        let d = root.listDescriptor
        root.listDescriptor = ListDescriptor()
        return d
    }

    /// Gives `root` (a new `.list` item from `allocate(..., valueLength: listRootValueLength,
    /// type: .list)`, not yet linked) the list `d`. Item lock held.
    func lockedListAttach(_ d: ListDescriptor, to root: Item) {
        root.listDescriptor = d
    }

    /// The value length a list root is allocated with.
    public static let listRootValueLength = ListDescriptor.size

    /// A deep copy of `root`'s list (new nodes, same elements), nil when memory runs out (the
    /// part copied is freed). Item lock held.
    func lockedListCopy(_ root: Item) -> ListDescriptor? {
        let d = root.listDescriptor
        var copy = ListDescriptor()
        var h = d.head
        while h != 0 {
            let n = node(h)
            var m: Item? = nil
            if n.isChunked {
                if case .item(let c) = allocate(key: Self.noKey, flags: 0, expiry: 0, valueLength: n.valueLength) {
                    copyValue(from: n, to: c, at: 0)
                    m = c
                }
            } else if let c = allocListNode(capacity: n.nodeUsed) {
                memcpy(c.value, n.value, n.nodeUsed)
                m = c
            }
            guard let m else {
                var f = copy.head
                while f != 0 { let x = node(f); f = x.next; refDecrement(x) }
                return nil
            }
            m.nodeUsed = n.nodeUsed
            m.nodeCount = n.nodeCount
            m.nodeElementBytes = n.nodeElementBytes
            lockedLinkNode(m, after: copy.tail == 0 ? nil : node(copy.tail), &copy)
            h = n.next
        }
        copy.count = d.count
        copy.bytes = d.bytes
        return copy
    }

    // MARK: internals (item lock held)

    static var noKey: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: 8), count: 0) }

    /// Whether an element of `length` bytes is past what -I allows an item.
    @inline(__always)
    func listElementTooLarge(_ length: Int) -> Bool {
        itemSizeNeeded(keyLength: 0, valueLength: length, flags: 0) > settings.itemSizeMax
    }

    /// The list under `key` with a reference, or none; `wrongType` for another type.
    func lockedListRoot(_ key: UnsafeRawBufferPointer, _ hv: UInt32, _ database: Int) -> (Item?, wrongType: Bool) {
        var outcome = GetOutcome.miss
        guard let it = lockedGet(key, hv, database: database, anyType: true, bump: true, outcome: &outcome) else { return (nil, false) }
        if it.type != .list {
            refDecrement(it)
            return (nil, true)
        }
        return (it, false)
    }

    /// A new, empty, unlinked root (one reference, the caller's).
    func newListRoot(_ key: UnsafeRawBufferPointer, _ database: Int) -> Item? {
        guard case .item(let root) = allocate(key: key, flags: 0, expiry: 0, valueLength: ListDescriptor.size,
                                              database: database, type: .list) else { return nil }
        root.listDescriptor = ListDescriptor()
        return root
    }

    /// Stores the changed descriptor: links a new root, unlinks an emptied one, gives the root a
    /// new CAS; drops the caller's reference.
    func lockedListCommit(_ root: Item, _ d: ListDescriptor, _ hv: UInt32, created: Bool) {
        root.listDescriptor = d
        lockedRootCommit(root, count: d.count, hv, created: created)
    }

    /// The step every node-holding type (list, hash, set, sorted set) ends a change with, its
    /// descriptor already stored: links a new root that holds something, unlinks an emptied
    /// one, else gives the root a new CAS unique (WATCH); drops the caller's reference.
    func lockedRootCommit(_ root: Item, count: Int, _ hv: UInt32, created: Bool) {
        if created {
            if count > 0 { lockedLink(root, hv) }
        } else if count == 0 {
            lockedUnlink(root, hv)
        } else {
            root.cas = nextCAS()
        }
        refDecrement(root)
    }

    /// A packed node with at least `capacity` bytes of data (all its chunk's room), empty.
    func allocListNode(capacity: Int) -> Item? {
        let cls = slabs.table.classID(forSize: ItemLayout.headerSize + capacity)
        guard cls > 0, let h = allocChunk(classID: cls, evictFrom: cls) else { return nil }
        let n = Item(arena.pointer(h))
        n.cas = 0
        n.next = 0
        n.prev = 0
        n.hashNext = 0
        n.accessWord = clock.current & 0xFF_FFFF
        n.expiry = 0
        n.valueLength = slabs.table.chunkSizes[cls] - ItemLayout.headerSize
        n.clientFlags = 0
        n.refcount.pointee.store(1, ordering: .relaxed)
        n.flags = 0
        n.classAndSegment = UInt8(cls)
        n.keyLength = 0
        n.keyspace = 0
        n.expiryMs = 0
        return n
    }

    /// A new node holding just `e`: packed (small, to grow as pushes come), or chunked for an
    /// element past the largest chunk.
    func newListNode(_ e: UnsafeRawBufferPointer) -> Item? {
        let enc = Varint.entrySize(e.count)
        if ItemLayout.headerSize + enc > slabs.table.chunkMax {
            guard case .item(let n) = allocate(key: Self.noKey, flags: 0, expiry: 0, valueLength: e.count) else { return nil }
            writeValue(n, at: 0, e)
            n.nodeCount = 1
            n.nodeUsed = e.count
            n.nodeElementBytes = e.count
            return n
        }
        guard let n = allocListNode(capacity: max(enc, 64)) else { return nil }
        lockedNodeWrite(n, at: 0, e, enc)
        return n
    }

    /// Writes `e` into packed node `n` at byte `o` (room checked by the caller).
    @inline(__always)
    func lockedNodeWrite(_ n: Item, at o: Int, _ e: UnsafeRawBufferPointer, _ enc: Int) {
        let p = n.value
        if o < n.nodeUsed { memmove(p + o + enc, p + o, n.nodeUsed - o) }
        Varint.writeEntry(e, to: p + o)
        n.nodeUsed += enc
        n.nodeCount += 1
        n.nodeElementBytes += e.count
    }

    func lockedLinkNode(_ n: Item, after p: Item?, _ d: inout ListDescriptor) {
        let h = arena.handle(n.raw)
        if let p {
            n.prev = arena.handle(p.raw)
            n.next = p.next
            if p.next != 0 { node(p.next).prev = h } else { d.tail = h }
            p.next = h
        } else {
            n.prev = 0
            n.next = d.head
            if d.head != 0 { node(d.head).prev = h } else { d.tail = h }
            d.head = h
        }
        d.nodes += 1
    }

    func lockedUnlinkNode(_ n: Item, _ d: inout ListDescriptor) {
        if n.prev != 0 { node(n.prev).next = n.next } else { d.head = n.next }
        if n.next != 0 { node(n.next).prev = n.prev } else { d.tail = n.prev }
        n.next = 0
        n.prev = 0
        d.nodes -= 1
    }

    /// Byte offset of element `k` of a node (0 for a chunked node's only element), walked from
    /// the nearer end of the node.
    @inline(__always)
    func nodeOffset(_ n: Item, _ k: Int) -> Int {
        if n.isChunked { return 0 }
        let p = UnsafeRawPointer(n.value)
        if k > n.nodeCount / 2 {
            var o = n.nodeUsed
            for _ in k..<n.nodeCount { o -= Varint.entrySizeBefore(p + o) }
            return o
        }
        var o = 0
        for _ in 0..<k { o += Varint.entry(p + o).size }
        return o
    }

    /// The element at byte `o` of node `n` and the offset after it.
    @inline(__always)
    func nodeElement(_ n: Item, at o: Int) -> (ListElement, Int) {
        if n.isChunked { return (ListElement(engine: self, item: n, start: nil, offset: 0, count: n.valueLength), n.valueLength) }
        let p = UnsafeRawPointer(n.value)
        let (len, s, size) = Varint.entry(p + o)
        return (ListElement(engine: self, item: n, start: p + o + s, offset: o + s, count: len), o + size)
    }

    /// The element that ends at byte `end` of node `n` (> 0) and its offset.
    @inline(__always)
    func nodeElement(_ n: Item, before end: Int) -> (ListElement, Int) {
        if n.isChunked { return (nodeElement(n, at: 0).0, 0) }
        let o = end - Varint.entrySizeBefore(UnsafeRawPointer(n.value) + end)
        return (nodeElement(n, at: o).0, o)
    }

    /// The end of a node's last element.
    @inline(__always)
    func nodeEnd(_ n: Item) -> Int { n.isChunked ? n.valueLength : n.nodeUsed }

    /// The node holding element `index` and the element's place in it, walked from the nearer end.
    func lockedListLocate(_ d: ListDescriptor, _ index: Int) -> (Item, Int) {
        if index <= d.count / 2 {
            var h = d.head
            var i = index
            while true {
                let n = node(h)
                if i < n.nodeCount { return (n, i) }
                i -= n.nodeCount
                h = n.next
            }
        }
        var h = d.tail
        var fromEnd = d.count - 1 - index
        while true {
            let n = node(h)
            if fromEnd < n.nodeCount { return (n, n.nodeCount - 1 - fromEnd) }
            fromEnd -= n.nodeCount
            h = n.prev
        }
    }

    /// Elements `start ..< start + count`, head to tail, until `visit` returns false.
    func lockedListVisit(_ d: ListDescriptor, from start: Int, count: Int, _ visit: (ListElement) -> Bool) {
        guard count > 0 else { return }
        var (n, k) = lockedListLocate(d, start)
        var o = nodeOffset(n, k)
        var left = count
        while left > 0 {
            if k >= n.nodeCount {
                n = node(n.next)
                k = 0
                o = 0
                continue
            }
            let (e, next) = nodeElement(n, at: o)
            if !visit(e) { return }
            o = next
            k += 1
            left -= 1
        }
    }

    /// Elements `start`, `start - 1`, ... (`count` of them), tail to head, until `visit` returns false.
    func lockedListVisitBackward(_ d: ListDescriptor, from start: Int, count: Int, _ visit: (ListElement) -> Bool) {
        guard count > 0 else { return }
        var (n, k) = lockedListLocate(d, start)
        // The end of element k: the next element's offset, or the node's end.
        var end = k + 1 < n.nodeCount ? nodeOffset(n, k + 1) : nodeEnd(n)
        var left = count
        while true {
            while end > 0 && left > 0 {
                let (e, o) = nodeElement(n, before: end)
                if !visit(e) { return }
                left -= 1
                end = o
            }
            if left == 0 || n.prev == 0 { return }
            n = node(n.prev)
            end = nodeEnd(n)
        }
    }

    /// Removes elements `start ..< start + count`: whole nodes are unlinked and freed, partial
    /// ones close the gap with one memmove.
    func lockedListRemove(_ d: inout ListDescriptor, from start: Int, count: Int) {
        guard count > 0 else { return }
        var (n, k) = lockedListLocate(d, start)
        var left = count
        while left > 0 {
            let next = n.next
            if k == 0 && left >= n.nodeCount {
                left -= n.nodeCount
                d.count -= n.nodeCount
                d.bytes -= n.nodeElementBytes
                lockedUnlinkNode(n, &d)
                refDecrement(n)
            } else {
                let take = min(left, n.nodeCount - k)
                let o1 = nodeOffset(n, k)
                var o2 = o1
                var bytes = 0
                let p = n.value
                for _ in 0..<take {
                    let (len, _, size) = Varint.entry(p + o2)
                    o2 += size
                    bytes += len
                }
                memmove(p + o1, p + o2, n.nodeUsed - o2)
                n.nodeUsed -= o2 - o1
                n.nodeCount -= take
                n.nodeElementBytes -= bytes
                d.count -= take
                d.bytes -= bytes
                left -= take
            }
            guard left > 0 else { return }
            n = node(next)
            k = 0
        }
    }

    /// Inserts `e` so that it becomes element `index` (0 ... count); false when no memory.
    func lockedListInsert(_ d: inout ListDescriptor, at index: Int, _ e: UnsafeRawBufferPointer) -> Bool {
        let enc = Varint.entrySize(e.count)
        let ownNode = enc > listPackedMax
        if d.count == 0 {
            guard let m = newListNode(e) else { return false }
            lockedLinkNode(m, after: nil, &d)
            d.count += 1
            d.bytes += e.count
            return true
        }
        var n: Item
        var o: Int
        if index >= d.count {
            n = node(d.tail)
            o = n.nodeUsed
        } else {
            let (x, k) = lockedListLocate(d, index)
            n = x
            o = nodeOffset(x, k)
        }
        if !ownNode && !n.isChunked {
            // Room in the node, or it may grow (up to a listpack's size).
            if n.nodeUsed + enc > n.valueLength && n.valueLength < listPackedMax && n.nodeUsed + enc <= listPackedMax {
                guard let g = lockedGrowNode(n, to: n.nodeUsed + enc, &d) else { return false }
                n = g
            }
            if n.nodeUsed + enc <= n.valueLength {
                lockedNodeWrite(n, at: o, e, enc)
                d.count += 1
                d.bytes += e.count
                return true
            }
        }
        if o == 0 {
            // Before n: at the end of the previous node if it has room, else a new node.
            if !ownNode, n.prev != 0, case let p = node(n.prev), !p.isChunked, p.nodeUsed + enc <= p.valueLength {
                lockedNodeWrite(p, at: p.nodeUsed, e, enc)
            } else {
                guard let m = newListNode(e) else { return false }
                lockedLinkNode(m, after: n.prev == 0 ? nil : node(n.prev), &d)
            }
        } else if o >= n.nodeUsed {
            if !ownNode, n.next != 0, case let x = node(n.next), !x.isChunked, x.nodeUsed + enc <= x.valueLength {
                lockedNodeWrite(x, at: 0, e, enc)
            } else {
                guard let m = newListNode(e) else { return false }
                lockedLinkNode(m, after: n, &d)
            }
        } else {
            // Inside a full node: split it there.
            guard lockedSplitNode(n, at: o, &d) else { return false }
            if !ownNode && o + enc <= n.valueLength {
                lockedNodeWrite(n, at: o, e, enc)
            } else {
                guard let m = newListNode(e) else { return false }
                lockedLinkNode(m, after: n, &d)
            }
        }
        d.count += 1
        d.bytes += e.count
        return true
    }

    /// Replaces packed node `n` by a larger one holding the same elements.
    func lockedGrowNode(_ n: Item, to needed: Int, _ d: inout ListDescriptor) -> Item? {
        let capacity = max(needed, min(2 * n.valueLength, listPackedMax))
        guard let m = allocListNode(capacity: capacity) else { return nil }
        memcpy(m.value, n.value, n.nodeUsed)
        m.nodeUsed = n.nodeUsed
        m.nodeCount = n.nodeCount
        m.nodeElementBytes = n.nodeElementBytes
        let h = arena.handle(m.raw)
        m.prev = n.prev
        m.next = n.next
        if n.prev != 0 { node(n.prev).next = h } else { d.head = h }
        if n.next != 0 { node(n.next).prev = h } else { d.tail = h }
        n.next = 0
        n.prev = 0
        refDecrement(n)
        return m
    }

    /// Moves the elements from byte `o` of packed node `n` into a new node after it.
    func lockedSplitNode(_ n: Item, at o: Int, _ d: inout ListDescriptor) -> Bool {
        let tail = n.nodeUsed - o
        guard let m = allocListNode(capacity: tail) else { return false }
        memcpy(m.value, n.value + o, tail)
        var count = 0
        var bytes = 0
        var x = 0
        let p = UnsafeRawPointer(m.value)
        while x < tail {
            let (len, _, size) = Varint.entry(p + x)
            x += size
            bytes += len
            count += 1
        }
        m.nodeUsed = tail
        m.nodeCount = count
        m.nodeElementBytes = bytes
        n.nodeUsed = o
        n.nodeCount -= count
        n.nodeElementBytes -= bytes
        lockedLinkNode(m, after: n, &d)
        return true
    }

    /// LREM from the head: removes up to `limit` elements equal to `e`.
    func lockedListRemoveMatching(_ d: inout ListDescriptor, _ e: UnsafeRawBufferPointer, limit: Int) -> Int {
        var removed = 0
        var h = d.head
        while h != 0 && removed < limit {
            let n = node(h)
            h = n.next
            var o = 0
            while o < n.nodeUsed && removed < limit {
                let (x, next) = nodeElement(n, at: o)
                if x.equals(e) {
                    lockedNodeRemove(n, from: o, to: next, bytes: x.count, &d)
                    removed += 1
                } else {
                    o = next
                }
            }
            if n.nodeCount == 0 {
                lockedUnlinkNode(n, &d)
                refDecrement(n)
            }
        }
        return removed
    }

    /// LREM from the tail.
    func lockedListRemoveMatchingBackward(_ d: inout ListDescriptor, _ e: UnsafeRawBufferPointer, limit: Int) -> Int {
        var removed = 0
        var h = d.tail
        while h != 0 && removed < limit {
            let n = node(h)
            h = n.prev
            // Backward, so a removal never moves an element still to be visited.
            var end = nodeEnd(n)
            while end > 0 && removed < limit {
                let (x, o) = nodeElement(n, before: end)
                if x.equals(e) {
                    lockedNodeRemove(n, from: o, to: end, bytes: x.count, &d)
                    removed += 1
                }
                end = o
            }
            if n.nodeCount == 0 {
                lockedUnlinkNode(n, &d)
                refDecrement(n)
            }
        }
        return removed
    }

    /// Takes one element (bytes `o1 ..< o2`) out of node `n`.
    @inline(__always)
    func lockedNodeRemove(_ n: Item, from o1: Int, to o2: Int, bytes: Int, _ d: inout ListDescriptor) {
        if !n.isChunked {
            memmove(n.value + o1, n.value + o2, n.nodeUsed - o2)
            n.nodeUsed -= o2 - o1
        } else {
            n.nodeUsed = 0
        }
        n.nodeCount -= 1
        n.nodeElementBytes -= bytes
        d.count -= 1
        d.bytes -= bytes
    }

    /// LRANGE's and LTRIM's span: negative indexes from the end, clamped; nil when empty.
    static func listSpan(_ start: Int, _ stop: Int, _ count: Int) -> (Int, Int)? {
        var s = start < 0 ? count &+ start : start
        var e = stop < 0 ? count &+ stop : stop
        if s < 0 { s = 0 }
        if s > e || s >= count { return nil }
        if e >= count { e = count - 1 }
        return (s, e)
    }
}
