// XINFO STREAM key [FULL [COUNT n]] as redis 7.0.15's xinfoReplyWithStreamInfo: the same fields
// in the same order (a map in RESP3, pairs in an array in RESP2). Without FULL: length,
// radix-tree-keys, radix-tree-nodes, last-generated-id, max-deleted-entry-id, entries-added,
// recorded-first-entry-id, groups, first-entry, last-entry. With FULL the group count and edges
// give way to the first COUNT entries (10 by default, 0 for all, a negative COUNT is 10) and the
// groups by name, each with its PEL (at most COUNT rows) and its consumers (their PELs likewise).
// radix-tree-keys and radix-tree-nodes are redis's radix tree's own figures; a stream here is a
// log with listpack nodes emulated as runs of 100 entries, so both report that node count.
// Every entry (FULL's, and plain's first and last) is written straight from its batch under the
// stream's lock (appendStreamEntry), never copied out first.
import Broker
import CacheEngine
import Platform

extension RESPConnection {
    /// XINFO STREAM; the key was looked up by the caller (no such key, WRONGTYPE) as redis's
    /// xinfoCommand does before reading the options.
    func streamInfoStream(_ stream: StreamLog, _ out: OutputBuffer) -> HandlerAction {
        let options = argumentCount - 3
        var full = false
        var count = 10
        if options > 0 {
            guard options == 1 || options == 3, argument(3, is: "full"), options == 1 || argument(4, is: "count") else {
                return error(out, "ERR unknown subcommand or wrong number of arguments for '"
                             + String(decoding: argument(1).prefix(128), as: UTF8.self) + "'. Try XINFO HELP.")
            }
            full = true
            if options == 3 {
                guard let n = integerArgument(5) else { return notAnInteger(out) }
                count = n < 0 ? 10 : n
            }
        }
        if !full {
            // The figures, then each edge straight from its batch (as XRANGE writes an entry).
            stream.streamInfo(figures: { info in
                out.appendRESPMapHeader(10, version)
                appendStreamFigures(info, out)
                out.appendRESPBulk("groups")
                out.appendRESPInteger(Int64(info.groups))
            }, edge: { last, e in
                out.appendRESPBulk(last ? "last-entry" : "first-entry")
                if let e { appendStreamEntry(e.id, e.fields, out) } else { out.appendRESPNull(version) }
            })
            return .proceed
        }
        // The figures, then the entries straight from their batches (as XRANGE writes them),
        // their count once they are written.
        var header = 0
        var n = 0
        let groups = stream.fullStreamInfo(count: count, figures: { info in
            out.appendRESPMapHeader(9, version)
            appendStreamFigures(info, out)
            out.appendRESPBulk("entries")
            header = beginStreamCount(out)
        }, entry: { e in
            appendStreamEntry(e.id, e.fields, out)
            n += 1
        })
        endStreamCount(header, UInt8(ascii: "*"), n, out)
        out.appendRESPBulk("groups")
        out.appendRESPArrayHeader(groups.count)
        for g in groups {
            out.appendRESPMapHeader(7, version)
            out.appendRESPBulk("name")
            g.group.name.withUnsafeBytes { out.appendRESPBulk($0) }
            out.appendRESPBulk("last-delivered-id")
            appendStreamID(g.group.lastDelivered, out)
            out.appendRESPBulk("entries-read")
            if let e = g.group.entriesRead { out.appendRESPInteger(e) } else { out.appendRESPNull(version) }
            out.appendRESPBulk("lag")
            if let l = g.group.lag { out.appendRESPInteger(l) } else { out.appendRESPNull(version) }
            out.appendRESPBulk("pel-count")
            out.appendRESPInteger(Int64(g.group.pending))
            out.appendRESPBulk("pending")
            out.appendRESPArrayHeader(g.pending.count)
            for p in g.pending {
                out.appendRESPArrayHeader(4)
                appendStreamID(p.id, out)
                p.consumer.withUnsafeBytes { out.appendRESPBulk($0) }
                out.appendRESPInteger(Int64(truncatingIfNeeded: p.deliveryTime))
                out.appendRESPInteger(Int64(truncatingIfNeeded: p.deliveries))
            }
            out.appendRESPBulk("consumers")
            out.appendRESPArrayHeader(g.consumers.count)
            for c in g.consumers {
                out.appendRESPMapHeader(4, version)
                out.appendRESPBulk("name")
                c.name.withUnsafeBytes { out.appendRESPBulk($0) }
                out.appendRESPBulk("seen-time")
                out.appendRESPInteger(Int64(truncatingIfNeeded: c.seenTime))
                out.appendRESPBulk("pel-count")
                out.appendRESPInteger(Int64(c.pendingCount))
                out.appendRESPBulk("pending")
                out.appendRESPArrayHeader(c.pending.count)
                for p in c.pending {
                    out.appendRESPArrayHeader(3)
                    appendStreamID(p.id, out)
                    out.appendRESPInteger(Int64(truncatingIfNeeded: p.deliveryTime))
                    out.appendRESPInteger(Int64(truncatingIfNeeded: p.deliveries))
                }
            }
        }
        return .proceed
    }

    /// The seven figures both forms start with.
    private func appendStreamFigures(_ info: StreamLog.StreamInfo, _ out: OutputBuffer) {
        out.appendRESPBulk("length")
        out.appendRESPInteger(Int64(info.length))
        out.appendRESPBulk("radix-tree-keys")
        out.appendRESPInteger(Int64(info.nodes))
        out.appendRESPBulk("radix-tree-nodes")
        out.appendRESPInteger(Int64(info.nodes))
        out.appendRESPBulk("last-generated-id")
        appendStreamID(info.lastID, out)
        out.appendRESPBulk("max-deleted-entry-id")
        appendStreamID(info.maxDeletedID, out)
        out.appendRESPBulk("entries-added")
        out.appendRESPInteger(Int64(truncatingIfNeeded: info.entriesAdded))
        out.appendRESPBulk("recorded-first-entry-id")
        appendStreamID(info.recordedFirstID, out)
    }
}
