"""What the RESP transcript scripts share: a raw connection that reads whole RESP2/RESP3 replies
(Conn), a multibulk request (mb), a reply parsed into Python values (parse), and the transcript
of a script's cases (Transcript: one line per case, printed at the end). resp_compare.py,
resp_notify.py, resp_lists.py, resp_hashes.py, resp_sets.py and resp_hash_delete.py import it, so
that a change to how replies are read reaches them all and their transcripts stay comparable.
"""

import socket
import time

IO_TIMEOUT = 5.0


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data, pieces=1):
        """Sends `data` at once, or in `pieces` with a pause between them (requests split)."""
        if pieces == 1:
            self.sock.sendall(data)
            return
        step = max(1, len(data) // pieces)
        for i in range(0, len(data), step):
            self.sock.sendall(data[i:i + step])
            time.sleep(0.005)

    def _more(self):
        d = self.sock.recv(1 << 20)
        if not d:
            raise EOFError
        self.buf += d

    def line(self):
        while b"\r\n" not in self.buf:
            self._more()
        i = self.buf.index(b"\r\n")
        l, self.buf = self.buf[:i + 2], self.buf[i + 2:]
        return l

    def exact(self, n):
        while len(self.buf) < n:
            self._more()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def reply(self):
        """One RESP reply's bytes, aggregates (arrays, sets, pushes, maps, attributes) included."""
        l = self.line()
        t = l[:1]
        if t in (b"$", b"="):
            n = int(l[1:-2])
            return l if n < 0 else l + self.exact(n + 2)
        if t in (b"*", b"~", b">"):
            n = int(l[1:-2])
            return l + b"".join(self.reply() for _ in range(max(n, 0)))
        if t in (b"%", b"|"):
            n = int(l[1:-2])
            return l + b"".join(self.reply() for _ in range(2 * max(n, 0)))
        return l

    def command(self, *args):
        """Sends one command and returns its reply."""
        self.sock.sendall(mb(*args))
        return self.reply()

    def closed(self):
        """True when the server closes the connection within a second."""
        self.sock.settimeout(1.0)
        try:
            return self.sock.recv(1) == b""
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True


def mb(*args):
    """A multibulk request of `args` (bytes, or anything str() makes text of)."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def parse(data):
    """A RESP2/RESP3 reply as Python values (bulk strings as bytes, maps as lists of pairs)."""
    def one(i):
        j = data.index(b"\r\n", i)
        t, body = data[i:i + 1], data[i + 1:j]
        if t in (b"*", b"~", b"%", b">"):
            n, items, i = int(body), [], j + 2
            for _ in range(max(n, 0) * (2 if t == b"%" else 1)):
                v, i = one(i)
                items.append(v)
            return (items if n >= 0 else None), i
        if t == b"$":
            n = int(body)
            return (None, j + 2) if n < 0 else (data[j + 2:j + 2 + n], j + 4 + n)
        return data[i:j + 2], j + 2
    return one(0)[0]


def sorted_items(r):
    """An array reply's elements sorted (hash-table order differs between servers)."""
    v = parse(r)
    return sorted(v) if isinstance(v, list) else v


def sorted_pairs(r):
    """A flat field/value array's pairs, sorted."""
    v = parse(r)
    if not isinstance(v, list):
        return v
    return sorted(zip(v[0::2], v[1::2]))


def scan_all(conn, command, key, *options, pairs=False):
    """Every element a HSCAN/SSCAN/ZSCAN walk of `key` returns (field/value pairs with `pairs`),
    deduplicated and sorted."""
    cursor, seen, calls = b"0", set(), 0
    while True:
        conn.send(mb(command, key, cursor, *options))
        cursor, items = parse(conn.reply())
        seen.update(zip(items[0::2], items[1::2]) if pairs else items)
        calls += 1
        if cursor == b"0" or calls > 100000:
            return sorted(seen)


def drain_events(sub):
    """The keyspace-event messages (`event key`) a pattern subscriber has, until a second passes
    without one."""
    events = []
    sub.sock.settimeout(1.0)
    try:
        while True:
            v = parse(sub.reply())
            events.append(b"%s %s" % (v[2].split(b":")[-1], v[3]))
    except Exception:
        pass
    return events


class Transcript:
    """A script's transcript: `case` sends requests on a new connection and records their replies
    as one line (raw bytes, or each reply through `normalize`)."""

    def __init__(self, port):
        self.port = port
        self.lines = []

    def add(self, line):
        self.lines.append(line)

    def case(self, name, requests, replies, normalize=None):
        c = Conn(self.port)
        c.send(requests)
        got = []
        for _ in range(replies):
            r = c.reply()
            got.append(normalize(r) if normalize else r)
        self.lines.append("%s: %r" % (name, got if normalize else b"".join(got)))
        c.sock.close()

    def finish(self, marker):
        for line in self.lines:
            print(line)
        print(marker)


def broker_request(sock, request, end=b"END\r\n"):
    """The broker port's reply to `request` on a plain socket, read until it ends with `end` (the
    scripts that drive both the Redis and the broker port)."""
    sock.sendall(request)
    data = b""
    while not data.endswith(end):
        d = sock.recv(1 << 16)
        if not d:
            break
        data += d
    return data
