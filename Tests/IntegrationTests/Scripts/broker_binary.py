#!/usr/bin/env python3
"""The broker port (swiftcached --broker-port) in memcached's binary protocol: pylibmc with
binary=True (libmemcached, as php-memcached's binary mode) enqueues and dequeues, and raw frames
check what a client that is not a queue client meets: every request is answered, none hangs
(an unknown opcode gets "Unknown command" and the connection stays usable; a malformed header
gets its error and the close; bad magic the close). Topics too: set/setq append, get/getq/getk/getkq
read a group's next record (pipelined quiet forms, a set sent a byte at a time, the refusals'
words, /open /abort /close, a parked /timeout= read answered by an append, by its time, and at
once when its topic is deleted, as a get of a missing topic).

Usage: broker_binary.py --port P. Exits non-zero on the first failed check."""
import argparse
import socket
import struct
import sys
import time

import pylibmc

import rawconn
from broker_common import eq

IO_TIMEOUT = 3.0


def check(what, got, want):
    eq(what, want, got)


def request(opcode, key=b"", extras=b"", value=b"", opaque=0, cas=0, body_length=None, magic=0x80):
    body = extras + key + value
    n = len(body) if body_length is None else body_length
    return struct.pack(">BBHBBHIIQ", magic, opcode, len(key), len(extras), 0, 0, n, opaque, cas) + body


class Raw:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        self.buf = b""

    def close(self):
        self.s.close()

    def send(self, data):
        self.s.sendall(data)

    def _need(self, n):
        deadline = time.monotonic() + IO_TIMEOUT
        while len(self.buf) < n:
            self.s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                return False
            if not d:
                return False
            self.buf += d
        return True

    def response(self):
        """(opcode, status, opaque, cas, extras, key, value), or None if no full reply came."""
        if not self._need(24):
            return None
        magic, op, klen, elen, _, status, blen, opaque, cas = struct.unpack(">BBHBBHIIQ", self.buf[:24])
        if magic != 0x81 or not self._need(24 + blen):
            return None
        body = self.buf[24:24 + blen]
        self.buf = self.buf[24 + blen:]
        return op, status, opaque, cas, body[:elen], body[elen:elen + klen], body[elen + klen:]

    def closed(self):
        """True once the server has closed the connection (EOF within the timeout)."""
        self.s.settimeout(IO_TIMEOUT)
        try:
            return self.s.recv(65536) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


def text_request(port, line):
    """One text request on a connection of its own: its reply's first line."""
    s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    s.sendall(line)
    got = b""
    while b"\r\n" not in got:
        d = s.recv(65536)
        if not d:
            break
        got += d
    s.close()
    return got.split(b"\r\n")[0]


def queue_counts(port, names):
    st = rawconn.stats_dict(port)
    return [(int(st.get("queue_%s_items" % n, -1)), int(st.get("queue_%s_open_transactions" % n, -1))) for n in names]


def flushes(port, mc):
    """Binary FLUSH and FLUSHQ on the broker port: every queue's ready messages go (as text
    flush_all), open reads stay; FLUSH answers OK, FLUSHQ nothing (the noop after it answers);
    the optional 4-byte delay is taken and the flush is at once, as text flush_all's arguments."""
    check("three messages in bfa, one in bfb", [mc.set(k, v) for k, v in
                                                (("bfa", b"a1"), ("bfa", b"a2"), ("bfa", b"a3"), ("bfb", b"b1"))], [True] * 4)
    holder = Raw(port)
    holder.send(request(0x00, key=b"bfa/open", opaque=60))
    held = holder.response()
    check("an open read of bfa (held on another connection)", held and (held[1], held[6]), (0, b"a1"))
    check("before: bfa 2 ready + 1 open, bfb 1 ready", queue_counts(port, ["bfa", "bfb"]), [(2, 1), (1, 0)])
    r = Raw(port)
    r.send(request(0x08, opaque=61))
    check("binary flush -> OK (opcode 0x08, status 0, its opaque, no body)", r.response(), (0x08, 0, 61, 0, b"", b"", b""))
    check("after flush: no ready message in either queue; the open read stays", queue_counts(port, ["bfa", "bfb"]), [(0, 1), (0, 0)])
    check("a get after the flush finds nothing", mc.get("bfa"), None)
    check("refill: bfa and bfb", (mc.set("bfa", b"a4"), mc.set("bfb", b"b2")), (True, True))
    r.send(request(0x18, extras=struct.pack(">I", 0), opaque=62) + request(0x0a, opaque=63))
    check("binary flushq (4-byte delay 0) then noop -> only the noop's reply", r.response()[:3], (0x0a, 0, 63))
    check("after flushq: both queues empty, the open read still open", queue_counts(port, ["bfa", "bfb"]), [(0, 1), (0, 0)])
    check("refill bfb", mc.set("bfb", b"b3"), True)
    r.send(request(0x08, extras=struct.pack(">I", 600), opaque=64))
    check("binary flush with a delay of 600 s -> OK", r.response()[:3], (0x08, 0, 64))
    check("...and the queue is empty at once", queue_counts(port, ["bfb"]), [(0, 0)])
    # A flush whose body is not 0 or 4 bytes of extras is malformed: memcached's reply and the close.
    r.send(request(0x08, extras=b"\0\0", opaque=65))
    bad = r.response()
    check("flush with 2 bytes of extras -> Invalid arguments", bad is not None and bad[:3], (0x08, 0x04, 65))
    check("...then the connection is closed", r.closed(), True)
    r.close()
    holder.send(request(0x00, key=b"bfa/close", opaque=66))
    check("the open read is still confirmable after the flushes: bfa/close -> Not found (nothing new)",
          holder.response()[:3], (0x00, 0x01, 66))
    check("...and confirmed: bfa has no open read", queue_counts(port, ["bfa"]), [(0, 0)])
    holder.close()


def topics(port, mc):
    """Topics over the binary protocol: set/setq append, get/getq/getk/getkq read a group's next
    record (flags as extras, offset as CAS), refusals as "Invalid arguments" with the text's words."""
    check("log bt (one partition)", text_request(port, b"log bt\r\n"), b"OK")
    check("log btc cleanup=compact", text_request(port, b"log btc cleanup=compact\r\n"), b"OK")
    check("pylibmc binary set on a topic appends", (mc.set("bt", b"r0"), mc.set("bt/key=k1", b"r1")), (True, True))
    check("pylibmc get reads the group's next record, one a get", [mc.get("bt/group=g") for _ in range(3)], [b"r0", b"r1", None])
    check("get_multi (getkq + noop): each group from its own offset",
          mc.get_multi(["bt/group=m1", "bt/group=m2", "bt/group=g"]), {"bt/group=m1": b"r0", "bt/group=m2": b"r0"})
    ex = struct.pack(">II", 9, 0)
    r = Raw(port)
    r.send(request(0x0c, key=b"bt/group=raw", opaque=20))
    op, status, opaque, cas, extras, key, value = r.response()
    check("raw getk: flags as extras, the key, offset 0 as CAS, the value",
          (op, status, opaque, cas, extras, key, value), (0x0c, 0, 20, 0, struct.pack(">I", 0), b"bt/group=raw", b"r0"))
    # Quiet forms pipelined: setq appends silently, getq / getkq answer only a hit, noop closes.
    r.send(request(0x11, key=b"bt", extras=ex, value=b"q2", opaque=21) + request(0x11, key=b"bt", extras=ex, value=b"q3", opaque=22)
           + request(0x09, key=b"bt/group=quiet/partition=0", opaque=23) + request(0x0d, key=b"bt/group=none", opaque=24)
           + request(0x09, key=b"bt/group=empty/timeout=0", opaque=25) + request(0x0a, opaque=26))
    got = [r.response() for _ in range(4)]
    check("setq x2, getq, getkq, getq, noop: four replies, the hits' and noop's",
          [(g[0], g[1], g[2], g[3], g[6]) for g in got],
          [(0x09, 0, 23, 0, b"r0"), (0x0d, 0, 24, 0, b"r0"), (0x09, 0, 25, 0, b"r0"), (0x0a, 0, 26, 0, b"")])
    # A set whose frame comes a byte at a time is appended once, whole.
    frame = request(0x01, key=b"bt/key=split", extras=ex, value=b"split-value", opaque=27)
    for i in range(len(frame)):
        r.send(frame[i:i + 1])
        time.sleep(0.001)
    check("a set sent a byte at a time -> OK", r.response()[:3], (0x01, 0, 27))
    r.send(request(0x00, key=b"bt/group=g", opaque=28) + request(0x00, key=b"bt/group=g", opaque=29)
           + request(0x00, key=b"bt/group=g", opaque=30))
    got = [r.response() for _ in range(3)]
    check("group g reads on: q2, q3 (flags 9, offsets 2, 3), then the split record",
          [(g[3], g[4], g[6]) for g in got], [(2, struct.pack(">I", 9), b"q2"), (3, struct.pack(">I", 9), b"q3"), (4, ex[:4], b"split-value")])
    # Refusals: "Invalid arguments" with the text reply's words; the connection stays usable.
    refusals = [
        (request(0x01, key=b"bt/partition=5", extras=ex, value=b"x", opaque=31), b"no such partition"),
        (request(0x01, key=b"bt/group=g", extras=ex, value=b"x", opaque=32), b"bad topic key"),
        (request(0x01, key=b"btc", extras=ex, value=b"x", opaque=33), b"compacted topic cannot accept a record without a key"),
        (request(0x00, key=b"bt", opaque=34), b"a topic read needs /group=<name>"),
        (request(0x00, key=b"bt/group=g/max=2", opaque=35), b"bad topic key"),
        (request(0x00, key=b"bt/group=g/bogus", opaque=36), b"bad topic key"),
        (request(0x00, key=b"bt/group=g/partition=3", opaque=37), b"no such partition"),
    ]
    r.send(b"".join(f for f, _ in refusals) + request(0x0a, opaque=38))
    got = [r.response() for _ in range(len(refusals) + 1)]
    check("refusals -> Invalid arguments (0x04) with the words, then noop -> OK",
          [(g[1], g[2], g[6]) for g in got], [(0x04, struct.unpack(">I", f[12:16])[0], w) for f, w in refusals] + [(0, 38, b"")])
    check("a keyed record on the compacted topic -> OK", mc.set("btc/key=a", b"c1"), True)
    # /open hands a record out and keeps it; /abort puts it back; /close confirms.
    check("/open, /abort, /open again: the same record", (mc.get("bt/group=o/open"), mc.get("bt/group=o/abort/open")), (b"r0", b"r0"))
    check("/close/open confirms it and opens the next", mc.get("bt/group=o/close/open"), b"r1")
    # A parked read (/timeout=) is answered by an append, or "Not found" at its time.
    # (read raw: flags 9 carry pylibmc's compressed bit)
    r.send(request(0x00, key=b"bt/group=late", opaque=39))
    while r.response()[1] == 0:
        r.send(request(0x00, key=b"bt/group=late", opaque=39))
    r.send(request(0x00, key=b"bt/group=late/timeout=3000", opaque=40))
    time.sleep(0.2)
    check("a parked binary topic read waits, then an append answers it", mc.set("bt", b"late"), True)
    op, status, opaque, cas, _, _, value = r.response()
    check("...with the appended record", (op, status, opaque, value), (0x00, 0, 40, b"late"))
    t0 = time.monotonic()
    r.send(request(0x00, key=b"bt/group=late/timeout=300", opaque=41))
    check("a parked read with nothing to read -> Not found after its time",
          (r.response()[:3], time.monotonic() - t0 >= 0.25), ((0x00, 0x01, 41), True))
    r.send(request(0x00, key=b"bt/group=late/timeout=5000", opaque=42))
    time.sleep(0.1)
    t0 = time.monotonic()
    check("the topic deleted under a parked binary read", text_request(port, b"delete bt\r\n"), b"DELETED")
    gone = r.response() or (None,) * 7
    check("...the read is answered at once as a get of a missing topic: Invalid arguments",
          (gone[:3], gone[6], time.monotonic() - t0 < 2.0), ((0x00, 0x04, 42), b"Invalid arguments", True))
    r.send(request(0x00, key=b"bt/group=late/timeout=5000", opaque=46))
    gone = r.response() or (None,) * 7
    check("...which a get of the missing topic gets", (gone[:3], gone[6]), ((0x00, 0x04, 46), b"Invalid arguments"))
    r.send(request(0x0a, opaque=43))
    check("...and the connection serves on", r.response()[:3], (0x0a, 0, 43))
    # A binary delete of a topic's name deletes the topic, as text `delete` does.
    check("log bt2", text_request(port, b"log bt2\r\n"), b"OK")
    r.send(request(0x04, key=b"bt2", opaque=44) + request(0x04, key=b"bt2", opaque=45))
    check("binary delete of a topic -> OK, again -> Not found", (r.response()[:3], r.response()[:3]), ((0x04, 0, 44), (0x04, 0x01, 45)))
    check("...the topic is gone for text too", text_request(port, b"delete bt2\r\n"), b"NOT_FOUND")
    r.close()


# php-memcached with OPT_BINARY_PROTOCOL (libmemcached, as pylibmc) on a queue: set, get, delete.
PHP_BINARY = r"""
$m = new Memcached();
$m->setOption(Memcached::OPT_BINARY_PROTOCOL, true);
$m->setOption(Memcached::OPT_COMPRESSION, false);
$m->setOption(Memcached::OPT_CONNECT_TIMEOUT, 2000);
$m->setOption(Memcached::OPT_RECV_TIMEOUT, 2000000);
$m->setOption(Memcached::OPT_SEND_TIMEOUT, 2000000);
$m->addServer('127.0.0.1', (int)$argv[1]);
$t0 = microtime(true);
$out = [];
$out[] = 'set1 ' . var_export($m->set('phpq', 'first'), true);
$out[] = 'set2 ' . var_export($m->set('phpq', 'second'), true);
$out[] = 'get1 ' . var_export($m->get('phpq'), true);
$out[] = 'get2 ' . var_export($m->get('phpq'), true);
$out[] = 'get3 ' . var_export($m->get('phpq'), true) . ' ' . $m->getResultCode();
$out[] = 'set3 ' . var_export($m->set('phpq', 'third'), true);
$out[] = 'delete ' . var_export($m->delete('phpq'), true);
$out[] = 'delete_again ' . var_export($m->delete('phpq'), true);
$out[] = 'get_deleted ' . var_export($m->get('phpq'), true);
echo implode("\n", $out), "\n";
printf("took %.3f\n", microtime(true) - $t0);
"""
PHP_EXPECTED = ("set1 true\nset2 true\nget1 'first'\nget2 'second'\nget3 false 16\nset3 true\n"
                "delete true\ndelete_again false\nget_deleted false\n")

# Dalli in its binary protocol (the only one ruby-dalli 3.0 speaks) on a queue: set, get, delete.
RUBY_BINARY = r"""
require 'dalli'
c = Dalli::Client.new("127.0.0.1:#{ARGV[0]}", socket_timeout: 2, socket_max_failures: 1, down_retry_delay: 60)
t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
out = []
out << "set1 #{c.set('rbq', 'first', 0, raw: true) ? 'ok' : 'no'}"
out << "set2 #{c.set('rbq', 'second', 0, raw: true) ? 'ok' : 'no'}"
out << "get1 #{c.get('rbq').inspect}"
out << "get2 #{c.get('rbq').inspect}"
out << "get3 #{c.get('rbq').inspect}"
out << "set3 #{c.set('rbq', 'third', 0, raw: true) ? 'ok' : 'no'}"
out << "delete #{c.delete('rbq').inspect}"
out << "delete_again #{c.delete('rbq').inspect}"
out << "get_deleted #{c.get('rbq').inspect}"
puts out.join("\n")
printf("took %.3f\n", Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0)
"""
RUBY_EXPECTED = ('set1 ok\nset2 ok\nget1 "first"\nget2 "second"\nget3 nil\nset3 ok\n'
                 'delete true\ndelete_again nil\nget_deleted nil\n')  # Dalli's delete of a missing key is nil (memcached's too)


def other_clients(port):
    """php-memcached (binary) and Dalli against the broker port: a queue's messages in order,
    a miss on the empty queue, delete of the queue; none waits out its timeout (2 s: the nine
    requests take less than one)."""
    import subprocess
    for name, argv, expected in (("php-memcached binary", ["php", "-r", PHP_BINARY, "--", str(port)], PHP_EXPECTED),
                                 ("Dalli (binary)", ["ruby", "-e", RUBY_BINARY, str(port)], RUBY_EXPECTED)):
        try:
            r = subprocess.run(argv, capture_output=True, timeout=30)
        except FileNotFoundError as e:
            check("%s: the interpreter is installed (Tools/deps.sh test)" % name, str(e), "installed")
        out = r.stdout.decode(errors="replace")
        lines, _, took = out.rpartition("took ")
        check("%s on the broker port: set, set, get, get, get (empty), set, delete, delete, get" % name,
              (r.returncode, lines, r.stderr.decode(errors="replace")[-400:]), (0, expected, ""))
        check("%s: no request waited out a timeout (%s s for the nine)" % (name, took.strip()), float(took or "99") < 1.5, True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    port = ap.parse_args().port

    mc = pylibmc.Client([f"127.0.0.1:{port}"], binary=True)
    # libmemcached waits this long for a reply it never gets; the checks below must not need it.
    mc.behaviors = {"connect_timeout": 2000, "receive_timeout": 2000, "send_timeout": 2000}
    t0 = time.monotonic()
    check("pylibmc binary set of a message -> True", mc.set("binq", b"hello"), True)
    check("pylibmc binary get dequeues it", mc.get("binq"), b"hello")
    check("the queue is empty now: get -> None", mc.get("binq"), None)
    check("set two more", (mc.set("binq", b"one"), mc.set("binq", {"n": 2})), (True, True))
    check("get_multi (getkq + noop) takes the head of each queue", mc.get_multi(["binq", "binq_other"]), {"binq": b"one"})
    check("a pickled value keeps pylibmc's flags", mc.get("binq"), {"n": 2})
    check("reliable read: get binq/open", (mc.set("binq", b"rel"), mc.get("binq/open")), (True, b"rel"))
    check("get binq/close confirms it (nothing to return)", mc.get("binq/close"), None)
    check("delete of the queue -> True, of a queue that is gone -> False",
          (mc.delete("binq"), mc.delete("binq")), (True, False))
    check("none of these waited for a timeout", time.monotonic() - t0 < 1.5, True)
    # libmemcached keeps only the stat names it knows: that it answered is what it can show.
    check("pylibmc get_stats is answered", len(mc.get_stats()) == 1 and len(mc.get_stats()[0][1]) > 0, True)

    # Raw frames.
    r = Raw(port)
    r.send(request(0x01, key=b"rawq", extras=struct.pack(">II", 7, 0), value=b"body", opaque=1))
    check("raw set -> OK", r.response()[:3], (0x01, 0, 1))
    r.send(request(0x00, key=b"rawq", opaque=2))
    op, status, opaque, cas, extras, key, value = r.response()
    check("raw get -> OK, flags 7 as extras, the message id as CAS, the body",
          (op, status, opaque, struct.unpack(">I", extras)[0], cas > 0, value), (0x00, 0, 2, 7, True, b"body"))
    # An opcode the broker does not serve (incr) and one nobody knows (0x42), then a noop.
    r.send(request(0x05, key=b"rawq", extras=b"\0" * 20, opaque=3) + request(0x42, key=b"k", value=b"xyz", opaque=4)
           + request(0x0a, opaque=5))
    check("incr on the broker port -> Unknown command (0x81)", r.response()[:3], (0x05, 0x81, 3))
    check("opcode 0x42 -> Unknown command, its body skipped", r.response()[:3], (0x42, 0x81, 4))
    check("the connection is still usable: noop -> OK", r.response()[:3], (0x0a, 0, 5))
    r.send(request(0x10, opaque=12))
    names = {}
    while True:
        op, status, opaque, _, _, key, value = r.response()
        if not key:
            break
        names[key] = value
    check("stat -> the general and broker lines (2 queues: binq_other, rawq), then an empty one",
          (op, status, opaque, names.get(b"broker_queues"), b"broker_binary_header_invalid" in names),
          (0x10, 0, 12, b"2", True))
    r.send(request(0x10, key=b"nosuchgroup", opaque=13))
    check("stat of an unknown group -> Not found", r.response()[:3], (0x10, 0x01, 13))
    r.send(request(0x0b, opaque=6))
    op, status, opaque, _, _, _, value = r.response()
    check("version -> OK with a version string", (op, status, opaque, len(value) > 0), (0x0b, 0, 6, True))
    # A malformed header: key and extras longer than the body. Answered, then closed.
    r.send(request(0x00, key=b"rawq", body_length=2, opaque=7))
    resp = r.response()
    check("malformed header (key past the body) -> an error reply, not silence",
          resp is not None and resp[:3], (0x00, 0x81, 7))
    check("...then the connection is closed", r.closed(), True)
    r.close()
    # A get whose key is longer than 250 bytes: Invalid arguments and the close.
    r = Raw(port)
    r.send(request(0x00, key=b"q" * 300, opaque=8))
    resp = r.response()
    check("key over 250 bytes -> Invalid arguments (0x04)", resp is not None and resp[:3], (0x00, 0x04, 8))
    check("...then the connection is closed", r.closed(), True)
    r.close()
    # Bad magic after a good request: the noop is answered, then the close.
    r = Raw(port)
    r.send(request(0x0a, opaque=9) + request(0x0a, magic=0x42))
    check("noop before a bad-magic frame is answered", r.response()[:3], (0x0a, 0, 9))
    check("bad magic -> the connection is closed", r.closed(), True)
    r.close()
    # A binary blocking read is woken by a producer.
    r = Raw(port)
    r.send(request(0x00, key=b"waitq/t=3000", opaque=10))
    time.sleep(0.2)
    check("a blocking binary get (/t=3000) on an empty queue waits", mc.set("waitq", b"late"), True)
    op, status, opaque, _, _, _, value = r.response()
    check("...and is answered with the message", (op, status, opaque, value), (0x00, 0, 10, b"late"))
    r.send(request(0x00, key=b"waitq/t=200", opaque=11))
    check("a blocking read that times out -> Not found (0x01)", r.response()[:3], (0x00, 0x01, 11))
    r.close()

    topics(port, mc)
    flushes(port, mc)
    other_clients(port)

    print(f"ALL {rawconn.CHECKS} BROKER BINARY CHECKS PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
