#!/usr/bin/env python3
"""Concurrent consistency stress test over raw sockets.

N connections (one thread each) run a mix of set / get / multi-get / delete
on an overlapping key space of ~500 keys.  Every value carries its own key id,
its length and a CRC32 of the payload:

    b"%03d|%05d|%08x|" % (key_id, payload_len, crc32(key_id_bytes + payload)) + payload

(total value length 19 B .. 20 KiB; payloads are partly random binary and
sometimes deliberately contain b"\\r\\nEND\\r\\nVALUE " so that a server which
scans for terminators instead of honouring the byte count is caught).  The
item flags are set to crc32 of the whole value and checked too.

Every reply is parsed strictly from the raw bytes: each get/gets reply must be
zero or more well-formed VALUE blocks for requested keys in request order
followed by END, and every value must belong to its key and checksum
correctly.  Corrupted or malformed replies are counted; the exit status is
non-zero if there are any (or if any connection errors happen).

Bounded by --seconds and --max-ops.

Usage: stress.py --port P --conns 50 --seconds S [--max-ops N] [--keys 500]
"""

import argparse
import os
import random
import re
import socket
import sys
import threading
import time
import zlib

HOST = "127.0.0.1"
MAX_VALUE = 20 * 1024
HEADER_LEN = 19
NASTY = b"\r\nEND\r\nVALUE "
VALUE_RE = re.compile(rb"^VALUE (\S+) (\d+) (\d+)( \d+)?\r\n$")


class Malformed(Exception):
    pass


def make_value(key_id, rnd):
    r = rnd.random()
    if r < 0.3:
        plen = rnd.randint(0, 64)
    elif r < 0.8:
        plen = rnd.randint(0, 2048)
    else:
        plen = rnd.randint(0, MAX_VALUE - HEADER_LEN)
    kind = rnd.random()
    if kind < 0.4:
        payload = os.urandom(plen)
    else:
        payload = bytes([65 + (key_id + i) % 26 for i in range(min(plen, 64))]) * (plen // 64 + 1)
        payload = payload[:plen]
    if plen >= len(NASTY) and rnd.random() < 0.3:
        pos = rnd.randint(0, plen - len(NASTY))
        payload = payload[:pos] + NASTY + payload[pos + len(NASTY):]
    kid = b"%03d" % key_id
    crc = zlib.crc32(kid + payload) & 0xFFFFFFFF
    v = b"%s|%05d|%08x|" % (kid, plen, crc) + payload
    assert len(v) == HEADER_LEN + plen
    return v


def verify_value(key_id, flags, data):
    """Returns None if ok, else a description of the corruption."""
    if len(data) < HEADER_LEN:
        return "value too short (%d bytes)" % len(data)
    head = data[:HEADER_LEN]
    if head[3:4] != b"|" or head[9:10] != b"|" or head[18:19] != b"|":
        return "bad header %r" % head
    try:
        kid = int(head[0:3])
        plen = int(head[4:9])
        crc = int(head[10:18], 16)
    except ValueError:
        return "bad header %r" % head
    if kid != key_id:
        return "value belongs to key %d, returned for key %d" % (kid, key_id)
    payload = data[HEADER_LEN:]
    if len(payload) != plen:
        return "payload length %d != header %d" % (len(payload), plen)
    if zlib.crc32(head[0:3] + payload) & 0xFFFFFFFF != crc:
        return "payload crc mismatch"
    if flags != zlib.crc32(data) & 0xFFFFFFFF:
        return "flags %d do not match crc32 of value" % flags
    return None


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.ops = 0
        self.sets = 0
        self.gets = 0
        self.hits = 0
        self.deletes = 0
        self.corrupted = 0
        self.malformed = 0
        self.conn_errors = 0
        self.samples = []

    def add(self, **kw):
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)

    def problem(self, kind, msg):
        with self.lock:
            setattr(self, kind, getattr(self, kind) + 1)
            if len(self.samples) < 20:
                self.samples.append("%s: %s" % (kind, msg))


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection((HOST, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        self.sock.sendall(data)

    def _more(self):
        d = self.sock.recv(262144)
        if not d:
            raise Malformed("connection closed by server (buffered %r)" % bytes(self.buf[:80]))
        self.buf += d

    def read_exact(self, n):
        while len(self.buf) < n:
            self._more()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_line(self, limit=1024):
        start = 0
        while True:
            i = self.buf.find(b"\r\n", start)
            if i >= 0:
                out = bytes(self.buf[:i + 2])
                del self.buf[:i + 2]
                return out
            if len(self.buf) > limit:
                raise Malformed("reply line longer than %d bytes: %r" % (limit, bytes(self.buf[:80])))
            start = max(0, len(self.buf) - 1)
            self._more()


def key_name(prefix, key_id):
    return b"%s:%03d" % (prefix, key_id)


def read_get_reply(c, prefix, key_ids, with_cas, stats):
    """Strictly parse a get/gets reply for key_ids; returns hits."""
    pos = 0  # next index in key_ids that a VALUE may refer to (order)
    hits = 0
    for _ in range(len(key_ids) + 1):
        line = c.read_line()
        if line == b"END\r\n":
            return hits
        m = VALUE_RE.match(line)
        if not m:
            raise Malformed("expected VALUE or END, got %r" % line[:100])
        if bool(m.group(4)) != with_cas:
            raise Malformed("cas field presence wrong in %r" % line)
        k = m.group(1)
        while pos < len(key_ids) and key_name(prefix, key_ids[pos]) != k:
            pos += 1
        if pos >= len(key_ids):
            raise Malformed("VALUE for unrequested or out-of-order key %r (requested %r)" % (k, key_ids))
        kid = key_ids[pos]
        pos += 1
        n = int(m.group(3))
        if n > MAX_VALUE:
            raise Malformed("VALUE length %d larger than any value ever set" % n)
        data = c.read_exact(n + 2)
        if data[-2:] != b"\r\n":
            raise Malformed("data block for %r not followed by CRLF: %r" % (k, data[-10:]))
        err = verify_value(kid, int(m.group(2)), data[:-2])
        if err:
            stats.problem("corrupted", "key %r: %s" % (k, err))
        hits += 1
    raise Malformed("more VALUE blocks than requested keys")


def worker(idx, args, prefix, stop_at, stats, op_budget):
    rnd = random.Random(args.seed * 1000 + idx)
    c = None
    local_ops = 0
    while time.monotonic() < stop_at:
        with op_budget["lock"]:
            if op_budget["left"] <= 0:
                break
            op_budget["left"] -= 50
        try:
            if c is None:
                c = Conn(args.port)
            for _ in range(50):
                r = rnd.random()
                if r < 0.40:
                    kid = rnd.randrange(args.keys)
                    v = make_value(kid, rnd)
                    flags = zlib.crc32(v) & 0xFFFFFFFF
                    cmd = b"set %s %d 0 %d\r\n" % (key_name(prefix, kid), flags, len(v)) + v + b"\r\n"
                    if rnd.random() < 0.2 and len(cmd) > 4:
                        cut = rnd.randrange(1, len(cmd))
                        c.send(cmd[:cut])
                        c.send(cmd[cut:])
                    else:
                        c.send(cmd)
                    line = c.read_line()
                    if line != b"STORED\r\n":
                        raise Malformed("set replied %r" % line[:100])
                    stats.add(sets=1)
                elif r < 0.55:
                    # pipelined set + get of the same key in one send
                    kid = rnd.randrange(args.keys)
                    v = make_value(kid, rnd)
                    flags = zlib.crc32(v) & 0xFFFFFFFF
                    k = key_name(prefix, kid)
                    c.send(b"set %s %d 0 %d\r\n%s\r\nget %s\r\n" % (k, flags, len(v), v, k))
                    line = c.read_line()
                    if line != b"STORED\r\n":
                        raise Malformed("pipelined set replied %r" % line[:100])
                    h = read_get_reply(c, prefix, [kid], False, stats)
                    stats.add(sets=1, gets=1, hits=h)
                elif r < 0.90:
                    n = 1 if rnd.random() < 0.6 else rnd.randint(2, 20)
                    kids = [rnd.randrange(args.keys) for _ in range(n)]
                    with_cas = rnd.random() < 0.2
                    c.send((b"gets " if with_cas else b"get ")
                           + b" ".join(key_name(prefix, k) for k in kids) + b"\r\n")
                    h = read_get_reply(c, prefix, kids, with_cas, stats)
                    stats.add(gets=n, hits=h)
                else:
                    kid = rnd.randrange(args.keys)
                    c.send(b"delete %s\r\n" % key_name(prefix, kid))
                    line = c.read_line()
                    if line not in (b"DELETED\r\n", b"NOT_FOUND\r\n"):
                        raise Malformed("delete replied %r" % line[:100])
                    stats.add(deletes=1)
                local_ops += 1
                stats.add(ops=1)
        except Malformed as e:
            stats.problem("malformed", "conn %d: %s" % (idx, e))
            if c:
                c.close()
            c = None
        except (OSError, socket.timeout) as e:
            stats.problem("conn_errors", "conn %d: %r" % (idx, e))
            if c:
                c.close()
            c = None
            time.sleep(0.05)
    if c:
        c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--conns", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--max-ops", type=int, default=3_000_000)
    ap.add_argument("--keys", type=int, default=500)
    ap.add_argument("--seed", type=int, default=int(time.time()) & 0xFFFF)
    args = ap.parse_args()
    if not (1 <= args.conns <= 500 and 0 < args.seconds <= 600 and 1 <= args.keys <= 999):
        print("FAIL: arguments out of range")
        return 2

    prefix = b"st%x" % (int(time.time() * 1000) & 0xFFFFFF)
    stats = Stats()
    op_budget = {"lock": threading.Lock(), "left": args.max_ops}
    t0 = time.monotonic()
    stop_at = t0 + args.seconds
    threads = [threading.Thread(target=worker, args=(i, args, prefix, stop_at, stats, op_budget), daemon=True)
               for i in range(args.conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.1, stop_at - time.monotonic()) + 30)
    alive = sum(t.is_alive() for t in threads)
    el = time.monotonic() - t0

    print("seed=%d conns=%d keys=%d elapsed=%.1f s" % (args.seed, args.conns, args.keys, el))
    print("ops done: %d (%.0f ops/s): sets=%d gets=%d (hits=%d) deletes=%d"
          % (stats.ops, stats.ops / el if el else 0, stats.sets, stats.gets, stats.hits, stats.deletes))
    print("corrupted: %d  malformed: %d  connection errors: %d  hung threads: %d"
          % (stats.corrupted, stats.malformed, stats.conn_errors, alive))
    for s in stats.samples:
        print("  " + s)
    if stats.corrupted or stats.malformed or stats.conn_errors or alive:
        print("FAIL: stress test found problems")
        return 1
    if stats.ops == 0 or stats.hits == 0:
        print("FAIL: no operations / no hits at all")
        return 1
    print("STRESS CHECK PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
