// mg / ms / md / ma / me / mn: memcached's meta commands. Each works on one key under its item
// lock (memcached's process_m*_command), so flags that read and change an item (h and l before
// the bump, T, N vivify, R recache, stale X with one W winner) see one consistent item.
import CacheEngine
import Platform

/// What a meta set must remember until its data block has arrived: how to answer.
struct MetaStoreReply {
    var quiet = false
    var base64 = false
    var returnCAS = false
    var returnKey = false
    var invalidate = false
    /// Return flags in request order (k, O, c), up to 8.
    var order: UInt64 = 0
    var orderCount = 0
    var opaque: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    var opaqueLength = 0
}

extension MemcacheConnection {
    /// The key of a meta command, base64-decoded into the scratch buffer with the b flag.
    func metaKey(_ input: UnsafeRawBufferPointer, _ t: Token, base64: Bool) -> UnsafeRawBufferPointer? {
        let raw = UnsafeRawBufferPointer(rebasing: input[t.start..<t.start + t.count])
        if !base64 { return raw }
        guard let n = Base64.decode(raw, into: keyScratch), n > 0 else { return nil }
        return UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(keyScratch)[0..<n])
    }

    /// " k<key>", or " k<base64 key> b" when the key came in base64 (memcached's META_KEY).
    func appendMetaKey(_ key: UnsafeRawBufferPointer, base64: Bool, _ output: OutputBuffer) {
        output.append(byte: 0x20)
        output.append(byte: UInt8(ascii: "k"))
        if base64 {
            Base64.encode(key) { output.append(byte: $0) }
            appendFlag(UInt8(ascii: "b"), output)
        } else {
            output.append(key)
        }
    }

    @inline(__always)
    func appendFlag(_ c: UInt8, _ output: OutputBuffer) {
        output.append(byte: 0x20)
        output.append(byte: c)
    }

    /// Echoes flag token `t` if it is one every meta command returns (" O<opaque>", " k<key>").
    @inline(__always)
    func appendEchoFlag(_ input: UnsafeRawBufferPointer, _ t: Token, key: UnsafeRawBufferPointer,
                        base64: Bool, _ output: OutputBuffer) {
        switch input[t.start] {
        case UInt8(ascii: "O"):
            appendFlag(UInt8(ascii: "O"), output)
            output.append(UnsafeRawBufferPointer(rebasing: input[t.start + 1..<t.start + t.count]))
        case UInt8(ascii: "k"):
            appendMetaKey(key, base64: base64, output)
        default:
            break
        }
    }

    /// The O and k flags in request order: all a miss or a failure answers with.
    func appendCommonFlags(_ input: UnsafeRawBufferPointer, from: Int, end: Int, key: UnsafeRawBufferPointer,
                           base64: Bool, _ output: OutputBuffer) {
        var pos = from
        while let t = TextParser.nextToken(input, from: pos, end: end) {
            pos = t.start + t.count
            appendEchoFlag(input, t, key: key, base64: base64, output)
        }
    }

    func processMeta(_ input: UnsafeRawBufferPointer, _ tokens: Tokens, _ start: Int, _ end: Int,
                     _ output: OutputBuffer) -> HandlerAction {
        let cmd = input[tokens[0].start + 1]
        guard tokens.count >= 2 else {
            // memcached: a keyless me is a format error, the others are unknown commands.
            output.append(cmd == UInt8(ascii: "e") ? Reply.badFormat : Reply.error)
            return .proceed
        }
        guard tokens[1].count <= ItemLayout.maxKeyLength else {
            output.append(Reply.badFormat)
            return .proceed
        }
        let keyToken = tokens[1]
        // memcached refuses more than 17 flag tokens (MFLAG_MAX_OPT_LENGTH), in two wordings.
        let flagsFrom = cmd == UInt8(ascii: "s") && tokens.count >= 3 ? tokens[2].start + tokens[2].count : keyToken.start + keyToken.count
        if cmd != UInt8(ascii: "e") && Self.countTokens(input, from: flagsFrom, end: end, upTo: Self.maxMetaFlags + 1) > Self.maxMetaFlags {
            output.append(cmd == UInt8(ascii: "g") ? MetaReply.tooManyFlagsGet : MetaReply.tooManyFlags)
            return .proceed
        }
        switch cmd {
        case UInt8(ascii: "g"): return metaGet(input, keyToken, end, output)
        case UInt8(ascii: "s"): return metaSet(input, tokens, end, output)
        case UInt8(ascii: "d"): return metaDelete(input, keyToken, end, output)
        case UInt8(ascii: "a"): return metaArithmetic(input, keyToken, end, output)
        default: return metaDebug(input, keyToken, end, output)
        }
    }

    static let maxMetaFlags = 17

    static func countTokens(_ input: UnsafeRawBufferPointer, from: Int, end: Int, upTo limit: Int) -> Int {
        var n = 0
        var pos = from
        while n < limit, let t = TextParser.nextToken(input, from: pos, end: end) {
            n += 1
            pos = t.start + t.count
        }
        return n
    }

    // MARK: mg

    private func metaGet(_ input: UnsafeRawBufferPointer, _ keyToken: Token, _ end: Int, _ output: OutputBuffer) -> HandlerAction {
        let flagsStart = keyToken.start + keyToken.count
        let (f, error) = MetaFlags.parse(input, from: flagsStart, end: end)
        if let error { output.append(error.line(command: UInt8(ascii: "g"))); return .proceed }
        guard let key = metaKey(input, keyToken, base64: f.base64) else { output.append(MetaReply.keyDecode); return .proceed }
        let clock = engine.clock
        var request = MetaGetRequest()
        request.vivifyExpiry = f.vivify.map { clock.expiry(fromClient: Int64($0)) }
        request.touchExpiry = f.ttl.map { clock.expiry(fromClient: Int64($0)) }
        request.recacheBefore = f.recache.map { clock.expiry(fromClient: Int64($0)) }
        request.touchBeforeRecache = f.touchBeforeRecache
        request.bump = !f.noBump
        request.keepItem = f.returnValue
        let r = engine.metaGet(key, hash: CacheEngine.hash(key), request)
        if case .overflow = r.outcome {
            output.append(MetaReply.refcountOverflow)
            return .proceed
        }
        if service.watch.isActive(.fetchers) { logFetch(key, r.found && !r.created ? (r.info.slabClass, r.info.valueLength) : nil, r.outcome) }
        guard r.found else {
            switch r.outcome {
            case .expired: stats.add(.getExpired)
            case .flushed: stats.add(.getFlushed)
            default: break
            }
            // A miss counts as a get, T or not (memcached's process_mget_command).
            stats.add(.cmdGet)
            stats.add(.getMisses)
            if !f.quiet {
                output.append("EN")
                appendCommonFlags(input, from: flagsStart, end: end, key: key, base64: f.base64, output)
                output.append(Reply.crlf)
            }
            return .proceed
        }
        // memcached counts an item found or just created (N) alike: with T as a touch hit
        // (touch_cmds, touch_hits), without as a get hit (get_cmds, get_hits).
        if f.ttl != nil {
            stats.add(.cmdTouch)
            stats.add(.touchHits)
        } else {
            stats.add(.cmdGet)
            stats.add(.getHits)
        }
        let now = clock.current
        if f.returnValue {
            output.append(MetaReply.va)
            output.append(decimal: UInt64(r.info.valueLength))
        } else {
            output.append(MetaReply.hd)
        }
        // Flags apply in order: a t after T shows the new TTL.
        var touched = false
        var pos = flagsStart
        while let t = TextParser.nextToken(input, from: pos, end: end) {
            pos = t.start + t.count
            switch input[t.start] {
            case UInt8(ascii: "T"):
                touched = true
            case UInt8(ascii: "N"), UInt8(ascii: "R"):
                break
            case UInt8(ascii: "s"):
                appendFlag(UInt8(ascii: "s"), output)
                output.append(decimal: UInt64(r.info.valueLength))
            case UInt8(ascii: "t"):
                appendFlag(UInt8(ascii: "t"), output)
                appendTTL(touched ? r.touchedExpiry : r.info.expiry, now: now, output)
            case UInt8(ascii: "c"):
                appendFlag(UInt8(ascii: "c"), output)
                output.append(decimal: r.info.cas)
            case UInt8(ascii: "f"):
                appendFlag(UInt8(ascii: "f"), output)
                output.append(decimal: UInt64(r.info.clientFlags))
            case UInt8(ascii: "l"):
                appendFlag(UInt8(ascii: "l"), output)
                output.append(decimal: UInt64(now &- r.info.lastAccess))
            case UInt8(ascii: "h"):
                appendFlag(UInt8(ascii: "h"), output)
                output.append(byte: r.info.fetched ? UInt8(ascii: "1") : UInt8(ascii: "0"))
            default:
                // A hit's k follows how the item was stored, not this request's b (memcached
                // 1.6.18: the item's ITEM_KEY_BINARY); a miss's follows the request.
                appendEchoFlag(input, t, key: key, base64: r.info.binaryKey, output)
            }
        }
        if r.tokenSent { appendFlag(UInt8(ascii: "Z"), output) }
        if r.stale { appendFlag(UInt8(ascii: "X"), output) }
        if r.won { appendFlag(UInt8(ascii: "W"), output) }
        output.append(Reply.crlf)
        if let it = r.item { appendValueBlock(it, output) }
        return .proceed
    }

    /// Seconds left before `expiry`, -1 for never.
    func appendTTL(_ expiry: UInt32, now: UInt32, _ output: OutputBuffer) {
        if expiry == 0 {
            output.append("-1")
        } else {
            output.append(decimal: UInt64(expiry > now ? expiry - now : 0))
        }
    }

    // MARK: ms

    private func metaSet(_ input: UnsafeRawBufferPointer, _ tokens: Tokens, _ end: Int, _ output: OutputBuffer) -> HandlerAction {
        guard tokens.count >= 3, let length = TextParser.memcachedByteCount(input, tokens[2]) else {
            output.append(Reply.badFormat)
            return .proceed
        }
        let keyToken = tokens[1]
        let flagsStart = tokens[2].start + tokens[2].count
        let (f, error) = MetaFlags.parse(input, from: flagsStart, end: end)
        var mode = StoreMode.set
        var failure = error.map { $0.line(command: UInt8(ascii: "s")) }
        if failure == nil {
            switch f.mode {
            // memcached 1.6.18's letters: upper case only.
            case 0, UInt8(ascii: "S"): mode = .set
            case UInt8(ascii: "E"): mode = .add
            case UInt8(ascii: "A"): mode = .append
            case UInt8(ascii: "P"): mode = .prepend
            case UInt8(ascii: "R"): mode = .replace
            default: failure = MetaReply.invalidSetMode
            }
        }
        let key = failure == nil ? metaKey(input, keyToken, base64: f.base64) : nil
        if failure == nil && key == nil { failure = MetaReply.keyDecode }
        if let failure {
            output.append(failure)
            swallowRemaining = Int(length) + 2
            return .proceed
        }
        if f.compareCAS != nil && (mode == .set || mode == .replace) { mode = .cas }
        var reply = MetaStoreReply()
        reply.quiet = f.quiet
        reply.base64 = f.base64
        reply.invalidate = f.invalidate
        // N with an append mode creates nothing in memcached 1.6.18: a missing item is NS.
        var pos = flagsStart
        while let t = TextParser.nextToken(input, from: pos, end: end) {
            pos = t.start + t.count
            let c = input[t.start]
            guard c == UInt8(ascii: "k") || c == UInt8(ascii: "O") || c == UInt8(ascii: "c"),
                  reply.orderCount < 8 else { continue }
            reply.order |= UInt64(c) << (8 * UInt64(reply.orderCount))
            reply.orderCount += 1
            if c == UInt8(ascii: "O") {
                withUnsafeMutableBytes(of: &reply.opaque) {
                    $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: input[t.start + 1..<t.start + t.count]))
                }
                reply.opaqueLength = t.count - 1
            }
        }
        // The failure above covers a key that did not decode; checked again, not unwrapped.
        guard let key2 = key else {
            output.append(MetaReply.keyDecode)
            swallowRemaining = Int(length) + 2
            return .proceed
        }
        let hash = CacheEngine.hash(key2)
        let expiry = engine.clock.expiry(fromClient: Int64(f.ttl ?? 0))
        switch engine.allocate(key: key2, flags: f.clientFlags ?? 0, expiry: expiry, valueLength: Int(length), memcachedEviction: true) {
        case .item(let item):
            stats.add(.cmdSet)  // as memcached: not for a refused size
            // A key given in base64 is returned so by later hits (memcached's ITEM_KEY_BINARY).
            if f.base64 { item.binaryKey = true }
            pending = PendingStore(item: item, hash: hash, mode: mode, casIn: f.compareCAS ?? 0, noreply: false,
                                   block: ValueBlock(terminated: true), meta: reply)
        case .tooLarge:
            stats.add(.storeTooLarge)
            output.append(Reply.tooLarge)
            swallowRemaining = Int(length) + 2
            if mode == .set { engine.unlink(key2, hash: hash) }
        case .outOfMemory:
            stats.add(.storeNoMemory)
            output.append(Reply.outOfMemory)
            swallowRemaining = Int(length) + 2
            if mode == .set { engine.unlink(key2, hash: hash) }
        }
        return .proceed
    }

    /// Stores a meta set's completed item and answers it.
    func finishMetaStore(_ p: PendingStore, _ reply: MetaStoreReply, _ output: OutputBuffer) {
        if !p.block.terminatorValid {
            output.append(Reply.badDataChunk)
            return
        }
        let (result, cas) = engine.store(p.item, hash: p.hash, mode: p.mode, casIn: p.casIn, allowStale: reply.invalidate)
        if service.watch.isActive(.mutations) { logStore(p.item, mode: p.mode, result: result) }
        switch result {
        case .stored:
            if p.mode == .cas { stats.add(.casHits) }
            if reply.quiet { return }
            output.append(MetaReply.hd)
        case .notStored: output.append(MetaReply.ns)
        case .exists:
            if p.mode == .cas { stats.add(.casBadval) }
            output.append(MetaReply.ex)
        case .notFound:
            if p.mode == .cas { stats.add(.casMisses) }
            output.append(MetaReply.nf)
        }
        for i in 0..<reply.orderCount {
            let c = UInt8(truncatingIfNeeded: reply.order >> (8 * UInt64(i)))
            switch c {
            case UInt8(ascii: "O"):
                appendFlag(c, output)
                var opaque = reply.opaque
                withUnsafeBytes(of: &opaque) { output.append(UnsafeRawBufferPointer(rebasing: $0[0..<reply.opaqueLength])) }
            case UInt8(ascii: "k"):
                appendMetaKey(p.item.key, base64: reply.base64, output)
            default:
                appendFlag(c, output)
                output.append(decimal: cas)
            }
        }
        output.append(Reply.crlf)
    }

    // MARK: md

    private func metaDelete(_ input: UnsafeRawBufferPointer, _ keyToken: Token, _ end: Int, _ output: OutputBuffer) -> HandlerAction {
        let flagsStart = keyToken.start + keyToken.count
        let (f, error) = MetaFlags.parse(input, from: flagsStart, end: end)
        if let error { output.append(error.line(command: UInt8(ascii: "d"))); return .proceed }
        guard let key = metaKey(input, keyToken, base64: f.base64) else { output.append(MetaReply.invalidOrDuplicateFlag); return .proceed }
        let mark = f.invalidate ? StaleMark(expiry: f.ttl.map { engine.clock.expiry(fromClient: Int64($0)) }, newCAS: nil) : nil
        let code: StaticString?
        var outcome = GetOutcome.miss
        let deleted = engine.delete(key, hash: CacheEngine.hash(key), casIn: f.compareCAS, invalidate: mark, outcome: &outcome)
        stats.addDeadLookup(outcome)
        switch deleted {
        case .notFound:
            stats.add(.deleteMisses)
            code = MetaReply.nf
        case .exists:
            code = MetaReply.ex
        case .deleted:
            stats.add(.deleteHits)
            code = f.quiet ? nil : MetaReply.hd
        }
        if let code {
            output.append(code)
            appendCommonFlags(input, from: flagsStart, end: end, key: key, base64: f.base64, output)
            output.append(Reply.crlf)
        }
        return .proceed
    }

    // MARK: ma

    private func metaArithmetic(_ input: UnsafeRawBufferPointer, _ keyToken: Token, _ end: Int, _ output: OutputBuffer) -> HandlerAction {
        let flagsStart = keyToken.start + keyToken.count
        let (f, error) = MetaFlags.parse(input, from: flagsStart, end: end)
        if let error { output.append(error.line(command: UInt8(ascii: "a"))); return .proceed }
        let incr: Bool
        switch f.mode {
        // memcached 1.6.18's letters: I or +, D or -.
        case 0, UInt8(ascii: "I"), UInt8(ascii: "+"): incr = true
        case UInt8(ascii: "D"), UInt8(ascii: "-"): incr = false
        default:
            output.append(MetaReply.invalidArithmeticMode)
            return .proceed
        }
        guard let key = metaKey(input, keyToken, base64: f.base64) else { output.append(MetaReply.invalidOrDuplicateFlag); return .proceed }
        let clock = engine.clock
        var request = DeltaRequest(incr: incr, delta: f.delta)
        request.casIn = f.compareCAS ?? 0
        request.touch = f.ttl.map { clock.expiry(fromClient: Int64($0)) }
        request.create = f.vivify.map { (f.initial, clock.expiry(fromClient: Int64($0))) }
        let r = engine.delta(key, hash: CacheEngine.hash(key), request)
        stats.addDeadLookup(r.outcome)
        let code: StaticString
        switch r.result {
        case .ok(let value):
            if !r.created { stats.add(incr ? .incrHits : .decrHits) }
            answerMetaArithmetic(input, flagsStart, end, key, f, r, value, output)
            return .proceed
        case .nonNumeric:
            output.append(Reply.nonNumeric)
            return .proceed
        case .outOfMemory:
            output.append(Reply.deltaOutOfMemory)
            return .proceed
        case .casMismatch:
            code = MetaReply.ex
        case .notStored:
            code = MetaReply.ns
        case .notFound:
            stats.add(incr ? .incrMisses : .decrMisses)
            code = MetaReply.nf
        }
        output.append(code)
        appendCommonFlags(input, from: flagsStart, end: end, key: key, base64: f.base64, output)
        output.append(Reply.crlf)
        return .proceed
    }

    private func answerMetaArithmetic(_ input: UnsafeRawBufferPointer, _ flagsStart: Int, _ end: Int,
                                      _ key: UnsafeRawBufferPointer, _ f: MetaFlags, _ r: DeltaReply, _ value: UInt64,
                                      _ output: OutputBuffer) {
        // q hides the nominal answer (VA too); a just-created item is still answered (memcached 1.6.18).
        if f.quiet && !r.created { return }
        if f.returnValue {
            output.append(MetaReply.va)
            var tmp = value
            var digits = 1
            while tmp >= 10 { tmp /= 10; digits += 1 }
            output.append(decimal: UInt64(digits))
        } else {
            output.append(MetaReply.hd)
        }
        let now = engine.clock.current
        // Flags apply in order: a t after T shows the new TTL.
        var touched = false
        var pos = flagsStart
        while let t = TextParser.nextToken(input, from: pos, end: end) {
            pos = t.start + t.count
            switch input[t.start] {
            case UInt8(ascii: "c"):
                appendFlag(UInt8(ascii: "c"), output)
                output.append(decimal: r.item.cas)
            case UInt8(ascii: "t"):
                appendFlag(UInt8(ascii: "t"), output)
                appendTTL(touched ? r.touchedExpiry : r.item.expiry, now: now, output)
            case UInt8(ascii: "T"):
                touched = true
            default:
                appendEchoFlag(input, t, key: key, base64: f.base64, output)
            }
        }
        output.append(Reply.crlf)
        if f.returnValue {
            output.append(decimal: value)
            output.append(Reply.crlf)
        }
    }

    // MARK: me

    private func metaDebug(_ input: UnsafeRawBufferPointer, _ keyToken: Token, _ end: Int, _ output: OutputBuffer) -> HandlerAction {
        let flagsStart = keyToken.start + keyToken.count
        let base64 = TextParser.nextToken(input, from: flagsStart, end: end).map { TextParser.equals(input, $0, "b") } ?? false
        guard let key = metaKey(input, keyToken, base64: base64) else { output.append(Reply.badFormat); return .proceed }
        guard let info = engine.inspect(key, hash: CacheEngine.hash(key)) else {
            output.append(MetaReply.en)
            return .proceed
        }
        let now = engine.clock.current
        output.append("ME ")
        if base64 { Base64.encode(key) { output.append(byte: $0) } } else { output.append(key) }
        output.append(" exp=")
        if info.expiry == 0 { output.append("-1") } else { output.append(String(Int64(info.expiry) - Int64(now))) }
        output.append(" la=")
        output.append(decimal: UInt64(now &- info.lastAccess))
        output.append(" cas=")
        output.append(decimal: info.cas)
        output.append(info.fetched ? " fetch=yes" : " fetch=no")
        output.append(" cls=")
        output.append(decimal: UInt64(info.slabClass))
        output.append(" size=")
        output.append(decimal: UInt64(info.size))
        output.append(Reply.crlf)
        return .proceed
    }
}
