// Connection and server commands of the Redis port: PING ECHO HELLO AUTH QUIT RESET SELECT
// FLUSHALL FLUSHDB, with redis-server 7.0's replies (CLIENT is RESPConnection+Client.swift,
// COMMAND RESPConnection+CommandInfo.swift). RESET also goes back to database 0.
import CacheEngine
import Platform

extension RESPConnection {
    static let connectionCommands: [RESPCommand] = [
        RESPCommand("ping", arity: -1, flags: [.fast]) { c, out in c.ping(out) },
        RESPCommand("echo", arity: 2, flags: [.loading, .stale, .fast]) { c, out in
            out.appendRESPBulk(c.argument(1))
            return .proceed
        },
        RESPCommand("hello", arity: -1, flags: [.noscript, .loading, .stale, .fast, .noAuth, .allowBusy]) { c, out in c.hello(out) },
        RESPCommand("auth", arity: -2, flags: [.noscript, .loading, .stale, .fast, .noAuth, .allowBusy]) { c, out in c.auth(out) },
        RESPCommand("quit", arity: -1, flags: [.noscript, .loading, .stale, .fast, .noAuth, .allowBusy], transaction: .immediate) { _, out in
            out.appendRESPOK()
            return .close
        },
        RESPCommand("reset", arity: 1, flags: [.noscript, .loading, .stale, .fast, .noAuth, .allowBusy], transaction: .immediate) { c, out in
            c.endTransaction()
            c.dropSubscriptions()
            c.version = .resp2
            c.name = nil
            c.replyMode = .on
            c.database = 0
            c.authenticated = !c.service.config.passwordRequired
            c.parser.unauthenticated = !c.authenticated
            out.appendRESPSimple("RESET")
            return .proceed
        },
        RESPCommand("select", arity: 2, flags: [.loading, .stale, .fast]) { c, out in c.select(out) },
        RESPCommand("flushall", arity: -1, flags: [.write]) { c, out in c.flush(all: true, out) },
        RESPCommand("flushdb", arity: -1, flags: [.write]) { c, out in c.flush(all: false, out) },
    ]

    private func ping(_ out: OutputBuffer) -> HandlerAction {
        if inSubscribedMode && argumentCount <= 2 {
            // redis in RESP2 subscribed mode: ["pong", argument or ""].
            out.appendRESPArrayHeader(2)
            out.appendRESPBulk("pong")
            out.appendRESPBulk(argumentCount == 2 ? argument(1) : UnsafeRawBufferPointer(start: nil, count: 0))
            return .proceed
        }
        switch argumentCount {
        case 1: out.appendRESPSimple("PONG")
        case 2: out.appendRESPBulk(argument(1))
        default: return error(out, "ERR wrong number of arguments for 'ping' command")
        }
        return .proceed
    }

    /// HELLO [protover [AUTH username password] [SETNAME clientname]].
    private func hello(_ out: OutputBuffer) -> HandlerAction {
        var chosen = version
        if argumentCount >= 2 {
            guard let v = integerArgument(1) else {
                return error(out, "ERR Protocol version is not an integer or out of range")
            }
            guard v == 2 || v == 3 else { return error(out, "NOPROTO unsupported protocol version") }
            chosen = v == 2 ? .resp2 : .resp3
        }
        var credentials: (user: UnsafeRawBufferPointer, password: UnsafeRawBufferPointer)? = nil
        var newName: Int? = nil
        var i = 2
        while i < argumentCount {
            let more = argumentCount - i - 1
            if argument(i, is: "auth") && more >= 2 {
                credentials = (argument(i + 1), argument(i + 2))
                i += 3
            } else if argument(i, is: "setname") && more >= 1 {
                newName = i + 1
                i += 2
            } else {
                return error(out, "ERR Syntax error in HELLO option '" + String(decoding: argument(i), as: UTF8.self) + "'")
            }
        }
        if let credentials {
            guard checkCredentials(user: credentials.user, password: credentials.password, out) else { return .proceed }
        }
        if !authenticated {
            return error(out, "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
        }
        if let newName {
            guard validClientName(argument(newName)) else { return badClientName(out) }
            name = argument(newName).isEmpty ? nil : Array(argument(newName))
        }
        version = chosen
        subscriptions?.subscriber.version.store(version.rawValue, ordering: .relaxed)
        out.appendRESPMapHeader(7, version)
        out.appendRESPBulk("server")
        out.appendRESPBulk("redis")
        out.appendRESPBulk("version")
        out.appendRESPBulk(service.settings.redisVersion)
        out.appendRESPBulk("proto")
        out.appendRESPInteger(Int64(version.rawValue))
        out.appendRESPBulk("id")
        out.appendRESPInteger(Int64(id))
        out.appendRESPBulk("mode")
        out.appendRESPBulk("standalone")
        out.appendRESPBulk("role")
        out.appendRESPBulk("master")
        out.appendRESPBulk("modules")
        out.appendRESPArrayHeader(0)
        return .proceed
    }

    /// AUTH [username] password.
    private func auth(_ out: OutputBuffer) -> HandlerAction {
        guard argumentCount <= 3 else { return syntaxError(out) }
        guard service.config.passwordRequired else {
            if argumentCount == 2 {
                return error(out, "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
            }
            // A username with no password configured: only "default" with any password, as redis's
            // default user with nopass.
            if argument(1, is: "default") {
                out.appendRESPOK()
                return .proceed
            }
            stats.add(RESPCounter.authFailures.rawValue)
            return error(out, "WRONGPASS invalid username-password pair or user is disabled.")
        }
        let user = argumentCount == 3 ? argument(1) : UnsafeRawBufferPointer(start: Self.defaultUser.utf8Start, count: Self.defaultUser.utf8CodeUnitCount)
        guard checkCredentials(user: user, password: argument(argumentCount - 1), out) else { return .proceed }
        out.appendRESPOK()
        return .proceed
    }

    private static let defaultUser: StaticString = "default"

    /// The default user and the --requirepass password, compared in constant time; on a mismatch
    /// the WRONGPASS reply is written and false returned.
    private func checkCredentials(user: UnsafeRawBufferPointer, password: UnsafeRawBufferPointer, _ out: OutputBuffer) -> Bool {
        let expected = service.config.password
        let passwordMatches = ConstantTime.equals(password, expected ?? [])
        let userMatches = user.elementsEqual(Self.defaultUser.utf8Bytes)
        if expected != nil && !(passwordMatches && userMatches) {
            stats.add(RESPCounter.authFailures.rawValue)
            _ = error(out, "WRONGPASS invalid username-password pair or user is disabled.")
            return false
        }
        authenticated = true
        parser.unauthenticated = false
        return true
    }

    /// SELECT index: one of the 16 databases (0 is the one the memcached port sees, until a
    /// SWAPDB exchanges it).
    private func select(_ out: OutputBuffer) -> HandlerAction {
        guard let db = databaseArgument(1, out) else { return .proceed }
        guard Self.validDatabase(db) else { return error(out, "ERR DB index is out of range") }
        database = db
        out.appendRESPOK()
        return .proceed
    }

    /// Argument `i` as redis's getIntFromObjectOrReply reads a database index (a C int); nil
    /// after its error: `message` when given (SWAPDB's), else redis's two words for not an
    /// integer and outside an int.
    func databaseArgument(_ i: Int, _ out: OutputBuffer, message: StaticString? = nil) -> Int? {
        guard let v = integerArgument(i) else {
            _ = message.map { error(out, $0) } ?? notAnInteger(out)
            return nil
        }
        guard v >= Int(Int32.min), v <= Int(Int32.max) else {
            _ = message.map { error(out, $0) } ?? error(out, "ERR value is out of range, value must between -2147483648 and 2147483647")
            return nil
        }
        return v
    }

    static func validDatabase(_ db: Int) -> Bool { db >= 0 && db < ItemLayout.databaseCount }

    /// redis's validateClientName: printable ASCII without spaces.
    func validClientName(_ n: UnsafeRawBufferPointer) -> Bool {
        n.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }

    func badClientName(_ out: OutputBuffer) -> HandlerAction {
        error(out, "ERR Client names cannot contain spaces, newlines or special characters.")
    }

    /// FLUSHALL / FLUSHDB [ASYNC|SYNC], both done before the reply: FLUSHDB empties this
    /// connection's database; FLUSHALL every one, with memcached's flush_all marks (the
    /// memcached port's flush_all and FLUSHALL flush the same keys).
    private func flush(all: Bool, _ out: OutputBuffer) -> HandlerAction {
        if argumentCount > 2 || (argumentCount == 2 && !argument(1, is: "async") && !argument(1, is: "sync")) {
            return syntaxError(out)
        }
        engine.flushDatabase(all ? nil : database)
        out.appendRESPOK()
        return .proceed
    }
}

extension StaticString {
    var utf8Bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: utf8Start, count: utf8CodeUnitCount) }
}
