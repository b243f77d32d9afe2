// lru_crawler, cache_memlimit and stats sizes (and sizes_enable/disable), with memcached 1.6.18's answers (checked side by
// side with `memcached -o no_lru_crawler` on loopback).
import CacheEngine
import Foundation
import MemcacheProtocol
import Testing

@Suite("admin commands")
struct AdminCommandsTests {
    @Test("lru_crawler: enable/disable state, crawl only when enabled, class ids checked")
    func lruCrawler() throws {
        let c = try Client()
        #expect(c.engine.crawler.isEnabled)
        #expect(c.send("lru_crawler enable\r\n") == "ERROR failed to start lru crawler thread\r\n")
        #expect(c.send("lru_crawler disable\r\n") == "OK\r\n")
        #expect(!c.engine.crawler.isEnabled)
        #expect(c.send("lru_crawler crawl all\r\n") == "CLIENT_ERROR lru crawler disabled\r\n")
        #expect(c.send("lru_crawler enable\r\n") == "OK\r\n")
        #expect(c.send("lru_crawler crawl all\r\n") == "OK\r\n")
        #expect(c.send("lru_crawler crawl 1,2,39\r\n") == "OK\r\n")
        #expect(c.send("lru_crawler crawl 1,99\r\n") == "BADCLASS invalid class id\r\n")
        #expect(c.send("lru_crawler crawl x\r\n") == "BADCLASS invalid class id\r\n")
        #expect(c.send("lru_crawler sleep abc\r\n") == "CLIENT_ERROR bad command line format\r\n")
        #expect(c.send("lru_crawler sleep 2000000\r\n") == "CLIENT_ERROR sleep must be one second or less\r\n")
        #expect(c.send("lru_crawler sleep 100\r\n") == "OK\r\n")
        #expect(c.send("lru_crawler tocrawl 10\r\n") == "OK\r\n")
        #expect(c.send("lru_crawler bogus\r\n") == "ERROR\r\n")
        #expect(c.send("lru_crawler\r\n") == "ERROR\r\n")
    }

    @Test("lru_crawler metadump: memcached's line per live item (url-encoded key, unix times), then END")
    func metadump() throws {
        let c = try Client()
        _ = c.send("set foo 0 0 3\r\nbar\r\nset a/b:c 5 1000 1\r\nx\r\nset gone 0 -1 1\r\ny\r\nget foo\r\n")
        let now = testUnixNow
        let dump = c.send("lru_crawler metadump all\r\n")
        // By bytes: "\r\n" is one Character to Swift's String.
        let lines = Array(dump.utf8).split(separator: 0x0a, omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        #expect(lines.last == "" && lines.dropLast().last == "END\r", "\(dump)")
        let items = Set(lines.dropLast(2))
        #expect(items == [
            "key=foo exp=-1 la=\(now) cas=1 fetch=yes cls=1 size=\(ItemLayout.headerSize + 3 + 3)",
            "key=a%2Fb%3Ac exp=\(now + 1000) la=\(now) cas=2 fetch=no cls=1 size=\(ItemLayout.headerSize + 5 + 1)",
        ], "\(dump)")
        #expect(c.send("lru_crawler metadump 2\r\n") == "END\r\n")
        #expect(c.send("lru_crawler metadump 1,99\r\n") == "BADCLASS invalid class id\r\n")
        _ = c.send("lru_crawler disable\r\n")
        #expect(c.send("lru_crawler metadump all\r\n") == "CLIENT_ERROR lru crawler disabled\r\n")
    }

    @Test("lru tune refuses factors that are not finite numbers above 0; metadump obeys -X and lists a class once")
    func tuneAndDumpGuards() throws {
        let c = try Client()
        #expect(c.send("lru tune 10 10 nan nan\r\n") == "ERROR hot/warm age factors must be greater than 0\r\n")
        #expect(c.send("lru tune 10 10 inf 1\r\n") == "ERROR hot/warm age factors must be greater than 0\r\n")
        _ = c.send("set a 0 0 1\r\n1\r\n")
        let dump = c.send("lru_crawler metadump 1,1,1\r\n")
        #expect(dump.components(separatedBy: "key=a ").count == 2, "\(dump)")
        var noDump = ProtocolSettings()
        noDump.dumpEnabled = false
        let d = try Client(protocolSettings: noDump)
        #expect(d.send("lru_crawler metadump all\r\n") == "ERROR metadump not allowed\r\n")
    }

    @Test("a get naming one item past 60,000 references: the first 59,999 values, then misses and END (memcached's limited_get)")
    func referenceLimit() throws {
        let c = try Client()
        _ = c.send("set a 0 0 1\r\n1\r\n")
        let many = "get" + String(repeating: " a", count: 60_005) + "\r\n"
        let reply = c.send(many)
        #expect(reply.hasSuffix("VALUE a 0 1\r\n1\r\nEND\r\n"))
        #expect(reply.components(separatedBy: "VALUE a 0 1\r\n1\r\n").count - 1 == 59_999)
        // The references went with the reply: the next get is a hit again.
        #expect(c.send("get a\r\n") == "VALUE a 0 1\r\n1\r\nEND\r\n")
        // Below the limit the multi-get is answered in full.
        let fine = c.send("get" + String(repeating: " a", count: 1000) + "\r\n")
        #expect(fine.components(separatedBy: "VALUE a 0 1").count == 1001)
    }

    @Test("an explicit crawl walks lists that hold no expiring items too")
    func explicitCrawlWalksEverything() throws {
        let c = try Client()
        _ = c.send("set a 0 0 1\r\n1\r\nset b 0 0 1\r\n2\r\n")
        #expect(c.engine.crawlAll() == 0)
        #expect(c.engine.itemStats().crawlerItemsChecked == 0)
        #expect(c.engine.crawlAll(everything: true) == 0)
        #expect(c.engine.itemStats().crawlerItemsChecked == 2)
    }

    @Test("cache_memlimit changes the limit in force; below 8 MB is refused")
    func cacheMemlimit() throws {
        let c = try Client()
        #expect(c.send("cache_memlimit 0\r\n") == "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n")
        #expect(c.send("cache_memlimit 32\r\n") == "OK\r\n")
        #expect(c.engine.memoryLimit == 32 * 1024 * 1024)
        #expect(c.send("stats\r\n").contains("STAT limit_maxbytes 33554432\r\n"))
        #expect(c.send("cache_memlimit 100 noreply\r\nmn\r\n") == "MN\r\n")
        #expect(c.engine.memoryLimit == 100 * 1024 * 1024)
        #expect(c.send("cache_memlimit abc\r\n") == "ERROR\r\n")
    }

    @Test("stats cachedump lists a class's COLD items, newest first; -X refuses it")
    func cachedump() throws {
        let c = try Client { $0.lruSegmented = false }
        _ = c.send("set a 0 0 3\r\nabc\r\nset bb 0 0 1\r\nx\r\n")
        #expect(c.send("stats cachedump 1 0\r\n") == "ITEM bb [1 b; 0 s]\r\nITEM a [3 b; 0 s]\r\nEND\r\n")
        #expect(c.send("stats cachedump 1 1\r\n") == "ITEM bb [1 b; 0 s]\r\nEND\r\n")
        #expect(c.send("stats cachedump 99 0\r\n") == "CLIENT_ERROR Illegal slab id\r\n")
        #expect(c.send("stats cachedump\r\n") == "CLIENT_ERROR bad command line\r\n")
        let segmented = try Client()
        _ = segmented.send("set a 0 0 3\r\nabc\r\n")
        // New items are in HOT: memcached 1.6 shows nothing for them either.
        #expect(segmented.send("stats cachedump 1 0\r\n") == "END\r\n")
        var noDump = ProtocolSettings()
        noDump.dumpEnabled = false
        let refused = try Client(protocolSettings: noDump)
        #expect(refused.send("stats cachedump 1 0\r\n") == "CLIENT_ERROR stats cachedump not allowed\r\n")
    }

    @Test("shutdown takes no mode but graceful")
    func shutdownModes() throws {
        var settings = ProtocolSettings()
        settings.allowShutdown = true
        let c = try Client(protocolSettings: settings)
        #expect(c.send("shutdown foo\r\n") == "CLIENT_ERROR invalid shutdown mode\r\n")
    }

    @Test("stats detail: per-prefix gets, hits, sets and deletes while on; keys without the delimiter not counted")
    func statsDetail() throws {
        let c = try Client()
        #expect(c.send("stats detail\r\n") == "CLIENT_ERROR usage: stats detail on|off|dump\r\n")
        #expect(c.send("stats detail dump\r\n") == "END\r\n")
        #expect(c.send("stats detail on\r\n") == "OK\r\n")
        _ = c.send("set a:1 0 0 1\r\nx\r\nset b:2 0 0 1\r\nx\r\nset nodelim 0 0 1\r\nx\r\n")
        _ = c.send("get a:1 a:2 nodelim\r\ndelete b:2\r\n")
        let dump = "PREFIX b get 0 hit 0 set 1 del 1\r\nPREFIX a get 2 hit 1 set 1 del 0\r\nEND\r\n"
        #expect(c.send("stats detail dump\r\n") == dump)
        #expect(c.send("stats detail off\r\n") == "OK\r\n")
        _ = c.send("get a:1\r\n")
        #expect(c.send("stats detail dump\r\n") == dump)
        var slash = ProtocolSettings()
        slash.prefixDelimiter = UInt8(ascii: "/")
        let d = try Client(protocolSettings: slash)
        _ = d.send("stats detail on\r\nset x/1 0 0 1\r\n1\r\nset y:1 0 0 1\r\n1\r\n")
        #expect(d.send("stats detail dump\r\n") == "PREFIX x get 0 hit 0 set 1 del 0\r\nEND\r\n")
    }

    // Audit of issue 12: stats reset left the prefixes (memcached's stats_prefix_clear drops them).
    @Test("stats reset forgets stats detail's prefixes and leaves detail on (as memcached 1.6.18, checked side by side)")
    func statsResetClearsDetail() throws {
        let c = try Client()
        _ = c.send("stats detail on\r\nset a:1 0 0 1\r\nx\r\nget a:1 b:2\r\n")
        #expect(c.send("stats detail dump\r\n") == "PREFIX b get 1 hit 0 set 0 del 0\r\nPREFIX a get 1 hit 1 set 1 del 0\r\nEND\r\n")
        #expect(c.send("stats reset\r\n") == "RESET\r\n")
        #expect(c.send("stats detail dump\r\n") == "END\r\n")
        _ = c.send("get a:1\r\n")
        #expect(c.send("stats detail dump\r\n") == "PREFIX a get 1 hit 1 set 0 del 0\r\nEND\r\n")
    }

    // memcached 1.6.18's dumps of these requests, taken side by side (`memcached -t 2`): its table
    // of 256 buckets by murmur3 of the prefix, each chain newest first (a and p7 share bucket 178).
    @Test("stats detail dump lists prefixes in memcached's order: by murmur3 bucket, newest first within one")
    func statsDetailOrder() throws {
        let c = try Client()
        _ = c.send("stats detail on\r\n")
        _ = c.send("get a:1 b:2 c:3 d:4 e:5 zz:1 a:2\r\n")
        _ = c.send("set b:1 0 0 1\r\nx\r\nget b:1\r\ndelete c:1\r\nset q:1 0 0 1\r\nx\r\n")
        _ = c.send("get m:1\r\nget k:1\r\nget f:1\r\n")
        #expect(c.send("stats detail dump\r\n") == "PREFIX b get 2 hit 1 set 1 del 0\r\nPREFIX zz get 1 hit 0 set 0 del 0\r\n"
            + "PREFIX f get 1 hit 0 set 0 del 0\r\nPREFIX m get 1 hit 0 set 0 del 0\r\nPREFIX c get 1 hit 0 set 0 del 1\r\n"
            + "PREFIX e get 1 hit 0 set 0 del 0\r\nPREFIX d get 1 hit 0 set 0 del 0\r\nPREFIX a get 2 hit 0 set 0 del 0\r\n"
            + "PREFIX k get 1 hit 0 set 0 del 0\r\nPREFIX q get 0 hit 0 set 1 del 0\r\nEND\r\n")
        let d = try Client()
        _ = d.send("stats detail on\r\n")
        _ = d.send("get a:1 p7:1 b:1\r\n")
        #expect(d.send("stats detail dump\r\n") == "PREFIX b get 1 hit 0 set 0 del 0\r\nPREFIX p7 get 1 hit 0 set 0 del 0\r\n"
            + "PREFIX a get 1 hit 0 set 0 del 0\r\nEND\r\n")
        _ = d.send("stats reset\r\nget p7:1 a:1\r\n")
        #expect(d.send("stats detail dump\r\n") == "PREFIX a get 1 hit 0 set 0 del 0\r\nPREFIX p7 get 1 hit 0 set 0 del 0\r\nEND\r\n")
    }

    @Test("stats sizes reports tracking disabled, as memcached does by default")
    func statsSizes() throws {
        let c = try Client()
        #expect(c.send("stats sizes\r\n") == "STAT sizes_status disabled\r\nEND\r\n")
    }

    @Test("stats sizes counts items per 32-byte step in memcached's sizes; disabling clears every count")
    func statsSizesCounts() throws {
        let c = try Client()
        #expect(c.send("stats sizes_enable\r\n") == "STAT sizes_status enabled\r\n")
        let big = String(repeating: "v", count: 3000)
        _ = c.send("set a 0 0 1\r\nx\r\nset b 0 0 3000\r\n\(big)\r\n")
        // memcached's sizes: 48-byte header, key and NUL, value and CRLF, 8 bytes of CAS.
        #expect(c.send("stats sizes\r\n") == "STAT 64 1\r\nSTAT 3072 1\r\nEND\r\n")
        // The large item's count is cleared too (the clear stops at the highest bucket counted).
        #expect(c.send("stats sizes_disable\r\n") == "STAT sizes_status disabled\r\n")
        #expect(c.send("stats sizes_enable\r\n") == "STAT sizes_status enabled\r\n")
        #expect(c.send("stats sizes\r\n") == "END\r\n")
        _ = c.send("set c 0 0 1\r\ny\r\n")
        #expect(c.send("stats sizes\r\n") == "STAT 64 1\r\nEND\r\n")
    }
}
