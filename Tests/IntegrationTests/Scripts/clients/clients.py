#!/usr/bin/env python3
"""Client matrix, Python clients: the same sequence of operations through pymemcache,
python-memcached or pylibmc (text or binary protocol), printing a normalized transcript
(one `step result` line each). ClientMatrixTests runs it against memcached and swiftcached and
compares the two transcripts; the other languages' scripts in this directory print the same steps.

Usage: clients.py --client pymemcache|python-memcached|pylibmc|pylibmc-binary --port P
The last line is CLIENT MATRIX DONE; a client that cannot be imported exits 2 (the test fails)."""
import argparse
import hashlib
import sys
import time

# memcached's largest value for a 3-byte key with flags 0 under -I 1m: 1 MB less the 48-byte
# header, the key and its NUL, 8 CAS bytes and the value's \r\n.
AT_LIMIT = 1048576 - 48 - 4 - 8 - 2


def pattern(n):
    """n bytes that are not UTF-8 (every byte value, repeating) and do not compress much."""
    return bytes((i * 7 + (i >> 8)) & 0xFF for i in range(n))


def show(v):
    if v is None:
        return "miss"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return v
    if isinstance(v, (bytes, bytearray)):
        if len(v) <= 32 and all(32 <= b < 127 for b in v):
            return "'%s'" % v.decode()
        return "bytes:%d:%s" % (len(v), hashlib.md5(v).hexdigest())
    return repr(v)


def stat_text(stats, name):
    """One stats line's value, whether the client keys and values them as str or bytes."""
    v = stats.get(name, stats.get(name.encode(), "missing"))
    return v.decode() if isinstance(v, bytes) else v


class Adapter:
    """One method per operation; each returns what the client returned (errors are printed by
    the caller as the exception's class, the server's words are in the transcript only through
    what the client makes of them)."""

    has_gat = False
    has_noreply = True


class PyMemcache(Adapter):
    def __init__(self, port):
        from pymemcache.client.base import Client
        self.c = Client(("127.0.0.1", port), default_noreply=False, connect_timeout=5, timeout=5)

    def set(self, k, v, ttl=0, noreply=False): return self.c.set(k, v, expire=ttl, noreply=noreply)
    def get(self, k): return self.c.get(k)
    def set_multi(self, d): return self.c.set_many(d) == []
    def get_multi(self, ks): return self.c.get_many(ks)
    def add(self, k, v): return self.c.add(k, v)
    def replace(self, k, v): return self.c.replace(k, v)
    def append(self, k, v): return self.c.append(k, v)
    def prepend(self, k, v): return self.c.prepend(k, v)
    def gets(self, k): return self.c.gets(k)  # (value, token)
    def cas(self, k, v, token): return self.c.cas(k, v, token)
    def incr(self, k, n): return self.c.incr(k, n)
    def decr(self, k, n): return self.c.decr(k, n)
    def touch(self, k, ttl): return self.c.touch(k, ttl)
    def delete(self, k): return self.c.delete(k, noreply=False)
    def flush(self): return self.c.flush_all(noreply=False)
    def version(self): return self.c.version()


class PythonMemcached(Adapter):
    def __init__(self, port):
        import memcache
        self.c = memcache.Client(["127.0.0.1:%d" % port], cache_cas=True, socket_timeout=5, dead_retry=0)

    def set(self, k, v, ttl=0, noreply=False): return self.c.set(k, v, time=ttl, noreply=noreply)
    def get(self, k): return self.c.get(k)
    def set_multi(self, d): return self.c.set_multi(d) == []
    def get_multi(self, ks): return self.c.get_multi(ks)
    def add(self, k, v): return self.c.add(k, v)
    def replace(self, k, v): return self.c.replace(k, v)
    def append(self, k, v): return self.c.append(k, v)
    def prepend(self, k, v): return self.c.prepend(k, v)

    def gets(self, k):
        v = self.c.gets(k)
        return (v, self.c.cas_ids.get(k))

    def cas(self, k, v, token):
        # python-memcached keeps the token of its last gets itself.
        self.c.cas_ids[k] = token
        return self.c.cas(k, v)

    def incr(self, k, n): return self.c.incr(k, n)
    def decr(self, k, n): return self.c.decr(k, n)
    def touch(self, k, ttl): return self.c.touch(k, ttl)
    def delete(self, k): return self.c.delete(k)
    def flush(self): return self.c.flush_all()
    def version(self): return ",".join(stat_text(s[1], "version") for s in self.c.get_stats())


class PyLibmc(Adapter):
    def __init__(self, port, binary=False):
        import pylibmc
        self.c = pylibmc.Client(["127.0.0.1:%d" % port], binary=binary,
                                behaviors={"cas": True, "connect_timeout": 5000, "send_timeout": 5000000,
                                           "receive_timeout": 5000000})
        self.binary = binary
        self.address = "127.0.0.1:%d" % port

    def set(self, k, v, ttl=0, noreply=False):
        if not noreply:
            return self.c.set(k, v, time=ttl)
        # libmemcached's noreply behaviour: set ... noreply (text), SETQ (binary); the get that
        # checks it goes on the same connection, after it.
        self.c.behaviors = {"_noreply": True}
        try:
            return self.c.set(k, v, time=ttl)
        finally:
            self.c.behaviors = {"_noreply": False}

    def get(self, k): return self.c.get(k)
    def set_multi(self, d): return self.c.set_multi(d) == []
    def get_multi(self, ks): return self.c.get_multi(ks)
    def add(self, k, v): return self.c.add(k, v)
    def replace(self, k, v): return self.c.replace(k, v)
    def append(self, k, v): return self.c.append(k, v)
    def prepend(self, k, v): return self.c.prepend(k, v)
    def gets(self, k): return self.c.gets(k)
    def cas(self, k, v, token): return self.c.cas(k, v, token)
    def incr(self, k, n): return self.c.incr(k, n)
    def decr(self, k, n): return self.c.decr(k, n)
    def touch(self, k, ttl): return self.c.touch(k, ttl)
    def delete(self, k): return self.c.delete(k)
    def flush(self): return self.c.flush_all()
    def version(self): return ",".join(stat_text(s[1], "version") for s in self.c.get_stats())


def make(client, port):
    if client == "pymemcache":
        return PyMemcache(port)
    if client == "python-memcached":
        return PythonMemcached(port)
    if client in ("pylibmc", "pylibmc-binary"):
        return PyLibmc(port, binary=client == "pylibmc-binary")
    raise SystemExit("unknown client %s" % client)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--client", required=True)
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    try:
        c = make(args.client, args.port)
    except ImportError as e:
        print("CLIENT NOT INSTALLED: %s (%s)" % (args.client, e))
        sys.exit(2)

    def step(name, f, *a):
        try:
            r = f(*a)
            out = show(r)
        except Exception as e:  # the client's refusal is part of the transcript
            out = "error:" + type(e).__name__
        print("%s %s" % (name, out), flush=True)

    step("flush", c.flush)
    step("set", c.set, "k1", b"hello")
    step("get", c.get, "k1")
    step("get_missing", c.get, "nokey")
    keys = ["m%03d" % i for i in range(100)]
    step("set_multi_100", c.set_multi, {k: ("v-" + k).encode() for k in keys})

    def multi():
        got = c.get_multi(keys + ["nokey"])
        good = sum(1 for k in keys if got.get(k) == ("v-" + k).encode())
        return "%d/%d" % (len(got), good)
    step("get_multi_100", multi)

    step("set_1mb", c.set, "big", pattern(1000000))
    step("get_1mb", c.get, "big")
    step("set_at_limit", c.set, "big", pattern(AT_LIMIT))
    step("get_at_limit", c.get, "big")
    step("set_over_limit", c.set, "big", pattern(AT_LIMIT + 1))
    step("get_after_over_limit", c.get, "big")
    step("set_over_1mb", c.set, "huge", pattern(1048577))
    step("get_over_1mb", c.get, "huge")

    step("add_existing", c.add, "k1", b"x")
    step("add_new", c.add, "k2", b"two")
    step("replace_existing", c.replace, "k2", b"TWO")
    step("replace_missing", c.replace, "k3", b"x")
    step("append", c.append, "k2", b">>")
    step("prepend", c.prepend, "k2", b"<<")
    step("get_after_append_prepend", c.get, "k2")
    step("append_missing", c.append, "k3", b"x")

    def cas_conflict():
        v, token = c.gets("k1")
        c.set("k1", b"changed")
        stale = c.cas("k1", b"stale", token)
        v2, token2 = c.gets("k1")
        fresh = c.cas("k1", b"fresh", token2)
        return "%s stale=%s fresh=%s now=%s" % (show(v), show(stale), show(fresh), show(c.get("k1")))
    step("cas_conflict", cas_conflict)
    step("cas_missing", lambda: show(c.cas("k3", b"x", 12345)))

    step("set_counter", c.set, "n", b"18446744073709551614")
    step("incr_to_max", c.incr, "n", 1)
    step("incr_wrap", c.incr, "n", 1)
    step("get_counter", c.get, "n")
    step("set_small", c.set, "n", b"5")
    step("decr_floor", c.decr, "n", 10)
    step("set_ten", c.set, "n", b"10")
    step("decr_shrink", c.decr, "n", 1)
    step("get_after_shrink", c.get, "n")
    step("set_99", c.set, "n", b"99")
    step("incr_grow", c.incr, "n", 1)
    step("get_after_grow", c.get, "n")
    step("incr_missing", c.incr, "nokey", 1)
    step("incr_non_numeric", c.incr, "k2", 1)

    step("set_touch", c.set, "t", b"touched")
    step("touch", c.touch, "t", 1)
    step("touch_missing", c.touch, "nokey", 1)

    step("delete", c.delete, "k2")
    step("delete_missing", c.delete, "k2")
    step("get_deleted", c.get, "k2")

    step("set_noreply", c.set, "q", b"quiet", 0, True)
    step("get_noreply", c.get, "q")

    step("version", c.version)
    step("set_empty", c.set, "empty", b"")
    step("get_empty", c.get, "empty")
    step("set_key_250", c.set, "K" * 250, b"long key")
    step("get_key_250", c.get, "K" * 250)
    step("set_key_251", c.set, "K" * 251, b"too long")
    step("get_after_key_251", c.get, "k1")

    step("set_binary", c.set, "bin", bytes(range(256)) * 4)
    step("get_binary", c.get, "bin")

    # 3 s: both servers' clocks tick whole seconds, so a 1 s TTL may be gone before the next get
    # (and a loaded machine may take a second between two steps).
    step("set_ttl", c.set, "e", b"expires", 3)
    step("set_long_ttl", c.set, "l", b"stays", 100)
    step("get_ttl_before", c.get, "e")
    # exptime past 30 days is a Unix time: one 100 s ahead stays, one 100 s ago is already gone.
    now = int(time.time())
    step("set_abs_future", c.set, "af", b"future", now + 100)
    step("get_abs_future", c.get, "af")
    step("set_abs_past", c.set, "ap", b"past", now - 100)
    step("get_abs_past", c.get, "ap")
    time.sleep(4)
    step("get_ttl_after", c.get, "e")
    step("get_touched_after", c.get, "t")
    step("get_long_ttl_after", c.get, "l")

    step("flush_all", c.flush)
    step("get_after_flush", c.get, "k1")
    print("CLIENT MATRIX DONE")


if __name__ == "__main__":
    main()
