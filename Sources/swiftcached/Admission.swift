// -c as memcached 1.6.18 applies it (issue 12). memcached sets its descriptor limit to -c itself and
// counts descriptors, not clients: with maxconns_fast (its default) a connection whose descriptor is
// -c - 1 or more gets "ERROR Too many open connections" and is closed; without it accept(2) fails
// at -c and accepting pauses. Its own descriptors come first, each the lowest free one after what
// the process inherited (stdio): its main event base (epoll, a pipe), then per worker an eventfd
// and an event base (epoll, a pipe), then its listening sockets (a UDP socket once per worker). So
// `-c 1024 -t 4` with one TCP port and stdio admits 1,000 clients (memcached measured), and a
// -c too small for its own descriptors refuses to start with the words of whichever allocation
// failed. swiftcached keeps its own descriptors above -c (FileLimit.swift) and counts connections
// instead: `MemcachedDescriptors` works out memcached's numbers from the same flags and the same
// inherited descriptors, and the server admits that many (Server.limitAdmission).
#if canImport(Glibc)
import Glibc
#endif

struct MemcachedDescriptors {
    /// Descriptors open when the process started, ascending.
    let inherited: [Int]
    /// -c.
    let limit: Int
    /// -t.
    let threads: Int
    /// memcached's listening descriptors for the cache port's flags: one per TCP address and for
    /// the UNIX socket, `threads` per UDP address.
    let listening: Int

    /// memcached's own descriptors before its listening sockets: the main event base's 3, four
    /// per worker.
    var beforeListening: Int { 3 + 4 * threads }

    /// The descriptor memcached's `k`-th allocation gets (0: its first).
    func descriptor(ofAllocation k: Int) -> Int {
        var n = 0, free = 0, i = 0
        while true {
            while i < inherited.count && inherited[i] < n { i += 1 }
            if i < inherited.count && inherited[i] == n {
                n += 1
                continue
            }
            if free == k { return n }
            free += 1
            n += 1
        }
    }

    /// The first client's descriptor.
    var firstClient: Int { descriptor(ofAllocation: beforeListening + listening) }

    /// Descriptors free for clients in [firstClient, end).
    private func clientDescriptors(below end: Int) -> Int {
        let first = firstClient
        guard end > first else { return 0 }
        return end - first - inherited.filter { $0 >= first && $0 < end }.count
    }

    /// Open connections at which the next is refused (maxconns_fast: descriptor -c - 1 and up).
    var refuseAt: Int { clientDescriptors(below: limit - 1) }
    /// Open connections at which accepting pauses (without maxconns_fast: accept fails at -c).
    var pauseAt: Int { clientDescriptors(below: limit) }

    /// memcached's refusal to start when its own descriptors do not fit under -c: its words and
    /// exit status, or nil.
    var startRefusal: (text: String, status: Int32)? {
        let own = beforeListening + listening
        guard let k = (0..<own).first(where: { descriptor(ofAllocation: $0) >= limit }) else { return nil }
        let epoll = "[warn] epoll_create: Too many open files\n"
        let pipe = "[warn] evutil_make_internal_pipe_: pipe: Too many open files\n[err] evsig_init_: socketpair: Too many open files\n"
        let eventfd = "failed creating eventfd for worker thread: Too many open files\n"
        let listener = ("server_socket: Too many open files\n", Int32(71))
        switch k {
        case 0: return (epoll + pipe, 1)
        case 1, 2: return (pipe, 1)
        case 3..<beforeListening:
            switch (k - 3) % 4 {
            // The first worker's slot is first taken, and given back, by conn_init's dup(1).
            case 0: return k == 3 ? ("Failed to duplicate file descriptor\n: Too many open files\n", 1) : (eventfd, 1)
            case 1: return (epoll + pipe, 1)
            default: return (pipe, 1)
            }
        default: return listener
        }
    }
}

/// The descriptors open now, ascending (from /proc/self/fd, without the one reading it; without
/// /proc, probed up to 1,024).
func openDescriptors() -> [Int] {
    var found: [Int] = []
    if let dir = opendir("/proc/self/fd") {
        let own = Int(dirfd(dir))
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            guard let n = Int(String(decoding: name, as: UTF8.self)), n != own else { continue }
            found.append(n)
        }
        closedir(dir)
        return found.sorted()
    }
    for fd in 0..<1024 where fcntl(Int32(fd), F_GETFD) != -1 { found.append(fd) }
    return found
}
