#!/usr/bin/env python3
"""Memory per member of 1M-member hashes, sets and sorted sets (10-byte members; a hash's values
10 bytes too), on swiftcached's Redis port and redis-server side by side.

Each structure is filled into an empty server through redis-py pipelines of 10,000 commands
(1,000 members per command); the script prints INFO memory used_memory before and after, the
difference per member, and MEMORY USAGE key per member, then FLUSHALLs before the next structure.
It starts nothing: run both servers first (see BENCHMARKS.md), e.g.
  Tools/bench-redis-memory.py 16501 16502 [members] [hash,set,zset]
swiftcached's used_memory is the slab pages it has malloced, which a FLUSHALL does not give back:
start fresh servers for each structure (as BENCHMARKS.md's commands do) to read its difference.
"""
import sys
import redis

def member(i):
    return b"m%09d" % i          # 10 bytes, not an integer: a set stays out of intset

def fill(r, kind, n):
    key = b"big:" + kind.encode()
    pipe = r.pipeline(transaction=False)
    step = 1000
    for start in range(0, n, step):
        ids = range(start, min(n, start + step))
        if kind == "hash":
            pipe.hset(key, mapping={member(i): b"v%09d" % i for i in ids})
        elif kind == "set":
            pipe.sadd(key, *[member(i) for i in ids])
        else:
            pipe.zadd(key, {member(i): float(i) for i in ids})
        if (start // step) % 10 == 9:
            pipe.execute()
    pipe.execute()
    return key

def main():
    ports = [int(p) for p in sys.argv[1:3]]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000
    names = ["swiftcached", "redis-server"]
    kinds = sys.argv[4].split(",") if len(sys.argv) > 4 else ["hash", "set", "zset"]
    for kind in kinds:
        for which, port in enumerate(ports):
            r = redis.Redis(port=port)
            r.flushall()
            before = r.info("memory")["used_memory"]
            key = fill(r, kind, n)
            after = r.info("memory")["used_memory"]
            usage = r.memory_usage(key, samples=0)
            enc = r.object("encoding", key)
            card = {"hash": r.hlen, "set": r.scard, "zset": r.zcard}[kind](key)
            print(f"{kind:5} {names[which]:12} card={card} encoding={enc.decode()} "
                  f"used_memory {before} -> {after} (+{after - before}, {(after - before) / n:.1f} B/member) "
                  f"MEMORY USAGE {usage} ({usage / n:.1f} B/member)", flush=True)
            r.flushall()

main()
