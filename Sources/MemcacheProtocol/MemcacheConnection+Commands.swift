// The cache port's command table: every text command that is not on the get/set/meta path
// (MemcacheConnection.dispatch switches on those directly). An arity is declared where a wrong
// token count is answered as an unknown command (ERROR, or close for an HTTP request line), as
// memcached's process_command falls through to; handlers whose wrong-count reply differs check
// it themselves and are declared `.any`.
import Platform

extension MemcacheConnection {
    static let commands = CommandTable<MemcacheConnection>([
        Command("stats") { c, line, out in c.processStats(line.input, line.tokens, out) },
        Command("flush_all", CommandArity(1...3)) { c, line, out in c.processFlushAll(line, out) },
        Command("version") { c, _, out in c.processVersion(out) },
        // Replies already queued in this batch still go out (memcached: conn_mwrite, then close).
        Command("quit") { _, _, _ in .close },
        Command("verbosity", CommandArity(2...3)) { c, line, out in c.processVerbosity(line, out) },
        Command("slabs", CommandArity(3...Tokens.capacity)) { c, line, out in
            out.append(c.processSlabs(line.input, line.tokens))
            return .proceed
        },
        Command("watch") { c, line, out in c.processWatch(line.input, line.tokens, line.more, out) },
        Command("lru", CommandArity(2...Tokens.capacity)) { c, line, out in
            out.append(c.processLRU(line.input, line.tokens))
            return .proceed
        },
        Command("lru_crawler", CommandArity(2...Tokens.capacity)) { c, line, out in
            c.processLRUCrawler(line.input, line.tokens, out)
        },
        Command("cache_memlimit", CommandArity(2...3)) { c, line, out in c.processCacheMemlimit(line, out) },
        Command("shutdown", CommandArity(1...2)) { c, line, out in c.processShutdown(line, out) },
        Command("refresh_certs") { c, line, out in c.processRefreshCerts(line, out) },
        // The meta no-op: answered at once, whatever follows it.
        Command("mn") { _, _, out in
            out.append(MetaReply.mn)
            return .proceed
        },
    ], unknown: { c, line, out in c.unknownCommand(line, out) })
}
