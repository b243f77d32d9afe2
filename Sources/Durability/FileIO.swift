// Whole-file operations every durable file needs, in one place: write everything (EINTR and
// short writes), read a small file whole, fsync a directory so that a rename survives a crash,
// and replace a file atomically (write a temporary, fdatasync it, rename it over the old one,
// fsync the directory), so that a crash leaves either the old file or the new one, never a mix.
#if canImport(Glibc)
import Glibc
#endif

/// Plain POSIX file helpers shared by record files and small metadata files.
public enum FileIO {
    /// Writes all of `bytes` to `fd` (retrying short writes and EINTR); false on an error.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }

    /// The whole file (the caller deallocates it), or nil when it cannot be opened. A read
    /// error part way returns what was read. For small files only: record files are replayed
    /// through `RecordReader`.
    public static func readAll(_ path: String) -> UnsafeMutableRawBufferPointer? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        let size = Int(st.st_size)
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: 8)
        var done = 0
        while done < size {
            let n = read(fd, buf.baseAddress! + done, size - done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            done += n
        }
        return UnsafeMutableRawBufferPointer(rebasing: buf[0..<done])
    }

    /// fsync of the directory holding `path`, so that a rename or creation in it survives a crash.
    public static func syncDirectory(of path: String) {
        var dir = path
        if let slash = dir.lastIndex(of: "/") { dir = String(dir[..<slash]) } else { dir = "." }
        if dir.isEmpty { dir = "/" }
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }

    /// Creates (or truncates) `temp`, lets `write` fill it (returning the bytes written, nil on
    /// failure) and fdatasyncs it. Returns the size, or nil after removing `temp`.
    public static func writeTemporary(_ temp: String, _ write: (Int32) -> Int?) -> Int? {
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return nil }
        guard let size = write(fd), fdatasync(fd) == 0 else {
            close(fd)
            unlink(temp)
            return nil
        }
        close(fd)
        return size
    }

    /// Replaces `path` atomically with what `write` puts into `path + tempSuffix`: temporary
    /// file, fdatasync, rename, directory fsync. False (and the old file untouched) on failure.
    @discardableResult
    public static func replace(_ path: String, tempSuffix: String = ".tmp", _ write: (Int32) -> Int?) -> Bool {
        let temp = path + tempSuffix
        guard writeTemporary(temp, write) != nil else { return false }
        guard rename(temp, path) == 0 else {
            unlink(temp)
            return false
        }
        syncDirectory(of: path)
        return true
    }
}
