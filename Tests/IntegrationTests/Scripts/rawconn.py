"""Raw-socket helpers shared by the exact-reply scripts (protocol_edges.py, meta_protocol.py):
a connection that reads replies byte-exactly with deadlines, one line per check, and the runner
that stops at the first failure. Loopback only."""

import argparse
import re
import socket
import sys
import time

ADDRESS = ("127.0.0.1", 0)
IO_TIMEOUT = 5.0
CHECKS = 0


def stats_dict(port, host="127.0.0.1"):
    """A text `stats` on a connection of its own, its STAT lines as a dict (name -> value)."""
    s = socket.create_connection((host, port), timeout=IO_TIMEOUT)
    s.sendall(b"stats\r\n")
    got = b""
    while not got.endswith(b"END\r\n"):
        d = s.recv(65536)
        if not d:
            break
        got += d
    s.close()
    return {p[1].decode(): p[2].decode() for p in (l.split(b" ", 2) for l in got.split(b"\r\n")) if len(p) == 3 and p[0] == b"STAT"}


def fail(name, expected, got, extra=""):
    print("FAIL %s" % name)
    print("  expected: %r" % (expected,))
    print("  got:      %r" % (got,))
    if extra:
        print("  note:     %s" % extra)
    sys.stdout.flush()
    sys.exit(1)


def ok(name):
    global CHECKS
    CHECKS += 1
    print("ok   %s" % name)
    sys.stdout.flush()


class Conn:
    def __init__(self):
        self.sock = socket.create_connection(ADDRESS, timeout=IO_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        """Read once; returns False on EOF or deadline."""
        remaining = deadline - time.monotonic()
        if remaining <= 0 or self.eof:
            return False
        self.sock.settimeout(remaining)
        try:
            d = self.sock.recv(1 << 20)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            self.eof = True
            return False
        if not d:
            self.eof = True
            return False
        self.buf += d
        return True

    def read_exact(self, n, timeout=IO_TIMEOUT):
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            if not self._fill(deadline):
                break
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_line(self, timeout=IO_TIMEOUT):
        deadline = time.monotonic() + timeout
        while b"\r\n" not in self.buf:
            if not self._fill(deadline):
                out, self.buf = self.buf, b""
                return out
        i = self.buf.index(b"\r\n") + 2
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _more(self):
        self._fill(time.monotonic() + 0.2)
        out, self.buf = self.buf, b""
        return out

    def expect(self, name, expected, timeout=IO_TIMEOUT):
        got = self.read_exact(len(expected), timeout)
        if got != expected:
            fail(name, expected, got + self._more())
        ok(name)

    def expect_silence(self, name, wait=0.3):
        self._fill(time.monotonic() + wait)
        if self.buf:
            fail(name, b"", self.buf, "expected no reply bytes")
        ok(name)

    def expect_closed(self, name, timeout=IO_TIMEOUT):
        deadline = time.monotonic() + timeout
        while not self.eof:
            if not self._fill(deadline):
                break
        if not self.eof or self.buf:
            fail(name, "connection closed by server with no reply bytes",
                 "eof=%s bytes=%r" % (self.eof, self.buf))
        ok(name)

    def roundtrip(self, name, data, expected, timeout=IO_TIMEOUT):
        self.send(data)
        self.expect(name, expected, timeout)

    def usable(self, name):
        self.send(b"version\r\n")
        line = self.read_line()
        if not (line.startswith(b"VERSION ") and line.endswith(b"\r\n")):
            fail(name + " (connection still usable)", b"VERSION ...\\r\\n", line)
        ok(name + " (connection still usable)")

    def line(self, name, data, pattern, body=None, report=True):
        """Send data (may be b""), read one reply line and full-match it
        (without its \\r\\n) against the bytes regex `pattern`.  If body is
        given, the data block body + \\r\\n must follow.  Returns the match."""
        if data:
            self.send(data)
        got = self.read_line()
        m = re.fullmatch(pattern, got[:-2]) if got.endswith(b"\r\n") else None
        if not m:
            fail(name, pattern + b"\\r\\n", got + self._more())
        if body is not None:
            blk = self.read_exact(len(body) + 2)
            if blk != body + b"\r\n":
                fail(name + " (data block)", body + b"\r\n", blk + self._more())
        if report:
            ok(name)
        return m


def run(tests, success):
    """Parses --port/--host, runs every test in order, and prints `success` (a format with
    %(checks)d and %(seconds).1f) when all passed. Returns the exit status."""
    global ADDRESS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    a = ap.parse_args()
    if a.host not in ("127.0.0.1", "localhost"):
        print("refusing non-loopback host %s" % a.host)
        return 2
    ADDRESS = ("127.0.0.1", a.port)
    t0 = time.monotonic()
    for t in tests:
        print("--- %s" % t.__name__)
        try:
            t()
        except (OSError, socket.timeout) as e:
            print("FAIL %s: socket error %r" % (t.__name__, e))
            return 1
    print(success % {"checks": CHECKS, "seconds": time.monotonic() - t0})
    return 0
