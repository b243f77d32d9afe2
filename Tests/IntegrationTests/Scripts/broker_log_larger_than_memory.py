#!/usr/bin/env python3
"""A topic three times larger than --broker-memory (with --data-dir, so older segments are on
disk), read from offset 0 by a new group while a producer appends (issue 15's black-box test):

  - a producer appends 100-byte records numbered 0, 1, 2, ... with `produce` batches of 500
    until the partition holds 3.5 times --broker-memory; every batch must be `PRODUCED` (never
    refused) with the offsets that follow the last batch's;
  - once the log holds twice --broker-memory a new group starts reading from offset 0
    (`get <topic>/group=<g>/max=1000`, parked with `/timeout=` when it has caught up) while the
    producer goes on, and must get every record, in order, none twice;
  - a monitor samples `stats logs` every 20 ms: `log_memory_bytes` must stay within
    --broker-memory the whole time, `log_appends_refused` at 0; at the end the partition's
    `bytes` is at least three times --broker-memory and `log_disk_reads` shows old records were
    read back from the segment files.

With --memory-only (a server without --data-dir, -m no larger than --broker-memory, so the engine
runs out of slab memory for the log's chunks before the share is full) the same producer appends
3.5 times --broker-memory; every batch must still be `PRODUCED` at the offsets that follow (the
partition drops its own oldest segments for room: `log_segments_dropped` counts, and
`log_chunk_refusals` and `log_appends_refused` stay 0), the log start must have moved on, and a
new group must then read every record from the log start to the end, dense and in order.

Usage: broker_log_larger_than_memory.py --port P --memory-mb M [--memory-only]
Prints the facts as JSON on its last line and `LOG LARGER THAN MEMORY CHECKS PASSED` (or
`LOG MEMORY ONLY CHECKS PASSED`) before it.
"""

import argparse
import json
import sys
import threading
import time

import rawconn
from broker_common import stats, stats_logs, values
from rawconn import Conn

# Longer than rawconn's 5 s: a produce batch may wait for the log's memory under load.
IO_TIMEOUT = 20.0


def produce(c, topic, vals):
    """One `produce` batch; returns the reply line."""
    block = b"".join(b"%d\r\n%s\r\n" % (len(v), v) for v in vals)
    c.send(b"produce %s 0 %d %d\r\n%s\r\n" % (topic, len(vals), len(block), block))
    return c.read_line(IO_TIMEOUT)


def value(i):
    """Record i: its number in 10 digits, padded to 100 bytes."""
    return (b"%010d" % i).ljust(100, b".")

# ---- the test ----


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--memory-mb", type=int, required=True)
    ap.add_argument("--memory-only", action="store_true")
    args = ap.parse_args()
    if args.memory_only:
        return memory_only(args)
    rawconn.ADDRESS = ("127.0.0.1", args.port)
    rawconn.IO_TIMEOUT = IO_TIMEOUT  # a connection's socket timeout and a `stats` reply's deadline
    limit = args.memory_mb << 20
    topic = b"big"
    admin = Conn()
    admin.send(b"log big segment_bytes=1048576 retention_ms=-1\r\n")
    facts = {"declared": admin.read_line(IO_TIMEOUT).decode()}

    state = {"produced": 0, "refused": [], "bad_offsets": 0, "done": False, "max_memory": 0,
             "samples": 0, "refused_stat": 0, "error": None}
    lock = threading.Lock()

    def producer():
        try:
            c = Conn()
            n = 0
            while True:
                # A record takes 120 bytes in a batch (its 20-byte header and 100 bytes).
                if n * 120 >= 3.5 * limit:
                    break
                vals = [value(n + i) for i in range(500)]
                reply = produce(c, topic, vals)
                if reply != b"PRODUCED 0 %d 500\r\n" % n:
                    with lock:
                        if reply.startswith(b"PRODUCED"):
                            state["bad_offsets"] += 1
                        else:
                            state["refused"].append(reply.decode(errors="replace"))
                    if not reply.startswith(b"PRODUCED"):
                        break
                n += 500
                with lock:
                    state["produced"] = n
        except Exception as e:  # reported as a fact
            state["error"] = "producer: %r" % e
        finally:
            state["done"] = True

    def monitor():
        try:
            c = Conn()
            while not state.get("stop_monitor"):
                st = stats(c, b"logs", quiet=True)  # a dead server: an exception, a fact
                with lock:
                    state["max_memory"] = max(state["max_memory"], int(st["log_memory_bytes"]))
                    state["refused_stat"] = int(st["log_appends_refused"])
                    state["samples"] += 1
                time.sleep(0.02)
        except Exception as e:
            state["error"] = "monitor: %r" % e

    p = threading.Thread(target=producer, daemon=True)
    m = threading.Thread(target=monitor, daemon=True)
    m.start()
    p.start()
    # The group starts once the log is twice the memory: its first records are only on disk.
    deadline = time.monotonic() + 60
    while state["produced"] * 120 < 2 * limit and not state["done"] and time.monotonic() < deadline:
        time.sleep(0.01)
    facts["produced_when_reading_began"] = state["produced"]
    reader = Conn()
    got = 0
    out_of_order = 0
    first_bad = None
    while time.monotonic() < deadline:
        vals = values(reader, b"big/group=fresh/max=1000/timeout=500", IO_TIMEOUT)
        for v in vals:
            want = value(got)
            if v != want:
                out_of_order += 1
                if first_bad is None:
                    first_bad = "record %d: %r" % (got, v[:12])
            got += 1
        if not vals and state["done"] and got >= state["produced"]:
            break
    p.join()
    state["stop_monitor"] = True
    m.join()
    st = stats_logs(admin)
    facts.update({
        "produced": state["produced"],
        "read": got,
        "out_of_order": out_of_order,
        "first_bad": first_bad,
        "refused_replies": state["refused"][:3],
        "bad_offsets": state["bad_offsets"],
        "log_appends_refused": int(st["log_appends_refused"]),
        "max_log_memory_bytes": state["max_memory"],
        "memory_samples": state["samples"],
        "memory_limit": limit,
        "partition_bytes": int(st["big:0:bytes"]),
        "segments": int(st["big:0:segments"]),
        "log_disk_reads": int(st["log_disk_reads"]),
        "log_memory_waits": int(st.get("log_memory_waits", "-1")),
        "lag": int(st["big:0:group:fresh:lag"]),
        "error": state["error"],
    })
    passed = (facts["declared"] == "OK\r\n" and got == state["produced"] > 0 and out_of_order == 0
              and not state["refused"] and state["bad_offsets"] == 0 and facts["log_appends_refused"] == 0
              and state["max_memory"] <= limit and facts["partition_bytes"] >= 3 * limit
              and facts["log_disk_reads"] > 0 and facts["lag"] == 0 and state["error"] is None)
    if passed:
        print("LOG LARGER THAN MEMORY CHECKS PASSED")
    print(json.dumps(facts))
    sys.exit(0 if passed else 1)


def memory_only(args):
    """A memory-only topic 3.5 times --broker-memory, produced then read (see the top)."""
    rawconn.ADDRESS = ("127.0.0.1", args.port)
    rawconn.IO_TIMEOUT = IO_TIMEOUT
    limit = args.memory_mb << 20
    c = Conn()
    c.send(b"log mem retention_ms=-1\r\n")
    facts = {"declared": c.read_line(IO_TIMEOUT).decode()}
    refused = []
    bad_offsets = 0
    max_memory = 0
    n = 0
    while n * 120 < 3.5 * limit:
        reply = produce(c, b"mem", [value(n + i) for i in range(500)])
        if reply != b"PRODUCED 0 %d 500\r\n" % n:
            if not reply.startswith(b"PRODUCED"):
                refused.append(reply.decode(errors="replace"))
                break
            bad_offsets += 1
        n += 500
        if n % 20000 == 0:
            max_memory = max(max_memory, int(stats(c, b"logs", quiet=True)["log_memory_bytes"]))
    st = stats_logs(c)
    start = int(st["mem:0:log_start_offset"])
    # Every record from the log start, dense and in order (no producer runs meanwhile).
    got = []
    while True:
        vals = values(c, b"mem/group=fresh/max=1000", IO_TIMEOUT)
        if not vals:
            break
        got.extend(int(v[:10]) for v in vals)
    dense = got == list(range(start, n))
    facts.update({
        "produced": n,
        "refused_replies": refused[:3],
        "bad_offsets": bad_offsets,
        "log_start_offset": start,
        "log_end_offset": int(st["mem:0:log_end_offset"]),
        "read": len(got),
        "first_read": got[0] if got else None,
        "dense_from_start": dense,
        "log_segments_dropped": int(st["log_segments_dropped"]),
        "log_chunk_refusals": int(st["log_chunk_refusals"]),
        "log_appends_refused": int(st["log_appends_refused"]),
        "max_log_memory_bytes": max(max_memory, int(st["log_memory_bytes"])),
        "memory_limit": limit,
    })
    passed = (facts["declared"] == "OK\r\n" and not refused and bad_offsets == 0 and n > 0
              and facts["log_end_offset"] == n and 0 < start < n and dense
              and facts["log_segments_dropped"] > 0 and facts["log_chunk_refusals"] == 0
              and facts["log_appends_refused"] == 0 and facts["max_log_memory_bytes"] <= limit)
    if passed:
        print("LOG MEMORY ONLY CHECKS PASSED")
    print(json.dumps(facts))
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
