// Where the fuzz targets with a data directory keep their files: a fresh directory under /dev/shm
// (memory, so that millions of journal writes and fsyncs do not wear a disk or wait for one), or
// under $TMPDIR or /tmp where there is no /dev/shm.
#if canImport(Glibc)
import Glibc
#endif

/// A new, empty directory whose name starts with `swiftcached-fuzz-<name>-`.
public func fuzzTemporaryDirectory(_ name: String) -> String {
    var base = "/tmp"
    if access("/dev/shm", W_OK) == 0 {
        base = "/dev/shm"
    } else if let t = getenv("TMPDIR") {
        base = String(cString: t)
    }
    var template = Array((base + "/swiftcached-fuzz-\(name)-XXXXXX").utf8CString)
    guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
        fatalError("cannot make a temporary directory under \(base): \(String(cString: strerror(errno)))")
    }
    return String(cString: made)
}

/// Removes every file in `dir` (the fuzz targets make no subdirectories), and `dir` itself when
/// `andDirectory`. Each entry is unlinked by its name as read (no String per file: this runs
/// after every input); removing an entry already returned does not disturb the listing.
public func removeFiles(in dir: String, andDirectory: Bool = false) {
    if let d = opendir(dir) {
        let fd = dirfd(d)
        while let e = readdir(d) {
            withUnsafeBytes(of: e.pointee.d_name) { raw in
                let name = raw.baseAddress!.assumingMemoryBound(to: CChar.self)
                // "." and ".."
                if name[0] == 0x2E && (name[1] == 0 || (name[1] == 0x2E && name[2] == 0)) { return }
                unlinkat(fd, name, 0)
            }
        }
        closedir(d)
    }
    if andDirectory { rmdir(dir) }
}
