#!/usr/bin/env python3
"""Redis hash commands, one transcript line per case, for comparison with redis-server 7.0.

The sibling of resp_lists.py (resp_common.py's Conn, mb, parse and Transcript): every hash command with its edge
errors in redis's words, WRONGTYPE both ways, the listpack -> hashtable conversion at 512 fields and
64 bytes (OBJECT ENCODING), HINCRBY/HINCRBYFLOAT's parsing, overflow and formatting, HRANDFIELD's
count forms and WITHVALUES, HSCAN (a listpack answers at once; a hashtable scanned to the end),
large hashes and values, the generic key commands on a hash, RESP3 (HGETALL a map, HRANDFIELD's
pairs) and keyspace notifications (h class, new, del). Replies whose order is the hash table's
(redis's dict order is not ours) are compared sorted; random picks are checked for size and
membership. Keys have fixed names, deleted first.

Usage: resp_hashes.py --port P
"""

import argparse
import hashlib
import time

from resp_common import Conn, Transcript, drain_events, mb, parse, scan_all, sorted_items, sorted_pairs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    names = ["h", "none", "s", "c", "f", "t", "t2", "t3", "r", "one", "big", "lg", "h2", "h3", "l", "ev"]

    def k(name):
        return ("rh_%s" % name).encode()

    setup = Conn(args.port)
    setup.send(mb("DEL", *[k(x) for x in names]) + mb("SELECT", 1) + mb("DEL", k("h2")))
    setup.reply()
    setup.reply()
    setup.reply()
    setup.sock.close()

    transcript = Transcript(args.port)
    case, out = transcript.case, transcript.lines

    h, n, s = k("h"), k("none"), k("s")
    case("basic", mb("HSET", h, "a", "1", "b", "2") + mb("HGET", h, "a") + mb("HGET", h, "zz") + mb("HGET", n, "a")
         + mb("HMGET", h, "a", "zz", "b") + mb("HMGET", n, "a", "b") + mb("HLEN", h) + mb("HLEN", n)
         + mb("HSTRLEN", h, "a") + mb("HSTRLEN", h, "zz") + mb("HSTRLEN", n, "a") + mb("HEXISTS", h, "a")
         + mb("HEXISTS", h, "zz") + mb("HEXISTS", n, "a") + mb("HGETALL", h) + mb("HKEYS", h) + mb("HVALS", h)
         + mb("HGETALL", n) + mb("HKEYS", n) + mb("HVALS", n) + mb("HGET", h, ""), 21)
    case("set forms", mb("HSET", h, "a", "10", "c", "3") + mb("HMSET", h, "d", "4", "e", "5") + mb("HSETNX", h, "a", "x")
         + mb("HSETNX", h, "f", "6") + mb("HSET", h, "a", "11", "a", "12") + mb("HGETALL", h) + mb("HSET", h, "", "empty")
         + mb("HGET", h, "") + mb("HDEL", h, ""), 9)
    case("arity", mb("HSET", h, "a") + mb("HSET", h, "a", "1", "b") + mb("HMSET", h, "a") + mb("HMSET", h, "a", "1", "b")
         + mb("HSETNX", h, "a") + mb("HGET", h) + mb("HSET", h) + mb("HMGET", h) + mb("HDEL", h) + mb("HLEN")
         + mb("HSTRLEN", h) + mb("HEXISTS", h, "a", "b") + mb("HKEYS") + mb("HGETALL", h, "x") + mb("HINCRBY", h, "a")
         + mb("HINCRBYFLOAT", h, "a") + mb("HRANDFIELD") + mb("HSCAN", h), 18)
    case("hdel", mb("HDEL", h, "a", "zz", "c") + mb("HDEL", n, "a") + mb("HGETALL", h) + mb("HDEL", h, "b", "d", "e", "f", "f")
         + mb("EXISTS", h) + mb("HLEN", h), 6)
    c = k("c")
    case("hincrby", mb("HINCRBY", c, "n", 5) + mb("HINCRBY", c, "n", -7) + mb("HINCRBY", c, "n", "x") + mb("HINCRBY", c, "n", "1.5")
         + mb("HINCRBY", c, "n", "") + mb("HSET", c, "s", "abc", "z", "012", "sp", " 1", "big", "9223372036854775807",
                                                 "neg", "-9223372036854775808", "e", "")
         + mb("HINCRBY", c, "s", 1) + mb("HINCRBY", c, "z", 1) + mb("HINCRBY", c, "sp", 1) + mb("HINCRBY", c, "big", 1)
         + mb("HINCRBY", c, "big", 0) + mb("HINCRBY", c, "neg", -1) + mb("HINCRBY", c, "neg", 1) + mb("HINCRBY", c, "e", 1)
         + mb("HINCRBY", c, "n", "9223372036854775807") + mb("HINCRBY", c, "n", "-9223372036854775808")
         + mb("HINCRBY", c, "n2", "-9223372036854775808") + mb("HGETALL", c), 18)
    f = k("f")
    case("hincrbyfloat", mb("HINCRBYFLOAT", f, "x", "1.5") + mb("HINCRBYFLOAT", f, "x", "0.1") + mb("HINCRBYFLOAT", f, "x", "-1.6")
         + mb("HINCRBYFLOAT", f, "x", "1e3") + mb("HINCRBYFLOAT", f, "x", "abc") + mb("HINCRBYFLOAT", f, "x", "inf")
         + mb("HINCRBYFLOAT", f, "x", "nan") + mb("HINCRBYFLOAT", f, "x", " 1") + mb("HINCRBYFLOAT", f, "x", "")
         + mb("HSET", f, "s", "abc", "i", "10", "e", "", "ws", "1 ") + mb("HINCRBYFLOAT", f, "s", 1) + mb("HINCRBYFLOAT", f, "i", "2.5")
         + mb("HINCRBYFLOAT", f, "e", 1) + mb("HINCRBYFLOAT", f, "ws", 1) + mb("HINCRBYFLOAT", f, "x", "5.0e3")
         + mb("HINCRBYFLOAT", f, "y", "1.7976931348623157e308") + mb("HINCRBYFLOAT", f, "y", "1.7976931348623157e308")
         + mb("HINCRBYFLOAT", f, "z", "-0.0") + mb("HINCRBYFLOAT", f, "w", "3") + mb("HGET", f, "x") + mb("HGET", f, "w"), 21)
    case("wrongtype", mb("SET", s, "v") + mb("HSET", s, "a", "1") + mb("HMSET", s, "a", "1") + mb("HSETNX", s, "a", "1")
         + mb("HGET", s, "a") + mb("HMGET", s, "a") + mb("HDEL", s, "a") + mb("HLEN", s) + mb("HSTRLEN", s, "a")
         + mb("HEXISTS", s, "a") + mb("HKEYS", s) + mb("HVALS", s) + mb("HGETALL", s) + mb("HINCRBY", s, "a", 1)
         + mb("HINCRBYFLOAT", s, "a", 1) + mb("HRANDFIELD", s) + mb("HRANDFIELD", s, 2) + mb("HRANDFIELD", s, 0)
         + mb("HSCAN", s, 0) + mb("HSET", h, "a", "1") + mb("GET", h) + mb("LPUSH", h, "x") + mb("INCR", h) + mb("APPEND", h, "x")
         + mb("TYPE", h) + mb("TYPE", s) + mb("LLEN", h) + mb("STRLEN", h) + mb("SET", h, "now a string") + mb("TYPE", h)
         + mb("HGET", h, "a"), 31)
    t, t2, t3 = k("t"), k("t2"), k("t3")
    case("encoding", mb("HSET", t, "a", "1") + mb("TYPE", t) + mb("OBJECT", "ENCODING", t)
         + mb("HSET", t, *[x for i in range(511) for x in ("f%d" % i, "v")]) + mb("HLEN", t) + mb("OBJECT", "ENCODING", t)
         + mb("HSET", t, "one-more", "v") + mb("OBJECT", "ENCODING", t) + mb("HDEL", t, *["f%d" % i for i in range(511)])
         + mb("OBJECT", "ENCODING", t) + mb("HSET", t2, "a", "x" * 64) + mb("OBJECT", "ENCODING", t2) + mb("HSET", t2, "b", "x" * 65)
         + mb("OBJECT", "ENCODING", t2) + mb("HSET", t3, "y" * 65, "1") + mb("OBJECT", "ENCODING", t3)
         + mb("HSETNX", t3 + b"x", "a", "z" * 100) + mb("OBJECT", "ENCODING", t3 + b"x") + mb("DEL", t3 + b"x")
         + mb("HINCRBYFLOAT", t, "a", "1e400") + mb("OBJECT", "ENCODING", t) + mb("OBJECT", "REFCOUNT", t), 22)
    one, r = k("one"), k("r")
    case("hrandfield fixed", mb("HRANDFIELD", n) + mb("HRANDFIELD", n, 3) + mb("HRANDFIELD", n, -3, "WITHVALUES")
         + mb("HSET", r, "a", "1", "b", "2", "c", "3", "d", "4", "e", "5") + mb("HRANDFIELD", r, 0) + mb("HRANDFIELD", r, 5)
         + mb("HRANDFIELD", r, 10, "WITHVALUES") + mb("HRANDFIELD", r, 10, "withvalues") + mb("HRANDFIELD", r, "x")
         + mb("HRANDFIELD", r, 1, "WITHVALUE") + mb("HRANDFIELD", r, 1, "WITHVALUES", "x") + mb("HRANDFIELD", r, "-9223372036854775808")
         + mb("HRANDFIELD", r, "4611686018427387904", "WITHVALUES") + mb("HRANDFIELD", r, "-4611686018427387904", "WITHVALUES")
         + mb("HRANDFIELD", r, "4611686018427387903", "WITHVALUES") + mb("HRANDFIELD", n, 0) + mb("HSET", one, "only", "v")
         + mb("HRANDFIELD", one) + mb("HRANDFIELD", one, -3) + mb("HRANDFIELD", one, -2, "WITHVALUES") + mb("HRANDFIELD", one, 1, "WITHVALUES")
         + mb("HRANDFIELD", n, "x") + mb("HRANDFIELD", s, "x"), 23)

    def members_ok(expect_len, fields, distinct):
        def check(rep):
            v = parse(rep)
            ok = len(v) == expect_len and all(x in fields for x in v) and (not distinct or len(set(v)) == len(v))
            return "%d picks ok" % len(v) if ok else "bad %r" % rep
        return check

    fields = {b"a", b"b", b"c", b"d", b"e"}
    case("hrandfield random", mb("HRANDFIELD", r, -20), 1, members_ok(20, fields, False))
    case("hrandfield distinct", mb("HRANDFIELD", r, 3), 1, members_ok(3, fields, True))
    case("hrandfield one", mb("HRANDFIELD", r), 1, lambda rep: "in" if parse(rep) in fields else rep)

    def pairs_ok(expect_len):
        def check(rep):
            v = parse(rep)
            ok = len(v) == 2 * expect_len and all(x in fields and y == b"%d" % (b"abcde".index(x) + 1) for x, y in zip(v[0::2], v[1::2]))
            return "%d pairs ok" % (len(v) // 2) if ok else "bad %r" % rep
        return check
    case("hrandfield withvalues", mb("HRANDFIELD", r, -7, "WITHVALUES"), 1, pairs_ok(7))
    case("hscan listpack", mb("HSCAN", r, 0) + mb("HSCAN", r, 0, "MATCH", "[a-c]") + mb("HSCAN", r, 0, "COUNT", 1) + mb("HSCAN", r, 7)
         + mb("HSCAN", n, 0) + mb("HSCAN", r, "x") + mb("HSCAN", r, 0, "COUNT", 0) + mb("HSCAN", r, 0, "COUNT", "x")
         + mb("HSCAN", r, 0, "TYPE", "string") + mb("HSCAN", r, 0, "MATCH") + mb("HSCAN", s, 0) + mb("HSCAN", n, 0, "COUNT", "x")
         + mb("HSCAN", r, "-1") + mb("HSCAN", r, 0, "match", "*", "count", 100) + mb("HSCAN", s, "x"), 15)

    # A hashtable: 1000 fields, read in every way; order-free replies sorted.
    big = k("big")
    fields1000 = [x for i in range(1000) for x in ("field:%d" % i, "value:%d" % i)]
    case("big writes", mb("HSET", big, *fields1000) + mb("HLEN", big) + mb("OBJECT", "ENCODING", big) + mb("HGET", big, "field:999")
         + mb("HMGET", big, "field:0", "nope", "field:500") + mb("HSTRLEN", big, "field:10") + mb("HEXISTS", big, "field:1000")
         + mb("HSET", big, "field:1", "changed", "new", "x") + mb("HGET", big, "field:1"), 9)
    case("big hgetall", mb("HGETALL", big), 1, sorted_pairs)
    case("big hkeys hvals", mb("HKEYS", big) + mb("HVALS", big), 2, sorted_items)
    case("big hrandfield", mb("HRANDFIELD", big, 2000) + mb("HRANDFIELD", big, -5000), 2, lambda rep: len(parse(rep)))

    sc = Conn(args.port)
    full = scan_all(sc, "HSCAN", big, pairs=True)
    matched = scan_all(sc, "HSCAN", big, "MATCH", "field:1*", "COUNT", 50, pairs=True)
    out.append("hscan hashtable: %d pairs, %s; match: %d, %s" % (
        len(full), hashlib.md5(repr(full).encode()).hexdigest(), len(matched), hashlib.md5(repr(matched).encode()).hexdigest()))
    sc.sock.close()
    case("big deletes", mb("HDEL", big, *["field:%d" % i for i in range(0, 1000, 2)]) + mb("HLEN", big) + mb("HGET", big, "field:2")
         + mb("HGET", big, "field:3") + mb("OBJECT", "ENCODING", big) + mb("DEL", big) + mb("EXISTS", big), 7)
    lg = k("lg")

    def digest(rep):
        return "%d bytes %s" % (len(rep), hashlib.md5(rep).hexdigest())
    case("large values", mb("HSET", lg, "a", "b" * 10000, "c", "d" * 700000, "e" * 300, "f") + mb("HSTRLEN", lg, "c")
         + mb("HGET", lg, "c") + mb("HGET", lg, "e" * 300) + mb("HMGET", lg, "a", "c") + mb("HINCRBY", lg, "e" * 300, 1)
         + mb("HSET", lg, "c", "short") + mb("HGET", lg, "c") + mb("DEL", lg), 9, digest)
    h2, h3 = k("h2"), k("h3")
    case("key commands", mb("HSET", h2, "a", "1", "b", "2") + mb("RENAME", h2, h3) + mb("HGETALL", h3) + mb("EXISTS", h2)
         + mb("COPY", h3, h2) + mb("HGETALL", h2) + mb("HSET", h2, "c", "3") + mb("HLEN", h3) + mb("EXPIRE", h3, 100) + mb("TTL", h3)
         + mb("PERSIST", h3) + mb("TTL", h3) + mb("MOVE", h2, 1) + mb("EXISTS", h2) + mb("SELECT", 1) + mb("HGETALL", h2)
         + mb("DEL", h2) + mb("SELECT", 0) + mb("TYPE", h3) + mb("SCAN", 0, "TYPE", "hash", "MATCH", "rh_h3", "COUNT", 100000)
         + mb("UNLINK", h3) + mb("EXISTS", h3) + mb("RENAMENX", one, r) + mb("COPY", one, r, "REPLACE") + mb("HGETALL", r), 25)

    # RESP3: HGETALL a map, HRANDFIELD WITHVALUES pairs, nulls.
    case("resp3", mb("HELLO", 3) + mb("DEL", h) + mb("HSET", h, "a", "1", "b", "2") + mb("HGETALL", h) + mb("HGETALL", n) + mb("HGET", n, "a")
         + mb("HMGET", h, "a", "zz") + mb("HRANDFIELD", n) + mb("HRANDFIELD", h, 5, "WITHVALUES") + mb("HRANDFIELD", one, -2, "WITHVALUES")
         + mb("HRANDFIELD", n, 2) + mb("HSCAN", h, 0) + mb("HKEYS", h) + mb("HINCRBYFLOAT", h, "a", "0.5") + mb("HEXISTS", h, "a")
         + mb("DEL", h), 16, lambda rep: rep if not rep.startswith(b"%7") else b"<hello>")

    # Keyspace notifications: a subscriber sees what each command published.
    ev = k("ev")
    sub = Conn(args.port)
    sub.send(mb("CONFIG", "SET", "notify-keyspace-events", "Eghn") + mb("PSUBSCRIBE", "__keyevent@0__:*"))
    sub.reply()
    sub.reply()
    w = Conn(args.port)
    w.send(mb("HSET", ev, "a", "1") + mb("HSET", ev, "a", "2", "b", "3") + mb("HSETNX", ev, "a", "x") + mb("HSETNX", ev, "c", "x")
           + mb("HINCRBY", ev, "n", 1) + mb("HINCRBYFLOAT", ev, "n", "1.5") + mb("HDEL", ev, "zz") + mb("HDEL", ev, "a", "b")
           + mb("HDEL", ev, "c", "n") + mb("HINCRBY", ev, "n", "x") + mb("HINCRBY", ev, "m", 1) + mb("DEL", ev))
    for _ in range(12):
        w.reply()
    out.append("events: %r" % drain_events(sub))
    w.send(mb("CONFIG", "SET", "notify-keyspace-events", ""))
    w.reply()
    for x in (sub, w):
        x.sock.close()
    transcript.finish("HASH CHECKS PASSED")


if __name__ == "__main__":
    main()
