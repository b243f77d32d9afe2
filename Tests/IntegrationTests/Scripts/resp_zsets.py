#!/usr/bin/env python3
"""Redis sorted-set commands, one transcript line per case, for comparison with redis-server 7.0.

The sibling of resp_hashes.py (resp_compare.py's Conn and mb): ZADD's options and their conflicts,
score parsing (strtod's forms, inf, NaN refused) and formatting (%.17g), ZINCRBY, ZREM, ZCARD,
ZSCORE/ZMSCORE, ZRANK/ZREVRANK, the range family (ranks, scores with exclusive ends, lex ranges,
REV, LIMIT, WITHSCORES, ZRANGESTORE and the old forms), ZCOUNT/ZLEXCOUNT, ZREMRANGEBY*, ZPOPMIN/
ZPOPMAX/ZMPOP, ZRANDMEMBER's fixed forms (random picks checked for size and membership), ZSCAN of a
listpack, the listpack -> skiplist conversion at 128 members and 64 bytes (OBJECT ENCODING), a
large set's ranks, WRONGTYPE both ways, key commands on a sorted set, RESP3 (doubles, pairs) and
keyspace notifications (z class, new, del). Keys have fixed names, deleted first.

Usage: resp_zsets.py --port P
"""

import argparse
import hashlib
import random
import time

from resp_common import drain_events
from resp_compare import Conn, mb
from resp_hashes import parse


def mix_requests(rng, n, members_n):
    keys = ["rz_mk1", "rz_mk2", "rz_mk3"]
    members = ["m%d" % i for i in range(members_n)] + ["", "a", "b", "aa", "x" * 70]
    scores = ["0", "1", "-1", "2.5", "inf", "-inf", "1e10", "3", "(1", "0.1", "-0"]
    reqs = []
    for _ in range(n):
        k = rng.choice(keys); op = rng.randrange(22)
        m = lambda: rng.choice(members)
        s = lambda: rng.choice(scores[:8] + ["0.1", "-0"])
        b = lambda: rng.choice(["-inf", "+inf", "0", "1", "(1", "2.5", "(2.5", "3", "(0", "-1", "1e10"])
        lx = lambda: rng.choice(["-", "+", "[a", "(a", "[m1", "(m1", "[m5", "[", "(b", "[x"])
        i = lambda: str(rng.randrange(-8, 8))
        if op < 5: reqs.append(mb("ZADD", k, *rng.choice([[], ["NX"], ["XX"], ["GT"], ["LT"], ["CH"], ["XX", "GT", "CH"]]), *[x for _ in range(rng.randrange(1, 6)) for x in (s(), m())]))
        elif op == 5: reqs.append(mb("ZINCRBY", k, s(), m()))
        elif op == 6: reqs.append(mb("ZREM", k, m(), m()))
        elif op == 7: reqs.append(mb("ZRANGE", k, i(), i(), *rng.choice([[], ["WITHSCORES"], ["REV"], ["REV", "WITHSCORES"]])))
        elif op == 8: reqs.append(mb("ZRANGE", k, b(), b(), "BYSCORE", *rng.choice([[], ["WITHSCORES"], ["REV"], ["LIMIT", i(), i()], ["REV", "LIMIT", i(), i(), "WITHSCORES"]])))
        elif op == 9: reqs.append(mb("ZADD", "rz_ml", 0, m())); reqs.append(mb("ZRANGE", "rz_ml", lx(), lx(), "BYLEX", *rng.choice([[], ["REV"], ["LIMIT", i(), i()], ["REV", "LIMIT", i(), i()]])))
        elif op == 10: reqs.append(mb("ZCOUNT", k, b(), b()))
        elif op == 11: reqs.append(mb("ZLEXCOUNT", "rz_ml", lx(), lx()))
        elif op == 12: reqs.append(mb("ZRANK", k, m())); reqs.append(mb("ZREVRANK", k, m()))
        elif op == 13: reqs.append(mb("ZSCORE", k, m())); reqs.append(mb("ZMSCORE", k, m(), m()))
        elif op == 14: reqs.append(mb(rng.choice(["ZPOPMIN", "ZPOPMAX"]), k, *rng.choice([[], [str(rng.randrange(0, 4))]])))
        elif op == 15: reqs.append(mb("ZREMRANGEBYSCORE", k, b(), b()))
        elif op == 16: reqs.append(mb("ZREMRANGEBYRANK", k, i(), i()))
        elif op == 17: reqs.append(mb("ZREMRANGEBYLEX", "rz_ml", lx(), lx()))
        elif op == 18: reqs.append(mb(rng.choice(["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"]), k, 2, rng.choice(keys), rng.choice(keys)))
        elif op == 19: reqs.append(mb(rng.choice(["ZUNION", "ZINTER"]), 2, rng.choice(keys), rng.choice(keys), "WEIGHTS", s(), s(), "AGGREGATE", rng.choice(["SUM", "MIN", "MAX"]), "WITHSCORES"))
        elif op == 20: reqs.append(mb("ZRANGESTORE", k, rng.choice(keys), i(), i()))
        else: reqs.append(mb("ZCARD", k)); reqs.append(mb("OBJECT", "ENCODING", k)); reqs.append(mb("ZRANGE", k, 0, -1, "WITHSCORES"))
    return reqs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    names = ["z", "none", "s", "f", "r", "one", "enc", "enc2", "enc3", "big", "dst", "z2", "z3", "p", "m1", "m2", "ev", "lex", "set", "a1", "a2", "a3", "b1", "b2", "lu", "lu2"]

    def k(name):
        return ("rz_%s" % name).encode()

    setup = Conn(args.port)
    setup.send(mb("DEL", *[k(x) for x in names]) + mb("SELECT", 1) + mb("DEL", k("z2")) + mb("SELECT", 0))
    for _ in range(4):
        setup.reply()
    setup.sock.close()

    out = []

    def case(name, requests, replies, normalize=None):
        c = Conn(args.port)
        c.send(requests)
        got = []
        for _ in range(replies):
            r = c.reply()
            got.append(normalize(r) if normalize else r)
        out.append("%s: %r" % (name, got if normalize else b"".join(got)))
        c.sock.close()

    z, n, s = k("z"), k("none"), k("s")
    case("basic", mb("ZADD", z, 1, "a", 2, "b", 3, "c") + mb("ZCARD", z) + mb("ZCARD", n) + mb("ZSCORE", z, "b")
         + mb("ZSCORE", z, "x") + mb("ZSCORE", n, "a") + mb("ZMSCORE", z, "a", "x", "c") + mb("ZMSCORE", n, "a", "b")
         + mb("ZRANK", z, "a") + mb("ZRANK", z, "c") + mb("ZRANK", z, "x") + mb("ZRANK", n, "a") + mb("ZREVRANK", z, "a")
         + mb("ZREVRANK", z, "x") + mb("ZRANGE", z, 0, -1) + mb("ZRANGE", z, 0, -1, "WITHSCORES") + mb("ZRANGE", n, 0, -1)
         + mb("ZADD", z, 1, "") + mb("ZSCORE", z, "") + mb("ZREM", z, ""), 20)
    case("zadd options", mb("ZADD", z, "NX", 10, "a", 4, "d") + mb("ZADD", z, "XX", 10, "a", 5, "e") + mb("ZADD", z, "CH", 11, "a", 4, "d", 6, "f")
         + mb("ZADD", z, "GT", "CH", 5, "a", 20, "b") + mb("ZADD", z, "LT", "CH", 1, "c", 30, "d") + mb("ZADD", z, "XX", "GT", 100, "c")
         + mb("ZADD", z, "INCR", 5, "a") + mb("ZADD", z, "NX", "INCR", 5, "a") + mb("ZADD", z, "XX", "INCR", 5, "zz")
         + mb("ZADD", z, "GT", "INCR", -1, "a") + mb("ZADD", z, "LT", "INCR", -1, "a") + mb("ZADD", z, "INCR", 0, "a")
         + mb("ZADD", z, "nx", "xx", 1, "a") + mb("ZADD", z, "GT", "LT", 1, "a") + mb("ZADD", z, "NX", "GT", 1, "a")
         + mb("ZADD", z, "INCR", 1, "a", 2, "b") + mb("ZADD", z, 1) + mb("ZADD", z, "NX") + mb("ZADD", z, 1, "a", 2)
         + mb("ZADD", z, "x", "a") + mb("ZADD", z, 1, "a", "y", "b") + mb("ZADD", n, "XX", 1, "a") + mb("EXISTS", n)
         + mb("ZADD", n, "XX", "INCR", 1, "a") + mb("ZRANGE", z, 0, -1, "WITHSCORES"), 25)
    f = k("f")
    case("scores", mb("ZADD", f, "1.5", "a", "0.1", "b", "-0", "c", "1e3", "d", "inf", "e", "-inf", "g", "+inf", "h")
         + mb("ZADD", f, "3.0000000000000004", "i", "0x10", "j", "1E-5", "k", "123456789012345678", "l", ".5", "m")
         + mb("ZADD", f, "5.", "o", "-.5e-3", "p", "1.7976931348623157e308", "q", "4.9e-324", "r", "Infinity", "s2")
         + mb("ZRANGE", f, 0, -1, "WITHSCORES") + mb("ZADD", f, "nan", "x") + mb("ZADD", f, " 1", "x") + mb("ZADD", f, "1 ", "x")
         + mb("ZADD", f, "", "x") + mb("ZADD", f, "1e400", "x") + mb("ZADD", f, "1e-400", "x") + mb("ZADD", f, "1x", "x")
         + mb("ZADD", f, "0.1", "y") + mb("ZSCORE", f, "y") + mb("ZINCRBY", f, "0.2", "y") + mb("ZINCRBY", f, "inf", "e")
         + mb("ZINCRBY", f, "-inf", "e") + mb("ZINCRBY", f, "nan", "e") + mb("ZINCRBY", f, "1", "new") + mb("ZINCRBY", f, "x", "new")
         + mb("ZINCRBY", f, "nx", "new") + mb("ZINCRBY", n, 1) + mb("ZSCORE", f, "c") + mb("ZINCRBY", f, 0, "c") + mb("DEL", n), 24)
    r = k("r")
    setr = mb("DEL", r) + mb("ZADD", r, 1, "a", 2, "b", 3, "c", 4, "d", 5, "e", 5, "ee", 5, "e2")
    case("zrange ranks", setr + mb("ZRANGE", r, 1, 3) + mb("ZRANGE", r, -2, -1) + mb("ZRANGE", r, -100, 1) + mb("ZRANGE", r, 3, 1)
         + mb("ZRANGE", r, 7, 10) + mb("ZRANGE", r, 5, 100, "WITHSCORES") + mb("ZRANGE", r, 0, 1, "REV") + mb("ZREVRANGE", r, 0, 1)
         + mb("ZREVRANGE", r, 0, 1, "WITHSCORES") + mb("ZRANGE", r, 0, -1, "REV", "REV") + mb("ZRANGE", r, "x", 1)
         + mb("ZRANGE", r, 0, 1, "LIMIT", 0, 1) + mb("ZRANGE", r, 0, 1, "LIMIT", 0, -1) + mb("ZRANGE", r, 0, 1, "FOO")
         + mb("ZREVRANGE", r, 0, 1, "REV") + mb("ZRANGE", r, 0) + mb("ZRANGE", r, 0, 1, "withscores", "withscores"), 19)
    case("zrange scores", setr + mb("ZRANGE", r, 2, 4, "BYSCORE") + mb("ZRANGE", r, "(2", 4, "BYSCORE") + mb("ZRANGE", r, 2, "(4", "BYSCORE")
         + mb("ZRANGE", r, "(3", "(3", "BYSCORE") + mb("ZRANGE", r, "-inf", "+inf", "BYSCORE", "WITHSCORES") + mb("ZRANGE", r, 4, 2, "BYSCORE")
         + mb("ZRANGE", r, 4, 2, "BYSCORE", "REV") + mb("ZRANGE", r, "+inf", "(3", "BYSCORE", "REV", "LIMIT", 1, 2)
         + mb("ZRANGE", r, 0, 10, "BYSCORE", "LIMIT", 2, 3) + mb("ZRANGE", r, 0, 10, "BYSCORE", "LIMIT", -1, 3)
         + mb("ZRANGE", r, 0, 10, "BYSCORE", "LIMIT", 7, 3) + mb("ZRANGE", r, 0, 10, "BYSCORE", "LIMIT", 2, -5)
         + mb("ZRANGE", r, 0, 10, "BYSCORE", "LIMIT", 2, 0) + mb("ZRANGE", r, "x", 10, "BYSCORE") + mb("ZRANGE", r, "(", 10, "BYSCORE")
         + mb("ZRANGE", r, "", 10, "BYSCORE") + mb("ZRANGE", r, "nan", 10, "BYSCORE") + mb("ZRANGE", r, " 3", "3 ", "BYSCORE")
         + mb("ZRANGEBYSCORE", r, 2, 4, "WITHSCORES") + mb("ZRANGEBYSCORE", r, 2, 4, "LIMIT", 1, 1) + mb("ZREVRANGEBYSCORE", r, 4, 2)
         + mb("ZREVRANGEBYSCORE", r, 2, 4) + mb("ZRANGEBYSCORE", r, 2, 4, "REV") + mb("ZRANGE", r, 0, 1, "BYSCORE", "BYLEX")
         + mb("ZRANGE", r, 0, 5, "BYSCORE", "LIMIT", 1) + mb("ZRANGE", r, 0, 5, "BYSCORE", "LIMIT", "x", 1)
         + mb("ZCOUNT", r, 2, 4) + mb("ZCOUNT", r, "(2", "(5") + mb("ZCOUNT", r, "-inf", "inf") + mb("ZCOUNT", r, "x", 1) + mb("ZCOUNT", n, 1, 2), 32)
    lx = k("lex")
    case("lex", mb("ZADD", lx, 0, "a", 0, "b", 0, "c", 0, "d", 0, "e", 0, "aa", 0, "") + mb("ZRANGE", lx, "[b", "[d", "BYLEX")
         + mb("ZRANGE", lx, "(b", "(d", "BYLEX") + mb("ZRANGE", lx, "-", "+", "BYLEX") + mb("ZRANGE", lx, "+", "-", "BYLEX")
         + mb("ZRANGE", lx, "+", "-", "BYLEX", "REV") + mb("ZRANGE", lx, "[d", "(a", "BYLEX", "REV", "LIMIT", 1, 2)
         + mb("ZRANGE", lx, "-", "[a", "BYLEX") + mb("ZRANGE", lx, "[", "(b", "BYLEX") + mb("ZRANGE", lx, "a", "b", "BYLEX")
         + mb("ZRANGE", lx, "-x", "+", "BYLEX") + mb("ZRANGE", lx, "", "+", "BYLEX") + mb("ZRANGE", lx, "-", "+", "BYLEX", "WITHSCORES")
         + mb("ZRANGEBYLEX", lx, "[aa", "+") + mb("ZREVRANGEBYLEX", lx, "+", "[c") + mb("ZREVRANGEBYLEX", lx, "[c", "+")
         + mb("ZRANGEBYLEX", lx, "-", "+", "LIMIT", 2, 2) + mb("ZLEXCOUNT", lx, "-", "+") + mb("ZLEXCOUNT", lx, "(a", "[c")
         + mb("ZLEXCOUNT", lx, "a", "c") + mb("ZLEXCOUNT", n, "-", "+") + mb("ZREMRANGEBYLEX", lx, "(a", "[c")
         + mb("ZRANGE", lx, 0, -1) + mb("ZREMRANGEBYLEX", lx, "x", "y") + mb("ZREMRANGEBYLEX", lx, "-", "+") + mb("EXISTS", lx), 25)
    # Lex ranges over members of different scores in a listpack: redis's walks (the first in range
    # from the head, stop at the first out of range). In a skip list redis's answer then depends on
    # its nodes' random levels, so it is not compared.
    lu = k("lu")
    unsorted = [(5, "a"), (1, "x"), (3, "m"), (2, "b"), (4, "k"), (6, "c"), (0, "z")]
    for key, extra in ((lu, []),):
        flat = [x for sc, m in unsorted + extra for x in (sc, m)]
        case("lex unsorted %s" % key.decode(), mb("DEL", key) + mb("ZADD", key, *flat) + mb("ZRANGE", key, "[b", "[m", "BYLEX")
             + mb("ZRANGE", key, "[m", "[b", "BYLEX", "REV") + mb("ZRANGE", key, "-", "+", "BYLEX", "LIMIT", 2, 3)
             + mb("ZRANGE", key, "+", "-", "BYLEX", "REV", "LIMIT", 1, 2) + mb("ZRANGE", key, "[a", "[z", "BYLEX")
             + mb("ZRANGE", key, "(a", "(z", "BYLEX", "REV") + mb("ZLEXCOUNT", key, "[b", "[m") + mb("ZLEXCOUNT", key, "-", "+")
             + mb("ZLEXCOUNT", key, "[c", "[k") + mb("ZLEXCOUNT", key, "[k", "[c") + mb("ZRANGEBYLEX", key, "[c", "+")
             + mb("ZREVRANGEBYLEX", key, "[x", "-") + mb("ZRANGE", key, "[a", "[a", "BYLEX") + mb("ZRANGE", key, "(a", "[a", "BYLEX")
             + mb("ZREMRANGEBYLEX", key, "[b", "[m") + mb("ZRANGE", key, 0, -1) + mb("ZREMRANGEBYLEX", key, "[y", "+")
             + mb("ZRANGE", key, 0, 9), 18)
    case("zremrange", setr + mb("ZREMRANGEBYRANK", r, 0, 1) + mb("ZRANGE", r, 0, -1) + mb("ZREMRANGEBYRANK", r, -1, -1)
         + mb("ZREMRANGEBYRANK", r, 5, 10) + mb("ZREMRANGEBYRANK", r, 2, 1) + mb("ZREMRANGEBYRANK", r, "x", 1)
         + mb("ZREMRANGEBYSCORE", r, "(3", 5) + mb("ZRANGE", r, 0, -1, "WITHSCORES") + mb("ZREMRANGEBYSCORE", r, "x", 5)
         + mb("ZREMRANGEBYSCORE", n, 1, 2) + mb("ZREMRANGEBYRANK", r, 0, -1) + mb("EXISTS", r) + mb("ZREMRANGEBYRANK", n, 0, -1), 14)
    dst = k("dst")
    case("zrangestore", setr + mb("ZRANGESTORE", dst, r, 1, 3) + mb("ZRANGE", dst, 0, -1, "WITHSCORES") + mb("ZRANGESTORE", dst, r, 5, 2, "BYSCORE", "REV")
         + mb("ZRANGE", dst, 0, -1, "WITHSCORES") + mb("ZRANGESTORE", dst, r, "[a", "[c", "BYLEX") + mb("ZRANGE", dst, 0, -1)
         + mb("ZRANGESTORE", dst, r, 10, 20) + mb("EXISTS", dst) + mb("SET", dst, "str") + mb("ZRANGESTORE", dst, r, 0, 0)
         + mb("TYPE", dst) + mb("ZRANGESTORE", dst, n, 0, -1) + mb("EXISTS", dst) + mb("ZRANGESTORE", dst, r, 0, -1, "WITHSCORES")
         + mb("ZRANGESTORE", dst, r, 0, -1, "LIMIT", 0, 1) + mb("ZRANGESTORE", dst, s, 0, -1), 17)
    p = k("p")
    case("pops", mb("ZADD", p, 1, "a", 2, "b", 3, "c", 4, "d", 5, "e") + mb("ZPOPMIN", p) + mb("ZPOPMAX", p) + mb("ZPOPMIN", p, 2)
         + mb("ZPOPMIN", p, 0) + mb("ZPOPMIN", p, -1) + mb("ZPOPMIN", p, "x") + mb("ZPOPMIN", p, 1, 2) + mb("ZPOPMAX", p, 10)
         + mb("EXISTS", p) + mb("ZPOPMIN", n) + mb("ZPOPMIN", n, 3) + mb("ZPOPMAX", n, 0), 13)
    m1, m2 = k("m1"), k("m2")
    case("zmpop", mb("ZADD", m2, 1, "a", 2, "b", 3, "c") + mb("ZMPOP", 2, m1, m2, "MIN") + mb("ZMPOP", 2, m1, m2, "max", "COUNT", 5)
         + mb("ZMPOP", 2, m1, m2, "MIN") + mb("ZMPOP", 0, m1, "MIN") + mb("ZMPOP", -1, m1, "MIN") + mb("ZMPOP", "x", m1, "MIN")
         + mb("ZMPOP", 5, m1, "MIN") + mb("ZMPOP", 1, m1, "MID") + mb("ZMPOP", 1, m1, "MIN", "COUNT", 0)
         + mb("ZMPOP", 1, m1, "MIN", "COUNT") + mb("ZMPOP", 1, m1, "MIN", "COUNT", 1, "COUNT", 1) + mb("ZMPOP", 1, m1, "MIN", "FOO")
         + mb("SET", m1, "x") + mb("ZMPOP", 2, m2, m1, "MIN") + mb("DEL", m1), 16)
    e1, e2, e3 = k("enc"), k("enc2"), k("enc3")
    case("encoding", mb("ZADD", e1, *[x for i in range(128) for x in (i, "m%d" % i)]) + mb("OBJECT", "ENCODING", e1) + mb("TYPE", e1)
         + mb("ZADD", e1, 1000, "m0") + mb("OBJECT", "ENCODING", e1) + mb("ZADD", e1, 500, "new") + mb("OBJECT", "ENCODING", e1)
         + mb("ZRANK", e1, "new") + mb("ZRANGE", e1, 125, 130, "WITHSCORES") + mb("ZREM", e1, *["m%d" % i for i in range(1, 120)])
         + mb("OBJECT", "ENCODING", e1) + mb("ZRANGE", e1, 0, -1) + mb("ZADD", e2, 1, "x" * 64) + mb("OBJECT", "ENCODING", e2)
         + mb("ZADD", e2, 2, "y" * 65) + mb("OBJECT", "ENCODING", e2) + mb("ZADD", e3, 1, "y" * 65) + mb("OBJECT", "ENCODING", e3)
         + mb("ZRANGESTORE", e3, e2, 0, 0) + mb("OBJECT", "ENCODING", e3) + mb("ZRANGESTORE", e3, e1, 0, -1) + mb("OBJECT", "ENCODING", e3)
         + mb("ZPOPMIN", e1, 9) + mb("OBJECT", "ENCODING", e1) + mb("ZCARD", e1), 24)
    big = k("big")
    case("large", mb("ZADD", big, *[x for i in range(3000) for x in (i % 100, "m%04d" % i)]) + mb("ZCARD", big) + mb("ZRANK", big, "m1234")
         + mb("ZREVRANK", big, "m1234") + mb("ZRANGE", big, 1500, 1504, "WITHSCORES") + mb("ZRANGE", big, -3, -1)
         + mb("ZCOUNT", big, 10, "(20") + mb("ZRANGEBYSCORE", big, 50, 50, "LIMIT", 10, 3) + mb("ZREVRANGEBYSCORE", big, 60, 50, "LIMIT", 5, 4)
         + mb("ZREMRANGEBYSCORE", big, 0, 9) + mb("ZREMRANGEBYRANK", big, 100, 199) + mb("ZCARD", big) + mb("ZRANK", big, "m1234")
         + mb("ZPOPMAX", big, 2) + mb("ZPOPMIN", big) + mb("ZSCORE", big, "m2999") + mb("ZMSCORE", big, "m2998", "m0000", "m1500")
         + mb("ZINCRBY", big, 1000, "m1500") + mb("ZADD", big, "-0", "negzero") + mb("ZSCORE", big, "negzero") + mb("ZREVRANK", big, "m1500") + mb("ZRANGE", big, 0, 0) + mb("OBJECT", "ENCODING", big)
         + mb("ZSCAN", big, 0, "COUNT", 1, "MATCH", "nothing-matches") + mb("DEL", big) + mb("EXISTS", big), 25,
         lambda rep: b"<scan>" if rep.startswith(b"*2\r\n$") else rep)
    set_ = k("set")
    one = k("one")
    case("random fixed", mb("ZRANDMEMBER", n) + mb("ZRANDMEMBER", n, 3) + mb("ZRANDMEMBER", n, -3, "WITHSCORES")
         + mb("ZADD", r, 1, "a") + mb("ZRANDMEMBER", r, 0) + mb("ZRANDMEMBER", r, 20, "WITHSCORES") + mb("ZADD", one, "2.5", "only")
         + mb("ZRANDMEMBER", one, 1, "withscores") + mb("ZRANDMEMBER", r, "x") + mb("ZRANDMEMBER", r, 1, "WITHVALUES")
         + mb("ZRANDMEMBER", r, 1, "WITHSCORES", "x") + mb("ZRANDMEMBER", r, "-9223372036854775808")
         + mb("ZRANDMEMBER", r, "4611686018427387904", "WITHSCORES") + mb("ZRANDMEMBER", one, -2, "WITHSCORES")
         + mb("ZRANDMEMBER", r, 7) + mb("ZRANDMEMBER", k("enc"), 500), 16)
    members = {b"a", b"b", b"c", b"d", b"e", b"ee", b"e2"}

    def picks(expect_len, distinct):
        def check(rep):
            v = parse(rep)
            ok = len(v) == expect_len and all(x in members for x in v) and (not distinct or len(set(v)) == len(v))
            return "%d picks ok" % len(v) if ok else "bad %r" % rep
        return check

    case("random picks", setr + mb("ZRANDMEMBER", r, 3), 3, lambda rep: picks(3, True)(rep) if rep.startswith(b"*3") else rep)
    case("random repeats", mb("ZRANDMEMBER", r, -20), 1, picks(20, False))
    case("random one", mb("ZRANDMEMBER", r), 1, lambda rep: "in" if parse(rep) in members else rep)
    case("zscan", mb("ZSCAN", r, 0) + mb("ZSCAN", r, 0, "MATCH", "e*") + mb("ZSCAN", r, 0, "COUNT", 0) + mb("ZSCAN", r, "x")
         + mb("ZSCAN", n, 0) + mb("ZSCAN", r, 0, "FOO", 1), 6)
    case("arity", mb("ZADD", r, 1) + mb("ZINCRBY", r, 1) + mb("ZREM", r) + mb("ZCARD") + mb("ZSCORE", r) + mb("ZMSCORE", r)
         + mb("ZRANK", r) + mb("ZRANK", r, "a", "WITHSCORE") + mb("ZRANGE", r, 0) + mb("ZCOUNT", r, 0) + mb("ZLEXCOUNT", r, "-")
         + mb("ZREMRANGEBYRANK", r, 0) + mb("ZPOPMIN") + mb("ZMPOP", 1, r) + mb("ZRANDMEMBER") + mb("ZSCAN", r)
         + mb("ZRANGESTORE", dst, r, 0), 17)
    case("wrongtype", mb("SET", s, "v") + mb("ZADD", s, 1, "a") + mb("ZINCRBY", s, 1, "a") + mb("ZREM", s, "a") + mb("ZCARD", s)
         + mb("ZSCORE", s, "a") + mb("ZMSCORE", s, "a") + mb("ZRANK", s, "a") + mb("ZRANGE", s, 0, 1) + mb("ZRANGE", s, 0, 1, "BYSCORE")
         + mb("ZCOUNT", s, 0, 1) + mb("ZLEXCOUNT", s, "-", "+") + mb("ZREMRANGEBYRANK", s, 0, 1) + mb("ZPOPMIN", s) + mb("ZPOPMIN", s, 0)
         + mb("ZRANDMEMBER", s) + mb("ZRANDMEMBER", s, 2) + mb("ZSCAN", s, 0) + mb("ZADD", s, "x", "a") + mb("ZCOUNT", s, "x", 1)
         + mb("ZADD", z, 1, "a") + mb("GET", z) + mb("HSET", z, "a", "1") + mb("SADD", z, "a") + mb("LPUSH", z, "a") + mb("TYPE", z)
         + mb("SET", z, "now a string") + mb("ZSCORE", z, "a"), 28)
    a1, a2, a3 = k("a1"), k("a2"), k("a3")
    seta = (mb("DEL", a1, a2, a3, dst) + mb("ZADD", a1, 1, "a", 2, "b", 3, "c") + mb("ZADD", a2, 10, "b", 20, "c", 30, "d")
            + mb("SADD", a3, "c", "d", "e"))
    case("algebra", seta + mb("ZUNION", 2, a1, a2) + mb("ZUNION", 2, a1, a2, "WITHSCORES") + mb("ZINTER", 2, a1, a2, "WITHSCORES")
         + mb("ZDIFF", 2, a1, a2, "WITHSCORES") + mb("ZUNION", 3, a1, a2, a3, "WITHSCORES") + mb("ZINTER", 3, a1, a2, a3, "withscores")
         + mb("ZUNION", 2, a1, a2, "WEIGHTS", 2, "0.5", "WITHSCORES") + mb("ZUNION", 2, a1, a2, "AGGREGATE", "MIN", "WITHSCORES")
         + mb("ZINTER", 2, a1, a2, "AGGREGATE", "max", "WITHSCORES") + mb("ZUNION", 2, a1, n, "WITHSCORES") + mb("ZINTER", 2, a1, n)
         + mb("ZDIFF", 1, n) + mb("ZUNION", 0, a1) + mb("ZUNION", -1, a1) + mb("ZUNION", "x", a1) + mb("ZUNION", 3, a1, a2)
         + mb("ZUNION", 2, a1, a2, "WEIGHTS", 1) + mb("ZUNION", 2, a1, a2, "WEIGHTS", 1, "x") + mb("ZUNION", 2, a1, a2, "AGGREGATE", "avg")
         + mb("ZDIFF", 2, a1, a2, "WEIGHTS", 1, 2) + mb("ZDIFF", 2, a1, a2, "AGGREGATE", "sum") + mb("ZUNION", 2, a1, s)
         + mb("ZUNION", 2, a1, s, "FOO") + mb("ZUNION", 2, a1, a2, "FOO") + mb("ZUNION", 2, a1, a2, "WEIGHTS", "inf", 0, "WITHSCORES")
         + mb("ZUNION", 2, a1, a1, "WEIGHTS", "inf", "-inf", "WITHSCORES") + mb("ZINTER", 2, a1, a2, "WEIGHTS", 0, "inf", "AGGREGATE", "min", "WITHSCORES")
         + mb("ZINTERCARD", 2, a1, a2) + mb("ZINTERCARD", 3, a1, a2, a3) + mb("ZINTERCARD", 2, a1, a2, "LIMIT", 1)
         + mb("ZINTERCARD", 2, a1, a2, "LIMIT", 0) + mb("ZINTERCARD", 2, a1, a2, "LIMIT", -1) + mb("ZINTERCARD", 2, a1, a2, "LIMIT", "x")
         + mb("ZINTERCARD", 0, a1) + mb("ZINTERCARD", 2, a1, a2, "WITHSCORES") + mb("ZINTERCARD", 1, s), 40)
    case("algebra store", seta + mb("ZUNIONSTORE", dst, 2, a1, a2) + mb("ZRANGE", dst, 0, -1, "WITHSCORES") + mb("OBJECT", "ENCODING", dst)
         + mb("ZINTERSTORE", dst, 3, a1, a2, a3, "WEIGHTS", 1, 1, 5) + mb("ZRANGE", dst, 0, -1, "WITHSCORES") + mb("ZDIFFSTORE", dst, 2, a1, a2)
         + mb("ZRANGE", dst, 0, -1, "WITHSCORES") + mb("ZINTERSTORE", dst, 2, a1, n) + mb("EXISTS", dst) + mb("ZUNIONSTORE", dst, 1, a1, "WITHSCORES")
         + mb("ZUNIONSTORE", dst, 0, a1) + mb("ZDIFFSTORE", dst, 1, s) + mb("SET", dst, "x") + mb("ZUNIONSTORE", dst, 1, a3) + mb("TYPE", dst)
         + mb("ZRANGE", dst, 0, -1, "WITHSCORES") + mb("ZUNIONSTORE", dst, 2, k("enc"), a1) + mb("OBJECT", "ENCODING", dst), 22)
    z2, z3 = k("z2"), k("z3")
    case("key commands", mb("DEL", z2, z3) + mb("ZADD", z2, 1, "a", 2, "b") + mb("RENAME", z2, z3) + mb("ZRANGE", z3, 0, -1, "WITHSCORES")
         + mb("EXISTS", z2) + mb("COPY", z3, z2) + mb("ZADD", z2, 3, "c") + mb("ZCARD", z3) + mb("ZCARD", z2) + mb("EXPIRE", z3, 100)
         + mb("TTL", z3) + mb("MOVE", z2, 1) + mb("SELECT", 1) + mb("ZRANGE", z2, 0, -1) + mb("DEL", z2) + mb("SELECT", 0)
         + mb("TYPE", z3) + mb("SCAN", 0, "TYPE", "zset", "MATCH", "rz_z3", "COUNT", 100000) + mb("OBJECT", "ENCODING", z3)
         + mb("COPY", e1, z2) + mb("ZRANGE", z2, 0, 2, "WITHSCORES") + mb("OBJECT", "ENCODING", z2) + mb("UNLINK", z2, z3)
         + mb("EXISTS", z3), 24)

    # RESP3: doubles, WITHSCORES pairs, nested pops.
    case("resp3", mb("HELLO", 3) + mb("DEL", z) + mb("ZADD", z, 1.5, "a", 2, "b", "inf", "c") + mb("ZSCORE", z, "a") + mb("ZSCORE", z, "c")
         + mb("ZSCORE", n, "a") + mb("ZMSCORE", z, "a", "x") + mb("ZRANGE", z, 0, -1, "WITHSCORES") + mb("ZRANGE", z, 0, -1)
         + mb("ZRANGEBYSCORE", z, 0, 5, "WITHSCORES") + mb("ZINCRBY", z, 1, "a") + mb("ZADD", z, "INCR", "-inf", "c")
         + mb("ZRANK", z, "x") + mb("ZRANDMEMBER", z, 5, "WITHSCORES") + mb("ZRANDMEMBER", n) + mb("ZPOPMIN", z)
         + mb("ZPOPMIN", z, 1) + mb("ZPOPMAX", z, 5) + mb("ZADD", z, 1, "a") + mb("ZMPOP", 1, z, "MIN") + mb("ZMPOP", 1, z, "MIN")
         + mb("ZSCAN", n, 0), 22, lambda rep: rep if not rep.startswith(b"%7") else b"<hello>")

    # Blocking pops: at once when a key holds members, a null array after the timeout, errors in
    # redis's order, nothing blocks inside MULTI; a client blocked before a ZADD is served by it.
    b1, b2 = k("b1"), k("b2")
    case("blocking", mb("DEL", b1, b2) + mb("ZADD", b2, 1, "a", 2, "b", 3, "c") + mb("BZPOPMIN", b1, b2, 0) + mb("BZPOPMAX", b1, b2, "0.01")
         + mb("BZMPOP", 0, 2, b1, b2, "MIN", "COUNT", 5) + mb("BZPOPMIN", b1, b2, "0.01") + mb("BZMPOP", "0.01", 1, b1, "MAX")
         + mb("BZPOPMIN", b1, "x") + mb("BZPOPMIN", b1, -1) + mb("BZMPOP", 0, 0, b1, "MIN") + mb("BZMPOP", 0, 1, b1, "MID")
         + mb("BZMPOP", "x", 1, b1, "MIN") + mb("BZMPOP", 0, 1, b1, "MIN", "COUNT", 0) + mb("SET", b1, "s") + mb("BZPOPMIN", b1, b2, 0)
         + mb("DEL", b1) + mb("MULTI") + mb("BZPOPMIN", b1, 0) + mb("BZMPOP", 0, 1, b1, "MIN") + mb("EXEC"), 20)
    waiter = Conn(args.port)
    waiter.send(mb("BZPOPMAX", b1, b2, 5))
    time.sleep(0.3)
    case("blocking served", mb("ZADD", b2, 7, "x", 8, "y"), 1)
    out.append("blocked client got: %r" % waiter.reply())
    waiter.send(mb("BZMPOP", 5, 2, b1, b2, "MIN", "COUNT", 3))
    out.append("then: %r" % waiter.reply())
    waiter.send(mb("HELLO", 3))
    waiter.reply()
    waiter.send(mb("BZMPOP", 5, 1, b1, "MIN"))
    time.sleep(0.3)
    case("blocking served resp3", mb("ZUNIONSTORE", b1, 1, k("a1")), 1)
    out.append("resp3 blocked client got: %r" % waiter.reply())
    waiter.sock.close()

    # A random mix (fixed seeds) over three keys of both encodings: ZADD's flags, ZINCRBY, ZREM,
    # every range form, counts, ranks, pops, removals by range, the set algebra with WEIGHTS and
    # AGGREGATE (0 and -0 among the scores), stores; lex ranges on a key whose scores are all 0.
    # One line per 250 requests: a digest of the replies.
    for seed, size in ((1, 12), (2, 200)):
        c = Conn(args.port)
        c.send(mb("DEL", "rz_mk1", "rz_mk2", "rz_mk3", "rz_ml"))
        c.reply()
        reqs = mix_requests(random.Random(seed), 2000, size)
        digest = hashlib.sha1()
        for n, r in enumerate(reqs, 1):
            c.send(r)
            digest.update(c.reply())
            if n % 250 == 0 or n == len(reqs):
                out.append("mix %d/%d to %d: %s" % (seed, size, n, digest.hexdigest()))
                digest = hashlib.sha1()
        c.send(mb("DEL", "rz_mk1", "rz_mk2", "rz_mk3", "rz_ml"))
        c.reply()
        c.sock.close()

    # Keyspace notifications: a subscriber sees what each command published.
    ev = k("ev")
    sub = Conn(args.port)
    sub.send(mb("CONFIG", "SET", "notify-keyspace-events", "Egzn") + mb("PSUBSCRIBE", "__keyevent@0__:*"))
    sub.reply()
    sub.reply()
    w = Conn(args.port)
    reqs = [mb("ZADD", ev, 1, "a", 2, "b", 3, "c"), mb("ZADD", ev, "NX", 1, "a"), mb("ZADD", ev, 5, "a"), mb("ZINCRBY", ev, 1, "b"),
            mb("ZREM", ev, "zz"), mb("ZREM", ev, "a"), mb("ZADD", ev, 1, "x", 2, "y", 7, "w"), mb("ZREMRANGEBYSCORE", ev, 1, 1),
            mb("ZREMRANGEBYRANK", ev, 0, 0), mb("ZREMRANGEBYLEX", ev, "-", "(a"), mb("ZPOPMIN", ev), mb("ZPOPMAX", ev),
            mb("ZRANGESTORE", k("dst"), ev, 0, -1), mb("ZPOPMAX", ev, 5), mb("ZRANGESTORE", k("dst"), ev, 0, -1),
            mb("ZADD", ev, 1, "q"), mb("ZMPOP", 1, ev, "MIN"), mb("ZADD", ev, "XX", 1, "q"), mb("ZADD", k("a1"), 1, "q"),
            mb("ZUNIONSTORE", k("dst"), 1, k("a1")), mb("ZINTERSTORE", k("dst"), 2, k("a1"), ev), mb("ZDIFFSTORE", k("dst"), 1, k("a1")),
            mb("ZREMRANGEBYSCORE", ev, 1, 2), mb("ZREM", k("dst"), "zz")]
    w.send(b"".join(reqs))
    for _ in reqs:
        w.reply()
    out.append("events: %r" % drain_events(sub))
    w.send(mb("CONFIG", "SET", "notify-keyspace-events", ""))
    w.reply()
    for x in (sub, w):
        x.sock.close()
    for line in out:
        print(line)
    print("ZSET CHECKS PASSED")


if __name__ == "__main__":
    main()
