#!/usr/bin/env python3
"""Three swiftcached instances behind nutcracker (twemproxy), as README's "Several instances
behind nutcracker" deploys them: the cache ports in a ketama pool, the broker ports in a pool with
hash_tag "{}" so that a queue `{q}` and its slash options (`{q}/open`, `{q}/close`, `{q}/t=..`)
hash alike and reach one instance.

The caller starts the three servers; this script writes the nutcracker configuration into a
temporary directory, starts nutcracker on free ports (killed on every exit path, and by the kernel
if this script dies), and checks:
  (a) 300 keys set and read back through the cache pool; each instance holds some (its own
      `stats` curr_items), each key is on exactly one instance, and the counts add up to 300;
  (b) queues `{q}` enqueued, opened, closed and dequeued through the broker pool; each queue's
      traffic reached one instance only (its `stats` queue lines), and the verbs nutcracker
      forwards are the ones README lists (a broker-only verb gets the connection closed).

Usage: nutcracker_scaleout.py --nutcracker PATH --cache P1,P2,P3 --broker B1,B2,B3
Prints one line per check; exits non-zero on the first failure.
"""

import argparse
import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

IO_TIMEOUT = 5.0
CHECKS = 0


def fail(name, expected, got):
    print("FAIL: %s\n  expected: %r\n  got:      %r" % (name, expected, got))
    sys.exit(1)


def check(name, cond, expected=None, got=None):
    global CHECKS
    if not cond:
        fail(name, expected, got)
    CHECKS += 1
    print("ok   " + name)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        self.s.settimeout(IO_TIMEOUT)
        self.buf = b""

    def close(self):
        self.s.close()

    def send(self, data):
        self.s.sendall(data)

    def _fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\r\n") + 2
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def values(self):
        """Reads VALUE blocks until END: [(key, flags, data, cas-or-None)]."""
        out = []
        while True:
            l = self.line()
            if l == b"END\r\n":
                return out
            m = re.fullmatch(rb"VALUE (\S+) (\d+) (\d+)(?: (\d+))?\r\n", l)
            if not m:
                fail("a VALUE line or END", b"VALUE <key> <flags> <bytes>[ <cas>]", l + self.buf)
            data = self.exact(int(m.group(3)) + 2)[:-2]
            out.append((m.group(1), int(m.group(2)), data, m.group(4)))

    def closed_by_peer(self):
        """True if the peer closes the connection (within IO_TIMEOUT) without a reply."""
        try:
            d = self.s.recv(65536)
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        return d == b""


def stats(port):
    c = Conn(port)
    c.send(b"stats\r\n")
    out = {}
    while True:
        l = c.line()
        if l == b"END\r\n":
            break
        m = re.fullmatch(rb"STAT (\S+) (.*)\r\n", l)
        if m:
            out[m.group(1).decode()] = m.group(2).decode()
    c.close()
    return out


def kill_with_parent():
    """In the child before exec: SIGKILL it if this script dies (Linux PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except Exception:
        pass


def start_nutcracker(path, tmp, cache_ports, broker_ports):
    cache_listen, broker_listen, stats_port = free_port(), free_port(), free_port()
    yml = os.path.join(tmp, "nutcracker.yml")
    # README's configuration, with this run's ports.
    with open(yml, "w") as f:
        f.write("cache:\n  listen: 127.0.0.1:%d\n  hash: md5\n  distribution: ketama\n"
                "  timeout: 2000\n  auto_eject_hosts: false\n  servers:\n" % cache_listen)
        for i, p in enumerate(cache_ports):
            f.write("   - 127.0.0.1:%d:1 cache%d\n" % (p, i + 1))
        f.write("broker:\n  listen: 127.0.0.1:%d\n  hash: md5\n  hash_tag: \"{}\"\n"
                "  distribution: ketama\n  timeout: 5000\n  auto_eject_hosts: false\n  servers:\n" % broker_listen)
        for i, p in enumerate(broker_ports):
            f.write("   - 127.0.0.1:%d:1 broker%d\n" % (p, i + 1))
    log = os.path.join(tmp, "nutcracker.log")
    test = subprocess.run([path, "-t", "-c", yml], capture_output=True, timeout=20)
    check("nutcracker -t accepts the configuration", test.returncode == 0, 0,
          (test.returncode, test.stdout + test.stderr))
    proc = subprocess.Popen([path, "-c", yml, "-s", str(stats_port), "-a", "127.0.0.1", "-o", log],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=kill_with_parent)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", cache_listen), timeout=1).close()
            socket.create_connection(("127.0.0.1", broker_listen), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                text = open(log, errors="replace").read() if os.path.exists(log) else ""
                fail("nutcracker listening", "both pools accepting within 10 s", (proc.poll(), text[-2000:]))
            time.sleep(0.05)
    return proc, cache_listen, broker_listen


def cache_spread(proxy, cache_ports):
    c = Conn(proxy)
    keys = [b"nc:key:%03d" % i for i in range(300)]
    c.send(b"".join(b"set %s %d 0 %d\r\n%s\r\n" % (k, i, len(k) + 4, k + b"-val") for i, k in enumerate(keys)))
    replies = [c.line() for _ in keys]
    check("300 sets through nutcracker -> STORED", replies == [b"STORED\r\n"] * 300, b"STORED x300",
          [r for r in replies if r != b"STORED\r\n"][:5])
    got = {}
    for i in range(0, 300, 50):
        c.send(b"get " + b" ".join(keys[i:i + 50]) + b"\r\n")
        for k, flags, data, _ in c.values():
            got[k] = (flags, data)
    check("multi-gets through nutcracker (fragmented across instances) read every key back",
          got == {k: (i, k + b"-val") for i, k in enumerate(keys)}, "300 keys with their flags and values",
          (len(got), sorted(set(keys) - set(got))[:5]))
    c.close()
    counts = [int(stats(p)["curr_items"]) for p in cache_ports]
    check("every instance holds some of the keys, 300 in all (curr_items %r)" % counts,
          all(n > 0 for n in counts) and sum(counts) == 300, "each > 0, sum 300", counts)
    where = {k: [] for k in keys}
    for p in cache_ports:
        d = Conn(p)
        for i in range(0, 300, 100):
            d.send(b"get " + b" ".join(keys[i:i + 100]) + b"\r\n")
            for k, _, _, _ in d.values():
                where[k].append(p)
        d.close()
    misplaced = [k for k, ps in where.items() if len(ps) != 1]
    check("each key is on exactly one instance", not misplaced, [], misplaced[:5])


def broker_hash_tags(proxy, broker_ports):
    queues = [b"{%s}" % n for n in (b"orders", b"payments", b"emails", b"nc.jobs.1", b"nc.jobs.2", b"nc.jobs.3")]
    c = Conn(proxy)
    for q in queues:
        for body in (b"m1", b"m2", b"m3"):
            c.send(b"set %s 0 0 %d\r\n%s\r\n" % (q, len(body), body))
            l = c.line()
            if l != b"STORED\r\n":
                fail("set %s -> STORED" % q.decode(), b"STORED\r\n", l)
        # A reliable read and its confirmation, on the instance holding the queue.
        c.send(b"get %s/open\r\n" % q)
        v = c.values()
        check("get %s/open -> m1" % q.decode(), [x[2] for x in v] == [b"m1"] and v[0][0] == q + b"/open", b"m1", v)
        c.send(b"get %s/close\r\n" % q)
        check("get %s/close -> END (confirmed)" % q.decode(), c.values() == [], [], None)
        c.send(b"get %s\r\n" % q)
        v = c.values()
        check("get %s -> m2 (dequeued)" % q.decode(), [x[2] for x in v] == [b"m2"], b"m2", v)
        c.send(b"gets %s/t=500/open\r\n" % q)
        v = c.values()
        check("gets %s/t=500/open -> m3 with its id" % q.decode(),
              [x[2] for x in v] == [b"m3"] and v[0][3] is not None, b"m3 <id>", v)
        c.send(b"get %s/close\r\n" % q)
        check("get %s/close -> END" % q.decode(), c.values() == [], [], None)
    c.close()
    holders = {}
    for p in broker_ports:
        s = stats(p)
        for q in queues:
            if "queue_%s_total_items" % q.decode() in s:
                holders.setdefault(q, []).append((p, s))
    for q in queues:
        hs = holders.get(q, [])
        check("%s: its set, open, close and dequeue all reached one instance (%r)"
              % (q.decode(), [p for p, _ in hs]), len(hs) == 1, "one instance", [p for p, _ in hs])
        s = hs[0][1]
        figures = tuple(int(s["queue_%s_%s" % (q.decode(), f)]) for f in ("total_items", "items", "open_transactions"))
        check("%s: 3 messages in, all taken, nothing left open (%r)" % (q.decode(), figures),
              figures == (3, 0, 0), (3, 0, 0), figures)
    used = {hs[0][0] for hs in holders.values()}
    check("the queues spread over more than one instance (%d used)" % len(used), len(used) > 1, "> 1", used)
    # nutcracker multiplexes its clients over one connection per instance, and open reads belong
    # to a broker connection: one client's /close confirms what another client opened (README).
    a, b = Conn(proxy), Conn(proxy)
    a.send(b"set {shared} 0 0 2\r\ns1\r\nset {shared} 0 0 2\r\ns2\r\n")
    check("two sets on {shared}", (a.line(), a.line()) == (b"STORED\r\n",) * 2, "STORED x2", None)
    a.send(b"get {shared}/open\r\n")
    v = a.values()
    check("client A opens s1 through nutcracker", [x[2] for x in v] == [b"s1"], b"s1", v)
    a.close()
    b.send(b"get {shared}/close/open\r\n")
    v = b.values()
    check("client B's /close/open confirms A's read (shared proxy connection) and opens s2",
          [x[2] for x in v] == [b"s2"], b"s2", v)
    b.send(b"get {shared}/close\r\n")
    check("B confirms s2", b.values() == [], [], None)
    b.close()
    # delete (of a queue) and version are forwarded too.
    c = Conn(proxy)
    c.send(b"delete {orders}\r\n")
    l = c.line()
    check("delete {orders} through nutcracker -> DELETED", l == b"DELETED\r\n", b"DELETED\r\n", l)
    c.send(b"version\r\n")
    l = c.line()
    check("version through nutcracker -> VERSION ...", l.startswith(b"VERSION "), b"VERSION ...", l)
    c.close()
    # The broker-only verbs are not memcached commands nutcracker knows: it closes the connection.
    for verb in (b"queue {nc.orders.0} max_items=5", b"flush {nc.orders.0}", b"ack {nc.orders.0} 1", b"stats"):
        d = Conn(proxy)
        d.send(verb + b"\r\n")
        check("%r through nutcracker: connection closed (not forwarded)" % verb.decode(), d.closed_by_peer(),
              "closed", None)
        d.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nutcracker", required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--broker", required=True)
    a = ap.parse_args()
    cache_ports = [int(x) for x in a.cache.split(",")]
    broker_ports = [int(x) for x in a.broker.split(",")]
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="swiftcached-nutcracker-") as tmp:
        proc, cache_proxy, broker_proxy = start_nutcracker(a.nutcracker, tmp, cache_ports, broker_ports)
        try:
            cache_spread(cache_proxy, cache_ports)
            broker_hash_tags(broker_proxy, broker_ports)
        finally:
            proc.kill()
            proc.wait(timeout=10)
    print("ALL %d NUTCRACKER CHECKS PASSED (%.1f s)" % (CHECKS, time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    signal.alarm(90)  # a hung socket can never outlive the test
    sys.exit(main())
