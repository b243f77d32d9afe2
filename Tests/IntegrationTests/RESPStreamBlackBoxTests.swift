// Black-box test of Redis streams (--redis-port): the transcript of Scripts/resp_streams.py
// (XADD's ID forms, options and errors, XLEN, XRANGE/XREVRANGE, XDEL, XTRIM exact and by whole
// nodes, XSETID, XREAD with COUNT, `$`, several streams and BLOCK served by another client's
// XADD or timing out, key commands on a stream, WRONGTYPE both ways, RESP3, t-class keyspace
// notifications, and consumer groups: XGROUP, XREADGROUP with `>`, history, NOACK and BLOCK,
// XACK, XPENDING, XCLAIM, XAUTOCLAIM, XINFO GROUPS/CONSUMERS/STREAM [FULL], COMMAND GETKEYS of
// XREAD/XREADGROUP, blocked reads woken by RENAME/COPY/MOVE/SWAPDB or served empty after an XADD
// with MAXLEN 0, XREADGROUP's largest ID as `>`, huge BLOCK timeouts, XGROUP's options read
// first) against swiftcached with -t 2
// and against redis-server 7.0, compared line by line (IDs made from the clock, idle and delivery
// times, and XINFO STREAM's radix-tree figures are masked by the script).
//
// redis-server is a prerequisite (Tools/deps.sh test installs it): without it the test fails with
// a message, it is never skipped.

import Foundation
import Testing
import TestSupport

@Suite("swiftcached Redis streams black-box")
struct RESPStreamBlackBoxTests {
    @Test("stream transcript equals redis-server 7.0's", .hangGuard)
    func streamTranscriptMatchesRedis() async throws {
        try await expectTranscriptMatchesRedis("resp_streams.py", marker: "STREAM CHECKS PASSED", minimumLines: 16)
    }
}

@Suite("swiftcached Redis streams as broker topics")
struct RESPStreamInteropTests {
    @Test("a stream XADDed on the RESP port is read by a consumer group on the broker port, and a broker topic is a stream", .hangGuard)
    func streamIsABrokerTopic() async throws {
        let python = try await IntegrationPaths.python()
        let script = try IntegrationPaths.script("resp_stream_interop.py")
        let redis = try Loopback.freePort(), broker = try Loopback.freePort()
        let server = try await ServerProcess.start(["--broker-port=\(broker)", "--redis-port=\(redis)", "-t", "2"])
        defer { server.stop() }
        let r = try await ToolRunner.run(python, [script, "--redis-port", String(redis), "--broker-port", String(broker)], timeout: .seconds(60))
        #expect(r.succeeded, "resp_stream_interop.py failed:\n\(r.report)\nserver log:\n\(server.log)")
        let line = r.output.split(separator: "\n").last.map(String.init) ?? ""
        let facts = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "output: \(r.output)")
        #expect(facts["topic_listed"] as? Bool == true)
        #expect(facts["other_db_not_topic"] as? Bool == true)
        #expect(facts["records"] as? Int == 3)
        #expect(facts["flags"] as? [Int] == [88])
        #expect(facts["values_match"] as? Bool == true)
        #expect(facts["read_again_empty"] as? Bool == true)
        #expect(facts["topic_gone_after_del"] as? Bool == true)
        #expect(facts["delete_refused"] as? String == String(repeating: "CLIENT_ERROR topic is a Redis stream; DEL its key on the Redis port\r\n", count: 2))
        #expect(facts["stream_kept"] as? Int == 3)
        #expect(facts["stream_kept_read"] as? Int == 3)
        #expect(facts["redeclare_refused"] as? String == "CLIENT_ERROR topic is a Redis stream; XADD and XTRIM bound it on the Redis port\r\n")
        #expect(facts["adopted_deleted_after_del"] as? String == "DELETED\r\n")
        // A topic declared on the broker port read as a stream.
        #expect(facts["topic_stream_len"] as? Int == 2)
        #expect(facts["topic_stream_type"] as? String == "+stream")
        #expect(facts["topic_fields"] as? Bool == true)
        #expect(facts["topic_ids_in_order"] as? Bool == true)
        #expect(facts["topic_after_xadd_and_set"] as? Bool == true)
        #expect(facts["topic_revrange"] as? Bool == true)
        #expect(facts["topic_group_read"] as? Int == 4)
        #expect(facts["topic_broker_sees_xadd"] as? Bool == true)
        #expect(facts["topic_stays_after_del"] as? Bool == true)
    }

    @Test("a set or keyed set on the broker port to a topic a stream reads wakes XREAD BLOCK and XREADGROUP BLOCK there, aborts a WATCH of the key and publishes xadd, as an XADD does",
          .hangGuard)
    func brokerSetWakesBlockedStreamReaders() async throws {
        let python = try await IntegrationPaths.python()
        let script = try IntegrationPaths.script("resp_stream_broker_wake.py")
        let redis = try Loopback.freePort(), broker = try Loopback.freePort()
        let server = try await ServerProcess.start(["--broker-port=\(broker)", "--redis-port=\(redis)", "-t", "2"])
        defer { server.stop() }
        let r = try await ToolRunner.run(python, [script, "--redis-port", String(redis), "--broker-port", String(broker)], timeout: .seconds(40))
        #expect(r.succeeded, "resp_stream_broker_wake.py failed:\n\(r.report)\nserver log:\n\(server.log)")
        let line = r.output.split(separator: "\n").last.map(String.init) ?? ""
        let facts = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "output: \(r.output)")
        #expect(facts["declared"] as? String == "OK\r\n")
        #expect(facts["set_reply"] as? String == "STORED\r\n")
        // Woken by the append, not by the 5 s timeout (which answers a nil array).
        #expect(facts["xread_waited_under_2s"] as? Bool == true)
        #expect(facts["xread_fields"] as? [String] == ["value", "hello"])
        #expect(facts["xreadgroup_waited_under_2s"] as? Bool == true)
        #expect(facts["xreadgroup_fields"] as? [String] == ["key", "k1", "value", "v2"])
        // The set is an XADD to the key for Redis clients: WATCH aborts the EXEC, `xadd` is published.
        #expect(facts["watch_unchanged"] as? String == "+OK\r\n+QUEUED\r\n*1\r\n:2\r\n")
        #expect(facts["watch_after_set"] as? String == "+OK\r\n+QUEUED\r\n*-1\r\n")
        #expect(facts["events_after_set"] as? [String] == ["xadd bw_t"])
        // An XADD-made stream's own topic: the broker's record is none of its entries.
        #expect(facts["own_watch_after_set"] as? String == "+OK\r\n+QUEUED\r\n*1\r\n:1\r\n")
        #expect(facts["own_events_after_set"] as? [String] == [])
        #expect(facts["many_appends_stored"] as? Int == 20_000)
        #expect(facts["after_many_woken_under_2s"] as? Bool == true)
        #expect(facts["after_many_xlen"] as? String == ":20004\r\n")
    }
}

@Suite("swiftcached Redis streams and broker logs on a cache full of strings")
struct RESPStreamCacheFullTests {
    /// Runs resp_stream_cache_full.py against `-m 8` with both ports; its facts.
    func run(_ extra: [String], _ scriptOptions: [String] = []) async throws -> [String: Any] {
        let python = try await IntegrationPaths.python()
        let script = try IntegrationPaths.script("resp_stream_cache_full.py")
        let redis = try Loopback.freePort(), broker = try Loopback.freePort()
        let server = try await ServerProcess.start(["-m", "8", "--broker-memory=8", "--broker-port=\(broker)", "--redis-port=\(redis)",
                                                    "-t", "2"] + extra)
        defer { server.stop() }
        let r = try await ToolRunner.run(python, [script, "--redis-port", String(redis), "--broker-port", String(broker)] + scriptOptions,
                                         timeout: .seconds(120))
        #expect(r.succeeded, "resp_stream_cache_full.py failed:\n\(r.report)\nserver log:\n\(server.log)")
        let line = r.output.split(separator: "\n").last.map(String.init) ?? ""
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "output: \(r.output)")
    }

    @Test("-m 8 filled by SET: 3,000 XADDs and 10,000 log sets all succeed (pages moved at once), -m kept", .hangGuard)
    func xaddAfterTheCacheIsFull() async throws {
        let f = try await run([])
        #expect((f["evicted_keys_before"] as? Int ?? 0) > 0)
        #expect(f["xadd_added"] as? Int == 3000, "first error: \(f["xadd_first_error"] ?? "none")")
        #expect(f["xlen"] as? Int == 3000)
        #expect(f["xrange_first_ok"] as? Bool == true)
        #expect((f["info_slab_reassign_forced"] as? Int ?? 0) >= 2)
        #expect(f["info_stream_chunk_refusals"] as? Int == 0)
        #expect(f["log_stored"] as? Int == 10_000)
        #expect(f["log_chunk_refusals"] as? Int == 0 && f["log_segments_dropped"] as? Int == 0)
        #expect(f["log_start_offset"] as? Int == 0)
    }

    @Test("-m 8 filled by SET with -o no_slab_reassign: XADD still ends in -OOM, as documented", .hangGuard)
    func xaddWithoutSlabReassign() async throws {
        let f = try await run(["-o", "no_slab_reassign"], ["--no-reassign"])
        #expect((f["xadd_first_error"] as? String ?? "").hasPrefix("-OOM"))
        #expect(f["info_slab_reassign_forced"] as? Int == 0)
    }
}
