// Number formatting and a minimal JSON writer, without Foundation.

/// `x` with exactly `decimals` digits after the point (round half away from zero).
public func formatFixed(_ x: Double, _ decimals: Int) -> String {
    guard x.isFinite else { return x.isNaN ? "nan" : (x < 0 ? "-inf" : "inf") }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let negative = x < 0
    let scaled = (abs(x) * scale).rounded()
    guard scaled < 9.0e18 else { return String(x) }
    let n = UInt64(scaled)
    let p = UInt64(scale)
    var s = String(n / p)
    if decimals > 0 {
        var frac = String(n % p)
        while frac.count < decimals { frac = "0" + frac }
        s += "." + frac
    }
    return negative && n != 0 ? "-" + s : s
}

/// Integer with thousands separators: 1234567 → "1,234,567".
public func formatGrouped(_ n: Int) -> String {
    let digits = String(abs(n))
    var out = ""
    for (i, ch) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(ch)
    }
    return n < 0 ? "-" + out : out
}

/// Nanoseconds as microseconds with one decimal, or milliseconds with two from 1 ms.
public func formatLatency(_ nanos: UInt64) -> String {
    if nanos >= 1_000_000 { return formatFixed(Double(nanos) / 1e6, 2) + " ms" }
    return formatFixed(Double(nanos) / 1e3, 1) + " µs"
}

/// A JSON value written by hand (the result object is small and flat).
public indirect enum JSONValue: Sendable {
    case string(String)
    case int(Int)
    case double(Double, decimals: Int)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([(String, JSONValue)])

    public func render(indent: Int? = nil, level: Int = 0) -> String {
        let nl = indent == nil ? "" : "\n"
        let pad = { (l: Int) in String(repeating: " ", count: (indent ?? 0) * l) }
        let sep = indent == nil ? ":" : ": "
        switch self {
        case .string(let s): return jsonQuote(s)
        case .int(let n): return String(n)
        case .double(let d, let decimals): return d.isFinite ? formatFixed(d, decimals) : "null"
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .array(let items):
            if items.isEmpty { return "[]" }
            return "[" + nl + items.map { pad(level + 1) + $0.render(indent: indent, level: level + 1) }
                .joined(separator: "," + nl) + nl + pad(level) + "]"
        case .object(let fields):
            if fields.isEmpty { return "{}" }
            return "{" + nl + fields.map { pad(level + 1) + jsonQuote($0.0) + sep + $0.1.render(indent: indent, level: level + 1) }
                .joined(separator: "," + nl) + nl + pad(level) + "}"
        }
    }
}

public func jsonQuote(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 {
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(u)
            }
        }
    }
    return out + "\""
}
