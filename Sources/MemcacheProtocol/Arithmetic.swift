// incr / decr: 64-bit unsigned, incr wraps at 2^64, decr floors at 0 (memcached's do_add_delta).
import CacheEngine
import Platform

extension MemcacheConnection {
    func processDelta(_ input: UnsafeRawBufferPointer, _ tokens: Tokens, _ more: Bool, _ output: OutputBuffer,
                      incr: Bool) -> HandlerAction {
        guard !more, tokens.count == 3 || tokens.count == 4 else {
            output.append(Reply.error)
            return .proceed
        }
        setNoreplyMaybe(input, tokens)
        let keyToken = tokens[1]
        guard validKey(input, keyToken) else {
            reply(Reply.badFormat, output)
            return .proceed
        }
        guard let delta = TextParser.memcachedUInt64(input, tokens[2]) else {
            reply(Reply.invalidDelta, output)
            return .proceed
        }
        let key = UnsafeRawBufferPointer(rebasing: input[keyToken.start..<keyToken.start + keyToken.count])
        var outcome = GetOutcome.miss
        let result = engine.delta(key, hash: CacheEngine.hash(key), incr: incr, by: delta, outcome: &outcome)
        stats.addDeadLookup(outcome)
        switch result {
        case .ok(let value):
            stats.add(incr ? .incrHits : .decrHits)
            if !noreply {
                output.append(decimal: value)
                output.append(Reply.crlf)
            }
        case .notFound:
            stats.add(incr ? .incrMisses : .decrMisses)
            reply(Reply.notFound, output)
        case .nonNumeric:
            reply(Reply.nonNumeric, output)
        case .outOfMemory:
            reply(Reply.deltaOutOfMemory, output)
        case .casMismatch:
            reply(Reply.exists, output)
        case .notStored:
            reply(Reply.notStored, output)
        }
        return .proceed
    }
}
