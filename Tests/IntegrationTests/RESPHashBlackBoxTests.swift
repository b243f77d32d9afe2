// Black-box tests of Redis hashes and sets (--redis-port): the transcript of Scripts/resp_hashes.py (every
// hash command with its edge errors, WRONGTYPE both ways, the listpack -> hashtable conversion,
// HINCRBY/HINCRBYFLOAT, HRANDFIELD, HSCAN, large hashes and values, key commands on a hash, RESP3,
// keyspace notifications) against swiftcached with -t 2 and against redis-server 7.0, compared
// line by line; the same for Scripts/resp_sets.py (every set command, intset/hashtable, the set
// algebra, SSCAN, RESP3, notifications); and Scripts/resp_hash_delete.py: deleting a hash of 300,000 fields answers at
// once, another client's PINGs are not held up, and the lazy freer takes the fields.
//
// redis-server is a prerequisite (Tools/deps.sh test installs it): without it the transcript test
// fails with a message, it is never skipped.

import Foundation
import Testing
import TestSupport

@Suite("swiftcached Redis hashes and sets black-box")
struct RESPHashBlackBoxTests {
    @Test("hash transcript equals redis-server 7.0's", .hangGuard)
    func hashTranscriptMatchesRedis() async throws {
        try await expectTranscriptMatchesRedis("resp_hashes.py", marker: "HASH CHECKS PASSED", minimumLines: 21)
    }

    @Test("set transcript equals redis-server 7.0's", .hangGuard)
    func setTranscriptMatchesRedis() async throws {
        try await expectTranscriptMatchesRedis("resp_sets.py", marker: "SET CHECKS PASSED", minimumLines: 16)
    }

    @Test("DEL and UNLINK of a 300,000-field hash answer at once, PINGs go on, the lazy freer takes it", .hangGuard)
    func largeHashDeleteDoesNotStall() async throws {
        let python = try await IntegrationPaths.python()
        let script = try IntegrationPaths.script("resp_hash_delete.py")
        try await withSecondListener("--redis-port", ["-t", "2", "-m", "256"]) { server, port in
            for unlink in [false, true] {
                let r = try await ToolRunner.run(python, [script, "--port", String(port), "--fields", "300000"] + (unlink ? ["--unlink"] : []),
                                                 timeout: .seconds(120))
                #expect(r.succeeded, "resp_hash_delete.py failed:\n\(r.report)\nserver log:\n\(server.log)")
                let line = r.output.split(separator: "\n").last.map(String.init) ?? ""
                let facts = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "output: \(r.output)")
                #expect(facts["fields"] as? Int == 300_000)
                #expect(facts["deleted"] as? Int == 1 && facts["exists"] as? Int == 0)
                // Freeing 300,000 entries inline takes far longer than this in a debug build.
                let took = try #require(facts["delete_seconds"] as? Double)
                #expect(took < 0.1, "the delete took \(took) s")
                let before = try #require(facts["lazyfreed_before"] as? Int), after = try #require(facts["lazyfreed_after"] as? Int)
                #expect(after == before + 1, "lazyfreed_objects counts the hash")
                #expect(facts["drained"] as? Bool == true, "lazyfree_pending_objects back to 0")
            }
            #expect(server.isRunning, "swiftcached died; log:\n\(server.log)")
        }
    }
}

@Suite("swiftcached Redis encoding thresholds black-box")
struct RESPEncodingConfigBlackBoxTests {
    // CONFIG SET hash-/set-/zset- thresholds: OBJECT ENCODING after each change, CONFIG GET of the
    // ziplist aliases, refusals by kind (Scripts/resp_encoding_config.py), as redis-server 7.0.
    @Test("encoding threshold transcript equals redis-server 7.0's", .hangGuard)
    func encodingConfigMatchesRedis() async throws {
        try await expectTranscriptMatchesRedis("resp_encoding_config.py", marker: "ENCODING CONFIG CHECKS PASSED", minimumLines: 80)
    }
}
