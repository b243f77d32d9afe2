// Every command-line flag, once: getopt_long's optstring and option array, `-h`, the parse and the
// `stats settings` names all come from this table, and OptionTableTests checks README's flag tables
// and the running server's `stats settings` against it. Entries are in `-h` order.
//
// Adding a flag:
// 1. a field in `Options` (Options.swift) if no existing settings struct holds the value;
// 2. an `OptionSpec` here: letter (nil for a long-only flag), long name, argument, placeholder,
//    section, default shown, `stats settings` name, help lines and the closure that applies it
//    (`.refuse(message)` on a bad value); a check that involves other flags goes in
//    `finishOptions` (Options.swift);
// 3. if memcached shows it in `stats settings`, a `SettingsEntry` in SettingsTable.swift at
//    memcached's position;
// 4. a row in README's flag table of its section (OptionTableTests fails until it is there).
// An `-o` suboption is a `SubOptionSpec` in SubOptionTable.swift, and a name in README's `-o` row.
import Broker
import Durability
import Server
#if canImport(Glibc)
import Glibc
#endif

enum OptionTable {
    /// The flags, in the order `-h` lists them.
    static let flags: [OptionSpec] = [
        OptionSpec("p", "port", .required, "<num>", default: "11211", settings: "tcpport", help: [
            "TCP port to listen on (default: {default}, 0 is off, -1 picks a free one;",
            "MEMCACHED_PORT_FILENAME names a file that receives the ports bound)",
        ]) { arg, p in
            guard let v = parseInt(arg), v >= -1, v <= 65535 else { return .refuse("Invalid port number: \(arg)") }
            p.options.server.port = v
            return .proceed
        },
        OptionSpec("U", "udp-port", .required, "<num>", default: "0", settings: "udpport", help: [
            "UDP port to listen on (default: {default}, off; -1 picks a free one)",
        ]) { arg, p in
            guard let v = parseInt(arg), v >= -1, v <= 65535 else { return .refuse("Invalid UDP port number: \(arg)") }
            p.options.udpPort = v
            p.options.server.udpPort = v
            return .proceed
        },
        OptionSpec("l", "listen", .required, "<addr>", default: "all", settings: "inter", help: [
            "interface to listen on (default: {default}); comma-separated list allowed",
        ]) { arg, p in
            p.options.server.hosts += arg.split(separator: ",").map(String.init)
            return .proceed
        },
        OptionSpec("u", "user", .required, "<user>", help: [
            "assume identity of <user> (only when run as root)",
        ]) { arg, p in
            p.options.user = arg
            return .proceed
        },
        OptionSpec("m", "memory-limit", .required, "<num>", default: "64", settings: "maxbytes", help: [
            "item memory in megabytes (default: {default})",
        ]) { arg, p in
            // memcached: atoi, times a megabyte in a size_t. 0 (or no number) is refused once -I is
            // compared with it; a negative number wraps to a size past any limit here.
            let v = Int(cAtoi(arg))
            p.options.memoryLimitMB = v < 0 ? 1 << 44 : v
            return .proceed
        },
        OptionSpec("M", "disable-evictions", default: "off", settings: "evictions", help: [
            "return error on memory exhausted instead of evicting",
        ]) { _, p in
            p.options.engine.evictToFree = false
            return .proceed
        },
        OptionSpec("c", "conn-limit", .required, "<num>", default: "1024", settings: "maxconns", help: [
            "max simultaneous connections (default: {default})",
        ]) { arg, p in
            let v = Int(cAtoi(arg))
            guard v > 0 else { return .reject("Maximum connections must be greater than 0") }
            // The descriptor limit is raised to fit -c at start-up (see FileLimit.swift).
            guard v <= ServerSettings.maxConnectionsLimit else {
                return .refuse("Maximum connections must be at most \(ServerSettings.maxConnectionsLimit)")
            }
            p.options.server.maxConnections = v
            return .proceed
        },
        OptionSpec("v", "verbose", settings: "verbosity",
                   extraRows: [HelpRow(synopsis: "-vv", text: "very verbose (also print the slab class table)")], help: [
            "verbose (print errors/warnings while in event loop)",
        ]) { _, p in
            p.options.verbose += 1
            return .proceed
        },
        OptionSpec("h", "help", help: [
            "print this help and exit",
        ]) { _, _ in
            .finish(usage())
        },
        OptionSpec("V", "version", help: [
            "print version and exit",
        ]) { _, _ in
            .finish("swiftcached \(swiftcachedVersion) (memcached 1.6.18 compatible)\n")
        },
        OptionSpec("f", "slab-growth-factor", .required, "<num>", default: "1.25", settings: "growth_factor", column: 32, help: [
            "chunk size growth factor (default: {default})",
        ]) { arg, p in
            guard let v = Double(arg), v > 1.0, v.isFinite else { return .reject("Factor must be greater than 1") }
            p.options.engine.growthFactor = v
            return .proceed
        },
        OptionSpec("n", "slab-min-size", .required, "<bytes>", default: "48", settings: "chunk_size", column: 32, help: [
            "min space used for key+value+flags (default: {default})",
        ]) { arg, p in
            // Slab class sizes are 32-bit; a chunk this large is past any -I anyway.
            let v = Int(cAtoi(arg))
            guard v > 0 else { return .reject("Chunk size must be greater than 0") }
            guard v <= 1024 * 1024 * 1024 else { return .refuse("Chunk size must be at most 1073741824 (-n)") }
            p.options.engine.chunkSizeMin = v
            return .proceed
        },
        OptionSpec("t", "threads", .required, "<num>", default: "4", settings: "num_threads", help: [
            "number of worker threads (default: {default})",
        ]) { arg, p in
            let v = Int(cAtoi(arg))
            guard v > 0 else { return .reject("Number of threads must be greater than 0") }
            // Each worker holds a notify pipe and an event base: three descriptors, a thread.
            guard v <= ServerSettings.maxThreads else {
                return .refuse("Number of threads must be at most \(ServerSettings.maxThreads)")
            }
            p.options.server.threads = v
            p.options.engine.workerThreads = v
            return .proceed
        },
        OptionSpec("R", "max-reqs-per-event", .required, default: "20", settings: "reqs_per_event", help: [
            "maximum number of requests per event (default: {default})",
        ]) { arg, p in
            let v = Int(cAtoi(arg))
            guard v > 0 else { return .reject("Number of requests per event must be greater than 0") }
            p.options.proto.requestsPerEvent = v
            return .proceed
        },
        OptionSpec("C", "disable-cas", default: "off", settings: "cas_enabled", help: [
            "disable use of CAS",
        ]) { _, p in
            p.options.engine.useCAS = false
            return .proceed
        },
        OptionSpec("b", "listen-backlog", .required, "<num>", default: "1024", settings: "tcp_backlog", help: [
            "set the backlog queue limit (default: {default})",
        ]) { arg, p in
            guard let v = parseInt(arg), v > 0, v <= Int(Int32.max) else { return .refuse("Invalid backlog: \(arg)") }
            p.options.server.backlog = v
            return .proceed
        },
        OptionSpec("I", "max-item-size", .required, "<num>", default: "1m", settings: "item_size_max", help: [
            "adjusts max item size (default: {default}, min: 1k, max: 1024m)",
        ]) { arg, p in
            guard let v = parseSize(arg) else { return .refuse("Invalid max item size: \(arg)") }
            p.itemSizeMax = v
            return .proceed
        },
        OptionSpec("s", "unix-socket", .required, "<file>", settings: "domain_socket", help: [
            "UNIX socket to listen on (disables network support)",
        ]) { arg, p in
            p.options.server.unixSocket = arg
            return .proceed
        },
        OptionSpec("a", "unix-mask", .required, "<mask>", default: "700", settings: "umask", help: [
            "access mask for UNIX socket, in octal (default: {default})",
        ]) { arg, p in
            guard let mask = Int(arg, radix: 8), mask >= 0, mask <= 0o777 else { return .refuse("Invalid unix socket mask: \(arg)") }
            p.options.server.unixMask = mask
            return .proceed
        },
        OptionSpec("d", "daemon", default: "off", help: [
            "run as a daemon",
        ]) { _, p in
            p.options.daemonize = true
            return .proceed
        },
        OptionSpec("P", "pidfile", .required, "<file>", help: [
            "save PID in <file>, only used with -d option",
        ]) { arg, p in
            p.options.pidFile = arg
            return .proceed
        },
        OptionSpec("D", "stats-delimiter", .required, default: ":", settings: "stat_key_prefix", synopsis: "-D <char>", help: [
            "use <char> as the delimiter between key prefixes and IDs (stats detail; default '{default}')",
        ]) { arg, p in
            guard let c = arg.utf8.first, arg.utf8.count == 1 else { return .refuse("No delimiter specified") }
            p.options.proto.prefixDelimiter = c
            return .proceed
        },
        OptionSpec("A", "enable-shutdown", default: "off", settings: "shutdown_command", help: [
            "enable ascii \"shutdown\" command",
        ]) { _, p in
            p.options.proto.allowShutdown = true
            return .proceed
        },
        OptionSpec("B", "protocol", .required, "<name>", default: "auto", settings: "binding_protocol", help: [
            "protocol - one of ascii, binary, or auto (default: {default}-negotiate)",
        ]) { arg, p in
            switch arg {
            case "ascii", "auto", "binary": p.options.proto.bindingProtocol = arg
            default: return .refuse("Invalid value for binding protocol: \(arg)\n -- should be one of auto, binary, or ascii")
            }
            return .proceed
        },
        OptionSpec("F", "disable-flush-all", default: "off", settings: "flush_enabled", help: [
            "disable flush_all command",
        ]) { _, p in
            p.options.proto.flushEnabled = false
            return .proceed
        },
        OptionSpec("r", "enable-coredumps", default: "off", help: [
            "maximize core file limit",
        ]) { _, _ in
            var limit = rlimit()
            if getrlimit(Int32(RLIMIT_CORE.rawValue), &limit) == 0 {
                limit.rlim_cur = limit.rlim_max
                _ = setrlimit(Int32(RLIMIT_CORE.rawValue), &limit)
            }
            return .proceed
        },
        OptionSpec("i", "license", help: [
            "print the license and exit",
        ]) { _, _ in
            .finish("swiftcached \(swiftcachedVersion): a memcached-compatible server. libevent: BSD 3-clause license.\n")
        },
        OptionSpec("X", "disable-dumping", default: "off", settings: "dump_enabled", help: [
            "disable stats cachedump",
        ]) { _, p in
            p.options.proto.dumpEnabled = false
            return .proceed
        },
        OptionSpec("W", "disable-watch", default: "off", help: [
            "disable watch commands (live logging)",
        ]) { _, p in
            p.options.proto.watchEnabled = false
            return .proceed
        },
        // The second line prints memcached's "user:pass\nuser2:pass2\n" with real line breaks.
        OptionSpec("Y", "auth-file", .required, "<file>", default: "off", settings: "auth_enabled_ascii", help: [
            "(EXPERIMENTAL) enable ASCII protocol authentication. format:",
            "user:pass\nuser2:pass2\n",
        ]) { arg, p in
            loadAuthFile(arg, &p.options)
        },
        OptionSpec("k", "lock-memory", default: "off", help: [
            "lock down all paged memory (slab pages are mlock'ed as they are taken)",
        ]) { _, p in
            p.options.engine.lockMemory = true
            return .proceed
        },
        OptionSpec("L", "enable-largepages", default: "off", help: [
            "transparent huge pages for item memory",
        ]) { _, p in
            p.options.engine.largePages = true
            return .proceed
        },
        OptionSpec("Z", "enable-ssl", default: "off", settings: "ssl_enabled", help: [
            "enable TLS/SSL on the TCP ports (cache, broker, Redis; see the ssl_* options)",
        ]) { _, p in
            p.options.server.tls.enabled = true
            return .proceed
        },
        OptionSpec("e", "memory-file", .required, "<file>", default: "off", settings: "memory_file", help: [
            "mmap a file for item memory (use a ram disk or persistent memory mount);",
            "enables the restartable cache: SIGUSR1 stops and saves <file>.meta,",
            "a restart with the same -e and layout settings keeps every item",
        ]) { arg, p in
            guard !arg.isEmpty else { return .refuse("-e needs a file name") }
            p.options.memoryFile = arg
            return .proceed
        },
        OptionSpec("o", "extended", .required, listsSubOptions: true, help: [
            "comma separated list of extended options:",
        ]) { arg, p in
            applySubOptions(arg, &p)
        },

        OptionSpec(notYet: "S", "enable-sasl", .none, what: "SASL authentication"),
        OptionSpec(notYet: "N", "napi_ids", .required, what: "NAPI ids"),

        OptionSpec(nil, "broker-port", .required, "<num>", section: .broker, default: "off", settings: "broker_port", help: [
            "broker listener port (conventional 22133; default: {default}, -1 picks a free one)",
        ]) { arg, p in
            guard let v = parseInt(arg), v >= -1, v <= 65535 else { return .refuse("Invalid broker port number: \(arg)") }
            p.options.brokerPort = v
            return .proceed
        },
        OptionSpec(nil, "redis-port", .required, "<num>", section: .redis, default: "off", settings: "redis_port", help: [
            "Redis (RESP) listener port (conventional 6379; default: {default}, -1 picks a free one)",
        ]) { arg, p in
            guard let v = parseInt(arg), v >= -1, v <= 65535 else { return .refuse("Invalid Redis port number: \(arg)") }
            p.options.redisPort = v
            return .proceed
        },
        OptionSpec(nil, "requirepass", .required, "<password>", section: .redis, default: "none", settings: "redis_requirepass", help: [
            "Redis port: clients must AUTH with this password (default: {default})",
        ]) { arg, p in
            guard !arg.isEmpty else { return .refuse("--requirepass needs a password") }
            p.options.redis.requirePassword = Array(arg.utf8)
            return .proceed
        },
        OptionSpec(nil, "data-dir", .required, "<dir>", section: .broker, default: "none", settings: "broker_data_dir", help: [
            "keep queue journals here (default: {default}, queues live in memory only)",
        ]) { arg, p in
            guard !arg.isEmpty else { return .refuse("--data-dir needs a directory") }
            p.options.broker.dataDirectory = arg
            return .proceed
        },
        OptionSpec(nil, "fsync", .required, "always|never|<N>ms", section: .broker, default: "100ms", settings: "broker_fsync",
                   column: 28, help: [
            "journal fsync policy (default: {default}); always = STORED after fsync",
        ]) { arg, p in
            guard let policy = FsyncPolicy(flag: arg) else { return .refuse("Invalid --fsync: \(arg) (always, never or <N>ms, N from 1 to \(FsyncPolicy.maxIntervalMs))") }
            p.options.broker.fsync = policy
            return .proceed
        },
        OptionSpec(nil, "broker-memory", .required, "<MB>", section: .broker, default: "half of -m", settings: "broker_memory", help: [
            "part of -m queue messages may hold (default: {default})",
        ]) { arg, p in
            guard let v = parseInt(arg), v > 0 else { return .refuse("Invalid --broker-memory: \(arg)") }
            p.options.brokerMemoryMB = v
            return .proceed
        },
        OptionSpec(nil, "visibility-timeout", .required, "<ms>", section: .broker, default: "0",
                   settings: "broker_visibility_timeout", help: [
            "open reads go back to the queue after this (default: {default}, at disconnect)",
        ]) { arg, p in
            guard let v = parseInt(arg), v >= 0 else { return .refuse("Invalid --visibility-timeout: \(arg)") }
            p.options.broker.visibilityTimeoutMs = UInt64(v)
            return .proceed
        },
        OptionSpec(nil, "prefetch", .required, "<num>", section: .broker, default: "1", settings: "broker_prefetch", help: [
            "open reads per connection and queue (default: {default}, like Kestrel)",
        ]) { arg, p in
            guard let v = parseInt(arg), v > 0 else { return .refuse("Invalid --prefetch: \(arg)") }
            p.options.broker.prefetch = v
            return .proceed
        },
    ]

    /// The getopt value of `flags[index]`: its short letter, or a value above any byte for a
    /// long-only flag.
    static func getoptValue(of index: Int) -> Int32 {
        if let short = flags[index].short { return Int32(short.asciiValue!) }
        return 0x100 + Int32(index)
    }

    /// The flag getopt_long returned `value` for; nil for `?` (an unknown flag or a missing argument).
    static func flag(forGetoptValue value: Int32) -> OptionSpec? {
        if value >= 0x100 {
            let index = Int(value - 0x100)
            return flags.indices.contains(index) && flags[index].short == nil ? flags[index] : nil
        }
        return flags.first { $0.short.map { Int32($0.asciiValue!) } == value }
    }

    /// getopt's optstring: each short letter, followed by `:` when it takes an argument (`::`
    /// when the argument is optional).
    static var optstring: String {
        flags.compactMap { spec in
            spec.short.map { short in
                switch spec.argument {
                case .none: "\(short)"
                case .required: "\(short):"
                case .optional: "\(short)::"
                }
            }
        }.joined()
    }
}
