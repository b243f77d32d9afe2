// The metadata a warm restart (`-e <file>`) keeps in `<file>.meta`, as memcached keeps its own
// there: the settings the memory layout depends on, the clock, the CAS counter, the flush marks,
// the allocator's page table, and the list of linked items in LRU order with a checksum of each.
// The item list is saved rather than found by walking the pages because a chunked item's value
// chunks have no header here: walking pages could not tell a value chunk whose bytes look like a
// header from an item. The file is binary, little-endian, and ends with a checksum of all of it;
// any field that cannot be read, or a checksum that does not match, refuses the whole file.
import SlabAllocator
#if canImport(Glibc)
import Glibc
#endif

/// A 64-bit checksum of bytes (8 at a time, a multiply and a shift per word): the item
/// checksums and the meta file's own. It detects damage, it is not a cryptographic hash.
struct RestartChecksum {
    private(set) var state: UInt64 = 0x243F_6A88_85A3_08D3

    @inline(__always)
    private mutating func word(_ w: UInt64) {
        var x = (state ^ w) &* 0x9E37_79B9_7F4A_7C15
        x ^= x >> 29
        state = x
    }

    mutating func add(_ p: UnsafeRawPointer, _ n: Int) {
        var i = 0
        while i + 8 <= n {
            word(p.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            i += 8
        }
        if i < n {
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < n {
                tail |= UInt64(p.load(fromByteOffset: i, as: UInt8.self)) << shift
                shift += 8
                i += 1
            }
            word(tail ^ (shift << 53))
        }
        word(UInt64(n))
    }

    var value32: UInt32 { UInt32(truncatingIfNeeded: state ^ (state >> 32)) }
}

/// The saved state, decoded and checked for consistency with itself (its counts and bounds);
/// whether it fits this run is `mismatch(with:)`.
public struct WarmRestartMeta: Sendable {
    static let magic: UInt64 = 0x4D52_4157_4443_5753  // "SWCDWARM" read little-endian
    /// Bumped whenever the layout of this file or of the item header changes.
    public static let formatVersion: UInt32 = 2

    public var serverVersion: String
    // Settings the memory layout depends on (memcached's list plus ours).
    var memoryLimit: Int
    var itemSizeMax: Int
    var chunkSizeMin: Int
    var factorBits: UInt64
    var pageSize: Int
    var chunkMax: Int
    var slabSizes: [Int]
    var useCAS: Bool
    var headerSize: Int
    var reservedPrefix: Int
    var fileBytes: Int
    // Online state.
    public var processStarted: Int
    public var currentTime: UInt32
    public var stopTime: Int
    var casCounter: UInt64
    var oldestLive: UInt32
    var oldestCAS: UInt64
    /// Redis's logical → physical database map (SWAPDB): item headers hold physical databases.
    var databaseMap: UInt64
    var hashPower: Int
    var layout: SlabLayout
    /// Items per LRU list (index = class | segment << 6), then each list's items head to tail.
    var listCounts: [Int]
    var handles: [UInt32]
    var checksums: [UInt32]

    /// The process time to resume at: the saved time plus the seconds the server was down.
    public func resumeTime(unixNow: Int) -> UInt32 {
        let down = max(0, unixNow - stopTime)
        return currentTime &+ UInt32(clamping: down)
    }

    /// Why this saved cache cannot be restored under `settings` (memcached compares the same
    /// settings, in its words where it has them), or nil when it can.
    public func mismatch(with settings: EngineSettings, serverVersion version: String) -> String? {
        if serverVersion != version { return "saved by swiftcached \(serverVersion), this is \(version)" }
        if memoryLimit != settings.memoryLimit {
            return "memory limit (-m) changed: \(memoryLimit / (1024 * 1024)) MB saved, \(settings.memoryLimit / (1024 * 1024)) MB now"
        }
        if itemSizeMax != settings.itemSizeMax { return "item size max (-I) changed: \(itemSizeMax) saved, \(settings.itemSizeMax) now" }
        if chunkSizeMin != settings.chunkSizeMin { return "chunk size (-n) changed: \(chunkSizeMin) saved, \(settings.chunkSizeMin) now" }
        if factorBits != settings.growthFactor.bitPattern {
            return "growth factor (-f) changed: \(Double(bitPattern: factorBits)) saved, \(settings.growthFactor) now"
        }
        if pageSize != settings.slabPageSize { return "slab_page_size changed: \(pageSize) saved, \(settings.slabPageSize) now" }
        if chunkMax != settings.slabChunkMax { return "slab_chunk_max changed: \(chunkMax) saved, \(settings.slabChunkMax) now" }
        if slabSizes != (settings.slabSizes ?? []) { return "slab_sizes changed" }
        if useCAS != settings.useCAS { return "use_cas (-C) changed: \(useCAS) saved, \(settings.useCAS) now" }
        if headerSize != ItemLayout.headerSize || reservedPrefix != SlabArena.reservedPrefix { return "item layout changed" }
        return nil
    }

    // MARK: encoding

    func encode() -> [UInt8] {
        var w = ByteWriter()
        w.u64(Self.magic)
        w.u32(Self.formatVersion)
        w.string(serverVersion)
        for v in [memoryLimit, itemSizeMax, chunkSizeMin] { w.int(v) }
        w.u64(factorBits)
        for v in [pageSize, chunkMax] { w.int(v) }
        w.u32(UInt32(slabSizes.count))
        for v in slabSizes { w.int(v) }
        w.u8(useCAS ? 1 : 0)
        for v in [headerSize, reservedPrefix, fileBytes, processStarted] { w.int(v) }
        w.u32(currentTime)
        w.int(stopTime)
        w.u64(casCounter)
        w.u32(oldestLive)
        w.u64(oldestCAS)
        w.u64(databaseMap)
        w.int(hashPower)
        w.int(layout.nextPage)
        w.u32(UInt32(layout.pageOwners.count))
        w.bytes.append(contentsOf: layout.pageOwners)
        w.u32(UInt32(layout.carveNext.count))
        for i in 0..<layout.carveNext.count {
            w.int(layout.carveNext[i])
            w.int(layout.carveEnd[i])
        }
        w.u32(UInt32(listCounts.count))
        for c in listCounts { w.u32(UInt32(c)) }
        w.u32s(handles)
        w.u32s(checksums)
        var sum = RestartChecksum()
        w.bytes.withUnsafeBytes { sum.add($0.baseAddress!, $0.count) }
        w.u64(sum.state)
        return w.bytes
    }

    /// Decodes a meta file's bytes; the reason it cannot be used otherwise.
    static func decode(_ bytes: UnsafeRawBufferPointer) -> Result<WarmRestartMeta, WarmRestartRefusal> {
        guard bytes.count >= 20 else { return .failure(.init("metadata file is truncated")) }
        var sum = RestartChecksum()
        sum.add(bytes.baseAddress!, bytes.count - 8)
        guard bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self) == magic else {
            return .failure(.init("metadata file is not a swiftcached restart file"))
        }
        let version = bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
        guard version == formatVersion else {
            return .failure(.init("metadata file format \(version), this server reads \(formatVersion)"))
        }
        guard bytes.loadUnaligned(fromByteOffset: bytes.count - 8, as: UInt64.self) == sum.state else {
            return .failure(.init("metadata file checksum does not match (damaged or truncated)"))
        }
        var r = ByteReader(UnsafeRawBufferPointer(rebasing: bytes[12..<(bytes.count - 8)]))
        guard let meta = Self.read(&r), r.atEnd else { return .failure(.init("metadata file is malformed")) }
        return .success(meta)
    }

    private static func read(_ r: inout ByteReader) -> WarmRestartMeta? {
        guard let serverVersion = r.string(),
              let memoryLimit = r.int(), let itemSizeMax = r.int(), let chunkSizeMin = r.int(),
              let factorBits = r.u64(), let pageSize = r.int(), let chunkMax = r.int(),
              let sizesCount = r.u32(), sizesCount <= 64 else { return nil }
        var slabSizes: [Int] = []
        for _ in 0..<sizesCount {
            guard let v = r.int() else { return nil }
            slabSizes.append(v)
        }
        guard let cas = r.u8(), let headerSize = r.int(), let reservedPrefix = r.int(), let fileBytes = r.int(),
              let processStarted = r.int(), let currentTime = r.u32(), let stopTime = r.int(),
              let casCounter = r.u64(), let oldestLive = r.u32(), let oldestCAS = r.u64(),
              let databaseMap = r.u64(), CacheEngine.isDatabaseMap(databaseMap),
              let hashPower = r.int(), hashPower >= 1, hashPower <= 32,
              let nextPage = r.int(), let pages = r.u32(), let owners = r.byteArray(Int(pages)),
              let classCount = r.u32(), classCount <= 64 else { return nil }
        var carveNext: [Int] = [], carveEnd: [Int] = []
        for _ in 0..<classCount {
            guard let n = r.int(), let e = r.int() else { return nil }
            carveNext.append(n)
            carveEnd.append(e)
        }
        guard let listCount = r.u32(), listCount == UInt32(CacheEngine.lruCount) else { return nil }
        var listCounts: [Int] = []
        var total = 0
        for _ in 0..<listCount {
            guard let c = r.u32() else { return nil }
            listCounts.append(Int(c))
            total += Int(c)
        }
        guard let handles = r.u32s(), let checksums = r.u32s(), handles.count == total, checksums.count == total else { return nil }
        return WarmRestartMeta(
            serverVersion: serverVersion, memoryLimit: memoryLimit, itemSizeMax: itemSizeMax, chunkSizeMin: chunkSizeMin,
            factorBits: factorBits, pageSize: pageSize, chunkMax: chunkMax, slabSizes: slabSizes, useCAS: cas != 0,
            headerSize: headerSize, reservedPrefix: reservedPrefix, fileBytes: fileBytes, processStarted: processStarted,
            currentTime: currentTime, stopTime: stopTime, casCounter: casCounter, oldestLive: oldestLive, oldestCAS: oldestCAS, databaseMap: databaseMap,
            hashPower: hashPower, layout: SlabLayout(nextPage: nextPage, pageOwners: owners, carveNext: carveNext, carveEnd: carveEnd),
            listCounts: listCounts, handles: handles, checksums: checksums)
    }

    // MARK: the file

    /// What reading `<memory file>.meta` found. The file is removed once read, valid or not, as
    /// memcached removes it: a crash after this start must not restore this state again.
    public enum Loaded: Sendable {
        case missing
        case refused(WarmRestartRefusal)
        case meta(WarmRestartMeta)
    }

    public static func metaPath(memoryFile: String) -> String { memoryFile + ".meta" }

    public static func load(memoryFile: String) -> Loaded {
        let path = metaPath(memoryFile: memoryFile)
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            return errno == ENOENT ? .missing : .refused(.init("cannot open \(path): \(String(cString: strerror(errno)))"))
        }
        defer {
            close(fd)
            unlink(path)
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return .refused(.init("cannot stat \(path)")) }
        // Bounded: 8 bytes per item of a 32 GB arena of 48-byte chunks is under 6 GB; refuse
        // anything larger than the items this arena could hold could explain.
        let size = Int(st.st_size)
        guard size <= 8 << 30 else { return .refused(.init("metadata file is too large (\(size) bytes)")) }
        var bytes = [UInt8](repeating: 0, count: size)
        let ok = bytes.withUnsafeMutableBytes { buf -> Bool in
            var done = 0
            while done < size {
                let n = Glibc.read(fd, buf.baseAddress! + done, size - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                done += n
            }
            return true
        }
        guard ok else { return .refused(.init("cannot read \(path)")) }
        switch bytes.withUnsafeBytes({ decode($0) }) {
        case .success(let m): return .meta(m)
        case .failure(let why): return .refused(why)
        }
    }

    /// Writes the file atomically (a temporary file, fsync, rename).
    func write(memoryFile: String) -> String? {
        let path = Self.metaPath(memoryFile: memoryFile)
        let tmp = path + ".tmp"
        let fd = Glibc.open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return "cannot create \(tmp): \(String(cString: strerror(errno)))" }
        let bytes = encode()
        let written = bytes.withUnsafeBytes { buf -> Bool in
            var done = 0
            while done < buf.count {
                let n = Glibc.write(fd, buf.baseAddress! + done, buf.count - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                done += n
            }
            return true
        }
        let synced = fsync(fd) == 0
        close(fd)
        guard written, synced, rename(tmp, path) == 0 else {
            unlink(tmp)
            return "failed to write metadata file \(path)"
        }
        return nil
    }
}

/// Why a saved cache was not restored (the server logs it and starts empty).
public struct WarmRestartRefusal: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

struct ByteWriter {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func int(_ v: Int) { u64(UInt64(bitPattern: Int64(v))) }
    mutating func string(_ s: String) {
        let utf8 = Array(s.utf8)
        u32(UInt32(utf8.count))
        bytes.append(contentsOf: utf8)
    }
    mutating func u32s(_ a: [UInt32]) {
        u32(UInt32(a.count))
        a.withUnsafeBytes { bytes.append(contentsOf: $0) }
    }
}

/// Reads what `ByteWriter` wrote; every read is bounds-checked and returns nil past the end.
struct ByteReader {
    let buf: UnsafeRawBufferPointer
    var pos = 0
    init(_ buf: UnsafeRawBufferPointer) { self.buf = buf }
    var atEnd: Bool { pos == buf.count }
    private mutating func take(_ n: Int) -> Int? {
        guard n >= 0, n <= buf.count - pos else { return nil }
        defer { pos += n }
        return pos
    }
    mutating func u8() -> UInt8? { take(1).map { buf[$0] } }
    mutating func u32() -> UInt32? { take(4).map { UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: $0, as: UInt32.self)) } }
    mutating func u64() -> UInt64? { take(8).map { UInt64(littleEndian: buf.loadUnaligned(fromByteOffset: $0, as: UInt64.self)) } }
    mutating func int() -> Int? { u64().map { Int(Int64(bitPattern: $0)) } }
    mutating func byteArray(_ n: Int) -> [UInt8]? { take(n).map { Array(buf[$0..<($0 + n)]) } }
    mutating func string() -> String? {
        guard let n = u32(), n <= 256, let b = byteArray(Int(n)) else { return nil }
        return String(decoding: b, as: UTF8.self)
    }
    mutating func u32s() -> [UInt32]? {
        guard let n = u32(), let at = take(Int(n) * 4) else { return nil }
        if n == 0 { return [] }
        return [UInt32](unsafeUninitializedCapacity: Int(n)) { out, count in
            memcpy(out.baseAddress!, buf.baseAddress! + at, Int(n) * 4)
            count = Int(n)
        }
    }
}
