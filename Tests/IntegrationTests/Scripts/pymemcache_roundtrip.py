#!/usr/bin/env python3
"""Round trips through pymemcache (pymemcache.client.base.Client).

Validated against memcached 1.6.18 (-U 0 -t 4 -m 64, default -I 1m).
Prints one line per check; exits non-zero with a clear message on the first
failure.

Usage: pymemcache_roundtrip.py --port P
"""

import argparse
import sys
import time

try:
    from pymemcache.client.base import Client
    from pymemcache.exceptions import MemcacheClientError, MemcacheServerError
except ImportError as e:  # pragma: no cover
    print("FAIL: pymemcache is not importable for %s: %s" % (sys.executable, e))
    sys.exit(3)

CHECKS = 0


def check(name, cond, expected=None, got=None):
    global CHECKS
    if not cond:
        print("FAIL %s" % name)
        if expected is not None or got is not None:
            print("  expected: %r" % (expected,))
            print("  got:      %r" % (got if not isinstance(got, bytes) or len(got) < 200
                                      else got[:200] + b"...(%d bytes)" % len(got),))
        sys.stdout.flush()
        sys.exit(1)
    CHECKS += 1
    print("ok   %s" % name)
    sys.stdout.flush()


def eq(name, expected, got):
    check(name, expected == got, expected, got)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    a = ap.parse_args()

    run = "%x" % (int(time.time() * 1000) & 0xFFFFFFF)

    def K(name):
        return "py_%s_%s" % (run, name)

    # default_noreply=False so every storage command waits for and checks
    # the server's reply; noreply is exercised explicitly below.
    c = Client(("127.0.0.1", a.port), connect_timeout=5, timeout=10,
               default_noreply=False, no_delay=True)
    t0 = time.monotonic()

    # set / get
    eq("set returns True (STORED)", True, c.set(K("a"), b"hello", noreply=False))
    eq("get returns the value", b"hello", c.get(K("a")))
    eq("get of a missing key returns None", None, c.get(K("missing")))
    eq("set with flags", True, c.set(K("f"), b"v", flags=1234, noreply=False))
    eq("get of a value stored with flags", b"v", c.get(K("f")))
    eq("overwrite with set", True, c.set(K("a"), b"world", noreply=False))
    eq("get returns the new value", b"world", c.get(K("a")))
    eq("binary-safe value round trip", True, c.set(K("bin"), bytes(range(256)) * 4, noreply=False))
    eq("binary value reads back", bytes(range(256)) * 4, c.get(K("bin")))
    eq("empty value", True, c.set(K("empty"), b"", noreply=False))
    eq("empty value reads back as b''", b"", c.get(K("empty")))

    # gets + cas
    v, cas = c.gets(K("a"))
    eq("gets returns value", b"world", v)
    check("gets returns a numeric cas (%r)" % (cas,), cas is not None and int(cas) >= 0, "digits", cas)
    eq("cas with current unique -> True (STORED)", True, c.cas(K("a"), b"casd", cas, noreply=False))
    eq("get after cas", b"casd", c.get(K("a")))
    eq("cas with stale unique -> False (EXISTS)", False, c.cas(K("a"), b"nope", cas, noreply=False))
    eq("value unchanged after EXISTS", b"casd", c.get(K("a")))
    eq("cas on a missing key -> None (NOT_FOUND)", None, c.cas(K("nocas"), b"x", 1, noreply=False))
    eq("missing key still missing after cas", None, c.get(K("nocas")))
    v2, cas2 = c.gets(K("a"))
    check("cas unique changed after successful cas", int(cas2) != int(cas), "!= %s" % cas, cas2)

    # get_many of 100 keys
    items = {K("m%03d" % i): (b"val_%d_" % i) * (i + 1) for i in range(100)}
    failed = c.set_many(items, noreply=False)
    eq("set_many of 100 keys: no failures", [], failed)
    got = c.get_many(list(items.keys()) + [K("m_missing")])
    eq("get_many of 100 keys returns exactly the 100 present keys", sorted(items.keys()), sorted(got.keys()))
    bad = [k for k in items if got.get(k) != items[k]]
    eq("get_many values all match", [], bad)

    # ~1 MB value (fits under memcached's 1 MiB item limit incl. overhead)
    big = bytes((i * 7 + 3) & 0xFF for i in range(1024 * 1024 - 512))
    eq("set of a 1 MiB - 512 bytes value", True, c.set(K("big"), big, noreply=False))
    back = c.get(K("big"))
    check("1 MiB - 512 bytes value reads back identical", back == big, "%d bytes" % len(big),
          "%d bytes, equal=%s" % (len(back) if back else -1, back == big))
    eq("set a small value under a key", True, c.set(K("toolarge"), b"old", noreply=False))
    too_big = b"x" * (1024 * 1024 + 1)
    try:
        r = c.set(K("toolarge"), too_big, noreply=False)
        check("value of 1 MiB + 1 bytes is refused", False, "MemcacheServerError", r)
    except MemcacheServerError as e:
        check("value of 1 MiB + 1 bytes refused: MemcacheServerError %r" % str(e),
              "object too large for cache" in str(e), "object too large for cache", str(e))
    # Note: pymemcache closes its socket after any error reply and reconnects
    # on the next call; same-connection recovery is checked byte-exactly in
    # protocol_edges.py.
    eq("connection usable after refusal: get still works", b"casd", c.get(K("a")))
    eq("old value under the too-large key is gone", None, c.get(K("toolarge")))
    eq("connection usable after refusal: set works", True, c.set(K("after"), b"fine", noreply=False))
    eq("... and get works", b"fine", c.get(K("after")))

    # append / prepend
    eq("set base for append/prepend", True, c.set(K("ap"), b"mid", noreply=False))
    eq("append -> True", True, c.append(K("ap"), b".end", noreply=False))
    eq("prepend -> True", True, c.prepend(K("ap"), b"start.", noreply=False))
    eq("append/prepend result", b"start.mid.end", c.get(K("ap")))
    eq("append to missing key -> False (NOT_STORED)", False, c.append(K("apmissing"), b"x", noreply=False))
    eq("prepend to missing key -> False (NOT_STORED)", False, c.prepend(K("apmissing"), b"x", noreply=False))
    eq("missing key not created by append/prepend", None, c.get(K("apmissing")))
    eq("add to existing -> False (NOT_STORED)", False, c.add(K("ap"), b"x", noreply=False))
    eq("add to missing -> True", True, c.add(K("added"), b"x", noreply=False))
    eq("replace missing -> False", False, c.replace(K("nrep"), b"x", noreply=False))
    eq("replace existing -> True", True, c.replace(K("added"), b"y", noreply=False))
    eq("replace result", b"y", c.get(K("added")))

    # incr / decr
    eq("set counter 10", True, c.set(K("n"), b"10", noreply=False))
    eq("incr 5 -> 15", 15, c.incr(K("n"), 5))
    eq("decr 3 -> 12", 12, c.decr(K("n"), 3))
    eq("decr 100 floors at 0", 0, c.decr(K("n"), 100))
    eq("get after decr floor", b"0 ", c.get(K("n")))
    eq("incr of missing key -> None", None, c.incr(K("nmissing"), 1))
    eq("decr of missing key -> None", None, c.decr(K("nmissing"), 1))
    # memcached 1.6.18 can spuriously call values >= 2^63 non-numeric when a
    # stale '-' byte follows the item in memory (strchr over unterminated
    # data); values in this script avoid '-' so memcached passes reliably.
    eq("set counter 2**64-1", True, c.set(K("w"), b"18446744073709551615", noreply=False))
    eq("incr 1 wraps to 0", 0, c.incr(K("w"), 1))
    eq("incr after wrap", 5, c.incr(K("w"), 5))
    eq("set decr-shrink counter 10", True, c.set(K("s"), b"10", noreply=False))
    eq("decr 1 -> 9", 9, c.decr(K("s"), 1))
    eq("value after shrinking decr is space padded ('9 ')", b"9 ", c.get(K("s")))
    eq("incr on padded value works", 10, c.incr(K("s"), 1))
    eq("set non-numeric", True, c.set(K("nn"), b"abc", noreply=False))
    try:
        r = c.incr(K("nn"), 1)
        check("incr on non-numeric raises MemcacheClientError", False, "MemcacheClientError", r)
    except MemcacheClientError as e:
        check("incr on non-numeric raises MemcacheClientError %r" % str(e),
              "non-numeric" in str(e), "cannot increment or decrement non-numeric value", str(e))
    try:
        r = c.decr(K("nn"), 1)
        check("decr on non-numeric raises MemcacheClientError", False, "MemcacheClientError", r)
    except MemcacheClientError as e:
        check("decr on non-numeric raises MemcacheClientError %r" % str(e),
              "non-numeric" in str(e), "cannot increment or decrement non-numeric value", str(e))
    eq("connection usable after CLIENT_ERROR", b"abc", c.get(K("nn")))

    # touch
    eq("set with exptime 100", True, c.set(K("t"), b"touchme", expire=100, noreply=False))
    eq("touch existing -> True (TOUCHED)", True, c.touch(K("t"), 200, noreply=False))
    eq("touch missing -> False (NOT_FOUND)", False, c.touch(K("tmissing"), 200, noreply=False))
    eq("touch -1 -> True", True, c.touch(K("t"), -1, noreply=False))
    eq("item touched with exptime -1 is gone", None, c.get(K("t")))
    eq("set with exptime 100 again", True, c.set(K("t2"), b"x", expire=100, noreply=False))
    eq("touch to 0 (never expire) -> True", True, c.touch(K("t2"), 0, noreply=False))
    eq("touched item still readable", b"x", c.get(K("t2")))

    # noreply set / delete, verified with normal gets
    eq("noreply set returns True", True, c.set(K("nr"), b"quiet", noreply=True))
    eq("noreply set took effect", b"quiet", c.get(K("nr")))
    eq("noreply delete returns True", True, c.delete(K("nr"), noreply=True))
    eq("noreply delete took effect", None, c.get(K("nr")))
    eq("noreply delete of missing key", True, c.delete(K("nr"), noreply=True))
    eq("connection in sync after noreply NOT_FOUND", b"quiet2",
       (c.set(K("nr"), b"quiet2", noreply=False), c.get(K("nr")))[1])
    eq("set_many noreply", [], c.set_many({K("nr%d" % i): b"%d" % i for i in range(20)}, noreply=True))
    got = c.get_many([K("nr%d" % i) for i in range(20)])
    eq("set_many noreply took effect", {K("nr%d" % i): b"%d" % i for i in range(20)}, got)

    # delete with reply
    eq("delete existing -> True", True, c.delete(K("after"), noreply=False))
    eq("delete missing -> False", False, c.delete(K("after"), noreply=False))

    # version / stats
    ver = c.version()
    check("version() returns something (%r)" % ver, bool(ver), "non-empty", ver)
    st = c.stats()
    check("stats() contains curr_items and evictions", b"curr_items" in st and b"evictions" in st,
          "curr_items, evictions", sorted(st.keys())[:10])

    # flush_all
    eq("flush_all -> True", True, c.flush_all(noreply=False))
    eq("get after flush_all misses", None, c.get(K("a")))
    eq("get_many after flush_all misses", {}, c.get_many(list(items.keys())[:10]))
    eq("set after flush_all works", True, c.set(K("a"), b"again", noreply=False))
    eq("get after flush_all+set", b"again", c.get(K("a")))

    c.close()
    print("ALL %d PYMEMCACHE CHECKS PASSED (%.1f s)" % (CHECKS, time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit:
        raise
    except Exception as e:  # any unexpected exception is a failure with context
        import traceback
        traceback.print_exc()
        print("FAIL: unexpected exception %s: %s" % (type(e).__name__, e))
        sys.exit(1)
