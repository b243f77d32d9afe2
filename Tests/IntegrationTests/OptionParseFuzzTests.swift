// What Tools/Fuzz/Options (FuzzOptions: any command line, parsed by this parser) found, kept as
// tests. The parser runs on getopt's process-wide state, so these run one at a time.

import Testing
@testable import swiftcached

@Suite("option parser: what fuzzing found", .serialized)
struct OptionParseFuzzTests {
    /// FuzzOptions, first minutes: a parse refused in the middle of a cluster of short flags
    /// (`-v%v`: `%` is no flag, getopt is left at the second `v`) made glibc's getopt continue
    /// the next parse from that place, in the previous argv, freed by then (AddressSanitizer:
    /// heap-use-after-free in parseOptions). Every parse now starts from a clean getopt.
    @Test("a parse refused inside a flag cluster leaves nothing for the next parse")
    func refusedClusterThenParse() {
        guard case .exit(64) = parseOptions(["swiftcached", "-v%v"]) else {
            Issue.record("-% should be refused")
            return
        }
        guard case .run(let o) = parseOptions(["swiftcached"]) else {
            Issue.record("an empty command line should run")
            return
        }
        #expect(o.verbose == 0)
        guard case .run(let o2) = parseOptions(["swiftcached", "-vv", "-p", "1234"]) else {
            Issue.record("-vv -p 1234 should run")
            return
        }
        #expect(o2.verbose == 2)
        #expect(o2.server.port == 1234)
    }

    /// FuzzOptions: `-o =` (a suboption with an empty name) indexed the first piece of a split
    /// that omitted empty pieces, and there was none: Index out of range at start-up.
    @Test("-o with an empty suboption name is an illegal suboption, not a crash")
    func emptySuboptionName() {
        for list in ["=", "=x", "modern,=", "=,modern", "=="] {
            // Exit status 1, as memcached refuses a suboption inside its option switch.
            guard case .exit(1) = parseOptions(["swiftcached", "-o", list]) else {
                Issue.record("-o \(list) should be refused")
                continue
            }
        }
        // What worked keeps working: a value after the first `=`, an empty value as none.
        guard case .run(let o) = parseOptions(["swiftcached", "-o", "hashpower=20,modern="]) else {
            Issue.record("-o hashpower=20,modern= should run")
            return
        }
        #expect(o.extended.hashpowerGiven == 20)
    }
}
