// An MGET whose reply grows past one piece (1,024 values or 1 MB of value bytes) is not queued
// whole: every key is looked up when the command runs (one moment's values, as redis gives), but
// from then on the hits are kept as item references only (nil for a miss) and their bulk replies
// are produced as the client reads (`HandlerAction.stream`). A client that never reads pins one
// piece of output plus 8 bytes per remaining key, where queued bulk replies cost about 100 bytes
// per key. An MGET of a few keys never gets here and allocates nothing more.
import CacheEngine
import Platform

/// The values of a streamed MGET not yet written, each hit with its reference.
struct MGetStream {
    /// Keys per piece.
    static let pieceKeys = 1024
    /// Value bytes per piece (a piece ends after the value that reaches it).
    static let pieceBytes = 1 << 20

    /// An item's memory, nil for a miss (8 bytes a key, where `Item?` takes 16).
    var items: [UnsafeMutableRawPointer?]
    var next = 0
}

extension RESPConnection {
    /// MGET key [key ...]: an array of bulk values (null for a miss).
    func mget(_ out: OutputBuffer) -> HandlerAction {
        out.appendRESPArrayHeader(argumentCount - 1)
        var queuedBytes = 0
        var rest: [UnsafeMutableRawPointer?]? = nil
        // Each key's hash, and the two after it: the engine is told the next two keys while it
        // looks one up, so their misses overlap (CacheEngine+KeyHints.swift).
        var hash = CacheEngine.hintHash(argument(1))
        var next = argumentCount > 2 ? CacheEngine.hintHash(argument(2)) : nil
        for i in 1..<argumentCount {
            let after = i + 2 < argumentCount ? CacheEngine.hintHash(argument(i + 2)) : nil
            CacheEngine.hintKeys(next: next, after: after)
            // A key of another type is nil in MGET's reply, as redis gives it.
            var it: Item? = nil
            if case .value(let found) = readString(argument(i), hash: hash) { it = found }
            hash = next
            next = after
            if rest != nil {
                rest!.append(it?.raw)
                continue
            }
            queuedBytes &+= it?.valueLength ?? 0
            appendOld(it, out)
            // Inside EXEC the reply is one element of EXEC's: written whole.
            if i >= MGetStream.pieceKeys || queuedBytes >= MGetStream.pieceBytes, i + 1 < argumentCount, !runningExec {
                rest = []
                rest!.reserveCapacity(argumentCount - 1 - i)
            }
        }
        guard let items = rest else { return .proceed }
        stats.add(RESPCounter.mgetsStreamed.rawValue)
        mgetStream = MGetStream(items: items)
        return .stream
    }

    /// The next piece of a streamed MGET, or its last.
    func continueMGet(_ out: OutputBuffer) -> HandlerAction {
        guard var stream = mgetStream else { return .proceed }
        // Unique owner while it is advanced (no copy of the array).
        mgetStream = nil
        var keys = 0
        var bytes = 0
        while stream.next < stream.items.count && keys < MGetStream.pieceKeys && bytes < MGetStream.pieceBytes {
            let it = stream.items[stream.next].map(Item.init)
            stream.next += 1
            keys += 1
            bytes += it?.valueLength ?? 0
            appendOld(it, out)
        }
        guard stream.next < stream.items.count else { return .proceed }
        mgetStream = stream
        return .stream
    }

    /// The connection went away mid-stream: the references not handed to the output go back.
    func releaseMGet() {
        guard let stream = mgetStream else { return }
        mgetStream = nil
        for i in stream.next..<stream.items.count {
            if let raw = stream.items[i] { engine.release(Item(raw)) }
        }
    }
}
