// The slab class table and the page allocator. The expected tables are what Debian's memcached
// 1.6.18 printed with `-vv` at start-up (slab_page_size 1 MB, slab_chunk_max 512 KB in every run),
// copied here verbatim: the class arithmetic must match memcached byte for byte.
import SlabAllocator
import Testing

/// One memcached start-up and the table it printed.
struct MemcachedTable: Sendable, CustomTestStringConvertible {
    let flags: String
    let factor: Double
    let minimumSpace: Int
    let expected: String

    var testDescription: String { "memcached -vv \(flags)" }

    static let pageSize = 1024 * 1024
    static let chunkMax = 512 * 1024

    func makeTable() -> SlabClassTable {
        SlabClassTable(factor: factor, minimumSpace: minimumSpace, pageSize: Self.pageSize, chunkMax: Self.chunkMax)
    }

    /// `memcached -vv` (defaults: -f 1.25 -n 48).
    static let defaults = MemcachedTable(flags: "(defaults)", factor: 1.25, minimumSpace: 48, expected: """
        slab class   1: chunk size        96 perslab   10922
        slab class   2: chunk size       120 perslab    8738
        slab class   3: chunk size       152 perslab    6898
        slab class   4: chunk size       192 perslab    5461
        slab class   5: chunk size       240 perslab    4369
        slab class   6: chunk size       304 perslab    3449
        slab class   7: chunk size       384 perslab    2730
        slab class   8: chunk size       480 perslab    2184
        slab class   9: chunk size       600 perslab    1747
        slab class  10: chunk size       752 perslab    1394
        slab class  11: chunk size       944 perslab    1110
        slab class  12: chunk size      1184 perslab     885
        slab class  13: chunk size      1480 perslab     708
        slab class  14: chunk size      1856 perslab     564
        slab class  15: chunk size      2320 perslab     451
        slab class  16: chunk size      2904 perslab     361
        slab class  17: chunk size      3632 perslab     288
        slab class  18: chunk size      4544 perslab     230
        slab class  19: chunk size      5680 perslab     184
        slab class  20: chunk size      7104 perslab     147
        slab class  21: chunk size      8880 perslab     118
        slab class  22: chunk size     11104 perslab      94
        slab class  23: chunk size     13880 perslab      75
        slab class  24: chunk size     17352 perslab      60
        slab class  25: chunk size     21696 perslab      48
        slab class  26: chunk size     27120 perslab      38
        slab class  27: chunk size     33904 perslab      30
        slab class  28: chunk size     42384 perslab      24
        slab class  29: chunk size     52984 perslab      19
        slab class  30: chunk size     66232 perslab      15
        slab class  31: chunk size     82792 perslab      12
        slab class  32: chunk size    103496 perslab      10
        slab class  33: chunk size    129376 perslab       8
        slab class  34: chunk size    161720 perslab       6
        slab class  35: chunk size    202152 perslab       5
        slab class  36: chunk size    252696 perslab       4
        slab class  37: chunk size    315872 perslab       3
        slab class  38: chunk size    394840 perslab       2
        slab class  39: chunk size    524288 perslab       2
        """)

    /// `memcached -vv -f 1.5 -n 32`.
    static let factor15 = MemcachedTable(flags: "-f 1.5 -n 32", factor: 1.5, minimumSpace: 32, expected: """
        slab class   1: chunk size        80 perslab   13107
        slab class   2: chunk size       120 perslab    8738
        slab class   3: chunk size       184 perslab    5698
        slab class   4: chunk size       280 perslab    3744
        slab class   5: chunk size       424 perslab    2473
        slab class   6: chunk size       640 perslab    1638
        slab class   7: chunk size       960 perslab    1092
        slab class   8: chunk size      1440 perslab     728
        slab class   9: chunk size      2160 perslab     485
        slab class  10: chunk size      3240 perslab     323
        slab class  11: chunk size      4864 perslab     215
        slab class  12: chunk size      7296 perslab     143
        slab class  13: chunk size     10944 perslab      95
        slab class  14: chunk size     16416 perslab      63
        slab class  15: chunk size     24624 perslab      42
        slab class  16: chunk size     36936 perslab      28
        slab class  17: chunk size     55408 perslab      18
        slab class  18: chunk size     83112 perslab      12
        slab class  19: chunk size    124672 perslab       8
        slab class  20: chunk size    187008 perslab       5
        slab class  21: chunk size    280512 perslab       3
        slab class  22: chunk size    524288 perslab       2
        """)

    /// `memcached -vv -f 2 -I 512k`.
    static let factor2 = MemcachedTable(flags: "-f 2 -I 512k", factor: 2, minimumSpace: 48, expected: """
        slab class   1: chunk size        96 perslab   10922
        slab class   2: chunk size       192 perslab    5461
        slab class   3: chunk size       384 perslab    2730
        slab class   4: chunk size       768 perslab    1365
        slab class   5: chunk size      1536 perslab     682
        slab class   6: chunk size      3072 perslab     341
        slab class   7: chunk size      6144 perslab     170
        slab class   8: chunk size     12288 perslab      85
        slab class   9: chunk size     24576 perslab      42
        slab class  10: chunk size     49152 perslab      21
        slab class  11: chunk size     98304 perslab      10
        slab class  12: chunk size    196608 perslab       5
        slab class  13: chunk size    524288 perslab       2
        """)

    /// `memcached -vv -f 1.1 -n 64 -I 4m`: stops at memcached's 63-class limit, the last being slab_chunk_max.
    static let factor11 = MemcachedTable(flags: "-f 1.1 -n 64 -I 4m", factor: 1.1, minimumSpace: 64, expected: """
        slab class   1: chunk size       112 perslab    9362
        slab class   2: chunk size       128 perslab    8192
        slab class   3: chunk size       144 perslab    7281
        slab class   4: chunk size       160 perslab    6553
        slab class   5: chunk size       176 perslab    5957
        slab class   6: chunk size       200 perslab    5242
        slab class   7: chunk size       224 perslab    4681
        slab class   8: chunk size       248 perslab    4228
        slab class   9: chunk size       272 perslab    3855
        slab class  10: chunk size       304 perslab    3449
        slab class  11: chunk size       336 perslab    3120
        slab class  12: chunk size       376 perslab    2788
        slab class  13: chunk size       416 perslab    2520
        slab class  14: chunk size       464 perslab    2259
        slab class  15: chunk size       512 perslab    2048
        slab class  16: chunk size       568 perslab    1846
        slab class  17: chunk size       624 perslab    1680
        slab class  18: chunk size       688 perslab    1524
        slab class  19: chunk size       760 perslab    1379
        slab class  20: chunk size       840 perslab    1248
        slab class  21: chunk size       928 perslab    1129
        slab class  22: chunk size      1024 perslab    1024
        slab class  23: chunk size      1128 perslab     929
        slab class  24: chunk size      1240 perslab     845
        slab class  25: chunk size      1368 perslab     766
        slab class  26: chunk size      1504 perslab     697
        slab class  27: chunk size      1656 perslab     633
        slab class  28: chunk size      1824 perslab     574
        slab class  29: chunk size      2008 perslab     522
        slab class  30: chunk size      2208 perslab     474
        slab class  31: chunk size      2432 perslab     431
        slab class  32: chunk size      2680 perslab     391
        slab class  33: chunk size      2952 perslab     355
        slab class  34: chunk size      3248 perslab     322
        slab class  35: chunk size      3576 perslab     293
        slab class  36: chunk size      3936 perslab     266
        slab class  37: chunk size      4336 perslab     241
        slab class  38: chunk size      4776 perslab     219
        slab class  39: chunk size      5256 perslab     199
        slab class  40: chunk size      5784 perslab     181
        slab class  41: chunk size      6368 perslab     164
        slab class  42: chunk size      7008 perslab     149
        slab class  43: chunk size      7712 perslab     135
        slab class  44: chunk size      8488 perslab     123
        slab class  45: chunk size      9336 perslab     112
        slab class  46: chunk size     10272 perslab     102
        slab class  47: chunk size     11304 perslab      92
        slab class  48: chunk size     12440 perslab      84
        slab class  49: chunk size     13688 perslab      76
        slab class  50: chunk size     15056 perslab      69
        slab class  51: chunk size     16568 perslab      63
        slab class  52: chunk size     18224 perslab      57
        slab class  53: chunk size     20048 perslab      52
        slab class  54: chunk size     22056 perslab      47
        slab class  55: chunk size     24264 perslab      43
        slab class  56: chunk size     26696 perslab      39
        slab class  57: chunk size     29368 perslab      35
        slab class  58: chunk size     32304 perslab      32
        slab class  59: chunk size     35536 perslab      29
        slab class  60: chunk size     39096 perslab      26
        slab class  61: chunk size     43008 perslab      24
        slab class  62: chunk size     47312 perslab      22
        slab class  63: chunk size    524288 perslab       2
        """)

    static let all: [MemcachedTable] = [defaults, factor15, factor2, factor11]

    /// (class id, chunk size, per page) read back from the printed lines.
    var expectedRows: [(id: Int, size: Int, perPage: Int)] {
        expected.split(separator: "\n").map { line in
            let numbers = line.split(separator: " ").compactMap { Int($0.filter { $0 != ":" }) }
            return (numbers[0], numbers[1], numbers[2])
        }
    }
}

@Suite("Slab class table")
struct SlabClassTableTests {
    @Test("verboseLines() prints what memcached 1.6.18 -vv printed", arguments: MemcachedTable.all)
    func verboseLinesMatchMemcached(_ config: MemcachedTable) {
        let table = config.makeTable()
        let lines = table.verboseLines()
        let expected = config.expected.split(separator: "\n").map(String.init)
        #expect(lines.count == expected.count)
        for (i, (got, want)) in zip(lines, expected).enumerated() {
            #expect(got == want, "class \(i + 1)")
        }
        #expect(lines.joined(separator: "\n") == config.expected)
    }

    @Test("chunkSizes, perPage and largest agree with the printed table", arguments: MemcachedTable.all)
    func arraysMatchMemcached(_ config: MemcachedTable) {
        let table = config.makeTable()
        let rows = config.expectedRows
        #expect(table.largest == rows.count)
        #expect(table.chunkSizes == [0] + rows.map(\.size))
        #expect(table.perPage == [0] + rows.map(\.perPage))
        #expect(rows.map(\.id) == Array(1...rows.count))
        #expect(table.chunkSizes[table.largest] == MemcachedTable.chunkMax)
        #expect(table.pageSize == MemcachedTable.pageSize)
        #expect(table.chunkMax == MemcachedTable.chunkMax)
        #expect(table.largest <= SlabClassTable.maxClasses)
        for id in 1...table.largest {
            #expect(table.chunkSizes[id] % SlabClassTable.chunkAlignment == 0)
            #expect(table.perPage[id] == table.pageSize / table.chunkSizes[id])
            if id > 1 { #expect(table.chunkSizes[id] > table.chunkSizes[id - 1]) }
        }
    }

    @Test("the 63-class limit: -f 1.1 -n 64 ends with class 63 = slab_chunk_max")
    func classLimit() {
        let table = MemcachedTable.factor11.makeTable()
        #expect(table.largest == 63)
        #expect(table.chunkSizes[62] == 47312)
        #expect(table.chunkSizes[63] == 524_288)
    }

    @Test("classID(forSize:) at every class boundary", arguments: MemcachedTable.all)
    func classBoundaries(_ config: MemcachedTable) {
        let table = config.makeTable()
        for id in 1...table.largest {
            let size = table.chunkSizes[id]
            #expect(table.classID(forSize: size) == id, "size \(size)")
            #expect(table.classID(forSize: size - 1) == id, "size \(size - 1)")
            if id < table.largest {
                #expect(table.classID(forSize: size + 1) == id + 1, "size \(size + 1)")
            }
            if id > 1 {
                #expect(table.classID(forSize: table.chunkSizes[id - 1] + 1) == id)
            }
        }
        #expect(table.classID(forSize: 1) == 1)
        #expect(table.classID(forSize: table.chunkMax) == table.largest)
        #expect(table.classID(forSize: table.chunkMax + 1) == 0)
        #expect(table.classID(forSize: table.chunkMax + 8) == 0)
        #expect(table.classID(forSize: 4 * 1024 * 1024) == 0)
    }

    @Test("every size maps to the smallest class that holds it", arguments: MemcachedTable.all)
    func classIDIsSmallestFit(_ config: MemcachedTable) {
        let table = config.makeTable()
        var size = 1
        while size <= table.chunkMax {
            let id = table.classID(forSize: size)
            #expect(id >= 1 && id <= table.largest)
            #expect(table.chunkSizes[id] >= size)
            if id > 1 { #expect(table.chunkSizes[id - 1] < size) }
            size += size < 4096 ? 1 : 997
        }
    }
}

@Suite("Slab allocator")
struct SlabAllocatorTests {
    static let page = 1024 * 1024

    func makeAllocator(memoryLimit: Int) throws -> SlabAllocator {
        let table = MemcachedTable.defaults.makeTable()
        return try #require(SlabAllocator(table: table, memoryLimit: memoryLimit))
    }

    @Test("a limit above the reserved address space is accepted; the pages past it are refused and counted (malloc_fails)")
    func limitPastReservation() throws {
        let slabs = try makeAllocator(memoryLimit: 8 * Self.page)
        slabs.setMemoryLimit(99_999_999 * Self.page)  // cache_memlimit 99999999, as memcached accepts it
        #expect(slabs.memoryLimit == 99_999_999 * Self.page)
        #expect(slabs.pageReservationRefusals == 0)
        // Chunks of the largest class are only carved, never written here: no memory is touched.
        let largest = slabs.table.largest
        var taken = 0
        while slabs.allocate(classID: largest) != 0 {
            taken += 1
            if taken > 100_000 { break }
        }
        #expect(taken < 100_000, "the arena never ran out")
        #expect(slabs.pageReservationRefusals == 1)
        #expect(slabs.totalMalloced <= slabs.arena.reservedBytes)
        #expect(slabs.allocate(classID: largest) == 0)
        #expect(slabs.pageReservationRefusals == 2)
    }

    @Test("a freed chunk is handed out again, and handles are distinct and aligned")
    func allocateFreeReuse() throws {
        let slabs = try makeAllocator(memoryLimit: 0)
        let cls = 3
        let size = slabs.table.chunkSizes[cls]
        var handles: [SlabHandle] = []
        for _ in 0..<100 {
            let h = slabs.allocate(classID: cls)
            #expect(h != 0)
            handles.append(h)
        }
        #expect(Set(handles).count == 100)
        // Carved in order from one page: consecutive chunks are chunk-size apart.
        for i in 1..<handles.count {
            let gap = Int(bitPattern: slabs.arena.pointer(handles[i])) - Int(bitPattern: slabs.arena.pointer(handles[i - 1]))
            #expect(gap == size)
        }
        // Write the whole chunk: chunks must not overlap.
        for (i, h) in handles.enumerated() {
            slabs.arena.pointer(h).initializeMemory(as: UInt8.self, repeating: UInt8(i), count: size)
        }
        for (i, h) in handles.enumerated() {
            let p = slabs.arena.pointer(h).assumingMemoryBound(to: UInt8.self)
            #expect(p[0] == UInt8(i) && p[size - 1] == UInt8(i))
        }
        #expect(slabs.arena.handle(slabs.arena.pointer(handles[7])) == handles[7])

        slabs.free(handles[10], classID: cls)
        slabs.free(handles[20], classID: cls)
        // LIFO free list: the last freed comes back first.
        #expect(slabs.allocate(classID: cls) == handles[20])
        #expect(slabs.allocate(classID: cls) == handles[10])
        let fresh = slabs.allocate(classID: cls)
        #expect(fresh != 0 && !handles.contains(fresh))
        #expect(slabs.classStats(cls).usedChunks == 101)
    }

    @Test("classStats counts pages, used, free and never-used chunks")
    func classStatsCounts() throws {
        let slabs = try makeAllocator(memoryLimit: 0)
        let cls = 1
        let perPage = slabs.table.perPage[cls]
        var s = slabs.classStats(cls)
        #expect(s.chunkSize == 96)
        #expect(s.chunksPerPage == 10922)
        #expect(s.totalPages == 0 && s.totalChunks == 0 && s.usedChunks == 0 && s.freeChunks == 0 && s.freeChunksEnd == 0)
        #expect(slabs.totalMalloced == 0)

        var handles: [SlabHandle] = []
        for _ in 0..<10 { handles.append(slabs.allocate(classID: cls)) }
        s = slabs.classStats(cls)
        #expect(s.totalPages == 1)
        #expect(s.totalChunks == perPage)
        #expect(s.usedChunks == 10)
        #expect(s.freeChunksEnd == perPage - 10)
        #expect(s.freeChunks == perPage - 10)
        #expect(slabs.totalMalloced == Self.page)

        for h in handles.prefix(4) { slabs.free(h, classID: cls) }
        s = slabs.classStats(cls)
        #expect(s.usedChunks == 6)
        #expect(s.freeChunksEnd == perPage - 10)
        #expect(s.freeChunks == perPage - 10 + 4)

        // Use up the page exactly, then one more chunk takes a second page.
        for _ in 0..<(perPage - 6) { #expect(slabs.allocate(classID: cls) != 0) }
        s = slabs.classStats(cls)
        #expect(s.usedChunks == perPage && s.freeChunks == 0 && s.freeChunksEnd == 0 && s.totalPages == 1)
        #expect(slabs.allocate(classID: cls) != 0)
        s = slabs.classStats(cls)
        #expect(s.totalPages == 2 && s.totalChunks == 2 * perPage && s.usedChunks == perPage + 1)
        #expect(s.freeChunksEnd == perPage - 1)
        #expect(slabs.totalMalloced == 2 * Self.page)
        // Other classes are untouched.
        #expect(slabs.classStats(2).totalPages == 0)
    }

    @Test("memory limit: a class with pages is refused past -m, a class's first page is always granted")
    func memoryLimit() throws {
        let slabs = try makeAllocator(memoryLimit: 2 * Self.page)
        let big = slabs.table.largest          // 524288-byte chunks, 2 per page
        #expect(slabs.table.perPage[big] == 2)
        for _ in 0..<4 { #expect(slabs.allocate(classID: big) != 0) }   // pages 1 and 2
        #expect(slabs.totalMalloced == 2 * Self.page)
        #expect(slabs.allocate(classID: big) == 0)                       // a third page: refused
        #expect(slabs.classStats(big).totalPages == 2)

        // Another class still gets its first page although -m is reached (memcached does the same)...
        let small = 5
        var smallHandles: [SlabHandle] = []
        for _ in 0..<slabs.table.perPage[small] {
            let h = slabs.allocate(classID: small)
            #expect(h != 0)
            smallHandles.append(h)
        }
        #expect(slabs.totalMalloced == 3 * Self.page)
        #expect(slabs.classStats(small).totalPages == 1)
        // ...but not a second one.
        #expect(slabs.allocate(classID: small) == 0)
        #expect(slabs.classStats(small).totalPages == 1)
        #expect(slabs.totalMalloced == 3 * Self.page)

        // A freed chunk is reusable without a new page.
        slabs.free(smallHandles[0], classID: small)
        #expect(slabs.allocate(classID: small) == smallHandles[0])
        #expect(slabs.allocate(classID: small) == 0)
    }

    @Test("allocating several chunks is all or nothing")
    func allocateSeveral() throws {
        let slabs = try makeAllocator(memoryLimit: 2 * Self.page)
        let big = UInt8(slabs.table.largest)
        var out = [SlabHandle](repeating: 0, count: 5)
        let ids = [UInt8](repeating: big, count: 5)
        let ok = ids.withUnsafeBufferPointer { idp in
            out.withUnsafeMutableBufferPointer { slabs.allocate(classIDs: idp, into: $0) }
        }
        #expect(!ok)                                      // only 4 chunks fit in 2 pages
        #expect(slabs.classStats(Int(big)).usedChunks == 0)
        #expect(slabs.classStats(Int(big)).freeChunks == 4)

        var four = [SlabHandle](repeating: 0, count: 4)
        let ok4 = ids.prefix(4).withUnsafeBufferPointer { idp in
            four.withUnsafeMutableBufferPointer { slabs.allocate(classIDs: idp, into: $0) }
        }
        #expect(ok4)
        #expect(Set(four).count == 4 && !four.contains(0))
        #expect(slabs.classStats(Int(big)).usedChunks == 4)
    }

    @Test("keyless classes: chunks of 40-96 bytes on their own pages, freed and reused, never chosen for a page move")
    func keylessClasses() throws {
        let slabs = try makeAllocator(memoryLimit: 0)
        let t = slabs.table
        #expect(t.keylessIDs.lowerBound > t.largest && t.keylessIDs.count == SlabClassTable.keylessSizes.count)
        #expect(t.allClassIDs.count == t.largest + t.keylessIDs.count)
        // The computed sizes (the engine's hot paths) are the declared ones, and each size's class holds it.
        #expect(SlabClassTable.keylessCount == SlabClassTable.keylessSizes.count)
        for (i, size) in SlabClassTable.keylessSizes.enumerated() {
            #expect(SlabClassTable.keylessChunkSize(SlabClassTable.keylessBase + i) == size)
            #expect(t.chunkSize(SlabClassTable.keylessBase + i) == size)
            #expect(SlabClassTable.keylessClassID(forSize: size) == SlabClassTable.keylessBase + i)
        }
        #expect(SlabClassTable.keylessClassID(forSize: 129) == 0)
        let id = SlabClassTable.keylessClassID(forSize: 34)
        #expect(t.chunkSize(id) == 40 && t.chunksPerPage(id) == Self.page / 40)
        let a = slabs.allocate(classID: id)
        let b = slabs.allocate(classID: id)
        #expect(a != 0 && b != 0 && (Int(b) - Int(a)) << 3 == 40)
        var s = slabs.classStats(id)
        #expect(s.totalPages == 1 && s.usedChunks == 2 && s.chunkSize == 40 && s.freeChunks == Self.page / 40 - 2)
        slabs.free(a, classID: id)
        #expect(slabs.allocate(classID: id) == a)
        // memcached's classes are untouched by it.
        for cls in 1...t.largest { #expect(slabs.classStats(cls).totalPages == 0) }
        // Two pages of the keyless class: still never a page-move source.
        for _ in 0..<(Self.page / 40) { _ = slabs.allocate(classID: id) }
        s = slabs.classStats(id)
        #expect(s.totalPages == 2)
        #expect(slabs.beginPageMove(from: id) == nil)
        #expect(slabs.totalMalloced == 2 * Self.page)
    }
}

