// What redis-server 7.0.15's container commands (CLIENT, COMMAND, CONFIG, FUNCTION, PUBSUB, SLOWLOG,
// OBJECT, MEMORY) have beyond what this port implements: the names of all their subcommands (a
// word that is none of them is refused before it runs, as redis's lookup fails: "unknown
// subcommand", no commandstats line, RESPConnection.execute).
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
}
