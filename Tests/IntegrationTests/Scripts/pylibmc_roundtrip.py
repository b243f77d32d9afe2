#!/usr/bin/env python3
"""pylibmc (C libmemcached) round trips against a memcached-compatible server, text protocol.

Usage: pylibmc_roundtrip.py --port P. Exits non-zero on the first failed check."""
import argparse
import sys

import pylibmc

CHECKS = 0


def check(what, got, want):
    global CHECKS
    if got != want:
        print(f"FAIL {what}\n  expected: {want!r}\n  got:      {got!r}")
        sys.exit(1)
    CHECKS += 1
    print(f"ok   {what}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    port = ap.parse_args().port
    mc = pylibmc.Client([f"127.0.0.1:{port}"], binary=False, behaviors={"cas": True})

    check("set", mc.set("k1", b"hello"), True)
    check("get", mc.get("k1"), b"hello")
    check("get missing", mc.get("nope"), None)
    check("set int flags (pylibmc stores ints with its own flag)", mc.set("n", 42), True)
    check("get int back", mc.get("n"), 42)
    check("incr", mc.incr("n", 8), 50)
    check("decr floors at 0", mc.decr("n", 100), 0)
    check("add existing", mc.add("k1", b"x"), False)
    check("add new", mc.add("k2", b"two"), True)
    check("replace", mc.replace("k2", b"TWO"), True)
    check("append", mc.append("k2", b"!"), True)
    check("prepend", mc.prepend("k2", b"<"), True)
    check("get after append/prepend", mc.get("k2"), b"<TWO!")
    value, cas = mc.gets("k2")
    check("gets value", value, b"<TWO!")
    check("cas with current unique", mc.cas("k2", b"cas-ed", cas), True)
    check("cas with stale unique", mc.cas("k2", b"again", cas), False)
    many = {f"m{i}": str(i).encode() * 3 for i in range(100)}
    check("set_multi of 100 (no failures)", mc.set_multi(many), [])
    check("get_multi of 100", mc.get_multi(list(many)), many)
    big = bytes(range(256)) * 4000
    check("set 1 MB - 24 KB value", mc.set("big", big), True)
    check("get 1 MB - 24 KB value", mc.get("big"), big)
    check("delete", mc.delete("k1"), True)
    check("delete missing", mc.delete("k1"), False)
    check("touch", mc.touch("k2", 100), True)
    mc.flush_all()
    check("get after flush_all", mc.get("k2"), None)
    print(f"ALL {CHECKS} PYLIBMC CHECKS PASSED")


if __name__ == "__main__":
    main()
