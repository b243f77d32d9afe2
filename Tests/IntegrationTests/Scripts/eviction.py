#!/usr/bin/env python3
"""Eviction / memory-bound check.

Against a server started with `-m 8` (slab memory limit), store 200,000
distinct keys with 1 KiB values (far more than fits), using pipelined batches
of ordinary `set` commands (every one must answer STORED).  Then check:

  * the server keeps serving: the last 100 keys hit with the right values,
    and a fresh set/get round trip works;
  * `stats` evictions > 0 and grows between the midpoint and the end;
  * the RSS of the server process (VmRSS from /proc/PID/status, sampled after
    every batch) stays below slab-mb + overhead-mb MiB.

Prints the RSS and evictions seen.

Usage: eviction.py --port P --pid PID --slab-mb 8 --overhead-mb N
"""

import argparse
import socket
import sys
import time

HOST = "127.0.0.1"
TOTAL = 200_000
BATCH = 500
VALUE_LEN = 1024
TIME_LIMIT = 90.0  # hard bound for the whole run (typically < 10 s)


def fail(msg):
    print("FAIL: %s" % msg)
    sys.stdout.flush()
    sys.exit(1)


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError as e:
        fail("cannot read /proc/%d/status (is the server still running?): %s" % (pid, e))
    fail("no VmRSS in /proc/%d/status" % pid)


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection((HOST, port), timeout=15)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def send(self, data):
        self.sock.sendall(data)

    def _more(self):
        d = self.sock.recv(1 << 20)
        if not d:
            fail("server closed the connection unexpectedly")
        self.buf += d

    def read_exact(self, n):
        while len(self.buf) < n:
            self._more()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out = bytes(self.buf[:i + 2])
                del self.buf[:i + 2]
                return out
            if len(self.buf) > 1 << 20:
                fail("reply line too long")
            self._more()

    def stats(self):
        self.send(b"stats\r\n")
        st = {}
        for _ in range(1000):
            line = self.read_line()
            if line == b"END\r\n":
                return st
            p = line.split()
            if len(p) != 3 or p[0] != b"STAT":
                fail("bad stats line %r" % line)
            st[p[1].decode()] = p[2].decode()
        fail("stats did not end with END")


def key_of(i, run):
    return b"ev:%s:%07d" % (run, i)


def value_of(i):
    head = b"v%07d|" % i
    return head + bytes([97 + (i % 26)]) * (VALUE_LEN - len(head))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--slab-mb", type=float, default=8)
    ap.add_argument("--overhead-mb", type=float, required=True)
    ap.add_argument("--total", type=int, default=TOTAL)
    a = ap.parse_args()

    limit_kib = int((a.slab_mb + a.overhead_mb) * 1024)
    run = b"%x" % (int(time.time() * 1000) & 0xFFFFFF)
    t0 = time.monotonic()
    c = Conn(a.port)

    st0 = c.stats()
    if "evictions" not in st0:
        fail("stats has no 'evictions' field")
    lm = st0.get("limit_maxbytes")
    print("server limit_maxbytes=%s, start RSS=%d KiB, limit=%d KiB (%.0f + %.0f MiB)"
          % (lm, rss_kib(a.pid), limit_kib, a.slab_mb, a.overhead_mb))
    if lm is not None and int(lm) != int(a.slab_mb * 1024 * 1024):
        fail("server reports limit_maxbytes=%s, expected %d (was it started with -m %g?)"
             % (lm, int(a.slab_mb * 1024 * 1024), a.slab_mb))

    max_rss = 0
    stored = 0
    mid_evictions = None
    mid = a.total // 2
    i = 0
    while i < a.total:
        if time.monotonic() - t0 > TIME_LIMIT:
            fail("time limit of %.0f s exceeded after %d sets" % (TIME_LIMIT, i))
        n = min(BATCH, a.total - i)
        parts = []
        for j in range(i, i + n):
            v = value_of(j)
            parts.append(b"set %s 0 0 %d\r\n%s\r\n" % (key_of(j, run), len(v), v))
        c.send(b"".join(parts))
        for j in range(n):
            line = c.read_line()
            if line != b"STORED\r\n":
                fail("set #%d answered %r instead of STORED" % (i + j, line))
        stored += n
        i += n
        r = rss_kib(a.pid)
        max_rss = max(max_rss, r)
        if r > limit_kib:
            fail("RSS %d KiB exceeds limit %d KiB after %d sets" % (r, limit_kib, i))
        if mid_evictions is None and i >= mid:
            st = c.stats()
            mid_evictions = int(st["evictions"])
            print("midpoint: %d sets, evictions=%d, curr_items=%s, RSS=%d KiB, %.1f s"
                  % (i, mid_evictions, st.get("curr_items"), r, time.monotonic() - t0))
            if mid_evictions <= 0:
                fail("no evictions at the midpoint (%d sets of %d B into -m %g)" % (i, VALUE_LEN, a.slab_mb))

    if stored != a.total:
        fail("stored %d of %d" % (stored, a.total))
    print("all %d sets answered STORED in %.1f s" % (stored, time.monotonic() - t0))

    st = c.stats()
    end_evictions = int(st["evictions"])
    print("end: evictions=%d, curr_items=%s, bytes=%s, RSS=%d KiB"
          % (end_evictions, st.get("curr_items"), st.get("bytes"), rss_kib(a.pid)))
    if end_evictions <= mid_evictions:
        fail("evictions did not grow between midpoint (%d) and end (%d)" % (mid_evictions, end_evictions))
    if "bytes" in st and int(st["bytes"]) > a.slab_mb * 1024 * 1024:
        fail("stats bytes=%s exceeds the -m limit" % st["bytes"])

    # the last 100 keys must all hit with the right value
    last = list(range(a.total - 100, a.total))
    c.send(b"get " + b" ".join(key_of(j, run) for j in last) + b"\r\n")
    seen = {}
    for _ in range(101):
        line = c.read_line()
        if line == b"END\r\n":
            break
        p = line.split()
        if len(p) != 4 or p[0] != b"VALUE":
            fail("bad VALUE line %r" % line)
        n = int(p[3])
        data = c.read_exact(n + 2)
        if data[-2:] != b"\r\n":
            fail("value for %r not terminated by CRLF" % p[1])
        seen[p[1]] = data[:-2]
    else:
        fail("multi-get of the last 100 keys did not end with END")
    missing = [j for j in last if key_of(j, run) not in seen]
    if missing:
        fail("%d of the last 100 keys missed (first: %d)" % (len(missing), missing[0]))
    wrong = [j for j in last if seen[key_of(j, run)] != value_of(j)]
    if wrong:
        fail("%d of the last 100 keys returned wrong values (first: %d)" % (len(wrong), wrong[0]))
    print("last 100 keys: all hit with correct values")

    # the earliest keys must be gone (evicted), and a fresh round trip works
    c.send(b"get " + key_of(0, run) + b" " + key_of(1, run) + b"\r\n")
    line = c.read_line()
    if line != b"END\r\n":
        fail("the first keys should have been evicted, got %r" % line)
    k = key_of(a.total + 1, run)
    c.send(b"set %s 0 0 5\r\nfresh\r\nget %s\r\n" % (k, k))
    exp = b"STORED\r\nVALUE %s 0 5\r\nfresh\r\nEND\r\n" % k
    got = c.read_exact(len(exp))
    if got != exp:
        fail("fresh set/get after eviction run: expected %r got %r" % (exp, got))
    print("server still serving: fresh set/get ok")

    r = rss_kib(a.pid)
    max_rss = max(max_rss, r)
    if r > limit_kib:
        fail("final RSS %d KiB exceeds limit %d KiB" % (r, limit_kib))
    print("RSS max=%d KiB (%.1f MiB), final=%d KiB, limit=%d KiB; evictions mid=%d end=%d; %.1f s"
          % (max_rss, max_rss / 1024.0, r, limit_kib, mid_evictions, end_evictions, time.monotonic() - t0))
    print("EVICTION CHECK PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
