// COMMAND and its subcommands (COUNT LIST INFO DOCS GETKEYS) from the command table, as
// redis-server 7.0 answers them. An entry's name, arity, flags and key positions are the table's;
// the ACL categories, tips, key specifications, subcommand entries and documentation are redis's
// own words (RESPCommandDocs). redis-cli and redis-py read COMMAND and COMMAND DOCS at start-up.
// The commands are listed in table order (redis lists them in its dictionary's order).
import Platform

extension RESPConnection {
    static let commandInfoCommands: [RESPCommand] = [
        RESPCommand("command", arity: -1, flags: [.loading, .stale], subcommands: ["count", "list", "info", "docs", "getkeys", "help"]) { c, out in
            c.containerHelp(out) ?? c.command(out)
        },
    ]

    private func command(_ out: OutputBuffer) -> HandlerAction {
        let commands = service.table.commands
        if argumentCount == 1 {
            out.appendRESPArrayHeader(commands.count)
            for c in commands { appendInfo(c, out) }
            return .proceed
        }
        let sub = argument(1)
        if equalFolded(sub, "count") && argumentCount == 2 {
            out.appendRESPInteger(Int64(commands.count))
        } else if equalFolded(sub, "list") {
            return commandList(out)
        } else if equalFolded(sub, "info") {
            if argumentCount == 2 {
                out.appendRESPArrayHeader(commands.count)
                for c in commands { appendInfo(c, out) }
                return .proceed
            }
            out.appendRESPArrayHeader(argumentCount - 2)
            for i in 2..<argumentCount {
                if let (c, sub) = findCommand(argument(i)) {
                    if let sub { RESPCommandDocs.append(sub, version, to: out) } else { appendInfo(c, out) }
                } else {
                    out.appendRESPNull(version)
                }
            }
        } else if equalFolded(sub, "docs") {
            // (name, docs): a command's, or a subcommand's asked for as "container|sub".
            var chosen: [(String, StaticString?)] = []
            if argumentCount == 2 {
                chosen = commands.map { ($0.name.description, RESPCommandDocs.row($0.name)?.docs) }
            } else {
                for i in 2..<argumentCount {
                    guard let (c, entry) = findCommand(argument(i)) else { continue }
                    guard entry != nil, let row = RESPCommandDocs.row(c.name) else {
                        chosen.append((c.name.description, RESPCommandDocs.row(c.name)?.docs))
                        continue
                    }
                    let name = String(decoding: argument(i), as: UTF8.self).lowercased()
                    if let at = row.subcommands.firstIndex(where: { RESPCommandDocs.name(ofSubcommand: $0) == name }) {
                        chosen.append((name, row.subcommandDocs[at]))
                    }
                }
            }
            out.appendRESPMapHeader(chosen.count, version)
            for (name, docs) in chosen {
                var n = name
                n.withUTF8 { out.appendRESPBulk(UnsafeRawBufferPointer($0)) }
                if let docs { RESPCommandDocs.append(docs, version, to: out) } else { out.appendRESPMapHeader(0, version) }
            }
        } else if equalFolded(sub, "getkeys") && argumentCount >= 4 {
            return commandGetKeys(out)
        } else {
            return unknownSubcommand("COMMAND", known: ["count", "list", "info", "docs", "getkeys"], out)
        }
        return .proceed
    }

    /// A command by name, or a subcommand's entry by "container|sub".
    private func findCommand(_ word: UnsafeRawBufferPointer) -> (RESPCommand, StaticString?)? {
        guard let bar = word.firstIndex(of: UInt8(ascii: "|")) else {
            return service.table.find(word).map { ($0, nil) }
        }
        guard let container = service.table.find(UnsafeRawBufferPointer(rebasing: word[..<bar])),
              let at = container.subcommands.firstIndex(where: { equalFolded(UnsafeRawBufferPointer(rebasing: word[(bar + 1)...]), $0) }),
              let row = RESPCommandDocs.row(container.name), at < row.subcommands.count else { return nil }
        return (container, row.subcommands[at])
    }

    /// One COMMAND INFO entry: name, arity, flags, first key, last key, step (the table's), then
    /// categories, tips, key specifications and subcommands (redis's).
    private func appendInfo(_ c: RESPCommand, _ out: OutputBuffer) {
        out.appendRESPArrayHeader(10)
        out.appendRESPBulk(c.name)
        out.appendRESPInteger(Int64(c.arity))
        let names = RESPCommandFlags.names.indices.filter { c.flags.contains(RESPCommandFlags(rawValue: 1 << UInt32($0))) }
        out.appendRESPSetHeader(names.count, version)
        for n in names { out.appendRESPSimple(RESPCommandFlags.names[n]) }
        out.appendRESPInteger(Int64(c.firstKey))
        out.appendRESPInteger(Int64(c.lastKey))
        out.appendRESPInteger(Int64(c.keyStep))
        guard let row = RESPCommandDocs.row(c.name) else {
            for _ in 0..<4 { out.appendRESPSetHeader(0, version) }
            return
        }
        RESPCommandDocs.append(row.info, version, to: out)
        // redis: an empty set without subcommands, an array of their entries with them.
        if row.subcommands.isEmpty { out.appendRESPSetHeader(0, version) } else { out.appendRESPArrayHeader(row.subcommands.count) }
        for s in row.subcommands { RESPCommandDocs.append(s, version, to: out) }
    }

    /// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]: names, with
    /// each container's subcommands after it ("client|list").
    private func commandList(_ out: OutputBuffer) -> HandlerAction {
        enum Filter { case none, module, category([UInt8]), pattern }
        var filter = Filter.none
        if argumentCount == 5 && argument(2, is: "filterby") {
            if argument(3, is: "module") { filter = .module }
            else if argument(3, is: "aclcat") { filter = .category(Array("@".utf8) + argument(4).map { $0 | (($0 >= 0x41 && $0 <= 0x5A) ? 0x20 : 0) }) }
            else if argument(3, is: "pattern") { filter = .pattern }
            else { return syntaxError(out) }
        } else if argumentCount != 2 {
            return syntaxError(out)
        }
        var names: [String] = []
        for c in service.table.commands {
            let row = RESPCommandDocs.row(c.name)
            var all = [(c.name.description, row?.categories.description ?? "")]
            if let row {
                for (s, categories) in zip(row.subcommands, row.subcommandCategories) {
                    all.append((RESPCommandDocs.name(ofSubcommand: s), categories.description))
                }
            }
            for (name, categories) in all {
                switch filter {
                case .none: names.append(name)
                case .module: break
                case .category(let wanted):
                    if categories.split(separator: " ").contains(where: { $0.utf8.elementsEqual(wanted) }) { names.append(name) }
                case .pattern:
                    var n = name
                    if n.withUTF8({ globMatches(argument(4), UnsafeRawBufferPointer($0)) }) { names.append(name) }
                }
            }
        }
        out.appendRESPArrayHeader(names.count)
        for var n in names { n.withUTF8 { out.appendRESPBulk(UnsafeRawBufferPointer($0)) } }
        return .proceed
    }

    /// COMMAND GETKEYS command arg...: the keys by the command's key positions.
    private func commandGetKeys(_ out: OutputBuffer) -> HandlerAction {
        guard let c = service.table.find(argument(2)) else { return error(out, "ERR Invalid command specified") }
        let argc = argumentCount - 2
        var (first, last, step) = (c.firstKey, c.lastKey, c.keyStep)
        var arity = c.arity
        if !c.subcommands.isEmpty && argc >= 2 {
            guard let (_, entry) = findCommand(Array(argument(2)) + [UInt8(ascii: "|")] + Array(argument(3))), let entry else {
                return error(out, "ERR Invalid command specified")
            }
            let v = RESPCommandDocs.integers(in: entry, at: [1, 3, 4, 5])
            (arity, first, last, step) = (v[0], v[1], v[2], v[3])
        }
        // Movable keys (redis's getkeys_proc): LMPOP/ZMPOP/ZUNION/ZINTER/ZDIFF/ZINTERCARD numkeys key..., BLMPOP/BZMPOP
        // timeout numkeys key..., ZUNIONSTORE/ZINTERSTORE/ZDIFFSTORE destination numkeys key...
        let word = argument(2)
        let storeForm = ([ "zunionstore", "zinterstore", "zdiffstore"] as [StaticString]).contains { equalFolded(word, $0) }
        let numkeysAt = ([ "lmpop", "zmpop", "zunion", "zinter", "zdiff", "zintercard"] as [StaticString]).contains { equalFolded(word, $0) } ? 1
            : equalFolded(word, "blmpop") || equalFolded(word, "bzmpop") || storeForm ? 2 : 0
        let streamsFrom = equalFolded(word, "xread") ? 1 : equalFolded(word, "xreadgroup") ? 4 : 0
        guard first != 0 || numkeysAt != 0 || streamsFrom != 0 else { return error(out, "ERR The command has no key arguments") }
        guard arity > 0 ? argc == arity : argc >= -arity else { return error(out, "ERR Invalid number of arguments specified for command") }
        if streamsFrom != 0 {
            guard let (at, n) = streamReadKeys(argc: argc, searchFrom: streamsFrom) else {
                return error(out, "ERR Invalid arguments specified for command")
            }
            out.appendRESPArrayHeader(n)
            for i in 0..<n { out.appendRESPBulk(argument(2 + at + i)) }
            return .proceed
        }
        if numkeysAt != 0 {
            // redis's genericGetKeys: atoi of numkeys, at least 1 and no more than the words left.
            let n = cAtoi(argument(2 + numkeysAt))
            guard n >= 1 && n <= argc - numkeysAt - 1 else { return error(out, "ERR Invalid arguments specified for command") }
            // The STORE forms' destination comes first (zunionInterDiffStoreGetKeys).
            out.appendRESPArrayHeader(n + (storeForm ? 1 : 0))
            if storeForm { out.appendRESPBulk(argument(3)) }
            for i in 0..<n { out.appendRESPBulk(argument(2 + numkeysAt + 1 + i)) }
            return .proceed
        }
        let end = last < 0 ? argc + last : last
        let keys = stride(from: first, through: min(end, argc - 1), by: max(1, step)).map { $0 + 2 }
        guard !keys.isEmpty else { return error(out, "ERR Invalid arguments specified for command") }
        out.appendRESPArrayHeader(keys.count)
        for k in keys { out.appendRESPBulk(argument(k)) }
        return .proceed
    }

    /// XREAD / XREADGROUP's keys (the first key's position in the command, their number) as
    /// redis 7.0 finds them: its key spec first (the first STREAMS from `searchFrom` on, the last
    /// word not looked at, then half the words after it), and when that range is out of bounds
    /// its xreadGetKeys (the options skipped to STREAMS; an even, non-zero number of words after).
    private func streamReadKeys(argc: Int, searchFrom: Int) -> (Int, Int)? {
        var first = 0
        var i = searchFrom
        while i < argc - 1 {
            if equalFolded(argument(2 + i), "streams") { first = i + 1; break }
            i += 1
        }
        guard first != 0 else { return nil }
        let last = first + (argc - first) / 2 - 1
        if last < argc && last >= first && first < argc { return (first, last - first + 1) }
        var streamsAt = -1
        i = 1
        while i < argc {
            let w = argument(2 + i)
            if equalFolded(w, "block") || equalFolded(w, "count") {
                i += 1
            } else if equalFolded(w, "group") {
                i += 2
            } else if equalFolded(w, "streams") {
                streamsAt = i
                break
            } else if !equalFolded(w, "noack") {
                break
            }
            i += 1
        }
        let words = argc - streamsAt - 1
        guard streamsAt != -1, words > 0, words % 2 == 0 else { return nil }
        return (streamsAt + 1, words / 2)
    }

    /// C's atoi, as redis's genericGetKeys reads numkeys: blanks, a sign, digits, then anything
    /// ("2x" is 2, "x" is 0); clamped to Int32 as atoi's int.
    private func cAtoi(_ word: UnsafeRawBufferPointer) -> Int {
        var i = 0
        while i < word.count && (word[i] == 0x20 || (word[i] >= 0x09 && word[i] <= 0x0D)) { i += 1 }
        var negative = false
        if i < word.count && (word[i] == UInt8(ascii: "-") || word[i] == UInt8(ascii: "+")) {
            negative = word[i] == UInt8(ascii: "-")
            i += 1
        }
        var v = 0
        while i < word.count, word[i] >= UInt8(ascii: "0"), word[i] <= UInt8(ascii: "9") {
            v = min(v * 10 + Int(word[i] - UInt8(ascii: "0")), Int(Int32.max) + 1)
            i += 1
        }
        return negative ? -v : min(v, Int(Int32.max))
    }

    private func findCommand(_ word: [UInt8]) -> (RESPCommand, StaticString?)? {
        word.withUnsafeBytes { findCommand($0) }
    }
}
