// get / gets / gat / gats: each hit is a "VALUE" line from the output arena followed by the value
// straight from item memory; the item's reference travels with that segment and is released once
// the bytes are written. A multi-get's reply goes out in parts of `keysPerReplyPart` keys or
// `bytesPerReplyPart` value bytes: the line stays in the input, the connection writes the part,
// and the line is executed again from the next key, so a client that never reads pins one part,
// not the reply to a 1 MB line (memcached holds all of it). Its keys are checked before the first
// part goes out, so a bad key still gets the error alone, as in memcached.
import CacheEngine
import Platform

extension MemcacheConnection {
    static let keysPerReplyPart = 1024
    static let bytesPerReplyPart = 1 << 20

    func processGet(_ input: UnsafeRawBufferPointer, _ tokens: Tokens, _ start: Int, _ end: Int,
                    _ output: OutputBuffer, withCAS: Bool, touch: Bool) -> HandlerAction {
        var keyIndex = 1
        var expiry: UInt32 = 0
        if touch {
            guard tokens.count >= 2 else {
                output.append(Reply.error)
                return .proceed
            }
            guard let exptime = TextParser.parseInt32(input, tokens[1]) else {
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
        // A later part of a multi-get starts where the last one ended; its keys were checked.
        let resuming = getResumeOffset > 0
        var next: Token? = resuming
            ? TextParser.nextToken(input, from: start + getResumeOffset, end: end)
            : tokens.count > keyIndex ? tokens[keyIndex] : nil
        getResumeOffset = 0
        var keys = 0
        var bytes = 0
        while let keyToken = next {
            if keys == Self.keysPerReplyPart || bytes >= Self.bytesPerReplyPart {
                if !resuming && !restAreValidKeys(input, from: keyToken.start, end: end) {
                    output.rollback(to: mark)
                    output.append(Reply.badFormat)
                    return .proceed
                }
                getResumeOffset = keyToken.start - start
                return .yield
            }
            keys += 1
            guard validKey(input, keyToken) else {
                // memcached answers a bad key in a multi-get with the error alone.
                output.rollback(to: mark)
                output.append(Reply.badFormat)
                return .proceed
            }
            let key = UnsafeRawBufferPointer(rebasing: input[keyToken.start..<keyToken.start + keyToken.count])
            let hash = CacheEngine.hash(key)
            var outcome = GetOutcome.miss
            let found = touch
                ? engine.touch(key, hash: hash, expiry: expiry, outcome: &outcome)
                : engine.get(key, hash: hash, outcome: &outcome)
            if touch { stats.add(.cmdTouch) }
            stats.add(.cmdGet)
            if service.watch.isActive(.fetchers) { logFetch(key, found, outcome) }
            if service.prefixStats.isEnabled { service.prefixStats.record(key, .get(hit: found != nil)) }
            if case .overflow = outcome {
                // memcached's limited_get: the whole reply is refused.
                output.rollback(to: mark)
                output.append(Reply.getOverflow)
                return .proceed
            }
            if let item = found {
                stats.add(touch ? .touchHits : .getHits)
                bytes += Int(item.valueLength)
                appendValue(item, key: key, withCAS: withCAS, output)
            } else {
                switch outcome {
                case .expired: stats.add(.getExpired)
                case .flushed: stats.add(.getFlushed)
                default: break
                }
                stats.add(touch ? .touchMisses : .getMisses)
            }
            next = TextParser.nextToken(input, from: keyToken.start + keyToken.count, end: end)
        }
        output.append(Reply.end)
        return .proceed
    }

    /// Whether every key from `from` to the end of the line is valid (a multi-get about to send
    /// its first part).
    private func restAreValidKeys(_ input: UnsafeRawBufferPointer, from: Int, end: Int) -> Bool {
        var next = TextParser.nextToken(input, from: from, end: end)
        while let t = next {
            if !validKey(input, t) { return false }
            next = TextParser.nextToken(input, from: t.start + t.count, end: end)
        }
        return true
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
        let n = engine.valueSegmentCount(item)
        for i in 0..<n {
            let seg = engine.valueSegment(item, i)
            output.appendExternal(UnsafeRawPointer(seg.baseAddress!), count: seg.count,
                                  reference: i == n - 1 ? item.raw : nil)
        }
        output.append(Reply.crlf)
    }
}
