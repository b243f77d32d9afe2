// Commands on a part of a string: GETRANGE (and its old name SUBSTR), SETRANGE, GETBIT, SETBIT,
// BITCOUNT, with redis 7.0's index rules (negative counts from the end, clamped to the string)
// and its limits (512 MB strings). Reads walk the item's value segments in place; writes are the
// strings' read-modify-write loop (`rewrite`), the gap a write leaves past the end zero-filled.
import CacheEngine
import Platform

extension RESPConnection {
    static let stringRangeCommands: [RESPCommand] = [
        RESPCommand("getrange", arity: 4, keys: (1, 1, 1), flags: [.readonly]) { c, out in c.getrange(out) },
        RESPCommand("substr", arity: 4, keys: (1, 1, 1), flags: [.readonly]) { c, out in c.getrange(out) },
        RESPCommand("setrange", arity: 4, keys: (1, 1, 1), flags: [.write, .denyoom]) { c, out in c.setrange(out) },
        RESPCommand("getbit", arity: 3, keys: (1, 1, 1), flags: [.readonly, .fast]) { c, out in c.getbit(out) },
        RESPCommand("setbit", arity: 4, keys: (1, 1, 1), flags: [.write, .denyoom]) { c, out in c.setbit(out) },
        RESPCommand("bitcount", arity: -2, keys: (1, 1, 1), flags: [.readonly]) { c, out in c.bitcount(out) },
    ]

    /// redis's largest string (proto-max-bulk-len's default, checkStringLength).
    private static let maxStringLength = 512 << 20

    /// `[start, end]` of a string of `length` bytes as redis clamps them; nil when empty.
    private static func clampedRange(_ start: Int, _ end: Int, length: Int) -> ClosedRange<Int>? {
        if start < 0 && end < 0 && start > end { return nil }
        var s = start < 0 ? length + start : start
        var e = end < 0 ? length + end : end
        s = max(0, s)
        e = max(0, e)
        if e >= length { e = length - 1 }
        return s > e || length == 0 ? nil : s...e
    }

    /// Calls `body` with the parts of the item's value that fall in `range`, in order.
    private func forEachPart(of it: Item, in range: ClosedRange<Int>, _ body: (UnsafeRawBufferPointer) -> Void) {
        var offset = 0
        for i in 0..<engine.valueSegmentCount(it) {
            let seg = UnsafeRawBufferPointer(engine.valueSegment(it, i))
            let from = max(range.lowerBound, offset), to = min(range.upperBound + 1, offset + seg.count)
            if from < to { body(UnsafeRawBufferPointer(rebasing: seg[(from - offset)..<(to - offset)])) }
            offset += seg.count
            if offset > range.upperBound { break }
        }
    }

    /// The byte at `offset` of the item's value (the offset is inside it).
    private func byte(of it: Item, at offset: Int) -> UInt8 {
        var b: UInt8 = 0
        forEachPart(of: it, in: offset...offset) { b = $0[0] }
        return b
    }

    private func getrange(_ out: OutputBuffer) -> HandlerAction {
        guard let start = integerArgument(2), let end = integerArgument(3) else { return notAnInteger(out) }
        let it: Item
        switch readString(argument(1)) {
        case .value(let found): it = found
        case .none:
            out.appendRESPBulk("")
            return .proceed
        case .wrongType: return wrongType(out)
        }
        defer { engine.release(it) }
        guard let range = Self.clampedRange(start, end, length: it.valueLength) else {
            out.appendRESPBulk("")
            return .proceed
        }
        out.appendRESPBulkHeader(range.count)
        forEachPart(of: it, in: range) { out.append($0) }
        out.append("\r\n" as StaticString)
        return .proceed
    }

    /// Zeros from `from` to `to` (exclusive) of a fresh item's value.
    private func zeroFill(_ item: Item, from: Int, to: Int) {
        let zeros: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeBytes(of: zeros) { z in
            var at = from
            while at < to {
                let n = min(z.count, to - at)
                engine.writeValue(item, at: at, UnsafeRawBufferPointer(rebasing: z[0..<n]))
                at += n
            }
        }
    }

    /// SETRANGE key offset value: the new length.
    private func setrange(_ out: OutputBuffer) -> HandlerAction {
        guard let offset = integerArgument(2) else { return notAnInteger(out) }
        guard offset >= 0 else { return error(out, "ERR offset is out of range") }
        let value = argument(3)
        var length = 0
        let outcome = rewrite(argument(1), plan: { old in
            let oldLength = old?.valueLength ?? 0
            length = oldLength
            // Nothing to write: a missing key is not created, an existing one is unchanged.
            if value.count == 0 { return .skip }
            guard offset <= Self.maxStringLength - value.count else {
                return .fail("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
            }
            length = max(oldLength, offset + value.count)
            return .write(length: length)
        }, fill: { old, item in
            let oldLength = old?.valueLength ?? 0
            if let old { engine.copyValue(from: old, to: item, at: 0) }
            zeroFill(item, from: oldLength, to: offset)
            engine.writeValue(item, at: offset, value)
        })
        if case .failed(let why) = outcome { return error(out, why) }
        if case .stored = outcome { notify(KeyspaceEvents.string, "setrange", argument(1)) }
        out.appendRESPInteger(Int64(length))
        return .proceed
    }

    /// A bit offset argument: 0 ..< 2^32 (512 MB of bits).
    private func bitOffset(_ i: Int) -> Int? {
        guard let v = integerArgument(i), v >= 0, v < 1 << 32 else { return nil }
        return v
    }

    private func getbit(_ out: OutputBuffer) -> HandlerAction {
        guard let bit = bitOffset(2) else { return error(out, "ERR bit offset is not an integer or out of range") }
        var value = 0
        switch readString(argument(1)) {
        case .value(let it):
            if bit >> 3 < it.valueLength { value = Int(byte(of: it, at: bit >> 3) >> (7 - UInt8(bit & 7)) & 1) }
            engine.release(it)
        case .none: break
        case .wrongType: return wrongType(out)
        }
        out.appendRESPInteger(Int64(value))
        return .proceed
    }

    /// SETBIT key offset 0|1: the bit's old value; the string grows with zeros to reach it.
    private func setbit(_ out: OutputBuffer) -> HandlerAction {
        guard let bit = bitOffset(2) else { return error(out, "ERR bit offset is not an integer or out of range") }
        guard let on = integerArgument(3), on == 0 || on == 1 else { return error(out, "ERR bit is not an integer or out of range") }
        let at = bit >> 3, mask = UInt8(0x80) >> UInt8(bit & 7)
        var previous: UInt8 = 0
        let outcome = rewrite(argument(1), plan: { old in
            let oldLength = old?.valueLength ?? 0
            previous = at < oldLength ? byte(of: old!, at: at) : 0
            // The bit already as asked in a string long enough: nothing written, no event, the
            // CAS kept (a WATCH holds), as redis's setbitCommand signals only a change.
            if at < oldLength && (previous & mask != 0) == (on == 1) { return .skip }
            return .write(length: max(oldLength, at + 1))
        }, fill: { old, item in
            let oldLength = old?.valueLength ?? 0
            if let old { engine.copyValue(from: old, to: item, at: 0) }
            zeroFill(item, from: oldLength, to: at)
            var b = on == 1 ? previous | mask : previous & ~mask
            withUnsafeBytes(of: &b) { engine.writeValue(item, at: at, $0) }
        })
        if case .failed(let why) = outcome { return error(out, why) }
        if case .stored = outcome { notify(KeyspaceEvents.string, "setbit", argument(1)) }
        out.appendRESPInteger(previous & mask == 0 ? 0 : 1)
        return .proceed
    }

    /// BITCOUNT key [start end [BYTE|BIT]].
    private func bitcount(_ out: OutputBuffer) -> HandlerAction {
        var start = 0, end = -1, bits = false
        if argumentCount == 4 || argumentCount == 5 {
            guard let s = integerArgument(2), let e = integerArgument(3) else { return notAnInteger(out) }
            (start, end) = (s, e)
            if argumentCount == 5 {
                if argument(4, is: "bit") { bits = true } else if !argument(4, is: "byte") { return syntaxError(out) }
            }
        } else if argumentCount != 2 {
            return syntaxError(out)
        }
        let it: Item
        switch readString(argument(1)) {
        case .value(let found): it = found
        case .none:
            out.appendRESPInteger(0)
            return .proceed
        case .wrongType: return wrongType(out)
        }
        defer { engine.release(it) }
        let length = it.valueLength
        guard let range = Self.clampedRange(start, end, length: bits ? length * 8 : length) else {
            out.appendRESPInteger(0)
            return .proceed
        }
        var count = 0
        if !bits {
            forEachPart(of: it, in: range) { part in for b in part { count += b.nonzeroBitCount } }
        } else {
            // Whole bytes from the first bit's byte to the last's, the edges masked.
            let first = range.lowerBound >> 3, last = range.upperBound >> 3
            var index = first
            forEachPart(of: it, in: first...last) { part in
                for b in part {
                    var m: UInt8 = 0xFF
                    if index == first { m &= 0xFF >> UInt8(range.lowerBound & 7) }
                    if index == last { m &= 0xFF << UInt8(7 - range.upperBound & 7) }
                    count += (b & m).nonzeroBitCount
                    index += 1
                }
            }
        }
        out.appendRESPInteger(Int64(count))
        return .proceed
    }
}
