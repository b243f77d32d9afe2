// Black-box test of Redis sorted sets (--redis-port): the transcript of Scripts/resp_zsets.py (ZADD's
// options and conflicts, score parsing and %.17g formatting, the range family with ranks, scores,
// lex ranges, REV, LIMIT and WITHSCORES, ZRANGESTORE, ZREMRANGEBY*, pops, ZMPOP, ZRANDMEMBER,
// ZSCAN, the set algebra with WEIGHTS/AGGREGATE and sets as inputs, the listpack -> skiplist
// conversion, a 3,000-member set, WRONGTYPE both ways, key commands, the blocking pops (a client
// blocked before ZADD/ZUNIONSTORE served by it), RESP3 and z-class keyspace
// notifications) against swiftcached with -t 2 and against redis-server 7.0, compared line by line;
// and Scripts/resp_hash_delete.py --zset: deleting a 300,000-member sorted set answers at once and the
// lazy freer takes its entries and skip-list nodes.
//
// redis-server is a prerequisite (Tools/deps.sh test installs it): without it the test fails with
// a message, it is never skipped.

import Foundation
import Testing
import TestSupport

@Suite("swiftcached Redis sorted sets black-box")
struct RESPZSetBlackBoxTests {
    @Test("sorted-set transcript equals redis-server 7.0's", .hangGuard)
    func zsetTranscriptMatchesRedis() async throws {
        try await expectTranscriptMatchesRedis("resp_zsets.py", marker: "ZSET CHECKS PASSED", minimumLines: 26)
    }

    @Test("DEL and UNLINK of a 300,000-member sorted set answer at once, the lazy freer takes it", .hangGuard)
    func largeZSetDeleteDoesNotStall() async throws {
        let python = try await IntegrationPaths.python()
        let script = try IntegrationPaths.script("resp_hash_delete.py")
        try await withSecondListener("--redis-port", ["-t", "2", "-m", "256"]) { server, port in
            for unlink in [false, true] {
                let r = try await ToolRunner.run(python, [script, "--port", String(port), "--fields", "300000", "--zset"] + (unlink ? ["--unlink"] : []),
                                                 timeout: .seconds(120))
                #expect(r.succeeded, "resp_hash_delete.py --zset failed:\n\(r.report)\nserver log:\n\(server.log)")
                let line = r.output.split(separator: "\n").last.map(String.init) ?? ""
                let facts = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "output: \(r.output)")
                #expect(facts["fields"] as? Int == 300_000)
                #expect(facts["deleted"] as? Int == 1 && facts["exists"] as? Int == 0)
                // Freeing 300,000 entries and as many skip-list nodes inline takes far longer in a debug build.
                let took = try #require(facts["delete_seconds"] as? Double)
                #expect(took < 0.1, "the delete took \(took) s")
                let before = try #require(facts["lazyfreed_before"] as? Int), after = try #require(facts["lazyfreed_after"] as? Int)
                #expect(after == before + 1, "lazyfreed_objects counts the sorted set")
                #expect(facts["drained"] as? Bool == true, "lazyfree_pending_objects back to 0")
            }
            #expect(server.isRunning, "swiftcached died; log:\n\(server.log)")
        }
    }
}
