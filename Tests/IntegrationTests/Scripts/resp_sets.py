#!/usr/bin/env python3
"""Redis set commands, one transcript line per case, for comparison with redis-server 7.0.

The sibling of resp_hashes.py (resp_common.py's helpers): every set command with its edge errors,
WRONGTYPE, the intset -> hashtable conversion (a member that is not an integer, a 513th member;
OBJECT ENCODING), intset order (ascending), SPOP/SRANDMEMBER count forms, SMOVE, the set algebra
and its STORE forms, SSCAN, RESP3 set replies and keyspace notifications. Replies in hash-table order are compared sorted;
random picks are checked for size and membership. Keys have fixed names, deleted first.

Usage: resp_sets.py --port P
"""

import argparse

from resp_common import Conn, Transcript, drain_events, mb, parse, scan_all, sorted_items


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    names = ["a", "b", "c", "n", "s", "d", "t", "t2", "big", "ev", "e1", "h"]

    def k(name):
        return ("rs_%s" % name).encode()

    setup = Conn(args.port)
    setup.send(mb("DEL", *[k(x) for x in names]))
    setup.reply()
    setup.sock.close()
    transcript = Transcript(args.port)
    case, out = transcript.case, transcript.lines

    a, b, c, n, s, d = k("a"), k("b"), k("c"), k("n"), k("s"), k("d")
    case("basic", mb("SADD", a, 3, 1, 2, 2) + mb("SMEMBERS", a) + mb("SCARD", a) + mb("SCARD", n) + mb("SISMEMBER", a, 1)
         + mb("SISMEMBER", a, 9) + mb("SISMEMBER", n, 1) + mb("SMISMEMBER", a, 1, 9, 3) + mb("SMISMEMBER", n, 1, 2)
         + mb("SMEMBERS", n) + mb("SADD", a, -5, 10) + mb("SMEMBERS", a) + mb("OBJECT", "ENCODING", a) + mb("SREM", a, 1, 99)
         + mb("SREM", n, 1) + mb("SMEMBERS", a) + mb("TYPE", a), 17)
    case("encodings", mb("SADD", b, "x", "1") + mb("OBJECT", "ENCODING", b) + mb("SADD", c, "01") + mb("OBJECT", "ENCODING", c)
         + mb("SADD", c + b"2", "-0") + mb("OBJECT", "ENCODING", c + b"2") + mb("SADD", c + b"3", "9223372036854775808")
         + mb("OBJECT", "ENCODING", c + b"3") + mb("SADD", c + b"4", *range(512)) + mb("OBJECT", "ENCODING", c + b"4")
         + mb("SADD", c + b"4", 512) + mb("OBJECT", "ENCODING", c + b"4") + mb("SREM", c + b"4", *range(510))
         + mb("OBJECT", "ENCODING", c + b"4") + mb("DEL", c + b"2", c + b"3", c + b"4"), 15)
    case("arity and errors", mb("SADD", a) + mb("SREM", a) + mb("SCARD") + mb("SISMEMBER", a) + mb("SMISMEMBER", a)
         + mb("SMEMBERS") + mb("SRANDMEMBER") + mb("SRANDMEMBER", a, 1, 2) + mb("SRANDMEMBER", a, "x")
         + mb("SRANDMEMBER", a, "-9223372036854775808") + mb("SPOP") + mb("SPOP", a, 1, 2) + mb("SPOP", a, -1) + mb("SPOP", a, "x")
         + mb("SMOVE", a, b) + mb("SINTER") + mb("SINTERSTORE", d) + mb("SINTERCARD", 0, a) + mb("SINTERCARD", "x", a)
         + mb("SINTERCARD", 3, a) + mb("SINTERCARD", 1, a, "LIMIT", -1) + mb("SINTERCARD", 1, a, "FOO") + mb("SINTERCARD", 1, a, "LIMIT")
         + mb("SSCAN", a) + mb("SSCAN", a, "x") + mb("SSCAN", a, 0, "COUNT", 0) + mb("SSCAN", a, 0, "TYPE", "set"), 27)
    case("wrongtype", mb("SET", s, "v") + mb("SADD", s, 1) + mb("SREM", s, 1) + mb("SCARD", s) + mb("SISMEMBER", s, 1)
         + mb("SMISMEMBER", s, 1) + mb("SMEMBERS", s) + mb("SRANDMEMBER", s) + mb("SRANDMEMBER", s, 2) + mb("SPOP", s)
         + mb("SPOP", s, 2) + mb("SPOP", s, 0) + mb("SMOVE", s, a, 1) + mb("SMOVE", a, s, 3) + mb("SMOVE", n, s, 3)
         + mb("SINTER", a, s) + mb("SINTER", n, s) + mb("SUNION", a, s) + mb("SDIFF", a, s) + mb("SINTERCARD", 2, a, s)
         + mb("SINTERSTORE", d, a, s) + mb("SSCAN", s, 0) + mb("GET", a) + mb("HSET", a, "f", "v") + mb("LPUSH", a, "x"), 25)
    case("fixed random", mb("SRANDMEMBER", n) + mb("SRANDMEMBER", n, 3) + mb("SRANDMEMBER", a, 0) + mb("SRANDMEMBER", a, 100)
         + mb("SADD", k("t"), "only") + mb("SRANDMEMBER", k("t")) + mb("SRANDMEMBER", k("t"), -3) + mb("SPOP", n)
         + mb("SPOP", n, 2) + mb("SPOP", a, 0) + mb("SPOP", k("t")) + mb("EXISTS", k("t")) + mb("SADD", k("t2"), 5, 6, 7)
         + mb("SPOP", k("t2"), 10) + mb("EXISTS", k("t2")), 15)
    case("random picks", mb("SRANDMEMBER", a, -20) + mb("SRANDMEMBER", a, 2) + mb("SPOP", a, 2) + mb("SCARD", a), 4,
         lambda r: (len(parse(r)), all(x in (b"2", b"3", b"10", b"-5") for x in parse(r))) if r[:1] == b"*" else r)
    case("smove", mb("DEL", a, b) + mb("SADD", a, 1, 2) + mb("SMOVE", a, b, 1) + mb("SMOVE", a, b, 9) + mb("SMOVE", a, a, 2)
         + mb("SMOVE", a, a, 9) + mb("SMOVE", n, b, 1) + mb("SMEMBERS", a) + mb("SMEMBERS", b) + mb("SMOVE", a, b, 2)
         + mb("EXISTS", a) + mb("SMEMBERS", b) + mb("SADD", a, "z") + mb("SMOVE", a, b, "z") + mb("OBJECT", "ENCODING", b), 15)
    case("algebra", mb("DEL", a, b, c) + mb("SADD", a, 1, 2, 3, 4) + mb("SADD", b, 3, 4, 5) + mb("SADD", c, 4, 40)
         + mb("SINTER", a, b) + mb("SINTER", a, b, c) + mb("SINTER", a, n) + mb("SUNION", a, b, c) + mb("SUNION", n)
         + mb("SDIFF", a, b) + mb("SDIFF", a, b, c) + mb("SDIFF", n, a) + mb("SINTERCARD", 2, a, b) + mb("SINTERCARD", 2, a, b, "LIMIT", 1)
         + mb("SINTERCARD", 2, a, n) + mb("SINTERSTORE", d, a, b) + mb("SMEMBERS", d) + mb("SUNIONSTORE", d, a, c)
         + mb("SMEMBERS", d) + mb("SDIFFSTORE", d, a, b) + mb("SMEMBERS", d) + mb("SINTERSTORE", d, a, n) + mb("EXISTS", d)
         + mb("SET", d, "str") + mb("EXPIRE", d, 100) + mb("SUNIONSTORE", d, a) + mb("TTL", d) + mb("TYPE", d) + mb("SDIFFSTORE", d, a, a)
         + mb("EXISTS", d) + mb("SUNION", a, a), 31)
    case("algebra strings", mb("SADD", c, "x", "y") + mb("SUNION", a, c) + mb("SINTER", c, c) + mb("SDIFF", c, a), 4, sorted_items)
    big = k("big")
    case("big", mb("SADD", big, *["m%d" % i for i in range(2000)]) + mb("SCARD", big) + mb("OBJECT", "ENCODING", big)
         + mb("SISMEMBER", big, "m1999") + mb("SREM", big, *["m%d" % i for i in range(0, 2000, 2)]) + mb("SCARD", big), 6)
    case("big reads", mb("SMEMBERS", big) + mb("SRANDMEMBER", big, 5000) + mb("SINTER", big, big) + mb("SUNION", big), 4, sorted_items)

    sc = Conn(args.port)
    out.append("sscan: %d %d" % (len(scan_all(sc, "SSCAN", big)), len(scan_all(sc, "SSCAN", big, "MATCH", "m1*", "COUNT", 7))))
    sc.send(mb("SSCAN", a, 0) + mb("SSCAN", a, 5, "MATCH", "[12]") + mb("SSCAN", n, 0))
    out.append("sscan intset: %r" % (sc.reply() + sc.reply() + sc.reply()))
    sc.sock.close()
    case("key commands", mb("RENAME", a, k("e1")) + mb("SMEMBERS", k("e1")) + mb("COPY", k("e1"), a) + mb("SMEMBERS", a)
         + mb("SCAN", 0, "TYPE", "set", "MATCH", "rs_e1", "COUNT", 100000) + mb("DEL", k("e1")), 6)
    case("resp3", mb("HELLO", 3) + mb("SMEMBERS", a) + mb("SMEMBERS", n) + mb("SRANDMEMBER", a, 10) + mb("SPOP", n, 1)
         + mb("SINTER", a, a) + mb("SUNION", n) + mb("SMISMEMBER", a, 1, 2), 8, lambda r: r if not r.startswith(b"%7") else b"<hello>")
    ev = k("ev")
    sub = Conn(args.port)
    sub.send(mb("CONFIG", "SET", "notify-keyspace-events", "Egsn") + mb("PSUBSCRIBE", "__keyevent@0__:*"))
    sub.reply()
    sub.reply()
    w = Conn(args.port)
    w.send(mb("SADD", ev, 1, 2) + mb("SADD", ev, 1) + mb("SREM", ev, 9) + mb("SREM", ev, 1) + mb("SMOVE", ev, k("h"), 2)
           + mb("SADD", ev, 3, 4) + mb("SPOP", ev, 1) + mb("SPOP", ev, 5) + mb("SINTERSTORE", ev, k("h"), k("h")) + mb("SUNIONSTORE", ev, n)
           + mb("DEL", k("h")))
    for _ in range(11):
        w.reply()
    out.append("events: %r" % drain_events(sub))
    w.send(mb("CONFIG", "SET", "notify-keyspace-events", ""))
    w.reply()
    for x in (sub, w):
        x.sock.close()
    transcript.finish("SET CHECKS PASSED")


if __name__ == "__main__":
    main()
