// A topic key with its slash options, read on the bytes (no allocation):
//   set: <topic>[/key=<k>][/partition=<p>]
//   get: <topic>/group=<g>[/consumer=<c>][/session=<ms>][/partition=<p>][/max=<n>][/timeout=<ms>]
//        [/open][/close][/abort]
// A key and a group are byte ranges of the token (a key may hold any byte but `/` and space).

struct LogKey {
    var nameLength = 0
    var key: Range<Int>?
    var group: Range<Int>?
    var partition: Int?
    var maxRecords = 1
    /// `/timeout=MS`: an empty read parks up to MS ms (-1: answers at once).
    var timeoutMs = -1
    /// `/consumer=<name>`: the group member the read is made as.
    var consumer: Range<Int>?
    /// `/session=MS`: the member leaves when it has not read for this long.
    var sessionMs: Int?
    var open = false
    var close = false
    var abort = false

    /// True for a key a `set` or `produce` takes: no read options.
    var isProducerKey: Bool {
        group == nil && maxRecords == 1 && consumer == nil && sessionMs == nil && !open && !close && !abort
    }

    /// Records one read may return (each is copied into the reply).
    static let maxRecordsLimit = 1000

    init?(_ b: UnsafeRawBufferPointer) {
        var i = 0
        while i < b.count && b[i] != UInt8(ascii: "/") { i += 1 }
        nameLength = i
        if nameLength == 0 { return nil }
        while i < b.count {
            i += 1
            let s = i
            while i < b.count && b[i] != UInt8(ascii: "/") { i += 1 }
            let opt = UnsafeRawBufferPointer(rebasing: b[s..<i])
            if opt.starts(with: "key=".utf8) {
                guard key == nil else { return nil }
                key = (s + 4)..<i
            } else if opt.starts(with: "group=".utf8), i > s + 6 {
                guard group == nil else { return nil }
                group = (s + 6)..<i
            } else if opt.starts(with: "consumer=".utf8), i > s + 9 {
                guard consumer == nil else { return nil }
                consumer = (s + 9)..<i
            } else if opt.starts(with: "session=".utf8), let n = Self.number(opt.dropFirst(8)), n >= 1 {
                sessionMs = n
            } else if opt.elementsEqual("open".utf8) {
                open = true
            } else if opt.elementsEqual("close".utf8) {
                close = true
            } else if opt.elementsEqual("abort".utf8) {
                abort = true
            } else if opt.starts(with: "partition=".utf8), let n = Self.number(opt.dropFirst(10)) {
                partition = n
            } else if opt.starts(with: "timeout=".utf8), let n = Self.number(opt.dropFirst(8)) {
                timeoutMs = n
            } else if opt.starts(with: "max=".utf8), let n = Self.number(opt.dropFirst(4)), n >= 1, n <= Self.maxRecordsLimit {
                maxRecords = n
            } else {
                return nil
            }
        }
    }

    private static func number(_ b: Slice<UnsafeRawBufferPointer>) -> Int? {
        guard !b.isEmpty, b.count <= 9 else { return nil }
        var v = 0
        for c in b {
            guard c >= 0x30 && c <= 0x39 else { return nil }
            v = v * 10 + Int(c - 0x30)
        }
        return v
    }
}
