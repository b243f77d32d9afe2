// set / add / replace / append / prepend / cas: memcached's process_update_command and
// complete_nread_ascii.
import CacheEngine
import Platform

extension MemcacheConnection {
    func processStore(_ input: UnsafeRawBufferPointer, _ tokens: Tokens, _ more: Bool, _ output: OutputBuffer,
                      mode: StoreMode) -> HandlerAction {
        let isCAS = mode == .cas
        let base = isCAS ? 6 : 5
        guard !more, tokens.count == base || tokens.count == base + 1 else {
            output.append(Reply.error)
            return .proceed
        }
        setNoreplyMaybe(input, tokens)
        let keyToken = tokens[1]
        guard validKey(input, keyToken),
              let flags = TextParser.memcachedUInt32(input, tokens[2]),
              let exptime = TextParser.memcachedInt32(input, tokens[3]),
              let length = TextParser.memcachedByteCount(input, tokens[4])
        else {
            reply(Reply.badFormat, output)
            return .proceed
        }
        var casIn: UInt64 = 0
        if isCAS {
            guard let c = TextParser.memcachedUInt64(input, tokens[5]) else {
                reply(Reply.badFormat, output)
                return .proceed
            }
            casIn = c
        }
        let key = UnsafeRawBufferPointer(rebasing: input[keyToken.start..<keyToken.start + keyToken.count])
        if service.prefixStats.isEnabled { service.prefixStats.record(key, .set) }
        let hash = CacheEngine.hash(key)
        let expiry = engine.clock.expiry(fromClient: Int64(exptime))
        switch engine.allocate(key: key, flags: flags, expiry: expiry, valueLength: length, memcachedEviction: true) {
        case .item(let item):
            // memcached counts set_cmds once an item holds the value: not for a refused size.
            stats.add(.cmdSet)
            pending = PendingStore(item: item, hash: hash, mode: mode, casIn: casIn, noreply: noreply,
                                   block: ValueBlock(terminated: true))
        case .tooLarge:
            stats.add(.storeTooLarge)
            reply(Reply.tooLarge, output)
            swallowRemaining = length + 2
            if mode == .set { engine.unlink(key, hash: hash) }
        case .outOfMemory:
            stats.add(.storeNoMemory)
            reply(Reply.outOfMemory, output)
            swallowRemaining = length + 2
            if mode == .set { engine.unlink(key, hash: hash) }
        }
        return .proceed
    }

    /// Copies data-block bytes into the pending item; stores it once the block and its "\r\n"
    /// are in. Returns the new input position.
    func fillPending(_ input: UnsafeRawBufferPointer, _ start: Int, _ output: OutputBuffer) -> Int {
        guard var p = pending else { return start }
        let pos = p.block.take(input, at: start, into: p.item, engine: engine)
        if !p.block.isComplete(p.item) {
            pending = p
            return pos
        }
        pending = nil
        if let binary = p.binary {
            finishBinaryStore(p, binary, output)
            engine.release(p.item)
            return pos
        }
        if let meta = p.meta {
            finishMetaStore(p, meta, output)
            engine.release(p.item)
            return pos
        }
        noreply = p.noreply
        if !p.block.terminatorValid {
            reply(Reply.badDataChunk, output)
        } else {
            let (result, _) = engine.store(p.item, hash: p.hash, mode: p.mode, casIn: p.casIn)
            if service.watch.isActive(.mutations) { logStore(p.item, mode: p.mode, result: result) }
            switch result {
            case .stored:
                if p.mode == .cas { stats.add(.casHits) }
                reply(Reply.stored, output)
            case .notStored:
                reply(Reply.notStored, output)
            case .exists:
                if p.mode == .cas { stats.add(.casBadval) }
                reply(Reply.exists, output)
            case .notFound:
                if p.mode == .cas { stats.add(.casMisses) }
                reply(Reply.notFound, output)
            }
        }
        engine.release(p.item)
        noreply = false
        return pos
    }
}
