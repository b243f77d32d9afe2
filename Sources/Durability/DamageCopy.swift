// The bytes replay could not read are kept before the file is cut or rewritten without them: a
// copy of each damaged stretch goes into `<file>.corrupt-<n>` beside it, n the first number not
// taken, so that no earlier copy is ever overwritten. A file's stretches are copied together:
// one open of the file, one buffer, one directory fsync. A bit flip leaves the rest of a record
// readable by hand; the copy is what an operator has to work with once recovery has moved on.
#if canImport(Glibc)
import Glibc
#endif

/// Copies of the damaged stretches of a record file.
public enum DamageCopy {
    /// Copies `region` of `path` into a new `<path>.corrupt-<n>` (written whole and fsynced,
    /// then the directory). Returns the copy's path, or the errno of what failed (a partly
    /// written copy is removed).
    public static func keep(_ region: DamagedRegion, of path: String) -> Result<String, DamageCopyError> {
        var next = 1
        return keep(region, of: path, next: &next)
    }

    /// `keep`, trying numbers from `next` on, and leaving `next` after the number taken: the
    /// copies of one file's stretches, kept in order, then cost one open each, where trying from
    /// 1 every time would cost k²/2 opens for k stretches (a journal damaged in many places).
    public static func keep(_ region: DamagedRegion, of path: String, next: inout Int) -> Result<String, DamageCopyError> {
        keep([region], of: path, next: &next).map { $0[0] }
    }

    /// Copies of every region of `path`, in order (numbers tried from `next` on, `next` left
    /// after the last taken): the file is opened once, one buffer serves every copy, each copy
    /// is fdatasynced and the directory is fsynced once at the end, so that k stretches cost
    /// one directory fsync rather than k. The copies' paths, or what failed first (the copy
    /// being written is removed; those made before it stay, unsynced in the directory: the
    /// caller refuses to go on, and nothing is cut).
    public static func keep(_ regions: [DamagedRegion], of path: String, next: inout Int) -> Result<[String], DamageCopyError> {
        guard !regions.isEmpty else { return .success([]) }
        let source = open(path, O_RDONLY | O_CLOEXEC)
        guard source >= 0 else { return .failure(DamageCopyError(path: path, errno: errno)) }
        defer { close(source) }
        let longest = regions.reduce(1) { max($0, $1.length) }
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: min(longest, 1 << 20), alignment: 8)
        defer { chunk.deallocate() }
        var copies: [String] = []
        copies.reserveCapacity(regions.count)
        for region in regions {
            switch copy(region, from: source, of: path, next: &next, chunk: chunk) {
            case .success(let copyPath): copies.append(copyPath)
            case .failure(let error): return .failure(error)
            }
        }
        FileIO.syncDirectory(of: copies[0])
        return .success(copies)
    }

    /// One region of `source` (the file at `path`) into a new `<path>.corrupt-<n>`, written
    /// whole and fdatasynced (the directory is the caller's to sync).
    private static func copy(_ region: DamagedRegion, from source: Int32, of path: String, next: inout Int,
                             chunk: UnsafeMutableRawBufferPointer) -> Result<String, DamageCopyError> {
        var n = max(next, 1)
        var copyPath = ""
        var fd: Int32 = -1
        // O_EXCL: a name already taken, by an earlier recovery or anyone else, is never reused.
        while fd < 0 {
            copyPath = path + ".corrupt-\(n)"
            fd = open(copyPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd < 0 {
                guard errno == EEXIST else { return .failure(DamageCopyError(path: copyPath, errno: errno)) }
                n += 1
            }
        }
        next = n + 1
        var done = 0
        var failure: Int32 = 0
        while done < region.length && failure == 0 {
            let want = min(chunk.count, region.length - done)
            let got = pread(source, chunk.baseAddress!, want, off_t(region.offset + done))
            if got < 0 && errno == EINTR { continue }
            if got <= 0 {
                failure = got < 0 ? errno : EIO
            } else if !FileIO.writeAll(fd, UnsafeRawBufferPointer(rebasing: chunk[0..<got])) {
                failure = errno != 0 ? errno : EIO
            } else {
                done += got
            }
        }
        if failure == 0 && fdatasync(fd) != 0 { failure = errno }
        close(fd)
        guard failure == 0 else {
            unlink(copyPath)
            return .failure(DamageCopyError(path: copyPath, errno: failure))
        }
        return .success(copyPath)
    }
}

/// A copy of damaged bytes that could not be made: the file concerned and why.
public struct DamageCopyError: Error, Equatable, CustomStringConvertible {
    public let path: String
    public let errno: Int32

    public var description: String { "\(path): \(String(cString: strerror(errno)))" }
}
