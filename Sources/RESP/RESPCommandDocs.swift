// What COMMAND INFO and COMMAND DOCS report beyond the command table's own name, arity, flags and
// key positions: redis-server 7.0.15's ACL categories, tips, key specifications, implemented
// subcommands and documentation, kept as the RESP3 text redis sends
// (RESPCommandDocs+Generated.swift, made by Tools/gen-command-docs.py). A RESP2 client gets the
// same text with maps flattened into arrays and sets as arrays, as redis renders them.
import Platform

enum RESPCommandDocs {
    struct Row: Sendable {
        let name: StaticString
        /// The ACL categories, space-separated ("@read @string @fast"), for COMMAND LIST FILTERBY ACLCAT.
        let categories: StaticString
        /// COMMAND INFO's elements 7 to 9: categories, tips, key specifications.
        let info: StaticString
        /// COMMAND INFO's entry of each implemented subcommand, in the table's order.
        let subcommands: [StaticString]
        /// Each subcommand's ACL categories, space-separated.
        let subcommandCategories: [StaticString]
        /// Each subcommand's COMMAND DOCS map.
        let subcommandDocs: [StaticString]
        /// COMMAND DOCS's map for the command.
        let docs: StaticString
    }

    private static let byName: [String: Row] = Dictionary(uniqueKeysWithValues: rows.map { ($0.name.description, $0) })

    static func row(_ name: StaticString) -> Row? { byName[name.description] }

    /// Appends RESP3 `text` as `version` renders it.
    static func append(_ text: StaticString, _ version: RESPVersion, to out: OutputBuffer) {
        let bytes = text.utf8Bytes
        guard version == .resp2 else { return out.append(bytes) }
        var i = 0
        while i < bytes.count {
            let lineEnd = endOfLine(bytes, from: i)
            let marker = bytes[i]
            let number = Int(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(i + 1)..<lineEnd]), as: UTF8.self)) ?? 0
            switch marker {
            case UInt8(ascii: "%"):
                out.appendRESPArrayHeader(number * 2)
                i = lineEnd + 2
            case UInt8(ascii: "~"):
                out.appendRESPArrayHeader(number)
                i = lineEnd + 2
            case UInt8(ascii: "$"):
                let end = lineEnd + 2 + number + 2
                out.append(UnsafeRawBufferPointer(rebasing: bytes[i..<end]))
                i = end
            default:
                out.append(UnsafeRawBufferPointer(rebasing: bytes[i..<(lineEnd + 2)]))
                i = lineEnd + 2
            }
        }
    }

    /// The integers at `positions` of the top-level array in RESP3 `text` (a subcommand's key
    /// positions: elements 3, 4 and 5).
    static func integers(in text: StaticString, at positions: [Int]) -> [Int] {
        let bytes = text.utf8Bytes
        var i = endOfLine(bytes, from: 0) + 2
        var element = 0
        var found: [Int] = []
        while i < bytes.count && found.count < positions.count {
            let lineEnd = endOfLine(bytes, from: i)
            if positions.contains(element) {
                found.append(Int(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(i + 1)..<lineEnd]), as: UTF8.self)) ?? 0)
            }
            i = skipValue(bytes, from: i)
            element += 1
        }
        return found
    }

    /// The name of a subcommand entry ("client|list").
    static func name(ofSubcommand text: StaticString) -> String {
        let bytes = text.utf8Bytes
        let header = endOfLine(bytes, from: 0) + 2
        let lengthEnd = endOfLine(bytes, from: header)
        let n = Int(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(header + 1)..<lengthEnd]), as: UTF8.self)) ?? 0
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(lengthEnd + 2)..<(lengthEnd + 2 + n)]), as: UTF8.self)
    }

    private static func endOfLine(_ b: UnsafeRawBufferPointer, from: Int) -> Int {
        var i = from
        while i + 1 < b.count && !(b[i] == 0x0D && b[i + 1] == 0x0A) { i += 1 }
        return i
    }

    /// The index after the value starting at `from`.
    private static func skipValue(_ b: UnsafeRawBufferPointer, from: Int) -> Int {
        let lineEnd = endOfLine(b, from: from)
        let number = Int(String(decoding: UnsafeRawBufferPointer(rebasing: b[(from + 1)..<lineEnd]), as: UTF8.self)) ?? 0
        var i = lineEnd + 2
        switch b[from] {
        case UInt8(ascii: "$"), UInt8(ascii: "="):
            return i + number + 2
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"):
            for _ in 0..<max(0, number) { i = skipValue(b, from: i) }
            return i
        case UInt8(ascii: "%"):
            for _ in 0..<max(0, number * 2) { i = skipValue(b, from: i) }
            return i
        default:
            return i
        }
    }
}
