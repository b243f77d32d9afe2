#!/usr/bin/env python3
"""Subcommands redis 7.0 has that swiftcached answers since issue 12's leftovers: MEMORY DOCTOR,
MALLOC-STATS, PURGE, STATS, CLIENT TRACKINGINFO and CACHING, DEBUG HELP. One transcript line per
request (RESP2, then RESP3), with MEMORY STATS as its field names (the figures are each server's
own) and MALLOC-STATS as its reply type (redis's is jemalloc's text), then their commandstats
calls. Run against swiftcached's --redis-port and redis-server 7.0 (--enable-debug-command yes).

Usage: resp_memory_commands.py --port P
"""

import argparse

from resp_common import Conn, parse


def show(b):
    return b.replace(b"\r\n", b"\\r\\n").decode("latin-1")


def names(v):
    """A MEMORY STATS reply's field names, nested maps (db.N) included."""
    if isinstance(v, dict):
        v = [x for kv in v.items() for x in kv]
    out = []
    for k, x in zip(v[0::2], v[1::2]):
        out.append(k.decode())
        if isinstance(x, (list, dict)):
            out.append("{" + " ".join(names(x)) + "}")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    c = Conn(args.port)
    c.command("FLUSHALL")
    c.command("CONFIG", "RESETSTAT")
    for proto in ("2", "3"):
        print("hello", proto, show(c.command("HELLO", proto))[:1])
        for r in [("MEMORY", "DOCTOR"), ("MEMORY", "DOCTOR", "x"), ("MEMORY", "PURGE"), ("MEMORY", "PURGE", "x"),
                  ("MEMORY", "HELP"), ("CLIENT", "TRACKINGINFO"), ("CLIENT", "TRACKINGINFO", "x"),
                  ("CLIENT", "CACHING", "yes"), ("CLIENT", "CACHING", "no"), ("CLIENT", "CACHING"),
                  ("DEBUG", "HELP"), ("MEMORY", "NOPE")]:
            print("> " + " ".join(r), "=>", show(c.command(*r)))
        m = c.command("MEMORY", "MALLOC-STATS")
        print("> MEMORY MALLOC-STATS =>", "bulk" if m[:1] in (b"$", b"=") else show(m))
        print("> MEMORY STATS (empty) =>", " ".join(names(parse(c.command("MEMORY", "STATS")))))
        c.command("SET", "k1", "v")
        c.command("SELECT", "3")
        c.command("SET", "k2", "v")
        c.command("SELECT", "0")
        print("> MEMORY STATS (db 0 and 3) =>", " ".join(names(parse(c.command("MEMORY", "STATS")))))
        print("> MEMORY STATS x =>", show(c.command("MEMORY", "STATS", "x")))
        c.command("FLUSHALL")
    c.command("HELLO", "2")
    info = parse(c.command("INFO", "commandstats")).decode()
    # In name order: redis lists them in its dict's order.
    for line in sorted(info.split("\r\n")):
        if line.startswith(("cmdstat_memory|", "cmdstat_client|trackinginfo", "cmdstat_client|caching", "cmdstat_debug")):
            name, fields = line.split(":", 1)
            kept = [f for f in fields.split(",") if not f.startswith("usec")]
            print(name, ",".join(kept))
    print("MEMORY COMMANDS CHECKS PASSED")


if __name__ == "__main__":
    main()
