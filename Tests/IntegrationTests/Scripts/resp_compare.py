#!/usr/bin/env python3
"""The same RESP requests to a Redis-protocol server, one transcript line per reply.

Run against swiftcached's --redis-port and against redis-server 7.0 (persistence off); the
black-box test compares the two transcripts. Each case sends raw bytes (multibulk or inline,
whole or split) and prints the exact reply bytes, read as RESP (nested arrays and maps included),
or <closed> when the server closed the connection. Keys carry a run id so runs do not collide.

With --memcached-port, also checks that the memcached port and the RESP port see the same
strings (swiftcached only).

Usage: resp_compare.py --port P [--memcached-port M]
"""

import argparse
import socket
import sys
import time

from resp_common import IO_TIMEOUT, Conn, mb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--memcached-port", type=int)
    ap.add_argument("--with-lists", action="store_true",
                    help="add the WRONGTYPE cases, which need lists (pass it to both runs once swiftcached has them)")
    args = ap.parse_args()
    run = "%x" % (int(time.time() * 1000) & 0xFFFFFF)

    def k(name):
        return ("rc_%s_%s" % (run, name)).encode()

    out = []

    def case(name, requests, replies, pieces=1, skip=0):
        """Sends `requests` (bytes, all at once or in `pieces`) and records `replies` replies
        after dropping the first `skip` (replies that differ by nature, such as HELLO's id)."""
        c = Conn(args.port)
        c.send(requests, pieces)
        got = []
        try:
            for _ in range(skip):
                c.reply()
            for _ in range(replies):
                got.append(c.reply())
        except (EOFError, ConnectionResetError):
            got.append(b"<closed>")
        line = "%s: %r" % (name, b"".join(got))
        out.append(line)
        c.sock.close()

    a, b_, n_, s_, x_ = k("a"), k("b"), k("n"), k("s"), k("x")
    # Connection commands.
    case("ping", mb("PING"), 1)
    case("ping msg", mb("ping", "hi there"), 1)
    case("ping args", mb("PING", "a", "b"), 1)
    case("echo", mb("ECHO", b"a\r\nb"), 1)
    case("echo arity", mb("ECHO"), 1)
    case("inline", b"PING\r\nECHO \"a b\" 'c'\r\n\r\nECHO x\n", 3)
    case("inline quoting", b"ECHO \"\\x41\\n\\\\\"\r\n", 1)
    case("unknown", mb("FOO", "bar", "baz"), 1)
    case("unknown no args", mb("FOO"), 1)
    case("select 0", mb("SELECT", 0), 1)
    case("select junk", mb("SELECT", "x"), 1)
    case("select -1", mb("SELECT", -1), 1)
    case("auth no password", mb("AUTH", "pw"), 1)
    case("client setname", mb("CLIENT", "SETNAME", "a b") + mb("CLIENT", "SETNAME", "ok") + mb("CLIENT", "GETNAME"), 3)
    case("hello bad", mb("HELLO", 4) + mb("HELLO", "x") + mb("HELLO", 2, "FOO"), 3)
    case("resp3", mb("HELLO", 3) + mb("GET", k("missing")) + mb("CLIENT", "GETNAME") + mb("SET", a, "v", "NX"), 3, skip=1)
    case("back to resp2", mb("HELLO", 3) + mb("HELLO", 2) + mb("GET", k("missing")), 1, skip=2)
    case("quit", mb("QUIT") + mb("PING"), 2)
    # Strings.
    case("set get", mb("SET", a, "hello") + mb("GET", a) + mb("get", k("none")), 3)
    case("set nx xx", mb("SET", a, "1", "NX") + mb("SET", b_, "1", "XX") + mb("SET", b_, "2", "NX") + mb("SET", b_, "3", "XX") + mb("GET", b_), 5)
    case("set get option", mb("SET", a, "new", "GET") + mb("SET", k("fresh"), "v", "GET") + mb("GET", a), 3)
    case("set nx get", mb("SET", a, "other", "NX", "GET") + mb("GET", a), 2)
    case("set syntax", mb("SET", a, "v", "NX", "XX") + mb("SET", a, "v", "EX") + mb("SET", a, "v", "EX", 1, "PX", 1000) + mb("SET", a, "v", "KEEPTTL", "EX", 5) + mb("SET", a, "v", "FOO"), 5)
    case("set bad expire", mb("SET", a, "v", "EX", 0) + mb("SET", a, "v", "PX", -1) + mb("SET", a, "v", "EX", "x") + mb("SET", a, "v", "EX", "9223372036854775807") + mb("SETEX", a, 0, "v") + mb("PSETEX", a, -5, "v"), 6)
    case("set ex", mb("SET", x_, "v", "EX", 100) + mb("SETEX", x_, 100, "w") + mb("PSETEX", x_, 100000, "z") + mb("GET", x_) + mb("SET", x_, "q", "KEEPTTL") + mb("GET", x_), 6)
    case("set exat past", mb("SET", x_, "v", "EXAT", 1) + mb("GET", x_) + mb("EXISTS", x_), 3)
    case("setnx", mb("SETNX", k("nx"), "1") + mb("SETNX", k("nx"), "2") + mb("GET", k("nx")), 3)
    case("getset getdel", mb("GETSET", k("gs"), "1") + mb("GETSET", k("gs"), "2") + mb("GETDEL", k("gs")) + mb("GETDEL", k("gs")) + mb("GET", k("gs")), 5)
    case("mset mget", mb("MSET", a, "1", b_, "2") + mb("MGET", a, k("none"), b_) + mb("MSET", a, "1", b_), 3)
    case("strlen append", mb("STRLEN", s_) + mb("APPEND", s_, "abc") + mb("APPEND", s_, "de") + mb("STRLEN", s_) + mb("GET", s_), 5)
    case("incr family", mb("INCR", n_) + mb("INCRBY", n_, 41) + mb("DECR", n_) + mb("DECRBY", n_, -10) + mb("INCRBY", n_, "x") + mb("GET", n_), 6)
    case("incr errors", mb("SET", n_, "9223372036854775806") + mb("INCR", n_) + mb("INCR", n_) + mb("SET", n_, " 1") + mb("INCR", n_) + mb("SET", n_, "01") + mb("INCR", n_) + mb("DECRBY", n_, "-9223372036854775808") + mb("SET", n_, "abc") + mb("DECR", n_), 10)
    case("incr negative", mb("SET", n_, "-9223372036854775807") + mb("DECR", n_) + mb("DECR", n_) + mb("GET", n_), 4)
    case("del exists", mb("DEL", a, b_, k("none")) + mb("EXISTS", a, s_, s_) + mb("UNLINK", s_) + mb("DEL"), 4)
    case("binary key and value", mb("SET", b"k\x00\r\n" + run.encode(), b"\x00\xff\r\n") + mb("GET", b"k\x00\r\n" + run.encode()), 2)
    case("large value", mb("SET", k("big"), b"x" * 300000) + mb("STRLEN", k("big")) + mb("DEL", k("big")), 3)
    # Strings: ranges, bits, floats, MSETNX, GETEX.
    r_ = k("r")
    case("getrange", mb("SET", r_, "Hello World") + mb("GETRANGE", r_, 0, 4) + mb("GETRANGE", r_, -5, -1) + mb("GETRANGE", r_, 5, 2) + mb("GETRANGE", r_, -3, -5) + mb("GETRANGE", r_, 0, 1000) + mb("SUBSTR", r_, -100, 2) + mb("GETRANGE", k("none"), 0, 1) + mb("GETRANGE", r_, "x", 1), 9)
    case("setrange", mb("SETRANGE", r_, 6, "Redis") + mb("GET", r_) + mb("SETRANGE", k("sr"), 3, b"ab") + mb("GET", k("sr")) + mb("SETRANGE", k("sr2"), 5, "") + mb("EXISTS", k("sr2")) + mb("SETRANGE", r_, 0, "") + mb("SETRANGE", r_, -1, "x") + mb("SETRANGE", r_, 536870911, "xy"), 9)
    case("bits", mb("SETBIT", k("bit"), 7, 1) + mb("SETBIT", k("bit"), 7, 0) + mb("SETBIT", k("bit"), 100, 1) + mb("GETBIT", k("bit"), 100) + mb("GETBIT", k("bit"), 99) + mb("GETBIT", k("bit"), 100000) + mb("STRLEN", k("bit")) + mb("SETBIT", k("bit"), 1, 2) + mb("SETBIT", k("bit"), -1, 1) + mb("GETBIT", k("bit"), 4294967296) + mb("GET", k("bit")), 11)
    case("bitcount", mb("SET", k("bc"), "foobar") + mb("BITCOUNT", k("bc")) + mb("BITCOUNT", k("bc"), 0, 0) + mb("BITCOUNT", k("bc"), 1, 1) + mb("BITCOUNT", k("bc"), 1, 1, "BYTE") + mb("BITCOUNT", k("bc"), 5, 30, "BIT") + mb("BITCOUNT", k("bc"), -3, -1, "bit") + mb("BITCOUNT", k("bc"), 1) + mb("BITCOUNT", k("bc"), 1, 2, "FOO") + mb("BITCOUNT", k("none")), 10)
    case("incrbyfloat", mb("SET", k("f"), "10.50") + mb("INCRBYFLOAT", k("f"), "0.1") + mb("INCRBYFLOAT", k("f"), "-5") + mb("SET", k("f"), "5.0e3") + mb("INCRBYFLOAT", k("f"), "2.0e2") + mb("INCRBYFLOAT", k("f2"), "3") + mb("INCRBYFLOAT", k("f"), "abc") + mb("INCRBYFLOAT", k("f"), "inf") + mb("SET", k("f"), " 1") + mb("INCRBYFLOAT", k("f"), 1) + mb("INCRBYFLOAT", k("f3"), "-0.0"), 11)
    case("msetnx", mb("MSETNX", k("m1"), "a", k("m2"), "b") + mb("MSETNX", k("m2"), "c", k("m3"), "d") + mb("MGET", k("m1"), k("m2"), k("m3")) + mb("MSETNX", k("m4")), 4)
    case("msetnx repeated key", mb("MSETNX", k("mr1"), "1", k("mr2"), "5", k("mr1"), "2") + mb("MGET", k("mr1"), k("mr2")) + mb("MSETNX", k("mr3"), "a", k("mr3"), "b", k("mr3"), "c") + mb("GET", k("mr3")) + mb("MSETNX", k("mr1"), "x", k("mr4"), "y", k("mr4"), "z") + mb("EXISTS", k("mr4")), 6)
    case("string2ll zeros", mb("SET", n_, "-0") + mb("INCR", n_) + mb("OBJECT", "ENCODING", n_) + mb("SET", n_, "00") + mb("DECR", n_) + mb("OBJECT", "ENCODING", n_) + mb("INCRBY", n_, "-0") + mb("EXPIRE", n_, "00") + mb("SETRANGE", n_, "-0", "x") + mb("GETRANGE", n_, "00", 1) + mb("SET", n_, "0") + mb("OBJECT", "ENCODING", n_) + mb("INCR", n_), 13)
    case("getex", mb("SET", k("gx"), "v") + mb("GETEX", k("gx"), "EX", 100) + mb("EXPIRE", k("gx"), 100, "NX") + mb("GETEX", k("gx"), "PERSIST") + mb("TTL", k("gx")) + mb("GETEX", k("none"), "EX", 5) + mb("GETEX", k("gx"), "EX", 0) + mb("GETEX", k("gx"), "PERSIST", "EX", 5) + mb("GETEX", k("gx"), "FOO") + mb("GETEX", k("gx")), 10)
    # OBJECT, MEMORY, SLOWLOG: the replies that do not depend on timing or memory layout.
    o_ = k("o")
    case("object", mb("SET", o_, "12") + mb("OBJECT", "ENCODING", o_) + mb("OBJECT", "REFCOUNT", o_) + mb("SET", o_, "123456") + mb("OBJECT", "refcount", o_) + mb("SET", o_, "x" * 44) + mb("OBJECT", "ENCODING", o_) + mb("SET", o_, "x" * 45) + mb("OBJECT", "ENCODING", o_) + mb("OBJECT", "ENCODING", k("none")) + mb("OBJECT", "FREQ", o_) + mb("OBJECT", "FOO", o_) + mb("OBJECT", "ENCODING") + mb("OBJECT", "IDLETIME", o_), 14)
    case("memory", mb("MEMORY", "USAGE", k("none")) + mb("MEMORY", "USAGE", o_, "SAMPLES", "x") + mb("MEMORY", "FOO") + mb("MEMORY", "USAGE"), 4)
    # SAMPLES below 0 is a syntax error, a missing key's too; SAMPLES may come more than once.
    case("memory samples", mb("SET", o_, "v") + mb("MEMORY", "USAGE", o_, "SAMPLES", -1) + mb("MEMORY", "USAGE", k("none"), "SAMPLES", -1)
         + mb("MEMORY", "USAGE", k("none"), "SAMPLES", 3, "SAMPLES", 5) + mb("MEMORY", "USAGE", o_, "SAMPLES", 3, "SAMPLES", -1)
         + mb("MEMORY", "USAGE", o_, "SAMPLES", 3, "SAMPLES") + mb("MEMORY", "USAGE", o_, "SAMPLES", "x", "FOO")
         + mb("MEMORY", "USAGE", o_, "SAMPLES", -9223372036854775808), 7)
    # slowlog-log-slower-than takes -1 and up; maxmemory past 2^64-1 is 2^64-1 (strtoull), its
    # unit's product wraps modulo 2^64 (memtoull); the limit in force before is put back after.
    c = Conn(args.port)
    before = c.command("CONFIG", "GET", "maxmemory").split(b"\r\n")[4]
    got = [c.command(*r) for r in [("CONFIG", "SET", "slowlog-log-slower-than", -2), ("CONFIG", "SET", "slowlog-log-slower-than", -1),
                                   ("CONFIG", "GET", "slowlog-log-slower-than"), ("CONFIG", "SET", "slowlog-log-slower-than", 10000),
                                   ("CONFIG", "SET", "maxmemory", "99999999999999999999999"), ("CONFIG", "GET", "maxmemory"), ("INFO", "memory"),
                                   ("CONFIG", "SET", "maxmemory", "18446744073709551616"), ("CONFIG", "GET", "maxmemory"),
                                   ("CONFIG", "SET", "maxmemory", "9223372036854775808"), ("CONFIG", "GET", "maxmemory"),
                                   ("CONFIG", "SET", "maxmemory", "99999999999999999999999gb"), ("CONFIG", "GET", "maxmemory"), ("INFO", "memory"),
                                   ("CONFIG", "SET", "maxmemory", "-1"), ("CONFIG", "SET", "maxmemory", before)]]
    # INFO's maxmemory lines only (redis prints it as a long long, its human form in bytes).
    got = [b"|".join(l for l in g.split(b"\r\n") if l.startswith((b"maxmemory:", b"maxmemory_human:"))) if g.startswith(b"$") else g for g in got]
    out.append("config set bounds: %r" % b"".join(got))
    c.sock.close()
    case("slowlog", mb("SLOWLOG", "GET", -2) + mb("SLOWLOG", "FOO") + mb("SLOWLOG", "LEN", "x") + mb("CONFIG", "GET", "slowlog-max-len") + mb("CONFIG", "SET", "slowlog-log-slower-than", "x"), 5)
    # Expiry: replies that do not depend on the clock (TTL values are checked by the Swift test).
    e_ = k("e")
    case("expire conditions", mb("SET", e_, "v") + mb("EXPIRE", e_, 100) + mb("EXPIRE", e_, 100, "NX") + mb("EXPIRE", e_, 50, "GT") + mb("EXPIRE", e_, 200, "GT") + mb("EXPIRE", e_, 300, "LT") + mb("EXPIRE", e_, 30, "lt") + mb("PERSIST", e_) + mb("PERSIST", e_) + mb("TTL", e_) + mb("PTTL", e_) + mb("EXPIRETIME", e_) + mb("EXPIRE", e_, 10, "XX") + mb("EXPIRE", e_, 10, "GT") + mb("EXPIRE", e_, 10, "LT"), 15)
    case("expire errors", mb("EXPIRE", e_, 10, "NX", "XX") + mb("EXPIRE", e_, 10, "GT", "LT") + mb("EXPIRE", e_, 10, "FOO") + mb("EXPIRE", e_, "abc") + mb("EXPIRE", e_, "9223372036854775807") + mb("PEXPIRE", e_, "9223372036854775807") + mb("EXPIRE", e_) + mb("TTL"), 8)
    case("expire missing", mb("EXPIRE", k("none"), 10) + mb("TTL", k("none")) + mb("PTTL", k("none")) + mb("PEXPIRETIME", k("none")) + mb("PERSIST", k("none")) + mb("TYPE", k("none")), 6)
    case("expire past deletes", mb("SET", e_, "v") + mb("EXPIREAT", e_, 1) + mb("EXISTS", e_) + mb("SET", e_, "v") + mb("PEXPIRE", e_, -5) + mb("GET", e_) + mb("SET", e_, "v") + mb("EXPIRE", e_, 0) + mb("TTL", e_), 9)
    case("type touch", mb("SET", e_, "v") + mb("TYPE", e_) + mb("TOUCH", e_, k("none"), e_) + mb("DEL", e_), 4)
    # Transactions: MULTI/EXEC/DISCARD/WATCH/UNWATCH.
    t_, w_ = k("t"), k("w")
    case("multi exec", mb("SET", s_, "abc") + mb("MULTI") + mb("SET", t_, "1") + mb("INCR", t_) + mb("INCR", s_) + mb("GET", t_) + mb("EXEC"), 7)
    case("multi empty", mb("MULTI") + mb("EXEC"), 2)
    case("multi nested", mb("MULTI") + mb("MULTI") + mb("WATCH", w_) + mb("PING") + mb("EXEC"), 5)
    case("exec discard without multi", mb("EXEC") + mb("DISCARD"), 2)
    case("multi unknown", mb("MULTI") + mb("FOO", "x") + mb("SET", t_, "v") + mb("EXEC") + mb("EXEC") + mb("GET", t_), 6)
    case("multi arity", mb("MULTI") + mb("GET") + mb("EXEC"), 3)
    case("multi save", mb("MULTI") + mb("SAVE") + mb("SAVE", "x") + mb("EXEC"), 4)
    case("multi discard", mb("MULTI") + mb("SET", k("d"), "1") + mb("DISCARD") + mb("GET", k("d")) + mb("DISCARD"), 5)
    case("multi flagged discard", mb("MULTI") + mb("GET") + mb("DISCARD") + mb("MULTI") + mb("PING") + mb("EXEC"), 6)
    case("exec arity", mb("EXEC", "x") + mb("MULTI") + mb("EXEC", "x") + mb("DISCARD", "x") + mb("MULTI", "x") + mb("EXEC"), 6)
    case("watch arity", mb("WATCH") + mb("UNWATCH", "x"), 2)
    case("multi quit", mb("MULTI") + mb("SET", t_, "q") + mb("QUIT") + mb("PING"), 4)
    case("multi reset", mb("MULTI") + mb("SET", t_, "r") + mb("RESET") + mb("EXEC") + mb("GET", t_), 5)
    case("multi queued runtime errors", mb("MULTI") + mb("PING", "a", "b") + mb("SET", t_, "v", "EX", 0) + mb("SELECT", "x") + mb("ECHO", "e") + mb("EXEC"), 6)
    case("multi inline", b"MULTI\r\nSET " + t_ + b" 1\r\nGET " + t_ + b"\r\nfoo bar\r\nEXEC\r\n", 5)
    case("multi inline ok", b"MULTI\r\nSET " + t_ + b" 2\r\nGET " + t_ + b"\r\nEXEC\r\n", 4)
    case("watch changed", mb("WATCH", w_) + mb("SET", w_, "1") + mb("MULTI") + mb("GET", w_) + mb("EXEC") + mb("EXEC"), 6)
    case("watch unchanged", mb("WATCH", w_) + mb("MULTI") + mb("GET", w_) + mb("EXEC"), 4)
    case("watch same value", mb("WATCH", w_) + mb("SET", w_, "1") + mb("MULTI") + mb("PING") + mb("EXEC"), 5)
    case("unwatch", mb("WATCH", w_) + mb("SET", w_, "2") + mb("UNWATCH") + mb("MULTI") + mb("GET", w_) + mb("EXEC"), 6)
    case("watch expire", mb("WATCH", w_) + mb("EXPIRE", w_, 100) + mb("MULTI") + mb("PING") + mb("EXEC"), 5)
    case("watch persist noop", mb("SET", w_, "3") + mb("WATCH", w_) + mb("PERSIST", w_) + mb("MULTI") + mb("PING") + mb("EXEC"), 6)
    case("watch getex incr", mb("WATCH", w_) + mb("GETEX", w_, "EX", 100) + mb("MULTI") + mb("PING") + mb("EXEC") + mb("WATCH", w_) + mb("INCR", w_) + mb("MULTI") + mb("PING") + mb("EXEC"), 10)
    case("watch del", mb("WATCH", w_) + mb("DEL", w_) + mb("MULTI") + mb("PING") + mb("EXEC") + mb("WATCH", w_) + mb("DEL", w_) + mb("MULTI") + mb("PING") + mb("EXEC"), 10)
    case("watch setnx touch", mb("SET", w_, "1") + mb("WATCH", w_) + mb("SETNX", w_, "2") + mb("TOUCH", w_) + mb("GET", w_) + mb("MULTI") + mb("PING") + mb("EXEC"), 8)
    case("watch cleared", mb("WATCH", w_) + mb("MULTI") + mb("DISCARD") + mb("SET", w_, "4") + mb("MULTI") + mb("PING") + mb("EXEC") + mb("WATCH", w_) + mb("MULTI") + mb("EXEC") + mb("SET", w_, "5") + mb("MULTI") + mb("PING") + mb("EXEC"), 14)
    case("watch reset", mb("WATCH", w_) + mb("SET", w_, "6") + mb("RESET") + mb("MULTI") + mb("GET", w_) + mb("EXEC"), 6)
    case("watch twice", mb("WATCH", w_, k("w2")) + mb("WATCH", w_) + mb("MULTI") + mb("EXEC"), 4)
    # Writes that change nothing: LTRIM of a list and LMOVE of a key onto itself signal the key
    # all the same (the transaction aborts); SETBIT of a bit already so and GETEX PERSIST of a key
    # without a TTL do not (it runs), as redis's commands call signalModifiedKey.
    wl_ = k("wl")
    for name, setup, write in [("ltrim all", mb("RPUSH", wl_, "a", "b"), mb("LTRIM", wl_, 0, -1)),
                               ("ltrim missing", b"", mb("LTRIM", wl_, 0, -1)),
                               ("lmove onto itself", mb("RPUSH", wl_, "a"), mb("LMOVE", wl_, wl_, "LEFT", "LEFT")),
                               ("lmove onto itself other end", mb("RPUSH", wl_, "a"), mb("LMOVE", wl_, wl_, "LEFT", "RIGHT")),
                               ("rpoplpush onto itself", mb("RPUSH", wl_, "a", "b"), mb("RPOPLPUSH", wl_, wl_)),
                               ("setbit unchanged", mb("SET", wl_, "1"), mb("SETBIT", wl_, 0, 0)),
                               ("setbit changed", mb("SET", wl_, "1"), mb("SETBIT", wl_, 0, 1)),
                               ("setbit grows", mb("SET", wl_, "1"), mb("SETBIT", wl_, 100, 0)),
                               ("setbit creates", b"", mb("SETBIT", wl_, 0, 0)),
                               ("getex persist without ttl", mb("SET", wl_, "1"), mb("GETEX", wl_, "PERSIST")),
                               ("getex persist with ttl", mb("SET", wl_, "1", "EX", 100), mb("GETEX", wl_, "PERSIST"))]:
        n = 6 + (1 if setup else 0)
        case("watch noop " + name, mb("DEL", wl_) + setup + mb("WATCH", wl_) + write + mb("MULTI") + mb("PING") + mb("EXEC"), n)
    case("watch noop cleanup", mb("DEL", wl_), 1)
    # CLIENT REPLY inside a transaction: each reply, EXEC's array header included, goes out or not
    # by the mode in force when it is written; a SKIP queued there skips the command after EXEC.
    def until_end(name, requests):
        """Sends `requests` (ending with PING end) and records every byte up to PING's reply."""
        c = Conn(args.port)
        c.send(requests)
        data = b""
        while not data.endswith(b"$3\r\nend\r\n"):
            d = c.sock.recv(65536)
            if not d:
                data += b"<closed>"
                break
            data += d
        out.append("%s: %r" % (name, data))
        c.sock.close()

    end_ = mb("PING", "end")
    until_end("multi reply off inside", mb("MULTI") + mb("CLIENT", "REPLY", "OFF") + mb("SET", t_, 1) + mb("EXEC") + mb("CLIENT", "REPLY", "ON") + end_)
    until_end("multi reply off midway", mb("MULTI") + mb("SET", t_, 1) + mb("CLIENT", "REPLY", "OFF") + mb("GET", t_) + mb("EXEC") + mb("CLIENT", "REPLY", "ON") + end_)
    until_end("multi reply on inside", mb("CLIENT", "REPLY", "OFF") + mb("MULTI") + mb("CLIENT", "REPLY", "ON") + mb("GET", t_) + mb("EXEC") + end_)
    until_end("multi reply off around", mb("CLIENT", "REPLY", "OFF") + mb("MULTI") + mb("GET", t_) + mb("EXEC") + mb("CLIENT", "REPLY", "ON") + end_)
    until_end("multi reply skip inside", mb("MULTI") + mb("CLIENT", "REPLY", "SKIP") + mb("GET", t_) + mb("EXEC") + mb("PING", "skipped") + end_)
    until_end("multi reply skip before", mb("CLIENT", "REPLY", "SKIP") + mb("MULTI") + mb("GET", t_) + mb("EXEC") + end_)
    until_end("multi reply skip exec", mb("MULTI") + mb("GET", t_) + mb("CLIENT", "REPLY", "SKIP") + mb("EXEC") + mb("CLIENT", "REPLY", "OFF") + mb("MULTI") + mb("CLIENT", "REPLY", "ON") + mb("EXEC") + end_)
    # A client blocked in a move or pop and killed inside a transaction (before or after the
    # push) is not served when EXEC ends: the element stays in the source list.
    bl_, bm_ = k("bl"), k("bm")
    for block, zset in [(("BLMOVE", bl_, bm_, "LEFT", "RIGHT", 0), False), (("BRPOPLPUSH", bl_, bm_, 0), False),
                        (("BLPOP", bl_, 0), False), (("BLMPOP", 0, 1, bl_, "LEFT"), False),
                        (("BZPOPMIN", bl_, 0), True), (("BZMPOP", 0, 1, bl_, "MIN"), True)]:
        for kill_first in (False, True):
            prod = Conn(args.port)
            prod.send(mb("DEL", bl_, bm_))
            prod.reply()
            blocked = Conn(args.port)
            bid = blocked.command("CLIENT", "ID")[1:-2]
            blocked.send(mb(*block))
            time.sleep(0.2)
            push = mb("ZADD", bl_, 1, "a") if zset else mb("RPUSH", bl_, "a")
            kill = mb("CLIENT", "KILL", "ID", bid)
            prod.send(mb("MULTI") + (kill + push if kill_first else push + kill) + mb("EXEC"))
            got = [prod.reply() for _ in range(4)]
            time.sleep(0.1)
            got.append(prod.command("TYPE", bl_))
            got.append(prod.command("ZRANGE", bl_, 0, -1) if zset else prod.command("LRANGE", bl_, 0, -1))
            got.append(prod.command("LRANGE", bm_, 0, -1))
            got.append(prod.command("DEL", bl_, bm_))
            out.append("killed in exec %s%s: %r" % (block[0], " kill first" if kill_first else "", b"".join(got)))
            prod.sock.close()
            blocked.sock.close()
    case("multi resp3", mb("HELLO", 3) + mb("MULTI") + mb("GET", k("none")) + mb("SET", t_, "v") + mb("EXEC") + mb("WATCH", t_) + mb("SET", t_, "w") + mb("MULTI") + mb("GET", t_) + mb("EXEC") + mb("MULTI") + mb("FOO") + mb("EXEC"), 12, skip=1)
    case("multi client", mb("MULTI") + mb("CLIENT", "SETNAME", "n1") + mb("CLIENT", "GETNAME") + mb("AUTH", "x") + mb("EXEC"), 5)
    case("multi subscribe", mb("MULTI") + mb("SUBSCRIBE", b"rc_txch") + mb("GET", t_) + mb("PING") + mb("EXEC") + mb("GET", t_) + mb("MULTI") + mb("EXEC") + mb("EXEC", "x") + mb("DISCARD") + mb("WATCH", w_) + mb("PING"), 12)
    case("multi subscribe resp3", mb("HELLO", 3) + mb("MULTI") + mb("SUBSCRIBE", b"rc_txch3") + mb("PING") + mb("EXEC"), 4, skip=1)
    # Server commands whose replies do not depend on the server's state.
    # (CONFIG GET answers several matches in redis's hash order: one match per request here.)
    case("config get", mb("CONFIG", "GET", "hash-max-listpack-e*") + mb("CONFIG", "GET", "proto-max-bulk-len") + mb("CONFIG", "GET", "nosuch*") + mb("CONFIG", "GET", "LIST-max-listpack-size") + mb("CONFIG", "GET", "zset-max-l?stpack-[v]alue"), 5)
    case("config set", mb("CONFIG", "SET", "zset-max-listpack-entries", 200) + mb("CONFIG", "GET", "zset-max-listpack-entries") + mb("CONFIG", "SET", "zset-max-listpack-entries", 128), 3)
    case("client-query-buffer-limit", mb("CONFIG", "GET", "client-query-buffer-limit") + mb("CONFIG", "SET", "client-query-buffer-limit", 10), 2)
    case("config set errors", mb("CONFIG", "SET", "foo", 1) + mb("CONFIG", "SET", "maxmemory", "abc") + mb("CONFIG", "SET", "proto-max-bulk-len", 10) + mb("CONFIG", "SET", "hash-max-listpack-entries", "x") + mb("CONFIG", "SET", "maxmemory", "10mb", "maxmemory", "20mb") + mb("CONFIG", "SET", "hash-max-listpack-value", 64, "nosuch", 1), 6)
    case("config arity", mb("CONFIG", "GET") + mb("CONFIG", "SET", "a") + mb("CONFIG", "FOO") + mb("CONFIG", "REWRITE") + mb("CONFIG"), 5)
    case("config get fixed", mb("CONFIG", "GET", "databases") + mb("CONFIG", "GET", "client-output-buffer-limit") + mb("CONFIG", "SET", "client-output-buffer-limit", "replica 1 2 3") + mb("CONFIG", "GET", "client-output-buffer-limit") + mb("CONFIG", "SET", "client-output-buffer-limit", "slave 268435456 67108864 60") + mb("CONFIG", "SET", "databases", 4), 6)
    case("config eviction knobs", mb("CONFIG", "GET", "maxmemory-samples") + mb("CONFIG", "GET", "maxmemory-eviction-tenacity") + mb("CONFIG", "GET", "maxmemory-clients")
         + mb("CONFIG", "SET", "maxmemory-samples", 7) + mb("CONFIG", "GET", "maxmemory-samples") + mb("CONFIG", "SET", "maxmemory-samples", 0) + mb("CONFIG", "SET", "maxmemory-samples", "x") + mb("CONFIG", "SET", "maxmemory-samples", "2147483648")
         + mb("CONFIG", "SET", "maxmemory-eviction-tenacity", 101) + mb("CONFIG", "SET", "maxmemory-eviction-tenacity", 0) + mb("CONFIG", "GET", "maxmemory-eviction-tenacity")
         + mb("CONFIG", "SET", "maxmemory-clients", "10%") + mb("CONFIG", "GET", "maxmemory-clients") + mb("CONFIG", "SET", "maxmemory-clients", "101%") + mb("CONFIG", "SET", "maxmemory-clients", "-5")
         + mb("CONFIG", "SET", "maxmemory-clients", "1mb") + mb("CONFIG", "GET", "maxmemory-clients") + mb("CONFIG", "SET", "maxmemory-clients", "0%") + mb("CONFIG", "GET", "maxmemory-clients")
         + mb("CONFIG", "SET", "maxmemory-samples", 5, "maxmemory-eviction-tenacity", 10, "maxmemory-clients", 0), 20)
    case("subcommand arity", mb("CONFIG", "RESETSTAT", "x") + mb("CONFIG", "REWRITE", "x") + mb("SLOWLOG", "GET", "x") + mb("SLOWLOG", "GET", 1, 2) + mb("SLOWLOG", "LEN", "x") + mb("SLOWLOG", "RESET", "x") + mb("CLIENT", "ID", "x") + mb("OBJECT", "ENCODING", "a", "b") + mb("COMMAND", "COUNT", "x") + mb("PUBSUB", "NUMPAT", "x") + mb("MEMORY", "USAGE"), 11)
    case("command getkeys movable", mb("COMMAND", "GETKEYS", "lmpop", 2, "a", "b", "left") + mb("COMMAND", "GETKEYS", "blmpop", 0, 2, "a", "b", "left", "count", 3) + mb("COMMAND", "GETKEYS", "lmpop", 0, "a", "left") + mb("COMMAND", "GETKEYS", "lmpop", 3, "a", "left") + mb("COMMAND", "GETKEYS", "lmpop", "x", "a", "left") + mb("COMMAND", "GETKEYS", "lmpop", "1x", "a", "left") + mb("COMMAND", "GETKEYS", "blmpop", 0, 1, "a") + mb("COMMAND", "GETKEYS", "lmpop", 1), 8)
    case("wait", mb("WAIT", 0, 0) + mb("WAIT", 1, -1) + mb("WAIT", "x", 0), 3)
    case("time dbsize arity", mb("TIME", "x") + mb("DBSIZE", "x") + mb("LASTSAVE", "x"), 3)
    # The keyspace: databases 5-8 (db 0 holds the cases above, some with TTLs), emptied first.
    def session(name, requests, normalize=None):
        """One connection, requests in order, each reply recorded (through `normalize`, for
        replies whose order differs by nature: KEYS, SCAN)."""
        c = Conn(args.port)
        got = []
        for r in requests:
            c.send(mb(*r))
            rep = c.reply()
            got.append(normalize(r, rep) if normalize else rep)
        out.append("%s: %r" % (name, b"".join(got)))
        c.sock.close()
        return c

    def parse(data):
        """A RESP2 reply as Python values (bulk strings as bytes)."""
        def one(i):
            j = data.index(b"\r\n", i)
            t, body = data[i:i + 1], data[i + 1:j]
            if t == b"*":
                n, items, i = int(body), [], j + 2
                for _ in range(max(n, 0)):
                    v, i = one(i)
                    items.append(v)
                return (items if n >= 0 else None), i
            if t == b"$":
                n = int(body)
                return (None, j + 2) if n < 0 else (data[j + 2:j + 2 + n], j + 4 + n)
            return data[i:j + 2], j + 2
        return one(0)[0]

    def scan_all(c, *options):
        """SCAN from 0 until the cursor comes back to 0: the keys seen, sorted, once each."""
        cursor, seen, calls = b"0", set(), 0
        while True:
            c.send(mb("SCAN", cursor, *options))
            cursor, keys = parse(c.reply())
            seen.update(keys)
            calls += 1
            if cursor == b"0" or calls > 100000:
                return b" ".join(sorted(seen))

    def keyspace_lines(rep):
        """INFO keyspace's lines for databases 5-8 only."""
        return b"|".join(l for l in rep.split(b"\r\n") if l[:3] in (b"db5", b"db6", b"db7", b"db8"))

    def sorted_keys(r, rep):
        return b"KEYS " + b" ".join(sorted(parse(rep))) if r[0] == "KEYS" and rep.startswith(b"*") else rep

    def scan_small(r, rep):
        """SCAN of a small database: redis's cursor and order follow its hash seed; the cursor
        must come back 0 in one call, from 0 with every key, from elsewhere with some of them."""
        if r[0] != "SCAN" or not rep.startswith(b"*"):
            return rep
        cursor, keys = parse(rep)
        full = r[1] == 0
        want = {a, b_, s_}
        ok = cursor == b"0" and (set(keys) == want if full else set(keys) <= want)
        return b"SCAN(%s) %s " % (b"full" if full else b"after", b"ok" if ok else repr((cursor, keys)).encode())

    ks = [x for d in (5, 6, 7, 8) for x in (("SELECT", d), ("FLUSHDB",))]
    session("scan small database", ks + [
        ("SELECT", 5), ("SET", a, "1"), ("SET", b_, "2"), ("SET", s_, "3"), ("SCAN", 0), ("SCAN", 1), ("SCAN", 7),
        ("SCAN", 12345), ("SCAN", 0, "MATCH", "*"), ("FLUSHDB",)], scan_small)
    session("select dbsize flushdb", ks + [
        ("SELECT", 5), ("SET", a, "five"), ("SET", b_, "5b"), ("DBSIZE",), ("SELECT", 6), ("DBSIZE",), ("GET", a),
        ("SET", a, "six"), ("SELECT", 5), ("GET", a), ("SELECT", 16), ("SELECT", -1), ("SELECT", "99999999999"),
        ("FLUSHDB", "ASYNC"), ("DBSIZE",), ("GET", a), ("SELECT", 6), ("DBSIZE",), ("FLUSHDB", "SYNC"), ("DBSIZE",),
        ("FLUSHDB", "FOO"), ("FLUSHDB", "SYNC", "x"), ("FLUSHALL", "FOO")])
    session("move", ks + [
        ("SELECT", 5), ("SET", a, "v"), ("PEXPIRE", a, 100000), ("MOVE", a, 6), ("EXISTS", a), ("SELECT", 6),
        ("GET", a), ("PTTL", a), ("SET", b_, "x"), ("SELECT", 5), ("SET", b_, "y"), ("MOVE", b_, 6), ("GET", b_),
        ("MOVE", b_, 5), ("MOVE", b_, 16), ("MOVE", b_, "x"), ("MOVE", k("none"), 6), ("DBSIZE",)],
        lambda r, rep: (b":ttl-ok\r\n" if 99000 <= int(rep[1:-2]) <= 100000 else rep) if r[0] == "PTTL" else rep)
    session("swapdb", ks + [
        ("SELECT", 7), ("SET", a, "seven"), ("SET", b_, "7b"), ("SELECT", 8), ("SET", a, "eight"),
        ("SWAPDB", 7, 8), ("GET", a), ("DBSIZE",), ("SELECT", 7), ("GET", a), ("DBSIZE",), ("SWAPDB", 7, 7),
        ("DBSIZE",), ("SWAPDB", "x", 1), ("SWAPDB", 1, "y"), ("SWAPDB", 0, 16), ("SWAPDB", -1, 0),
        ("INFO", "keyspace")],
        lambda r, rep: keyspace_lines(rep) if r[0] == "INFO" else rep)
    session("rename copy", ks + [
        ("SELECT", 5), ("SET", a, "1"), ("PEXPIRE", a, 50000), ("RENAME", a, b_), ("EXISTS", a), ("GET", b_),
        ("PTTL", b_), ("RENAME", a, b_), ("RENAMENX", a, b_), ("RENAME", b_, b_), ("RENAMENX", b_, b_),
        ("SET", s_, "s"), ("RENAMENX", b_, s_), ("RENAMENX", b_, x_), ("GET", x_), ("RENAME", x_, s_), ("GET", s_),
        ("PTTL", s_), ("COPY", s_, n_), ("COPY", s_, n_), ("SET", s_, "t"), ("COPY", s_, n_, "REPLACE"),
        ("GET", n_), ("PTTL", n_), ("COPY", s_, s_), ("COPY", s_, s_, "DB", 6), ("COPY", s_, s_, "DB", 5),
        ("COPY", s_, n_, "DB", 16), ("COPY", s_, n_, "DB", "x"), ("COPY", s_, n_, "FOO"), ("COPY", s_, n_, "DB"),
        ("COPY", k("none"), n_), ("SELECT", 6), ("GET", s_), ("PTTL", s_), ("RENAME",), ("DBSIZE",)],
        lambda r, rep: (b":ttl-ok\r\n" if 49000 <= int(rep[1:-2]) <= 50000 else rep) if r[0] == "PTTL" and rep.startswith(b":") and int(rep[1:-2]) > 0 else rep)
    session("keys type exists", ks + [
        ("SELECT", 5), ("MSET", "ka1", "1", "ka2", "2", "kb1", "3", "other", "4", "k[x]", "5"),
        ("KEYS", "*"), ("KEYS", "ka*"), ("KEYS", "k?1"), ("KEYS", "k[ab]2"), ("KEYS", "K*"), ("KEYS", "k\\[x]"),
        ("KEYS", "nothing*"), ("TYPE", "ka1"), ("TYPE", "none"), ("EXISTS", "ka1", "ka1", "none", "kb1"),
        ("DEL", "ka1", "ka1", "none"), ("UNLINK", "ka2", "kb1"), ("KEYS", "*"), ("DBSIZE",), ("OBJECT", "ENCODING", "other"),
        ("DEL", "other"), ("RANDOMKEY",), ("SELECT", 6), ("RANDOMKEY",), ("KEYS", "*")], sorted_keys)
    c = session("scan setup", ks + [("SELECT", 5)] + [("SET", "sc%d" % i, i) for i in range(300)] +
                [("SET", "other%d" % i, i) for i in range(5)])
    c = Conn(args.port)
    c.send(mb("SELECT", 5))
    c.reply()
    out.append("scan all: %r" % scan_all(c))
    out.append("scan match: %r" % scan_all(c, "MATCH", "sc1*"))
    out.append("scan count: %r" % scan_all(c, "COUNT", 1000, "MATCH", "other*"))
    out.append("scan type: %r %r" % (scan_all(c, "TYPE", "STRING", "MATCH", "oth*"), scan_all(c, "TYPE", "list")))
    for bad in (("SCAN", "x"), ("SCAN", "0", "COUNT", 0), ("SCAN", "0", "COUNT", "x"), ("SCAN", "0", "FOO"),
                ("SCAN", "0", "MATCH"), ("SCAN", "18446744073709551616"), ("SCAN", " 1"), ("SCAN",)):
        c.send(mb(*bad))
        out.append("scan error %s: %r" % (" ".join(str(x) for x in bad), c.reply()))
    c.sock.close()
    # Millisecond expiry: PX 100 is gone 150 ms later; PTTL is exact to the millisecond.
    c = Conn(args.port)
    c.send(mb("SELECT", 6) + mb("SET", k("px"), "v", "PX", 100) + mb("PSETEX", k("ps"), 100, "v") + mb("SET", k("kt"), "v", "PX", 100) + mb("SET", k("kt"), "w", "KEEPTTL"))
    got = [c.reply() for _ in range(5)]
    time.sleep(0.15)
    c.send(mb("GET", k("px")) + mb("GET", k("ps")) + mb("GET", k("kt")) + mb("SET", k("pt"), "v", "PX", 5000) + mb("PTTL", k("pt")) +
           mb("APPEND", k("pt"), "x") + mb("PTTL", k("pt")) + mb("INCR", k("pt")) + mb("SET", k("pi"), 1, "PXAT", int(time.time() * 1000) + 3000) + mb("INCR", k("pi")) + mb("PTTL", k("pi")))
    for _ in range(11):
        rep = c.reply()
        if rep.startswith(b":") and int(rep[1:-2]) > 100:
            rep = b":ms-ok\r\n" if 2900 <= int(rep[1:-2]) <= 5000 else rep
        got.append(rep)
    out.append("px expiry: %r" % b"".join(got))
    c.sock.close()
    if args.with_lists:
        # WRONGTYPE from string commands on a list; SET and MSET replace it; TYPE, RENAME, DEL any type.
        w_ = k("w")
        reqs = [("SELECT", 5), ("RPUSH", w_, "a", "b")]
        for r in [("GET", w_), ("GETSET", w_, "x"), ("APPEND", w_, "x"), ("INCR", w_), ("DECRBY", w_, 2),
                  ("INCRBYFLOAT", w_, 1), ("STRLEN", w_), ("GETRANGE", w_, 0, 1), ("SETRANGE", w_, 0, "x"),
                  ("GETBIT", w_, 1), ("SETBIT", w_, 1, 1), ("BITCOUNT", w_), ("MGET", w_, k("none")), ("GETDEL", w_),
                  ("GETEX", w_, "PX", 100), ("SET", w_, "x", "GET"), ("SETNX", w_, "x"), ("SET", w_, "x", "NX"),
                  ("MSETNX", w_, "x"), ("TYPE", w_), ("EXISTS", w_), ("EXPIRE", w_, 100), ("TTL", w_), ("PERSIST", w_),
                  ("SET", w_, "x", "XX"), ("GET", w_), ("DEL", w_), ("RPUSH", w_, "a"), ("SET", w_, "y"), ("GET", w_),
                  ("DEL", w_), ("RPUSH", w_, "a"), ("MSET", w_, "z"), ("TYPE", w_), ("DEL", w_), ("RPUSH", w_, "a"),
                  ("SET", w_, "v", "KEEPTTL"), ("TYPE", w_), ("DEL", w_), ("RPUSH", w_, "a"), ("RENAME", w_, k("w2")),
                  ("TYPE", k("w2")), ("DEL", w_, k("w2")), ("TYPE", w_)]:
            reqs.append(r)
        session("wrongtype", reqs)

    # Pub/sub between two connections, RESP2 subscribed mode, then RESP3 on one connection.
    # (Channel names appear in the replies: fixed names, not the run's keys.)
    def fixed(name):
        return b"rc_" + name.encode()

    ch1, ch2, pat = fixed("ch1"), fixed("ch2"), fixed("c?1*")
    sub, pub = Conn(args.port), Conn(args.port)
    got = []

    def ask(conn, request, replies):
        conn.send(request)
        for _ in range(replies):
            got.append(conn.reply())

    ask(sub, mb("SUBSCRIBE", ch1, ch2, ch1), 3)
    ask(sub, mb("PSUBSCRIBE", pat), 1)
    ask(sub, mb("GET", a) + mb("PING") + mb("PING", "x") + mb("ECHO", "x"), 4)
    ask(pub, mb("PUBLISH", ch1, "hello") + mb("PUBLISH", ch2, b"\x00bin") + mb("PUBLISH", fixed("none"), "x"), 3)
    for _ in range(3):
        got.append(sub.reply())
    ask(pub, mb("PUBSUB", "NUMSUB", ch1, fixed("none")) + mb("PUBSUB", "NUMPAT") + mb("PUBSUB", "CHANNELS", fixed("ch2*")) + mb("PUBSUB", "FOO") + mb("PUBSUB", "NUMPAT", "x"), 5)
    ask(sub, mb("UNSUBSCRIBE", ch1, fixed("never")) + mb("PUNSUBSCRIBE") + mb("UNSUBSCRIBE") + mb("UNSUBSCRIBE") + mb("PUNSUBSCRIBE", pat), 6)
    ask(sub, mb("GET", fixed("none")), 1)
    ask(sub, mb("SSUBSCRIBE", ch1) + mb("SUBSCRIBE", ch2), 2)
    ask(pub, mb("SPUBLISH", ch1, "s") + mb("PUBLISH", ch1, "p") + mb("PUBSUB", "SHARDNUMSUB", ch1) + mb("PUBSUB", "SHARDCHANNELS", fixed("ch1")), 4)
    got.append(sub.reply())
    ask(sub, mb("SUNSUBSCRIBE") + mb("RESET") + mb("GET", fixed("none")), 3)
    ask(pub, mb("PUBLISH", ch2, "after reset"), 1)
    r3 = Conn(args.port)
    r3.send(mb("HELLO", 3))
    r3.reply()
    ask(r3, mb("SUBSCRIBE", ch1) + mb("GET", fixed("none")) + mb("PUBLISH", ch1, "self") + mb("UNSUBSCRIBE") + mb("PING"), 6)
    out.append("pubsub: %r" % b"".join(got))
    for c in (sub, pub, r3):
        c.sock.close()
    # CLIENT: the replies that do not depend on addresses, ids or timing (LIST and INFO lines are
    # checked field by field by the Swift test).
    case("client errors", mb("CLIENT", "FOO") + mb("CLIENT") + mb("CLIENT", "INFO", "x") + mb("CLIENT", "ID", "x") + mb("CLIENT", "GETREDIR") + mb("CLIENT", "TRACKINGINFO", "x"), 6)
    case("client list filters", mb("CLIENT", "LIST", "ID", "x") + mb("CLIENT", "LIST", "TYPE", "foo") + mb("CLIENT", "LIST", "FOO") + mb("CLIENT", "LIST", "ID") + mb("CLIENT", "LIST", "ID", 0, -5, 999999999) + mb("CLIENT", "LIST", "TYPE", "master") + mb("CLIENT", "LIST", "TYPE", "replica") + mb("CLIENT", "LIST", "type", "SLAVE"), 8)
    case("client kill", mb("CLIENT", "KILL", "1.2.3.4:5") + mb("CLIENT", "KILL", "ID") + mb("CLIENT", "KILL", "foo", "bar") + mb("CLIENT", "KILL", "ID", "abc") + mb("CLIENT", "KILL", "ID", 0) + mb("CLIENT", "KILL", "TYPE", "junk") + mb("CLIENT", "KILL", "SKIPME", "maybe") + mb("CLIENT", "KILL", "USER", "nobody") + mb("CLIENT", "KILL", "ID", 999999999) + mb("CLIENT", "KILL", "TYPE", "master") + mb("CLIENT", "KILL", "LADDR", "1.2.3.4:1") + mb("CLIENT", "KILL", "ADDR", "1.2.3.4:5", "SKIPME", "no") + mb("CLIENT", "KILL", "1.2.3.4:5", "x", "y") + mb("CLIENT", "KILL", "ID", 999999999, "TYPE") + mb("CLIENT", "KILL"), 15)
    case("client reply", mb("CLIENT", "REPLY", "OFF") + mb("PING") + mb("FOO") + mb("CLIENT", "REPLY", "SKIP") + mb("CLIENT", "REPLY", "ON") + mb("PING", "on"), 2)
    case("client reply skip", mb("CLIENT", "REPLY", "SKIP") + mb("ECHO", "skipped") + mb("ECHO", "seen") + mb("CLIENT", "REPLY", "SKIP") + mb("CLIENT", "REPLY", "SKIP") + mb("ECHO", "skipped too") + mb("ECHO", "seen too") + mb("CLIENT", "REPLY", "SKIP") + mb("GET") + mb("CLIENT", "REPLY", "foo") + mb("CLIENT", "REPLY", "a", "b"), 4)
    case("client reply reset", mb("CLIENT", "REPLY", "OFF") + mb("RESET") + mb("PING"), 1)
    case("client no-evict", mb("CLIENT", "NO-EVICT", "on") + mb("CLIENT", "NO-EVICT", "OFF") + mb("CLIENT", "NO-EVICT", "foo") + mb("CLIENT", "NO-EVICT"), 4)
    case("client unblock", mb("CLIENT", "UNBLOCK", 999999999) + mb("CLIENT", "UNBLOCK", 999999999, "ERROR") + mb("CLIENT", "UNBLOCK", 0, "timeout") + mb("CLIENT", "UNBLOCK", 5, "foo") + mb("CLIENT", "UNBLOCK", "x") + mb("CLIENT", "UNBLOCK", 1, 2, 3) + mb("CLIENT", "UNBLOCK"), 7)
    own = Conn(args.port)
    host, port = own.sock.getsockname()[:2]
    own.send(mb("CLIENT", "KILL", "ADDR", "%s:%d" % (host, port), "SKIPME", "yes") + mb("CLIENT", "KILL", "ADDR", "%s:%d" % (host, port), "SKIPME", "no") + mb("PING"))
    got = []
    try:
        for _ in range(3):
            got.append(own.reply())
    except (EOFError, ConnectionResetError):
        got.append(b"<closed>")
    out.append("client kill self: %r" % b"".join(got))
    own.sock.close()
    own = Conn(args.port)
    host, port = own.sock.getsockname()[:2]
    own.send(mb("CLIENT", "KILL", "%s:%d" % (host, port)) + mb("PING"))
    got = []
    try:
        for _ in range(2):
            got.append(own.reply())
    except (EOFError, ConnectionResetError):
        got.append(b"<closed>")
    out.append("client kill self old form: %r" % b"".join(got))
    own.sock.close()
    # COMMAND: entries of commands whose subcommands are all implemented or that have none.
    case("command info", mb("COMMAND", "INFO", "get", "set", "del", "exists", "lcs", "bitpos", "bitop", "ping", "echo", "publish", "ssubscribe", "mset", "ttl", "getex", "nosuch", "hello", "debug"), 1)
    case("command info subcommands", mb("COMMAND", "INFO", "client|list", "client|kill", "config|get", "object|encoding", "memory|usage", "client|nosuch", "command|docs"), 1)
    case("command info resp3", mb("HELLO", 3) + mb("COMMAND", "INFO", "get", "bitop", "client|list", "nosuch"), 1, skip=1)
    case("command docs", mb("COMMAND", "DOCS", "get", "lcs", "bitop", "nosuch", "set", "bitpos", "client|list"), 1)
    case("command docs resp3", mb("HELLO", 3) + mb("COMMAND", "DOCS", "getrange", "set"), 1, skip=1)
    case("command getkeys", mb("COMMAND", "GETKEYS", "get", "k") + mb("COMMAND", "GETKEYS", "mset", "a", "b", "c", "d") + mb("COMMAND", "GETKEYS", "bitop", "and", "d", "a", "b") + mb("COMMAND", "GETKEYS", "object", "encoding", "k") + mb("COMMAND", "GETKEYS", "memory", "usage", "k") + mb("COMMAND", "GETKEYS", "ping", "x") + mb("COMMAND", "GETKEYS", "nosuch", "a") + mb("COMMAND", "GETKEYS", "get", "a", "b") + mb("COMMAND", "GETKEYS", "lcs", "k1", "k2") + mb("COMMAND", "GETKEYS", "get") + mb("COMMAND", "GETKEYS", "del", "a", "b", "c"), 11)
    case("command list", mb("COMMAND", "LIST", "FILTERBY", "foo", "x") + mb("COMMAND", "LIST", "FILTERBY") + mb("COMMAND", "LIST", "foo") + mb("COMMAND", "FOO") + mb("COMMAND", "COUNT", "x") + mb("COMMAND", "LIST", "FILTERBY", "MODULE", "x") + mb("COMMAND", "LIST", "FILTERBY", "PATTERN", "nosuch*") + mb("COMMAND", "LIST", "FILTERBY", "PATTERN", "lc?") + mb("COMMAND", "LIST", "FILTERBY", "pattern", "CLIENT|K*") + mb("COMMAND", "LIST", "FILTERBY", "ACLCAT", "nosuch"), 10)
    # LCS, BITPOS, BITOP.
    l1, l2 = k("l1"), k("l2")
    case("lcs", mb("MSET", l1, "ohmytext", l2, "mynewtext") + mb("LCS", l1, l2) + mb("LCS", l1, l2, "LEN") + mb("LCS", l1, l2, "IDX") + mb("LCS", l1, l2, "IDX", "MINMATCHLEN", 4) + mb("LCS", l1, l2, "idx", "withmatchlen") + mb("LCS", l1, l2, "IDX", "MINMATCHLEN", 4, "WITHMATCHLEN") + mb("LCS", l1, l2, "MINMATCHLEN", -3, "IDX"), 8)
    case("lcs errors", mb("LCS", l1, l2, "IDX", "LEN") + mb("LCS", l1, l2, "MINMATCHLEN", "x") + mb("LCS", l1, l2, "MINMATCHLEN") + mb("LCS", l1, l2, "FOO") + mb("LCS", l1) + mb("LCS", k("none"), l2) + mb("LCS", k("none"), k("none2"), "IDX") + mb("LCS", l1, k("none"), "LEN"), 8)
    import random
    rnd = random.Random(13)
    for n in range(4):
        x = bytes(rnd.choice(b"ACGT") for _ in range(rnd.randint(1, 40)))
        y = bytes(rnd.choice(b"ACGT") for _ in range(rnd.randint(1, 40)))
        case("lcs random %d" % n, mb("MSET", l1, x, l2, y) + mb("LCS", l1, l2) + mb("LCS", l1, l2, "IDX", "WITHMATCHLEN") + mb("LCS", l2, l1, "IDX", "MINMATCHLEN", 2), 4)
    case("lcs resp3", mb("HELLO", 3) + mb("MSET", l1, "ohmytext", l2, "mynewtext") + mb("LCS", l1, l2, "IDX", "WITHMATCHLEN"), 2, skip=1)
    case("lcs too large", mb("MSET", l1, "a" * 12000, l2, "b" * 12000) + mb("LCS", l1, l2, "LEN") + mb("LCS", l1, l2) + mb("DEL", l1, l2), 4)
    p_ = k("p")
    case("bitpos", mb("SET", p_, b"\xff\xf0\x00") + mb("BITPOS", p_, 0) + mb("SET", p_, b"\x00\xff\xf0") + mb("BITPOS", p_, 1, 0) + mb("BITPOS", p_, 1, 2) + mb("BITPOS", p_, 1, 2, -1, "BYTE") + mb("BITPOS", p_, 1, 7, 15, "BIT") + mb("BITPOS", p_, 1, 7, -3, "bit") + mb("BITPOS", p_, 0, 1) + mb("BITPOS", p_, 0, 1, 1) + mb("BITPOS", p_, 1, 5, 2) + mb("BITPOS", p_, 1, -100, 100) + mb("BITPOS", p_, 0, 20, 22, "BIT"), 13)
    case("bitpos ends", mb("SET", p_, b"\xff\xff\xff") + mb("BITPOS", p_, 0) + mb("BITPOS", p_, 0, 0) + mb("BITPOS", p_, 0, 0, -1) + mb("BITPOS", p_, 1, 3) + mb("SET", p_, b"\x00\x00\x00") + mb("BITPOS", p_, 1) + mb("BITPOS", p_, 0, -1) + mb("SET", p_, "") + mb("BITPOS", p_, 0) + mb("BITPOS", p_, 1) + mb("BITPOS", p_, 0, 0) + mb("BITPOS", p_, 0, 0, 0, "BIT"), 12)
    case("bitpos errors", mb("BITPOS", p_, 2) + mb("BITPOS", p_, "x") + mb("BITPOS", k("none"), 0) + mb("BITPOS", k("none"), 1, "x") + mb("SET", p_, "a") + mb("BITPOS", p_, 1, 0, 1, "FOO") + mb("BITPOS", p_, 1, "a") + mb("BITPOS", p_, 1, 0, "b") + mb("BITPOS", p_, 1, 0, 1, "BIT", "x") + mb("BITPOS", p_), 10)
    d_, s1, s2 = k("dest"), k("s1"), k("s2")
    case("bitop", mb("MSET", s1, "foobar", s2, "abcdef") + mb("BITOP", "AND", d_, s1, s2) + mb("GET", d_) + mb("BITOP", "or", d_, s1, s2) + mb("GET", d_) + mb("BITOP", "XOR", d_, s1, s2) + mb("GET", d_) + mb("BITOP", "NOT", d_, s1) + mb("GET", d_) + mb("SET", s2, "ab") + mb("BITOP", "AND", d_, s1, s2, k("none")) + mb("GET", d_) + mb("BITOP", "OR", d_, s2, s1) + mb("GET", d_), 14)
    case("bitop errors", mb("BITOP", "NOT", d_, s1, s2) + mb("BITOP", "FOO", d_, s1) + mb("BITOP", "AND", d_) + mb("SET", d_, "v", "EX", 100) + mb("BITOP", "AND", d_, k("none"), k("none2")) + mb("EXISTS", d_) + mb("SET", d_, "v", "EX", 100) + mb("BITOP", "NOT", d_, s1) + mb("TTL", d_) + mb("BITOP", "NOT", d_, k("none")), 10)
    # INFO commandstats names a subcommand's line `cmdstat_<container>|<sub>` (calls and
    # rejections compared; times differ by nature).
    def cmdstats(r, rep):
        if r[0] != "INFO":
            return rep
        lines = sorted(l.split(b",usec=")[0] + b"," + l.split(b",")[-2] for l in rep.split(b"\r\n") if l.startswith(b"cmdstat_"))
        return b" ".join(lines)
    session("commandstats subcommands", [("CONFIG", "RESETSTAT"), ("CLIENT", "ID"), ("CONFIG", "GET", "databases"),
                                         ("CONFIG", "RESETSTAT", "x"), ("OBJECT", "ENCODING", k("none")), ("CONFIG", "GET"),
                                         ("INFO", "commandstats")], lambda r, rep: cmdstats(r, rep) if r[0] == "INFO" else (b":id\r\n" if r[0] == "CLIENT" else rep))
    # A container's word redis does not know is refused before it runs: errorstats only, no
    # commandstats line (the container's included), a transaction failed; the word up to a NUL.
    def allstats(r, rep):
        if r[0] != "INFO":
            return rep
        return b" ".join(sorted(l.split(b",usec=")[0] + b"," + b",".join(l.split(b",")[-2:]) if l.startswith(b"cmdstat_") else l
                                for l in rep.split(b"\r\n") if l.startswith((b"cmdstat_", b"errorstat_"))))
    session("unknown subcommands", [("CONFIG", "RESETSTAT"), ("CONFIG", "FOO"), ("CLIENT", "foo"), ("OBJECT", "FOO", "x"),
                                    ("MEMORY", "FOO"), ("COMMAND", "FOO"), ("SLOWLOG", "FOO"), ("PUBSUB", "FOO"),
                                    ("FUNCTION", "FOO"), ("config", b"ab\x00cd"), ("CONFIG",), ("CONFIG", "GET"),
                                    ("MULTI",), ("CONFIG", "FOO"), ("EXEC",), ("INFO", "commandstats"), ("INFO", "errorstats")], allstats)
    # HELP of every container we have, redis's text (subcommands we lack included).
    session("container help", [("CONFIG", "RESETSTAT"), ("CONFIG", "HELP"), ("config", "help"), ("CLIENT", "HELP"), ("COMMAND", "HELP"),
                               ("OBJECT", "HELP"), ("MEMORY", "HELP"), ("SLOWLOG", "HELP"), ("PUBSUB", "HELP"),
                               ("FUNCTION", "HELP"), ("CONFIG", "HELP", "x"), ("OBJECT", "HELP", "x"), ("INFO", "commandstats")], allstats)
    # HELLO before AUTH with requirepass (set, then cleared by the same, authenticated connection).
    admin = Conn(args.port)
    admin.send(mb("CONFIG", "SET", "requirepass", "rc-pw"))
    got = [admin.reply()]
    c = Conn(args.port)
    c.send(mb("HELLO", 3) + mb("HELLO", 2, "SETNAME", "x") + mb("HELLO", 2, "AUTH", "default", "bad") + mb("HELLO", 3, "AUTH", "x") + mb("PING") + mb("AUTH", "bad") + mb("AUTH", "a", "b", "c"))
    got += [c.reply() for _ in range(7)]
    c.sock.close()
    admin.send(mb("CONFIG", "SET", "requirepass", ""))
    got.append(admin.reply())
    admin.sock.close()
    out.append("hello noauth: %r" % b"".join(got))
    # DEBUG and FUNCTION.
    case("debug", mb("DEBUG", "JMAP") + mb("debug", "jmap", "x") + mb("DEBUG") + mb("DEBUG", "OBJECT") + mb("DEBUG", "OBJECT", k("none")) + mb("DEBUG", "SLEEP", 0) + mb("DEBUG", "SLEEP", "x") + mb("DEBUG", "SLEEP", "0.05") + mb("DEBUG", "SLEEP") + mb("DEBUG", "SET-ACTIVE-EXPIRE", 1) + mb("DEBUG", "set-active-expire", "x") + mb("DEBUG", "SET-ACTIVE-EXPIRE"), 12)
    # DEBUG SLEEP takes (long long)(seconds * 1e6) microseconds: infinities, NaN and products
    # past 2^63 come out negative on x86-64 and nanosleep refuses them, so OK at once.
    case("debug sleep overflow", mb("DEBUG", "SLEEP", "inf") + mb("DEBUG", "SLEEP", "1e400") + mb("DEBUG", "SLEEP", "9223372036854775807")
         + mb("DEBUG", "SLEEP", "-inf") + mb("DEBUG", "SLEEP", "nan") + mb("DEBUG", "SLEEP", "9.3e12") + mb("DEBUG", "SLEEP", "-1")
         + mb("DEBUG", "SLEEP", "0.0000001") + mb("DEBUG", "SLEEP", "+INF"), 9)
    case("function", mb("FUNCTION", "LIST") + mb("FUNCTION", "LIST", "WITHCODE") + mb("FUNCTION", "LIST", "LIBRARYNAME") + mb("FUNCTION", "LIST", "foo") + mb("FUNCTION", "LIST", "LIBRARYNAME", "x", "WITHCODE") + mb("FUNCTION", "LIST", "WITHCODE", "WITHCODE") + mb("FUNCTION", "FLUSH") + mb("FUNCTION", "FLUSH", "ASYNC") + mb("FUNCTION", "FLUSH", "foo") + mb("FUNCTION", "FLUSH", "a", "b") + mb("FUNCTION", "FOO") + mb("FUNCTION"), 12)
    # Requests split at every few bytes, pipelined.
    pipeline = mb("SET", a, "split") + b"GET " + a + b"\r\n" + mb("MGET", a, a) + mb("PING")
    case("split pipeline", pipeline, 4, pieces=len(pipeline) // 3)
    # Protocol errors: replied, then the connection is closed.
    for name, raw in [("bad multibulk", b"*x\r\n"), ("expected dollar", b"*1\r\n+PING\r\n"),
                      ("bad bulk length", b"*1\r\n$-3\r\n"), ("unbalanced quotes", b"ECHO \"abc\r\n"),
                      ("huge bulk", b"*1\r\n$536870913\r\n"), ("multibulk -0", b"*-0\r\n"),
                      ("multibulk 00", b"*00\r\n"), ("bulk length -0", b"*1\r\n$-0\r\n")]:
        c = Conn(args.port)
        c.send(raw)
        try:
            r = c.reply()
        except (EOFError, ConnectionResetError):
            r = b"<closed>"
        out.append("%s: %r closed=%s" % (name, r, c.closed()))
        c.sock.close()

    for line in out:
        print(line)

    if args.memcached_port:
        # The cache port and the RESP port share keys: set through one, read through the other.
        m = socket.create_connection(("127.0.0.1", args.memcached_port), timeout=IO_TIMEOUT)
        key = k("shared")
        m.sendall(b"set " + key + b" 0 0 5\r\nhello\r\n")
        assert m.recv(100) == b"STORED\r\n"
        c = Conn(args.port)
        c.send(mb("GET", key) + mb("SET", key, "from-resp") + mb("APPEND", key, "!"))
        got = [c.reply(), c.reply(), c.reply()]
        assert got == [b"$5\r\nhello\r\n", b"+OK\r\n", b":10\r\n"], got
        m.sendall(b"get " + key + b"\r\n")
        data = b""
        while not data.endswith(b"END\r\n"):
            data += m.recv(1000)
        assert data == b"VALUE " + key + b" 0 10\r\nfrom-resp!\r\nEND\r\n", data
        m.sendall(b"delete " + key + b"\r\n")
        assert m.recv(100) == b"DELETED\r\n"
        c.send(mb("EXISTS", key))
        assert c.reply() == b":0\r\n"
        # SWAPDB reaches the memcached port, which is logical database 0.
        key = k("swapped")
        c.send(mb("SELECT", 1) + mb("SET", key, "in-db1") + mb("SWAPDB", 0, 1))
        assert [c.reply(), c.reply(), c.reply()] == [b"+OK\r\n"] * 3
        m.sendall(b"get " + key + b"\r\n")
        data = b""
        while not data.endswith(b"END\r\n"):
            data += m.recv(1000)
        assert data == b"VALUE " + key + b" 0 6\r\nin-db1\r\nEND\r\n", data
        c.send(mb("SWAPDB", 0, 1) + mb("DEL", key))
        assert [c.reply(), c.reply()] == [b"+OK\r\n", b":1\r\n"]
        m.sendall(b"get " + key + b"\r\n")
        assert m.recv(100) == b"END\r\n"
        print("SHARED KEYSPACE CHECKS PASSED")
    print("RESP TRANSCRIPT DONE")


if __name__ == "__main__":
    main()
