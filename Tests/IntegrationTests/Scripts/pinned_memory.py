"""Memory a client can pin (issue 11), black-box against a running server, loopback only:

  binary    300 connections each send a binary GET header declaring a 1 MB body and then all of
            that body but its last byte: the header alone must be refused (Invalid arguments,
            close), nothing buffered, RSS growth bounded; plus issue 12's binary edge rows.
  metadump  ~100k items, 10 connections send `lru_crawler metadump all` and never read: one
            dump runs, the other nine answer BUSY, RSS growth bounded; the slot is free after.
  idle      with -o idle_timeout: a dump whose client never reads is closed, and the slot freed.

Prints "PINNED MEMORY CHECK PASSED" on success; exits 1 at the first failure."""

import argparse
import socket
import struct
import sys
import time

HOST = "127.0.0.1"


def fail(msg):
    print("FAIL " + msg)
    sys.stdout.flush()
    sys.exit(1)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    fail("no VmRSS for pid %d" % pid)


def connect(port, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(5)
    s.connect((HOST, port))
    return s


def header(opcode, key=b"", extras=b"", bodylen=None, magic=0x80):
    if bodylen is None:
        bodylen = len(key) + len(extras)
    return struct.pack(">BBHBBHIIQ", magic, opcode, len(key), len(extras), 0, 0, bodylen, 0x01020304, 0) + extras + key


def read_until_closed(s, limit=1 << 20, timeout=5.0):
    """Everything the server sends until it closes; fails if it does not close in time."""
    s.settimeout(timeout)
    out = b""
    try:
        while len(out) < limit:
            d = s.recv(65536)
            if not d:
                return out
            out += d
    except ConnectionResetError:
        return out
    except socket.timeout:
        fail("server did not close the connection; got %r" % out[:200])
    return out


def responses(data):
    out = []
    i = 0
    while i + 24 <= len(data):
        magic, op, kl, el, dt, st, bl, opq, cas = struct.unpack(">BBHBBHIIQ", data[i:i + 24])
        out.append((op, st, data[i + 24:i + 24 + bl]))
        i += 24 + bl
    if i != len(data):
        fail("trailing bytes in binary replies: %r" % data[i:])
    return out


def stats(port):
    s = connect(port)
    s.sendall(b"stats\r\n")
    buf = b""
    while not buf.endswith(b"END\r\n"):
        d = s.recv(65536)
        if not d:
            fail("connection closed during stats")
        buf += d
    s.close()
    out = {}
    for line in buf.decode().split("\r\n"):
        parts = line.split(" ")
        if len(parts) == 3 and parts[0] == "STAT":
            out[parts[1]] = parts[2]
    return out


def check_binary(port, pid, max_growth_mb):
    # Issue 12's binary rows, as memcached 1.6.18 answers them.
    s = connect(port)
    s.sendall(header(0x1b) + header(0x0a))  # verbosity without extras, then noop
    s.settimeout(5)
    got = b""
    while len(got) < 24 + 15 + 24:
        d = s.recv(4096)
        if not d:
            fail("verbosity: connection closed")
        got += d
    r = responses(got)
    if r != [(0x1b, 0x81, b"Unknown command"), (0x0a, 0, b"")]:
        fail("verbosity without extras then noop: %r" % r)
    s.close()
    print("ok   verbosity without extras: Unknown command, connection kept")

    s = connect(port)
    s.sendall(header(0x00, key=b"k", bodylen=2 << 20))
    r = responses(read_until_closed(s))
    if r != [(0x00, 0x04, b"Invalid arguments")]:
        fail("GET declaring a 2 MB body: %r" % r)
    s.close()
    print("ok   GET with a body over 1 MB: Invalid arguments, then close")

    s = connect(port)
    s.sendall(header(0x0a) + header(0x0a, magic=0x12))
    r = responses(read_until_closed(s))
    if r != [(0x0a, 0, b"")]:
        fail("noop then a bad packet: %r" % r)
    s.close()
    print("ok   noop then a bad packet: the noop answered, then close")

    # 300 connections declaring a 1 MB GET body and sending all of it but one byte.
    n = 300
    body = (1 << 20) - 2
    before = rss_kb(pid)
    conns = []
    for _ in range(n):
        c = connect(port)
        c.sendall(header(0x00, key=b"k", bodylen=1 << 20))
        c.setblocking(False)
        try:
            c.send(b"z" * body)
        except (BlockingIOError, ConnectionError):
            pass
        conns.append(c)
    time.sleep(1.5)
    after = rss_kb(pid)
    refused = 0
    for c in conns:
        c.setblocking(True)
        data = read_until_closed(c, limit=4096)
        if data[:24] and responses(data[:24 + 17]) == [(0x00, 0x04, b"Invalid arguments")]:
            refused += 1
        c.close()
    growth_mb = (after - before) / 1024.0
    print("     300 x 1 MB GET bodies: RSS %d KB -> %d KB (%.1f MB), %d refused" % (before, after, growth_mb, refused))
    if refused != n:
        fail("only %d of %d headers refused with Invalid arguments" % (refused, n))
    if growth_mb > max_growth_mb:
        fail("RSS grew %.1f MB (bound %d MB)" % (growth_mb, max_growth_mb))
    st = stats(port)
    if int(st.get("binary_header_invalid", "0")) < n + 2:
        fail("binary_header_invalid = %s, expected at least %d" % (st.get("binary_header_invalid"), n + 2))
    print("ok   300 declared 1 MB bodies refused from the header, RSS growth %.1f MB" % growth_mb)


def fill(port, n):
    s = connect(port)
    value = b"x" * 100
    batch = []
    for i in range(n):
        batch.append(b"set key:%d 0 0 %d noreply\r\n%s\r\n" % (i, len(value), value))
        if len(batch) == 2000:
            s.sendall(b"".join(batch))
            batch = []
    s.sendall(b"".join(batch) + b"mn\r\n")
    buf = b""
    while b"MN\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            fail("closed while filling")
        buf += d
    s.close()


def full_dump(port, expect):
    s = connect(port)
    s.sendall(b"lru_crawler metadump all\r\n")
    buf = b""
    while not buf.endswith(b"END\r\n"):
        d = s.recv(1 << 20)
        if not d:
            fail("closed during a metadump")
        buf += d
    s.close()
    # An item the LRU maintainer moves to another list during the walk can be listed twice (as
    # memcached's crawler-driven dump can): every key must be there, each at least once.
    keys = set(line.split(b" ", 1)[0] for line in buf.split(b"\n") if line.startswith(b"key="))
    if len(keys) != expect:
        fail("metadump listed %d distinct items, expected %d" % (len(keys), expect))


def check_metadump(port, pid, items, max_growth_mb):
    fill(port, items)
    full_dump(port, items)
    before = rss_kb(pid)
    conns = []
    for _ in range(10):
        c = connect(port, rcvbuf=4096)
        c.sendall(b"lru_crawler metadump all\r\n")
        conns.append(c)
        time.sleep(0.05)
    time.sleep(1.5)
    after = rss_kb(pid)
    busy = 0
    dumping = 0
    for c in conns:
        head = c.recv(64)
        if head == b"BUSY currently processing crawler request\r\n":
            busy += 1
        elif head.startswith(b"key="):
            dumping += 1
        else:
            fail("unexpected metadump reply %r" % head)
    growth_mb = (after - before) / 1024.0
    print("     10 unread metadumps of %d items: RSS %d KB -> %d KB (%.1f MB); %d dumping, %d BUSY"
          % (items, before, after, growth_mb, dumping, busy))
    if dumping != 1 or busy != 9:
        fail("expected one dump and nine BUSY, got %d and %d" % (dumping, busy))
    if growth_mb > max_growth_mb:
        fail("RSS grew %.1f MB (bound %d MB)" % (growth_mb, max_growth_mb))
    if stats(port).get("metadump_busy") != "9":
        fail("metadump_busy is not 9")
    for c in conns:
        c.close()
    # The closed dump frees the slot: a new dump runs whole.
    deadline = time.time() + 5
    while True:
        s = connect(port)
        s.sendall(b"lru_crawler metadump 1\r\n")
        reply = s.recv(64)
        s.close()
        if not reply.startswith(b"BUSY"):
            break
        if time.time() > deadline:
            fail("the dump slot stayed taken after its client closed")
        time.sleep(0.1)
    full_dump(port, items)
    print("ok   one metadump at a time, unread dumps pin %.1f MB, slot freed on close" % growth_mb)


def check_idle(port, items):
    fill(port, items)
    c = connect(port, rcvbuf=4096)
    c.sendall(b"lru_crawler metadump all\r\n")
    # Never read until the server gives up on us (idle_kicks counts it; asked on fresh
    # connections, so the asking one is never idle itself): a fixed sleep raced the server's
    # one-second sweep on a loaded machine. Then drain what was in flight: the close follows.
    deadline = time.time() + 20
    while int(stats(port).get("idle_kicks", "0")) < 1:
        if time.time() > deadline:
            fail("idle_kicks did not count the unread dump within 20 s")
        time.sleep(0.25)
    started = time.time()
    read_until_closed(c, limit=1 << 30, timeout=5)
    if time.time() - started > 5:
        fail("idle dump connection not closed")
    c.close()
    s = connect(port)
    s.sendall(b"lru_crawler metadump 1\r\n")
    if s.recv(64).startswith(b"BUSY"):
        fail("the dump slot stayed taken after an idle kick")
    s.close()
    print("ok   an unread dump is closed by idle_timeout and frees the slot")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["binary", "metadump", "idle"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, default=0)
    ap.add_argument("--items", type=int, default=100000)
    ap.add_argument("--max-growth-mb", type=int, default=32)
    a = ap.parse_args()
    if a.mode == "binary":
        check_binary(a.port, a.pid, a.max_growth_mb)
    elif a.mode == "metadump":
        check_metadump(a.port, a.pid, a.items, a.max_growth_mb)
    else:
        check_idle(a.port, a.items)
    print("PINNED MEMORY CHECK PASSED")


if __name__ == "__main__":
    main()
