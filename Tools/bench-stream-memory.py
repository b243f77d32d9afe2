#!/usr/bin/env python3
"""Memory per entry of a 1M-entry Redis stream (one field `f` with a 100-byte value), on
swiftcached's Redis port and redis-server side by side (Tools/bench-redis-memory.py's method).

The stream is filled into an empty server by XADD s * f <100 bytes> through redis-py pipelines of
10,000 commands; the script prints XLEN, INFO memory's used_memory and used_memory_rss before and
after, and their differences per entry. swiftcached's used_memory is the cache's slab pages only
(a stream's entries live in the broker's log segments, outside the slabs), so for it the RSS
difference is the figure to compare; for redis-server both are printed.
It starts nothing: run both servers first (see BENCHMARKS.md), e.g.
  Tools/bench-stream-memory.py 16501 16502 [entries]
"""
import sys
import redis


def memory(r):
    info = r.info("memory")
    return info["used_memory"], info["used_memory_rss"]


def main():
    ports = [int(p) for p in sys.argv[1:3]]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000
    value = b"v" * 100
    for name, port in zip(["swiftcached", "redis-server"], ports):
        r = redis.Redis(port=port)
        r.delete("s")
        used0, rss0 = memory(r)
        pipe = r.pipeline(transaction=False)
        for i in range(n):
            pipe.xadd("s", {"f": value})
            if i % 10_000 == 9_999:
                pipe.execute()
        pipe.execute()
        used1, rss1 = memory(r)
        length = r.xlen("s")
        print("%s: XLEN %d, used_memory %d -> %d (%.1f B/entry), used_memory_rss %d -> %d (%.1f B/entry)"
              % (name, length, used0, used1, (used1 - used0) / max(length, 1), rss0, rss1, (rss1 - rss0) / max(length, 1)))


if __name__ == "__main__":
    main()
