// The option table (Sources/swiftcached/OptionTable.swift) against what is built from it and what
// documents it: the flags `swiftcached -h` lists, README's flag tables (memcached's and the
// broker's) and the `stats settings` lines a running server prints.

import Foundation
import Testing
@testable import swiftcached

@Suite("option table, -h, README and stats settings agree")
struct OptionTableTests {
    /// The flags `-h` lists, as `-h` and README name them (`-p`, `--broker-port`, and `-vv`).
    private static var tableFlags: Set<String> {
        Set(OptionTable.flags.filter { $0.help != nil }.flatMap { spec in
            [spec.displayName] + (spec.help?.extraRows.map(\.synopsis) ?? [])
        })
    }

    /// The `-h` output of the built binary.
    private func helpOutput() async throws -> String {
        let r = try await ToolRunner.run(try IntegrationPaths.serverBinary(), ["-h"], timeout: .seconds(10))
        #expect(r.succeeded, "\(r.report)")
        return r.output
    }

    @Test("the table itself: unique letters, long names and stats settings names that exist")
    func tableIsConsistent() {
        let shorts = OptionTable.flags.compactMap(\.short)
        #expect(Set(shorts).count == shorts.count, "a short letter is declared twice")
        let longs = OptionTable.flags.map(\.long)
        #expect(Set(longs).count == longs.count, "a long name is declared twice")
        let subNames = SubOptionTable.entries.map(\.name)
        #expect(Set(subNames).count == subNames.count, "a suboption is declared twice")
        #expect(OptionTable.optstring.count == shorts.count + OptionTable.flags.filter { $0.short != nil && $0.argument != .none }.count)
        let settingsNames = SettingsTable.entries.map(\.name)
        #expect(Set(settingsNames).count == settingsNames.count, "a stats settings line is declared twice")
        for name in OptionTable.flags.compactMap(\.settingsName) + SubOptionTable.entries.compactMap(\.settingsName) {
            #expect(SettingsTable.entry(named: name) != nil, "\(name) is not a stats settings line")
        }
        for (i, spec) in OptionTable.flags.enumerated() {
            #expect(OptionTable.flag(forGetoptValue: OptionTable.getoptValue(of: i))?.long == spec.long)
        }
    }

    @Test("stats settings prints factors as memcached's %.2f, for any Double (issue 11: 1e17 trapped)")
    func factorFormat() {
        #expect(format2(1.25) == "1.25")
        #expect(format2(2) == "2.00")
        #expect(format2(0.125) == "0.12")
        #expect(format2(4294967295) == "4294967295.00")
        #expect(format2(1e17) == "100000000000000000.00")
        #expect(format2(1e300).hasPrefix("1000000000") && format2(1e300).hasSuffix(".00") && format2(1e300).count == 304)
        #expect(parseSize("9999999999999999m") == nil && parseSize("2k") == 2048 && parseSize("1m") == 1 << 20)
    }

    @Test("every flag of the table is in -h and in README's flag tables, and nothing else is")
    func helpReadmeAndTableAgree() async throws {
        let help = try await helpOutput()
        let helpFlags = HelpListing(help)
        let readme = try ReadmeFlags()

        #expect(helpFlags.flags == Self.tableFlags, "-h: extra \(helpFlags.flags.subtracting(Self.tableFlags)), missing \(Self.tableFlags.subtracting(helpFlags.flags))")
        #expect(readme.flags == Self.tableFlags, "README: extra \(readme.flags.subtracting(Self.tableFlags)), missing \(Self.tableFlags.subtracting(readme.flags))")

        for spec in OptionTable.flags where spec.help != nil {
            // Long names, where -h and README show them beside the short letter, are the table's.
            if let long = helpFlags.longNames[spec.displayName] { #expect(long == spec.long, "-h names \(spec.displayName) --\(long)") }
            if let long = readme.longNames[spec.displayName] { #expect(long == spec.long, "README names \(spec.displayName) --\(long)") }
            // Each flag is in the README table of its section, with the table's default.
            #expect(readme.sections[spec.displayName] == spec.section, "README lists \(spec.displayName) in another table")
            let shown = readme.defaults[spec.displayName] ?? ""
            if let value = spec.defaultValue {
                #expect(shown == value || shown.hasPrefix(value + " ("), "README's default of \(spec.displayName) is \(shown.debugDescription), the table's \(value)")
            } else {
                #expect(shown.isEmpty, "README shows a default for \(spec.displayName) (\(shown)); the table has none")
            }
        }

        let notYet = Set(OptionTable.flags.filter { $0.notImplemented != nil }.map(\.displayName))
        #expect(helpFlags.refused == notYet, "-h's refused flags \(helpFlags.refused), the table's \(notYet)")
        #expect(readme.refused == notYet, "README's refused flags \(readme.refused), the table's \(notYet)")

        let subOptions = Set(SubOptionTable.entries.filter { !$0.lines.isEmpty }.map(\.name))
        #expect(helpFlags.subOptions == subOptions, "-h's suboptions \(helpFlags.subOptions), the table's \(subOptions)")
        #expect(readme.subOptions == subOptions, "README's -o suboptions \(readme.subOptions), the table's \(subOptions)")
    }

    @Test("every flag and suboption with a stats settings name appears in stats settings, in the table's order")
    func settingsNamesAppear() async throws {
        try await withServer { server in
            let c = try RawConnection(port: server.port)
            c.send("stats settings\r\n")
            let reply = c.receive(until: "END\r\n")
            let names = reply.split(separator: "\r\n").compactMap { line -> String? in
                let words = line.split(separator: " ")
                return words.count >= 2 && words[0] == "STAT" ? String(words[1]) : nil
            }
            #expect(names == SettingsTable.entries.map(\.name), "\(reply)")
            for spec in OptionTable.flags {
                if let name = spec.settingsName { #expect(names.contains(name), "\(spec.displayName): no STAT \(name)") }
            }
            for entry in SubOptionTable.entries {
                if let name = entry.settingsName { #expect(names.contains(name), "-o \(entry.name): no STAT \(name)") }
            }
        }
    }
}

/// The flags in `-h` output.
private struct HelpListing {
    /// `-p`, `--broker-port`, `-vv`, ...: the first name of each row.
    var flags: Set<String> = []
    /// The long name shown beside a short letter (`-p` → `port`).
    var longNames: [String: String] = [:]
    /// The `-o` suboptions listed.
    var subOptions: Set<String> = []
    /// The flags of the "Refused with a message" line.
    var refused: Set<String> = []

    init(_ text: String) {
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("   - ") {
                subOptions.insert(String(line.dropFirst(5).prefix { $0 != "=" && $0 != ":" }))
            } else if line.hasPrefix("Refused with a message") {
                let list = line.split(separator: ":", maxSplits: 1).last ?? ""
                refused = Set(list.split(separator: " ").map { String($0.filter { $0 != "." }) })
            } else if line.hasPrefix("-") {
                let words = line.split(separator: " ")
                if words[0].hasSuffix(",") {
                    let short = String(words[0].dropLast())
                    flags.insert(short)
                    longNames[short] = String(words[1].dropFirst(2).prefix { $0 != "=" })
                } else {
                    flags.insert(String(words[0].prefix { $0 != "=" }))
                }
            }
        }
    }
}

/// The flags in README.md's tables headed `| flag | meaning | default |` ("Flags" and
/// "Broker mode (queues)"), and its "Refused at start-up" sentence.
private struct ReadmeFlags {
    /// `-p`, `--broker-port`, `-vv`, ...: each single-dash name, and each long name of a row that
    /// has no single-dash one.
    var flags: Set<String> = []
    /// The long name beside a short letter (`-p` → `port`).
    var longNames: [String: String] = [:]
    /// The default column of each flag's row, without backticks.
    var defaults: [String: String] = [:]
    /// Which table lists each flag.
    var sections: [String: OptionSection] = [:]
    /// The suboptions listed in the `-o` row.
    var subOptions: Set<String> = []
    /// The flags named in "Refused at start-up with a message (not implemented yet): ...".
    var refused: Set<String> = []

    init(filePath: String = #filePath) throws {
        let url = IntegrationPaths.packageRoot(filePath: filePath).appendingPathComponent("README.md")
        let text = try String(contentsOf: url, encoding: .utf8)
        var section: OptionSection?
        var inFlagTable = false
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.append("")
        for (i, line) in lines.enumerated() {
            if line.hasPrefix("## ") {
                section = line == "## Flags" ? .memcached : line == "## Broker mode (queues)" ? .broker : line == "## Redis mode" ? .redis : nil
                inFlagTable = false
            } else if line == "| flag | meaning | default |" {
                inFlagTable = section != nil
            } else if inFlagTable && line.hasPrefix("|") && !line.hasPrefix("|---") {
                addRow(line, section!)
            } else if !line.hasPrefix("|") {
                inFlagTable = false
            }
            if line.hasPrefix("Refused at start-up with a message") {
                // The sentence runs on to the next line.
                let sentence = line + " " + lines[i + 1]
                refused = Set(Self.codeSpans(sentence).filter { $0.hasPrefix("-") })
            }
        }
    }

    private mutating func addRow(_ line: String, _ section: OptionSection) {
        let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst()
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard cells.count >= 3 else { return }
        let names = Self.codeSpans(cells[0])
        let shorts = names.filter { !$0.hasPrefix("--") }
        let rowFlags = shorts.isEmpty ? names : shorts
        for flag in rowFlags {
            flags.insert(flag)
            defaults[flag] = cells[2].filter { $0 != "`" }
            sections[flag] = section
        }
        if shorts.count == 1, let long = names.first(where: { $0.hasPrefix("--") }) {
            longNames[shorts[0]] = String(long.dropFirst(2))
        }
        if rowFlags == ["-o"] {
            subOptions = Set(Self.codeSpans(cells[1]))
        }
    }

    /// The `code` spans of a Markdown line.
    private static func codeSpans(_ s: String) -> [String] {
        s.split(separator: "`", omittingEmptySubsequences: false).enumerated()
            .filter { $0.offset % 2 == 1 }.map { String($0.element) }
    }
}
