// The client matrix (issue 12): nine real memcached clients run the same sequence of operations
// (Scripts/clients/: set/get, a 100-key multi-get, a 1 MB value, values at and just over the
// largest memcached stores, add/replace/append/prepend, a cas conflict, incr/decr wrap and floor,
// touch/gat, delete, noreply, non-UTF-8 values, TTL, flush_all) against Debian's memcached and
// against swiftcached, each started fresh on a free port; the two normalized transcripts must be
// equal but for the steps README's "Client matrix" section lists. A client, interpreter or
// memcached that is not installed fails the test (Tools/deps.sh installs them all).
import Foundation
import Testing
import TestSupport

struct MatrixClient: Sendable, CustomStringConvertible {
    /// The client's name in the transcript and in README's list.
    let name: String
    /// Finds the interpreter and builds the command line for a port.
    let command: @Sendable (_ port: UInt16) async throws -> (String, [String])
    var description: String { name }

    static func python(_ client: String, module: String) -> MatrixClient {
        MatrixClient(name: client) { port in
            let python = try await IntegrationPaths.python(requiring: [module])
            return (python, [try IntegrationPaths.script("clients/clients.py"), "--client", client, "--port", String(port)])
        }
    }

    static func interpreter(_ name: String, _ program: String, _ script: String, _ extra: [String] = []) -> MatrixClient {
        MatrixClient(name: name) { port in
            guard let path = IntegrationPaths.findExecutable(program) else {
                throw IntegrationSetupError("\(program) not found: the \(name) client cannot run (Tools/deps.sh test installs it)")
            }
            return (path, [try IntegrationPaths.script("clients/\(script)"), String(port)] + extra)
        }
    }

    static let all: [MatrixClient] = [
        .python("pymemcache", module: "pymemcache"),
        .python("python-memcached", module: "memcache"),
        .python("pylibmc", module: "pylibmc"),
        .python("pylibmc-binary", module: "pylibmc"),
        .interpreter("php-memcached", "php", "clients.php"),
        .interpreter("php-memcached-binary", "php", "clients.php", ["binary"]),
        .interpreter("Cache::Memcached::Fast", "perl", "clients.pl"),
        .interpreter("Cache::Memcached", "perl", "clients.pl", ["Cache::Memcached"]),
        .interpreter("Dalli", "ruby", "clients.rb"),
    ]
}

@Suite("client matrix: nine clients, the same transcript on memcached and swiftcached", .hangGuard)
struct ClientMatrixTests {
    static let memcached = IntegrationPaths.findExecutable("memcached", extraDirectories: ["/usr/bin"])

    /// Steps whose line may differ between the two servers, per client, each with README's
    /// reason ("Client matrix"). Empty: every transcript is equal today.
    static let allowedDifferences: [String: Set<String>] = [:]

    /// Runs one client against a fresh server (memcached when `binary` is given) and returns the
    /// transcript's step lines.
    static func transcript(_ client: MatrixClient, binary: String?) async throws -> [String] {
        try await withServer([], binary: binary) { server in
            let (program, arguments) = try await client.command(server.port)
            let r = try await ToolRunner.run(program, arguments, timeout: .seconds(60))
            let who = binary == nil ? "swiftcached" : "memcached"
            #expect(!r.output.contains("CLIENT NOT INSTALLED"), "\(client.name) is not installed:\n\(r.report)")
            #expect(r.succeeded && r.output.hasSuffix("CLIENT MATRIX DONE\n"),
                    "\(client.name) against \(who) did not finish:\n\(r.report)\nserver log:\n\(server.log)")
            #expect(server.isRunning, "\(who) died under \(client.name); log:\n\(server.log)")
            return r.output.split(separator: "\n").map(String.init).filter { $0 != "CLIENT MATRIX DONE" }
        }
    }

    @Test("the client's transcript is memcached's", arguments: MatrixClient.all)
    func sameTranscript(_ client: MatrixClient) async throws {
        guard let memcached = Self.memcached else {
            throw IntegrationSetupError("memcached is not installed: the client matrix has nothing to compare with (Tools/deps.sh test)")
        }
        // Both at once: each run sleeps 4 s for its TTL step.
        async let theirRun = Self.transcript(client, binary: memcached)
        async let ourRun = Self.transcript(client, binary: nil)
        let (theirs, ours) = try await (theirRun, ourRun)
        #expect(theirs.count > 40, "\(client.name): too few steps against memcached: \(theirs)")
        #expect(ours.count == theirs.count, "\(client.name): \(ours.count) steps on swiftcached, \(theirs.count) on memcached")
        let allowed = Self.allowedDifferences[client.name] ?? []
        var differences: [String] = []
        for (a, b) in zip(ours, theirs) where a != b {
            let step = String(b.prefix { $0 != " " })
            if !allowed.contains(step) { differences.append("memcached:   \(b)\nswiftcached: \(a)") }
        }
        #expect(differences.isEmpty, "\(client.name): transcripts differ:\n\(differences.joined(separator: "\n"))")
    }
}
