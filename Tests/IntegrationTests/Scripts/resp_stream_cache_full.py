#!/usr/bin/env python3
"""XADD and broker-port log appends after the cache was filled with strings (a server with a
small -m, --redis-port and --broker-port, no --data-dir):

  - SETs of 100-byte strings through the Redis port, pipelined, until the engine has evicted
    (INFO evicted_keys > 0);
  - 3,000 XADDs of one 1,000-byte field to a new stream: about 3 MB of log chunks, several slab
    pages of them, none of which the cache's classes had;
  - 10,000 `set`s of 250-byte records to a new memory-only topic on the broker port;
  - the facts: each reply, XLEN, the stream's first entry, INFO's slab_reassign_forced,
    resp_stream_chunk_refusals, used_memory (before the XADDs and at the end) and maxmemory,
    `stats logs`'s log_chunk_refusals, log_segments_dropped and the topic's log start.

With slab reassign on (memcached's default) every XADD and `set` must succeed: the engine moves
pages of the strings' class to the chunks' class at once, evicting strings, -m staying the bound.
With `-o no_slab_reassign` XADD ends in -OOM (the check is then only that it says so).

Usage: resp_stream_cache_full.py --redis-port R --broker-port B [--no-reassign]
Prints `STREAM CACHE FULL CHECKS PASSED` and then the facts as JSON on its last line (the facts
alone, exit 1, when a check fails).
"""

import argparse
import json
import socket
import sys

from resp_common import Conn, broker_request, mb, parse


def info_field(conn, section, name):
    text = parse(conn.command("INFO", section)).decode()
    for line in text.split("\r\n"):
        if line.startswith(name + ":"):
            return int(line.split(":", 1)[1])
    return None


def stats(sock, request=b"stats\r\n"):
    out = {}
    for line in broker_request(sock, request).decode().split("\r\n"):
        words = line.split(" ")
        if len(words) == 3 and words[0] == "STAT":
            out[words[1]] = words[2]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--redis-port", type=int, required=True)
    ap.add_argument("--broker-port", type=int, required=True)
    ap.add_argument("--no-reassign", action="store_true")
    args = ap.parse_args()
    r = Conn(args.redis_port)
    r.sock.settimeout(20)
    facts = {}

    # The cache filled: 100 SETs a write, until the engine evicts (120,000 at most).
    value = b"s" * 100
    sets = 0
    while sets < 120_000:
        r.send(b"".join(mb("SET", b"k%d" % (sets + i), value) for i in range(100)))
        for _ in range(100):
            reply = r.reply()
            if reply != b"+OK\r\n":
                facts["set_failed"] = reply.decode()
                break
        sets += 100
        if sets % 10_000 == 0 and info_field(r, "stats", "evicted_keys"):
            break
    facts["sets"] = sets
    facts["evicted_keys_before"] = info_field(r, "stats", "evicted_keys")
    facts["used_memory_before"] = info_field(r, "memory", "used_memory")

    # XADDs, 50 a write.
    field = b"x" * 1000
    added, first_error = 0, None
    for start in range(1, 3001, 50):
        r.send(b"".join(mb("XADD", "cf_stream", "%d-0" % i, "f", field) for i in range(start, start + 50)))
        for i in range(start, start + 50):
            reply = r.reply()
            if reply == b"$%d\r\n%d-0\r\n" % (len(str(i)) + 2, i):
                added += 1
            elif first_error is None:
                first_error = reply.decode()
    facts["xadd_added"] = added
    facts["xadd_first_error"] = first_error
    facts["xlen"] = int(r.command("XLEN", "cf_stream")[1:-2])
    first = parse(r.command("XRANGE", "cf_stream", "-", "+", "COUNT", "1"))
    facts["xrange_first_ok"] = first == [[b"1-0", [b"f", field]]]
    facts["info_slab_reassign_forced"] = info_field(r, "stats", "slab_reassign_forced")
    facts["info_stream_chunk_refusals"] = info_field(r, "stats", "resp_stream_chunk_refusals")

    b = socket.create_connection(("127.0.0.1", args.broker_port), timeout=20)
    facts["log_declared"] = broker_request(b, b"log cf_topic\r\n", end=b"\r\n").decode()
    record = b"r" * 250
    stored = 0
    for start in range(0, 10_000, 100):
        b.sendall(b"".join(b"set cf_topic 0 0 %d\r\n%s\r\n" % (len(record), record) for _ in range(100)))
        data = b""
        while data.count(b"\r\n") < 100:
            d = b.recv(1 << 16)
            if not d:
                break
            data += d
        stored += data.count(b"STORED\r\n")
    facts["log_stored"] = stored
    logs = stats(b, b"stats logs\r\n")
    facts["log_chunk_refusals"] = int(logs.get("log_chunk_refusals", -1))
    facts["log_segments_dropped"] = int(logs.get("log_segments_dropped", -1))
    facts["log_start_offset"] = int(logs.get("cf_topic:0:log_start_offset", -1))

    facts["maxmemory"] = info_field(r, "memory", "maxmemory")
    facts["used_memory_after"] = info_field(r, "memory", "used_memory")
    return facts


def checked(facts, no_reassign):
    if no_reassign:
        return facts["xadd_first_error"] is not None and facts["xadd_first_error"].startswith("-OOM")
    return (facts["evicted_keys_before"] > 0 and facts["xadd_added"] == 3000 and facts["xlen"] == 3000
            and facts["xrange_first_ok"] and facts["info_slab_reassign_forced"] >= 2
            and facts["info_stream_chunk_refusals"] == 0 and facts["log_stored"] == 10_000
            and facts["log_chunk_refusals"] == 0 and facts["log_segments_dropped"] == 0
            and facts["log_start_offset"] == 0
            # -m kept: pages changed class; none was taken but the first of a class that had
            # none (the stream root's, the chunks', the broker's `set` values'), which any class
            # may take past -m.
            and facts["used_memory_after"] <= max(facts["used_memory_before"], facts["maxmemory"]) + (3 << 20))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-reassign", action="store_true")
    known, _ = ap.parse_known_args()
    f = main()
    if not checked(f, known.no_reassign):
        print(json.dumps(f))
        sys.exit(1)
    print("STREAM CACHE FULL CHECKS PASSED")
    print(json.dumps(f))
