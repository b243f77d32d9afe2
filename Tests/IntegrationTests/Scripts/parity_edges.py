#!/usr/bin/env python3
"""Malformed and extreme requests, sent the same way to any memcached-protocol server, with every
reply printed (one `case <name>: <reply>` line per case) so that two servers' outputs can be
compared line by line. BlackBoxTests runs it against swiftcached and, when /usr/bin/memcached
exists, against memcached 1.6.18, and requires the outputs to be equal except for the cases in
ALLOWED_DIFFERENCES below (printed with their reason, never compared).

What it covers (issue 12): keys with control bytes and a NUL in the line, flags and exptimes
past 32 bits, byte counts, `mg ... T<huge>`, `verbosity`, `slabs reassign` / `automove`,
`cache_memlimit`, `lru temp_ttl`, meta flags memcached 1.6.18 does not have (E, lower-case
modes) and `ms ... MA N0`, a get naming one item more than 60,000 times, `version`, and the
largest storable value at the boundary for several key lengths and flags under the server's -I
and CAS setting (read from `stats settings`).

Each case sends its bytes then `mn\\r\\n` and reads up to the `MN\\r\\n` that answers it, so a
reply is read whole without sleeping. Loopback only.

Usage: parity_edges.py --port P [--host 127.0.0.1]
"""

import argparse
import socket
import struct
import sys
import time

IO_TIMEOUT = 10.0

# Cases whose replies may differ, with why. Everything else must be equal to memcached's.
ALLOWED_DIFFERENCES = {
    # README, "Differences from memcached, on purpose": memcached 1.6.18 keeps the low 32 bits of
    # the byte count (4294967297 reads 1 byte and parses the rest of the data as commands).
    "byte count 2^32+1": "a byte count of 2^32 or more is refused (README)",
}


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        self.port = port
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        self.sock.close()

    def request(self, data):
        """Sends data + `mn`, returns everything answered before `MN`."""
        self.sock.sendall(data + b"mn\r\n")
        deadline = time.monotonic() + IO_TIMEOUT
        while True:
            # A reply ends with "\r\n"; MN is the last one, at the start of a line.
            i = self.buf.find(b"MN\r\n")
            while i > 0 and self.buf[i - 2:i] != b"\r\n":
                i = self.buf.find(b"MN\r\n", i + 1)
            if i >= 0:
                out, self.buf = self.buf[:i], self.buf[i + 4:]
                return out
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError("no MN within %.0f s; got %r" % (IO_TIMEOUT, self.buf[-200:]))
            self.sock.settimeout(remaining)
            d = self.sock.recv(1 << 20)
            if not d:
                raise RuntimeError("connection closed; got %r" % self.buf[-200:])
            self.buf += d

    def stats(self, sub=b""):
        reply = self.request(b"stats " + sub + b"\r\n" if sub else b"stats\r\n")
        out = {}
        for line in reply.split(b"\r\n"):
            parts = line.split(b" ", 2)
            if len(parts) == 3 and parts[0] == b"STAT":
                out[parts[1].decode()] = parts[2].decode()
        return out


CASES = 0


def show(name, reply):
    global CASES
    CASES += 1
    why = ALLOWED_DIFFERENCES.get(name)
    tag = " [allowed difference: %s]" % why if why else ""
    print("case %s%s: %r" % (name, tag, reply))
    sys.stdout.flush()


def case(c, name, data):
    show(name, c.request(data))


# --------------------------------------------------------------------------
# First, while both servers are empty: slab page moves depend on which classes hold pages.
def t_slabs(c):
    for args in (b"-1 5", b"99999999999 1", b"1 99999999999", b"4294967297 1", b"x 1", b"1 1",
                 b"0 3", b"99 99", b"-2 3", b"2 3", b"1 0"):
        case(c, "slabs reassign " + args.decode(), b"slabs reassign " + args + b"\r\n")
    for args in (b"3", b"-1", b"x", b"4294967296", b"1"):
        case(c, "slabs automove " + args.decode(), b"slabs automove " + args + b"\r\n")


def t_keys(c):
    for name, key in (("SOH", b"a\x01b"), ("tab", b"a\tb"), ("DEL", b"a\x7fb"), ("CR inside", b"a\rb"),
                      ("high bytes", b"\xff\xfe"), ("control only", b"\x01\x02\x03"),
                      ("250 bytes with controls", b"\x01" * 250)):
        case(c, "key %s: set, get, gets count, delete" % name,
             b"set " + key + b" 0 0 1\r\nx\r\nget " + key + b"\r\ntouch " + key + b" 0\r\n"
             b"incr " + key + b" 1\r\ndelete " + key + b"\r\nget " + key + b"\r\n")
        case(c, "key %s: meta" % name,
             b"ms " + key + b" 2 T0\r\nhi\r\nmg " + key + b" v s k\r\nma " + key + b" N0 J7\r\n"
             b"md " + key + b" q\r\nmg " + key + b" v\r\n")
    # A key set in base64 (ms b) is returned so by a hit's k whatever the get's b, a key set plain
    # is returned plain; a miss's k and ms/md/ma's own k follow the request; an append, a
    # prepend or a plain set stores the key plain again (memcached 1.6.18's ITEM_KEY_BINARY).
    case(c, "meta base64 key: k of a hit follows how the item was stored",
         b"ms YjY0aw== 1 b k\r\nx\r\nmg b64k v k\r\nmg YjY0aw== b k O1\r\nmg b64k k q\r\n"
         b"md b64k k q\r\nmg b64k k\r\nmg YjY0aw== b k\r\n"
         b"set b64k 0 0 1\r\n5\r\nmg YjY0aw== b k v\r\nma YjY0aw== b k v\r\n"
         b"ms YjY0aw== 1 b\r\n5\r\nincr b64k 1\r\ntouch b64k 100\r\nmg b64k k v t\r\nma b64k k\r\nmg b64k k\r\n"
         b"append b64k 0 0 1\r\ny\r\nmg b64k k v\r\n"
         b"ms YjY0aw== 1 b\r\nx\r\nms YjY0aw== 1 b MP\r\nz\r\nmg b64k k v\r\n"
         b"ms YjY0aw== 1 b\r\nx\r\nms b64k 1 k\r\ny\r\nmg b64k k\r\n"
         b"md b64k q\r\nmg YjY0aw== b k N30\r\nmg YjY0aw== b k\r\nmd b64k q\r\n")
    case(c, "key 251 bytes of controls", b"set " + b"\x01" * 251 + b" 0 0 1\r\nx\r\n")
    case(c, "NUL ends the line: set", b"set nul\x00x 0 0 1\r\nx\r\n")
    case(c, "NUL ends the line: get", b"set nul 0 0 1\r\nz\r\nget nul\x00ignored\r\nget nul\x00 nul\r\n")
    case(c, "NUL ends the line: version", b"version\x00junk\r\n")


def t_numbers(c):
    for flags in (b"4294967296", b"4294967297", b"4294967295", b"18446744073709551615",
                  b"18446744073709551616", b"-1", b"-0", b"+5", b"\t5", b"6\tz", b"0x10", b"1e3"):
        case(c, "flags %r" % flags, b"set fl " + flags + b" 0 3\r\nabc\r\nget fl\r\n")
    for exptime in (b"2147483648", b"4294967295", b"4294967296", b"-2147483649",
                    b"9223372036854775807", b"9223372036854775808", b"-1", b"+0"):
        case(c, "exptime %r" % exptime, b"set ex 0 " + exptime + b" 1\r\na\r\nget ex\r\n")
    for count in (b"-1", b"2147483646x", b"+1", b"1\t", b"99999999999999999999"):
        case(c, "byte count %r" % count, b"set bc 0 0 " + count + b"\r\na\r\nget bc\r\n")
    case(c, "byte count 2^32+1", b"set bc 0 0 4294967297\r\na\r\nget bc\r\n")
    case(c, "cas unique -1 and 2^64", b"cas cu 0 0 1 -1\r\na\r\ncas cu 0 0 1 18446744073709551616\r\na\r\n")
    case(c, "touch 2^32", b"set tt 0 0 1\r\na\r\ntouch tt 4294967296\r\ntouch tt 9223372036854775808\r\nget tt\r\n")
    case(c, "gat 2^32", b"set tt 0 0 1\r\na\r\ngat 4294967296 tt\r\ngat 4294967295 tt\r\nget tt\r\n")
    case(c, "incr and decr numbers",
         b"set n 0 0 1\r\n5\r\nincr n -1\r\nincr n +2\r\ndecr n 18446744073709551616\r\n"
         b"incr n 18446744073709551615\r\nget n\r\n")
    for level in (b"1099511627776", b"-1", b"99999999999999999999", b"x", b"1 2", b"0 noreply", b"4294967296"):
        case(c, "verbosity %r" % level, b"verbosity " + level + b"\r\n")
    case(c, "verbosity alone", b"verbosity\r\n")


def t_rejected_stores(c):
    # memcached 1.6.18 reads the data block after a refusal only when the command line was
    # understood (too large, out of memory, a bad meta flag); after CLIENT_ERROR bad command line
    # format the data line is read as a command (ERROR).
    big = 2 * 1024 * 1024
    case(c, "set too large: data swallowed", b"set rs 0 0 %d\r\n" % big + b"v" * big + b"\r\nget rs\r\n")
    case(c, "set too large noreply: data swallowed", b"set rs 0 0 %d noreply\r\n" % big + b"v" * big + b"\r\n")
    case(c, "set too large removes the old value",
         b"set rs 0 0 1\r\na\r\nset rs 0 0 %d\r\n" % big + b"v" * big + b"\r\nget rs\r\n")
    case(c, "set key too long: data read as a command", b"set " + b"k" * 251 + b" 0 0 5\r\nhello\r\n")
    case(c, "set bad flags: data read as a command", b"set rs abc 0 5\r\nhello\r\n")
    # What Cache::Memcached sends for a key with a space (it does not check keys): the word after
    # the space is read as the flags (the client matrix runs it through both Perl clients).
    case(c, "set key with a space: data read as a command", b"set bad key 0 0 6\r\nspaced\r\nget bad\r\n")
    case(c, "set bad exptime: data read as a command", b"set rs 0 abc 5\r\nhello\r\n")
    case(c, "set too few tokens", b"set rs 0 0\r\nhello\r\n")
    case(c, "cas bad unique: data read as a command", b"cas rs 0 0 5 abc\r\nhello\r\n")
    case(c, "ms bad flag: data swallowed", b"ms rs 5 Z\r\nhello\r\nmg rs v\r\n")
    case(c, "ms too large: data swallowed", b"ms rs %d T0\r\n" % big + b"v" * big + b"\r\n")
    case(c, "ms bad length", b"ms rs abc\r\nhello\r\n")


def t_meta(c):
    case(c, "mg T past 32 bits, existing item",
         b"set mt 0 0 1\r\na\r\nmg mt T99999999999\r\nmg mt v\r\n")
    case(c, "mg T past 32 bits, missing item", b"mg mt-missing T99999999999\r\n")
    case(c, "mg T 2^63", b"mg mt T9223372036854775808\r\n")
    case(c, "mg N 2^32 autovivifies", b"mg mv N4294967296 s\r\nmg mv s v\r\n")
    case(c, "ms F 2^32", b"ms mf 1 F4294967296\r\na\r\nmg mf f v\r\n")
    case(c, "ms C 2^64", b"ms mc 1 C18446744073709551616\r\na\r\n")
    for mode in (b"MA", b"MP", b"ME", b"MS", b"MR"):
        case(c, "ms nokey %s N0" % mode.decode(),
             b"ms pk" + mode + b" 3 " + mode + b" N0\r\nabc\r\nmg pk" + mode + b" v\r\n")
    case(c, "ms E0", b"ms me 1 E0\r\na\r\nmg me v\r\n")
    case(c, "ms C E", b"set me 0 0 1\r\na\r\nms me 1 C1 E5\r\nb\r\nmg me v\r\n")
    case(c, "mg md ma E", b"mg me E5\r\nmd me E5\r\nma me E5\r\n")
    for mode in (b"Ms", b"Ma", b"Me", b"Mp", b"Mr"):
        case(c, "ms lower-case mode %s" % mode.decode(), b"ms lm 1 " + mode + b"\r\na\r\n")
    case(c, "ma modes", b"set am 0 0 1\r\n5\r\nma am M+\r\nma am MI\r\nma am Mi\r\nma am M-\r\n"
         b"ma am MD\r\nma am Md\r\nma am v\r\n")


def t_admin(c):
    for mb in (b"99999999", b"18446744073709551615", b"18446744073709551616", b"4294967296",
               b"17592186044415", b"7", b"8", b"-1", b"x", b"1000000000", b"1000000001", b"64 noreply"):
        case(c, "cache_memlimit %s" % mb.decode(), b"cache_memlimit " + mb + b"\r\n")
    case(c, "cache_memlimit back to 64", b"cache_memlimit 64\r\n")
    for ttl in (b"4294967295", b"-1", b"9223372036854775808", b"x", b"61"):
        case(c, "lru temp_ttl %s" % ttl.decode(), b"lru temp_ttl " + ttl + b"\r\n")
    case(c, "version", b"version\r\n")


def t_many_gets(c):
    # How many values come back depends on the references to the item at that moment: a
    # background thread of either server (its LRU maintainer or crawler) holding one for an
    # instant lowers the count by one (a loaded CI run saw 59,998 against 59,999). The most of
    # three measurements is the count with no other reference.
    best = None
    for attempt in range(3):
        before = c.stats()
        reply = c.request(b"set many 0 0 1\r\na\r\nget" + b" many" * 60005 + b"\r\n")
        after = c.stats()
        values = reply.count(b"VALUE many 0 1\r\na\r\n")
        measured = (values, reply[-40:],
                    (int(after["get_hits"]) - int(before["get_hits"]), int(after["get_misses"]) - int(before["get_misses"])))
        if best is None or values > best[0]:
            best = measured
    show("get naming one item 60005 times: values", best[0])
    show("get naming one item 60005 times: ends", best[1])
    show("get naming one item 60005 times: hits and misses", best[2])
    case(c, "after the big get", b"get many\r\n")


def t_item_size(c):
    s = c.stats(b"settings")
    item_max = int(s["item_size_max"])
    cas = s["cas_enabled"] == "yes"
    # memcached's item: 48-byte header, key + NUL, 4 bytes of flags unless 0, value + CRLF, CAS.
    for klen in (1, 10, 100, 250):
        for flags in (0, 1):
            key = (b"sz%d_" % klen + b"k" * klen)[:klen]
            largest = item_max - 48 - (klen + 1) - (4 if flags else 0) - 2 - (8 if cas else 0)
            for n, what in ((largest, "largest"), (largest + 1, "largest+1")):
                reply = c.request(b"set %s %d 0 %d\r\n" % (key, flags, n) + b"v" * n + b"\r\n")
                show("item size: key %d, flags %d, %s value" % (klen, flags, what), reply)
            reply = c.request(b"ms %s %d F%d\r\n" % (key, largest + 1, flags) + b"v" * (largest + 1) + b"\r\n")
            show("item size: key %d, flags %d, ms largest+1" % (klen, flags), reply)
    # append up to the boundary and one byte past it (the appended item keeps the old flags).
    key = b"szap"
    largest = item_max - 48 - (len(key) + 1) - 2 - (8 if cas else 0)
    reply = c.request(b"set %s 0 0 %d\r\n" % (key, largest - 10) + b"v" * (largest - 10) + b"\r\n"
                      b"append %s 0 0 10\r\n0123456789\r\nappend %s 0 0 1\r\nx\r\nmg %s s\r\n" % (key, key, key))
    show("item size: append to the largest, then one byte past it", reply)


COUNTERS = ("cmd_get", "cmd_set", "cmd_touch", "get_hits", "get_misses", "touch_hits", "touch_misses", "total_items")


def binary_frame(opcode, key, extras=b"", value=b""):
    body = extras + key + value
    return struct.pack(">BBHBBHIIQ", 0x80, opcode, len(key), len(extras), 0, 0, len(body), 0, 0) + body


def binary_requests(port, frames):
    """Binary requests sent at once on their own connection; returns the last reply's status
    (memcached's header)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    try:
        s.sendall(b"".join(frames))
        reply = b""
        status = None
        for _ in frames:
            while len(reply) < 24 or len(reply) < 24 + struct.unpack(">I", reply[8:12])[0]:
                d = s.recv(1 << 16)
                if not d:
                    raise RuntimeError("binary reply cut short: %r" % reply)
                reply += d
            status = struct.unpack(">H", reply[6:8])[0]
            reply = reply[24 + struct.unpack(">I", reply[8:12])[0]:]
        return status
    finally:
        s.close()


def binary_request(port, opcode, key, extras=b"", value=b""):
    """One binary request on its own connection; returns its reply's status (memcached's header)."""
    return binary_requests(port, [binary_frame(opcode, key, extras, value)])


def t_counters(c, port):
    """Which get/touch/set counters each command moves (issue 12 audit): gat and binary touches
    count as touches only, mg with T as a touch when it finds (or creates) the item and as a get
    when it misses, and a store refused for its size is not a set."""
    def counters():
        st = c.stats()
        return {k: int(st[k]) for k in COUNTERS}
    c.request(b"set ct 0 0 1\r\n1\r\n")
    text = [b"gat 0 ct-miss\r\n", b"gats 10 ct\r\n", b"mg ct T30 v\r\n", b"mg ct-miss T30\r\n",
            b"mg ct-viv N30 T30 v\r\n", b"mg ct-viv2 N30\r\n", b"mg ct v\r\n",
            b"set ct-big 0 0 2000000 noreply\r\n" + b"x" * 2000000 + b"\r\n",
            b"ms ct-big 2000000 q\r\n" + b"x" * 2000000 + b"\r\n"]
    for request in text:
        before = counters()
        c.request(request)
        after = counters()
        show("counters: %r" % request[:28], {k: after[k] - before[k] for k in COUNTERS if after[k] != before[k]})
    binary = [("GAT hit", 0x1D, b"ct", b"\0\0\0\x0a", b""), ("GAT miss", 0x1D, b"ct-miss", b"\0\0\0\x0a", b""),
              ("TOUCH", 0x1C, b"ct", b"\0\0\0\x0a", b""), ("GETK", 0x0C, b"ct", b"", b""),
              ("SET too large", 0x01, b"ct-big", b"\0" * 8, b"x" * 2000000)]
    for name, opcode, key, extras, value in binary:
        before = counters()
        status = binary_request(port, opcode, key, extras, value)
        after = counters()
        show("counters: binary %s" % name,
             (status, {k: after[k] - before[k] for k in COUNTERS if after[k] != before[k]}))


def t_flush_last(c):
    case(c, "flush_all 2^32", b"set fa 0 0 1\r\na\r\nflush_all 4294967296\r\nget fa\r\n")
    case(c, "flush_all -1", b"set fa 0 0 1\r\na\r\nflush_all -1\r\nget fa\r\n")
    # memcached's flush_all takes a CAS unique (oldest_cas = get_cas_id()) when its mark is in
    # force now (no delay, 0, 1) and none for a later one (1000, then overridden by the next): the
    # step between the uniques `ms ... c` returns for two stores around each flush (0 under -C).
    for arg in (b" 1000", b" 1", b"", b" 0"):
        reply = c.request(b"ms fc 1 c\r\na\r\nflush_all" + arg + b"\r\nms fc 1 c\r\nb\r\n")
        uniques = [int(w[1:]) for w in reply.split() if w.startswith(b"c")]
        show("flush_all%s: CAS step over it" % arg.decode(),
             uniques[1] - uniques[0] if len(uniques) == 2 else reply)
    # Last (a flush in force): memcached's lookup counts the flushed item it meets in get_flushed
    # whatever the command (text touch, delete, incr, decr, md, ma; binary GET, GAT, TOUCH, DELETE,
    # INCR), not only for get/gat/mg. Each key is set and flushed in the same write as its command, so
    # that neither server's crawler or maintainer reclaims it first.
    cases = (("touch", b"touch cf-touch 0\r\n", None),
             ("delete", b"delete cf-del\r\n", None),
             ("incr", b"incr cf-incr 1\r\n", None),
             ("decr", b"decr cf-decr 1\r\n", None),
             ("md", b"md cf-md\r\n", None),
             ("ma", b"ma cf-ma\r\n", None),
             ("binary GET", b"cf-get", (0x00, b"")),
             ("binary GAT", b"cf-gat", (0x1D, b"\0\0\0\0")),
             ("binary TOUCH", b"cf-btouch", (0x1C, b"\0\0\0\0")),
             ("binary DELETE", b"cf-bdel", (0x04, b"")),
             ("binary INCR", b"cf-bincr", (0x05, struct.pack(">QQI", 1, 0, 0xFFFFFFFF))))
    # Even so a background thread (memcached's and swiftcached's LRU maintainer both reclaim a
    # flushed item they meet at a list's tail) can take the item between the flush and the command
    # on a loaded machine; the command then finds no item and counts no get_flushed. Such a case
    # is measured again, up to three times.
    counted = ("get_flushed", "get_expired", "get_misses", "touch_misses", "delete_misses", "incr_misses", "decr_misses")
    for name, request, binary in cases:
        key = request if binary else request.split(b" ")[1].rstrip(b"\r\n")
        for attempt in range(3):
            before = c.stats()
            if binary:
                # SET, FLUSH and the command in one write, as the text cases send theirs.
                reply = binary_requests(c.port, [binary_frame(0x01, key, b"\0\0\0\0\0\0\0\0", b"1"),
                                                 binary_frame(0x08, b""), binary_frame(binary[0], key, binary[1])])
            else:
                reply = c.request(b"set %s 0 0 1\r\n1\r\nflush_all\r\n" % key + request)
            after = c.stats()
            deltas = {k: int(after[k]) - int(before[k]) for k in counted if after[k] != before[k]}
            if "get_flushed" in deltas:
                break
        show("flushed item met by %s" % name, (reply, deltas))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    a = ap.parse_args()
    if a.host not in ("127.0.0.1", "localhost"):
        print("refusing non-loopback host %s" % a.host)
        return 2
    c = Conn(a.port)
    t_counters_here = lambda conn: t_counters(conn, a.port)
    t_counters_here.__name__ = "t_counters"
    for t in (t_slabs, t_keys, t_numbers, t_rejected_stores, t_meta, t_admin, t_many_gets, t_item_size, t_counters_here, t_flush_last):
        print("--- %s" % t.__name__)
        try:
            t(c)
        except (OSError, RuntimeError) as e:
            print("FAIL %s: %r" % (t.__name__, e))
            return 1
    c.close()
    print("PARITY EDGE CASES DONE: %d cases" % CASES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
