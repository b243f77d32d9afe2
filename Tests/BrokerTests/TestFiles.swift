// Whole-file reads and writes for the tests that damage or inspect the broker's files
// (journals, segments, indexes), and whether a path exists.
import Durability
#if canImport(Glibc)
import Glibc
#endif

/// The file's bytes ([] when it cannot be read).
func readFile(_ path: String) -> [UInt8] {
    guard let data = FileIO.readAll(path) else { return [] }
    defer { data.deallocate() }
    return Array(data)
}

/// Replaces the file's bytes; `create` makes it when missing.
func writeFile(_ path: String, _ bytes: [UInt8], create: Bool = false) {
    let fd = open(path, create ? O_WRONLY | O_TRUNC | O_CREAT : O_WRONLY | O_TRUNC, 0o644)
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
}

func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
