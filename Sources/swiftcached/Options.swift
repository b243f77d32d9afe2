// Command-line flags, memcached 1.6's grammar through glibc's getopt_long (so `-vv`, `-p11211`,
// `-p 11211`, `--port=11211` and `-o a=1,b` all work as they do for memcached). Only what is
// implemented is accepted; everything else is an error, never silently ignored.
import Broker
import CacheEngine
import CGetopt
import MemcacheProtocol
import Server
#if canImport(Glibc)
import Glibc
#endif

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
}

/// Long-only options (no memcached short letter): getopt values above any byte.
enum BrokerFlag: Int32, CaseIterable {
    case port = 0x101, dataDir, fsync, memory, visibilityTimeout, prefetch

    var name: String {
        switch self {
        case .port: "broker-port"
        case .dataDir: "data-dir"
        case .fsync: "fsync"
        case .memory: "broker-memory"
        case .visibilityTimeout: "visibility-timeout"
        case .prefetch: "prefetch"
        }
    }
}

enum OptionsOutcome {
    case run(Options)
    case exit(Int32)
}

let swiftcachedVersion = "0.1.0"

func usage() -> String {
    """
    swiftcached \(swiftcachedVersion) (memcached 1.6: text, meta and binary protocols over TCP, UNIX sockets and UDP)
    -p, --port=<num>          TCP port to listen on (default: 11211, 0 is off, -1 picks a free one;
                              MEMCACHED_PORT_FILENAME names a file that receives the ports bound)
    -U, --udp-port=<num>      UDP port to listen on (default: 0, off; -1 picks a free one)
    -l, --listen=<addr>       interface to listen on (default: all); comma-separated list allowed
    -u, --user=<user>         assume identity of <user> (only when run as root)
    -m, --memory-limit=<num>  item memory in megabytes (default: 64)
    -M, --disable-evictions   return error on memory exhausted instead of evicting
    -c, --conn-limit=<num>    max simultaneous connections (default: 1024)
    -v, --verbose             verbose (print errors/warnings while in event loop)
    -vv                       very verbose (also print the slab class table)
    -h, --help                print this help and exit
    -V, --version             print version and exit
    -f, --slab-growth-factor=<num>  chunk size growth factor (default: 1.25)
    -n, --slab-min-size=<bytes>     min space used for key+value+flags (default: 48)
    -t, --threads=<num>       number of worker threads (default: 4)
    -R, --max-reqs-per-event  maximum number of requests per event (default: 20)
    -C, --disable-cas         disable use of CAS
    -b, --listen-backlog=<num> set the backlog queue limit (default: 1024)
    -I, --max-item-size=<num> adjusts max item size (default: 1m, min: 1k, max: 1024m)
    -s, --unix-socket=<file>  UNIX socket to listen on (disables network support)
    -a, --unix-mask=<mask>    access mask for UNIX socket, in octal (default: 700)
    -d, --daemon              run as a daemon
    -P, --pidfile=<file>      save PID in <file>, only used with -d option
    -D <char>                 use <char> as the delimiter between key prefixes and IDs (stats detail; default ':')
    -A, --enable-shutdown     enable ascii "shutdown" command
    -B, --protocol=<name>     protocol - one of ascii, binary, or auto (default: auto-negotiate)
    -F, --disable-flush-all   disable flush_all command
    -r, --enable-coredumps    maximize core file limit
    -i, --license             print the license and exit
    -X, --disable-dumping     disable stats cachedump
    -W, --disable-watch       disable watch commands (live logging)
    -Y, --auth-file=<file>    (EXPERIMENTAL) enable ASCII protocol authentication. format:
                              user:pass\nuser2:pass2\n
    -k, --lock-memory         lock down all paged memory (slab pages are mlock'ed as they are taken)
    -L, --enable-largepages   transparent huge pages for item memory
    -o, --extended            comma separated list of extended options:
       - slab_chunk_max=<bytes>:  largest slab chunk; larger items are chunked (default: 512k)
       - hot_lru_pct=<num>:       pct of slab memory to reserve for hot lru (default: 20)
       - warm_lru_pct=<num>:      pct of slab memory to reserve for warm lru (default: 40)
       - hot_max_factor=<float>:  items idle > cold lru age * this are moved out of hot (default: 0.2)
       - warm_max_factor=<float>: items idle > cold lru age * this are moved out of warm (default: 2.0)
       - temporary_ttl=<num>:     TTLs at or below this use the TEMP LRU, never evicted (off by default; 61 once set)
       - hashpower=<num>:         initial hash table size as a power of 2 (default: 16)
       - idle_timeout=<num>:      close connections idle for more than this many seconds (default: 0, never)
       - allow_key_control_chars: accept keys with control characters, as memcached does
                                  (protocol.txt forbids them; memaslap's keys have them)
       - no_lru_crawler:          disable the LRU crawler background thread
       - no_lru_maintainer:       disable the LRU maintainer background thread
       - slab_reassign:           accepted: pages can always be moved between classes
       - slab_automove=<0|1|2>:   move pages from classes with free memory to evicting ones (default: 1)
       - no_modern:               flat LRU: no segmented LRU, no maintainer, no automove
    Refused with a message (not implemented yet): -S -e -Z -N.

    Broker mode (queues over the memcached protocol on a second port; see README):
    --broker-port=<num>       broker listener port (conventional 22133; default: off, -1 picks a free one)
    --data-dir=<dir>          keep queue journals here (default: none, queues live in memory only)
    --fsync=always|never|<N>ms  journal fsync policy (default: 100ms); always = STORED after fsync
    --broker-memory=<MB>      part of -m queue messages may hold (default: half of -m)
    --visibility-timeout=<ms> open reads go back to the queue after this (default: 0, at disconnect)
    --prefetch=<num>          open reads per connection and queue (default: 1, like Kestrel)

    """
}

private func parseInt(_ s: String) -> Int? {
    var t = Substring(s)
    if t.hasPrefix("+") { t = t.dropFirst() }
    return Int(t)
}

/// memcached's -I grammar: a number with an optional k/m suffix.
private func parseSize(_ s: String) -> Int? {
    guard let last = s.last else { return nil }
    switch last {
    case "k", "K": return parseInt(String(s.dropLast())).map { $0 * 1024 }
    case "m", "M": return parseInt(String(s.dropLast())).map { $0 * 1024 * 1024 }
    default: return parseInt(s)
    }
}

func printError(_ message: String) {
    cgetopt_stderr(message + "\n")
}

private func fail(_ message: String) -> OptionsOutcome {
    printError(message)
    return .exit(64)  // EX_USAGE, as memcached
}

func parseOptions(_ arguments: [String]) -> OptionsOutcome {
    var o = Options()
    var itemSizeMax: Int?
    var chunkMaxSet = false
    let longOptions: [(String, Int32, UInt8)] = [
        ("port", Int32(required_argument), UInt8(ascii: "p")), ("udp-port", Int32(required_argument), UInt8(ascii: "U")),
        ("listen", Int32(required_argument), UInt8(ascii: "l")), ("user", Int32(required_argument), UInt8(ascii: "u")),
        ("memory-limit", Int32(required_argument), UInt8(ascii: "m")), ("disable-evictions", Int32(no_argument), UInt8(ascii: "M")),
        ("conn-limit", Int32(required_argument), UInt8(ascii: "c")), ("verbose", Int32(no_argument), UInt8(ascii: "v")),
        ("help", Int32(no_argument), UInt8(ascii: "h")), ("version", Int32(no_argument), UInt8(ascii: "V")),
        ("slab-growth-factor", Int32(required_argument), UInt8(ascii: "f")), ("slab-min-size", Int32(required_argument), UInt8(ascii: "n")),
        ("threads", Int32(required_argument), UInt8(ascii: "t")), ("max-reqs-per-event", Int32(required_argument), UInt8(ascii: "R")),
        ("disable-cas", Int32(no_argument), UInt8(ascii: "C")), ("listen-backlog", Int32(required_argument), UInt8(ascii: "b")),
        ("max-item-size", Int32(required_argument), UInt8(ascii: "I")), ("enable-shutdown", Int32(no_argument), UInt8(ascii: "A")),
        ("extended", Int32(required_argument), UInt8(ascii: "o")),
        ("protocol", Int32(required_argument), UInt8(ascii: "B")), ("disable-flush-all", Int32(no_argument), UInt8(ascii: "F")),
        ("enable-coredumps", Int32(no_argument), UInt8(ascii: "r")), ("license", Int32(no_argument), UInt8(ascii: "i")),
        ("disable-dumping", Int32(no_argument), UInt8(ascii: "X")), ("disable-watch", Int32(no_argument), UInt8(ascii: "W")),
        ("unix-socket", Int32(required_argument), UInt8(ascii: "s")), ("unix-mask", Int32(required_argument), UInt8(ascii: "a")),
        ("daemon", Int32(no_argument), UInt8(ascii: "d")), ("pidfile", Int32(required_argument), UInt8(ascii: "P")),
        ("stats-delimiter", Int32(required_argument), UInt8(ascii: "D")),
        ("lock-memory", Int32(no_argument), UInt8(ascii: "k")), ("enable-largepages", Int32(no_argument), UInt8(ascii: "L")),
        ("auth-file", Int32(required_argument), UInt8(ascii: "Y")),
    ] + unsupportedFlags.map { ($0.long, $0.takesArgument ? Int32(required_argument) : Int32(no_argument), $0.short) }
    let allOptions: [(String, Int32, Int32)] = longOptions.map { ($0.0, $0.1, Int32($0.2)) }
        + BrokerFlag.allCases.map { ($0.name, Int32(required_argument), $0.rawValue) }
    let cNames = allOptions.map { strdup($0.0)! }
    defer { cNames.forEach { free($0) } }
    var table = allOptions.enumerated().map { i, opt in
        option(name: cNames[i], has_arg: opt.1, flag: nil, val: opt.2)
    }
    table.append(option(name: nil, has_arg: 0, flag: nil, val: 0))
    var argv = arguments.map { strdup($0) }
    argv.append(nil)
    defer { argv.forEach { free($0) } }
    cgetopt_reset()

    while true {
        var argument: UnsafePointer<CChar>?
        let c = cgetopt_long(Int32(arguments.count), &argv, "p:U:l:u:m:Mc:vhVf:n:t:R:Cb:I:Ao:B:FriXWs:a:dP:D:kLY:" + unsupportedFlags.map { String(UnicodeScalar($0.short)) + ($0.takesArgument ? ":" : "") }.joined(), table, &argument)
        if c == -1 { break }
        let arg = argument.map { String(cString: $0) } ?? ""
        if let flag = BrokerFlag(rawValue: c) {
            if let message = parseBrokerFlag(flag, arg, &o) { return fail(message) }
            continue
        }
        switch UInt8(truncatingIfNeeded: c) {
        case UInt8(ascii: "p"):
            guard let v = parseInt(arg), v >= -1, v <= 65535 else { return fail("Invalid port number: \(arg)") }
            o.server.port = v
        case UInt8(ascii: "U"):
            guard let v = parseInt(arg), v >= -1, v <= 65535 else { return fail("Invalid UDP port number: \(arg)") }
            o.udpPort = v
            o.server.udpPort = v
        case UInt8(ascii: "l"):
            o.server.hosts += arg.split(separator: ",").map(String.init)
        case UInt8(ascii: "u"):
            o.user = arg
        case UInt8(ascii: "m"):
            guard let v = parseInt(arg), v > 0 else { return fail("Invalid memory limit: \(arg)") }
            o.memoryLimitMB = v
        case UInt8(ascii: "M"):
            o.engine.evictToFree = false
        case UInt8(ascii: "c"):
            guard let v = parseInt(arg), v > 0 else { return fail("Maximum connections must be greater than 0") }
            o.server.maxConnections = v
        case UInt8(ascii: "v"):
            o.verbose += 1
        case UInt8(ascii: "h"):
            print(usage(), terminator: "")
            return .exit(0)
        case UInt8(ascii: "V"):
            print("swiftcached \(swiftcachedVersion) (memcached 1.6.18 compatible)")
            return .exit(0)
        case UInt8(ascii: "f"):
            guard let v = Double(arg), v > 1.0 else { return fail("Factor must be greater than 1") }
            o.engine.growthFactor = v
        case UInt8(ascii: "n"):
            guard let v = parseInt(arg), v > 0 else { return fail("Chunk size must be greater than 0") }
            o.engine.chunkSizeMin = v
        case UInt8(ascii: "t"):
            guard let v = parseInt(arg), v > 0 else { return fail("Number of threads must be greater than 0") }
            o.server.threads = v
            o.engine.workerThreads = v
        case UInt8(ascii: "R"):
            guard let v = parseInt(arg), v > 0 else { return fail("Number of requests per event must be greater than 0") }
            o.proto.requestsPerEvent = v
        case UInt8(ascii: "C"):
            o.engine.useCAS = false
        case UInt8(ascii: "b"):
            guard let v = parseInt(arg), v > 0 else { return fail("Invalid backlog: \(arg)") }
            o.server.backlog = v
        case UInt8(ascii: "I"):
            guard let v = parseSize(arg) else { return fail("Invalid max item size: \(arg)") }
            itemSizeMax = v
        case UInt8(ascii: "A"):
            o.proto.allowShutdown = true
        case UInt8(ascii: "B"):
            switch arg {
            case "ascii", "auto", "binary": o.proto.bindingProtocol = arg
            default: return fail("Invalid value for binding protocol: \(arg)\n -- should be one of auto, binary, or ascii")
            }
        case UInt8(ascii: "F"):
            o.proto.flushEnabled = false
        case UInt8(ascii: "s"):
            o.server.unixSocket = arg
        case UInt8(ascii: "a"):
            guard let mask = Int(arg, radix: 8), mask >= 0, mask <= 0o777 else { return fail("Invalid unix socket mask: \(arg)") }
            o.server.unixMask = mask
        case UInt8(ascii: "d"):
            o.daemonize = true
        case UInt8(ascii: "D"):
            guard let c = arg.utf8.first, arg.utf8.count == 1 else { return fail("No delimiter specified") }
            o.proto.prefixDelimiter = c
        case UInt8(ascii: "P"):
            o.pidFile = arg
        case UInt8(ascii: "r"):
            var limit = rlimit()
            if getrlimit(Int32(RLIMIT_CORE.rawValue), &limit) == 0 {
                limit.rlim_cur = limit.rlim_max
                _ = setrlimit(Int32(RLIMIT_CORE.rawValue), &limit)
            }
        case UInt8(ascii: "i"):
            print("swiftcached \(swiftcachedVersion): a memcached-compatible server. libevent: BSD 3-clause license.")
            return .exit(0)
        case UInt8(ascii: "X"):
            o.proto.dumpEnabled = false
        case UInt8(ascii: "Y"):
            guard let f = fopen(arg, "r") else {
                return fail("Could not load authfile \(arg): \(String(cString: strerror(errno)))")
            }
            var text = ""
            var buf = [CChar](repeating: 0, count: 4096)
            while fgets(&buf, Int32(buf.count), f) != nil { text += String(cString: buf) }
            fclose(f)
            guard let entries = AuthEntry.parse(text), !entries.isEmpty else {
                return fail("Could not load authfile \(arg): expected user:password lines")
            }
            o.proto.authEntries = entries
            o.authFile = arg
        case UInt8(ascii: "k"):
            o.engine.lockMemory = true
        case UInt8(ascii: "L"):
            o.engine.largePages = true
        case UInt8(ascii: "W"):
            o.proto.watchEnabled = false
        case let c where unsupportedFlags.contains(where: { $0.short == c }):
            let flag = unsupportedFlags.first { $0.short == c }!
            return fail("-\(String(UnicodeScalar(flag.short))), --\(flag.long) (\(flag.what)) is not supported by swiftcached yet")
        case UInt8(ascii: "o"):
            for sub in arg.split(separator: ",") {
                let parts = sub.split(separator: "=", maxSplits: 1).map(String.init)
                let name = parts[0]
                let value = parts.count > 1 ? parts[1] : nil
                func intValue() -> Int? { value.flatMap(parseInt) }
                switch name {
                case "slab_chunk_max":
                    guard let v = value.flatMap(parseSize), v > 0 else { return fail("slab_chunk_max needs a size") }
                    o.engine.slabChunkMax = v
                    chunkMaxSet = true
                case "hot_lru_pct":
                    guard let v = intValue(), v >= 1, v <= 80 else { return fail("hot_lru_pct must be 1 to 80") }
                    o.engine.hotLRUPercent = v
                case "warm_lru_pct":
                    guard let v = intValue(), v >= 1, v <= 80 else { return fail("warm_lru_pct must be 1 to 80") }
                    o.engine.warmLRUPercent = v
                case "hot_max_factor":
                    guard let v = value.flatMap(Double.init), v > 0, v.isFinite else { return fail("hot_max_factor must be greater than 0") }
                    o.engine.hotMaxFactor = v
                case "warm_max_factor":
                    guard let v = value.flatMap(Double.init), v > 0, v.isFinite else { return fail("warm_max_factor must be greater than 0") }
                    o.engine.warmMaxFactor = v
                case "temporary_ttl":
                    guard let v = intValue(), v >= 0 else { return fail("temporary_ttl needs a number of seconds") }
                    o.engine.tempLRU = true
                    o.engine.temporaryTTL = v
                case "hashpower":
                    guard let v = intValue(), v >= 12, v <= 32 else { return fail("hashpower must be 12 to 32") }
                    o.engine.hashPowerInit = v
                case "allow_key_control_chars":
                    o.proto.allowKeyControlCharacters = true
                case "idle_timeout":
                    guard let v = intValue(), v >= 0 else { return fail("idle_timeout needs a number of seconds") }
                    o.server.idleTimeout = v
                case "no_lru_crawler":
                    o.lruCrawlerOption = false
                case "no_lru_maintainer":
                    o.lruMaintainerOption = false
                case "no_modern":
                    o.engine.lruSegmented = false
                    o.lruMaintainerOption = false
                    o.engine.slabAutomove = 0
                case "slab_reassign":
                    break  // always on here, as in memcached 1.6's modern defaults
                case "slab_automove":
                    guard let v = intValue(), v >= 0, v <= 2 else { return fail("slab_automove must be 0, 1 or 2") }
                    o.engine.slabAutomove = v
                case "modern":
                    break
                default:
                    return fail("Illegal suboption \"\(sub)\"")
                }
            }
        default:
            // getopt_long already printed "invalid option" / "requires an argument".
            return .exit(64)
        }
    }
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
    if o.brokerPort == 0 && o.broker.dataDirectory != nil {
        return fail("--data-dir needs --broker-port")
    }
    if let size = itemSizeMax {
        if size < 1024 { return fail("Item max size cannot be less than 1024 bytes.") }
        if size > o.engine.memoryLimit / 2 { return fail("Cannot set item size limit higher than 1/2 of memory max.") }
        if size > 1024 * 1024 * 1024 { return fail("Cannot set item size limit higher than a gigabyte.") }
        o.engine.itemSizeMax = size
    }
    if o.engine.slabChunkMax > o.engine.itemSizeMax {
        return fail("slab_chunk_max (bytes: \(o.engine.slabChunkMax)) cannot be larger than -I (item_size_max \(o.engine.itemSizeMax))")
    }
    if chunkMaxSet && o.engine.slabPageSize % o.engine.slabChunkMax != 0 {
        return fail("slab_chunk_max must divide evenly into \(o.engine.slabPageSize) (slab_page_size)")
    }
    o.engine.lruMaintainer = o.lruMaintainerOption
    o.engine.lruCrawler = o.lruCrawlerOption
    o.engine.hashPowerInit = max(o.engine.hashPowerInit, 10)
    return .run(o)
}

/// The broker's flags; a message on a bad value.
private func parseBrokerFlag(_ flag: BrokerFlag, _ arg: String, _ o: inout Options) -> String? {
    switch flag {
    case .port:
        guard let v = parseInt(arg), v >= -1, v <= 65535 else { return "Invalid broker port number: \(arg)" }
        o.brokerPort = v
    case .dataDir:
        guard !arg.isEmpty else { return "--data-dir needs a directory" }
        o.broker.dataDirectory = arg
    case .fsync:
        guard let p = FsyncPolicy(flag: arg) else { return "Invalid --fsync: \(arg) (always, never or <N>ms)" }
        o.broker.fsync = p
    case .memory:
        guard let v = parseInt(arg), v > 0 else { return "Invalid --broker-memory: \(arg)" }
        o.brokerMemoryMB = v
    case .visibilityTimeout:
        guard let v = parseInt(arg), v >= 0 else { return "Invalid --visibility-timeout: \(arg)" }
        o.broker.visibilityTimeoutMs = UInt64(v)
    case .prefetch:
        guard let v = parseInt(arg), v > 0 else { return "Invalid --prefetch: \(arg)" }
        o.broker.prefetch = v
    }
    return nil
}

/// memcached 1.6 flags that swiftcached does not implement yet: recognised, so that using one is
/// refused with a clear message instead of getopt's "invalid option".
let unsupportedFlags: [(short: UInt8, long: String, takesArgument: Bool, what: String)] = [
    (UInt8(ascii: "S"), "enable-sasl", false, "SASL authentication"),
    (UInt8(ascii: "e"), "memory-file", true, "item memory in an mmap'd file"),
    (UInt8(ascii: "Z"), "enable-ssl", false, "TLS"),
    (UInt8(ascii: "N"), "napi_ids", true, "NAPI ids"),
]

enum SlabArenaLimits {
    /// The arena is addressed by 32-bit handles of 8 bytes (see SlabArena), less the first class pages.
    static let maxMegabytes = 32 * 1024 - 128
}
