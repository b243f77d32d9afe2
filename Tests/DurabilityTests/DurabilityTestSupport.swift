// Raw file access for the record-file tests (their scratch directories: TestSupport).
import Durability
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

func fileSize(_ path: String) -> Int {
    var st = stat()
    return stat(path, &st) == 0 ? Int(st.st_size) : -1
}

func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

func readBytes(_ path: String) -> [UInt8] {
    guard let data = FileIO.readAll(path) else { return [] }
    defer { data.deallocate() }
    return Array(data)
}

func writeBytes(_ path: String, _ bytes: [UInt8]) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
}

func appendBytes(_ path: String, _ bytes: [UInt8]) {
    let fd = open(path, O_WRONLY | O_APPEND)
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
}

/// A payload of `length` bytes that says which record it is: the index, then a fill derived from it.
func payload(_ index: Int, length: Int) -> [UInt8] {
    (0..<length).map { i in i < 4 ? UInt8(truncatingIfNeeded: index >> (8 * i)) : UInt8(truncatingIfNeeded: index &* 31 &+ i) }
}

extension RecordFile {
    /// Appends one record holding `bytes`.
    func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in append { $0.append(raw) } }
    }
}

/// Every payload a reader gives until it stops, accepting each.
func readAll(_ r: RecordReader) -> [[UInt8]] {
    var out: [[UInt8]] = []
    while let p = r.next() {
        out.append(Array(p))
        r.accept()
    }
    return out
}
