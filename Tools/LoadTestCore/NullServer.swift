// The `null` target: a memcached-text server that frames requests and stores nothing. Every get
// misses ("END"), every storage command is "STORED" once its data block has arrived. It shows the
// ceiling of the box (loopback syscalls, the loader) beside the real servers in `compare`.
#if canImport(Glibc)
import Glibc
#endif
import CLoadTestShims

/// Frames memcached text (and meta) requests from a byte stream split anywhere and appends the
/// null replies. One per connection.
public struct NullFramer {
    public static let maxLineLength = 8192

    /// The partial line carried over from the previous read.
    private var partial: [UInt8] = []
    /// Data bytes (and the CRLF) still to skip before `pendingReply` is due.
    private var skip = 0
    private var pendingReply: StaticString? = nil

    public init() { partial.reserveCapacity(256) }

    /// Consumes `p[0 ..< n]`, appending replies to `out`. Returns false when the connection should
    /// be closed (`quit`, or a line too long; a CLIENT_ERROR is appended for the latter).
    public mutating func feed(_ p: UnsafePointer<UInt8>, _ n: Int, out: inout [UInt8]) -> Bool {
        var pos = 0
        while pos < n {
            if skip > 0 {
                let k = min(skip, n - pos)
                skip -= k
                pos += k
                if skip == 0, let r = pendingReply { Self.append(r, &out); pendingReply = nil }
                continue
            }
            guard let nlRaw = memchr(p + pos, 0x0A, n - pos) else {
                guard partial.count + (n - pos) <= Self.maxLineLength else {
                    Self.append("CLIENT_ERROR line too long\r\n", &out)
                    return false
                }
                partial.append(contentsOf: UnsafeBufferPointer(start: p + pos, count: n - pos))
                return true
            }
            let nl = UnsafePointer(nlRaw.assumingMemoryBound(to: UInt8.self)) - p
            let keep: Bool
            if partial.isEmpty {
                keep = line(p + pos, nl - pos, &out)
            } else {
                guard partial.count + (nl - pos) <= Self.maxLineLength else {
                    Self.append("CLIENT_ERROR line too long\r\n", &out)
                    return false
                }
                partial.append(contentsOf: UnsafeBufferPointer(start: p + pos, count: nl - pos))
                keep = partial.withUnsafeBufferPointer { line($0.baseAddress!, $0.count, &out) }
                partial.removeAll(keepingCapacity: true)
            }
            if !keep { return false }
            pos = nl + 1
        }
        return true
    }

    @inline(__always)
    private static func append(_ s: StaticString, _ out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    /// One request line without its "\n" (a trailing "\r" is dropped here).
    private mutating func line(_ p: UnsafePointer<UInt8>, _ count: Int, _ out: inout [UInt8]) -> Bool {
        var len = count
        if len > 0 && p[len - 1] == 0x0D { len -= 1 }
        // Token boundaries, up to 8 tokens (storage commands need 7 at most).
        var starts: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
        var ends: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
        var tokens = 0
        var i = 0
        withUnsafeMutableBytes(of: &starts) { sb in
            withUnsafeMutableBytes(of: &ends) { eb in
                let s = sb.bindMemory(to: Int.self), e = eb.bindMemory(to: Int.self)
                while i < len {
                    while i < len && p[i] == 0x20 { i += 1 }
                    if i == len { break }
                    let st = i
                    while i < len && p[i] != 0x20 { i += 1 }
                    if tokens < 8 { s[tokens] = st; e[tokens] = i }
                    tokens += 1
                }
            }
        }
        if tokens == 0 { Self.append("ERROR\r\n", &out); return true }
        func tok(_ k: Int) -> (Int, Int) {
            withUnsafeBytes(of: starts) { sb in withUnsafeBytes(of: ends) { eb in
                (sb.load(fromByteOffset: k * 8, as: Int.self), eb.load(fromByteOffset: k * 8, as: Int.self))
            } }
        }
        func isWord(_ k: Int, _ w: StaticString) -> Bool {
            let (s, e) = tok(k)
            return e - s == w.utf8CodeUnitCount && memcmp(p + s, w.utf8Start, e - s) == 0
        }
        func number(_ k: Int) -> Int? {
            let (s, e) = tok(k)
            guard e > s, e - s <= 12 else { return nil }
            var v = 0
            for j in s..<e {
                let d = Int(p[j]) - 0x30
                guard d >= 0 && d < 10 else { return nil }
                v = v * 10 + d
            }
            return v
        }
        let lastIsNoreply = tokens <= 8 && isWord(tokens - 1, "noreply")
        switch p[tok(0).0] {
        case UInt8(ascii: "g"):
            if tokens >= 2 && (isWord(0, "get") || isWord(0, "gets")) { Self.append("END\r\n", &out); return true }
            if tokens >= 3 && (isWord(0, "gat") || isWord(0, "gats")) { Self.append("END\r\n", &out); return true }
        case UInt8(ascii: "s"), UInt8(ascii: "a"), UInt8(ascii: "r"), UInt8(ascii: "p"), UInt8(ascii: "c"):
            let isCas = isWord(0, "cas")
            if isCas || isWord(0, "set") || isWord(0, "add") || isWord(0, "replace") || isWord(0, "append") || isWord(0, "prepend") {
                let need = isCas ? 6 : 5
                guard tokens >= need, tokens <= need + 1, let bytes = number(4), bytes <= 1 << 30,
                      (isCas ? number(5) != nil : true), tokens == need || lastIsNoreply else {
                    Self.append("CLIENT_ERROR bad command line format\r\n", &out)
                    return true
                }
                skip = bytes + 2
                pendingReply = lastIsNoreply ? nil : "STORED\r\n"
                return true
            }
        case UInt8(ascii: "m"):
            if tokens >= 2 && isWord(0, "mg") { Self.append("EN\r\n", &out); return true }
            if tokens >= 2 && isWord(0, "md") { Self.append("NF\r\n", &out); return true }
            if tokens >= 2 && isWord(0, "ma") { Self.append("NF\r\n", &out); return true }
            if isWord(0, "mn") { Self.append("MN\r\n", &out); return true }
            if tokens >= 3 && isWord(0, "ms") {
                guard let bytes = number(2), bytes <= 1 << 30 else {
                    Self.append("CLIENT_ERROR bad data chunk\r\n", &out)
                    return true
                }
                var quiet = false
                for k in 3..<min(tokens, 8) where isWord(k, "q") { quiet = true }
                skip = bytes + 2
                pendingReply = quiet ? nil : "HD\r\n"
                return true
            }
        case UInt8(ascii: "d"), UInt8(ascii: "i"), UInt8(ascii: "t"):
            if tokens >= 2 && (isWord(0, "delete") || isWord(0, "incr") || isWord(0, "decr") || isWord(0, "touch")) {
                if !lastIsNoreply { Self.append("NOT_FOUND\r\n", &out) }
                return true
            }
        case UInt8(ascii: "v"):
            if isWord(0, "version") { Self.append("VERSION null\r\n", &out); return true }
        case UInt8(ascii: "q"):
            if isWord(0, "quit") { return false }
        default:
            break
        }
        Self.append("ERROR\r\n", &out)
        return true
    }
}

/// The null server's event loop: one listening socket, one epoll thread per core up to `threads`.
public enum NullServer {
    /// Listens on 127.0.0.1:port and serves until the process is killed. Throws if it cannot listen.
    public static func run(port: UInt16, threads: Int) throws -> Never {
        let lfd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard lfd >= 0 else { throw SocketError(what: "socket", code: errno) }
        var one: Int32 = 1
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var sa = Net.sockaddr(Net.ipv4Address("127.0.0.1")!, port)
        let rc = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) { bind(lfd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw SocketError(what: "bind 127.0.0.1:\(port)", code: errno) }
        guard listen(lfd, 1024) == 0 else { throw SocketError(what: "listen", code: errno) }
        let cores = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let n = max(1, min(threads, cores))
        var loops: [OSThread] = []
        for _ in 0..<n {
            loops.append(OSThread { NullLoop(listener: lfd).run() })
        }
        for t in loops { t.join() }
        exit(0)
    }
}

private final class NullConn {
    let fd: Int32
    var framer = NullFramer()
    var out: [UInt8] = []
    var outOffset = 0
    var wantWrite = false
    init(fd: Int32) {
        self.fd = fd
        out.reserveCapacity(64 * 1024)
    }
}

private final class NullLoop: @unchecked Sendable {
    // Safe to share: used by its one thread only.
    let listener: Int32
    let epfd: Int32
    var conns: [NullConn?] = []
    let buf = UnsafeMutablePointer<UInt8>.allocate(capacity: 256 * 1024)
    let bufCap = 256 * 1024

    init(listener: Int32) {
        self.listener = listener
        epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        var ev = epoll_event(events: EPOLLIN.rawValue | EPOLLEXCLUSIVE.rawValue, data: epoll_data_t(u64: UInt64.max))
        _ = epoll_ctl(epfd, EPOLL_CTL_ADD, listener, &ev)
    }

    func run() {
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: 256)
        while true {
            let n = epoll_wait(epfd, events, 256, -1)
            if n < 0 { if errno == EINTR { continue }; return }
            for e in 0..<Int(n) {
                let ev = events[e]
                if ev.data.u64 == UInt64.max { acceptAll(); continue }
                let fd = Int(ev.data.u64)
                guard fd < conns.count, let c = conns[fd] else { continue }
                if ev.events & EPOLLOUT.rawValue != 0 { if !flush(c) { drop(c); continue } }
                if ev.events & (EPOLLIN.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 { readable(c) }
            }
        }
    }

    func acceptAll() {
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 { return }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            if Int(fd) >= conns.count { conns.append(contentsOf: repeatElement(nil, count: Int(fd) + 64 - conns.count)) }
            conns[Int(fd)] = NullConn(fd: fd)
            var ev = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(u64: UInt64(fd)))
            _ = epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev)
        }
    }

    func drop(_ c: NullConn) {
        _ = epoll_ctl(epfd, EPOLL_CTL_DEL, c.fd, nil)
        close(c.fd)
        conns[Int(c.fd)] = nil
    }

    func readable(_ c: NullConn) {
        while true {
            // Back-pressure: stop reading while a lot of output is pending.
            if c.out.count - c.outOffset > 4 << 20 { return }
            let n = read(c.fd, buf, bufCap)
            if n > 0 {
                let keep = c.framer.feed(buf, n, out: &c.out)
                if !flush(c) || !keep { drop(c); return }
                if n < bufCap { return }
            } else if n == 0 {
                drop(c); return
            } else {
                if errno == EINTR { continue }
                if errno != EAGAIN && errno != EWOULDBLOCK { drop(c) }
                return
            }
        }
    }

    /// Writes pending output; false if the connection failed.
    func flush(_ c: NullConn) -> Bool {
        while c.outOffset < c.out.count {
            let n = c.out.withUnsafeBytes { write(c.fd, $0.baseAddress! + c.outOffset, $0.count - c.outOffset) }
            if n > 0 { c.outOffset += n; continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                if !c.wantWrite { setWantWrite(c, true) }
                return true
            }
            return false
        }
        c.out.removeAll(keepingCapacity: true)
        c.outOffset = 0
        if c.wantWrite { setWantWrite(c, false) }
        return true
    }

    func setWantWrite(_ c: NullConn, _ on: Bool) {
        c.wantWrite = on
        var ev = epoll_event(events: EPOLLIN.rawValue | (on ? EPOLLOUT.rawValue : 0), data: epoll_data_t(u64: UInt64(c.fd)))
        _ = epoll_ctl(epfd, EPOLL_CTL_MOD, c.fd, &ev)
    }
}
