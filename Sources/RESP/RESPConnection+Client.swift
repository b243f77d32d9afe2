// CLIENT and its subcommands, as redis-server 7.0 answers them: ID GETNAME SETNAME LIST INFO KILL
// REPLY NO-EVICT UNBLOCK GETREDIR (TRACKING, TRACKINGINFO and CACHING are refused: no client-side
// caching here). LIST, INFO and KILL read every connection of the port through the registry
// (ClientRegistry.swift); a connection killed from another worker is closed by its own worker.
//
// The fields of a CLIENT LIST line are redis 7.0.15's. Those that describe redis's own memory
// have no exact counterpart here and are given what redis shows for an equivalent client:
// - qbuf / qbuf-free / argv-mem: for the connection asking, the request being run (its bytes as a
//   multibulk, the rest of the worker's 16 KB read buffer, its argument bytes); for any other
//   connection 0, as redis shows for a client with nothing unparsed.
// - rbs / rbp: 16384 and the asking request's bytes (0 for others): a connection reads into its
//   worker's 16 KB buffer, lent per read.
// - multi-mem, obl, oll, omem: 0 (no MULTI; replies are written at once, pushes are the
//   subscriber's queue); multi=-1, db=0, user=default, redir=-1 (no tracking).
// - tot-mem: 1100 (an idle connection's measured footprint, ARCHITECTURE.md) plus the name and qbuf.
// - events: r.
import CacheEngine
import Platform

/// CLIENT REPLY's modes.
enum ReplyMode {
    case on
    /// CLIENT REPLY OFF: nothing is answered until CLIENT REPLY ON.
    case off
    /// CLIENT REPLY SKIP was run: the next command's reply is withheld.
    case skipNext
    /// The command being run is the one SKIP withholds.
    case skipping
}

extension RESPConnection {
    static let clientCommands: [RESPCommand] = [
        RESPCommand("client", arity: -2, subcommands: clientSubcommands) { c, out in c.containerHelp(out) ?? c.client(out) },
    ]

    static let clientSubcommands: [StaticString] = ["id", "getname", "setname", "list", "info", "kill", "reply", "no-evict", "unblock", "getredir",
                                                     "trackinginfo", "caching", "help"]

    /// The subcommand arities redis declares (its wrong-number-of-arguments reply).
    private static let clientArity: [(StaticString, Int)] = [
        ("id", 2), ("getname", 2), ("setname", 3), ("list", -2), ("info", 2), ("kill", -3), ("reply", 3),
        ("no-evict", 3), ("unblock", -3), ("getredir", 2), ("tracking", -3), ("trackinginfo", 2), ("caching", 3),
    ]

    private func client(_ out: OutputBuffer) -> HandlerAction {
        let sub = argument(1)
        guard let arity = Self.clientArity.first(where: { equalFolded(sub, $0.0) })?.1 else {
            return error(out, "ERR unknown subcommand '" + String(decoding: sub.prefix(128), as: UTF8.self) + "'. Try CLIENT HELP.")
        }
        guard arity >= 0 ? argumentCount == arity : argumentCount >= -arity else {
            return error(out, "ERR wrong number of arguments for 'client|" + String(decoding: sub, as: UTF8.self).lowercased() + "' command")
        }
        if equalFolded(sub, "id") {
            out.appendRESPInteger(Int64(id))
        } else if equalFolded(sub, "getname") {
            if let name { name.withUnsafeBytes { out.appendRESPBulk($0) } } else { out.appendRESPNull(version) }
        } else if equalFolded(sub, "setname") {
            guard validClientName(argument(2)) else { return badClientName(out) }
            name = argument(2).isEmpty ? nil : Array(argument(2))
            out.appendRESPOK()
        } else if equalFolded(sub, "list") {
            return clientList(out)
        } else if equalFolded(sub, "trackinginfo") {
            // Client-side caching is never on here: redis's answer for a client not tracking.
            out.appendRESPMapHeader(3, version)
            out.appendRESPBulk("flags")
            out.appendRESPSetHeader(1, version)
            out.appendRESPBulk("off")
            out.appendRESPBulk("redirect")
            out.appendRESPInteger(-1)
            out.appendRESPBulk("prefixes")
            out.appendRESPArrayHeader(0)
        } else if equalFolded(sub, "caching") {
            // Tracking is never on, so redis's refusal whatever the argument.
            return error(out, "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled")
        } else if equalFolded(sub, "info") {
            var text = describe(client)
            text.append(0x0A)
            text.withUnsafeBytes { out.appendRESPVerbatim($0, version) }
        } else if equalFolded(sub, "kill") {
            return clientKill(out)
        } else if equalFolded(sub, "reply") {
            if argument(2, is: "on") {
                replyMode = .on
                out.appendRESPOK()
            } else if argument(2, is: "off") {
                replyMode = .off
            } else if argument(2, is: "skip") {
                if replyMode != .off { replyMode = .skipNext }
            } else {
                return syntaxError(out)
            }
        } else if equalFolded(sub, "no-evict") {
            if argument(2, is: "on") {
                client.noEvict.store(true, ordering: .relaxed)
            } else if argument(2, is: "off") {
                client.noEvict.store(false, ordering: .relaxed)
            } else {
                return syntaxError(out)
            }
            out.appendRESPOK()
        } else if equalFolded(sub, "unblock") {
            return clientUnblock(out)
        } else if equalFolded(sub, "getredir") {
            out.appendRESPInteger(-1)
        } else {
            return error(out, "ERR swiftcached does not implement client-side caching (CLIENT TRACKING, TRACKINGINFO, CACHING)")
        }
        return .proceed
    }

    /// redis's client types (getClientTypeByName); replicas and masters never exist here.
    private enum ClientType {
        case normal, pubsub, replica, master
        init?(_ word: UnsafeRawBufferPointer) {
            if equalFolded(word, "normal") { self = .normal }
            else if equalFolded(word, "pubsub") { self = .pubsub }
            else if equalFolded(word, "slave") || equalFolded(word, "replica") { self = .replica }
            else if equalFolded(word, "master") { self = .master }
            else { return nil }
        }
        static func of(_ c: RESPClient) -> ClientType { c.isPubSub ? .pubsub : .normal }
    }

    private func unknownClientType(_ i: Int, _ out: OutputBuffer) -> HandlerAction {
        error(out, "ERR Unknown client type '" + String(decoding: argument(i), as: UTF8.self) + "'")
    }

    /// CLIENT LIST [TYPE type] | [ID id ...]: one line per connection, oldest first (ID: in the
    /// order asked, each time it is asked).
    private func clientList(_ out: OutputBuffer) -> HandlerAction {
        var chosen: [RESPClient]
        if argumentCount == 2 {
            chosen = service.clients.all()
        } else if argumentCount == 4 && argument(2, is: "type") {
            guard let type = ClientType(argument(3)) else { return unknownClientType(3, out) }
            chosen = service.clients.all().filter { ClientType.of($0) == type }
        } else if argumentCount > 3 && argument(2, is: "id") {
            var ids: [Int] = []
            for i in 3..<argumentCount {
                guard let v = integerArgument(i) else { return error(out, "ERR Invalid client ID") }
                ids.append(v)
            }
            chosen = ids.compactMap { $0 > 0 ? service.clients.find(UInt64($0)) : nil }
        } else {
            return syntaxError(out)
        }
        var text: [UInt8] = []
        for c in chosen {
            text += describe(c)
            text.append(0x0A)
        }
        text.withUnsafeBytes { out.appendRESPVerbatim($0, version) }
        return .proceed
    }

    /// One CLIENT LIST line (without its newline), in redis 7.0.15's field order.
    func describe(_ c: RESPClient) -> [UInt8] {
        let now = engine.clock.current
        let mine = c === client
        var requestBytes = 0, argumentBytes = 0
        if mine {
            requestBytes = 3 + String(argumentCount).utf8.count
            for i in 0..<argumentCount {
                let n = argument(i).count
                argumentBytes += n
                requestBytes += 5 + String(n).utf8.count + n
            }
        }
        let name = c.name.load()
        var flags = ""
        if c.isPubSub { flags += "P" }
        if service.listWaits.isBlocked(clientID: c.id) { flags += "b" }
        if c.noEvict.load(ordering: .relaxed) { flags += "e" }
        if flags.isEmpty { flags = "N" }
        let last = c.lastCommand.load(ordering: .relaxed)
        var line = "id=\(c.id) addr=\(c.address) laddr=\(c.localAddress) fd=\(c.fd) name="
        var bytes = Array(line.utf8) + name
        line = " age=\(now &- min(c.created, now)) idle=\(now &- min(c.lastInteraction.load(ordering: .relaxed), now))"
        line += " flags=\(flags) db=0 sub=\(c.channels.load(ordering: .relaxed)) psub=\(c.patterns.load(ordering: .relaxed))"
        line += " ssub=\(c.shardChannels.load(ordering: .relaxed)) multi=-1 qbuf=\(requestBytes)"
        line += " qbuf-free=\(mine ? max(0, 16384 - requestBytes) : 0) argv-mem=\(argumentBytes) multi-mem=0"
        line += " rbs=16384 rbp=\(requestBytes) obl=0 oll=0 omem=0 tot-mem=\(1100 + name.count + requestBytes) events=r cmd="
        line += commandName(last)
        line += " user=default redir=-1 resp=\(c.protocolVersion.load(ordering: .relaxed))"
        bytes += Array(line.utf8)
        return bytes
    }

    /// `cmd=`: the last command ("client|list" for a subcommand), NULL before the first.
    private func commandName(_ last: UInt32) -> String {
        guard last & 0xFFFF != 0 else { return "NULL" }
        let command = service.table.commands[Int(last & 0xFFFF) - 1]
        var text = command.name.description
        let sub = Int(last >> 16)
        if sub != 0 { text += "|" + command.subcommands[sub - 1].description }
        return text
    }

    /// Records what CLIENT LIST shows as `cmd` (a container's subcommand when it is one it knows).
    @inline(__always)
    func noteLastCommand(_ command: RESPCommand) {
        var value = UInt32(command.index + 1)
        if !command.subcommands.isEmpty {
            guard argumentCount >= 2, let at = command.subcommands.firstIndex(where: { equalFolded(argument(1), $0) }) else {
                // redis's lookup fails for an unknown subcommand: no last command.
                client.lastCommand.store(0, ordering: .relaxed)
                return
            }
            value |= UInt32(at + 1) << 16
        }
        client.lastCommand.store(value, ordering: .relaxed)
    }

    /// CLIENT KILL ip:port | CLIENT KILL <filter value> ...
    private func clientKill(_ out: OutputBuffer) -> HandlerAction {
        var id: UInt64? = nil, address: [UInt8]? = nil, localAddress: [UInt8]? = nil, type: ClientType? = nil
        var skipMe = true
        if argumentCount == 3 {
            address = Array(argument(2))
            skipMe = false
        } else {
            var i = 2
            while i < argumentCount {
                guard i + 1 < argumentCount else { return syntaxError(out) }
                if argument(i, is: "id") {
                    guard let v = integerArgument(i + 1), v >= 1 else { return error(out, "ERR client-id should be greater than 0") }
                    id = UInt64(v)
                } else if argument(i, is: "type") {
                    guard let t = ClientType(argument(i + 1)) else { return unknownClientType(i + 1, out) }
                    type = t
                } else if argument(i, is: "addr") {
                    address = Array(argument(i + 1))
                } else if argument(i, is: "laddr") {
                    localAddress = Array(argument(i + 1))
                } else if argument(i, is: "user") {
                    // One user exists: "default".
                    guard argument(i + 1).elementsEqual("default".utf8) else {
                        return error(out, "ERR No such user '" + String(decoding: argument(i + 1), as: UTF8.self) + "'")
                    }
                } else if argument(i, is: "skipme") {
                    if argument(i + 1, is: "yes") { skipMe = true } else if argument(i + 1, is: "no") { skipMe = false } else { return syntaxError(out) }
                } else {
                    return syntaxError(out)
                }
                i += 2
            }
        }
        var killed = 0
        var killSelf = false
        for c in service.clients.all() {
            if let address, !c.address.utf8.elementsEqual(address) { continue }
            if let localAddress, !c.localAddress.utf8.elementsEqual(localAddress) { continue }
            if let type, ClientType.of(c) != type { continue }
            if let id, c.id != id { continue }
            if c === client {
                if skipMe { continue }
                killSelf = true
                killed += 1
            } else if service.clients.kill(c) {
                service.listWaits.dropKilled(clientID: c.id)
                killed += 1
            }
        }
        stats.add(RESPCounter.clientsKilled.rawValue, UInt64(killed))
        if argumentCount == 3 {
            guard killed > 0 else { return error(out, "ERR No such client") }
            out.appendRESPOK()
        } else {
            out.appendRESPInteger(Int64(killed))
        }
        // Killing itself: the reply goes out, then the connection closes (redis's close-after-reply).
        if killSelf {
            service.clients.remove(self.id)
            return .close
        }
        return .proceed
    }

    /// CLIENT UNBLOCK id [TIMEOUT|ERROR]: 1 when the connection was blocked and is released.
    private func clientUnblock(_ out: OutputBuffer) -> HandlerAction {
        guard argumentCount <= 4 else {
            return error(out, "ERR unknown subcommand or wrong number of arguments for '" + String(decoding: argument(1), as: UTF8.self) + "'. Try CLIENT HELP.")
        }
        guard let target = integerArgument(2) else { return notAnInteger(out) }
        var asError = false
        if argumentCount == 4 {
            if argument(3, is: "error") { asError = true } else if !argument(3, is: "timeout") {
                return error(out, "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
            }
        }
        let released = target > 0 && service.unblockListClient(id: UInt64(target), error: asError)
        if released { stats.add(RESPCounter.clientsUnblocked.rawValue) }
        // redis 7.0 writes the UNBLOCKED error while CLIENT UNBLOCK runs, so it counts a failed
        // call of client|unblock too (the error reply itself is counted once, by the woken client).
        if released && asError { commandFailed = true }
        out.appendRESPInteger(released ? 1 : 0)
        return .proceed
    }

    /// A command run while CLIENT REPLY OFF or SKIP withholds its reply: whatever it (or the
    /// refusal of it) appended is taken back. A streamed reply is dropped with its rest.
    func executeWithheld(_ output: OutputBuffer, request: UnsafeRawBufferPointer) -> HandlerAction {
        if replyMode == .skipNext { replyMode = .skipping }
        let mark = output.mark()
        execWithheldItself = false
        var action = execute(output, request: request)
        // CLIENT REPLY ON within OFF answers OK; anything else is withheld.
        if replyMode == .on { return action }
        if action == .stream {
            releaseMGet()
            action = .proceed
        }
        if !execWithheldItself { output.rollback(to: mark) }
        if replyMode == .skipping { replyMode = .on }
        return action
    }

    /// Whether a reply appended now goes out: redis drops each reply while CLIENT REPLY OFF, or
    /// SKIP's command, is in force (prepareClientToWrite), piece by piece, so EXEC's array
    /// header and each queued command's reply follow the mode in force when written.
    var repliesFlow: Bool { replyMode == .on || replyMode == .skipNext }
}
