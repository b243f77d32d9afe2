// `-h`: generated from OptionTable and SubOptionTable.
import MemcacheProtocol

let swiftcachedVersion = ProtocolSettings.swiftcachedVersion

/// Column where a continuation line of a flag's help starts.
private let helpIndent = 26
/// Column (after the `   - ` prefix) where a suboption's help starts.
private let subOptionColumn = 25

/// The text `-h` prints.
func usage() -> String {
    var lines = ["swiftcached \(swiftcachedVersion) (memcached 1.6: text, meta and binary protocols over TCP, UNIX sockets and UDP)"]
    for spec in OptionTable.flags where spec.section == .memcached {
        lines += helpLines(spec)
    }
    let notYet = OptionTable.flags.filter { $0.notImplemented != nil }.map(\.displayName)
    lines.append("Refused with a message (not implemented yet): \(notYet.joined(separator: " ")).")
    lines.append("")
    lines.append("Broker mode (queues over the memcached protocol on a second port; see README):")
    for spec in OptionTable.flags where spec.section == .broker {
        lines += helpLines(spec)
    }
    lines.append("")
    lines.append("Redis mode (RESP2/RESP3 on the cache's keys; see README):")
    for spec in OptionTable.flags where spec.section == .redis {
        lines += helpLines(spec)
    }
    return lines.joined(separator: "\n") + "\n"
}

/// A flag's rows: synopsis and first help line, the other help lines below, extra rows, and the
/// suboption table under `-o`.
private func helpLines(_ spec: OptionSpec) -> [String] {
    guard let help = spec.help else { return [] }
    let text = help.lines.map { $0.replacingDefault(spec.defaultValue) }
    var lines = [padded(help.synopsis ?? derivedSynopsis(spec, help), to: help.column) + (text.first ?? "")]
    lines += text.dropFirst().map { String(repeating: " ", count: helpIndent) + $0 }
    lines += help.extraRows.map { padded($0.synopsis, to: helpIndent) + $0.text }
    if help.listsSubOptions {
        for entry in SubOptionTable.entries where !entry.lines.isEmpty {
            let name = entry.name + (entry.placeholder.map { "=\($0)" } ?? "") + ":"
            let text = entry.lines.map { $0.replacingDefault(entry.defaultValue) }
            lines.append("   - " + padded(name, to: subOptionColumn) + text[0])
            lines += text.dropFirst().map { String(repeating: " ", count: 5 + subOptionColumn) + $0 }
        }
    }
    return lines
}

/// `-p, --port=<num>`, or `--broker-port=<num>` for a long-only flag.
private func derivedSynopsis(_ spec: OptionSpec, _ help: OptionHelp) -> String {
    let long = "--\(spec.long)" + (help.placeholder.map { "=\($0)" } ?? "")
    return spec.short.map { "-\($0), \(long)" } ?? long
}

/// `s` followed by spaces up to `column`, and at least one space.
private func padded(_ s: String, to column: Int) -> String {
    s + String(repeating: " ", count: max(1, column - s.count))
}

private extension String {
    /// The help text with `{default}` replaced by the default shown.
    func replacingDefault(_ value: String?) -> String {
        guard let value else { return self }
        return replacing("{default}", with: value)
    }
}
