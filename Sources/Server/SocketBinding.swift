// Making listening sockets: TCP and UDP on every address of a host list (memcached's
// server_socket), a UNIX stream socket (server_socket_unix), and reading back the port bound.
// Every socket is returned non-blocking.
#if canImport(Glibc)
import Glibc
#endif

enum SocketBinding {
    /// A socket bound (and, for a stream, listening) on every address of every host; port -1
    /// asks the kernel for a free one. A `mark` other than 0 is set as each socket's SO_MARK.
    static func bindEverywhere(hosts: [String], port requested: Int, datagram: Bool, backlog: Int,
                               mark: UInt32 = 0) throws -> [Int32] {
        let port = requested < 0 ? 0 : requested
        let hosts = hosts.isEmpty ? [nil] : hosts.map { Optional($0) }
        var fds: [Int32] = []
        for host in hosts {
            var hints = addrinfo()
            hints.ai_flags = AI_PASSIVE
            hints.ai_family = AF_UNSPEC
            hints.ai_socktype = Int32(datagram ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue)
            var res: UnsafeMutablePointer<addrinfo>?
            let rc = getaddrinfo(host, String(port), &hints, &res)
            if rc != 0 { throw ServerError.resolve(host ?? "*", String(cString: gai_strerror(rc))) }
            defer { freeaddrinfo(res) }
            var ai = res
            var bound = 0
            var lastError = ""
            while let a = ai {
                defer { ai = a.pointee.ai_next }
                let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype, a.pointee.ai_protocol)
                if fd < 0 { continue }
                var one: Int32 = 1
                if !datagram { setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)) }
                if a.pointee.ai_family == AF_INET6 {
                    setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
                }
                if mark != 0 { setMark(fd, mark) }
                if Glibc.bind(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) != 0
                    || (!datagram && listen(fd, Int32(backlog)) != 0) {
                    lastError = String(cString: strerror(errno))
                    Glibc.close(fd)
                    continue
                }
                setNonBlocking(fd)
                fds.append(fd)
                bound += 1
            }
            if bound == 0 { throw ServerError.bind(host ?? "*", requested, (datagram ? "UDP: " : "") + lastError) }
        }
        return fds
    }

    /// SO_MARK (`-o sock_cookie_id`); without CAP_NET_ADMIN the kernel refuses it, and the refusal
    /// is printed in memcached's words (`setsockopt: Operation not permitted`) and ignored, as memcached.
    private static func setMark(_ fd: Int32, _ mark: UInt32) {
        var value = mark
        if setsockopt(fd, SOL_SOCKET, SO_MARK, &value, socklen_t(MemoryLayout<UInt32>.size)) != 0 {
            var message = "setsockopt: " + String(cString: strerror(errno)) + "\n"
            _ = message.withUTF8 { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        }
    }

    /// A listening UNIX stream socket at `path`: a stale socket file is replaced; `mask` applies
    /// to the new one.
    static func bindUnix(path: String, mask: Int, backlog: Int) throws -> Int32 {
        var st = stat()
        if lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK { unlink(path) }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ServerError.bindUnix(path, String(cString: strerror(errno))) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            Glibc.close(fd)
            throw ServerError.bindUnix(path, "path too long")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        let old = umask(mode_t(~mask & 0o777))
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        umask(old)
        guard rc == 0, listen(fd, Int32(backlog)) == 0 else {
            let why = String(cString: strerror(errno))
            Glibc.close(fd)
            throw ServerError.bindUnix(path, why)
        }
        setNonBlocking(fd)
        return fd
    }

    static func setNonBlocking(_ fd: Int32) {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    /// The port an IP socket is bound to, with its family; nil for other sockets.
    static func localPort(_ fd: Int32) -> (ipv6: Bool, port: Int)? {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        guard rc == 0 else { return nil }
        if storage.ss_family == sa_family_t(AF_INET6) {
            let port = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_port } }
            return (true, Int(UInt16(bigEndian: port)))
        }
        if storage.ss_family == sa_family_t(AF_INET) {
            let port = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_port } }
            return (false, Int(UInt16(bigEndian: port)))
        }
        return nil
    }
}
