// Black-box test of keyspace notifications (--redis-port): the transcript of
// Scripts/resp_notify.py (every message a RESP2 pattern subscriber receives for each command, in
// order, and a RESP3 subscriber's push) against swiftcached with -t 2 and against redis-server
// 7.0, compared line by line. The script's GAP cases (README: not yet) are left out.
//
// redis-server is a prerequisite (Tools/deps.sh test installs it): without it the test fails
// with a message, it is never skipped.

import Foundation
import Testing
import TestSupport

@Suite("swiftcached keyspace notifications black-box")
struct RESPNotifyBlackBoxTests {
    @Test("notification transcript equals redis-server 7.0's", .hangGuard)
    func notifyTranscriptMatchesRedis() async throws {
        // The crawler and maintainer run: a key the script lets expire may be taken by them
        // before the read that should find it expired, and publishes the same `expired` either
        // way (as redis's active expire cycle does), so the transcript does not depend on which
        // comes first.
        try await expectTranscriptMatchesRedis("resp_notify.py", marker: "NOTIFY CHECKS PASSED", minimumLines: 101)
    }

    @Test("background expiry publishes `expired` for a key nobody reads, as redis's expire cycle", .hangGuard)
    func backgroundExpiryPublishes() async throws {
        try await expectTranscriptMatchesRedis("resp_notify_expiry.py", marker: "EXPIRY CHECKS PASSED", minimumLines: 6,
                                               arguments: ["--mode", "background"], timeout: .seconds(30))
    }

    // No crawler or maintainer: the memcached port's own lookup must be what finds the key
    // expired (no redis peer: one keyspace behind both ports is swiftcached's).
    @Test("a memcached-port get of an expired key publishes `expired`; a flushed key publishes nothing", .hangGuard)
    func memcachedPortExpiryPublishes() async throws {
        let python = try await IntegrationPaths.python()
        let script = try IntegrationPaths.script("resp_notify_expiry.py")
        try await withSecondListener("--redis-port", ["-t", "2", "-o", "no_lru_crawler,no_lru_maintainer"]) { server, port in
            let r = try await ToolRunner.run(python, [script, "--port", String(port), "--mode", "memcached",
                                                      "--memcached-port", String(server.port)], timeout: .seconds(30))
            #expect(r.succeeded, "resp_notify_expiry.py failed:\n\(r.report)\nserver log:\n\(server.log)")
            #expect(r.output.contains("EXPIRY CHECKS PASSED"))
        }
    }
}
