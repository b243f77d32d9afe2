// A multi-get whose reply grows past one piece (1,024 values or 1 MB of value bytes) is not
// queued whole: its keys are all looked up when the line runs, as memcached does (so the hits,
// the misses past the reference limit and the stats are memcached's), but from then on the hits
// are kept as item references only and their VALUE pieces are produced as the client reads
// (`HandlerAction.stream`). A client that never reads pins one piece of output plus one pointer
// per remaining hit (at most the keys of its line, itself bounded by the 1 MB get line), where
// queued VALUE lines and value segments cost about 150 bytes per hit. The few-keys get never
// gets here and allocates nothing more.
import CacheEngine
import Platform

/// The hits of a streamed multi-get not yet written, each with the reference `get` took.
struct MultiGetStream {
    /// Values (hits) per piece.
    static let pieceKeys = 1024
    /// Value bytes per piece (a piece ends after the value that reaches it).
    static let pieceBytes = 1 << 20

    var items: [Item]
    var next = 0
    let withCAS: Bool
}

extension MemcacheConnection {
    /// The next piece of a streamed multi-get, or its last values and END.
    func continueMultiGet(_ output: OutputBuffer) -> HandlerAction {
        guard var stream = multiGet else { return .proceed }
        // Unique owner while it is advanced (no copy of the array).
        multiGet = nil
        var keys = 0
        var bytes = 0
        while stream.next < stream.items.count && keys < MultiGetStream.pieceKeys && bytes < MultiGetStream.pieceBytes {
            let item = stream.items[stream.next]
            stream.next += 1
            keys += 1
            bytes += item.valueLength
            // The request's key is the item's (a hit matched it byte for byte).
            appendValue(item, key: item.key, withCAS: stream.withCAS, output)
        }
        if stream.next < stream.items.count {
            multiGet = stream
            return .stream
        }
        output.append(Reply.end)
        return .proceed
    }

    /// The connection went away mid-stream: the references not handed to the output go back.
    func releaseMultiGet() {
        guard let stream = multiGet else { return }
        multiGet = nil
        for i in stream.next..<stream.items.count { engine.release(stream.items[i]) }
    }
}
