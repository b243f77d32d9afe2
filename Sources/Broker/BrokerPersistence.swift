// The broker's durable state besides the journals: declarations (queues with settings,
// exchanges, bindings) in `broker.meta`, one line each in the protocol's own words, rewritten
// whole (temp file + rename) on each change; and start-up recovery: declarations first, then
// every `<queue>.journal` replayed (JournalReplay.swift), then, only if every one can be loaded
// without dropping a message, the damaged stretches copied aside, torn tails cut, and each
// journal rewritten as a snapshot of what is live.
import CacheEngine
import Durability
#if canImport(Glibc)
import Glibc
#endif

extension QueueConfig {
    /// `max_items=N max_bytes=N max_priority=N message_ttl=MS dead_letter=Q delivery_limit=N
    /// overflow=reject|drop_oldest`; nil (with the offending word) on anything else.
    public static func parse(_ words: [Substring]) -> Result<QueueConfig, QueueConfigError> {
        var c = QueueConfig()
        for w in words {
            guard let eq = w.firstIndex(of: "=") else { return .failure(.badOption(String(w))) }
            let key = w[..<eq], value = w[w.index(after: eq)...]
            let n = Int(value)
            switch key {
            case "max_items": guard let n, n >= 0 else { return .failure(.badOption(String(w))) }; c.maxItems = n
            case "max_bytes": guard let n, n >= 0 else { return .failure(.badOption(String(w))) }; c.maxBytes = n
            case "max_priority":
                guard let n, n >= 0, n <= 255 else { return .failure(.badOption(String(w))) }
                c.maxPriority = n
            case "message_ttl": guard let n, n >= 0 else { return .failure(.badOption(String(w))) }; c.messageTTLms = UInt64(n)
            case "dead_letter":
                guard Broker.isValidName(String(value)) else { return .failure(.badOption(String(w))) }
                c.deadLetter = String(value)
            case "delivery_limit": guard let n, n >= 0 else { return .failure(.badOption(String(w))) }; c.deliveryLimit = n
            case "overflow":
                switch value {
                case "reject": c.dropOldest = false
                case "drop_oldest", "drop-head": c.dropOldest = true
                default: return .failure(.badOption(String(w)))
                }
            default:
                return .failure(.badOption(String(w)))
            }
        }
        return .success(c)
    }

    /// The declaration's words, defaults left out.
    public var words: [String] {
        var out: [String] = []
        if maxItems > 0 { out.append("max_items=\(maxItems)") }
        if maxBytes > 0 { out.append("max_bytes=\(maxBytes)") }
        if maxPriority > 0 { out.append("max_priority=\(maxPriority)") }
        if messageTTLms > 0 { out.append("message_ttl=\(messageTTLms)") }
        if let deadLetter { out.append("dead_letter=\(deadLetter)") }
        if deliveryLimit > 0 { out.append("delivery_limit=\(deliveryLimit)") }
        if dropOldest { out.append("overflow=drop_oldest") }
        return out
    }
}

public enum QueueConfigError: Error, Equatable {
    case badOption(String)
}

extension Broker {
    static let metaFile = "broker.meta"

    /// Registry lock held: rewrite `broker.meta` from the current declarations.
    func lockedSaveMeta() {
        guard let dir = settings.dataDirectory, !restoringMeta else { return }
        var text = ""
        for name in queues.keys.sorted() {
            let q = queues[name]!
            let words = q.lock.withLock { q.config.words }
            if !words.isEmpty { text += "queue \(name) " + words.joined(separator: " ") + "\n" }
        }
        for name in exchanges.keys.sorted() {
            let ex = exchanges[name]!
            text += "exchange \(name) \(ex.kind.rawValue)" + (ex.alternate.map { " alternate=\($0)" } ?? "") + "\n"
            for b in ex.bindings {
                let pairs = b.headers.map { " \($0.name)=\($0.value)" }.joined()
                text += "bind \(name) \(b.queue) \(b.key) x-match=\(b.matchAll ? "all" : "any")\(pairs)\n"
            }
        }
        // Unchanged: the file already says this (a failed write left `savedMeta` nil).
        guard text != savedMeta else { return }
        var t = text
        let written = FileIO.replace(dir + "/" + Self.metaFile, tempSuffix: ".tmp") { fd in
            t.withUTF8 { FileIO.writeAll(fd, UnsafeRawBufferPointer($0)) } ? t.utf8.count : nil
        }
        savedMeta = written ? text : nil
    }

    /// Start-up: declarations, then every journal. Nothing on disk changes until every journal
    /// has been replayed and found loadable: a start that has to be refused (a message larger
    /// than -I, a body with nowhere to go, a journal that cannot be read, damaged bytes that
    /// cannot be copied) leaves the data directory as it was.
    func recover(_ dir: String) throws {
        if let data = FileIO.readAll(dir + "/" + Self.metaFile) {
            let text = String(decoding: UnsafeRawBufferPointer(data), as: UTF8.self)
            data.deallocate()
            // broker.meta is what is being read: it is not rewritten line by line meanwhile
            // (a crash part way would leave it with only the lines read so far).
            restoringMeta = true
            for line in text.split(separator: "\n") { applyMetaLine(line.split(separator: " ")) }
            restoringMeta = false
            // The file as read: the first change rewrites it unless it already says the same.
            savedMeta = text
        }
        guard let d = opendir(dir) else { throw BrokerError.dataDirectory(dir, String(cString: strerror(errno))) }
        var names: [String] = []
        while let e = readdir(d) {
            let file = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            // Only the files of valid queue names, whose encoding is the name itself.
            if file.hasSuffix(Self.journalSuffix) {
                let stem = String(file.dropLast(Self.journalSuffix.count))
                if let raw = FileNames.decode(stem) {
                    let name = String(decoding: raw, as: UTF8.self)
                    if Self.isValidName(name) && FileNames.encode(name) == stem { names.append(name) }
                }
            }
        }
        closedir(d)
        var replayed: [JournalRecovery] = []
        for name in names.sorted() {
            let path = Self.journalPath(dir, name)
            guard case .queue(let q) = openQueue(named: name) else {
                // A journal whose queue cannot be made would be dropped: refused instead.
                let why = String(cString: strerror(errno))
                for j in replayed { j.result.release(engine: engine, share: share, spill: j.queue.spill) }
                throw BrokerError.journalUnreadable(path, "cannot be opened for appending (\(why)), or past \(Self.maxQueues) queues")
            }
            replayed.append(JournalRecovery(queue: q, path: path,
                                            result: JournalReplay.replay(path: path, engine: engine, share: share, spill: q.spill)))
        }
        func refuse(_ error: BrokerError) -> BrokerError {
            for j in replayed { j.result.release(engine: engine, share: share, spill: j.queue.spill) }
            return error
        }
        if let error = refusal(replayed) { throw refuse(error) }
        // Copies of every damaged stretch before any journal is cut or rewritten without it.
        for j in replayed {
            var next = 1
            switch DamageCopy.keep(j.result.damaged, of: j.path, next: &next) {
            case .success(let copies):
                for (region, copy) in zip(j.result.damaged, copies) {
                    recoveryStats.corruptRecords += region.records
                    recoveryStats.corruptBytes += region.length
                    recoveryNotes.append("queue \(j.queue.name): journal bytes \(region.offset)..<\(region.offset + region.length) "
                        + "(\(region.records) record\(region.records == 1 ? "" : "s")) could not be read and were skipped; "
                        + "a copy is in \(copy)")
                }
            case .failure(let why):
                throw refuse(.damageNotKept(queue: j.queue.name, why))
            }
        }
        for j in replayed { finishRecovery(j) }
    }

    /// Why the replayed journals cannot be loaded without losing a message, if they cannot.
    private func refusal(_ replayed: [JournalRecovery]) -> BrokerError? {
        if let j = replayed.first(where: { $0.result.readError != nil }) {
            return .journalUnreadable(j.path, String(cString: strerror(j.result.readError!)))
        }
        let tooLarge = replayed.filter { $0.result.tooLarge > 0 }
        if !tooLarge.isEmpty {
            return .itemSizeTooSmall(queues: tooLarge.map(\.queue.name),
                                     messages: tooLarge.reduce(0) { $0 + $1.result.tooLarge },
                                     needed: tooLarge.map(\.result.largestItemNeeded).max()!,
                                     itemSizeMax: engine.settings.itemSizeMax, memoryLimit: engine.settings.memoryLimit)
        }
        if let j = replayed.first(where: { $0.result.unplaced > 0 }) {
            return .messagesUnplaced(queue: j.queue.name, messages: j.result.unplaced,
                                     spill: Self.spillPath(settings.dataDirectory ?? ".", j.queue.name))
        }
        return nil
    }

    private func applyMetaLine(_ w: [Substring]) {
        guard w.count >= 2 else { return }
        switch w[0] {
        case "queue":
            if case .success(let c) = QueueConfig.parse(Array(w.dropFirst(2))) {
                // A name declared twice (a damaged or hand-written file): the last line declares
                // it afresh. The first queue goes whole: its journal out of the flusher and the
                // queue-journal links cut, or the flusher kept both (and with them this broker)
                // alive. Its files stay: they are the new queue's, and nothing was read yet.
                registry.withLock {
                    guard let old = queues.removeValue(forKey: String(w[1])) else { return }
                    old.lock.withLock {
                        if let j = old.journal {
                            flusher?.unregister(j)
                            j.queue = nil
                            old.journal = nil
                        }
                    }
                }
                declareQueue(String(w[1]), c)
            }
        case "exchange":
            guard w.count >= 3, let kind = ExchangeKind(rawValue: String(w[2])) else { return }
            let alt = w.count > 3 && w[3].hasPrefix("alternate=") ? String(w[3].dropFirst("alternate=".count)) : nil
            _ = declareExchange(String(w[1]), kind: kind, alternate: alt)
        case "bind":
            guard w.count >= 5 else { return }
            let headers = w.dropFirst(5).compactMap { p -> HeaderPair? in
                guard let eq = p.firstIndex(of: "=") else { return nil }
                return HeaderPair(String(p[..<eq]), String(p[p.index(after: eq)...]))
            }
            let r = bind(exchange: String(w[1]), Binding(queue: String(w[2]), key: String(w[3]),
                                                         matchAll: w[4] != "x-match=any", headers: headers))
            // Declared by a version without the key bounds: dropped, and said so.
            if r == .keyTooLong {
                recoveryNotes.append("exchange \(w[1]): binding of queue \(w[2]) dropped, its key is over "
                                     + "\(Self.maxKeyBytes) bytes or \(Self.maxTopicWords) words")
            }
        default:
            return
        }
    }

    /// Cuts a torn or unreadable tail (its damage was copied), loads the messages into the queue
    /// and rewrites the journal as a snapshot of them.
    private func finishRecovery(_ j: JournalRecovery) {
        let q = j.queue, r = j.result, name = q.name
        if r.hasUnreadTail {
            // Cut first, so that even a failed rewrite leaves a journal whose appends follow a
            // record boundary.
            let cut = q.journal?.file.cut(to: r.validBytes) ?? RecordFile.truncate(path: j.path, to: r.validBytes)
            if let torn = r.tornTail {
                recoveryStats.tornBytes += r.size - torn
                recoveryNotes.append("queue \(name): the journal's last record was torn (\(r.size - torn) bytes after "
                    + "\(torn)); cut")
            }
            if !cut { recoveryNotes.append("queue \(name): the journal could not be cut to \(r.validBytes) bytes") }
        }
        q.lock.withLock {
            q.nextID = max(q.nextID, r.nextID)
            for var m in r.messages {
                if m.isSpilled { q.spilledBytes += m.length }
                m.priority = UInt8(min(Int(m.priority), q.config.maxPriority))
                q.levels[Int(m.priority)].pushBack(m)
                q.readyCount += 1
                q.readyBytes += m.bodyBytes
            }
        }
        q.journal?.compact(q, engine: engine)
    }
}

/// One journal replayed at start-up, waiting for recovery to decide.
struct JournalRecovery {
    let queue: BrokerQueue
    let path: String
    let result: ReplayResult
}
