// Start-up steps that need root, or that memcached does before it serves: the descriptor limit
// raised to fit -c, and root refused without -u.
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// The descriptors swiftcached needs besides its connections, as memcached reserves headroom above
/// -c: what is open now (stdio, inherited), the listening sockets (IPv4 and IPv6 for each address,
/// TCP and UDP), three per worker (notify pipe, event base) and the listener thread's, the
/// broker's shared descriptor cache (every journal and spill file is opened through it, so the
/// number of queues does not matter) with 16 more for the files it opens for a moment (a journal
/// replayed, a compaction's new file, broker.meta, a directory to fsync), and memcached's 10 for
/// the unexpected.
func descriptorsNeeded(_ o: Options) -> Int {
    let open = openDescriptorCount()
    let addresses = max(1, o.server.hosts.count) * 2
    let listeners = addresses * ((o.server.port != 0 ? 1 : 0) + (o.udpPort != 0 ? 1 : 0) + (o.brokerPort != 0 ? 1 : 0) + (o.redisPort != 0 ? 1 : 0))
        + (o.server.unixSocket != nil ? 1 : 0)
    let workers = 3 * o.server.threads + 4
    let broker = o.broker.dataDirectory.map { _ in o.broker.fileDescriptors + 16 } ?? 0
    let headroom = 10
    // -c and -t are bounded by the option table: no overflow.
    return o.server.maxConnections + open + listeners + workers + broker + headroom
}

/// memcached raises RLIMIT_NOFILE to -c (soft and hard) and refuses to start when it cannot. Here
/// the soft limit is raised to `needed` (-c and the server's own, `descriptorsNeeded`), the hard
/// limit with it when it is lower (only a process with CAP_SYS_RESOURCE may). When that is refused,
/// the start still goes on where memcached's would: the soft limit is raised as far as a hard limit
/// that holds -c allows (or both to -c when the hard limit can be raised that far and no further,
/// as fs.nr_open bounds it). Only a hard limit below -c that cannot be raised refuses the start,
/// with memcached's words. A limit already high enough is left alone (memcached lowers it to -c).
/// Returns the error message, or nil.
func raiseDescriptorLimit(to needed: Int, connections: Int) -> String? {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else {
        return "failed to getrlimit number of files"
    }
    let want = rlim_t(needed), least = rlim_t(connections)
    guard limit.rlim_cur != rlim_t.max && limit.rlim_cur < want else { return nil }
    var all = limit
    all.rlim_cur = want
    if all.rlim_max != rlim_t.max && all.rlim_max < want { all.rlim_max = want }
    if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &all) == 0 { return nil }
    var enough = limit
    if limit.rlim_max != rlim_t.max && limit.rlim_max >= least {
        enough.rlim_cur = limit.rlim_max
    } else {
        enough.rlim_cur = max(limit.rlim_cur, least)
        if enough.rlim_max != rlim_t.max { enough.rlim_max = enough.rlim_cur }
    }
    if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &enough) == 0 { return nil }
    return "failed to set rlimit for open files. Try starting as root or requesting smaller maxconns value."
}

/// Root is refused without -u, as memcached refuses it (exit status 64, EX_USAGE); with -u the
/// process becomes that user (67, EX_NOUSER, when there is none; 71, EX_OSERR, when the switch
/// fails). Returns the exit status to stop with, or nil to go on.
func dropPrivileges(user: String?, log: Logger) -> Int32? {
    guard getuid() == 0 || geteuid() == 0 else { return nil }
    guard let user, !user.isEmpty else {
        log.critical("can't run as root without the -u switch")
        return 64
    }
    guard let pw = getpwnam(user) else {
        log.critical("can't find the user \(user) to switch to")
        return 67
    }
    if setgroups(0, nil) != 0 {
        // EPERM: already without the privilege to change them; memcached goes on.
        let error = errno
        log.critical("failed to drop supplementary groups: \(String(cString: strerror(error)))")
        if error != EPERM { return 71 }
    }
    if setgid(pw.pointee.pw_gid) != 0 || setuid(pw.pointee.pw_uid) != 0 {
        log.critical("failed to assume identity of user \(user)")
        return 71
    }
    return nil
}

/// Descriptors open in this process now.
private func openDescriptorCount() -> Int {
    // /proc/self/fd lists them (and the one opendir holds); without /proc, count by probing.
    let n = entryCount("/proc/self/fd")
    if n > 0 { return n }
    var count = 0
    for fd in 0..<1024 where fcntl(Int32(fd), F_GETFD) != -1 { count += 1 }
    return count
}

/// Entries of directory `path` (0 when it cannot be read).
private func entryCount(_ path: String) -> Int {
    guard let dir = opendir(path) else { return 0 }
    defer { closedir(dir) }
    var n = 0
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
        if name != [0x2E] && name != [0x2E, 0x2E] { n += 1 }
    }
    return n
}
