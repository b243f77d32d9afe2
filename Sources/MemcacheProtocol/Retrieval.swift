// get / gets / gat / gats: each hit is a "VALUE" line from the output arena followed by the value
// straight from item memory; the item's reference travels with that segment and is released once
// the bytes are written.
import CacheEngine
import Platform

extension MemcacheConnection {
    func processGet(_ input: UnsafeRawBufferPointer, _ tokens: Tokens, _ end: Int, _ output: OutputBuffer,
                    withCAS: Bool, touch: Bool) -> HandlerAction {
        var keyIndex = 1
        var expiry: UInt32 = 0
        if touch {
            guard tokens.count >= 2 else {
                output.append(Reply.error)
                return .proceed
            }
            guard let exptime = TextParser.memcachedInt32(input, tokens[1]) else {
                output.append(Reply.invalidExptime)
                return .proceed
            }
            expiry = engine.clock.expiry(fromClient: Int64(exptime))
            keyIndex = 2
        }
        guard tokens.count > 1 else {
            output.append(Reply.error)
            return .proceed
        }
        let mark = output.mark()
        // Values and value bytes queued so far; past one piece the rest of the hits are only
        // referenced, and written as the client reads (Retrieval+Stream.swift).
        var queuedKeys = 0
        var queuedBytes = 0
        var streamed: [Item]? = nil
        var next: Token? = tokens.count > keyIndex ? tokens[keyIndex] : nil
        // The two keys after the one looked up, with their hashes: the engine is told them while
        // it looks one up, so a multi-get's misses overlap (CacheEngine+KeyHints.swift).
        var ahead = next.flatMap { TextParser.nextToken(input, from: $0.start + $0.count, end: end) }
        var aheadHash = ahead.flatMap { hintHash(input, $0) }
        var currentHash: UInt32? = nil
        while let keyToken = next {
            guard validKey(input, keyToken) else {
                // memcached answers a bad key in a multi-get with the error alone.
                output.rollback(to: mark)
                if let items = streamed { for it in items { engine.release(it) } }
                output.append(Reply.badFormat)
                return .proceed
            }
            let key = UnsafeRawBufferPointer(rebasing: input[keyToken.start..<keyToken.start + keyToken.count])
            let hash = currentHash ?? CacheEngine.hash(key)
            let after = ahead.flatMap { TextParser.nextToken(input, from: $0.start + $0.count, end: end) }
            let afterHash = after.flatMap { hintHash(input, $0) }
            if aheadHash != nil { CacheEngine.hintKeys(next: aheadHash, after: afterHash) }
            var outcome = GetOutcome.miss
            let found = touch
                ? engine.touch(key, hash: hash, expiry: expiry, outcome: &outcome)
                : engine.get(key, hash: hash, outcome: &outcome)
            // memcached: gat/gats count in touch_cmds only (touch_hits/touch_misses), not get_cmds.
            stats.add(touch ? .cmdTouch : .cmdGet)
            if service.watch.isActive(.fetchers) { logFetch(key, found, outcome) }
            if service.prefixStats.isEnabled { service.prefixStats.record(key, .get(hit: found != nil)) }
            // Past the reference limit (memcached's limited_get) the key is a miss, as in
            // memcached: a get naming one item 60,000 times returns 59,999 values, then END.
            if let item = found {
                stats.add(touch ? .touchHits : .getHits)
                if streamed != nil {
                    streamed!.append(item)
                } else {
                    appendValue(item, key: key, withCAS: withCAS, output)
                    queuedKeys &+= 1
                    queuedBytes &+= item.valueLength
                    if queuedKeys >= MultiGetStream.pieceKeys || queuedBytes >= MultiGetStream.pieceBytes {
                        streamed = []
                    }
                }
            } else {
                switch outcome {
                case .expired: stats.add(.getExpired)
                case .flushed: stats.add(.getFlushed)
                default: break
                }
                stats.add(touch ? .touchMisses : .getMisses)
            }
            next = ahead
            currentHash = aheadHash
            ahead = after
            aheadHash = afterHash
        }
        if let items = streamed, !items.isEmpty {
            stats.add(.getsStreamed)
            multiGet = MultiGetStream(items: items, withCAS: withCAS)
            return .stream
        }
        output.append(Reply.end)
        return .proceed
    }

    /// A key token's hash for a hint (`CacheEngine.hintHash`: nil for a token no key can be).
    @inline(__always)
    private func hintHash(_ input: UnsafeRawBufferPointer, _ t: Token) -> UInt32? {
        CacheEngine.hintHash(UnsafeRawBufferPointer(rebasing: input[t.start..<t.start + t.count]))
    }

    @inline(__always)
    func appendValue(_ item: Item, key: UnsafeRawBufferPointer, withCAS: Bool, _ output: OutputBuffer) {
        output.append(Reply.value)
        output.append(key)
        output.append(byte: 0x20)
        output.append(decimal: UInt64(item.clientFlags))
        output.append(byte: 0x20)
        output.append(decimal: UInt64(item.valueLength))
        if withCAS {
            output.append(byte: 0x20)
            output.append(decimal: item.cas)
        }
        output.append(Reply.crlf)
        appendValueBlock(item, output)
    }

    /// The value straight from item memory, then "\r\n". The item's reference (which the caller
    /// hands over) travels with the last piece and is released once it is written.
    @inline(__always)
    func appendValueBlock(_ item: Item, _ output: OutputBuffer) {
        engine.appendValue(of: item, to: output)
        output.append(Reply.crlf)
    }
}
