#!/usr/bin/env python3
"""Warm restart (-e) checks, driven by WarmRestartTests.swift.

  warm_restart.py fill   PORT N STATEFILE   store N items (values, flags, TTLs), record CAS
                                            uniques and expiry times in STATEFILE
  warm_restart.py check  PORT N STATEFILE   every item is back with its value, flags and CAS;
                                            remaining TTL from 2 s less to 6 s more than
                                            expected (the clock ticks late on a loaded box);
                                            the short-TTL items (expired in the downtime) gone
  warm_restart.py intact PORT N STATEFILE   damaged file: every item present has its exact
                                            value, flags and CAS (missing is allowed); prints
                                            the number present
  warm_restart.py empty  PORT N             none of the N keys is there

Raw sockets, pipelined in batches; every read has a timeout. Exit status 1 with a message on
the first difference.
"""
import json
import socket
import sys
import time

BATCH = 500
SHORT_TTL_EVERY = 50  # every 50th item gets a 2 s TTL (expires during the downtime)


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.settimeout(10)
    return s


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise SystemExit("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise SystemExit("connection closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data


def key(i):
    return b"wk:%d" % i


def value(i):
    # Sizes from 1 to ~600 bytes, several slab classes; a few large (chunked) values.
    if i % 997 == 0:
        return (b"L%d-" % i) * 40000  # ~300 KB
    return (b"v%d." % i) * (1 + i % 97)


def flags(i):
    return (i * 2654435761) % 4294967296


def ttl(i):
    if i % SHORT_TTL_EVERY == 0:
        return 2
    if i % 3 == 0:
        return 0
    return 1000 + i % 5000


def gets_batch(sock, reader, keys):
    sock.sendall(b"gets " + b" ".join(keys) + b"\r\n")
    found = {}
    while True:
        line = reader.line()
        if line == b"END":
            return found
        parts = line.split(b" ")
        if parts[0] != b"VALUE":
            raise SystemExit("unexpected line %r" % line)
        data = reader.exact(int(parts[3]) + 2)[:-2]
        found[parts[1]] = (int(parts[2]), data, int(parts[4]))


def remaining_ttls(sock, reader, keys):
    sock.sendall(b"".join(b"mg " + k + b" t\r\n" for k in keys))
    out = {}
    for k in keys:
        line = reader.line()
        if line.startswith(b"HD"):
            for tok in line.split(b" ")[1:]:
                if tok.startswith(b"t"):
                    out[k] = int(tok[1:])
        elif line != b"EN":
            raise SystemExit("unexpected mg reply %r" % line)
    return out


def fill(port, n, statefile):
    sock = connect(port)
    reader = Reader(sock)
    # When each batch was sent: an item's expiry is counted from its own store (a loaded machine
    # can take seconds over the whole fill).
    batch_time = {}
    for base in range(0, n, BATCH):
        batch_time[base] = time.time()
        idx = range(base, min(n, base + BATCH))
        payload = b"".join(b"set %s %d %d %d\r\n%s\r\n" % (key(i), flags(i), ttl(i), len(value(i)), value(i)) for i in idx)
        sock.sendall(payload)
        for i in idx:
            line = reader.line()
            if line != b"STORED":
                raise SystemExit("set %s: %r" % (key(i), line))
    state = {"batch_time": batch_time, "cas": {}}
    for base in range(0, n, BATCH):
        keys = [key(i) for i in range(base, min(n, base + BATCH))]
        found = gets_batch(sock, reader, keys)
        for k in keys:
            if k in found:
                state["cas"][k.decode()] = found[k][2]
            elif ttl(int(k[3:])) != 2:  # a 2 s TTL may already have passed
                raise SystemExit("%s missing right after set" % k)
    with open(statefile, "w") as f:
        json.dump(state, f)
    print("filled %d" % n)


def check(port, n, statefile, exact):
    with open(statefile) as f:
        state = json.load(f)
    sock = connect(port)
    reader = Reader(sock)
    present = 0
    for base in range(0, n, BATCH):
        now = time.time()
        idx = list(range(base, min(n, base + BATCH)))
        keys = [key(i) for i in idx]
        found = gets_batch(sock, reader, keys)
        ttls = remaining_ttls(sock, reader, keys) if exact else {}
        for i, k in zip(idx, keys):
            short = ttl(i) == 2
            if k not in found:
                if exact and not short:
                    raise SystemExit("%s missing after restart" % k)
                continue
            if short and exact:
                raise SystemExit("%s (2 s TTL) survived a downtime longer than its TTL" % k)
            got_flags, data, cas = found[k]
            if data != value(i) or got_flags != flags(i) or cas != state["cas"].get(k.decode()):
                raise SystemExit("%s wrong after restart: flags %d cas %d len %d" % (k, got_flags, cas, len(data)))
            present += 1
            if exact:
                want = ttl(i)
                got = ttls.get(k)
                if want == 0:
                    if got != -1:
                        raise SystemExit("%s: TTL %r, expected none (-1)" % (k, got))
                else:
                    # Sent at batch_time, stored by the time its reply came: the TTL left is
                    # between (batch_time + ttl - now) and a second or two more (the server's
                    # clock ticks whole seconds, from a once-a-second timer that runs late on a
                    # loaded box: 3.2 s late once under the full suite).
                    expected = state["batch_time"][str(base)] + want - now
                    if got is None or got < expected - 2 or got > expected + 6:
                        raise SystemExit("%s: remaining TTL %r, expected about %.1f" % (k, got, expected))
    print("present %d" % present)


def empty(port, n):
    sock = connect(port)
    reader = Reader(sock)
    for base in range(0, n, BATCH):
        keys = [key(i) for i in range(base, min(n, base + BATCH))]
        found = gets_batch(sock, reader, keys)
        if found:
            raise SystemExit("%d keys present in a cache that should be empty, e.g. %s" % (len(found), next(iter(found))))
    print("empty")


def main():
    mode, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if mode == "fill":
        fill(port, n, sys.argv[4])
    elif mode == "check":
        check(port, n, sys.argv[4], exact=True)
    elif mode == "intact":
        check(port, n, sys.argv[4], exact=False)
    elif mode == "empty":
        empty(port, n)
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main()
