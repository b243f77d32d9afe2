#!/usr/bin/env python3
"""Redis streams, one transcript line per case, for comparison with redis-server 7.0.

In the style of resp_zsets.py (resp_common's Conn, mb, parse): XADD's ID forms (`*`, `<ms>-*`,
explicit, redis's number reading: leading zeros, `+`, blanks), its options (NOMKSTREAM,
MAXLEN/MINID with = and ~, LIMIT) and every error in redis's words, XLEN, XRANGE/XREVRANGE (COUNT,
exclusive `(`, `-`/`+`, the ends of the ID space), XDEL, XTRIM exact and approximate over
several 100-entry nodes (redis trims whole nodes with `~`), a stream emptied by XTRIM, XDEL or
MAXLEN 0 keeping its top ID, XSETID (ENTRIESADDED, MAXDELETEDID),
XREAD (COUNT, `$`, several streams, BLOCK served by an XADD from another client or by a transaction's
XADDs (all of them), BLOCK timing out,
WRONGTYPE), the key commands on a stream (TYPE, OBJECT ENCODING, EXISTS, EXPIRE, RENAME, COPY,
SCAN TYPE, DEL), WRONGTYPE both ways, RESP3 (XREAD's map) and keyspace notifications (t class,
new, generic); consumer groups: XGROUP's subcommands and errors, XREADGROUP (`>`, history with a
deleted entry, NOACK, COUNT, BLOCK served by an XADD and timing out, NOGROUP), XACK, XPENDING
(summary, extended with IDLE and a consumer), XCLAIM (IDLE, TIME, RETRYCOUNT (below zero: ignored; the count
wrapping as redis's unsigned one), FORCE, JUSTID,
LASTID, a deleted entry dropped), XAUTOCLAIM (COUNT, JUSTID, the cursor, deleted IDs), XINFO
GROUPS (entries-read and lag through deletes, trims and SETID) and CONSUMERS, XINFO STREAM (plain
and FULL with COUNT, RESP2 and RESP3, its errors); COMMAND GETKEYS of XREAD/XREADGROUP; blocked
reads woken by RENAME, COPY, MOVE, SWAPDB (and NOGROUP when the new stream lacks the group); a
blocked XREADGROUP answered UNBLOCKED when its key is deleted, overwritten, expired, renamed, moved
or swapped away, and NOGROUP or served when a MULTI deletes the key and XADDs to it again; a
blocked read served with no entries when an XADD with MAXLEN 0 (or a transaction's XADD and XDEL)
passed its ID; XREADGROUP's largest ID read as `>`; BLOCK's and the list commands' huge and
negative timeouts (redis 7.0.15 has no "out of range"); XGROUP CREATE/SETID's options read first.

Masking: an ID made from the clock (`*`, or `<ms>-*` with the clock's ms) cannot be the same on
two servers: every ID whose milliseconds have 13 digits (1e12 <= ms < 1e13, a clock time) is
written `<clock-id>` and its bulk length `$N`. Explicit IDs in the cases are small numbers, so
nothing else of an ID is masked. XPENDING's idle time (milliseconds since the last delivery) is
written `<idle>` in its extended rows; its delivery counts are compared. XINFO STREAM's
radix-tree-keys and radix-tree-nodes (redis's radix tree; swiftcached reports its emulated node
count, on purpose) are written `<radix>`, and FULL's delivery and seen times (Unix ms) `<time>`.

Usage: resp_streams.py --port P
"""

import argparse
import re
import time

from resp_common import Conn, mb, parse, drain_events

CLOCK_ID = re.compile(rb"\$\d+\r\n1\d{12}-\d+\r\n")
# XPENDING's extended rows: [id, consumer, idle ms, deliveries]; the idle time is masked.
# XINFO CONSUMERS' idle time (milliseconds since the consumer was last seen) is masked too.
CONSUMER_IDLE = re.compile(rb"(\$4\r\nidle\r\n):\d+\r\n")
PENDING_ROW = re.compile(rb"(\*4\r\n\$\d+\r\n[0-9-]+\r\n\$\d+\r\n[^\r]*\r\n):\d+\r\n")


def count_requests(data):
    """The multibulk requests in `data` (so a case's reply count follows its requests)."""
    n, i = 0, 0
    while i < len(data):
        j = data.index(b"\r\n", i)
        args, i = int(data[i + 1:j]), j + 2
        for _ in range(args):
            j = data.index(b"\r\n", i)
            i = j + 2 + int(data[i + 1:j]) + 2
        n += 1
    return n


def mask(b):
    b = CONSUMER_IDLE.sub(rb"\1:<idle>\r\n", b)
    return PENDING_ROW.sub(rb"\1:<idle>\r\n", CLOCK_ID.sub(b"$N\r\n<clock-id>\r\n", b))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    names = ["info", "claim", "grp", "gflow", "gblk", "s", "none", "ids", "opt", "r", "del", "trim", "tr2", "empty", "set", "rd1", "rd2", "blk", "str", "keys", "keys2", "ev", "big", "r3", "wsrc", "wnog", "wl", "xst", "xst2", "mx0", "mx1", "mxg", "mxa", "maxid", "tmo", "tmo2", "tmol", "tmoz", "xg"] + ["w%d" % q for q in range(1, 8)]

    def k(name):
        return ("xs_%s" % name).encode()

    setup = Conn(args.port)
    setup.send(mb("DEL", *[k(x) for x in names]))
    setup.reply()
    setup.sock.close()

    out = []

    def case(name, requests, replies=None):
        replies = replies if replies is not None else count_requests(requests)
        c = Conn(args.port)
        c.send(requests)
        got = b"".join(c.reply() for _ in range(replies))
        out.append("%s: %r" % (name, mask(got)))
        c.sock.close()

    s, n = k("s"), k("none")
    case("basic", mb("XADD", s, "1-1", "f", "v") + mb("XADD", s, "1-2", "a", "1", "b", "2") + mb("XLEN", s) + mb("XLEN", n)
         + mb("XRANGE", s, "-", "+") + mb("XREVRANGE", s, "+", "-") + mb("XRANGE", n, "-", "+") + mb("TYPE", s)
         + mb("OBJECT", "ENCODING", s) + mb("XADD", s, "*", "c", "3") + mb("XLEN", s) + mb("XADD", s, "2-*", "x", "y")
         + mb("XADD", s, "1-3", "x", "") + mb("XADD", s, "1-3", "", "y"), 14)
    i = k("ids")
    case("ids", mb("XADD", i, "0-0", "f", "v") + mb("EXISTS", i) + mb("XADD", i, "0-1", "f", "v") + mb("XADD", i, "0-*", "f", "v")
         + mb("XADD", i, "5-*", "f", "v") + mb("XADD", i, "5-*", "f", "v") + mb("XADD", i, "5", "f", "v") + mb("XADD", i, "5-1", "f", "v")
         + mb("XADD", i, " 6", "f", "v") + mb("XADD", i, "+7-1", "f", "v") + mb("XADD", i, "007-5", "f", "v") + mb("XADD", i, "8-+3", "f", "v")
         + mb("XADD", i, "-1", "f", "v") + mb("XADD", i, "9-", "f", "v") + mb("XADD", i, "-", "f", "v") + mb("XADD", i, "+", "f", "v")
         + mb("XADD", i, "9-*-1", "f", "v") + mb("XADD", i, "x", "f", "v") + mb("XADD", i, "10.5", "f", "v") + mb("XADD", i, "1" * 128, "f", "v")
         + mb("XADD", i, "18446744073709551616-0", "f", "v") + mb("XADD", i, "18446744073709551615-*", "f", "v")
         + mb("XADD", i, "18446744073709551615-18446744073709551614", "f", "v") + mb("XADD", i, "*", "f", "v")
         + mb("XADD", i, "18446744073709551615-*", "f", "v") + mb("XADD", i, "18446744073709551615-18446744073709551615", "f", "v")
         + mb("XADD", i, "*", "f", "v") + mb("XRANGE", i, "-", "+") + mb("XRANGE", i, "9223372036854775808", "+"), 29)
    o = k("opt")
    case("xadd options", mb("XADD", o, "NOMKSTREAM", "*", "f", "v") + mb("EXISTS", o) + mb("XADD", o, "1-0") + mb("XADD", o, "1-0", "f")
         + mb("XADD", o, "1-0", "f", "v", "g") + mb("XADD", o, "MAXLEN", "-1", "1-0", "f", "v") + mb("XADD", o, "MAXLEN", "x", "1-0", "f", "v")
         + mb("XADD", o, "MAXLEN", "1", "MINID", "1", "1-0", "f", "v") + mb("XADD", o, "LIMIT", "5", "1-0", "f", "v")
         + mb("XADD", o, "LIMIT", "0", "1-0", "f", "v") + mb("XADD", o, "MAXLEN", "1", "LIMIT", "5", "1-0", "f", "v")
         + mb("XADD", o, "MAXLEN", "~", "1", "LIMIT", "-1", "1-0", "f", "v") + mb("XADD", o, "MINID", "bad", "1-0", "f", "v")
         + mb("XADD", o, "MINID", "-", "1-0", "f", "v") + mb("XADD", o, "NOMKSTREAM", "MAXLEN", "=", "2", "1-0", "f", "v")
         + mb("XADD", o, "MAXLEN", "=", "2", "1-0", "f", "v") + mb("XADD", o, "maxlen", "2", "2-0", "f", "v") + mb("XADD", o, "MAXLEN", "2", "3-0", "f", "v")
         + mb("XRANGE", o, "-", "+") + mb("XADD", o, "MINID", "3", "4-0", "f", "v") + mb("XRANGE", o, "-", "+")
         + mb("XADD", o, "NOMKSTREAM", "5-0", "f", "v") + mb("XADD", o, "MAXLEN", "~", "1", "LIMIT", "10", "6-0", "f", "v") + mb("XLEN", o)
         + mb("XADD", o, "MAXLEN", "0", "7-0", "f", "v") + mb("XLEN", o) + mb("XRANGE", o, "-", "+") + mb("EXISTS", o)
         + mb("XADD", o, "MAXLEN") + mb("XADD", o, "MAXLEN", "1") + mb("XADD", o, "NOMKSTREAM"), 31)
    r = k("r")
    fill = b"".join(mb("XADD", r, "%d-%d" % (t, q), "k%d" % t, "v%d" % q) for t in range(1, 4) for q in range(3))
    case("ranges", fill + mb("XRANGE", r, "-", "+", "COUNT", 2) + mb("XRANGE", r, "2", "2") + mb("XRANGE", r, "(1-2", "(3-0")
         + mb("XRANGE", r, "(1-2", "+", "COUNT", 1) + mb("XREVRANGE", r, "+", "-", "COUNT", 4) + mb("XREVRANGE", r, "(3-2", "(1-0")
         + mb("XREVRANGE", r, "2", "2") + mb("XRANGE", r, "3", "1") + mb("XRANGE", r, "-", "+", "COUNT", 0) + mb("XRANGE", n, "-", "+", "COUNT", 0)
         + mb("XRANGE", r, "-", "+", "COUNT", -5) + mb("XRANGE", r, "-", "+", "COUNT") + mb("XRANGE", r, "-", "+", "LIMIT", 1)
         + mb("XRANGE", r, "-", "+", "COUNT", "x") + mb("XRANGE", r, "(-", "+") + mb("XRANGE", r, "(", "+") + mb("XRANGE", r, "-", "(+")
         + mb("XRANGE", r, "(18446744073709551615-18446744073709551615", "+") + mb("XRANGE", r, "-", "(0-0")
         + mb("XRANGE", r, "(0", "+", "COUNT", 1) + mb("XRANGE", r, "-", "(2") + mb("XRANGE", r, "(2", "(2-1")
         + mb("XREVRANGE", r, "(2-1", "(2") + mb("XRANGE", r, "x", "+") + mb("XRANGE", r, "-", "x") + mb("XRANGE", r, "2-", "+")
         + mb("XRANGE", r, "2-1", "2-1") + mb("XRANGE", r, "0", "18446744073709551615") + mb("XREVRANGE", r, "-", "+"), 9 + 29)
    d = k("del")
    fill = b"".join(mb("XADD", d, "%d-0" % t, "f", t) for t in range(1, 8))
    case("xdel", fill + mb("XDEL", d, "2-0", "4", "4-0", "9-0") + mb("XLEN", d) + mb("XRANGE", d, "-", "+") + mb("XREVRANGE", d, "+", "-", "COUNT", 3)
         + mb("XDEL", d, "1-0", "bad") + mb("XLEN", d) + mb("XDEL", n, "bad") + mb("XDEL", d, "-") + mb("XDEL", d) + mb("XDEL", d, "1-0", "3", "5", "6", "7")
         + mb("XLEN", d) + mb("EXISTS", d) + mb("XRANGE", d, "-", "+") + mb("XADD", d, "7-0", "f", "v") + mb("XADD", d, "7-1", "f", "v")
         + mb("XRANGE", d, "-", "+"), 7 + 16)
    t = k("trim")
    fill = b"".join(mb("XADD", t, "%d-0" % q, "f", "v") for q in range(1, 251))
    case("xtrim", fill + mb("XTRIM", t, "MAXLEN", "~", 200) + mb("XLEN", t) + mb("XTRIM", t, "MAXLEN", "~", 140) + mb("XLEN", t)
         + mb("XRANGE", t, "-", "+", "COUNT", 1) + mb("XTRIM", t, "MAXLEN", "~", 0, "LIMIT", 50) + mb("XLEN", t)
         + mb("XTRIM", t, "MAXLEN", "=", 120) + mb("XLEN", t) + mb("XRANGE", t, "-", "+", "COUNT", 1) + mb("XTRIM", t, "MINID", "~", "200")
         + mb("XLEN", t) + mb("XTRIM", t, "MINID", "205") + mb("XLEN", t) + mb("XRANGE", t, "-", "+", "COUNT", 1)
         + mb("XTRIM", t, "MINID", "~", "300") + mb("XLEN", t) + mb("XTRIM", t, "MAXLEN", 5, "foo") + mb("XTRIM", t, "FOO", 5)
         + mb("XTRIM", t, "MAXLEN", 5, "LIMIT", 5) + mb("XTRIM", t, "LIMIT", 5, "MAXLEN", "~", 5) + mb("XTRIM", t, "MAXLEN", "~", 5, "MINID", 5)
         + mb("XTRIM", n, "MAXLEN", 1) + mb("XTRIM", t, "MAXLEN", 0) + mb("XLEN", t) + mb("EXISTS", t) + mb("XTRIM", t, "MAXLEN", "-1"), 250 + 27)
    t2 = k("tr2")
    fill = b"".join(mb("XADD", t2, "MAXLEN", "~", 150, "%d-0" % q, "f", "v") for q in range(1, 351))
    case("xadd trims nodes", fill + mb("XLEN", t2) + mb("XRANGE", t2, "-", "+", "COUNT", 1) + mb("XDEL", t2, *["%d-0" % q for q in range(201, 301)])
         + mb("XLEN", t2) + mb("XTRIM", t2, "MAXLEN", "~", 10) + mb("XLEN", t2) + mb("XRANGE", t2, "-", "+", "COUNT", 2)
         + mb("XREVRANGE", t2, "+", "-", "COUNT", 2), 350 + 8)
    # Emptied by XTRIM, XDEL or MAXLEN 0 (300 KB of entries: whole segments given back), a stream
    # keeps its top ID (redis's last-generated-id): XADD at or below it is refused, `*` and
    # `<ms>-*` go on above it.
    e = k("empty")
    big = "x" * 1000
    fill = b"".join(mb("XADD", e, "%d-0" % q, "f", big) for q in range(1, 301))
    more = b"".join(mb("XADD", e, "%d-0" % q, "f", big) for q in range(301, 601))
    case("emptied keeps its top", fill + mb("XTRIM", e, "MAXLEN", 0) + mb("XLEN", e) + mb("XADD", e, "300-0", "f", "v")
         + mb("XADD", e, "300-*", "f", "v") + more + mb("XDEL", e, *["%d-%d" % (q, 0) for q in range(301, 601)])
         + mb("XDEL", e, "300-1") + mb("XLEN", e) + mb("XADD", e, "600-0", "f", "v") + mb("XADD", e, "600-*", "f", "v")
         + mb("XADD", e, "MAXLEN", 0, "601-0", "f", "v") + mb("XLEN", e) + mb("XADD", e, "601-0", "f", "v")
         + mb("XADD", e, "*", "f", "v") + mb("XRANGE", e, "-", "+"), 300 + 4 + 300 + 10)
    st = k("set")
    case("xsetid", mb("XSETID", n, "1-1") + mb("XADD", st, "5-5", "f", "v") + mb("XSETID", st, "5-4") + mb("XSETID", st, "5-5") + mb("XSETID", st, "9-9")
         + mb("XADD", st, "9-9", "f", "v") + mb("XADD", st, "*", "f", "v") + mb("XSETID", st, "+") + mb("XSETID", st, "x")
         + mb("XSETID", st, "99-0", "ENTRIESADDED", 0) + mb("XSETID", st, "99-0", "ENTRIESADDED", -1) + mb("XSETID", st, "99-0", "ENTRIESADDED", "x")
         + mb("XSETID", st, "99-0", "MAXDELETEDID", "100-0") + mb("XSETID", st, "99-0", "FOO", 1) + mb("XSETID", st, "99-0", "ENTRIESADDED")
         + mb("XSETID", st, "18446744073709551615-18446744073709551615") + mb("XADD", st, "*", "f", "v")
         + mb("XADD", st, "18446744073709551615-*", "f", "v") + mb("XDEL", st, "5-5") + mb("XSETID", st, "1-0", "MAXDELETEDID", "0-5")
         + mb("XSETID", st, "4-0") + mb("XLEN", st), 22)
    # An ID below the max deleted one: redis 7.0 takes it (later versions refuse it), and an XADD
    # after it may take an ID between the two.
    # The counters at the top of their range wrap as redis's (entries-added unsigned, the lag signed).
    top = k("counters-top")
    case("counters at the top", mb("XADD", top, "1-1", "a", "b") + mb("XSETID", top, "2-0", "ENTRIESADDED", "9223372036854775807")
         + mb("XGROUP", "CREATE", top, "g", "0", "ENTRIESREAD", "9223372036854775807") + mb("XADD", top, "3-0", "a", "b")
         + mb("XINFO", "GROUPS", top) + mb("XREADGROUP", "GROUP", "g", "c", "STREAMS", top, ">") + mb("XINFO", "GROUPS", top)
         + mb("XGROUP", "CREATE", top, "h", "0", "ENTRIESREAD", "9223372036854775807") + mb("XINFO", "GROUPS", top))
    # WATCH sees what redis signals: XADD, and XDEL/XTRIM that removed entries; not XSETID, a
    # group command, or an XDEL/XTRIM that removed nothing (the EXEC runs).
    wk = k("watched")
    def watched(cmd):
        return (mb("DEL", wk) + mb("XADD", wk, "1-1", "a", "b") + mb("XADD", wk, "2-1", "a", "b") + mb("WATCH", wk)
                + mb(*cmd) + mb("MULTI") + mb("PING") + mb("EXEC"))
    case("watch and stream writes", b"".join(watched(c) for c in [
        ("XADD", wk, "3-1", "c", "d"), ("XADD", wk, "MAXLEN", 1, "3-1", "c", "d"), ("XDEL", wk, "1-1"), ("XDEL", wk, "7-7"),
        ("XTRIM", wk, "MAXLEN", 0), ("XTRIM", wk, "MAXLEN", 5), ("XSETID", wk, "9-9"), ("XGROUP", "CREATE", wk, "g", "0"),
        ("XLEN", wk)]))
    sd = k("setid-deleted")
    case("xsetid below max deleted", mb("XADD", sd, "1-1", "a", "b") + mb("XADD", sd, "5-1", "a", "b") + mb("XDEL", sd, "5-1")
         + mb("XSETID", sd, "2-0") + mb("XADD", sd, "3-0", "c", "d") + mb("XRANGE", sd, "-", "+") + mb("XLEN", sd))
    r1, r2 = k("rd1"), k("rd2")
    case("xread", mb("XADD", r1, "1-0", "a", 1) + mb("XADD", r1, "2-0", "b", 2) + mb("XADD", r2, "1-5", "c", 3)
         + mb("XREAD", "STREAMS", r1, r2, "0", "0") + mb("XREAD", "COUNT", 1, "STREAMS", r1, r2, "1", "0-0") + mb("XREAD", "STREAMS", r1, r2, "$", "$")
         + mb("XREAD", "STREAMS", r1, n, "2", "0") + mb("XREAD", "STREAMS", n, "0") + mb("XREAD", "STREAMS", r1) + mb("XREAD", "STREAMS", r1, r2, "0")
         + mb("XREAD", "STREAMS", r1, ">") + mb("XREAD", "STREAMS", r1, "x") + mb("XREAD", "GROUP", "g", "c", "STREAMS", r1, "0")
         + mb("XREAD", "NOACK", "STREAMS", r1, "0") + mb("XREAD", "FOO", "STREAMS", r1, "0") + mb("XREAD", "COUNT", "x", "STREAMS", r1, "0")
         + mb("XREAD", "BLOCK", "x", "STREAMS", r1, "0") + mb("XREAD", "BLOCK", "-1", "STREAMS", r1, "0") + mb("XREAD", "COUNT", 1, r1, "0")
         + mb("XREAD", "BLOCK", 0, "STREAMS", r1, "1") + mb("XREAD", "COUNT", -1, "STREAMS", r1, "1-0") + mb("XREAD", "STREAMS", r1, "18446744073709551615-18446744073709551615")
         + mb("XREAD", "streams", r1, "streams", "0", "0"), 22)
    # Blocking: a client blocked on two keys is served by an XADD from another client; another times out.
    b = k("blk")
    waiter = Conn(args.port)
    waiter.send(mb("XREAD", "BLOCK", 5000, "STREAMS", n, b, "$", "$"))
    time.sleep(0.3)
    producer = Conn(args.port)
    producer.send(mb("XADD", b, "3-0", "f", "v"))
    added = producer.reply()
    out.append("block served: %r %r" % (added, waiter.reply()))
    waiter.send(mb("XREAD", "BLOCK", 100, "STREAMS", b, "$") + mb("XREAD", "COUNT", 1, "BLOCK", 100, "STREAMS", b, "0") + mb("PING"))
    out.append("block timeout: %r" % b"".join(waiter.reply() for _ in range(3)))
    waiter.send(mb("XREAD", "BLOCK", 5000, "STREAMS", b, "3-0"))
    time.sleep(0.3)
    producer.send(mb("XADD", b, "4-0", "g", "w") + mb("XADD", b, "5-0", "h", "x"))
    producer.reply()
    producer.reply()
    out.append("block after id: %r" % waiter.reply())
    waiter.send(mb("MULTI") + mb("XREAD", "BLOCK", 0, "STREAMS", b, "$") + mb("EXEC"))
    out.append("block in multi: %r" % b"".join(waiter.reply() for _ in range(3)))
    waiter.send(mb("XREAD", "BLOCK", 5000, "STREAMS", b, "$"))
    time.sleep(0.3)
    producer.send(mb("CLIENT", "LIST"))
    producer.reply()
    producer.send(mb("HELLO", 3))
    producer.reply()
    producer.send(mb("XADD", b, "6-0", "i", "y"))
    producer.reply()
    out.append("block woken: %r" % waiter.reply())
    # A reader woken by a transaction's XADDs reads all of them: blocked clients are served after
    # the whole EXEC.
    waiter.send(mb("XREAD", "BLOCK", 5000, "STREAMS", b, "$"))
    time.sleep(0.3)
    producer.send(mb("HELLO", 2) + mb("MULTI") + mb("XADD", b, "7-0", "j", "z") + mb("XADD", b, "8-0", "k", "z") + mb("EXEC"))
    out.append("block woken by exec: %r %r" % (b"".join(producer.reply() for _ in range(5))[-40:], waiter.reply()))
    waiter.send(mb("HELLO", 3))
    waiter.reply()
    waiter.send(mb("XREAD", "BLOCK", 5000, "STREAMS", b, "$"))
    time.sleep(0.3)
    producer.send(mb("XADD", b, "7-0", "j", "z"))
    producer.reply()
    out.append("block resp3: %r" % waiter.reply())
    waiter.send(mb("XREAD", "STREAMS", b, r1, "5", "1") + mb("XREAD", "BLOCK", 50, "STREAMS", b, "$") + mb("XRANGE", b, "-", "+", "COUNT", 0)
                + mb("XADD", k("none"), "NOMKSTREAM", "*", "f", "v"))
    out.append("resp3: %r" % b"".join(waiter.reply() for _ in range(4)))
    for x in (waiter, producer):
        x.sock.close()
    # A stream put under a key by RENAME, COPY, MOVE or SWAPDB serves the clients blocked on it
    # (redis's ready keys), as XADD does; a list put there does not; a group read whose group the
    # new stream lacks, or whose group XGROUP DESTROY removed, answers NOGROUP.
    src = k("wsrc")
    c = Conn(args.port)
    c.send(mb("XADD", src, "5-0", "f", "v") + mb("XGROUP", "CREATE", src, "g", "0") + mb("XADD", k("wnog"), "1-0", "a", "b")
           + mb("XGROUP", "CREATE", k("w2"), "g", "$", "MKSTREAM") + mb("XGROUP", "CREATE", k("w3"), "g", "$", "MKSTREAM")
           + mb("XGROUP", "CREATE", k("w4"), "g", "$", "MKSTREAM") + mb("SELECT", 1) + mb("DEL", k("w5"), k("w6"))
           + mb("XADD", k("w6"), "1-0", "a", "b") + mb("SELECT", 0))
    for _ in range(9):
        c.reply()
    c.sock.close()

    def woken(name, request, action, skip=0):
        """`skip`: replies of the waiter's request read before the one the action serves."""
        waiter = Conn(args.port)
        waiter.send(request)
        for _ in range(skip):
            waiter.reply()
        time.sleep(0.3)
        actor = Conn(args.port)
        actor.send(action)
        did = b"".join(actor.reply() for _ in range(count_requests(action)))
        waiter.sock.settimeout(5)
        out.append("%s: %r %r" % (name, did, waiter.reply()))
        for x in (waiter, actor):
            x.sock.close()

    w1, w2, w3, w4, w5, w6, w7 = (k("w%d" % q) for q in range(1, 8))
    woken("copy wakes", mb("XREAD", "BLOCK", 2000, "STREAMS", w1, "$"), mb("COPY", src, w1))
    woken("copy below id", mb("XREAD", "BLOCK", 300, "STREAMS", w1, "5-0"), mb("DEL", w1) + mb("COPY", src, w1))
    woken("copy replace group", mb("XREADGROUP", "GROUP", "g", "c", "BLOCK", 2000, "STREAMS", w2, ">"), mb("COPY", src, w2, "REPLACE"))
    woken("rename nogroup", mb("XREADGROUP", "GROUP", "g", "c", "BLOCK", 2000, "STREAMS", w3, ">"), mb("RENAME", k("wnog"), w3))
    woken("destroy nogroup", mb("XREADGROUP", "GROUP", "g", "c", "BLOCK", 2000, "STREAMS", w4, ">"), mb("XGROUP", "DESTROY", w4, "g"))
    # A parked XREADGROUP whose key lets go of its stream (deleted, overwritten, expired, renamed
    # or moved away): -UNBLOCKED, as redis 7.0's unblockDeletedStreamReadgroupClients; with a
    # stream under the key again by then, served or NOGROUP; a plain XREAD stays blocked.
    gone = [k("gone%d" % q) for q in range(11)]
    c = Conn(args.port)
    c.send(b"".join(mb("XGROUP", "CREATE", g, "g", "$", "MKSTREAM") for g in gone))
    for _ in gone:
        c.reply()
    c.sock.close()

    def group_read(*keys):
        return mb("XREADGROUP", "GROUP", "g", "c", "BLOCK", 2000, "STREAMS", *keys, *(">" for _ in keys))
    woken("del unblocks", group_read(gone[0]), mb("DEL", gone[0]))
    woken("set unblocks", group_read(gone[1]), mb("SET", gone[1], "x"))
    woken("rename away unblocks", group_read(gone[2]), mb("RENAME", gone[2], k("gone-to")))
    woken("move away unblocks", group_read(gone[3]), mb("MOVE", gone[3], 2))
    # Expired, found by a read (the BLPOP only lets 200 ms pass on the actor's connection).
    woken("expiry unblocks", group_read(gone[4]),
          mb("PEXPIRE", gone[4], 50) + mb("BLPOP", k("gone-wait"), "0.2") + mb("EXISTS", gone[4]))
    # A DEL and an XADD of the key in one MULTI: redis serves its blocked clients after the EXEC,
    # so the reader finds a stream without its group (NOGROUP), or with it (served). 200 PINGs
    # between the two keep the EXEC running while the woken reader's own worker resumes it.
    pings = b"".join(mb("PING") for _ in range(200))
    woken("multi del xadd nogroup", group_read(gone[9]),
          mb("MULTI") + mb("DEL", gone[9]) + pings + mb("XADD", gone[9], "1-1", "a", "b") + mb("EXEC"))
    woken("multi del xadd group", group_read(gone[10]),
          mb("MULTI") + mb("DEL", gone[10]) + pings + mb("XADD", gone[10], "1-1", "a", "b")
          + mb("XGROUP", "CREATE", gone[10], "g", "0") + mb("EXEC"))
    woken("renamed over", group_read(gone[5]), mb("XADD", k("gone-src"), "1-1", "a", "b") + mb("RENAME", k("gone-src"), gone[5]))
    woken("second key deleted", group_read(gone[6], gone[7]), mb("DEL", gone[7]))
    woken("xread stays blocked", mb("XREAD", "BLOCK", 300, "STREAMS", gone[8], "$"), mb("DEL", gone[8]))
    # A block's read once a producer readied its key is served whenever the stream's top ID passed
    # the read's ID (the group's last ID for `>`), as redis 7.0's serveClientsBlockedOnStreamKey:
    # after an XADD with MAXLEN 0, or a transaction's XADD and XDEL, with the key and no entries.
    mx0, mx1, mxg = k("mx0"), k("mx1"), k("mxg")
    woken("maxlen 0 wakes", mb("XREAD", "BLOCK", 2000, "STREAMS", mx0, "$"), mb("XADD", mx0, "MAXLEN", 0, "1-0", "f", "v"))
    woken("maxlen 0 wakes second key", mb("XREAD", "COUNT", 1, "BLOCK", 2000, "STREAMS", n, mx0, "$", "$"),
          mb("XADD", mx0, "MAXLEN", 0, "2-0", "f", "v"))
    woken("maxlen 0 wakes resp3", mb("HELLO", 3) + mb("XREAD", "BLOCK", 2000, "STREAMS", mx0, "$"),
          mb("XADD", mx0, "MAXLEN", 0, "3-0", "f", "v"), skip=1)
    # Only the readied key is served by its top: another key whose entries after the read's ID
    # were deleted is not served with no entries.
    mxa = k("mxa")
    case("deleted top", mb("XADD", mxa, "10-0", "f", "v") + mb("XDEL", mxa, "10-0"))
    woken("maxlen 0 wakes readied key only", mb("XREAD", "BLOCK", 2000, "STREAMS", mxa, mx0, "5-0", "$"),
          mb("XADD", mx0, "MAXLEN", 0, "9-0", "f", "v"))
    woken("exec xadd xdel wakes", mb("XREAD", "BLOCK", 2000, "STREAMS", mx1, "$"),
          mb("MULTI") + mb("XADD", mx1, "1-0", "f", "v") + mb("XDEL", mx1, "1-0") + mb("EXEC"))
    # A reader of two streams woken by a transaction that added to the second, then the first:
    # the key readied first answers, alone (redis serves each readied key in turn).
    ts, tt = k("two-s"), k("two-t")
    case("two streams", mb("XADD", ts, "1-0", "a", "1") + mb("XADD", tt, "1-0", "a", "1"))
    woken("exec readies second key first", mb("XREAD", "BLOCK", 2000, "STREAMS", ts, tt, "$", "$"),
          mb("MULTI") + mb("XADD", tt, "2-0", "b", "2") + mb("XADD", ts, "2-0", "b", "2") + mb("EXEC"))
    woken("maxlen 0 wakes group", mb("XGROUP", "CREATE", mxg, "g", "$", "MKSTREAM")
          + mb("XREADGROUP", "GROUP", "g", "c", "BLOCK", 2000, "STREAMS", mxg, ">"),
          mb("XADD", mxg, "MAXLEN", 0, "1-0", "f", "v"), skip=1)
    case("after maxlen 0 wakes", mb("XINFO", "GROUPS", mxg) + mb("XINFO", "CONSUMERS", mxg, "g") + mb("XLEN", mx0) + mb("XLEN", mx1))
    # XREADGROUP's largest ID is `>` (redis keeps `>` as that ID): new entries, blocking as `>`.
    mg = k("maxid")
    top = "18446744073709551615-18446744073709551615"
    case("readgroup largest id", mb("XADD", mg, "1-0", "a", "b") + mb("XGROUP", "CREATE", mg, "g", "0")
         + mb("XREADGROUP", "GROUP", "g", "c", "STREAMS", mg, top) + mb("XREADGROUP", "GROUP", "g", "c", "STREAMS", mg, top)
         + mb("XREADGROUP", "GROUP", "g", "c", "STREAMS", mg, "18446744073709551615")
         + mb("XREADGROUP", "GROUP", "g", "c", "STREAMS", mg, "18446744073709551615-18446744073709551614")
         + mb("XREADGROUP", "GROUP", "g", "c", "STREAMS", mg, "0") + mb("XPENDING", mg, "g") + mb("XINFO", "GROUPS", mg)
         + mb("XREADGROUP", "GROUP", "g", "c", "BLOCK", 100, "STREAMS", mg, top)
         + mb("XREAD", "STREAMS", mg, top) + mb("XREADGROUP", "GROUP", "g", "c", "NOACK", "STREAMS", mg, mg, top, ">"))
    woken("largest id blocks as >", mb("XREADGROUP", "GROUP", "g", "c2", "BLOCK", 2000, "STREAMS", mg, top),
          mb("XADD", mg, "2-0", "c", "d"))
    # BLOCK's timeout (redis 7.0.15's getTimeoutFromObjectOrReply): any long long from 0 up, no
    # "out of range" (that is 7.2's); a huge one blocks for ever. The list and sorted-set blocking
    # commands read seconds as a long double: past LLONG_MAX ms it is "negative".
    tm, tl, tz = k("tmo"), k("tmol"), k("tmoz")
    case("block timeouts", mb("XADD", tm, "1-1", "f", "v") + mb("XREAD", "BLOCK", "9223372036854775807", "STREAMS", tm, "0")
         + mb("XREAD", "BLOCK", "9223372036854775806", "STREAMS", tm, "0") + mb("XREAD", "BLOCK", "9000000000000000000", "STREAMS", tm, "0")
         + mb("XREAD", "BLOCK", "9223372036854775808", "STREAMS", tm, "0") + mb("XREAD", "BLOCK", "-9223372036854775808", "STREAMS", tm, "0")
         + mb("XREAD", "BLOCK", "1.5", "STREAMS", tm, "0") + mb("XGROUP", "CREATE", tm, "g", "0")
         + mb("XREADGROUP", "GROUP", "g", "c", "BLOCK", "9223372036854775807", "STREAMS", tm, ">")
         + mb("XREADGROUP", "GROUP", "g", "c", "BLOCK", "-1", "STREAMS", tm, ">")
         + mb("RPUSH", tl, "a", "b", "c", "d", "e") + mb("BLPOP", tl, "9223372036854775") + mb("BRPOP", tl, "9223372036854775.5")
         + mb("BLMOVE", tl, tl, "LEFT", "RIGHT", "9223372036854775") + mb("BLMPOP", "9223372036854775", 1, tl, "LEFT")
         + mb("BLPOP", tl, "9223372036854776") + mb("BLPOP", tl, "1e300") + mb("BLPOP", tl, "inf") + mb("BLPOP", tl, "nan")
         + mb("ZADD", tz, 1, "a", 2, "b") + mb("BZPOPMIN", tz, "9223372036854775") + mb("BZMPOP", "9223372036854775", 1, tz, "MAX")
         + mb("WAIT", 0, "abc") + mb("WAIT", 0, "9223372036854775807") + mb("WAIT", 0, "-1") + mb("DEL", tl, tz))
    woken("huge block served", mb("XREAD", "BLOCK", "9223372036854775807", "STREAMS", k("tmo2"), "$"),
          mb("XADD", k("tmo2"), "1-0", "f", "v"))
    woken("huge blpop served", mb("BLPOP", tl, "9223372036854775"), mb("RPUSH", tl, "x"))
    # XGROUP CREATE's and SETID's options are read before the key, the group, the ID and the
    # argument count (redis 7.0.15's xgroupCommand): an ENTRIESREAD value's error comes first.
    xg = k("xg")
    case("xgroup options first", mb("XADD", xg, "1-1", "f", "v") + mb("XGROUP", "CREATE", xg, "g", "0")
         + mb("XGROUP", "SETID", xg, "g", "0", "ENTRIESREAD", "1.5", "9") + mb("XGROUP", "SETID", xg, "g", "0", "ENTRIESREAD", "-5", "9")
         + mb("XGROUP", "SETID", xg, "g", "0", "ENTRIESREAD", "5", "9") + mb("XGROUP", "SETID", xg, "g", "0", "ENTRIESREAD", "5", "ENTRIESREAD", "1.5")
         + mb("XGROUP", "SETID", xg, "g", "0", "ENTRIESREAD", "5", "ENTRIESREAD", "6") + mb("XGROUP", "SETID", xg, "g", "0", "FOO")
         + mb("XGROUP", "SETID", xg, "g", "0", "ENTRIESREAD") + mb("XGROUP", "SETID", xg, "g", "0", "MKSTREAM")
         + mb("XGROUP", "SETID", n, "g", "0", "ENTRIESREAD", "1.5", "9") + mb("XGROUP", "SETID", xg, "nogroup", "0", "ENTRIESREAD", "1.5")
         + mb("XGROUP", "SETID", xg, "nogroup", "0", "ENTRIESREAD", "5", "9") + mb("XGROUP", "SETID", xg, "g", "bad", "ENTRIESREAD", "1.5", "9")
         + mb("XGROUP", "SETID", xg, "g", "bad", "ENTRIESREAD", "3", "ENTRIESREAD", "4") + mb("XGROUP", "SETID", xg, "g", "0", "ENTRIESREAD", "9223372036854775808")
         + mb("XGROUP", "SETID", xg, "g", "0", "entriesread", "-1") + mb("XGROUP", "SETID", xg, "g", "1-1", "ENTRIESREAD", "3")
         + mb("XINFO", "GROUPS", xg)
         + mb("XGROUP", "CREATE", xg, "g2", "0", "ENTRIESREAD", "1.5", "9") + mb("XGROUP", "CREATE", n, "g", "0", "ENTRIESREAD", "1.5", "9")
         + mb("XGROUP", "CREATE", n, "g", "0", "ENTRIESREAD", "3", "9") + mb("XGROUP", "CREATE", n, "g", "0", "MKSTREAM", "ENTRIESREAD", "3", "MKSTREAM")
         + mb("XGROUP", "CREATE", xg, "g2", "0", "MKSTREAM", "MKSTREAM", "MKSTREAM", "MKSTREAM") + mb("XGROUP", "CREATE", xg, "g", "0", "ENTRIESREAD", "3")
         + mb("EXISTS", n) + mb("XGROUP", "DESTROY", xg, "g", "extra") + mb("XGROUP", "CREATECONSUMER", xg, "g", "c", "extra")
         + mb("XGROUP", "DELCONSUMER", xg, "g", "c", "extra") + mb("XGROUP", "SETID", xg, "g") + mb("XINFO", "GROUPS", xg))
    c = Conn(args.port)
    c.send(mb("DEL", *gone, k("gone-to")) + mb("SELECT", 2) + mb("DEL", gone[3]) + mb("SELECT", 0))
    for _ in range(4):
        c.reply()
    c.sock.close()
    woken("rename wakes", mb("XREAD", "BLOCK", 2000, "STREAMS", n, w7, "$", "$"), mb("RENAME", w1, w7))
    woken("move wakes", mb("XREAD", "BLOCK", 2000, "STREAMS", w5, "$"),
          mb("SELECT", 1) + mb("XADD", w5, "1-0", "a", "b") + mb("MOVE", w5, 0))
    # One SWAPDB wakes the reader; the swap back comes after its reply (a second SWAPDB pipelined
    # right behind the first can run before the woken reader's worker reads: README).
    woken("swapdb wakes", mb("XREAD", "BLOCK", 2000, "STREAMS", w6, "$"), mb("SWAPDB", 0, 1))
    c = Conn(args.port)
    c.send(mb("SWAPDB", 0, 1))
    c.reply()
    c.sock.close()
    # A SWAPDB that takes the stream away from under a blocked XREADGROUP: UNBLOCKED (redis 7.0's
    # scanDatabaseForDeletedStreams; it hung with BLOCK 0), then swapped back and deleted.
    swapped = k("gone-swap")
    c = Conn(args.port)
    c.send(mb("XGROUP", "CREATE", swapped, "g", "$", "MKSTREAM"))
    c.reply()
    c.sock.close()
    woken("swapdb away unblocks", mb("XREADGROUP", "GROUP", "g", "c", "BLOCK", 0, "STREAMS", swapped, ">"), mb("SWAPDB", 0, 1))
    c = Conn(args.port)
    c.send(mb("SWAPDB", 0, 1) + mb("DEL", swapped))
    c.reply()
    c.reply()
    c.sock.close()
    woken("list not", mb("XREAD", "BLOCK", 300, "STREAMS", k("wl"), "$"), mb("RPUSH", k("wl"), "x"))
    woken("multi rename", mb("XREAD", "BLOCK", 2000, "STREAMS", w1, "$"),
          mb("MULTI") + mb("RENAME", w7, w1) + mb("EXEC"))
    c = Conn(args.port)
    c.send(mb("SELECT", 1) + mb("DEL", w5, w6) + mb("SELECT", 0))
    for _ in range(3):
        c.reply()
    c.sock.close()

    sk = k("str")
    case("wrongtype", mb("SET", sk, "x") + mb("XADD", sk, "*", "f", "v") + mb("XLEN", sk) + mb("XRANGE", sk, "-", "+") + mb("XREVRANGE", sk, "+", "-")
         + mb("XDEL", sk, "1-0") + mb("XTRIM", sk, "MAXLEN", 1) + mb("XSETID", sk, "1-0") + mb("XREAD", "STREAMS", sk, "0")
         + mb("XREAD", "STREAMS", s, sk, "0", "bad") + mb("XADD", sk, "NOMKSTREAM", "*", "f", "v") + mb("GET", s) + mb("LPUSH", s, "x")
         + mb("HSET", s, "f", "v") + mb("INCR", s), 15)
    # (SCAN's order is each server's hash table's: one stream key matches.)
    ky, ky2 = k("keys"), k("keys2")
    case("key commands", mb("XADD", ky, "1-0", "f", "v") + mb("XADD", ky, "2-0", "g", "w") + mb("EXPIRE", ky, 100) + mb("TTL", ky)
         + mb("PERSIST", ky) + mb("RENAME", ky, ky2) + mb("EXISTS", ky) + mb("XRANGE", ky2, "-", "+") + mb("COPY", ky2, ky)
         + mb("XADD", ky, "3-0", "h", "x") + mb("XLEN", ky) + mb("XLEN", ky2) + mb("XADD", ky2, "2-0", "f", "v") + mb("TYPE", ky)
         + mb("SCAN", 0, "MATCH", "xs_keys2", "TYPE", "stream", "COUNT", 1000) + mb("SCAN", 0, "MATCH", "xs_keys*", "TYPE", "string", "COUNT", 1000)
         + mb("OBJECT", "REFCOUNT", ky) + mb("UNLINK", ky) + mb("DEL", ky2) + mb("EXISTS", ky, ky2) + mb("SET", ky, "s")
         + mb("XADD", ky2, "1-0", "f", "v") + mb("SET", ky2, "over") + mb("TYPE", ky2) + mb("DEL", ky, ky2), 25)
    # A bigger stream: 1,000 entries through the ranges and a trim.
    big = k("big")
    fill = b"".join(mb("XADD", big, "%d-%d" % (q // 7, q % 7), "field", "x" * (q % 50)) for q in range(1000))
    c = Conn(args.port)
    c.send(fill)
    for _ in range(1000):
        c.reply()
    c.send(mb("XLEN", big) + mb("XRANGE", big, "50", "60") + mb("XREVRANGE", big, "100-3", "99", "COUNT", 5) + mb("XRANGE", big, "(142-5", "+", "COUNT", 3)
           + mb("XTRIM", big, "MINID", "~", "100") + mb("XLEN", big) + mb("XTRIM", big, "MINID", "100") + mb("XLEN", big)
           + mb("XREAD", "COUNT", 2, "STREAMS", big, "141-6"))
    got = b"".join(c.reply() for _ in range(9))
    out.append("big: %r" % got)
    c.sock.close()

    # COMMAND GETKEYS of XREAD / XREADGROUP: redis's key spec (the first STREAMS, half the words
    # after it), its xreadGetKeys when that range is out of bounds, and its errors.
    gk = [("XREAD", "STREAMS", "a", "b", "0", "0"), ("XREAD", "COUNT", 1, "BLOCK", 0, "STREAMS", "a", "0"), ("XREAD", "STREAMS", "a", "b", "0"),
          ("XREAD", "STREAMS"), ("XREAD", "FOO", "STREAMS", "a", "0"), ("XREAD", "streams", "streams", "streams", "0", "0"),
          ("XREAD", "COUNT", "STREAMS", "a", "0"), ("XREAD", "BLOCK", 1, "a", "b"), ("XREAD", "COUNT", 1, "STREAMS", "a"),
          ("XREAD", "a", "b", "STREAMS"), ("XREAD", "STREAMS", "a", "STREAMS"), ("xread", "STREAMS", "a", "b", "c", "0", "0", "0"),
          ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "a", "0"), ("XREADGROUP", "GROUP", "streams", "c", "STREAMS", "a", ">"),
          ("XREADGROUP", "GROUP", "g", "c", "NOACK", "COUNT", 2, "STREAMS", "a", "b", ">", ">"), ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "a", "b", ">"),
          ("XREADGROUP", "STREAMS", "a", "b"), ("XREADGROUP", "STREAMS", "a", "b", "c", "d", "STREAMS", "x"),
          ("XREADGROUP", "STREAMS", "a", "b", "c", "STREAMS", "x"), ("XREADGROUP", "STREAMS", "a", "b", "c", "d", "e", "f")]
    case("getkeys", b"".join(mb("COMMAND", "GETKEYS", *c) for c in gk))
    case("unbalanced", mb("XREADGROUP", "GROUP", "g", "c", "NOACK", "COUNT", 2, "STREAMS", k("ub"), ">")
         + mb("XREADGROUP", "GROUP", "g", "c", "STREAMS", k("ub"), "b", ">") + mb("XREAD", "STREAMS", k("ub"), "b", "0"))

    # Consumer groups.
    g, gf = k("grp"), k("gflow")
    case("xgroup", mb("XGROUP", "CREATE", g, "g1", "$") + mb("XGROUP", "CREATE", g, "g1", "$", "MKSTREAM") + mb("EXISTS", g) + mb("TYPE", g)
         + mb("XLEN", g) + mb("XGROUP", "CREATE", g, "g1", "0") + mb("XGROUP", "CREATE", g, "g2", "0", "ENTRIESREAD", "-2")
         + mb("XGROUP", "CREATE", g, "g2", "0", "ENTRIESREAD", "x") + mb("XGROUP", "CREATE", g, "g2", "x") + mb("XGROUP", "CREATE", g, "g2", "0", "FOO")
         + mb("XGROUP", "CREATE", g, "g2", "0", "ENTRIESREAD") + mb("XGROUP", "SETID", g, "nog", "0") + mb("XGROUP", "CREATECONSUMER", g, "nog", "c")
         + mb("XGROUP", "CREATECONSUMER", g, "g1", "c1") + mb("XGROUP", "CREATECONSUMER", g, "g1", "c1") + mb("XGROUP", "DELCONSUMER", g, "g1", "nobody")
         + mb("XGROUP", "DELCONSUMER", g, "g1", "c1") + mb("XGROUP", "DESTROY", g, "nog") + mb("XGROUP", "DESTROY", g, "g1") + mb("XGROUP", "FOO")
         + mb("XGROUP", "HELP") + mb("XGROUP", "SETID", g, "g1") + mb("XGROUP", "SETID", g, "g1", "0", "FOO", "1") + mb("XGROUP", "SETID", g, "g1", "0", "ENTRIESREAD")
         + mb("XGROUP", "DESTROY", n, "g1") + mb("XGROUP", "CREATE", k("str"), "g1", "$") + mb("XGROUP", "CREATE", g, "g3", "+")
         + mb("XGROUP", "SETID", g, "g2", "-") + mb("XGROUP", "SETID", g, "g2", "$", "ENTRIESREAD", 3) + mb("XGROUP", "DESTROY", g, "g2")
         + mb("XGROUP", "CREATECONSUMER", g) + mb("XGROUP", "CREATE", g, "g1"))
    case("group flow", mb("XADD", gf, "1-0", "a", 1) + mb("XADD", gf, "2-0", "b", 2) + mb("XADD", gf, "3-0", "c", 3) + mb("XGROUP", "CREATE", gf, "grp", "0")
         + mb("XREADGROUP", "GROUP", "grp", "alice", "COUNT", 1, "STREAMS", gf, ">") + mb("XREADGROUP", "GROUP", "grp", "bob", "STREAMS", gf, ">")
         + mb("XREADGROUP", "GROUP", "grp", "bob", "STREAMS", gf, ">") + mb("XREADGROUP", "GROUP", "grp", "alice", "STREAMS", gf, "0")
         + mb("XPENDING", gf, "grp") + mb("XPENDING", gf, "grp", "-", "+", 10) + mb("XPENDING", gf, "grp", "-", "+", 10, "bob")
         + mb("XPENDING", gf, "grp", "IDLE", 999999, "-", "+", 10) + mb("XPENDING", gf, "grp", "-", "+", 10, "nobody")
         + mb("XPENDING", gf, "grp", "(1-0", "(3-0", 10) + mb("XPENDING", gf, "grp", "-", "+", 0) + mb("XPENDING", gf, "grp", "-", "+")
         + mb("XPENDING", gf, "grp", "-", "+", "x") + mb("XPENDING", gf, "grp", "x", "+", 1) + mb("XPENDING", gf, "nog") + mb("XPENDING", n, "grp")
         + mb("XPENDING", gf, "grp", "IDLE", "x", "-", "+", 1) + mb("XPENDING", gf, "grp", "IDLE", 5, "-", "+")
         + mb("XACK", gf, "grp", "1-0", "9-9") + mb("XACK", gf, "grp", "bad") + mb("XACK", gf, "nog", "1-0") + mb("XACK", n, "grp", "1-0")
         + mb("XDEL", gf, "2-0") + mb("XREADGROUP", "GROUP", "grp", "bob", "STREAMS", gf, "0") + mb("XREADGROUP", "GROUP", "grp", "bob", "COUNT", 1, "STREAMS", gf, "2")
         + mb("XADD", gf, "4-0", "d", 4) + mb("XREADGROUP", "GROUP", "grp", "carol", "NOACK", "STREAMS", gf, ">") + mb("XPENDING", gf, "grp")
         + mb("XPENDING", gf, "grp", "-", "+", 10) + mb("XGROUP", "DELCONSUMER", gf, "grp", "bob") + mb("XPENDING", gf, "grp")
         + mb("XGROUP", "SETID", gf, "grp", "0") + mb("XREADGROUP", "GROUP", "grp", "dave", "COUNT", 2, "STREAMS", gf, ">")
         + mb("XREADGROUP", "GROUP", "grp", "alice", "STREAMS", gf, ">") + mb("XPENDING", gf, "grp", "-", "+", 10)
         + mb("XREADGROUP", "COUNT", 1, "BLOCK", 1, "STREAMS", gf, ">") + mb("XREADGROUP", "GROUP", "nog", "c", "STREAMS", gf, ">")
         + mb("XREADGROUP", "GROUP", "grp", "c", "STREAMS", gf, "$") + mb("XREADGROUP", "GROUP", "grp", "c", "STREAMS", n, ">")
         + mb("XREADGROUP", "GROUP", "grp", "c", "STREAMS", gf) + mb("XREADGROUP", "GROUP", "grp", "c", "STREAMS", gf, "x")
         + mb("XREADGROUP", "GROUP", "grp", "c", "STREAMS", k("str"), ">") + mb("XREADGROUP", "GROUP", "grp", "c", "STREAMS", gf, gf, ">", "0")
         + mb("XPENDING", k("str"), "grp") + mb("XACK", k("str"), "grp", "1-0")
         + mb("XACK", gf, "grp", "1-0", "3-0", "4-0"))
    # RESP3: a history read of a deleted entry, the summary of an empty PEL (HELLO's reply, which
    # holds the client ID, is not recorded).
    c3 = Conn(args.port)
    c3.send(mb("HELLO", 3))
    c3.reply()
    reqs = (mb("XPENDING", gf, "grp") + mb("XREADGROUP", "GROUP", "grp", "erin", "STREAMS", gf, ">")
            + mb("XREADGROUP", "GROUP", "grp", "dave", "STREAMS", gf, "0") + mb("XDEL", gf, "3-0")
            + mb("XREADGROUP", "GROUP", "grp", "dave", "STREAMS", gf, "0") + mb("XACK", gf, "grp", "1-0", "3-0", "4-0")
            + mb("XGROUP", "DELCONSUMER", gf, "grp", "dave") + mb("XPENDING", gf, "grp"))
    c3.send(reqs)
    out.append("group resp3: %r" % mask(b"".join(c3.reply() for _ in range(count_requests(reqs)))))
    c3.sock.close()
    cl = k("claim")
    case("claims", mb("XADD", cl, "1-0", "a", 1) + mb("XADD", cl, "2-0", "b", 2) + mb("XADD", cl, "3-0", "c", 3) + mb("XADD", cl, "4-0", "d", 4)
         + mb("XGROUP", "CREATE", cl, "g", "0") + mb("XREADGROUP", "GROUP", "g", "alice", "STREAMS", cl, ">")
         + mb("XCLAIM", cl, "g", "bob", 0, "1-0", "2-0") + mb("XCLAIM", cl, "g", "bob", 3600000, "3-0") + mb("XCLAIM", cl, "g", "bob", 0, "3-0", "JUSTID")
         + mb("XCLAIM", cl, "g", "bob", 0, "4-0", "RETRYCOUNT", 7, "IDLE", 5000) + mb("XCLAIM", cl, "g", "carol", 0, "9-0", "FORCE")
         + mb("XADD", cl, "5-0", "e", 5) + mb("XCLAIM", cl, "g", "carol", 0, "5-0", "FORCE") + mb("XCLAIM", cl, "g", "carol", 0, "5-0", "TIME", 1, "JUSTID")
         + mb("XCLAIM", cl, "g", "dave", 0, "1-0", "LASTID", "9-0") + mb("XREADGROUP", "GROUP", "g", "x", "STREAMS", cl, ">")
         + mb("XDEL", cl, "2-0") + mb("XCLAIM", cl, "g", "dave", 0, "2-0") + mb("XPENDING", cl, "g") + mb("XPENDING", cl, "g", "-", "+", 10)
         + mb("XCLAIM", cl, "g", "bob", 0, "1-0", "bad") + mb("XCLAIM", cl, "g", "bob", 0, "1-0", "IDLE") + mb("XCLAIM", cl, "g", "bob", "x", "1-0")
         + mb("XCLAIM", cl, "g", "bob", 0, "1-0", "TIME", "x") + mb("XCLAIM", cl, "g", "bob", 0, "1-0", "RETRYCOUNT", "x")
         + mb("XCLAIM", cl, "g", "bob", 0, "1-0", "LASTID", "x") + mb("XCLAIM", cl, "nog", "bob", 0, "1-0") + mb("XCLAIM", n, "g", "bob", 0, "1-0")
         + mb("XCLAIM", k("str"), "g", "bob", 0, "1-0") + mb("XCLAIM", cl, "g", "bob", 0)
         + mb("XAUTOCLAIM", cl, "g", "erin", 0, "0", "COUNT", 2) + mb("XAUTOCLAIM", cl, "g", "erin", 0, "4-0", "JUSTID")
         + mb("XDEL", cl, "3-0") + mb("XAUTOCLAIM", cl, "g", "frank", 0, "0", "COUNT", 10) + mb("XAUTOCLAIM", cl, "g", "frank", 3600000, "0")
         + mb("XAUTOCLAIM", cl, "g", "frank", 0, "(1-0") + mb("XAUTOCLAIM", cl, "g", "frank", 0, "0", "COUNT", 0)
         + mb("XAUTOCLAIM", cl, "g", "frank", "x", "0") + mb("XAUTOCLAIM", cl, "g", "frank", 0, "x") + mb("XAUTOCLAIM", cl, "g", "frank", 0, "0", "FOO")
         + mb("XAUTOCLAIM", cl, "nog", "frank", 0, "0") + mb("XAUTOCLAIM", k("str"), "g", "frank", 0, "0") + mb("XAUTOCLAIM", cl, "g", "frank", 0, "0", "COUNT")
         # The option words each command takes, and not the other's (one reader serves both).
         + mb("XAUTOCLAIM", cl, "g", "frank", 0, "0", "FORCE") + mb("XAUTOCLAIM", cl, "g", "frank", 0, "0", "JUSTID", "COUNT")
         + mb("xautoclaim", cl, "g", "frank", 0, "0", "count", -1, "justid") + mb("XCLAIM", cl, "g", "bob", 0, "1-0", "COUNT", 1)
         + mb("XCLAIM", cl, "g", "bob", 0, "1-0", "justid", "Force", "LASTID")
         + mb("XPENDING", cl, "g") + mb("XPENDING", cl, "g", "-", "+", 10))
    # RETRYCOUNT below zero is ignored (the claim counts a delivery, JUSTID none), and the count is
    # redis's unsigned 64 bits: 2^63-1 and one more claim shows as -2^63, and reads go on after it.
    rc = k("retry")
    case("claim retry counts", mb("XADD", rc, "1-1", "a", "b") + mb("XGROUP", "CREATE", rc, "g", "0")
         + mb("XREADGROUP", "GROUP", "g", "c", "STREAMS", rc, ">") + mb("XCLAIM", rc, "g", "c2", 0, "1-1", "RETRYCOUNT", -1)
         + mb("XPENDING", rc, "g", "-", "+", 5) + mb("XCLAIM", rc, "g", "c", 0, "1-1", "RETRYCOUNT", -1, "JUSTID")
         + mb("XREADGROUP", "GROUP", "g", "c", "STREAMS", rc, "0") + mb("XCLAIM", rc, "g", "c2", 0, "1-1")
         + mb("XPENDING", rc, "g", "-", "+", 5) + mb("XCLAIM", rc, "g", "c3", 0, "1-1", "RETRYCOUNT", "9223372036854775807")
         + mb("XCLAIM", rc, "g", "c3", 0, "1-1") + mb("XPENDING", rc, "g", "-", "+", 5)
         + mb("XREADGROUP", "GROUP", "g", "c3", "STREAMS", rc, "0") + mb("XPENDING", rc, "g", "-", "+", 5)
         + mb("XCLAIM", rc, "g", "c3", 0, "1-1", "RETRYCOUNT", "-9223372036854775808") + mb("XPENDING", rc, "g", "-", "+", 5))
    xi = k("info")
    case("xinfo", mb("XADD", xi, "1-0", "a", 1) + mb("XADD", xi, "2-0", "b", 2) + mb("XADD", xi, "3-0", "c", 3) + mb("XGROUP", "CREATE", xi, "g", "0")
         + mb("XGROUP", "CREATE", xi, "g2", "$", "ENTRIESREAD", 5) + mb("XGROUP", "CREATE", xi, "a0", "1-0") + mb("XINFO", "GROUPS", xi)
         + mb("XREADGROUP", "GROUP", "g", "c1", "COUNT", 1, "STREAMS", xi, ">") + mb("XREADGROUP", "GROUP", "a0", "c1", "STREAMS", xi, ">")
         + mb("XINFO", "GROUPS", xi) + mb("XDEL", xi, "2-0") + mb("XINFO", "GROUPS", xi) + mb("XREADGROUP", "GROUP", "g", "c2", "STREAMS", xi, ">")
         + mb("XINFO", "GROUPS", xi) + mb("XADD", xi, "4-0", "d", 4) + mb("XINFO", "GROUPS", xi) + mb("XGROUP", "SETID", xi, "g", "0")
         + mb("XINFO", "GROUPS", xi) + mb("XTRIM", xi, "MAXLEN", 0) + mb("XINFO", "GROUPS", xi) + mb("XINFO", "CONSUMERS", xi, "g")
         + mb("XINFO", "CONSUMERS", xi, "nog") + mb("XINFO", "GROUPS", n) + mb("XINFO", "GROUPS", k("str")) + mb("XINFO", "HELP")
         + mb("XINFO", "FOO") + mb("XINFO", "GROUPS") + mb("XINFO", "CONSUMERS", xi))
    # XINFO STREAM [FULL [COUNT n]]: radix-tree-keys and radix-tree-nodes are redis's radix
    # tree's own (swiftcached reports its emulated node count, README says so) and are masked;
    # FULL's delivery and seen times are Unix milliseconds of each server's clock, masked too.
    xs, xe = k("xst"), k("xst2")
    fill = b"".join(mb("XADD", xs, "%d-0" % q, "f", "v%d" % q) for q in range(1, 13))
    reqs = (fill + mb("XINFO", "STREAM", xs) + mb("XDEL", xs, "2-0") + mb("XDEL", xs, "1-0") + mb("XINFO", "STREAM", xs)
            + mb("XGROUP", "CREATE", xs, "g", "0") + mb("XGROUP", "CREATE", xs, "a", "$") + mb("XGROUP", "CREATE", xs, "b", "5-0", "ENTRIESREAD", 3)
            + mb("XREADGROUP", "GROUP", "g", "bob", "COUNT", 3, "STREAMS", xs, ">") + mb("XREADGROUP", "GROUP", "g", "al", "COUNT", 2, "STREAMS", xs, ">")
            + mb("XGROUP", "CREATECONSUMER", xs, "b", "zed") + mb("XCLAIM", xs, "g", "al", 0, "3-0", "RETRYCOUNT", 4)
            + mb("XINFO", "STREAM", xs) + mb("XINFO", "STREAM", xs, "FULL") + mb("XINFO", "STREAM", xs, "full", "count", 2)
            + mb("XINFO", "STREAM", xs, "FULL", "COUNT", 0) + mb("XINFO", "STREAM", xs, "FULL", "COUNT", -3)
            + mb("XTRIM", xs, "MAXLEN", 0) + mb("XINFO", "STREAM", xs) + mb("XINFO", "STREAM", xs, "FULL") + mb("XADD", xs, "20-0", "x", "y")
            + mb("XINFO", "STREAM", xs) + mb("XGROUP", "CREATE", xe, "g", "$", "MKSTREAM") + mb("XINFO", "STREAM", xe)
            + mb("XINFO", "STREAM", xe, "FULL") + mb("XADD", xe, "1-0", "a", "b") + mb("XDEL", xe, "1-0") + mb("XINFO", "STREAM", xe)
            + mb("XINFO", "STREAM", n) + mb("XINFO", "STREAM", n, "FOO") + mb("XINFO", "STREAM", k("str")) + mb("XINFO", "STREAM", xs, "FOO")
            + mb("XINFO", "stream", xs, "FULL", "COUNT") + mb("XINFO", "STREAM", xs, "FULL", "FOO", 1) + mb("XINFO", "STREAM", xs, "FULL", "COUNT", "x")
            + mb("XINFO", "STREAM", xs, "FULL", "COUNT", 1, "X") + mb("XINFO", "STREAM") + mb("XINFO", "STREAM", xs, "COUNT", 1, "FULL"))

    def info_mask(b):
        b = re.sub(rb"(\$1[56]\r\nradix-tree-(?:keys|nodes)\r\n):\d+\r\n", rb"\1:<radix>\r\n", b)
        return re.sub(rb":1\d{12}\r\n", b":<time>\r\n", b)

    for proto in (2, 3):
        c = Conn(args.port)
        if proto == 3:
            c.send(mb("HELLO", 3))
            c.reply()
        c.send(mb("DEL", xs, xe) + reqs)
        got = b"".join(c.reply() for _ in range(1 + count_requests(reqs)))
        out.append("xinfo stream resp%d: %r" % (proto, info_mask(mask(got))))
        c.sock.close()

    gb = k("gblk")
    waiter = Conn(args.port)
    waiter.send(mb("XGROUP", "CREATE", gb, "grp", "$", "MKSTREAM") + mb("XREADGROUP", "GROUP", "grp", "w", "BLOCK", 5000, "STREAMS", gb, ">"))
    waiter.reply()
    time.sleep(0.3)
    producer = Conn(args.port)
    producer.send(mb("XADD", gb, "1-0", "f", "v"))
    producer.reply()
    out.append("group block served: %r" % waiter.reply())
    waiter.send(mb("XREADGROUP", "GROUP", "grp", "w", "BLOCK", 100, "STREAMS", gb, ">") + mb("XPENDING", gb, "grp"))
    out.append("group block timeout: %r" % b"".join(waiter.reply() for _ in range(2)))
    for x in (waiter, producer):
        x.sock.close()

    # Keyspace notifications: a subscriber sees what each command published.
    ev = k("ev")
    sub = Conn(args.port)
    sub.send(mb("CONFIG", "SET", "notify-keyspace-events", "Etgn") + mb("PSUBSCRIBE", "__keyevent@0__:*"))
    sub.reply()
    sub.reply()
    w = Conn(args.port)
    reqs = [mb("XADD", ev, "1-0", "f", "v"), mb("XADD", ev, "2-0", "f", "v"), mb("XADD", ev, "1-0", "f", "v"), mb("XADD", ev, "MAXLEN", 1, "3-0", "f", "v"),
            mb("XADD", ev, "MAXLEN", 5, "4-0", "f", "v"), mb("XDEL", ev, "9-0"), mb("XDEL", ev, "3-0"), mb("XTRIM", ev, "MAXLEN", 5),
            mb("XTRIM", ev, "MAXLEN", 0), mb("XSETID", ev, "10-0"), mb("XADD", ev, "NOMKSTREAM", "11-0", "f", "v"), mb("DEL", ev),
            mb("XADD", ev, "NOMKSTREAM", "11-0", "f", "v"), mb("XTRIM", ev, "MAXLEN", 0),
            mb("XGROUP", "CREATE", ev, "g", "$", "MKSTREAM"), mb("XGROUP", "CREATECONSUMER", ev, "g", "c"), mb("XGROUP", "SETID", ev, "g", "0"),
            mb("XADD", ev, "1-0", "f", "v"), mb("XREADGROUP", "GROUP", "g", "c2", "STREAMS", ev, ">"), mb("XACK", ev, "g", "1-0"),
            mb("XCLAIM", ev, "g", "c3", 0, "1-0"), mb("XAUTOCLAIM", ev, "g", "c4", 0, "0"),
            mb("XGROUP", "DELCONSUMER", ev, "g", "c"), mb("XGROUP", "DESTROY", ev, "g")]
    w.send(b"".join(reqs))
    for _ in reqs:
        w.reply()
    out.append("events: %r" % drain_events(sub))
    w.send(mb("CONFIG", "SET", "notify-keyspace-events", ""))
    w.reply()
    for x in (sub, w):
        x.sock.close()
    cleanup = Conn(args.port)
    cleanup.send(mb("DEL", *[k(x) for x in names]))
    cleanup.reply()
    cleanup.sock.close()
    for line in out:
        print(line)
    print("STREAM CHECKS PASSED")


if __name__ == "__main__":
    main()
