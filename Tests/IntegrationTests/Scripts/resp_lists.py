#!/usr/bin/env python3
"""Redis list commands, one transcript line per case, for comparison with redis-server 7.0.

The sibling of resp_compare.py (resp_common.py's Conn and mb): the list commands with their edge errors,
WRONGTYPE both ways, elements across node boundaries and large ones, then blocking pops between
connections (a BLPOP woken by a push from another connection, which lands on another worker with
-t 2; FIFO order of two blocked clients; BLPOP, BLMOVE and BLMPOP timeouts; a blocked client that
closes loses nothing; a BLMOVE woken onto a wrong-type destination and its commandstats; clients
served by RENAME, COPY, MOVE and SWAPDB of a list, inside MULTI too). RPOPLPUSH/LMOVE rotation and
LPOS options. Keys have fixed names, deleted first.

Usage: resp_lists.py --port P
"""

import argparse
import time

from resp_common import Conn, mb


def stats_lines(info):
    """INFO lines without the times (usec, usec_per_call), which differ run to run, sorted (redis
    lists commands in its seeded dict's order)."""
    lines = []
    for line in info.split(b"\r\n"):
        if b":" not in line:
            continue
        name, _, fields = line.partition(b":")
        kept = [f for f in fields.split(b",") if not f.startswith(b"usec")]
        lines.append(name + b":" + b",".join(kept))
    return sorted(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    # Fixed key names (they appear in BLPOP's and LMPOP's replies): removed first.
    names = ["l", "m", "s", "none", "d", "t", "u", "big", "lg", "b", "b2", "w", "w0", "dst", "gone", "x", "xs", "xd"]

    def k(name):
        return ("rl_%s" % name).encode()

    setup = Conn(args.port)
    setup.send(mb("DEL", *[k(x) for x in names]))
    setup.reply()
    setup.sock.close()

    out = []

    def case(name, requests, replies):
        c = Conn(args.port)
        c.send(requests)
        got = []
        try:
            for _ in range(replies):
                got.append(c.reply())
        except (EOFError, ConnectionResetError):
            got.append(b"<closed>")
        out.append("%s: %r" % (name, b"".join(got)))
        c.sock.close()

    l, m, s, n = k("l"), k("m"), k("s"), k("none")
    case("push pop", mb("RPUSH", l, "a", "b", "c") + mb("LPUSH", l, "z") + mb("LRANGE", l, 0, -1) + mb("LPOP", l) + mb("RPOP", l) + mb("LLEN", l), 6)
    case("pop count", mb("RPUSH", l, "d", "e", "f") + mb("LPOP", l, 2) + mb("RPOP", l, 2) + mb("LPOP", l, 0) + mb("RPOP", l, 10) + mb("EXISTS", l) + mb("LPOP", l, 1) + mb("LPOP", l), 8)
    case("pop errors", mb("LPOP", l, -1) + mb("LPOP", l, "x") + mb("RPOP", l, 1, 2) + mb("LPOP"), 4)
    case("pushx", mb("LPUSHX", l, "a") + mb("RPUSHX", l, "a", "b") + mb("RPUSH", l, "q") + mb("LPUSHX", l, "p", "o") + mb("RPUSHX", l, "r") + mb("LRANGE", l, 0, -1) + mb("DEL", l), 7)
    case("lrange edges", mb("RPUSH", l, *range(10)) + mb("LRANGE", l, -3, -1) + mb("LRANGE", l, -100, 2) + mb("LRANGE", l, 5, 3) + mb("LRANGE", l, 9, 100) + mb("LRANGE", l, 10, 11) + mb("LRANGE", l, "x", 1) + mb("LRANGE", n, 0, -1) + mb("LRANGE", l, -1, -2), 9)
    case("lindex", mb("LINDEX", l, 0) + mb("LINDEX", l, -1) + mb("LINDEX", l, -10) + mb("LINDEX", l, -11) + mb("LINDEX", l, 10) + mb("LINDEX", l, "x") + mb("LINDEX", n, "x") + mb("LINDEX", n, 0), 8)
    case("lset", mb("LSET", l, 0, "first") + mb("LSET", l, -1, "last") + mb("LSET", l, 10, "x") + mb("LSET", l, -11, "x") + mb("LSET", n, 0, "x") + mb("LSET", l, "x", "y") + mb("LSET", n, "x", "y") + mb("LRANGE", l, 0, -1), 8)
    case("linsert", mb("LINSERT", l, "BEFORE", "first", "b0") + mb("LINSERT", l, "after", "last", "z9") + mb("LINSERT", l, "after", "5", "55") + mb("LINSERT", l, "before", "nope", "x") + mb("LINSERT", l, "middle", "5", "x") + mb("LINSERT", n, "before", "5", "x") + mb("LRANGE", l, 0, -1), 7)
    case("lrem", mb("RPUSH", m, "x", "y", "x", "z", "x", "x") + mb("LREM", m, 1, "x") + mb("LREM", m, -1, "x") + mb("LRANGE", m, 0, -1) + mb("LREM", m, 0, "x") + mb("LREM", m, 0, "nope") + mb("LREM", m, "x", "y") + mb("LREM", n, 0, "x") + mb("LRANGE", m, 0, -1) + mb("LREM", m, 0, "y") + mb("LREM", m, 0, "z") + mb("EXISTS", m), 12)
    case("ltrim", mb("LTRIM", l, 1, -2) + mb("LRANGE", l, 0, -1) + mb("LTRIM", l, -3, 100) + mb("LRANGE", l, 0, -1) + mb("LTRIM", l, "x", 1) + mb("LTRIM", n, 0, 1) + mb("LTRIM", l, 5, 1) + mb("EXISTS", l), 8)
    case("lpos", mb("RPUSH", m, "a", "b", "c", "a", "b", "a") + mb("LPOS", m, "a") + mb("LPOS", m, "a", "RANK", 2) + mb("LPOS", m, "a", "RANK", -1) + mb("LPOS", m, "a", "RANK", -2, "COUNT", 0) + mb("LPOS", m, "a", "COUNT", 2) + mb("LPOS", m, "a", "COUNT", 0, "MAXLEN", 4) + mb("LPOS", m, "zz") + mb("LPOS", m, "zz", "COUNT", 1) + mb("LPOS", n, "a") + mb("LPOS", n, "a", "COUNT", 0) + mb("LPOS", m, "a", "RANK", 0) + mb("LPOS", m, "a", "RANK", "x") + mb("LPOS", m, "a", "COUNT", -1) + mb("LPOS", m, "a", "MAXLEN", -1) + mb("LPOS", m, "a", "FOO") + mb("LPOS", m, "a", "RANK") + mb("LPOS", m, "a", "RANK", "-9223372036854775808") + mb("DEL", m), 18)
    case("lmove", mb("RPUSH", m, "1", "2", "3") + mb("LMOVE", m, m, "LEFT", "RIGHT") + mb("LRANGE", m, 0, -1) + mb("RPOPLPUSH", m, k("d")) + mb("LMOVE", m, k("d"), "left", "left") + mb("LRANGE", k("d"), 0, -1) + mb("LMOVE", m, k("d"), "up", "left") + mb("LMOVE", n, m, "LEFT", "LEFT") + mb("RPOPLPUSH", n, m) + mb("LMOVE", m, m, "RIGHT", "RIGHT") + mb("LRANGE", m, 0, -1), 11)
    case("lmpop", mb("RPUSH", m, "a", "b", "c") + mb("LMPOP", 2, n, m, "LEFT") + mb("LMPOP", 1, m, "RIGHT", "COUNT", 10) + mb("LMPOP", 1, m, "LEFT") + mb("LMPOP", 0, m, "LEFT") + mb("LMPOP", "x", m, "LEFT") + mb("LMPOP", 1, m, "MIDDLE") + mb("LMPOP", 2, m, "LEFT") + mb("LMPOP", 1, m, "LEFT", "COUNT", 0) + mb("LMPOP", 1, m, "LEFT", "COUNT", 1, "COUNT", 1) + mb("LMPOP", 1, m, "LEFT", "COUNT"), 11)
    case("wrongtype", mb("SET", s, "v") + mb("LPUSH", s, "a") + mb("RPUSHX", s, "a") + mb("LPOP", s) + mb("RPOP", s, 2) + mb("LLEN", s) + mb("LINDEX", s, 0) + mb("LRANGE", s, 0, 1) + mb("LSET", s, 0, "x") + mb("LINSERT", s, "BEFORE", "a", "b") + mb("LREM", s, 0, "a") + mb("LTRIM", s, 0, 1) + mb("LPOS", s, "a") + mb("LMOVE", s, m, "LEFT", "LEFT") + mb("RPUSH", m, "x") + mb("RPOPLPUSH", m, s) + mb("LMPOP", 2, m, s, "LEFT") + mb("LMPOP", 1, s, "LEFT") + mb("BLPOP", s, 1) + mb("BLMPOP", 1, 1, s, "LEFT") + mb("BLMOVE", s, m, "LEFT", "LEFT", 1) + mb("TYPE", s) + mb("TYPE", m) + mb("GET", s), 24)
    case("type and encoding", mb("RPUSH", k("t"), "a") + mb("TYPE", k("t")) + mb("OBJECT", "ENCODING", k("t")) + mb("DEL", k("t")) + mb("TYPE", k("t")) + mb("SET", k("t"), "v") + mb("RPUSH", k("u"), "x") + mb("SET", k("u"), "w") + mb("GET", k("u")) + mb("TYPE", k("u")), 10)
    # Many elements: node boundaries, both ends, a middle insert, a removal in the middle.
    big = k("big")
    req = mb("RPUSH", big, *["e%d" % i for i in range(3000)]) + mb("LPUSH", big, *["h%d" % i for i in range(3000)])
    req += mb("LLEN", big) + mb("LINDEX", big, 0) + mb("LINDEX", big, 2999) + mb("LINDEX", big, 3000) + mb("LINDEX", big, -1) + mb("LINDEX", big, 4500)
    req += mb("LRANGE", big, 2995, 3004) + mb("LINSERT", big, "BEFORE", "e1500", "mid") + mb("LPOS", big, "mid") + mb("LREM", big, 0, "e1499") + mb("LRANGE", big, 4497, 4502)
    req += mb("LTRIM", big, 100, -100) + mb("LLEN", big) + mb("LPOP", big, 3) + mb("RPOP", big, 3) + mb("LSET", big, 2000, "x" * 20000) + mb("LINDEX", big, 2000) + mb("LRANGE", big, 1999, 2001)
    req += mb("DEL", big) + mb("EXISTS", big)
    case("many elements", req, 21)
    # Large elements: one bigger than a node, one bigger than a slab chunk (chunked node).
    lg = k("lg")
    case("large elements", mb("RPUSH", lg, "a", "b" * 10000, "c", "d" * 700000, "e") + mb("LLEN", lg) + mb("LINDEX", lg, 1) + mb("LINDEX", lg, 3) + mb("LRANGE", lg, 2, 4) + mb("LPOP", lg, 2) + mb("RPOP", lg, 2) + mb("LRANGE", lg, 0, -1) + mb("DEL", lg), 9)
    # Blocking: timeouts and their errors.
    b = k("b")
    case("block errors", mb("BLPOP", b, -1) + mb("BLPOP", b, "x") + mb("BLPOP", b, "1e100") + mb("BRPOP", b, "") + mb("BLMOVE", b, m, "UP", "LEFT", 0) + mb("BLMOVE", b, m, "LEFT", "LEFT", -1) + mb("BRPOPLPUSH", b, m, "x") + mb("BLMPOP", "x", 1, b, "LEFT") + mb("BLMPOP", 0, 0, b, "LEFT") + mb("BLMPOP", 0, 1, b, "UP") + mb("BLPOP", b), 11)
    case("block timeouts", mb("BLPOP", b, k("b2"), "0.05") + mb("BRPOP", b, "0.05") + mb("BLMOVE", b, m, "LEFT", "RIGHT", "0.05") + mb("BRPOPLPUSH", b, m, "0.05") + mb("BLMPOP", "0.05", 2, b, k("b2"), "RIGHT", "COUNT", 2), 5)
    case("block served at once", mb("RPUSH", b, "x", "y", "z") + mb("BLPOP", n, b, 1) + mb("BRPOP", b, 1) + mb("BLMOVE", b, m, "LEFT", "LEFT", 1) + mb("BLMPOP", 1, 1, m, "RIGHT", "COUNT", 5) + mb("EXISTS", b), 6)

    # A BLPOP woken by a push from another connection (another worker with -t 2).
    w = k("w")
    a, p = Conn(args.port), Conn(args.port)
    a.send(mb("BLPOP", k("w0"), w, 5))
    time.sleep(0.2)
    p.send(mb("RPUSH", w, "v1", "v2"))
    pushed = p.reply()
    woken = a.reply()
    p.send(mb("LRANGE", w, 0, -1))
    out.append("woken by push: %r %r %r" % (pushed, woken, p.reply()))
    # Two blocked clients are served oldest first, one element each.
    c1, c2 = Conn(args.port), Conn(args.port)
    c1.send(mb("BRPOP", w, 5))
    time.sleep(0.1)
    c2.send(mb("BRPOP", w, 5))
    time.sleep(0.1)
    p.send(mb("DEL", w) + mb("RPUSH", w, "first"))
    r1 = p.reply() + p.reply()
    got1 = c1.reply()
    p.send(mb("RPUSH", w, "second"))
    r2 = p.reply()
    got2 = c2.reply()
    out.append("fifo: %r %r %r %r" % (r1, got1, r2, got2))
    # BLMOVE woken by a push; the moved element wakes a BLPOP on the destination.
    d = k("dst")
    c1.send(mb("BLPOP", d, 5))
    time.sleep(0.1)
    c2.send(mb("BLMOVE", w, d, "LEFT", "RIGHT", 5))
    time.sleep(0.1)
    p.send(mb("LPUSH", w, "moved"))
    r3 = p.reply()
    out.append("chained: %r %r %r" % (r3, c2.reply(), c1.reply()))
    # A client blocked in BLPOP is served after the whole EXEC that pushed (redis's ready keys):
    # the queued LPOP takes the first element, the blocked client the one EXEC left.
    x = k("x")
    c1.send(mb("BLPOP", x, 5))
    time.sleep(0.1)
    p.send(mb("MULTI") + mb("RPUSH", x, "e1") + mb("LPOP", x) + mb("RPUSH", x, "e2") + mb("EXEC"))
    rx = b"".join(p.reply() for _ in range(5))
    out.append("served after exec: %r %r" % (rx, c1.reply()))
    # BLMOVE woken while its destination holds a string: WRONGTYPE to it, the source untouched for
    # the next blocked client.
    xs, xd = k("xs"), k("xd")
    p.send(mb("SET", xd, "str") + mb("CONFIG", "RESETSTAT"))
    p.reply()
    p.reply()
    c2.send(mb("BLMOVE", xs, xd, "LEFT", "RIGHT", 5))
    time.sleep(0.1)
    c1.send(mb("BLPOP", xs, 5))
    time.sleep(0.1)
    p.send(mb("RPUSH", xs, "e1"))
    rp = p.reply()
    moved, popped = c2.reply(), c1.reply()
    p.send(mb("LRANGE", xs, 0, -1) + mb("GET", xd))
    out.append("blmove wrongtype destination: %r %r %r %r %r" % (rp, moved, popped, p.reply(), p.reply()))
    # The woken BLMOVE's WRONGTYPE is a failed call of blmove and an error reply, as redis counts
    # it (updateStatsOnUnblock): commandstats without the times, and errorstats.
    p.send(mb("INFO", "commandstats") + mb("INFO", "errorstats"))
    out.append("stats after blmove wrongtype: %r %r" % (stats_lines(p.reply()), stats_lines(p.reply())))
    # CLIENT UNBLOCK: a failed call of the blocked command with ERROR or without (redis 7.0), and
    # of client|unblock with ERROR; a timeout is not one.
    c1.send(mb("CLIENT", "ID"))
    cid = c1.reply()[1:-2]
    p.send(mb("CONFIG", "RESETSTAT"))
    p.reply()
    unblocked = []
    for reason in ("ERROR", "TIMEOUT"):
        c1.send(mb("BLPOP", k("none"), 5))
        time.sleep(0.1)
        p.send(mb("CLIENT", "UNBLOCK", cid, reason))
        unblocked.append(p.reply() + c1.reply())
    c1.send(mb("BRPOP", k("none"), "0.05"))
    unblocked.append(c1.reply())
    p.send(mb("INFO", "commandstats") + mb("INFO", "errorstats"))
    out.append("stats after client unblock: %r %r %r" % (unblocked, stats_lines(p.reply()), stats_lines(p.reply())))
    # A list put under a key that clients block on serves them, as redis's dbAdd signals the key
    # ready: RENAME (onto nothing, onto a string), COPY (new key, REPLACE a string, DB), MOVE,
    # SWAPDB, and inside MULTI (served after EXEC, seeing the list as EXEC left it).
    def served_by(name, waiter_setup, key, requests, replies, after=b""):
        c1.send(waiter_setup + mb("BLPOP", key, 5))
        if waiter_setup:
            c1.reply()  # the one SELECT
        time.sleep(0.1)
        p.send(requests)
        got = b"".join(p.reply() for _ in range(replies))
        woken = c1.reply()
        rest = b""
        if after:
            p.send(after)
            rest = p.reply()
        out.append("%s: %r %r %r" % (name, got, woken, rest))
    src = k("src")
    served_by("served by rename", b"", k("r1"), mb("RPUSH", src, "a", "b") + mb("RENAME", src, k("r1")), 2, mb("LRANGE", k("r1"), 0, -1))
    served_by("served by rename onto a string", b"", k("r2"), mb("SET", k("r2"), "s") + mb("RPUSH", src, "a", "b") + mb("RENAME", src, k("r2")), 3, mb("LRANGE", k("r2"), 0, -1))
    served_by("served by renamenx", b"", k("r3"), mb("RPUSH", src, "a", "b") + mb("RENAMENX", src, k("r3")), 2, mb("LRANGE", k("r3"), 0, -1))
    served_by("served by copy", b"", k("c1"), mb("RPUSH", src, "x", "y") + mb("COPY", src, k("c1")), 2, mb("LRANGE", src, 0, -1))
    served_by("served by copy replace", b"", k("c2"), mb("SET", k("c2"), "s") + mb("COPY", src, k("c2"), "REPLACE"), 2, mb("LRANGE", k("c2"), 0, -1))
    served_by("served by copy db", mb("SELECT", 3), k("c3"), mb("COPY", src, k("c3"), "DB", 3), 1, mb("LRANGE", src, 0, -1))
    served_by("served by move", mb("SELECT", 4), k("mv"), mb("RPUSH", k("mv"), "m1", "m2") + mb("MOVE", k("mv"), 4), 2, mb("EXISTS", k("mv")))
    served_by("served by swapdb", mb("SELECT", 5), k("sw"), mb("RPUSH", k("sw"), "s1", "s2") + mb("SWAPDB", 0, 5), 2, mb("SWAPDB", 0, 5))
    served_by("served by rename in exec", mb("SELECT", 0), k("mx"), mb("MULTI") + mb("RPUSH", src, "t1", "t2") + mb("RENAME", src, k("mx")) + mb("LPOP", k("mx")) + mb("EXEC"), 5, mb("LRANGE", k("mx"), 0, -1))
    served_by("served by move in exec", mb("SELECT", 6), k("my"), mb("MULTI") + mb("RPUSH", k("my"), "u1") + mb("MOVE", k("my"), 6) + mb("EXEC"), 4, mb("EXISTS", k("my")))
    c1.send(mb("SELECT", 0))
    c1.reply()
    cleanup = b""
    for db in (3, 4, 5, 6):
        cleanup += mb("SELECT", db) + mb("FLUSHDB")
    p.send(cleanup + mb("SELECT", 0) + mb("DEL", src, k("r1"), k("r2"), k("r3"), k("c1"), k("c2"), k("mx"), k("sw")))
    for _ in range(10):
        p.reply()
    # A blocked client that closes loses nothing: the push stays in the list.
    gone = Conn(args.port)
    gone.send(mb("BLPOP", k("gone"), 0))
    time.sleep(0.2)
    gone.sock.close()
    time.sleep(0.2)
    p.send(mb("RPUSH", k("gone"), "kept") + mb("LRANGE", k("gone"), 0, -1) + mb("INFO", "clients"))
    kept = p.reply() + p.reply()
    info = p.reply()
    blocked = [x for x in info.split(b"\r\n") if x.startswith(b"blocked_clients:")]
    out.append("closed while blocked: %r %r" % (kept, blocked))
    for c in (a, p, c1, c2):
        c.sock.close()
    for line in out:
        print(line)
    print("LIST CHECKS PASSED")


if __name__ == "__main__":
    main()
