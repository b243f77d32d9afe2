// LCS, BITPOS and BITOP with redis-server 7.0's arguments, errors and limits; the algorithms are
// BitAlgorithms.swift. LCS copies the two values (each at most -I) and refuses, as redis does,
// when its table would pass proto-max-bulk-len (counted in resp_lcs_refused). BITPOS reads the
// value in place when it is one segment. BITOP combines its sources 4 KB at a time straight into
// the new item (smaller windows past 256 sources), so it holds at most 1 MB of windows however
// large or many the values; its result is
// stored as SET stores (no expiry), and an empty result deletes the destination.
import CacheEngine
import Platform

extension RESPConnection {
    static let bitCommands: [RESPCommand] = [
        RESPCommand("lcs", arity: -3, keys: (1, 2, 1), flags: [.readonly]) { c, out in c.lcs(out) },
        RESPCommand("bitpos", arity: -3, keys: (1, 1, 1), flags: [.readonly]) { c, out in c.bitpos(out) },
        RESPCommand("bitop", arity: -4, keys: (2, -1, 1), flags: [.write, .denyoom]) { c, out in c.bitop(out) },
    ]

    /// The bytes of `it`'s value from `offset`, as many as fit in `into`; returns how many.
    private func copyValue(of it: Item, from offset: Int, into: UnsafeMutableRawBufferPointer) -> Int {
        var segmentStart = 0, copied = 0
        for i in 0..<engine.valueSegmentCount(it) {
            let seg = UnsafeRawBufferPointer(engine.valueSegment(it, i))
            let from = max(offset + copied, segmentStart), to = min(segmentStart + seg.count, offset + into.count)
            if from < to {
                UnsafeMutableRawBufferPointer(rebasing: into[(from - offset)..<(to - offset)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: seg[(from - segmentStart)..<(to - segmentStart)]))
                copied = to - offset
            }
            segmentStart += seg.count
            if segmentStart >= offset + into.count { break }
        }
        return copied
    }

    /// A key's whole value (empty when missing), nil for a key of another type.
    private func valueBytes(_ key: UnsafeRawBufferPointer) -> [UInt8]? {
        let it: Item
        switch readString(key) {
        case .value(let found): it = found
        case .none: return []
        case .wrongType: return nil
        }
        defer { engine.release(it) }
        var bytes = [UInt8](repeating: 0, count: it.valueLength)
        _ = bytes.withUnsafeMutableBytes { copyValue(of: it, from: 0, into: $0) }
        return bytes
    }

    /// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN].
    private func lcs(_ out: OutputBuffer) -> HandlerAction {
        var lengthOnly = false, indexes = false, withLengths = false, minimum = 0
        var i = 3
        while i < argumentCount {
            if argument(i, is: "idx") {
                indexes = true
            } else if argument(i, is: "len") {
                lengthOnly = true
            } else if argument(i, is: "withmatchlen") {
                withLengths = true
            } else if argument(i, is: "minmatchlen") && i + 1 < argumentCount {
                guard let n = integerArgument(i + 1) else { return notAnInteger(out) }
                minimum = max(0, n)
                i += 1
            } else {
                return syntaxError(out)
            }
            i += 1
        }
        if indexes && lengthOnly { return error(out, "ERR If you want both the length and indexes, please just use IDX.") }
        guard let a = valueBytes(argument(1)), let b = valueBytes(argument(2)) else {
            return error(out, "ERR The specified keys must contain string values")
        }
        let outcome = a.withUnsafeBytes { a in
            b.withUnsafeBytes { b in
                BitAlgorithms.lcs(a, b, lengthOnly: lengthOnly, wantMatches: indexes, minMatchLength: minimum,
                                  limit: service.config.maxBulkLength)
            }
        }
        let result: BitAlgorithms.LCSResult
        switch outcome {
        case .success(let r): result = r
        case .failure(.tooLarge):
            stats.add(RESPCounter.lcsRefused.rawValue)
            return error(out, "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
        case .failure(.noMemory):
            stats.add(RESPCounter.lcsRefused.rawValue)
            return error(out, "ERR Insufficient memory, failed allocating transient memory for LCS")
        }
        if indexes {
            out.appendRESPMapHeader(2, version)
            out.appendRESPBulk("matches")
            out.appendRESPArrayHeader(result.matches.count)
            for m in result.matches {
                out.appendRESPArrayHeader(withLengths ? 3 : 2)
                out.appendRESPArrayHeader(2)
                out.appendRESPInteger(Int64(m.aStart))
                out.appendRESPInteger(Int64(m.aEnd))
                out.appendRESPArrayHeader(2)
                out.appendRESPInteger(Int64(m.bStart))
                out.appendRESPInteger(Int64(m.bEnd))
                if withLengths { out.appendRESPInteger(Int64(m.length)) }
            }
            out.appendRESPBulk("len")
            out.appendRESPInteger(Int64(result.length))
        } else if lengthOnly {
            out.appendRESPInteger(Int64(result.length))
        } else {
            result.string.withUnsafeBytes { out.appendRESPBulk($0) }
        }
        return .proceed
    }

    /// BITPOS key bit [start [end [BYTE|BIT]]].
    private func bitpos(_ out: OutputBuffer) -> HandlerAction {
        guard let bit = integerArgument(2) else { return notAnInteger(out) }
        guard bit == 0 || bit == 1 else { return error(out, "ERR The bit argument must be 1 or 0.") }
        let it: Item
        switch readString(argument(1)) {
        case .value(let found): it = found
        case .none:
            // A missing key is an endless run of zeros.
            out.appendRESPInteger(bit == 1 ? -1 : 0)
            return .proceed
        case .wrongType: return wrongType(out)
        }
        defer { engine.release(it) }
        var start: Int? = nil, end: Int? = nil, bitMode = false
        if argumentCount >= 4 && argumentCount <= 6 {
            guard let s = integerArgument(3) else { return notAnInteger(out) }
            start = s
            if argumentCount == 6 {
                if argument(5, is: "bit") { bitMode = true } else if !argument(5, is: "byte") { return syntaxError(out) }
            }
            if argumentCount >= 5 {
                guard let e = integerArgument(4) else { return notAnInteger(out) }
                end = e
            }
        } else if argumentCount != 3 {
            return syntaxError(out)
        }
        let position: Int
        if engine.valueSegmentCount(it) == 1 {
            position = BitAlgorithms.bitpos(UnsafeRawBufferPointer(engine.valueSegment(it, 0)), bit: bit == 1, start: start, end: end, bitMode: bitMode)
        } else {
            var bytes = [UInt8](repeating: 0, count: it.valueLength)
            _ = bytes.withUnsafeMutableBytes { copyValue(of: it, from: 0, into: $0) }
            position = bytes.withUnsafeBytes { BitAlgorithms.bitpos($0, bit: bit == 1, start: start, end: end, bitMode: bitMode) }
        }
        out.appendRESPInteger(Int64(position))
        return .proceed
    }

    /// BITOP AND|OR|XOR|NOT destkey key [key ...]: the result's length.
    private func bitop(_ out: OutputBuffer) -> HandlerAction {
        let op: BitAlgorithms.BitOperation
        if argument(1, is: "and") { op = .and }
        else if argument(1, is: "or") { op = .or }
        else if argument(1, is: "xor") { op = .xor }
        else if argument(1, is: "not") { op = .not }
        else { return syntaxError(out) }
        if op == .not && argumentCount != 4 { return error(out, "ERR BITOP NOT must be called with a single source key.") }
        let destination = argument(2)
        var sources: [Item?] = []
        defer { for s in sources { if let s { engine.release(s) } } }
        for i in 3..<argumentCount {
            switch readString(argument(i)) {
            case .value(let it): sources.append(it)
            case .none: sources.append(nil)
            case .wrongType: return wrongType(out)
            }
        }
        let length = sources.map { $0?.valueLength ?? 0 }.max() ?? 0
        guard length > 0 else {
            if destination.count <= ItemLayout.maxKeyLength { _ = engine.delete(destination, hash: CacheEngine.hash(destination), database: database, anyType: true) }
            out.appendRESPInteger(0)
            return .proceed
        }
        guard destination.count <= ItemLayout.maxKeyLength else { return error(out, Self.keyTooLong) }
        let item: Item
        switch newItem(key: destination, expiry: .never, length: length) {
        case .ok(let it): item = it
        case .failed(let why):
            stats.add(RESPCounter.bitopRefused.rawValue)
            return error(out, why)
        }
        defer { engine.release(item) }
        // One window per source, all of them together at most 1 MB however many keys are named.
        let window = max(1, min(4096, (1 << 20) / sources.count))
        var columns = [UInt8](repeating: 0, count: window * sources.count)
        var result = [UInt8](repeating: 0, count: window)
        var column = [UInt8](repeating: 0, count: sources.count)
        var offset = 0
        while offset < length {
            let n = min(window, length - offset)
            columns.withUnsafeMutableBytes { all in
                for (k, s) in sources.enumerated() {
                    let slot = UnsafeMutableRawBufferPointer(rebasing: all[(k * window)..<(k * window + n)])
                    let got = s.map { copyValue(of: $0, from: offset, into: slot) } ?? 0
                    if got < n { UnsafeMutableRawBufferPointer(rebasing: slot[got...]).initializeMemory(as: UInt8.self, repeating: 0) }
                }
            }
            for at in 0..<n {
                for k in 0..<sources.count { column[k] = columns[k * window + at] }
                result[at] = column.withUnsafeBufferPointer { BitAlgorithms.combine(op, $0) }
            }
            result.withUnsafeBytes { engine.writeValue(item, at: offset, UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            offset += n
        }
        _ = engine.store(item, hash: CacheEngine.hash(destination), mode: .set, casIn: 0, anyType: true)
        out.appendRESPInteger(Int64(length))
        return .proceed
    }
}
