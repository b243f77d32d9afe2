// Redis keyspace notifications (notify-keyspace-events): the classes as redis 7.0's
// keyspaceEventsStringToFlags reads them and keyspaceEventsFlagsToString writes them, and the
// publishing of an event through the port's pub/sub (the path PUBLISH takes, so RESP2 and RESP3
// subscribers, patterns and client-output-buffer-limit all apply). The flags live in one atomic:
// a command pays one relaxed load when notifications are off (`RESPConnection.notify`).
import CStripeLock
import Platform
import Synchronization

enum KeyspaceEvents {
    static let keyspace = 1 << 0     // K
    static let keyevent = 1 << 1     // E
    static let generic = 1 << 2      // g
    static let string = 1 << 3       // $
    static let list = 1 << 4         // l
    static let set = 1 << 5          // s
    static let hash = 1 << 6         // h
    static let zset = 1 << 7         // z
    static let expired = 1 << 8      // x
    static let evicted = 1 << 9      // e
    static let stream = 1 << 10      // t
    static let keyMiss = 1 << 11     // m (not part of A)
    static let module = 1 << 13      // d
    static let new = 1 << 14         // n (not part of A)
    static let all = generic | string | list | set | hash | zset | expired | evicted | stream | module

    /// keyspaceEventsStringToFlags: nil for a character that is not a class.
    static func parse(_ text: [UInt8]) -> Int? {
        var flags = 0
        for c in text {
            switch c {
            case UInt8(ascii: "A"): flags |= all
            case UInt8(ascii: "g"): flags |= generic
            case UInt8(ascii: "$"): flags |= string
            case UInt8(ascii: "l"): flags |= list
            case UInt8(ascii: "s"): flags |= set
            case UInt8(ascii: "h"): flags |= hash
            case UInt8(ascii: "z"): flags |= zset
            case UInt8(ascii: "x"): flags |= expired
            case UInt8(ascii: "e"): flags |= evicted
            case UInt8(ascii: "K"): flags |= keyspace
            case UInt8(ascii: "E"): flags |= keyevent
            case UInt8(ascii: "t"): flags |= stream
            case UInt8(ascii: "m"): flags |= keyMiss
            case UInt8(ascii: "d"): flags |= module
            case UInt8(ascii: "n"): flags |= new
            default: return nil
            }
        }
        return flags
    }

    /// keyspaceEventsFlagsToString: A stands for all of g$lshzxetd (and hides n, as redis's does).
    static func format(_ flags: Int) -> String {
        var s = ""
        if flags & all == all {
            s = "A"
        } else {
            for (bit, c) in [(generic, "g"), (string, "$"), (list, "l"), (set, "s"), (hash, "h"), (zset, "z"),
                             (expired, "x"), (evicted, "e"), (stream, "t"), (module, "d"), (new, "n")] where flags & bit != 0 {
                s += c
            }
        }
        if flags & keyspace != 0 { s += "K" }
        if flags & keyevent != 0 { s += "E" }
        if flags & keyMiss != 0 { s += "m" }
        return s
    }

    /// CONFIG SET's reason for a value with a character that is not a class, in redis's words.
    static let invalidClass = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."
}

extension RESPService {
    /// redis's notifyKeyspaceEvent: `__keyspace@<db>__:<key>` with the event when K is on,
    /// `__keyevent@<db>__:<event>` with the key when E is on, if the event's class is on.
    /// Only called once `flags & type` passed (RESPConnection.notify).
    func publishKeyspaceEvent(_ flags: Int, _ event: StaticString, key: UnsafeRawBufferPointer, database: Int) {
        // The pub/sub registry's and the subscribers' locks: a kept stripe (CStripeLock) is given
        // back before them, so no lock but an item lock is ever waited for while one is kept.
        cstripe_release()
        let name = UnsafeRawBufferPointer(start: event.utf8Start, count: event.utf8CodeUnitCount)
        let db = String(database).utf8
        if flags & KeyspaceEvents.keyspace != 0 {
            var channel: [UInt8] = Array("__keyspace@".utf8)
            channel.reserveCapacity(16 + db.count + key.count)
            channel += db
            channel += "__:".utf8
            channel += key
            _ = channel.withUnsafeBytes { publish(channel: $0, message: name, shard: false) }
        }
        if flags & KeyspaceEvents.keyevent != 0 {
            var channel: [UInt8] = Array("__keyevent@".utf8)
            channel += db
            channel += "__:".utf8
            channel += name
            _ = channel.withUnsafeBytes { publish(channel: $0, message: key, shard: false) }
        }
    }
}

extension RESPConnection {
    /// An event of class `type` on `key` (in this connection's database unless `database`): one
    /// relaxed load when notifications are off.
    @inline(__always)
    func notify(_ type: Int, _ event: StaticString, _ key: UnsafeRawBufferPointer, database db: Int? = nil) {
        let flags = service.config.keyspaceEvents.load(ordering: .relaxed)
        guard flags & type != 0 else { return }
        service.publishKeyspaceEvent(flags, event, key: key, database: db ?? database)
    }

    /// Whether events of class `type` are on now (commands that need an extra lookup to know
    /// what happened, such as `new` or a list emptied, do it only then).
    @inline(__always)
    func notifying(_ type: Int) -> Bool { service.config.keyspaceEvents.load(ordering: .relaxed) & type != 0 }
}
