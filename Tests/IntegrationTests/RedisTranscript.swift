// The compare-with-redis shape the RESP transcript tests share: one script run against
// swiftcached's --redis-port and against redis-server 7.0, each run expected to succeed and
// swiftcached to stay up, the two transcripts compared line by line, the last line the script's
// "<NAME> CHECKS PASSED" marker, and at least `minimumLines` of them (a script that printed
// little compared nothing).

import Testing

/// Runs `script` (in Scripts/) with `--port P` and `arguments` against swiftcached (started with
/// `serverArguments`) and against redis-server (`redisArguments`), and compares their transcripts line by line.
func expectTranscriptMatchesRedis(_ script: String, marker: String, minimumLines: Int,
                                  arguments: [String] = [], serverArguments: [String] = ["-t", "2"],
                                  redisArguments: [String] = [],
                                  timeout: Duration = .seconds(60),
                                  sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let python = try await IntegrationPaths.python()
    let path = try IntegrationPaths.script(script)
    let ours = try await withSecondListener("--redis-port", serverArguments) { server, port in
        let r = try await ToolRunner.run(python, [path, "--port", String(port)] + arguments, timeout: timeout)
        #expect(r.succeeded, "\(script) against swiftcached failed:\n\(r.report)\nserver log:\n\(server.log)", sourceLocation: sourceLocation)
        #expect(server.isRunning, "swiftcached died during \(script); log:\n\(server.log)", sourceLocation: sourceLocation)
        return r.output
    }
    let theirs = try await withRedisServer(extraArguments: redisArguments) { port in
        let r = try await ToolRunner.run(python, [path, "--port", String(port)] + arguments, timeout: timeout)
        #expect(r.succeeded, "\(script) against redis-server failed:\n\(r.report)", sourceLocation: sourceLocation)
        return r.output
    }
    let a = ours.split(separator: "\n").map(String.init), b = theirs.split(separator: "\n").map(String.init)
    #expect(a.last == marker && b.last == marker, "last lines \(a.last ?? "none") and \(b.last ?? "none")", sourceLocation: sourceLocation)
    #expect(a.count == b.count && a.count >= minimumLines, "transcripts of \(a.count) and \(b.count) lines", sourceLocation: sourceLocation)
    for (x, y) in zip(a, b) {
        #expect(x == y, "swiftcached and redis-server differ", sourceLocation: sourceLocation)
    }
}
