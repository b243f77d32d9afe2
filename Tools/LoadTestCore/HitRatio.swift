// Hit-ratio replay (issue 14): one seeded zipf key sequence replayed cache-aside over RESP (a GET;
// a miss is followed by a SET of the key) against any RESP server, so that eviction policies of
// swiftcached and redis-server are compared on the very same requests. Batches of GETs are
// pipelined, then the SETs of their misses; one blocking connection, so the order of requests is
// the sequence's.
#if canImport(Glibc)
import Glibc
#endif

public struct HitRatioResult: Sendable {
    public var requests = 0
    public var hits = 0
    /// SETs refused (-OOM under noeviction, or any error).
    public var refusedSets = 0
    /// DBSIZE at the end: how many keys the memory held.
    public var keysHeld = 0
    public var ratio: Double { requests == 0 ? 0 : Double(hits) / Double(requests) }
}

/// Counts replies and notes which are nil bulk strings (GET misses), errors and integers.
struct HitRatioSink: RESPSink {
    var replies = 0
    var nils: [Bool] = []
    var errors = 0
    var lastInteger: Int64 = 0
    var bulkOpen = false

    mutating func simpleString(_ text: UnsafeRawBufferPointer) { nils.append(false); replies += 1 }
    mutating func errorString(line: UnsafeRawBufferPointer) { nils.append(false); errors += 1; replies += 1 }
    mutating func integer(_ value: Int64) { lastInteger = value; nils.append(false); replies += 1 }
    mutating func bulkHeader(length: Int) {
        if length < 0 { nils.append(true); replies += 1 } else { bulkOpen = true }
    }
    mutating func bulkData(_ bytes: UnsafeRawBufferPointer) {}
    mutating func bulkEnd() { bulkOpen = false; nils.append(false); replies += 1 }
    mutating func arrayHeader(count: Int) {}
}

public enum HitRatio {
    /// A RESP request of these words.
    static func request(_ words: [[UInt8]], into out: inout [UInt8]) {
        out += Array("*\(words.count)\r\n".utf8)
        for w in words {
            out += Array("$\(w.count)\r\n".utf8)
            out += w
            out += [13, 10]
        }
    }

    /// Sends `bytes` and reads `expected` replies into `sink`.
    static func roundTrip(_ fd: Int32, _ bytes: [UInt8], expected: Int, parser: RESPParser, sink: inout HitRatioSink,
                          buffer: UnsafeMutableRawBufferPointer) -> String? {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + off, $0.count - off) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return "write: \(String(cString: strerror(errno)))" }
            off += n
        }
        sink.replies = 0
        sink.nils.removeAll(keepingCapacity: true)
        while sink.replies < expected {
            let n = read(fd, buffer.baseAddress!, buffer.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return "read: connection closed" }
            guard parser.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<n]), into: &sink) else { return "bad RESP reply" }
        }
        return nil
    }

    /// Replays `requests` zipf(`exponent`) picks over `keys` keys (seeded: the same sequence for
    /// every server) against the RESP server on 127.0.0.1:`port`, after FLUSHALL and, if given,
    /// CONFIG SET maxmemory-policy `policy`.
    public static func replay(port: UInt16, policy: String?, keys: Int, requests: Int, exponent: Double,
                              valueSize: Int, seed: UInt64, zipf: ZipfTable, batch: Int = 256) -> Result<HitRatioResult, SocketError> {
        let fd: Int32
        switch Net.connect(host: "127.0.0.1", port: port, nonBlocking: false) {
        case .success(let s): fd = s
        case .failure(let e): return .failure(e)
        }
        defer { close(fd) }
        let parser = RESPParser()
        var sink = HitRatioSink()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { buffer.deallocate() }
        func fail(_ what: String) -> Result<HitRatioResult, SocketError> { .failure(SocketError(what: what, code: EIO)) }
        var setup: [UInt8] = []
        request([Array("FLUSHALL".utf8)], into: &setup)
        if let policy { request([Array("CONFIG".utf8), Array("SET".utf8), Array("maxmemory-policy".utf8), Array(policy.utf8)], into: &setup) }
        if let e = roundTrip(fd, setup, expected: policy == nil ? 1 : 2, parser: parser, sink: &sink, buffer: buffer) { return fail(e) }
        guard sink.errors == 0 else { return fail("FLUSHALL or CONFIG SET maxmemory-policy \(policy ?? "") refused") }
        let width = String(keys - 1).count
        func keyName(_ i: Int) -> [UInt8] {
            let digits = String(i)
            return Array(("key:" + String(repeating: "0", count: width - digits.count) + digits).utf8)
        }
        let value = [UInt8](repeating: UInt8(ascii: "v"), count: valueSize)
        var chooser = KeyChooser(keys: keys, zipf: zipf, seed: seed)
        var result = HitRatioResult()
        var picks: [Int] = []
        var out: [UInt8] = []
        var done = 0
        while done < requests {
            let n = min(batch, requests - done)
            picks.removeAll(keepingCapacity: true)
            out.removeAll(keepingCapacity: true)
            for _ in 0..<n {
                let k = chooser.next()
                picks.append(k)
                request([Array("GET".utf8), keyName(k)], into: &out)
            }
            if let e = roundTrip(fd, out, expected: n, parser: parser, sink: &sink, buffer: buffer) { return fail(e) }
            out.removeAll(keepingCapacity: true)
            var misses = 0
            for (i, isNil) in sink.nils.enumerated() {
                if isNil {
                    misses += 1
                    request([Array("SET".utf8), keyName(picks[i]), value], into: &out)
                } else {
                    result.hits += 1
                }
            }
            result.requests += n
            if misses > 0 {
                sink.errors = 0
                if let e = roundTrip(fd, out, expected: misses, parser: parser, sink: &sink, buffer: buffer) { return fail(e) }
                result.refusedSets += sink.errors
            }
            done += n
        }
        out.removeAll(keepingCapacity: true)
        request([Array("DBSIZE".utf8)], into: &out)
        if let e = roundTrip(fd, out, expected: 1, parser: parser, sink: &sink, buffer: buffer) { return fail(e) }
        result.keysHeld = Int(sink.lastInteger)
        return .success(result)
    }
}
