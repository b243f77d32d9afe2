// What redis-server 7.0.15's container commands (CLIENT, COMMAND, CONFIG, FUNCTION, PUBSUB, SLOWLOG,
// OBJECT, MEMORY) have beyond what this port implements: the names of all their subcommands (a
// word that is none of them is refused before it runs, as redis's lookup fails: "unknown
// subcommand", no commandstats line, RESPConnection.execute), and `<container> HELP`: redis's own
// help text, line for line (an array of simple strings, as its addReplyHelp). The
// text lists every subcommand redis has, those this port does not implement included (CLIENT
// TRACKING, CACHING, PAUSE, UNPAUSE, TRACKINGINFO; COMMAND GETKEYSANDFLAGS; FUNCTION's DELETE, DUMP,
// KILL, LOAD, RESTORE, STATS; MEMORY's DOCTOR, MALLOC-STATS, PURGE, STATS), so that a user sees
// what redis shows; those answer as README's Redis section says.
// Copied from redis-server 7.0.15's replies (HELP of each container).
import Platform

extension RESPConnection {
    /// Every subcommand redis 7.0.15 has, per container (COMMAND DOCS of each).
    private static let redisSubcommands: [(container: StaticString, subcommands: [StaticString])] = [
        ("client", ["tracking", "reply", "kill", "trackinginfo", "id", "help", "no-evict", "getredir", "list", "info", "caching",
                    "unblock", "setname", "unpause", "getname", "pause"]),
        ("command", ["list", "docs", "getkeysandflags", "info", "count", "getkeys", "help"]),
        ("config", ["get", "resetstat", "set", "help", "rewrite"]),
        ("function", ["restore", "list", "delete", "kill", "flush", "dump", "load", "help", "stats"]),
        ("pubsub", ["channels", "shardnumsub", "shardchannels", "numsub", "help", "numpat"]),
        ("slowlog", ["len", "help", "reset", "get"]),
        ("object", ["freq", "refcount", "encoding", "idletime", "help"]),
        ("memory", ["purge", "usage", "doctor", "malloc-stats", "stats", "help"]),
        ("xgroup", ["create", "setid", "destroy", "createconsumer", "delconsumer", "help"]),
        ("xinfo", ["consumers", "groups", "stream", "help"]),
    ]

    /// Whether redis 7.0 has subcommand `word` (any case) of `container`: a word it lacks is an
    /// unknown subcommand; one it has that this port does not implement is answered by the
    /// container's handler.
    static func redisHasSubcommand(_ container: StaticString, _ word: UnsafeRawBufferPointer) -> Bool {
        let name = UnsafeRawBufferPointer(start: container.utf8Start, count: container.utf8CodeUnitCount)
        guard let row = redisSubcommands.first(where: { equalFolded(name, $0.container) }) else { return false }
        return row.subcommands.contains { equalFolded(word, $0) }
    }

    /// redis's reply to a container's subcommand it lacks: "unknown subcommand '%.128s'. Try
    /// %s HELP." (printf's %s: the word up to a NUL byte).
    func unknownSubcommandReply(_ command: RESPCommand) -> String {
        let word = argument(1).prefix(128).prefix { $0 != 0 }
        return "ERR unknown subcommand '" + String(decoding: word, as: UTF8.self) + "'. Try " + command.name.description.uppercased() + " HELP."
    }

    /// HELP of the container named by argument 0, if the request is `<container> HELP`.
    func containerHelp(_ out: OutputBuffer) -> HandlerAction? {
        guard argumentCount == 2, argument(1, is: "help") else { return nil }
        let lines: [StaticString]
        let name = argument(0)
        if equalFolded(name, "client") { lines = Self.clientHelp }
        else if equalFolded(name, "command") { lines = Self.commandHelp }
        else if equalFolded(name, "config") { lines = Self.configHelp }
        else if equalFolded(name, "function") { lines = Self.functionHelp }
        else if equalFolded(name, "pubsub") { lines = Self.pubsubHelp }
        else if equalFolded(name, "slowlog") { lines = Self.slowlogHelp }
        else if equalFolded(name, "object") { lines = Self.objectHelp }
        else if equalFolded(name, "memory") { lines = Self.memoryHelp }
        else if equalFolded(name, "xgroup") { lines = Self.xgroupHelp }
        else if equalFolded(name, "xinfo") { lines = Self.xinfoHelp }
        else { return nil }
        out.appendRESPArrayHeader(lines.count)
        for line in lines { out.appendRESPSimple(line) }
        return .proceed
    }

    private static let xgroupHelp: [StaticString] = [
        "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CREATE <key> <groupname> <id|$> [option]",
        "    Create a new consumer group. Options are:",
        "    * MKSTREAM",
        "      Create the empty stream if it does not exist.",
        "    * ENTRIESREAD entries_read",
        "      Set the group's entries_read counter (internal use).",
        "CREATECONSUMER <key> <groupname> <consumer>",
        "    Create a new consumer in the specified group.",
        "DELCONSUMER <key> <groupname> <consumer>",
        "    Remove the specified consumer.",
        "DESTROY <key> <groupname>",
        "    Remove the specified group.",
        "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
        "    Set the current group ID and entries_read counter.",
        "HELP",
        "    Prints this help.",
    ]

    private static let xinfoHelp: [StaticString] = [
        "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CONSUMERS <key> <groupname>",
        "    Show consumers of <groupname>.",
        "GROUPS <key>",
        "    Show the stream consumer groups.",
        "STREAM <key> [FULL [COUNT <count>]",
        "    Show information about the stream.",
        "HELP",
        "    Prints this help.",
    ]

    private static let clientHelp: [StaticString] = [
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CACHING (YES|NO)",
        "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
        "GETREDIR",
        "    Return the client ID we are redirecting to when tracking is enabled.",
        "GETNAME",
        "    Return the name of the current connection.",
        "ID",
        "    Return the ID of the current connection.",
        "INFO",
        "    Return information about the current client connection.",
        "KILL <ip:port>",
        "    Kill connection made from <ip:port>.",
        "KILL <option> <value> [<option> <value> [...]]",
        "    Kill connections. Options are:",
        "    * ADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made from the specified address",
        "    * LADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made to specified local address",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Kill connections by type.",
        "    * USER <username>",
        "      Kill connections authenticated by <username>.",
        "    * SKIPME (YES|NO)",
        "      Skip killing current connection (default: yes).",
        "LIST [options ...]",
        "    Return information about client connections. Options:",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Return clients of specified type.",
        "UNPAUSE",
        "    Stop the current client pause, resuming traffic.",
        "PAUSE <timeout> [WRITE|ALL]",
        "    Suspend all, or just write, clients for <timeout> milliseconds.",
        "REPLY (ON|OFF|SKIP)",
        "    Control the replies sent to the current connection.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        "UNBLOCK <clientid> [TIMEOUT|ERROR]",
        "    Unblock the specified blocked client.",
        "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
        "         [OPTIN] [OPTOUT] [NOLOOP]",
        "    Control server assisted client side caching.",
        "TRACKINGINFO",
        "    Report tracking status for the current connection.",
        "NO-EVICT (ON|OFF)",
        "    Protect current client connection from eviction.",
        "HELP",
        "    Prints this help.",
    ]

    private static let commandHelp: [StaticString] = [
        "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "(no subcommand)",
        "    Return details about all Redis commands.",
        "COUNT",
        "    Return the total number of commands in this Redis server.",
        "LIST",
        "    Return a list of all commands in this Redis server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "GETKEYS <full-command>",
        "    Return the keys from a full Redis command.",
        "GETKEYSANDFLAGS <full-command>",
        "    Return the keys and the access flags from a full Redis command.",
        "HELP",
        "    Prints this help.",
    ]

    private static let configHelp: [StaticString] = [
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file.",
        "HELP",
        "    Prints this help.",
    ]

    private static let functionHelp: [StaticString] = [
        "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "LOAD [REPLACE] <FUNCTION CODE>",
        "    Create a new library with the given library name and code.",
        "DELETE <LIBRARY NAME>",
        "    Delete the given library.",
        "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
        "    Return general information on all the libraries:",
        "    * Library name",
        "    * The engine used to run the Library",
        "    * Library description",
        "    * Functions list",
        "    * Library code (if WITHCODE is given)",
        "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
        "STATS",
        "    Return information about the current function running:",
        "    * Function name",
        "    * Command used to run the function",
        "    * Duration in MS that the function is running",
        "    If no function is running, return nil",
        "    In addition, returns a list of available engines.",
        "KILL",
        "    Kill the current running function.",
        "FLUSH [ASYNC|SYNC]",
        "    Delete all the libraries.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the libraries.",
        "    * SYNC: Synchronously flush the libraries.",
        "DUMP",
        "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
        "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
        "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
        "    control how to handle existing libraries (default APPEND):",
        "    * FLUSH: delete all existing libraries.",
        "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
        "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
        "      libraries with the new libraries (notice that even on this option there is a chance of failure",
        "      in case of functions name collision with another library).",
        "HELP",
        "    Prints this help.",
    ]

    private static let pubsubHelp: [StaticString] = [
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Prints this help.",
    ]

    private static let slowlogHelp: [StaticString] = [
        "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog.",
        "HELP",
        "    Prints this help.",
    ]

    private static let objectHelp: [StaticString] = [
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    ]

    private static let memoryHelp: [StaticString] = [
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DOCTOR",
        "    Return memory problems reports.",
        "MALLOC-STATS",
        "    Return internal statistics report from the memory allocator.",
        "PURGE",
        "    Attempt to purge dirty pages for reclamation by the allocator.",
        "STATS",
        "    Return information about the memory usage of the server.",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5, 0 means sample all).",
        "HELP",
        "    Prints this help.",
    ]
}
