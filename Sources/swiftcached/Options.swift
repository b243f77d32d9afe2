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
    if o.brokerPort == 0 && o.broker.dataDirectory != nil {
        return fail("--data-dir needs --broker-port")
    }
    if let size = parse.itemSizeMax {
        if size < 1024 { return fail("Item max size cannot be less than 1024 bytes.") }
        if size > o.engine.memoryLimit / 2 { return fail("Cannot set item size limit higher than 1/2 of memory max.") }
        if size > EngineSettings.largestItemSizeMax { return fail("Cannot set item size limit higher than a gigabyte.") }
        o.engine.itemSizeMax = size
    }
    if o.engine.slabChunkMax > o.engine.itemSizeMax {
        return fail("slab_chunk_max (bytes: \(o.engine.slabChunkMax)) cannot be larger than -I (item_size_max \(o.engine.itemSizeMax))")
    }
    if parse.slabChunkMaxSet && o.engine.slabPageSize % o.engine.slabChunkMax != 0 {
        return fail("slab_chunk_max must divide evenly into \(o.engine.slabPageSize) (slab_page_size)")
    }
    if o.engine.hotLRUPercent + o.engine.warmLRUPercent > 80 {
        return fail("hot_lru_pct + warm_lru_pct cannot be more than 80% combined")
    }
    o.engine.lruMaintainer = o.lruMaintainerOption
    o.engine.lruCrawler = o.lruCrawlerOption
    o.engine.hashPowerInit = max(o.engine.hashPowerInit, 10)
    return .run(o)
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
