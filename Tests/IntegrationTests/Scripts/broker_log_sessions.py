#!/usr/bin/env python3
"""Group members' session timeout and revocation on the broker port (issue 15):
  - `log sess partitions=2 session_timeout_ms=400` declares the timeout (Kafka's default 45000);
  - member a joins with a read and then only sends `version` every 100 ms for 1.5 s: any request
    is its heartbeat, it stays a member; silent for 1 s it leaves (`log_group_members_expired`)
    and `stats logs` shows no member;
  - a rebalance revokes open reads: a (alone) opens records of both partitions, b joins and reads
    at once the records of its partition that a held open (`log_open_revoked`), and a's `/close`
    then confirms only partition 0's.

Usage: broker_log_sessions.py --port P   (prints `LOG SESSION CHECKS PASSED` at the end)
"""

import argparse
import socket
import sys
import time

# ---- helpers (self-contained) ----


class Raw:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError
            self.buf += d
        i = self.buf.index(b"\r\n")
        out, self.buf = self.buf[:i + 2], self.buf[i + 2:]
        return out

    def exact(self, n):
        while len(self.buf) < n:
            self.buf += self.sock.recv(65536)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def roundtrip(self, request):
        self.sock.sendall(request)
        return self.line()

    def values(self, key):
        """The values of one `get` of `key`."""
        self.sock.sendall(b"get %s\r\n" % key)
        out = []
        while True:
            l = self.line()
            if l == b"END\r\n":
                return out
            out.append(self.exact(int(l.split()[3]) + 2)[:-2])


def stats_logs(c):
    c.sock.sendall(b"stats logs\r\n")
    out = {}
    while True:
        l = c.line()
        if l == b"END\r\n":
            return out
        p = l.decode().split()
        out[p[1]] = p[2]


def check(name, expected, got):
    if expected != got:
        print("FAIL %s\n  expected: %r\n  got:      %r" % (name, expected, got))
        sys.exit(1)
    print("ok   %s" % name)

# ---- the test ----


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    port = ap.parse_args().port
    admin = Raw(port)
    check("declare with a session timeout", b"OK\r\n", admin.roundtrip(b"log sess partitions=2 session_timeout_ms=400\r\n"))
    check("a bad session timeout", b"CLIENT_ERROR bad log option\r\n", admin.roundtrip(b"log other session_timeout_ms=0\r\n"))
    for p in range(2):
        for i in range(3):
            check("set p%d r%d" % (p, i), b"STORED\r\n",
                  admin.roundtrip(b"set sess/partition=%d 0 0 4\r\np%dr%d\r\n" % (p, p, i)))

    # Heartbeats: requests keep a member that does not read.
    a = Raw(port)
    check("a joins", [b"p0r0"], a.values(b"sess/group=hb/consumer=a/partition=0"))
    for _ in range(15):
        time.sleep(0.1)
        check("a's version", True, a.roundtrip(b"version\r\n").startswith(b"VERSION "))
    st = stats_logs(admin)
    check("a is still a member after 1.5 s of requests without a read", "1", st.get("sess:group:hb:members"))
    time.sleep(1.0)
    st = stats_logs(admin)
    check("a silent for 1 s (timeout 0.4 s) left", "0", st.get("sess:group:hb:members"))
    check("counted as expired", True, int(st["log_group_members_expired"]) >= 1)

    # Revocation: b's join takes partition 1 and a's open records there.
    a2, b = Raw(port), Raw(port)
    got = a2.values(b"sess/group=rv/consumer=a/open/max=4")
    check("a alone opens records of both partitions", [b"p0r0", b"p0r1", b"p0r2", b"p1r0"], got)
    check("b joins and reads a's revoked record of partition 1 first", [b"p1r0", b"p1r1", b"p1r2"],
          b.values(b"sess/group=rv/consumer=b/max=10"))
    st = stats_logs(admin)
    check("log_open_revoked", "1", st["log_open_revoked"])
    check("a's close confirms what it still holds", [], a2.values(b"sess/group=rv/consumer=a/close"))
    st = stats_logs(admin)
    check("committed offsets", ("3", "3"), (st["sess:0:group:rv:committed"], st["sess:1:group:rv:committed"]))
    print("LOG SESSION CHECKS PASSED")


if __name__ == "__main__":
    main()
