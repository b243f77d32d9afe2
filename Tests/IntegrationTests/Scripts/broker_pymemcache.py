#!/usr/bin/env python3
"""Broker mode (swiftcached --broker-port) through pymemcache and raw sockets.

The broker listener speaks the memcached text protocol with queue semantics
(Kestrel's verbs: set/get/gets with /t= /open /close /abort /peek, delete,
flush, flush_all, stats) plus the RabbitMQ-model verbs (queue, exchange,
bind, unbind, publish, ack, nack).  Plain round trips go through pymemcache
4.0.0 (pymemcache.client.base.Client); exact reply bytes, the extra `gets`
tokens a key with /redelivery asks for (redelivered=N, deaths=N reason=R), and
parked reads go through raw sockets (rawconn.py).

Expects a server started with default broker settings apart from the port:
prefetch 1, no visibility timeout, no data directory (any --broker-memory);
see Usage for the --prefetch/--visibility-timeout mode.
Every queue and exchange name carries a per-run prefix, so the script can be
rerun against the same server.

Prints one line per check; exits non-zero on the first failure, printing
expected vs got.

Usage: broker_pymemcache.py PORT        (or: --port PORT [--host 127.0.0.1])
       broker_pymemcache.py PORT --prefetch 3 --visibility-timeout 500
           against a server started with --prefetch=3 --visibility-timeout=500: checks of
           those two settings (several open reads, reads timing out) instead
"""

import sys
import threading
import time

import broker_common
import rawconn
from broker_common import eq, read_value, stats, wait_for
from rawconn import Conn, fail, ok

Client = broker_common.import_pymemcache()

RUN_ID = "%x" % (int(time.time() * 1000) & 0xFFFFFFF)


def Q(name):
    """A per-run queue or exchange name (letters, digits, _ only)."""
    return "b%s_%s" % (RUN_ID, name)


def B(name):
    return Q(name).encode()


def check(name, cond, expected=None, got=None):
    if not cond:
        fail(name, expected, got)
    ok(name)


def client(serde=None):
    kw = {}
    if serde is not None:
        kw["serde"] = serde
    return Client(rawconn.ADDRESS, connect_timeout=5, timeout=10,
                  default_noreply=False, no_delay=True, **kw)


class FlagSerde:
    """Passes bytes through and hands back (value, flags) so flags can be checked."""

    def serialize(self, key, value):
        return value, 0

    def deserialize(self, key, value, flags):
        return value, flags


def fetch(c, cmd, name):
    c.send(cmd + b"\r\n")
    return read_value(c, name)


def store(c, name, q, data, flags=0, exptime=0, suffix=b""):
    c.roundtrip(name, b"set %s%s %d %d %d\r\n%s\r\n" % (q, suffix, flags, exptime, len(data), data),
                b"STORED\r\n")


def store_quiet(c, q, data, flags=0, exptime=0, suffix=b""):
    c.send(b"set %s%s %d %d %d\r\n%s\r\n" % (q, suffix, flags, exptime, len(data), data))
    got = c.read_line()
    if got != b"STORED\r\n":
        fail("set %s%s" % (q.decode(), suffix.decode()), b"STORED\r\n", got + c._more())


def drain(c, q, limit=10000):
    """Plain gets until END; returns the bodies."""
    out = []
    for _ in range(limit):
        v = fetch(c, b"get " + q, "drain " + q.decode())
        if v is None:
            return out
        out.append(v["data"])
    fail("drain %s ends" % q.decode(), "END", "more than %d messages" % limit)


def qstat(c, q, field):
    s = stats(c)
    k = "queue_%s_%s" % (q.decode() if isinstance(q, bytes) else q, field)
    if k not in s:
        fail("stats has %s" % k, k, sorted(x for x in s if x.startswith("queue_"))[:20])
    return int(s[k])


def qstat_opt(c, q, field):
    """Like qstat, but -1 while the queue does not exist yet (a parked read creates it)."""
    k = "queue_%s_%s" % (q.decode() if isinstance(q, bytes) else q, field)
    return int(stats(c).get(k, -1))


def declare(c, line, name=None):
    c.roundtrip(name or line.decode(), line + b"\r\n", b"OK\r\n")


def publish(c, exchange, rkey, data, expected_routed, flags=0, exptime=0, extra=b"", name=None):
    cmd = b"publish %s %s %d %d %d%s\r\n%s\r\n" % (exchange, rkey, flags, exptime, len(data),
                                                   (b" " + extra) if extra else b"", data)
    exp = b"ROUTED %d\r\n" % expected_routed if isinstance(expected_routed, int) else expected_routed
    c.roundtrip(name or "publish %s %s %s -> %r" % (exchange.decode(), rkey.decode(), extra.decode(), exp), cmd, exp)


# --------------------------------------------------------------------------
def t_connect():
    broker_common.wait_for_port(rawconn.ADDRESS[1], "broker port %d accepts connections" % rawconn.ADDRESS[1])
    ok("broker port %d accepts connections" % rawconn.ADDRESS[1])


def t_pymemcache_basics():
    c = client()
    q = Q("pm")
    ver = c.version()
    check("pymemcache version() -> %r" % ver, bool(ver), "non-empty", ver)
    eq("get of an empty (new) queue -> None", None, c.get(q))
    eq("set -> True (STORED)", True, c.set(q, b"one", noreply=False))
    eq("set second -> True", True, c.set(q, b"two", noreply=False))
    eq("set third -> True", True, c.set(q, b"three", noreply=False))
    eq("get -> first message (FIFO)", b"one", c.get(q))
    eq("get -> second message", b"two", c.get(q))
    eq("get -> third message", b"three", c.get(q))
    eq("get of the drained queue -> None", None, c.get(q))
    # gets: message id in the CAS field, ids increase per queue
    for body in (b"g1", b"g2", b"g3"):
        c.set(q, body, noreply=False)
    ids = []
    for body in (b"g1", b"g2", b"g3"):
        v, cas = c.gets(q)
        eq("gets -> %r" % body, body, v)
        check("gets CAS field is the numeric message id (%r)" % cas, cas is not None and cas.isdigit(), "digits", cas)
        ids.append(int(cas))
    check("message ids increase (%r)" % ids, ids[0] < ids[1] < ids[2], "increasing", ids)
    eq("gets of the empty queue -> (None, None)", (None, None), c.gets(q))
    # options in the key: the echoed key is the whole token, so pymemcache maps it back
    c.set(q, b"peeked", noreply=False)
    eq("get q/peek through pymemcache -> value", b"peeked", c.get(q + "/peek"))
    eq("get q/peek again -> same value (not removed)", b"peeked", c.get(q + "/peek"))
    eq("get q/t=100 -> value", b"peeked", c.get(q + "/t=100"))
    eq("get q/peek of an empty queue -> None", None, c.get(q + "/peek"))
    # bodies
    binary = bytes(range(256)) * 8
    eq("binary body set", True, c.set(q, binary, noreply=False))
    eq("binary body round trip", binary, c.get(q))
    eq("empty body set", True, c.set(q, b"", noreply=False))
    eq("empty body round trip -> b''", b"", c.get(q))
    big = bytes((i * 13 + 5) & 0xFF for i in range(200 * 1024))
    eq("200 KiB body set", True, c.set(q, big, noreply=False))
    back = c.get(q)
    check("200 KiB body round trip", back == big, "%d identical bytes" % len(big),
          "%d bytes, equal=%s" % (len(back) if back is not None else -1, back == big))
    # noreply
    eq("noreply set returns True", True, c.set(q, b"quiet", noreply=True))
    eq("noreply set took effect", b"quiet", c.get(q))
    # flags round trip
    cf = client(FlagSerde())
    for flags in (0, 1, 12345, 2 ** 31, 2 ** 32 - 1):
        eq("set with flags %d" % flags, True, cf.set(q, b"f%d" % flags, flags=flags, noreply=False))
    for flags in (0, 1, 12345, 2 ** 31, 2 ** 32 - 1):
        eq("flags %d round trip" % flags, (b"f%d" % flags, flags), cf.get(q))
    cf.close()
    # set_many into several queues, get_many across them
    vals = {Q("pm_many%d" % i): b"many%d" % i for i in range(5)}
    eq("set_many into 5 queues: no failures", [], c.set_many(vals, noreply=False))
    eq("get_many across 5 queues + an empty one", vals, c.get_many(list(vals) + [Q("pm_many_empty")]))
    eq("get_many again: all drained", {}, c.get_many(list(vals)))
    # delete
    c.set(q, b"doomed", noreply=False)
    eq("delete existing queue -> True (DELETED)", True, c.delete(q, noreply=False))
    eq("delete missing queue -> False (NOT_FOUND)", False, c.delete(q, noreply=False))
    eq("deleted queue is empty (recreated on use)", None, c.get(q))
    # stats through pymemcache
    c.set(q, b"s", noreply=False)
    st = c.stats()
    check("pymemcache stats() has queue_%s_items and broker_queues" % q,
          ("queue_%s_items" % q).encode() in st and b"broker_queues" in st,
          "both keys", sorted(k for k in st if k.startswith(b"broker_")))
    eq("pymemcache stats(): queue_%s_items == 1" % q, 1, int(st[("queue_%s_items" % q).encode()]))
    c.get(q)
    c.close()


def t_raw_replies():
    c = Conn()
    q = B("raw")
    c.roundtrip("version -> VERSION ...", b"version\r\n", b"VERSION ")
    c.read_line()
    c.roundtrip("get of a new queue -> END", b"get " + q + b"\r\n", b"END\r\n")
    c.roundtrip("set q 7 0 5 -> STORED", b"set " + q + b" 7 0 5\r\nhello\r\n", b"STORED\r\n")
    c.roundtrip("get q/peek -> VALUE q/peek 7 5 (key echoed with its options)",
                b"get " + q + b"/peek\r\n", b"VALUE " + q + b"/peek 7 5\r\nhello\r\nEND\r\n")
    v = fetch(c, b"gets " + q, "gets q")
    check("gets q -> VALUE q 7 5 <id> (%r)" % v["line"],
          v["key"] == q and v["flags"] == 7 and v["data"] == b"hello" and v["id"] is not None
          and v["line"] == b"VALUE %s 7 5 %d\r\n" % (q, v["id"]), b"VALUE q 7 5 <id>\\r\\n", v)
    c.roundtrip("get q after the only message was read -> END", b"get " + q + b"\r\n", b"END\r\n")
    c.roundtrip("set q ... noreply -> no reply", b"set " + q + b" 0 0 2 noreply\r\nnr\r\n", b"")
    c.expect_silence("noreply set sends nothing")
    c.roundtrip("noreply message is there", b"get " + q + b"\r\n", b"VALUE " + q + b" 0 2\r\nnr\r\nEND\r\n")
    c.roundtrip("pipelined: set, set, get, get, get in one write",
                b"set " + q + b" 1 0 1\r\na\r\nset " + q + b" 2 0 1\r\nb\r\nget " + q + b"\r\nget "
                + q + b"\r\nget " + q + b"\r\n",
                b"STORED\r\nSTORED\r\nVALUE " + q + b" 1 1\r\na\r\nEND\r\nVALUE " + q
                + b" 2 1\r\nb\r\nEND\r\nEND\r\n")
    c.roundtrip("set q/priority=3 on a FIFO queue -> STORED", b"set " + q + b"/priority=3 0 0 1\r\np\r\n",
                b"STORED\r\n")
    c.roundtrip("  ... read back under the plain name", b"get " + q + b"\r\n", b"VALUE " + q + b" 0 1\r\np\r\nEND\r\n")
    # delete / flush / flush_all
    c.roundtrip("delete q -> DELETED", b"delete " + q + b"\r\n", b"DELETED\r\n")
    c.roundtrip("delete q again -> NOT_FOUND", b"delete " + q + b"\r\n", b"NOT_FOUND\r\n")
    c.roundtrip("delete never-used queue -> NOT_FOUND", b"delete " + B("never") + b"\r\n", b"NOT_FOUND\r\n")
    c.roundtrip("delete q noreply -> nothing", b"delete " + q + b" noreply\r\n", b"")
    c.expect_silence("delete noreply sends nothing")
    for i in range(3):
        store_quiet(c, q, b"fl%d" % i)
    c.roundtrip("flush q -> END", b"flush " + q + b"\r\n", b"END\r\n")
    c.roundtrip("flushed queue is empty", b"get " + q + b"\r\n", b"END\r\n")
    store(c, "set after flush -> STORED", q, b"again")
    c.roundtrip("message after flush readable", b"get " + q + b"\r\n", b"VALUE " + q + b" 0 5\r\nagain\r\nEND\r\n")
    q2 = B("raw2")
    store_quiet(c, q, b"x")
    store_quiet(c, q2, b"y")
    c.roundtrip("flush_all -> OK", b"flush_all\r\n", b"OK\r\n")
    c.roundtrip("flush_all emptied queue 1", b"get " + q + b"\r\n", b"END\r\n")
    c.roundtrip("flush_all emptied queue 2", b"get " + q2 + b"\r\n", b"END\r\n")
    # errors keep the connection usable
    c.roundtrip("unknown command -> ERROR", b"frobnicate\r\n", b"ERROR\r\n")
    c.line("set with an invalid queue name -> CLIENT_ERROR", b"set .bad 0 0 1\r\nx\r\n", rb"CLIENT_ERROR .*")
    c.usable("after invalid queue name (data block swallowed)")
    c.line("get with an unknown key option -> CLIENT_ERROR", b"get " + q + b"/bogus\r\n", rb"CLIENT_ERROR .*")
    c.line("blocking read of two queues -> CLIENT_ERROR", b"get " + q + b"/t=10 " + q2 + b"\r\n", rb"CLIENT_ERROR .*")
    c.usable("after CLIENT_ERRORs")
    c.roundtrip("bad data chunk -> CLIENT_ERROR bad data chunk",
                b"set " + q + b" 0 0 2\r\nabcd\r\n", b"CLIENT_ERROR bad data chunk\r\n")
    c.line("  ... rest of the line is a command -> ERROR", b"", rb"ERROR")
    c.roundtrip("  ... nothing was queued", b"get " + q + b"\r\n", b"END\r\n")
    huge = 1024 * 1024 + 1
    c.roundtrip("set of 1 MiB + 1 bytes -> SERVER_ERROR object too large for cache",
                b"set " + q + b" 0 0 %d\r\n" % huge + b"x" * huge + b"\r\n",
                b"SERVER_ERROR object too large for cache\r\n")
    c.usable("after a too large message (data block swallowed)")
    c.roundtrip("  ... nothing was queued", b"get " + q + b"\r\n", b"END\r\n")
    c.roundtrip("get of two queues in one command", b"set " + q + b" 0 0 1\r\n1\r\nset " + q2
                + b" 0 0 1\r\n2\r\nget " + q + b" " + q2 + b"\r\n",
                b"STORED\r\nSTORED\r\nVALUE " + q + b" 0 1\r\n1\r\nVALUE " + q2 + b" 0 1\r\n2\r\nEND\r\n")
    c.roundtrip("quit closes the connection", b"quit\r\n", b"")
    c.expect_closed("quit -> connection closed, no reply")
    c.close()


def t_declarations():
    c = Conn()
    c.roundtrip("queue <name> -> OK", b"queue " + B("decl") + b"\r\n", b"OK\r\n")
    c.roundtrip("queue with every option -> OK",
                b"queue " + B("decl2") + b" max_items=10 max_bytes=1000 max_priority=5 message_ttl=60000 dead_letter="
                + B("decl2_dead") + b" delivery_limit=3 overflow=drop_oldest\r\n", b"OK\r\n")
    c.roundtrip("queue re-declared -> OK", b"queue " + B("decl2") + b" max_items=20\r\n", b"OK\r\n")
    c.line("queue with an unknown option -> CLIENT_ERROR", b"queue " + B("decl3") + b" bogus=1\r\n", rb"CLIENT_ERROR .*")
    c.line("queue with an invalid name -> CLIENT_ERROR", b"queue .hidden\r\n", rb"CLIENT_ERROR .*")
    for kind in (b"direct", b"topic", b"fanout", b"headers"):
        c.roundtrip("exchange %s -> OK" % kind.decode(), b"exchange " + B("ex_" + kind.decode()) + b" " + kind + b"\r\n",
                    b"OK\r\n")
    c.roundtrip("exchange re-declared with the same type -> OK", b"exchange " + B("ex_direct") + b" direct\r\n", b"OK\r\n")
    c.line("exchange re-declared with another type -> CLIENT_ERROR",
           b"exchange " + B("ex_direct") + b" fanout\r\n", rb"CLIENT_ERROR .*")
    c.line("exchange of an unknown type -> CLIENT_ERROR", b"exchange " + B("ex_bad") + b" bogus\r\n", rb"CLIENT_ERROR .*")
    c.roundtrip("bind to a missing exchange -> NOT_FOUND",
                b"bind " + B("nosuchex") + b" " + B("decl") + b" k\r\n", b"NOT_FOUND\r\n")
    c.roundtrip("bind -> OK", b"bind " + B("ex_direct") + b" " + B("decl") + b" k\r\n", b"OK\r\n")
    c.roundtrip("bind the same binding twice -> OK", b"bind " + B("ex_direct") + b" " + B("decl") + b" k\r\n", b"OK\r\n")
    publish(c, B("ex_direct"), b"k", b"once", 1, name="duplicate binding still routes one copy -> ROUTED 1")
    c.roundtrip("  ... exactly one copy queued", b"get " + B("decl") + b"\r\nget " + B("decl") + b"\r\n",
                b"VALUE " + B("decl") + b" 0 4\r\nonce\r\nEND\r\nEND\r\n")
    c.roundtrip("unbind -> OK", b"unbind " + B("ex_direct") + b" " + B("decl") + b" k\r\n", b"OK\r\n")
    c.roundtrip("unbind again -> NOT_FOUND", b"unbind " + B("ex_direct") + b" " + B("decl") + b" k\r\n", b"NOT_FOUND\r\n")
    c.roundtrip("unbind on a missing exchange -> NOT_FOUND",
                b"unbind " + B("nosuchex") + b" " + B("decl") + b" k\r\n", b"NOT_FOUND\r\n")
    publish(c, B("nosuchex"), b"k", b"data", b"NOT_FOUND\r\n", name="publish to a missing exchange -> NOT_FOUND")
    c.usable("after NOT_FOUND publish (data block consumed)")
    publish(c, B("ex_direct"), b"k", b"lost", 0, name="publish after unbind -> ROUTED 0")
    c.roundtrip("  ... nothing queued", b"get " + B("decl") + b"\r\n", b"END\r\n")
    # deleting a queue removes its bindings
    dx, dq = B("delx"), B("delq")
    declare(c, b"exchange " + dx + b" fanout", "exchange fanout -> OK")
    declare(c, b"bind " + dx + b" " + dq + b" k", "bind (creates the queue) -> OK")
    publish(c, dx, b"k", b"one", 1)
    c.roundtrip("delete the bound queue -> DELETED", b"delete " + dq + b"\r\n", b"DELETED\r\n")
    publish(c, dx, b"k", b"two", 0, name="publish after the bound queue was deleted -> ROUTED 0")
    c.roundtrip("  ... the deleted queue was not recreated with the message", b"get " + dq + b"\r\n", b"END\r\n")
    c.close()


def t_max_items_overflow():
    c = Conn()
    q = B("cap")
    declare(c, b"queue " + q + b" max_items=2", "queue max_items=2 -> OK")
    store(c, "max_items=2: 1st set -> STORED", q, b"a")
    store(c, "max_items=2: 2nd set -> STORED", q, b"b")
    c.roundtrip("max_items=2: 3rd set -> NOT_STORED", b"set " + q + b" 0 0 1\r\nc\r\n", b"NOT_STORED\r\n")
    eq("max_items=2 (overflow=reject) keeps the first two", [b"a", b"b"], drain(c, q))
    qb = B("capb")
    declare(c, b"queue " + qb + b" max_bytes=10", "queue max_bytes=10 -> OK")
    store(c, "max_bytes=10: 6 bytes -> STORED", qb, b"123456")
    c.roundtrip("max_bytes=10: 6 more bytes -> NOT_STORED", b"set " + qb + b" 0 0 6\r\n123456\r\n", b"NOT_STORED\r\n")
    store(c, "max_bytes=10: 4 more bytes -> STORED", qb, b"abcd")
    eq("max_bytes queue content", [b"123456", b"abcd"], drain(c, qb))
    qd = B("capd")
    dead = B("capd_dead")
    declare(c, b"queue " + qd + b" max_items=2 overflow=drop_oldest dead_letter=" + dead,
            "queue max_items=2 overflow=drop_oldest dead_letter=... -> OK")
    for x in (b"a", b"b", b"c"):
        store(c, "drop_oldest: set %s -> STORED" % x.decode(), qd, x)
    eq("drop_oldest: stats discarded == 1", 1, qstat(c, qd, "discarded"))
    eq("drop_oldest keeps the newest two", [b"b", b"c"], drain(c, qd))
    v = fetch(c, b"gets " + dead + b"/redelivery", "gets dead-letter queue")
    check("dropped message dead-lettered with deaths=1 reason=maxlen (%r)" % (v and v["line"]),
          v is not None and v["data"] == b"a" and v["deaths"] == 1 and v["reason"] == b"maxlen",
          b"VALUE ... <id> deaths=1 reason=maxlen + 'a'", v)
    c.close()


def t_priorities():
    c = Conn()
    q = B("prio")
    declare(c, b"queue " + q + b" max_priority=9", "queue max_priority=9 -> OK")
    for body, prio in ((b"a1", 1), (b"b5", 5), (b"c0", 0), (b"d5", 5), (b"e9", 9), (b"f1", 1), (b"g0", None)):
        suffix = b"/priority=%d" % prio if prio is not None else b""
        store(c, "set %s%s -> STORED" % (q.decode(), suffix.decode()), q, body, suffix=suffix)
    eq("higher priority first, FIFO within a level", [b"e9", b"b5", b"d5", b"a1", b"f1", b"c0", b"g0"], drain(c, q))
    store(c, "priority above max_priority (200 > 9) -> STORED", q, b"hi200", suffix=b"/priority=200")
    store(c, "priority 9", q, b"hi9", suffix=b"/priority=9")
    store(c, "priority 8", q, b"hi8", suffix=b"/priority=8")
    eq("priority above the maximum counts as the maximum (RabbitMQ)", [b"hi200", b"hi9", b"hi8"], drain(c, q))
    # publish priority=N through the default exchange
    for body, prio in ((b"p2", 2), (b"p7", 7), (b"p0", 0), (b"p7b", 7)):
        publish(c, b"amq.default", q, body, 1, extra=b"priority=%d" % prio,
                name="publish amq.default %s priority=%d -> ROUTED 1" % (q.decode(), prio))
    eq("publish priority=N ordering", [b"p7", b"p7b", b"p2", b"p0"], drain(c, q))
    # /peek and the CAS id respect priority too
    store(c, "low", q, b"low", suffix=b"/priority=1")
    store(c, "high", q, b"high", suffix=b"/priority=4")
    c.roundtrip("peek shows the highest priority message", b"get " + q + b"/peek\r\n",
                b"VALUE " + q + b"/peek 0 4\r\nhigh\r\nEND\r\n")
    eq("drain", [b"high", b"low"], drain(c, q))
    # an aborted read goes back to the head of its own level
    store(c, "low", q, b"low", suffix=b"/priority=1")
    store(c, "high", q, b"high", suffix=b"/priority=4")
    v = fetch(c, b"gets " + q + b"/open", "open the high priority message")
    check("opened high", v is not None and v["data"] == b"high", "high", v)
    store(c, "another high", q, b"high2", suffix=b"/priority=4")
    c.roundtrip("abort", b"get " + q + b"/abort\r\n", b"END\r\n")
    eq("aborted high priority message first again, then high2, then low", [b"high", b"high2", b"low"], drain(c, q))
    # a queue without max_priority ignores priorities (FIFO)
    qf = B("prio_fifo")
    for body, prio in ((b"x1", 1), (b"x9", 9), (b"x0", 0)):
        store(c, "FIFO queue: set /priority=%d" % prio, qf, body, suffix=b"/priority=%d" % prio)
    eq("queue without max_priority stays FIFO", [b"x1", b"x9", b"x0"], drain(c, qf))
    c.close()


def t_ttl():
    c = Conn()
    q = B("ttl")
    declare(c, b"queue " + q + b" message_ttl=600", "queue message_ttl=600 -> OK")
    store(c, "set into a TTL queue", q, b"early")
    c.roundtrip("message read within its TTL", b"get " + q + b"\r\n", b"VALUE " + q + b" 0 5\r\nearly\r\nEND\r\n")
    store(c, "set expiring message 1", q, b"late1")
    store(c, "set expiring message 2", q, b"late2")
    time.sleep(0.8)
    c.roundtrip("messages past message_ttl=600 are not delivered (after 0.8 s)", b"get " + q + b"\r\n", b"END\r\n")
    eq("stats expired_items == 2", 2, qstat(c, q, "expired_items"))
    eq("stats items == 0 after expiry", 0, qstat(c, q, "items"))
    # per-message exptime (seconds, memcached rules)
    qe = B("exp")
    store(c, "set with exptime 1", qe, b"oneS", exptime=1)
    store(c, "set with exptime 0 (never)", qe, b"forever")
    store(c, "set with exptime -1 (already expired)", qe, b"neg", exptime=-1)
    store(c, "set with exptime 100", qe, b"hundred", exptime=100)
    time.sleep(1.3)
    eq("exptime 1 expired after 1.3 s; -1 never delivered; 0 and 100 kept", [b"forever", b"hundred"], drain(c, qe))
    # exptime shorter than message_ttl wins; message_ttl shorter than exptime wins
    qm = B("ttlmix")
    declare(c, b"queue " + qm + b" message_ttl=400", "queue message_ttl=400 -> OK")
    store(c, "exptime 100 s in a 400 ms queue", qm, b"capped", exptime=100)
    time.sleep(0.6)
    c.roundtrip("message_ttl caps a longer exptime", b"get " + qm + b"\r\n", b"END\r\n")
    qa = B("absexp")
    now = int(time.time())
    store(c, "exptime as absolute unix time, 100 s ahead", qa, b"future", exptime=now + 100)
    store(c, "exptime as absolute unix time, 10 s ago", qa, b"past", exptime=now - 10)
    store(c, "exptime 0 after it", qa, b"plain")
    eq("absolute exptime: future kept, past never delivered", [b"future", b"plain"], drain(c, qa))
    c.close()


def t_ttl_dead_letter():
    """Expired messages go to the dead-letter queue with reason expired, and do not expire
    again there (RabbitMQ removes the per-message expiration when dead-lettering)."""
    c = Conn()
    # expired -> dead-letter queue with reason expired
    qd = B("ttldl")
    dead = B("ttldl_dead")
    declare(c, b"queue " + qd + b" message_ttl=200 dead_letter=" + dead, "queue message_ttl=200 dead_letter=... -> OK")
    store(c, "set into TTL+DLQ queue", qd, b"mortal", flags=42)
    store(c, "set with exptime -1 into TTL+DLQ queue", qd, b"stillborn", flags=43, exptime=-1)
    time.sleep(0.5)
    c.roundtrip("expired messages are gone from the source queue", b"get " + qd + b"\r\n", b"END\r\n")
    got = []
    for _ in range(2):
        v = fetch(c, b"gets " + dead + b"/redelivery", "gets from DLQ")
        if v is not None:
            got.append(v)
    eq("both expired messages reached the dead-letter queue, in order", [b"mortal", b"stillborn"],
       [v["data"] for v in got])
    for v in got:
        check("dead letter %r: flags kept, deaths=1 reason=expired (%r)" % (v["data"], v["line"]),
              v["flags"] in (42, 43) and v["deaths"] == 1 and v["reason"] == b"expired" and v["redelivered"] == 0,
              b"VALUE <dlq> <flags> <n> <id> deaths=1 reason=expired", v["line"])
    eq("source queue stats dead_lettered == 2", 2, qstat(c, qd, "dead_lettered"))
    eq("dead-letter queue stats expired_items == 0", 0, qstat(c, dead, "expired_items"))
    c.close()


def t_delivery_limit():
    c = Conn()
    q = B("dlim")
    dead = B("dlim_dead")
    declare(c, b"queue " + q + b" delivery_limit=3 dead_letter=" + dead, "queue delivery_limit=3 dead_letter=... -> OK")
    store(c, "set message", q, b"poison", flags=9)
    for n in range(3):
        v = fetch(c, b"gets " + q + b"/redelivery" + b"/open", "delivery %d" % (n + 1))
        check("delivery %d: message delivered with redelivered=%d (%r)" % (n + 1, n, v and v["line"]),
              v is not None and v["data"] == b"poison" and v["redelivered"] == n,
              "redelivered=%d" % n, v)
        c.roundtrip("delivery %d: /abort -> END" % (n + 1), b"get " + q + b"/abort\r\n", b"END\r\n")
    c.roundtrip("after 3 failed deliveries the message is gone", b"get " + q + b"\r\n", b"END\r\n")
    v = fetch(c, b"gets " + dead + b"/redelivery", "gets DLQ")
    check("dead-lettered with deaths=1 reason=delivery_limit (%r)" % (v and v["line"]),
          v is not None and v["data"] == b"poison" and v["flags"] == 9 and v["deaths"] == 1
          and v["reason"] == b"delivery_limit", b"VALUE ... deaths=1 reason=delivery_limit", v)
    # nack requeue and disconnects count as failed deliveries too
    q2 = B("dlim2")
    dead2 = B("dlim2_dead")
    declare(c, b"queue " + q2 + b" delivery_limit=2 dead_letter=" + dead2, "queue delivery_limit=2 -> OK")
    store(c, "set message", q2, b"m")
    v = fetch(c, b"gets " + q2 + b"/open", "delivery 1")
    check("delivery 1", v is not None and v["data"] == b"m", "m", v)
    c.roundtrip("nack requeue -> NACKED 1", b"nack " + q2 + b" %d requeue\r\n" % v["id"], b"NACKED 1\r\n")
    c2 = Conn()
    v = fetch(c2, b"gets " + q2 + b"/redelivery" + b"/open", "delivery 2 on another connection")
    check("delivery 2 redelivered=1", v is not None and v["data"] == b"m" and v["redelivered"] == 1, "redelivered=1", v)
    c2.close()
    v = wait_for("disconnect with the 2nd open delivery dead-letters it (delivery_limit=2)",
                 lambda: fetch(c, b"gets " + dead2 + b"/redelivery", "gets DLQ2"))
    check("dead-lettered after nack + disconnect: deaths=1 reason=delivery_limit (%r)" % v["line"],
          v["data"] == b"m" and v["deaths"] == 1 and v["reason"] == b"delivery_limit", "reason=delivery_limit", v)
    c.roundtrip("source queue empty", b"get " + q2 + b"\r\n", b"END\r\n")
    # without a dead-letter queue the message is dropped
    q3 = B("dlim3")
    declare(c, b"queue " + q3 + b" delivery_limit=1", "queue delivery_limit=1 (no DLQ) -> OK")
    store(c, "set message", q3, b"z")
    v = fetch(c, b"gets " + q3 + b"/open", "delivery 1")
    check("delivered once", v is not None and v["data"] == b"z", "z", v)
    c.roundtrip("abort -> END", b"get " + q3 + b"/abort\r\n", b"END\r\n")
    c.roundtrip("delivery_limit=1 without DLQ: message dropped after one failed delivery",
                b"get " + q3 + b"\r\n", b"END\r\n")
    c.close()


def t_ack_nack():
    c = Conn()
    q = B("ack")
    dead = B("ack_dead")
    declare(c, b"queue " + q + b" dead_letter=" + dead, "queue dead_letter=... -> OK")
    for x in (b"a", b"b", b"c", b"d"):
        store_quiet(c, q, x)
    v = fetch(c, b"gets " + q + b"/open", "open a")
    check("open read of a", v is not None and v["data"] == b"a" and v["key"] == q + b"/open", "a", v)
    ida = v["id"]
    eq("stats open_transactions == 1", 1, qstat(c, q, "open_transactions"))
    other = Conn()
    other.roundtrip("ack of another connection's open read -> ACKED 0", b"ack " + q + b" %d\r\n" % ida, b"ACKED 0\r\n")
    other.roundtrip("nack of another connection's open read -> NACKED 0",
                    b"nack " + q + b" %d reject\r\n" % ida, b"NACKED 0\r\n")
    other.close()
    c.roundtrip("ack <id> -> ACKED 1", b"ack " + q + b" %d\r\n" % ida, b"ACKED 1\r\n")
    c.roundtrip("ack the same id again -> ACKED 0", b"ack " + q + b" %d\r\n" % ida, b"ACKED 0\r\n")
    c.roundtrip("ack an unknown id -> ACKED 0", b"ack " + q + b" 999999\r\n", b"ACKED 0\r\n")
    eq("stats open_transactions == 0 after ack", 0, qstat(c, q, "open_transactions"))
    v = fetch(c, b"gets " + q + b"/open", "open b")
    check("open read of b", v is not None and v["data"] == b"b" and v["redelivered"] == 0, "b", v)
    idb = v["id"]
    c.roundtrip("nack <id> (default requeue) -> NACKED 1", b"nack " + q + b" %d\r\n" % idb, b"NACKED 1\r\n")
    v = fetch(c, b"gets " + q + b"/redelivery" + b"/open", "b again")
    check("nacked message back at the head, same id, redelivered=1 (%r)" % v["line"],
          v["data"] == b"b" and v["id"] == idb and v["redelivered"] == 1, "b id=%d redelivered=1" % idb, v)
    c.roundtrip("nack <id> reject -> NACKED 1", b"nack " + q + b" %d reject\r\n" % idb, b"NACKED 1\r\n")
    v = fetch(c, b"gets " + dead + b"/redelivery", "gets DLQ")
    check("rejected message in the DLQ with deaths=1 reason=rejected (%r)" % (v and v["line"]),
          v is not None and v["data"] == b"b" and v["deaths"] == 1 and v["reason"] == b"rejected",
          b"VALUE ... deaths=1 reason=rejected + 'b'", v)
    v = fetch(c, b"gets " + q + b"/open", "open c")
    check("open read of c", v is not None and v["data"] == b"c", "c", v)
    c.roundtrip("nack <id> requeue -> NACKED 1", b"nack " + q + b" %d requeue\r\n" % v["id"], b"NACKED 1\r\n")
    c.roundtrip("nack an unknown id -> NACKED 0", b"nack " + q + b" 999999 requeue\r\n", b"NACKED 0\r\n")
    eq("remaining messages: c (requeued at the head), d", [b"c", b"d"], drain(c, q))
    c.line("ack without ids -> CLIENT_ERROR", b"ack " + q + b"\r\n", rb"CLIENT_ERROR .*")
    c.usable("after ack without ids")
    c.close()


def t_anycast():
    q = Q("any")
    qb = q.encode()
    n_msgs = 2000
    n_consumers = 4
    lock = threading.Lock()
    received = [[] for _ in range(n_consumers)]
    errors = []
    producer_done = threading.Event()
    deadline = time.monotonic() + 30

    def consume(i):
        try:
            cl = client()
            while time.monotonic() < deadline:
                v = cl.get(q + "/t=300")
                if v is None:
                    if producer_done.is_set():
                        break
                    continue
                with lock:
                    received[i].append(v)
            cl.close()
        except Exception as e:  # reported by the main thread
            errors.append("consumer %d: %r" % (i, e))

    threads = [threading.Thread(target=consume, args=(i,), daemon=True) for i in range(n_consumers)]
    for t in threads:
        t.start()
    c = Conn()
    wait_for("all 4 consumers parked (queue_%s_waiters == 4)" % q,
             lambda: stats(c).get("queue_%s_waiters" % q) == "4", timeout=5)
    ok("all 4 consumers parked on the empty queue (waiters == 4)")
    bodies = [b"any%05d" % i for i in range(n_msgs)]
    prod = Conn()
    t0 = time.monotonic()
    for start in range(0, n_msgs, 200):
        prod.send(b"".join(b"set %s 0 0 %d\r\n%s\r\n" % (qb, len(x), x) for x in bodies[start:start + 200]))
        for j in range(start, min(start + 200, n_msgs)):
            line = prod.read_line()
            if line != b"STORED\r\n":
                fail("anycast producer: set #%d" % j, b"STORED\r\n", line + prod._more())
    producer_done.set()
    ok("producer stored %d messages (%.2f s)" % (n_msgs, time.monotonic() - t0))
    for t in threads:
        t.join(timeout=max(1, deadline - time.monotonic()))
    check("consumers finished", not any(t.is_alive() for t in threads), "all joined",
          [t.is_alive() for t in threads])
    eq("no consumer errors", [], errors)
    allgot = [x for r in received for x in r]
    counts = [len(r) for r in received]
    eq("2000 messages received in total (per consumer %r)" % counts, n_msgs, len(allgot))
    eq("each message received exactly once", sorted(bodies), sorted(allgot))
    check("every consumer got messages (%r)" % counts, all(n > 0 for n in counts), "> 0 each", counts)
    check("each consumer saw its messages in queue (FIFO) order",
          all(r == sorted(r) for r in received), "increasing per consumer", [r[:5] for r in received])
    c.roundtrip("queue empty afterwards", b"get " + qb + b"\r\n", b"END\r\n")
    eq("stats total_items == 2000", n_msgs, qstat(c, qb, "total_items"))
    eq("stats waiters == 0", 0, qstat(c, qb, "waiters"))
    prod.close()
    c.close()


def t_timeout_race():
    """Consumers with 5 ms blocking reads race their timeouts against a trickling producer:
    a message handed to a reader whose wait is ending must still be delivered, exactly once."""
    q = B("race")
    n_msgs = 600
    lock = threading.Lock()
    got = []
    errors = []
    done = threading.Event()
    deadline = time.monotonic() + 30

    def consume(i):
        try:
            cc = Conn()
            while time.monotonic() < deadline:
                v = fetch(cc, b"get " + q + b"/t=5", "race consumer %d" % i)
                if v is None:
                    if done.is_set():
                        v = fetch(cc, b"get " + q, "race consumer %d final" % i)
                        if v is None:
                            break
                    else:
                        continue
                with lock:
                    got.append(v["data"])
            cc.close()
        except BaseException as e:  # fail() raises SystemExit in a thread
            errors.append("consumer %d: %r" % (i, e))

    threads = [threading.Thread(target=consume, args=(i,), daemon=True) for i in range(3)]
    for t in threads:
        t.start()
    p = Conn()
    bodies = [b"race%04d" % i for i in range(n_msgs)]
    for i, x in enumerate(bodies):
        store_quiet(p, q, x)
        if i % 7 == 0:
            time.sleep(0.002)
    done.set()
    for t in threads:
        t.join(timeout=max(1, deadline - time.monotonic()))
    check("race consumers finished", not any(t.is_alive() for t in threads), "all joined",
          [t.is_alive() for t in threads])
    eq("no race consumer errors", [], errors)
    eq("600 messages, each received exactly once, none lost to a timed-out wait", sorted(bodies), sorted(got))
    eq("queue empty, no open reads, no waiters", (0, 0, 0),
       (qstat(p, q, "items"), qstat(p, q, "open_transactions"), qstat(p, q, "waiters")))
    p.close()


def drain_map(c, queues):
    return {q.decode(): drain(c, q) for q in queues}


def t_topic():
    c = Conn()
    ex = B("topic")
    q1, q2 = B("topic_q1"), B("topic_q2")
    declare(c, b"exchange " + ex + b" topic", "exchange topic -> OK")
    declare(c, b"bind " + ex + b" " + q1 + b" *.orange.*", "bind Q1 *.orange.* -> OK")
    declare(c, b"bind " + ex + b" " + q2 + b" *.*.rabbit", "bind Q2 *.*.rabbit -> OK")
    declare(c, b"bind " + ex + b" " + q2 + b" lazy.#", "bind Q2 lazy.# -> OK")
    cases = [  # RabbitMQ tutorial 5, plus the edge cases of '#'
        (b"quick.orange.rabbit", 2), (b"lazy.orange.elephant", 2), (b"quick.orange.fox", 1),
        (b"lazy.brown.fox", 1), (b"lazy.pink.rabbit", 1), (b"quick.brown.fox", 0), (b"orange", 0),
        (b"quick.orange.new.rabbit", 0), (b"lazy.orange.new.rabbit", 1), (b"lazy", 1),
        (b"quick.orange", 0), (b"a.orange.b", 1),
    ]
    for rk, n in cases:
        publish(c, ex, rk, rk, n)
    got = drain_map(c, [q1, q2])
    eq("Q1 (*.orange.*) got", [b"quick.orange.rabbit", b"lazy.orange.elephant", b"quick.orange.fox", b"a.orange.b"],
       got[q1.decode()])
    eq("Q2 (*.*.rabbit, lazy.#) got, lazy.pink.rabbit once",
       [b"quick.orange.rabbit", b"lazy.orange.elephant", b"lazy.brown.fox", b"lazy.pink.rabbit",
        b"lazy.orange.new.rabbit", b"lazy"], got[q2.decode()])
    # '#' alone matches everything, flags and exptime pass through
    q3 = B("topic_all")
    declare(c, b"bind " + ex + b" " + q3 + b" #", "bind Q3 # -> OK")
    publish(c, ex, b"x.y.z", b"hash", 1, flags=77)
    c.roundtrip("'#' binding got it, with flags", b"get " + q3 + b"\r\n",
                b"VALUE " + q3 + b" 77 4\r\nhash\r\nEND\r\n")
    c.close()


def t_fanout_direct_headers():
    c = Conn()
    fx = B("fan")
    fq = [B("fan_q%d" % i) for i in range(3)]
    declare(c, b"exchange " + fx + b" fanout", "exchange fanout -> OK")
    for q in fq:
        declare(c, b"bind " + fx + b" " + q + b" ignored", "bind fanout -> %s" % q.decode())
    publish(c, fx, b"any.key", b"broadcast", 3, flags=5)
    for q in fq:
        c.roundtrip("fanout copy in %s (flags kept)" % q.decode(), b"get " + q + b"\r\n",
                    b"VALUE " + q + b" 5 9\r\nbroadcast\r\nEND\r\n")
    declare(c, b"unbind " + fx + b" " + fq[1] + b" ignored", "unbind one fanout queue -> OK")
    publish(c, fx, b"k", b"two", 2, name="fanout after unbind -> ROUTED 2")
    eq("fanout after unbind", {fq[0].decode(): [b"two"], fq[1].decode(): [], fq[2].decode(): [b"two"]},
       drain_map(c, fq))
    # a consumer reading one copy does not affect the others (independent bodies per queue)
    publish(c, fx, b"k", b"shared", 2)
    v = fetch(c, b"gets " + fq[0] + b"/open", "open copy in q0")
    check("open copy in q0", v is not None and v["data"] == b"shared", "shared", v)
    c.roundtrip("ack copy in q0", b"ack " + fq[0] + b" %d\r\n" % v["id"], b"ACKED 1\r\n")
    c.roundtrip("copy in q2 unaffected", b"get " + fq[2] + b"\r\n",
                b"VALUE " + fq[2] + b" 0 6\r\nshared\r\nEND\r\n")

    dx = B("direct")
    d_err, d_all = B("direct_err"), B("direct_all")
    declare(c, b"exchange " + dx + b" direct", "exchange direct -> OK")
    declare(c, b"bind " + dx + b" " + d_err + b" error", "bind err <- error")
    for sev in (b"error", b"warning", b"info"):
        declare(c, b"bind " + dx + b" " + d_all + b" " + sev, "bind all <- %s" % sev.decode())
    publish(c, dx, b"error", b"E", 2)
    publish(c, dx, b"info", b"I", 1)
    publish(c, dx, b"warning", b"W", 1)
    publish(c, dx, b"debug", b"D", 0)
    publish(c, dx, b"Error", b"E2", 0, name="direct keys are case sensitive -> ROUTED 0")
    eq("direct routing", {d_err.decode(): [b"E"], d_all.decode(): [b"E", b"I", b"W"]}, drain_map(c, [d_err, d_all]))

    hx = B("hdr")
    h_all, h_any = B("hdr_all"), B("hdr_any")
    declare(c, b"exchange " + hx + b" headers", "exchange headers -> OK")
    declare(c, b"bind " + hx + b" " + h_all + b" x x-match=all format=pdf type=report", "bind all format=pdf type=report")
    declare(c, b"bind " + hx + b" " + h_any + b" x x-match=any format=pdf type=log", "bind any format=pdf type=log")
    hcases = [
        (b"format=pdf type=report", b"m1", 2), (b"format=pdf type=log", b"m2", 1), (b"format=zip type=log", b"m3", 1),
        (b"format=zip type=report", b"m4", 0), (b"format=pdf", b"m5", 1), (b"", b"m6", 0),
        (b"type=report format=pdf extra=1", b"m7", 2),
    ]
    for hdrs, body, n in hcases:
        publish(c, hx, b"ignored", body, n, extra=hdrs)
    eq("headers routing", {h_all.decode(): [b"m1", b"m7"], h_any.decode(): [b"m1", b"m2", b"m3", b"m5", b"m7"]},
       drain_map(c, [h_all, h_any]))

    # alternate queue for unroutable messages
    ax, aq, alt = B("alt"), B("alt_q"), B("alt_unroutable")
    declare(c, b"exchange " + ax + b" direct alternate=" + alt, "exchange direct alternate=<queue> -> OK")
    declare(c, b"bind " + ax + b" " + aq + b" k", "bind alt_q <- k")
    publish(c, ax, b"k", b"routed", 1)
    publish(c, ax, b"other", b"unroutable", 1, name="unroutable message goes to the alternate queue -> ROUTED 1")
    eq("alternate exchange routing", {aq.decode(): [b"routed"], alt.decode(): [b"unroutable"]},
       drain_map(c, [aq, alt]))
    before = int(stats(c)["broker_unroutable"])
    publish(c, dx, b"nobody", b"dropped", 0, name="unroutable without alternate -> ROUTED 0")
    eq("broker_unroutable counts the dropped message", before + 1, int(stats(c)["broker_unroutable"]))

    # the default exchange routes by queue name, existing queues only
    dq = B("default_ex")
    declare(c, b"queue " + dq, "queue for amq.default")
    publish(c, b"amq.default", dq, b"byname", 1, flags=3)
    c.roundtrip("amq.default delivered by queue name", b"get " + dq + b"\r\n",
                b"VALUE " + dq + b" 3 6\r\nbyname\r\nEND\r\n")
    nq = B("default_ex_missing")
    publish(c, b"amq.default", nq, b"nowhere", 0, name="amq.default to a missing queue -> ROUTED 0")
    s = stats(c)
    check("amq.default did not create the missing queue", "queue_%s_items" % nq.decode() not in s,
          "no queue_%s_* lines" % nq.decode(), [k for k in s if nq.decode() in k])
    c.close()


def t_blocking():
    q = B("block")
    a = Conn()
    p = Conn()
    a.send(b"get " + q + b"/t=4000\r\n")
    a.expect_silence("blocked get /t=4000 on an empty queue: no reply yet", 0.3)
    t0 = time.monotonic()
    store(p, "producer on another connection: set -> STORED", q, b"wakeup", flags=11)
    a.expect("blocked reader woken with the message", b"VALUE " + q + b"/t=4000 11 6\r\nwakeup\r\nEND\r\n", timeout=4.5)
    dt = time.monotonic() - t0
    check("woken %.3f s after the set (timeout was 4 s)" % dt, dt < 1.0, "< 1.0 s", dt)
    # timeout on an empty queue
    t0 = time.monotonic()
    a.send(b"get " + q + b"/t=500\r\n")
    a.expect("get /t=500 on an empty queue -> END", b"END\r\n", timeout=3)
    dt = time.monotonic() - t0
    check("END after %.3f s (timeout 500 ms)" % dt, 0.45 <= dt <= 2.0, "0.45 .. 2.0 s", dt)
    a.usable("after a timed-out blocking read")
    # /t=N on a non-empty queue returns at once
    store(p, "set", q, b"ready")
    t0 = time.monotonic()
    a.roundtrip("get /t=4000 on a non-empty queue answers at once", b"get " + q + b"/t=4000\r\n",
                b"VALUE " + q + b"/t=4000 0 5\r\nready\r\nEND\r\n")
    check("...in %.3f s" % (time.monotonic() - t0), time.monotonic() - t0 < 0.5, "< 0.5 s", time.monotonic() - t0)
    # pymemcache blocking get woken by a producer
    res = {}

    def blocked():
        cl = client()
        t = time.monotonic()
        res["v"] = cl.get(q.decode() + "/t=4000")
        res["t"] = time.monotonic() - t
        cl.close()

    th = threading.Thread(target=blocked, daemon=True)
    th.start()
    wait_for("pymemcache reader parked", lambda: qstat_opt(p, q, "waiters") == 1)
    t0 = time.monotonic()
    store(p, "set for the pymemcache reader", q, b"pyw")
    th.join(5)
    eq("pymemcache get(q/t=4000) returns the message", b"pyw", res.get("v"))
    check("pymemcache blocked get returned %.3f s after the set" % (time.monotonic() - t0),
          time.monotonic() - t0 < 1.0, "< 1.0 s", time.monotonic() - t0)
    # commands pipelined behind a parked read wait for it
    pl = Conn()
    pl.send(b"get " + q + b"/t=3000\r\nget " + q + b"\r\nversion\r\n")
    pl.expect_silence("commands pipelined behind a parked read: no reply yet", 0.3)
    store(p, "set for the pipelined reader", q, b"piped")
    pl.expect("parked read answered first", b"VALUE " + q + b"/t=3000 0 5\r\npiped\r\nEND\r\n")
    pl.expect("then the pipelined get -> END", b"END\r\n")
    pl.line("then the pipelined version", b"", rb"VERSION .*")
    pl.close()
    # a publish through an exchange wakes a parked reader too
    fx = B("block_fan")
    declare(p, b"exchange " + fx + b" fanout", "exchange fanout -> OK")
    declare(p, b"bind " + fx + b" " + q + b" k", "bind -> OK")
    pw = Conn()
    pw.send(b"get " + q + b"/t=3000\r\n")
    wait_for("reader parked", lambda: qstat_opt(p, q, "waiters") == 1)
    publish(p, fx, b"k", b"viaex", 1)
    pw.expect("reader woken by publish", b"VALUE " + q + b"/t=3000 0 5\r\nviaex\r\nEND\r\n", timeout=1.0)
    pw.close()
    declare(p, b"unbind " + fx + b" " + q + b" k", "unbind -> OK")
    # FIFO among two waiters
    w1, w2 = Conn(), Conn()
    w1.send(b"get " + q + b"/t=5000\r\n")
    wait_for("waiter 1 parked", lambda: qstat_opt(p, q, "waiters") == 1)
    w2.send(b"get " + q + b"/t=5000\r\n")
    wait_for("waiter 2 parked", lambda: qstat_opt(p, q, "waiters") == 2)
    ok("two readers parked (waiters == 2)")
    p.roundtrip("two sets in one write", b"set " + q + b" 0 0 5\r\nfirst\r\nset " + q + b" 0 0 6\r\nsecond\r\n",
                b"STORED\r\nSTORED\r\n")
    w1.expect("first waiter gets the first message", b"VALUE " + q + b"/t=5000 0 5\r\nfirst\r\nEND\r\n")
    w2.expect("second waiter gets the second message", b"VALUE " + q + b"/t=5000 0 6\r\nsecond\r\nEND\r\n")
    w1.close()
    w2.close()
    # a waiter that disconnects does not swallow a message
    g = Conn()
    g.send(b"get " + q + b"/t=5000\r\n")
    wait_for("reader parked", lambda: qstat_opt(p, q, "waiters") == 1)
    g.close()
    wait_for("closed reader no longer waiting", lambda: qstat_opt(p, q, "waiters") == 0)
    ok("disconnected waiter is dropped (waiters == 0)")
    store(p, "set after the waiter left", q, b"kept")
    p.roundtrip("message not lost to the disconnected waiter", b"get " + q + b"\r\n",
                b"VALUE " + q + b" 0 4\r\nkept\r\nEND\r\n")
    # blocking reliable read
    r = Conn()
    r.send(b"gets " + q + b"/t=4000/open\r\n")
    wait_for("reliable reader parked", lambda: qstat_opt(p, q, "waiters") == 1)
    store(p, "set for the reliable reader", q, b"rel")
    v = read_value(r, "blocked gets /t=4000/open")
    check("blocked /open reader woken with the message (%r)" % (v and v["line"]),
          v is not None and v["data"] == b"rel" and v["key"] == q + b"/t=4000/open", b"rel", v)
    eq("message is open (open_transactions == 1)", 1, qstat(p, q, "open_transactions"))
    r.roundtrip("/close confirms it -> END", b"get " + q + b"/close\r\n", b"END\r\n")
    eq("open_transactions == 0 after /close", 0, qstat(p, q, "open_transactions"))
    p.roundtrip("queue empty", b"get " + q + b"\r\n", b"END\r\n")
    # delete of a queue with a parked reader: the reader is answered (END) before its timeout
    dq = B("block_del")
    d = Conn()
    d.send(b"get " + dq + b"/t=3000\r\n")
    wait_for("reader parked on a queue about to be deleted", lambda: qstat_opt(p, dq, "waiters") == 1)
    t0 = time.monotonic()
    p.roundtrip("delete the queue -> DELETED", b"delete " + dq + b"\r\n", b"DELETED\r\n")
    d.expect("parked reader of a deleted queue gets END", b"END\r\n", timeout=4)
    check("...within %.3f s (not at its 3 s timeout)" % (time.monotonic() - t0), time.monotonic() - t0 < 1.0,
          "< 1.0 s", time.monotonic() - t0)
    d.usable("after the delete")
    for x in (a, p, r, d):
        x.close()


def t_open_close_abort_peek():
    c = Conn()
    q = B("rel")
    store(c, "set m1", q, b"m1")
    a = Conn()
    v = fetch(a, b"gets " + q + b"/open", "gets q/open")
    check("gets q/open -> VALUE q/open 0 2 <id>, no redelivered token (%r)" % (v and v["line"]),
          v is not None and v["data"] == b"m1" and v["line"] == b"VALUE %s/open 0 2 %d\r\n" % (q, v["id"]),
          b"VALUE q/open 0 2 <id>\\r\\n", v)
    mid = v["id"]
    s = stats(c)
    eq("while open: items 0, open_transactions 1, mem_items 1",
       ("0", "1", "1"), (s["queue_%s_items" % q.decode()], s["queue_%s_open_transactions" % q.decode()],
                         s["queue_%s_mem_items" % q.decode()]))
    c.roundtrip("another connection cannot read the open message", b"get " + q + b"\r\n", b"END\r\n")
    a.close()
    v = wait_for("open read returns to the queue when its connection closes",
                 lambda: fetch(c, b"gets " + q + b"/peek", "peek after close"))
    check("a redelivered message's gets line is memcached's, no extra words (%r)" % (v and v["line"]),
          v is not None and v["line"] == b"VALUE %s/peek 0 2 %d\r\n" % (q, mid), b"VALUE q/peek 0 2 <id>\r\n", v)
    v = fetch(c, b"gets " + q + b"/redelivery", "gets after the reader disconnected")
    check("message back after disconnect with the same id and redelivered=1 (%r)" % (v and v["line"]),
          v is not None and v["data"] == b"m1" and v["id"] == mid and v["redelivered"] == 1
          and v["line"] == b"VALUE %s/redelivery 0 2 %d redelivered=1\r\n" % (q, mid),
          b"VALUE q/redelivery 0 2 <id> redelivered=1", v)
    eq("stats redeliveries == 1", 1, qstat(c, q, "redeliveries"))
    n = int(stats(c)["broker_redeliveries"])
    check("stats broker_redeliveries counts it (%d)" % n, n >= 1, ">= 1", n)
    # /close
    store(c, "set m2", q, b"m2")
    v = fetch(c, b"get " + q + b"/open", "get q/open")
    check("get q/open -> m2 (no id with get)", v is not None and v["data"] == b"m2" and v["id"] is None, "m2", v)
    c.roundtrip("get q/close -> END (confirmed)", b"get " + q + b"/close\r\n", b"END\r\n")
    c.roundtrip("confirmed message is gone", b"get " + q + b"\r\n", b"END\r\n")
    eq("open_transactions == 0", 0, qstat(c, q, "open_transactions"))
    c.roundtrip("get q/close with nothing open -> END", b"get " + q + b"/close\r\n", b"END\r\n")
    # /close/open chains
    for x in (b"c1", b"c2", b"c3"):
        store_quiet(c, q, x)
    c.roundtrip("get q/close/open -> first", b"get " + q + b"/close/open\r\n",
                b"VALUE " + q + b"/close/open 0 2\r\nc1\r\nEND\r\n")
    c.roundtrip("get q/close/open confirms c1 and opens c2", b"get " + q + b"/close/open\r\n",
                b"VALUE " + q + b"/close/open 0 2\r\nc2\r\nEND\r\n")
    c.roundtrip("get q/close/open -> c3", b"get " + q + b"/close/open\r\n",
                b"VALUE " + q + b"/close/open 0 2\r\nc3\r\nEND\r\n")
    c.roundtrip("get q/close/open on the now-empty queue -> END", b"get " + q + b"/close/open\r\n", b"END\r\n")
    eq("all confirmed: open_transactions == 0", 0, qstat(c, q, "open_transactions"))
    eq("items == 0", 0, qstat(c, q, "items"))
    # /abort
    store_quiet(c, q, b"ab1")
    store_quiet(c, q, b"ab2")
    v = fetch(c, b"gets " + q + b"/open", "open ab1")
    check("open ab1", v is not None and v["data"] == b"ab1", "ab1", v)
    c.roundtrip("get q/abort -> END", b"get " + q + b"/abort\r\n", b"END\r\n")
    w = fetch(c, b"gets " + q + b"/redelivery", "gets after abort")
    check("aborted message back at the head, same id, redelivered=1 (%r)" % (w and w["line"]),
          w is not None and w["data"] == b"ab1" and w["id"] == v["id"] and w["redelivered"] == 1, "ab1 redelivered=1", w)
    eq("then ab2", [b"ab2"], drain(c, q))
    c.roundtrip("get q/abort with nothing open -> END", b"get " + q + b"/abort\r\n", b"END\r\n")
    # /peek
    store_quiet(c, q, b"pk1")
    store_quiet(c, q, b"pk2")
    for i in range(2):
        c.roundtrip("get q/peek #%d -> pk1" % (i + 1), b"get " + q + b"/peek\r\n",
                    b"VALUE " + q + b"/peek 0 3\r\npk1\r\nEND\r\n")
    eq("peek removes nothing: items == 2", 2, qstat(c, q, "items"))
    v = fetch(c, b"gets " + q + b"/peek", "gets q/peek")
    check("gets q/peek carries the id", v is not None and v["data"] == b"pk1" and v["id"] is not None, "id", v)
    eq("peeked messages still all there", [b"pk1", b"pk2"], drain(c, q))
    c.roundtrip("peek of an empty queue -> END", b"get " + q + b"/peek\r\n", b"END\r\n")
    t0 = time.monotonic()
    c.roundtrip("peek with /t= does not block", b"get " + q + b"/t=2000/peek\r\n", b"END\r\n", timeout=3)
    check("...answered in %.3f s" % (time.monotonic() - t0), time.monotonic() - t0 < 1.0, "< 1 s", time.monotonic() - t0)
    # prefetch 1
    for x in (b"pf1", b"pf2"):
        store_quiet(c, q, x)
    v = fetch(c, b"get " + q + b"/open", "open pf1")
    check("open pf1", v is not None and v["data"] == b"pf1", "pf1", v)
    c.roundtrip("second /open while one is open -> CLIENT_ERROR too many open reads on this queue",
                b"get " + q + b"/open\r\n", b"CLIENT_ERROR too many open reads on this queue\r\n")
    c.usable("after the prefetch error")
    c.roundtrip("plain get still allowed while a read is open", b"get " + q + b"\r\n",
                b"VALUE " + q + b" 0 3\r\npf2\r\nEND\r\n")
    other = B("rel_other")
    store_quiet(c, other, b"o1")
    c.roundtrip("/open on another queue is allowed (prefetch is per queue)", b"get " + other + b"/open\r\n",
                b"VALUE " + other + b"/open 0 2\r\no1\r\nEND\r\n")
    c.roundtrip("/close on q", b"get " + q + b"/close\r\n", b"END\r\n")
    c.roundtrip("/close on the other queue", b"get " + other + b"/close\r\n", b"END\r\n")
    eq("both confirmed", (0, 0), (qstat(c, q, "open_transactions"), qstat(c, other, "open_transactions")))
    # prefetch is per connection: two connections may each hold an open read of the queue
    for x in (b"pc1", b"pc2"):
        store_quiet(c, q, x)
    a, b2 = Conn(), Conn()
    va = fetch(a, b"gets " + q + b"/open", "A opens")
    vb = fetch(b2, b"gets " + q + b"/open", "B opens")
    eq("two connections each hold one open read", (b"pc1", b"pc2"), (va and va["data"], vb and vb["data"]))
    eq("open_transactions == 2", 2, qstat(c, q, "open_transactions"))
    a.roundtrip("A /close", b"get " + q + b"/close\r\n", b"END\r\n")
    b2.roundtrip("B /abort", b"get " + q + b"/abort\r\n", b"END\r\n")
    v = fetch(c, b"gets " + q + b"/redelivery", "gets after B aborted")
    check("B's message back with redelivered=1, A's confirmed (%r)" % (v and v["line"]),
          v is not None and v["data"] == b"pc2" and v["redelivered"] == 1, "pc2 redelivered=1", v)
    c.roundtrip("queue empty", b"get " + q + b"\r\n", b"END\r\n")
    a.close()
    b2.close()
    c.line("/open together with /abort -> CLIENT_ERROR", b"get " + q + b"/open/abort\r\n", rb"CLIENT_ERROR .*")
    c.usable("after /open/abort")
    c.close()


def t_memory_limit():
    c = Conn()
    q = B("mem")
    limit = int(stats(c)["broker_memory_limit"])
    check("broker_memory_limit is positive (%d)" % limit, limit > 0, "> 0", limit)
    size = 256 * 1024
    body = bytes((i * 31 + 7) & 0xFF for i in range(size))
    stored = 0
    got = None
    for i in range(limit // size + 40):
        c.send(b"set %s 0 0 %d\r\n%s\r\n" % (q, size, body))
        line = c.read_line()
        if line == b"STORED\r\n":
            stored += 1
            continue
        got = line
        break
    eq("past the broker memory share: SERVER_ERROR out of memory (after %d x 256 KiB, limit %d)" % (stored, limit),
       b"SERVER_ERROR out of memory\r\n", got)
    check("stored bytes (%d) within the share (%d)" % (stored * size, limit), stored * size <= limit,
          "<= %d" % limit, stored * size)
    check("the share was mostly usable (%d of %d messages)" % (stored, limit // size),
          stored >= (limit // size) * 3 // 4, ">= 3/4 of %d" % (limit // size), stored)
    s = stats(c)
    used = int(s["broker_memory_used"])
    check("broker_memory_used (%d) <= broker_memory_limit (%d)" % (used, limit), used <= limit, "<= limit", used)
    eq("queue bytes", stored * size, int(s["queue_%s_bytes" % q.decode()]))
    c.usable("after SERVER_ERROR out of memory")
    c.roundtrip("flush the full queue -> END", b"flush " + q + b"\r\n", b"END\r\n")
    used = int(stats(c)["broker_memory_used"])
    check("broker_memory_used back near 0 after flush (%d)" % used, used < size, "< %d" % size, used)
    store(c, "set after flush -> STORED", q, body)
    v = fetch(c, b"get " + q, "get")
    check("256 KiB body intact", v is not None and v["data"] == body, "identical", v and len(v["data"]))
    c.roundtrip("delete the queue", b"delete " + q + b"\r\n", b"DELETED\r\n")
    c.close()


def t_stats():
    c = Conn()
    q = B("st")
    fields = ["items", "bytes", "total_items", "expired_items", "mem_items", "mem_bytes", "age", "discarded",
              "waiters", "open_transactions", "redeliveries", "dead_lettered"]
    for x in (b"aaaaa", b"bbbbb", b"ccccc"):
        store_quiet(c, q, x)
    s = stats(c)
    for f in ("broker_queues", "broker_exchanges", "broker_memory_limit", "broker_memory_used", "broker_unroutable"):
        check("stats has %s" % f, f in s and s[f].isdigit(), "STAT %s <n>" % f, s.get(f))
    for f in fields:
        k = "queue_%s_%s" % (q.decode(), f)
        check("stats has %s" % k, k in s and s[k].isdigit(), "STAT %s <n>" % k, s.get(k))
    qs = q.decode()

    def qs_(s, f):
        return int(s["queue_%s_%s" % (qs, f)])

    eq("3 messages of 5 bytes: items, bytes, total_items, mem_items, mem_bytes",
       (3, 15, 3, 3, 15), tuple(qs_(s, f) for f in ("items", "bytes", "total_items", "mem_items", "mem_bytes")))
    eq("open_transactions, waiters, redeliveries, dead_lettered, discarded, expired_items all 0",
       (0,) * 6, tuple(qs_(s, f) for f in ("open_transactions", "waiters", "redeliveries", "dead_lettered",
                                            "discarded", "expired_items")))
    check("broker_memory_used > 0 with messages queued", int(s["broker_memory_used"]) > 0, "> 0",
          s["broker_memory_used"])
    names = sorted({k[len("queue_"):-len("_items")] for k in s
                    if k.startswith("queue_") and k.endswith("_items") and not k.endswith("_total_items")
                    and not k.endswith("_mem_items") and not k.endswith("_expired_items")})
    eq("broker_queues == number of queues listed", int(s["broker_queues"]), len(names))
    check("every listed queue has all 12 lines",
          all("queue_%s_%s" % (n, f) in s for n in names for f in fields), "complete",
          [n for n in names if not all("queue_%s_%s" % (n, f) in s for f in fields)])
    check("for every queue: items <= mem_items, bytes <= mem_bytes, mem_items - items == open_transactions",
          all(int(s["queue_%s_items" % n]) <= int(s["queue_%s_mem_items" % n])
              and int(s["queue_%s_bytes" % n]) <= int(s["queue_%s_mem_bytes" % n])
              and int(s["queue_%s_mem_items" % n]) - int(s["queue_%s_items" % n])
              == int(s["queue_%s_open_transactions" % n]) for n in names), "consistent",
          [(n, s["queue_%s_items" % n], s["queue_%s_mem_items" % n], s["queue_%s_open_transactions" % n])
           for n in names])
    v = fetch(c, b"gets " + q + b"/open", "open one")
    check("opened aaaaa", v is not None and v["data"] == b"aaaaa", "aaaaa", v)
    s = stats(c)
    eq("one open: items 2, bytes 10, mem_items 3, mem_bytes 15, open_transactions 1",
       (2, 10, 3, 15, 1), tuple(qs_(s, f) for f in ("items", "bytes", "mem_items", "mem_bytes", "open_transactions")))
    c.roundtrip("abort", b"get " + q + b"/abort\r\n", b"END\r\n")
    s = stats(c)
    eq("after abort: items 3, open 0, redeliveries 1, total_items still 3",
       (3, 0, 1, 3), tuple(qs_(s, f) for f in ("items", "open_transactions", "redeliveries", "total_items")))
    time.sleep(0.05)
    drain(c, q)
    s = stats(c)
    eq("drained: items 0, bytes 0, mem_items 0, mem_bytes 0", (0, 0, 0, 0),
       tuple(qs_(s, f) for f in ("items", "bytes", "mem_items", "mem_bytes")))
    check("age is the last message's wait in ms (%d)" % qs_(s, "age"), 0 <= qs_(s, "age") < 60000, "0 .. 60000",
          qs_(s, "age"))
    c.roundtrip("delete the queue", b"delete " + q + b"\r\n", b"DELETED\r\n")
    s2 = stats(c)
    check("a deleted queue has no stats lines", not any(k.startswith("queue_%s_" % qs) for k in s2), "none",
          [k for k in s2 if k.startswith("queue_%s_" % qs)])
    eq("broker_queues dropped by one", int(s["broker_queues"]) - 1, int(s2["broker_queues"]))
    c.close()


def t_memory_returns_to_zero():
    """Once every message is gone (connections closed, open reads returned, flush_all), the
    broker's memory share is all free again: nothing leaked on any path above."""
    c = Conn()

    def flushed_and_free():
        c.roundtrip("flush_all -> OK", b"flush_all\r\n", b"OK\r\n")
        s = stats(c)
        return s["broker_memory_used"] == "0" and all(
            v == "0" for k, v in s.items() if k.startswith("queue_") and k.endswith("_mem_items"))

    wait_for("after flush_all: broker_memory_used 0 and every queue_*_mem_items 0", flushed_and_free, timeout=3)
    ok("after flush_all: broker_memory_used 0 and every queue_*_mem_items 0")
    c.close()


# ---- with --prefetch N (N >= 3) and --visibility-timeout MS: a server started with those flags

PREFETCH = 1
VISIBILITY_MS = 0


def t_prefetch_visibility():
    c = Conn()
    q = B("pf")
    for i in range(1, 6):
        store_quiet(c, q, b"m%d" % i)
    ids = []
    for i in range(1, PREFETCH + 1):
        v = fetch(c, b"gets " + q + b"/open", "open #%d" % i)
        check("prefetch %d: open read #%d -> m%d" % (PREFETCH, i, i), v is not None and v["data"] == b"m%d" % i,
              "m%d" % i, v)
        ids.append(v["id"])
    c.roundtrip("open read #%d past --prefetch=%d -> CLIENT_ERROR too many open reads on this queue"
                % (PREFETCH + 1, PREFETCH), b"get " + q + b"/open\r\n",
                b"CLIENT_ERROR too many open reads on this queue\r\n")
    eq("open_transactions == %d" % PREFETCH, PREFETCH, qstat(c, q, "open_transactions"))
    c.roundtrip("ack of several ids -> ACKED 2", b"ack " + q + b" %d %d\r\n" % (ids[0], ids[1]), b"ACKED 2\r\n")
    c.roundtrip("/close confirms the rest -> END", b"get " + q + b"/close\r\n", b"END\r\n")
    eq("open_transactions == 0", 0, qstat(c, q, "open_transactions"))
    eq("the unread messages remain", [b"m%d" % i for i in range(PREFETCH + 1, 6)], drain(c, q))
    # visibility timeout: an open read returns to the queue, marked redelivered
    store_quiet(c, q, b"vis")
    a = Conn()
    v = fetch(a, b"gets " + q + b"/open", "open vis")
    check("opened vis", v is not None and v["data"] == b"vis", "vis", v)
    vid = v["id"]
    t0 = time.monotonic()
    time.sleep(VISIBILITY_MS / 2000.0)
    eq("still open at half the visibility timeout", (1, 0),
       (qstat(c, q, "open_transactions"), qstat(c, q, "items")))
    wait_for("open read back in the queue after --visibility-timeout=%d" % VISIBILITY_MS,
             lambda: qstat(c, q, "items") == 1, timeout=VISIBILITY_MS / 1000.0 + 2)
    dt = time.monotonic() - t0
    check("returned after %.3f s (timeout %d ms)" % (dt, VISIBILITY_MS),
          VISIBILITY_MS / 1000.0 * 0.9 <= dt <= VISIBILITY_MS / 1000.0 + 1.5, "about the timeout", dt)
    a.roundtrip("the old reader's ack of the returned read -> ACKED 0", b"ack " + q + b" %d\r\n" % vid,
                b"ACKED 0\r\n")
    a.roundtrip("the old reader's /close does not confirm it -> END", b"get " + q + b"/close\r\n", b"END\r\n")
    v = fetch(c, b"gets " + q + b"/redelivery", "gets after the visibility timeout")
    check("timed-out read delivered again, same id, redelivered=1 (%r)" % (v and v["line"]),
          v is not None and v["data"] == b"vis" and v["id"] == vid and v["redelivered"] == 1,
          "vis redelivered=1", v)
    # a reader whose reads all timed out may open again up to the prefetch
    for i in range(PREFETCH + 1):
        store_quiet(c, q, b"t%d" % i)
    for i in range(PREFETCH):
        v = fetch(a, b"get " + q + b"/open", "open t%d" % i)
        check("open t%d" % i, v is not None and v["data"] == b"t%d" % i, "t%d" % i, v)
    wait_for("all %d open reads returned after the visibility timeout" % PREFETCH,
             lambda: qstat(c, q, "open_transactions") == 0, timeout=VISIBILITY_MS / 1000.0 + 2)
    v = fetch(a, b"get " + q + b"/open", "open after timeouts")
    check("after its reads timed out the reader may open again (no prefetch error)", v is not None,
          "a message", v)
    a.roundtrip("/close", b"get " + q + b"/close\r\n", b"END\r\n")
    a.close()
    drain(c, q)
    # the visibility timeout counts as a failed delivery for delivery_limit
    dq = B("pf_dlim")
    dead = B("pf_dlim_dead")
    declare(c, b"queue " + dq + b" delivery_limit=1 dead_letter=" + dead, "queue delivery_limit=1 dead_letter=...")
    store_quiet(c, dq, b"slow")
    v = fetch(c, b"gets " + dq + b"/open", "open slow")
    check("opened slow", v is not None and v["data"] == b"slow", "slow", v)
    v = wait_for("timed-out read past delivery_limit=1 dead-lettered",
                 lambda: fetch(c, b"gets " + dead + b"/redelivery", "gets DLQ"), timeout=VISIBILITY_MS / 1000.0 + 2)
    check("dead-lettered after the visibility timeout: deaths=1 reason=delivery_limit (%r)" % v["line"],
          v["data"] == b"slow" and v["deaths"] == 1 and v["reason"] == b"delivery_limit", "delivery_limit", v)
    c.roundtrip("get q/close after the read timed out -> END", b"get " + dq + b"/close\r\n", b"END\r\n")
    c.close()


def t_prefetch_order():
    """Several open reads put back at once return in their original order (RabbitMQ puts
    requeued messages back in their original positions)."""
    c = Conn()
    n = PREFETCH
    for how in ("abort", "nack", "disconnect", "visibility"):
        q = B("order_" + how)
        for i in range(1, n + 2):
            store_quiet(c, q, b"m%d" % i)
        r = Conn()
        ids = []
        for i in range(1, n + 1):
            v = fetch(r, b"gets " + q + b"/open", "open m%d" % i)
            check("%s: open m%d" % (how, i), v is not None and v["data"] == b"m%d" % i, "m%d" % i, v)
            ids.append(v["id"])
        if how == "abort":
            r.roundtrip("abort %d open reads -> END" % n, b"get " + q + b"/abort\r\n", b"END\r\n")
        elif how == "nack":
            r.roundtrip("nack %d ids -> NACKED %d" % (n, n),
                        b"nack " + q + b" " + b" ".join(b"%d" % i for i in ids) + b"\r\n", b"NACKED %d\r\n" % n)
        elif how == "disconnect":
            r.close()
        wait_for("%s: all %d reads back in the queue" % (how, n),
                 lambda: qstat(c, q, "items") == n + 1, timeout=VISIBILITY_MS / 1000.0 + 2)
        got = []
        for _ in range(n + 1):
            v = fetch(c, b"gets " + q + b"/redelivery", "gets")
            got.append((v["data"], v["redelivered"]) if v else None)
        eq("%s: the %d returned reads come back in their original order, before m%d" % (how, n, n + 1),
           [(b"m%d" % i, 1) for i in range(1, n + 1)] + [(b"m%d" % (n + 1), 0)], got)
        r.close()
    c.close()


def t_multiget_all_or_nothing():
    """A multi-key get that cannot run as a whole takes nothing (no message is lost)."""
    c = Conn()
    a, b = B("mga"), B("mgb")
    c.roundtrip("set a", b"set " + a + b" 0 0 1\r\n1\r\n", b"STORED\r\n")
    c.roundtrip("get a bad!name -> CLIENT_ERROR, nothing taken", b"get " + a + b" bad!name\r\n",
                b"CLIENT_ERROR bad command line format\r\n")
    c.roundtrip("get a b/t=5 (blocking multi-get) -> CLIENT_ERROR, nothing taken", b"get " + a + b" " + b + b"/t=5\r\n",
                b"CLIENT_ERROR a blocking read names one queue\r\n")
    c.roundtrip("get a/open b/open a/open past prefetch 1 -> CLIENT_ERROR, nothing taken",
                b"get " + a + b"/open " + b + b"/open " + a + b"/open\r\n",
                b"CLIENT_ERROR too many open reads on this queue\r\n")
    c.roundtrip("17 keys -> CLIENT_ERROR", b"get" + b"".join(b" " + a for _ in range(17)) + b"\r\n",
                b"CLIENT_ERROR a queue read names at most 16 queues\r\n")
    c.roundtrip("the message of a is still there", b"get " + a + b" " + b + b"\r\n",
                b"VALUE " + a + b" 0 1\r\n1\r\nEND\r\n")
    c.close()


def t_redelivered_gets_pymemcache():
    """A message opened, its reader gone (requeued, redelivered=1): `gets` through pymemcache, which
    parses the VALUE line strictly, still parses it and gets the message; /redelivery asks for the
    count on the line."""
    q = B("redeliv_py")
    p = Conn()
    store(p, "set the message", q, b"again", flags=3)
    a = Conn()
    v = fetch(a, b"gets " + q + b"/open", "gets q/open")
    check("opened (%r)" % (v and v["line"]), v is not None and v["data"] == b"again", b"again", v)
    mid = v["id"]
    a.close()
    wait_for("the open read goes back when its reader closes",
             lambda: qstat(p, q, "open_transactions") == 0 and qstat(p, q, "items") == 1)
    c = client(FlagSerde())
    got, cas = c.gets(q.decode())
    eq("pymemcache gets of the redelivered message parses it: (value, flags), id as CAS",
       ((b"again", 3), str(mid).encode()), (got, cas))
    eq("the message is gone from the queue (delivered once)", 0, qstat(p, q, "items"))
    c.close()
    # The same through /redelivery, for a client that wants the count.
    store(p, "set another", q, b"twice")
    a2 = Conn()
    fetch(a2, b"gets " + q + b"/open", "gets q/open again")
    a2.close()
    wait_for("back in the queue", lambda: qstat(p, q, "items") == 1)
    v = fetch(p, b"gets " + q + b"/redelivery", "gets q/redelivery")
    check("gets q/redelivery -> VALUE q/redelivery 0 5 <id> redelivered=1 (%r)" % (v and v["line"]),
          v is not None and v["line"] == b"VALUE %s/redelivery 0 5 %d redelivered=1\r\n" % (q, v["id"])
          and v["data"] == b"twice", b"VALUE q/redelivery 0 5 <id> redelivered=1", v)
    p.close()


def requeue_one(p, q, body):
    """Stores `body` in q, opens it on a connection that then closes (the read goes back,
    redelivered=1) and returns the message id."""
    store(p, "set " + body.decode(), q, body)
    a = Conn()
    v = fetch(a, b"gets " + q + b"/open", "gets q/open")
    check("opened (%r)" % (v and v["line"]), v is not None and v["data"] == body, body, v)
    a.close()
    wait_for("the open read goes back when its reader closes",
             lambda: qstat(p, q, "open_transactions") == 0 and qstat(p, q, "items") == 1)
    eq("...marked redelivered once (queue_<q>_redeliveries)", 1, qstat(p, q, "redeliveries"))
    return v["id"]


# Cache::Memcached::Fast's gets of one key, printed as "<cas> <value>" (or "miss"/"error: ...").
PERL_FAST_GETS = r"""
use strict; use warnings;
use Cache::Memcached::Fast;
my ($port, $key) = @ARGV;
my $c = Cache::Memcached::Fast->new({ servers => ["127.0.0.1:$port"], connect_timeout => 5,
                                      io_timeout => 5, close_on_error => 1 });
my $r = $c->gets($key);
print defined $r ? "$r->[0] $r->[1]\n" : "miss\n";
"""


def t_redelivered_gets_other_clients():
    """The same through python-memcached and Cache::Memcached::Fast, which split the VALUE line
    into exactly four (gets: five) words: a redelivered message parses, its id is the CAS and it is
    delivered once (not lost in a parse error)."""
    import subprocess
    try:
        import memcache
    except ImportError as e:
        fail("python-memcached is importable (Tools/deps.sh test installs it)", "import memcache", e)
    q = B("redeliv_pm")
    p = Conn()
    mid = requeue_one(p, q, b"pm-again")
    mc = memcache.Client(["%s:%d" % rawconn.ADDRESS], cache_cas=True, socket_timeout=5)
    got = mc.gets(q.decode())
    eq("python-memcached gets of the redelivered message parses it, its id as the CAS",
       (b"pm-again", mid), (got, mc.cas_ids.get(q)))
    eq("...and it is gone from the queue (delivered once)", 0, qstat(p, q, "items"))
    mc.disconnect_all()
    q = B("redeliv_fast")
    mid = requeue_one(p, q, b"fast-again")
    r = subprocess.run(["perl", "-e", PERL_FAST_GETS, str(rawconn.ADDRESS[1]), q.decode()],
                       capture_output=True, timeout=30)
    if r.returncode != 0 or b"Can't locate" in r.stderr:
        fail("Cache::Memcached::Fast runs (Tools/deps.sh test installs libcache-memcached-fast-perl)",
             "exit 0", r.stderr.decode(errors="replace"))
    eq("Cache::Memcached::Fast gets of the redelivered message parses it, its id as the CAS",
       b"%d fast-again\n" % mid, r.stdout)
    eq("...and it is gone from the queue (delivered once)", 0, qstat(p, q, "items"))
    p.close()


def t_long_poll_client_leaves():
    """A client times out its long poll on its own side (closes the socket 200 ms into a
    `get q/t=2000`) and a producer sets a message right after: another consumer gets it. The set
    follows the close at once, so the server may see the message before it sees the hang-up;
    repeated to hit both orders."""
    q = B("longpoll_leave")
    p = Conn()
    rounds = 20
    for i in range(rounds):
        body = b"late%02d" % i
        g = Conn()
        g.send(b"get " + q + b"/t=2000\r\n")
        time.sleep(0.2)
        g.close()
        store(p, "round %d: set after the poller left" % i, q, body)
        c = Conn()
        v = fetch(c, b"get " + q + b"/t=1000", "round %d: another consumer" % i)
        c.close()
        check("round %d: the message that arrived after the poller left is delivered (%r)" % (i, v and v["data"]),
              v is not None and v["data"] == body, body, v)
    eq("queue empty, no waiters, no open reads", (0, 0, 0),
       (qstat(p, q, "items"), qstat(p, q, "waiters"), qstat(p, q, "open_transactions")))
    p.close()


TESTS = [t_connect, t_pymemcache_basics, t_raw_replies, t_declarations, t_max_items_overflow, t_priorities,
         t_ttl, t_ttl_dead_letter, t_delivery_limit, t_ack_nack, t_anycast, t_timeout_race, t_topic, t_fanout_direct_headers,
         t_blocking, t_open_close_abort_peek, t_multiget_all_or_nothing, t_stats, t_memory_limit,
         t_memory_returns_to_zero, t_redelivered_gets_pymemcache, t_redelivered_gets_other_clients,
         t_long_poll_client_leaves]


PREFETCH_TESTS = [t_connect, t_prefetch_visibility, t_prefetch_order]


def main():
    global PREFETCH, VISIBILITY_MS
    # The port may be given bare (broker_pymemcache.py 22133) or as --port 22133.
    if len(sys.argv) >= 2 and sys.argv[1].isdigit():
        sys.argv[1:2] = ["--port", sys.argv[1]]
    # --prefetch N --visibility-timeout MS: the server was started with these; run the checks
    # of those two settings instead of the default set.
    args = sys.argv[1:]
    for flag in ("--prefetch", "--visibility-timeout"):
        if flag in args:
            i = args.index(flag)
            value = int(args[i + 1])
            del args[i:i + 2]
            if flag == "--prefetch":
                PREFETCH = value
            else:
                VISIBILITY_MS = value
    sys.argv[1:] = args
    tests = TESTS
    if PREFETCH != 1 or VISIBILITY_MS != 0:
        if PREFETCH < 2 or VISIBILITY_MS <= 0:
            print("usage: --prefetch N (N >= 2) and --visibility-timeout MS (MS > 0) go together")
            return 2
        tests = PREFETCH_TESTS
    try:
        return rawconn.run(tests, "ALL %(checks)d BROKER CHECKS PASSED (%(seconds).1f s)")
    except SystemExit:
        raise
    except Exception as e:  # any unexpected exception is a failure with context
        import traceback
        traceback.print_exc()
        print("FAIL: unexpected exception %s: %s" % (type(e).__name__, e))
        return 1


if __name__ == "__main__":
    sys.exit(main())
