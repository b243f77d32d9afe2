// Warm restart (`-e <file>`, memcached's restartable cache). The arena is a MAP_SHARED mapping of
// the memory file, so the items are in the file when the process stops. `saveWarmRestart` runs
// once the server, the broker and the engine's threads have stopped (nothing touches item memory
// any more): it lists the linked items of every LRU list, head to tail, with a checksum of each,
// and writes that with the allocator's page table, the clock and the CAS counter to
// `<file>.meta`. `restore` runs at start-up before any thread exists: it trusts nothing it reads
// without checking it. Each item's handle must name a handed-out chunk of its class (and each of
// a chunked item's chunks one of theirs), no chunk may be claimed twice, the header must be
// coherent and its checksum must match; an item that fails is dropped (its chunks come back
// free), so a damaged file yields the intact items and never a wrong value. The hash table and
// the LRU lists are rebuilt from the list (LRU order and segments as they were); every chunk no
// restored item claims is free, which is how the broker's messages (slab items never linked in
// the hash table; their queues come back from their journals) and items unlinked but still
// referenced at the stop are dropped.
import Platform
import SlabAllocator
#if canImport(Glibc)
import Glibc
#endif

/// What a restore did.
public struct WarmRestartReport: Sendable {
    public var restored = 0
    /// Items dropped because a check failed (bounds, header, checksum, a chunk claimed twice).
    public var damaged = 0
    /// Items whose TTL passed during the downtime, or flushed before the stop.
    public var expired = 0
    /// Set when nothing could be restored (the allocator's saved layout does not fit).
    public var refusal: WarmRestartRefusal?
    public var microseconds = 0
}

/// The memory file itself: created or opened, sized, and emptied unless its contents are to be
/// restored.
public enum MemoryFile {
    /// The file's size for these settings: the arena's reserved prefix, -m, and the first page
    /// every class may take past -m.
    public static func bytes(for settings: EngineSettings) -> Int {
        SlabArena.totalBytes(for: SlabAllocator.reservation(
            forLimit: settings.memoryLimit, table: CacheEngine.classTable(settings), file: true))
    }

    /// Opens `path` (created 0600 if missing) and takes an exclusive lock on it for the life of
    /// the process: a second server given the same file is refused instead of emptying the
    /// memory of the one running.
    public static func open(_ path: String) -> Result<Int32, WarmRestartRefusal> {
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return .failure(.init("failed to open memory file \(path): \(String(cString: strerror(errno)))")) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let e = errno
            close(fd)
            return .failure(.init(e == EWOULDBLOCK
                ? "memory file \(path) is in use by another process"
                : "failed to lock memory file \(path): \(String(cString: strerror(e)))"))
        }
        return .success(fd)
    }

    /// Sizes the open file. `keep`: the contents stay if the file already has `bytes` bytes;
    /// otherwise (or when `keep` is false) it is emptied first, so a fresh start never sees old
    /// bytes. Returns whether the contents were kept, and the size found.
    public static func prepare(_ fd: Int32, bytes: Int, keep: Bool) -> Result<(kept: Bool, found: Int), WarmRestartRefusal> {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return .failure(.init("failed to stat memory file: \(String(cString: strerror(errno)))")) }
        let found = Int(st.st_size)
        if keep && found == bytes { return .success((true, found)) }
        guard ftruncate(fd, 0) == 0, ftruncate(fd, off_t(bytes)) == 0 else {
            return .failure(.init("failed to size memory file to \(bytes) bytes: \(String(cString: strerror(errno)))"))
        }
        return .success((false, found))
    }
}

/// What a warm-restart save wrote.
public struct WarmRestartSave: Sendable, Equatable {
    public var saved: Int
    /// Redis keys of other types than strings, not saved (their list nodes cannot be checked at
    /// a restore; the chunks they held are freed by it).
    public var droppedNonStrings: Int
}

extension CacheEngine {
    /// Saves the metadata of a warm restart. Call only once nothing else runs (the server, the
    /// broker and `EngineThreads` stopped). Returns the number of items saved, or why it failed.
    /// Keys of other types than strings (Redis lists: their nodes are not listed, so a restore
    /// could not check them) are left out and counted in `droppedNonStrings`.
    public func saveWarmRestart(memoryFile: String, serverVersion: String) -> Result<WarmRestartSave, WarmRestartRefusal> {
        guard arena.isFileBacked else { return .failure(.init("no memory file")) }
        let layout = slabs.layout()
        // A cycle in a list (never expected) cannot make this loop forever: no list holds more
        // items than the arena has chunks of the smallest class.
        let bound = (layout.nextPage - SlabArena.reservedPrefix) / max(1, slabs.table.chunkSizes[1]) + 1
        var counts = [Int](repeating: 0, count: Self.lruCount)
        var handles: [UInt32] = []
        var sums: [UInt32] = []
        var dropped = 0
        handles.reserveCapacity(currentItemCount())
        sums.reserveCapacity(currentItemCount())
        for id in 0..<Self.lruCount {
            var h = lrus[id].head
            var steps = 0
            while h != 0 && steps < bound {
                steps += 1
                let it = Item(arena.pointer(h))
                if it.flags & ItemFlag.crawler == 0 && it.flags & ItemFlag.linked != 0 && it.type != .string {
                    dropped += 1
                } else if it.flags & ItemFlag.crawler == 0 && it.flags & ItemFlag.linked != 0 {
                    handles.append(h)
                    sums.append(itemChecksum(it))
                    counts[id] += 1
                }
                h = it.next
            }
        }
        // The server's timer may have stopped with its event loop a while ago: the saved time
        // is read from the monotonic clock now, paired with the Unix time of the same moment.
        clock.tick()
        let meta = WarmRestartMeta(
            serverVersion: serverVersion, memoryLimit: settings.memoryLimit, itemSizeMax: settings.itemSizeMax,
            chunkSizeMin: settings.chunkSizeMin, factorBits: settings.growthFactor.bitPattern, pageSize: settings.slabPageSize,
            chunkMax: settings.slabChunkMax, slabSizes: settings.slabSizes ?? [], useCAS: settings.useCAS,
            headerSize: ItemLayout.headerSize, reservedPrefix: SlabArena.reservedPrefix, fileBytes: arena.reservedBytes,
            processStarted: clock.processStarted, currentTime: clock.current, stopTime: Int(time(nil)),
            casCounter: casCounter.pointee.load(ordering: .relaxed), oldestLive: oldestLive.pointee.load(ordering: .relaxed),
            oldestCAS: oldestCAS.pointee.load(ordering: .relaxed), databaseMap: databaseMapWord, hashPower: hashTable.pointee.power, layout: layout,
            listCounts: counts, handles: handles, checksums: sums)
        // The items reach the file before the metadata that names them exists.
        guard arena.sync() else { return .failure(.init("msync of the memory file failed: \(String(cString: strerror(errno)))")) }
        if let why = meta.write(memoryFile: memoryFile) { return .failure(.init(why)) }
        return .success(WarmRestartSave(saved: handles.count, droppedNonStrings: dropped))
    }

    /// The checksum of everything a restored item is read from: CAS, times, lengths, flags,
    /// class, key and value (a chunked item's chunk table and chunks). Not the links or the
    /// refcount, which the restore rewrites.
    func itemChecksum(_ it: Item) -> UInt32 {
        var sum = RestartChecksum()
        sum.add(it.raw + ItemLayout.casOffset, 8)
        sum.add(it.raw + ItemLayout.timeOffset, 16)
        if !it.isChunked {
            // Flags, class, key length, key and value are contiguous: one pass.
            sum.add(it.raw + ItemLayout.flagsOffset, ItemLayout.headerSize - ItemLayout.flagsOffset + it.keyLength + it.valueLength)
            return sum.value32
        }
        sum.add(it.raw + ItemLayout.flagsOffset, ItemLayout.headerSize - ItemLayout.flagsOffset + it.keyLength)
        let n = chunkCount(it)
        sum.add(UnsafeRawPointer(chunkTable(it)), 4 * n)
        for i in 0..<n {
            let seg = valueSegment(it, i)
            sum.add(seg.baseAddress!, seg.count)
        }
        return sum.value32
    }

    /// Restores the items `meta` lists (start-up, before any other thread uses the engine; the
    /// meta passed `mismatch(with:)` and the memory file was kept).
    public func restore(_ meta: WarmRestartMeta) -> WarmRestartReport {
        var report = WarmRestartReport()
        var started = timespec()
        clock_gettime(CLOCK_MONOTONIC, &started)
        // The reserved prefix holds only markers of the previous run's walks: start it clean.
        memset(arena.base, 0, SlabArena.reservedPrefix)
        if meta.fileBytes != arena.reservedBytes {
            report.refusal = .init("memory file size changed: \(meta.fileBytes) saved, \(arena.reservedBytes) now")
            return report
        }
        if let why = slabs.check(meta.layout) {
            report.refusal = .init(why)
            return report
        }
        let total = meta.handles.count
        resizeHashTable(forItems: total, savedPower: meta.hashPower)
        let claims = slabs.beginRestore(meta.layout)
        let now = clock.current
        oldestLive.pointee.store(meta.oldestLive, ordering: .relaxed)
        oldestCAS.pointee.store(meta.oldestCAS, ordering: .relaxed)
        casCounter.pointee.store(meta.casCounter, ordering: .relaxed)
        databaseMapWord = meta.databaseMap
        // Pass 1, in the saved order (which follows memory closely): check each item and link it
        // into its LRU list; keep its handle and hash.
        var linked: [SlabHandle] = []
        var hashes: [UInt32] = []
        linked.reserveCapacity(total)
        hashes.reserveCapacity(total)
        var index = 0
        for id in 0..<Self.lruCount {
            for _ in 0..<meta.listCounts[id] {
                let h = meta.handles[index], sum = meta.checksums[index]
                index += 1
                switch restoreItem(h, checksum: sum, listID: id, claims: claims, now: now) {
                case .restored(let hv):
                    report.restored += 1
                    linked.append(h)
                    hashes.append(hv)
                case .damaged: report.damaged += 1
                case .expired: report.expired += 1
                }
            }
        }
        claims.finish()
        linkHashChains(linked, hashes)
        var ended = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ended)
        report.microseconds = (ended.tv_sec - started.tv_sec) * 1_000_000 + (ended.tv_nsec - started.tv_nsec) / 1000
        return report
    }

    private enum RestoreOutcome { case restored(hash: UInt32), damaged, expired }

    /// Passes 2 and 3: the bucket heads in a tight loop whose only random accesses are the
    /// table's (a bucket read is a cache miss; this loop keeps many in flight, where one per
    /// checked item stalled the restore), each item's chain link into a side array; then the
    /// links into the items, in their order.
    private func linkHashChains(_ handles: [SlabHandle], _ hashes: [UInt32]) {
        let n = handles.count
        var chain = [SlabHandle](repeating: 0, count: n)
        let primary = hashTable.pointee.primary
        let mask = (1 << hashTable.pointee.power) - 1
        handles.withUnsafeBufferPointer { hs in
            hashes.withUnsafeBufferPointer { hv in
                chain.withUnsafeMutableBufferPointer { next in
                    for i in 0..<n {
                        let b = primary + (Int(hv[i]) & mask)
                        next[i] = b.pointee
                        b.pointee = hs[i]
                    }
                    for i in 0..<n { Item(arena.pointer(hs[i])).hashNext = next[i] }
                }
            }
        }
    }

    private func restoreItem(_ h: SlabHandle, checksum: UInt32, listID id: Int, claims: SlabRestore, now: UInt32) -> RestoreOutcome {
        let cls = id & 0x3f
        let largest = slabs.table.largest
        guard cls >= 1, cls <= largest else { return .damaged }
        // The header chunk's class is the owner of its page; `chunkClass` checks the handle
        // names a handed-out chunk start of a taken page before anything is read through it.
        guard let owner = claims.chunkClass(h) else { return .damaged }
        let it = Item(arena.pointer(h))
        let flags = it.flags
        let keyLength = it.keyLength
        guard it.classAndSegment == UInt8(id), flags & ItemFlag.linked != 0, flags & ItemFlag.crawler == 0,
              keyLength >= 1, keyLength <= ItemLayout.maxKeyLength else { return .damaged }
        let size = claims.chunkSize(owner)
        var chunks: [(SlabHandle, Int)] = []
        if flags & ItemFlag.chunked == 0 {
            guard owner == cls, ItemLayout.totalSize(keyLength: keyLength, valueLength: it.valueLength) <= size,
                  claims.canClaim(h, classID: owner) else { return .damaged }
        } else {
            let valueLength = it.valueLength
            guard cls == largest, valueLength > 0,
                  ItemLayout.memcachedSize(keyLength: keyLength, valueLength: valueLength, flags: 0, cas: false) <= settings.itemSizeMax
            else { return .damaged }
            let n = chunkCount(it)
            guard chunkedHeaderClass(keyLength: keyLength, chunks: n) == owner,
                  chunkTableOffset(keyLength: keyLength) + 4 * n <= size,
                  claims.canClaim(h, classID: owner) else { return .damaged }
            let handles = chunkTable(it)
            chunks.reserveCapacity(n)
            for i in 0..<n {
                let c = handles[i]
                let cc = chunkClass(it, i, count: n)
                // A chunk must be free to claim: claim as we go so that a chunk named twice (in
                // this item or by an earlier one) fails, and give them back if one does.
                guard cc >= 1, claims.canClaim(c, classID: cc) else {
                    for (ch, chc) in chunks { claims.unclaim(ch, classID: chc) }
                    return .damaged
                }
                claims.claim(c, classID: cc, raw: true)
                chunks.append((c, cc))
            }
        }
        // Now every byte the checksum reads is known to be inside this item's chunks.
        guard itemChecksum(it) == checksum else {
            for (ch, chc) in chunks { claims.unclaim(ch, classID: chc) }
            return .damaged
        }
        if (it.expiry != 0 && it.expiry <= now) || isFlushed(it, now: now) {
            for (ch, chc) in chunks { claims.unclaim(ch, classID: chc) }
            return .expired
        }
        // No lookup for the key first: the saved table held one item per key, and a key
        // changed by damage fails its checksum, so a second item with the same key cannot get
        // here (short of a 32-bit checksum collision). Walking the chain cost a cache miss per
        // item, most of the restore's time.
        let hv = Self.hash(it.key)
        claims.claim(h, classID: owner)
        it.refcount.pointee.store(1, ordering: .relaxed)  // the hash table's reference
        let list = lrus + id
        it.next = 0
        it.prev = list.pointee.tail
        if list.pointee.tail != 0 { Item(arena.pointer(list.pointee.tail)).next = h } else { list.pointee.head = h }
        list.pointee.tail = h
        list.pointee.stats.number += 1
        list.pointee.stats.bytes += itemTotalBytes(it)
        if it.expiry != 0 { list.pointee.expiring += 1 }
        sizes.linked(keyLength: keyLength, valueLength: it.valueLength)
        databaseCounts.linked(it)
        return .restored(hash: hv)
    }

    /// Before a restore links anything: a table large enough for the items (the saved power, or
    /// more so that the load stays under the expander's 1.5).
    private func resizeHashTable(forItems n: Int, savedPower: Int) {
        var power = max(settings.hashPowerInit, min(savedPower, 31))
        if settings.hashExpand {
            while power < 31 && n > (3 << power) / 2 { power += 1 }
        }
        guard power != hashTable.pointee.power else { return }
        let size = 1 << power
        let table = UnsafeMutablePointer<SlabHandle>.allocate(capacity: size)
        table.initialize(repeating: 0, count: size)
        hashTable.pointee.primary.deallocate()
        hashTable.pointee.primary = table
        hashTable.pointee.power = power
    }
}
