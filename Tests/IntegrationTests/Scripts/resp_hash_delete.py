#!/usr/bin/env python3
"""Deleting a large hash must not stall other clients (the engine frees its fields in the
background, as redis's lazy free).

Builds a hash of --fields fields (HSET in batches of 1,000 pairs), then, while a second connection
sends PING after PING and times each, deletes it with DEL (or UNLINK with --unlink). Prints one
line of JSON: fields, the delete's time, the slowest PING during it, lazyfreed_objects before and
after, whether lazyfree_pending_objects came back to 0 within 30 s, and the hash's MEMORY USAGE.

With --zset the key is a sorted set of as many members (ZADD, score i, member field:<i>), which
is freed the same way (its skip list's nodes chained after the entries).

Usage: resp_hash_delete.py --port P [--fields N] [--unlink] [--zset]
"""

import argparse
import json
import threading
import time

from resp_common import Conn, mb


def info_field(conn, name):
    conn.send(mb("INFO"))
    text = conn.reply()
    for line in text.split(b"\r\n"):
        if line.startswith(name.encode() + b":"):
            return int(line.split(b":")[1])
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--fields", type=int, default=300000)
    ap.add_argument("--unlink", action="store_true")
    ap.add_argument("--zset", action="store_true")
    args = ap.parse_args()
    key = b"rhd_big"
    c = Conn(args.port)
    c.send(mb("DEL", key))
    c.reply()
    batch = 1000
    for start in range(0, args.fields, batch):
        pairs = []
        for i in range(start, min(args.fields, start + batch)):
            pairs += [b"%d" % i, b"field:%d" % i] if args.zset else [b"field:%d" % i, b"value:%d" % i]
        c.send(mb("ZADD" if args.zset else "HSET", key, *pairs))
        c.reply()
    c.send(mb("ZCARD" if args.zset else "HLEN", key))
    length = int(c.reply()[1:-2])
    c.send(mb("MEMORY", "USAGE", key))
    usage = int(c.reply()[1:-2])
    before = info_field(c, "lazyfreed_objects")
    slowest = [0.0]
    stop = threading.Event()

    def pinger():
        p = Conn(args.port)
        while not stop.is_set():
            t = time.monotonic()
            p.send(mb("PING"))
            p.reply()
            slowest[0] = max(slowest[0], time.monotonic() - t)
        p.sock.close()

    th = threading.Thread(target=pinger)
    th.start()
    time.sleep(0.2)
    t = time.monotonic()
    c.send(mb("UNLINK" if args.unlink else "DEL", key))
    deleted = int(c.reply()[1:-2])
    took = time.monotonic() - t
    time.sleep(0.2)
    stop.set()
    th.join()
    after = info_field(c, "lazyfreed_objects")
    drained = False
    for _ in range(300):
        if info_field(c, "lazyfree_pending_objects") == 0:
            drained = True
            break
        time.sleep(0.1)
    c.send(mb("EXISTS", key))
    exists = int(c.reply()[1:-2])
    print(json.dumps({"fields": length, "deleted": deleted, "delete_seconds": round(took, 4),
                      "slowest_ping_seconds": round(slowest[0], 4), "lazyfreed_before": before,
                      "lazyfreed_after": after, "drained": drained, "exists": exists,
                      "memory_usage": usage}))


if __name__ == "__main__":
    main()
