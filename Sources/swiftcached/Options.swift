// Command-line flags, memcached 1.6's grammar through glibc's getopt_long (so `-vv`, `-p11211`,
// `-p 11211`, `--port=11211` and `-o a=1,b` all work as they do for memcached), driven by
// OptionTable. Only what is implemented is accepted; everything else is an error, never silently
// ignored.
import Broker
import CacheEngine
import CGetopt
import MemcacheProtocol
import RESP
import Server
#if canImport(Glibc)
import Glibc
#endif

/// What the command line sets; read by main.swift and shown by `stats settings`.
struct Options {
    var engine = EngineSettings()
    var server = ServerSettings()
    var proto = ProtocolSettings()
    var verbose = 0
    var udpPort = 0
    var user: String?
    var memoryLimitMB = 64
    var lruCrawlerOption = true
    var lruMaintainerOption = true
    var daemonize = false
    var pidFile: String?
    /// -e: the memory file (warm restart).
    var memoryFile: String?
    /// -Y: the auth file (memcached shows its path in `stats settings`).
    var authFile: String?
    /// --broker-port: 0 = no broker listener.
    var brokerPort = 0
    var broker = BrokerSettings()
    /// --broker-memory in MB, when given (default: half of -m).
    var brokerMemoryMB: Int?
    /// --redis-port: 0 = no Redis listener.
    var redisPort = 0
    var redis = RESPSettings()
    /// memcached's `-o` settings that `stats settings` shows (SubOptionTable.swift).
    var extended = ExtendedOptions()
}

/// `-o` suboptions kept for `stats settings` (and for the ones that act, what they act on).
struct ExtendedOptions {
    /// `slab_reassign` / `no_slab_reassign` (memcached's default since 1.5: on).
    var slabReassign = true
    var automoveRatio = 0.8
    var automoveWindow = 30
    /// Accepted, no effect here (README): there is no refcount leak to repair.
    var tailRepairTime = 0
    /// The hash memcached would use; the hash here is always murmur3 (README).
    var hashAlgorithm = "murmur3"
    /// Bytes, as memcached keeps them after reading kilobytes.
    var watcherLogbufSize = 256 * 1024
    var workerLogbufSize = 64 * 1024
    /// `read_buf_mem_limit`, bytes (0 = no limit).
    var readBufMemLimit = 0
    var trackSizes = false
    /// Whether `slab_chunk_max` was given: `no_slab_reassign` then leaves it alone.
    var chunkMaxGiven = false
    /// `-o hashpower` as given (memcached shows 0 when it was not).
    var hashpowerGiven: Int?
}

/// The result of parsing: run with these options, or exit with this status.
enum OptionsOutcome {
    case run(Options)
    case exit(Int32)
}

/// An integer with an optional `+`, as memcached's strtol-based flags take it.
func parseInt(_ s: String) -> Int? {
    var t = Substring(s)
    if t.hasPrefix("+") { t = t.dropFirst() }
    return Int(t)
}

/// C's atoi, as memcached reads most numeric options: leading blanks, a sign, the digits up to
/// the first other character (none: 0), the value saturated to 64 bits as strtol does and then
/// cut to an int.
func cAtoi(_ s: String) -> Int32 {
    var bytes = Substring(s).utf8.drop { $0 == 0x20 || ($0 >= 0x09 && $0 <= 0x0d) }
    var negative = false
    if let first = bytes.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
        negative = first == UInt8(ascii: "-")
        bytes = bytes.dropFirst()
    }
    var value: Int64 = 0
    var saturated = false
    for b in bytes {
        guard b >= 0x30 && b <= 0x39 else { break }
        let (m, o1) = value.multipliedReportingOverflow(by: 10)
        let (a, o2) = m.addingReportingOverflow(Int64(b - 0x30))
        if o1 || o2 { saturated = true; break }
        value = a
    }
    if saturated { value = negative ? Int64.min : Int64.max } else if negative { value = -value }
    return Int32(truncatingIfNeeded: value)
}

/// memcached's -I grammar: a number with an optional k/m suffix; nil when the size does not fit
/// in an Int.
func parseSize(_ s: String) -> Int? {
    guard let last = s.last else { return nil }
    let unit: Int
    switch last {
    case "k", "K": unit = 1024
    case "m", "M": unit = 1024 * 1024
    default: return parseInt(s)
    }
    guard let n = parseInt(String(s.dropLast())) else { return nil }
    let (size, overflow) = n.multipliedReportingOverflow(by: unit)
    return overflow ? nil : size
}

/// Writes a line to stderr.
func printError(_ message: String) {
    cgetopt_stderr(message + "\n")
}

/// Refuses the command line with memcached's exit status.
private func fail(_ message: String) -> OptionsOutcome {
    printError(message)
    return .exit(64)  // EX_USAGE, as memcached
}

/// Parses memcached's flags through OptionTable; every flag is applied as it comes, then the
/// checks that involve several flags run.
func parseOptions(_ arguments: [String]) -> OptionsOutcome {
    var parse = OptionParse()
    let cNames = OptionTable.flags.map { strdup($0.long)! }
    defer { cNames.forEach { free($0) } }
    var table = OptionTable.flags.indices.map { i in
        option(name: cNames[i], has_arg: OptionTable.flags[i].argument.getoptHasArg, flag: nil, val: OptionTable.getoptValue(of: i))
    }
    table.append(option(name: nil, has_arg: 0, flag: nil, val: 0))
    let optstring = OptionTable.optstring
    var argv = arguments.map { strdup($0) }
    argv.append(nil)
    defer { argv.forEach { free($0) } }
    cgetopt_reset()

    while true {
        var argument: UnsafePointer<CChar>?
        let c = cgetopt_long(Int32(arguments.count), &argv, optstring, table, &argument)
        if c == -1 { break }
        // nil: getopt_long already printed "invalid option" / "requires an argument".
        guard let spec = OptionTable.flag(forGetoptValue: c) else { return .exit(64) }
        switch spec.apply(argument.map { String(cString: $0) } ?? "", &parse) {
        case .proceed:
            continue
        case .refuse(let message):
            return fail(message)
        case .reject(let message):
            printError(message)
            return .exit(1)
        case .finish(let text):
            print(text, terminator: "")
            return .exit(0)
        }
    }
    return finishOptions(parse, arguments)
}

/// The checks that involve several flags (memcached's order and messages), and the settings
/// derived from them.
private func finishOptions(_ parse: OptionParse, _ arguments: [String]) -> OptionsOutcome {
    var o = parse.options
    let index = Int(cgetopt_index())
    if index < arguments.count {
        return fail("Unexpected argument: \(arguments[index])")
    }
    if o.memoryLimitMB > SlabArenaLimits.maxMegabytes {
        return fail("Memory limit above \(SlabArenaLimits.maxMegabytes) MB is not supported (32-bit slab handles)")
    }
    o.engine.memoryLimit = o.memoryLimitMB * 1024 * 1024
    if o.proto.authEntries != nil {
        // As memcached: ASCII auth tokens and the binary protocol do not mix.
        if o.proto.bindingProtocol == "binary" {
            return fail("ERROR: You cannot allow the BINARY protocol while using ascii authentication tokens.")
        }
        o.proto.bindingProtocol = "ascii"
    }
    if let mb = o.brokerMemoryMB {
        if mb > o.memoryLimitMB { return fail("--broker-memory (\(mb) MB) cannot exceed -m (\(o.memoryLimitMB) MB)") }
        o.broker.memoryLimit = mb * 1024 * 1024
    } else {
        o.broker.memoryLimit = o.engine.memoryLimit / 2
    }
    if o.redisPort != 0 && !o.engine.useCAS {
        // SET ... GET, INCR, APPEND and GETDEL are compare-and-swap loops over the engine's CAS.
        return fail("--redis-port needs CAS (do not combine it with -C)")
    }
    if o.server.tls.enabled && o.server.port == 0 && o.server.unixSocket == nil {
        return fail("ERROR: You cannot enable SSL without a TCP port.")
    }
    if o.brokerPort == 0 && o.broker.dataDirectory != nil {
        return fail("--data-dir needs --broker-port")
    }
    // As memcached, with or without -I (so -m 0 is refused here, in its words).
    do {
        let size = parse.itemSizeMax ?? o.engine.itemSizeMax
        if size < 1024 { return fail("Item max size cannot be less than 1024 bytes.") }
        if size > o.engine.memoryLimit / 2 { return fail("Cannot set item size limit higher than 1/2 of memory max.") }
        if size > EngineSettings.largestItemSizeMax { return fail("Cannot set item size limit higher than a gigabyte.") }
        o.engine.itemSizeMax = size
    }
    if o.engine.slabChunkMax > o.engine.itemSizeMax {
        return fail("slab_chunk_max (bytes: \(o.engine.slabChunkMax)) cannot be larger than -I (item_size_max \(o.engine.itemSizeMax))")
    }
    if o.engine.itemSizeMax % o.engine.slabChunkMax != 0 {
        return fail("-I (item_size_max: \(o.engine.itemSizeMax)) must be evenly divisible by slab_chunk_max (bytes: \(o.engine.slabChunkMax))")
    }
    if parse.slabChunkMaxSet && o.engine.slabPageSize % o.engine.slabChunkMax != 0 {
        return fail("slab_chunk_max (bytes: \(o.engine.slabChunkMax)) must divide evenly into \(o.engine.slabPageSize) (slab_page_size)")
    }
    o.engine.slabReassign = o.extended.slabReassign
    if parse.unchunked && !parse.slabChunkMaxSet {
        // memcached: without chunked items a chunk may take a whole page.
        o.engine.slabChunkMax = min(o.engine.slabPageSize, o.engine.itemSizeMax)
    }
    if let list = parse.slabSizes {
        switch parseSlabSizes(list, minimum: o.engine.chunkSizeMin, chunkMax: o.engine.slabChunkMax) {
        case .success(let sizes): o.engine.slabSizes = sizes
        case .failure(let error): return fail(error.message)
        }
    }
    if o.engine.hotLRUPercent + o.engine.warmLRUPercent > 80 {
        return fail("hot_lru_pct + warm_lru_pct cannot be more than 80% combined")
    }
    o.engine.lruMaintainer = o.lruMaintainerOption
    o.engine.lruCrawler = o.lruCrawlerOption
    // memcached's memcached_thread_init: the hash table must be larger than the item lock table,
    // which grows with -t (its words, its status 1).
    let lockPower = CacheEngine.itemLockPower(threads: o.server.threads)
    if lockPower >= o.engine.hashPowerInit {
        printError("Hash table power size (\(o.engine.hashPowerInit)) cannot be equal to or less than item lock table (\(lockPower))\n"
            + "Item lock table grows with `-t N` (worker threadcount)\n"
            + "Hash table grows with `-o hashpower=N` ")  // memcached's trailing blank too
        return .exit(1)
    }
    return .run(o)
}

struct SlabSizesError: Error {
    let message: String
}

/// `-o slab_sizes=a-b-c` with memcached's checks and messages: each size within -n ...
/// slab_chunk_max, each more than 8 bytes over the one before, at most 62 of them; sizes are
/// rounded up to 8 bytes as the class table does.
func parseSlabSizes(_ list: String, minimum: Int, chunkMax: Int) -> Result<[Int], SlabSizesError> {
    var sizes: [Int] = []
    var last = 0
    for part in list.split(separator: "-", omittingEmptySubsequences: false) {
        if sizes.count >= 62 { return .failure(SlabSizesError(message: "too many slab classes specified")) }
        let size = parseInt(String(part)).flatMap { $0 >= 0 && $0 <= Int(UInt32.max) ? $0 : nil } ?? 0
        if size < minimum || size > chunkMax {
            return .failure(SlabSizesError(message: "slab size \(size) is out of valid range"))
        }
        if size <= last {
            return .failure(SlabSizesError(message: "slab size \(size) cannot be lower than or equal to a previous class size"))
        }
        if size <= last + 8 {
            return .failure(SlabSizesError(message: "slab size \(size) must be at least 8 bytes larger than previous class"))
        }
        sizes.append(size)
        last = size
    }
    return .success(sizes)
}

/// -Y: reads the `user:password` lines of the auth file.
func loadAuthFile(_ path: String, _ o: inout Options) -> FlagOutcome {
    guard let f = fopen(path, "r") else {
        return .refuse("Could not load authfile \(path): \(String(cString: strerror(errno)))")
    }
    var text = ""
    var buf = [CChar](repeating: 0, count: 4096)
    while fgets(&buf, Int32(buf.count), f) != nil { text += String(cString: buf) }
    fclose(f)
    guard let entries = AuthEntry.parse(text), !entries.isEmpty else {
        return .refuse("Could not load authfile \(path): expected user:password lines")
    }
    o.proto.authEntries = entries
    o.authFile = path
    return .proceed
}

extension ArgumentKind {
    /// getopt_long's `has_arg`.
    var getoptHasArg: Int32 {
        switch self {
        case .none: Int32(no_argument)
        case .required: Int32(required_argument)
        case .optional: Int32(optional_argument)
        }
    }
}

enum SlabArenaLimits {
    /// The arena is addressed by 32-bit handles of 8 bytes (see SlabArena), less the first class pages.
    static let maxMegabytes = 32 * 1024 - 128
}
