// `watch fetchers|mutations|evictions|connevents`: the connection answers OK and from then on
// receives log lines in memcached's format (logger.c), pushed to it through its `PushQueue`
// (`deliverPushes`), instead of processing requests. The lines
// are produced where the events happen (here for fetchers and mutations, in the engine for
// evictions, in the server for connection events) only while someone watches.
import CacheEngine
import Platform

extension MemcacheConnection {
    func processWatch(_ input: UnsafeRawBufferPointer, _ tokens: Tokens, _ more: Bool, _ output: OutputBuffer) -> HandlerAction {
        guard settings.watchEnabled else {
            output.append("CLIENT_ERROR watch commands not allowed\r\n")
            return .proceed
        }
        var kinds: WatchKind = []
        if tokens.count == 1 { kinds = .fetchers }  // memcached's default
        for i in 1..<max(1, tokens.count) {
            let t = tokens[i]
            if TextParser.equals(input, t, "fetchers") { kinds.insert(.fetchers) }
            else if TextParser.equals(input, t, "mutations") { kinds.insert(.mutations) }
            else if TextParser.equals(input, t, "evictions") { kinds.insert(.evictions) }
            else if TextParser.equals(input, t, "connevents") { kinds.insert(.connevents) }
            else {
                output.append(Reply.error)
                return .proceed
            }
        }
        if more {
            output.append(Reply.error)
            return .proceed
        }
        guard let w = service.watch.add(kinds: kinds, waker: waker) else {
            output.append("WATCHER_TOO_MANY log watcher limit reached\r\n")
            return .proceed
        }
        output.append(Reply.ok)
        watcher = w
        return .proceed
    }

    /// A fetch (memcached's LOGGER_ITEM_GET).
    func logFetch(_ key: UnsafeRawBufferPointer, _ item: Item?, _ outcome: GetOutcome) {
        logFetch(key, item.map { (slabClass: $0.slabClass, size: $0.valueLength) }, outcome)
    }

    /// A fetch that found an item of this class and value size, or nothing.
    func logFetch(_ key: UnsafeRawBufferPointer, _ item: (slabClass: Int, size: Int)?, _ outcome: GetOutcome) {
        let status: String
        switch (item, outcome) {
        case (.some, _): status = "found"
        case (nil, .expired): status = "expired"
        case (nil, .flushed): status = "flushed"
        default: status = "not_found"
        }
        let cls = item?.slabClass ?? 0
        let size = item?.size ?? 0
        service.watch.emit(.fetchers, "type=item_get key=\(WatchLog.uriEncode(key)) status=\(status) clsid=\(cls) cfd=\(fd) size=\(size)")
    }

    /// A store (memcached's LOGGER_ITEM_STORE).
    func logStore(_ item: Item, mode: StoreMode, result: StoreResult) {
        let status: String
        switch result {
        case .stored: status = "stored"
        case .notStored: status = "not_stored"
        case .exists: status = "exists"
        case .notFound: status = "not_found"
        }
        let cmd: String
        switch mode {
        case .set: cmd = "set"
        case .add: cmd = "add"
        case .replace: cmd = "replace"
        case .append: cmd = "append"
        case .prepend: cmd = "prepend"
        case .cas: cmd = "cas"
        }
        let ttl = item.expiry == 0 ? 0 : item.expiry &- engine.clock.current
        service.watch.emit(.mutations, "type=item_store key=\(WatchLog.uriEncode(item.key)) status=\(status) cmd=\(cmd) ttl=\(ttl) clsid=\(item.slabClass) cfd=\(fd) size=\(item.valueLength)")
    }
}
