#!/usr/bin/env python3
"""CONFIG SET of redis 7.0's encoding thresholds, one transcript line per request: the values
CONFIG GET reports (the ziplist names are aliases of the listpack ones), redis's refusals by kind
(counts, memory values, int ranges), and OBJECT ENCODING of hashes, sets and sorted sets written
after each change (a converted key stays converted). Run against swiftcached's --redis-port and
redis-server 7.0; the black-box test compares the transcripts.

Usage: resp_encoding_config.py --port P
"""

import argparse

from resp_common import Conn


def show(b):
    return b.replace(b"\r\n", b"\\r\\n").decode("latin-1")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    c = Conn(args.port)
    requests = [
        ("FLUSHALL",),
        ("CONFIG", "GET", "hash-max-listpack-entries"),
        ("CONFIG", "SET", "hash-max-ziplist-entries", "3"),
        ("CONFIG", "GET", "hash-max-listpack-entries"),
        ("CONFIG", "GET", "hash-max-ziplist-entries"),
        ("HSET", "eh", "a", "1", "b", "2", "c", "3"),
        ("OBJECT", "ENCODING", "eh"),
        ("HSET", "eh", "d", "4"),
        ("OBJECT", "ENCODING", "eh"),
        ("CONFIG", "SET", "hash-max-listpack-entries", "512"),
        ("HDEL", "eh", "d"),
        ("OBJECT", "ENCODING", "eh"),
        ("CONFIG", "SET", "hash-max-listpack-value", "1kb"),
        ("CONFIG", "GET", "hash-max-ziplist-value"),
        ("CONFIG", "SET", "hash-max-listpack-value", "4"),
        ("HSET", "eh2", "f", "1234"),
        ("OBJECT", "ENCODING", "eh2"),
        ("HSET", "eh2", "g", "12345"),
        ("OBJECT", "ENCODING", "eh2"),
        ("CONFIG", "SET", "hash-max-listpack-value", "64"),
        ("CONFIG", "SET", "hash-max-listpack-entries", "0"),
        ("HSET", "eh3", "f", "v"),
        ("OBJECT", "ENCODING", "eh3"),
        ("CONFIG", "SET", "hash-max-listpack-entries", "512"),
        ("CONFIG", "SET", "set-max-intset-entries", "2"),
        ("SADD", "es", "1", "2"),
        ("OBJECT", "ENCODING", "es"),
        ("SADD", "es", "3"),
        ("OBJECT", "ENCODING", "es"),
        ("SCARD", "es"),
        ("SADD", "es2", "5", "4", "3"),
        ("OBJECT", "ENCODING", "es2"),
        ("SINTERSTORE", "es3", "es2"),
        ("OBJECT", "ENCODING", "es3"),
        ("CONFIG", "SET", "set-max-intset-entries", "512"),
        ("SINTERSTORE", "es4", "es2"),
        ("OBJECT", "ENCODING", "es4"),
        ("SMEMBERS", "es4"),
        ("CONFIG", "SET", "zset-max-ziplist-entries", "2"),
        ("CONFIG", "GET", "zset-max-listpack-entries"),
        ("ZADD", "ez", "1", "a", "2", "b"),
        ("OBJECT", "ENCODING", "ez"),
        ("ZADD", "ez", "3", "c"),
        ("OBJECT", "ENCODING", "ez"),
        ("ZRANGESTORE", "ez2", "ez", "0", "1"),
        ("OBJECT", "ENCODING", "ez2"),
        ("ZRANGESTORE", "ez3", "ez", "0", "-1"),
        ("OBJECT", "ENCODING", "ez3"),
        ("ZUNIONSTORE", "ez4", "1", "ez"),
        ("OBJECT", "ENCODING", "ez4"),
        ("CONFIG", "SET", "zset-max-listpack-entries", "128"),
        ("CONFIG", "SET", "zset-max-listpack-value", "3"),
        ("ZADD", "ez5", "1", "abc"),
        ("OBJECT", "ENCODING", "ez5"),
        ("ZADD", "ez5", "1", "abcd"),
        ("OBJECT", "ENCODING", "ez5"),
        ("ZADD", "ez6", "1", "abcd"),
        ("OBJECT", "ENCODING", "ez6"),
        ("CONFIG", "SET", "zset-max-listpack-value", "64"),
        ("CONFIG", "SET", "zset-max-listpack-entries", "0"),
        ("ZADD", "ez7", "1", "a"),
        ("OBJECT", "ENCODING", "ez7"),
        ("CONFIG", "SET", "zset-max-listpack-entries", "128"),
        ("CONFIG", "SET", "list-max-listpack-size", "-5"),
        ("CONFIG", "GET", "list-max-ziplist-size"),
        ("RPUSH", "el", "a", "b"),
        ("OBJECT", "ENCODING", "el"),
        ("LRANGE", "el", "0", "-1"),
        ("CONFIG", "SET", "list-max-ziplist-size", "5"),
        ("CONFIG", "GET", "list-max-listpack-size"),
        ("CONFIG", "SET", "list-max-listpack-size", "-2"),
        # Refusals, in redis's words by kind.
        ("CONFIG", "SET", "hash-max-listpack-entries", "-1"),
        ("CONFIG", "SET", "hash-max-listpack-entries", "abc"),
        ("CONFIG", "SET", "hash-max-listpack-value", "-1"),
        ("CONFIG", "SET", "hash-max-listpack-value", "abc"),
        ("CONFIG", "SET", "set-max-intset-entries", "x"),
        ("CONFIG", "SET", "zset-max-listpack-entries", "-1"),
        ("CONFIG", "SET", "zset-max-listpack-value", "-5"),
        ("CONFIG", "SET", "list-max-listpack-size", "abc"),
        ("CONFIG", "SET", "list-max-listpack-size", "99999999999"),
        ("CONFIG", "SET", "list-compress-depth", "-1"),
        ("CONFIG", "SET", "stream-node-max-bytes", "-1"),
        ("CONFIG", "SET", "stream-node-max-entries", "-1"),
        ("CONFIG", "SET", "hll-sparse-max-bytes", "2kb"),
        ("CONFIG", "GET", "hll-sparse-max-bytes"),
        ("CONFIG", "SET", "hll-sparse-max-bytes", "3000"),
        ("CONFIG", "GET", "hash-max-listpack-value"),
    ]
    for r in requests:
        print("> " + " ".join(r), "=>", show(c.command(*r)))
    print("ENCODING CONFIG CHECKS PASSED")


if __name__ == "__main__":
    main()
