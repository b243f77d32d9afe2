#!/usr/bin/env python3
"""Log compaction (`cleanup=compact`) on the broker port through pymemcache 4.0.0 and raw sockets.

Phase "compact" (a fresh server with --data-dir):
  declares a compacted topic with small segments; a record without a key is refused (`set` and
  `produce`) and the connection stays usable; writes 40 records over 4 keys, a tombstone for k0 and
  fillers that close the segments; waits for the background compaction (`stats logs`), then reads
  with `gets` (offsets in the CAS field): offsets rise with gaps, each key's newest value is there
  and its older ones are not, the tombstone is there while young; a group seeked to an offset
  compacted away reads on at the next record kept; once `delete_retention_ms` passes the tombstone
  goes too. What is left is saved to STATE.
Phase "restart" (the same data directory): a new group reads exactly what was saved.

Usage: broker_log_compaction.py PORT compact|restart STATE
"""

import json
import sys
import time

import broker_common
import rawconn
from broker_common import all_records, eq, stats_logs
from rawconn import Conn, fail, ok

Client = broker_common.import_pymemcache()

TOPIC = b"cmp"
PAD = b"x" * 200


def read_group(raw, group):
    """Every record a new group reads, as (offset, value)."""
    return [(o, v.decode()) for o, v in all_records(raw, TOPIC + b"/group=" + group + b"/max=1000", check_key=True)]


def wait_for(raw, name, check, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        st = stats_logs(raw)
        if check(st):
            ok(name)
            return st
        time.sleep(0.2)
    fail(name, "within %.0f s" % seconds, stats_logs(raw))


def compact(port, state):
    raw = Conn()
    c = Client(("127.0.0.1", port), default_noreply=False)
    raw.roundtrip("declare a compacted topic",
                  b"log cmp cleanup=compact segment_bytes=1024 delete_retention_ms=4000\r\n", b"OK\r\n")
    raw.roundtrip("a bad cleanup", b"log other cleanup=shrink\r\n", b"CLIENT_ERROR bad log option\r\n")
    refusal = b"CLIENT_ERROR compacted topic cannot accept a record without a key\r\n"
    raw.roundtrip("set without a key refused", b"set cmp 0 0 3\r\nabc\r\n", refusal)
    raw.roundtrip("produce without a key refused", b"produce cmp 0 2 12\r\n1\r\na\r\n1\r\nb\r\n\r\n", refusal)
    raw.usable("after the refusals")
    eq("keyless refusals counted", "2", stats_logs(raw)["log_keyless_refused"])

    last = {}
    for i in range(40):
        k = "k%d" % (i % 4)
        v = ("v%d-" % i).encode() + PAD
        eq("set %d" % i, True, c.set("cmp/key=" + k, v))
        last[k] = v.decode()
    eq("tombstone for k0", True, c.set("cmp/key=k0", b""))
    for i in range(12):
        eq("filler %d" % i, True, c.set("cmp/key=f%d" % i, b"f" + PAD))

    st = wait_for(raw, "the background compaction ran",
                  lambda s: int(s["log_compactions"]) > 0 and int(s["log_compacted_records"]) >= 37)
    if int(st["log_compacted_bytes"]) <= 0:
        fail("bytes reclaimed counted", "> 0", st["log_compacted_bytes"])
    ok("bytes reclaimed counted")
    eq("the end offset is unchanged", "53", st["cmp:0:log_end_offset"])

    got = read_group(raw, b"a")
    offsets = [o for o, _ in got]
    eq("offsets rise", sorted(set(offsets)), offsets)
    if len(got) >= 53:
        fail("compaction left gaps", "< 53 records", len(got))
    ok("compaction left gaps (%d of 53 records)" % len(got))
    values = [v for _, v in got]
    for k in ("k1", "k2", "k3"):
        eq("%s's newest value kept once" % k, 1, values.count(last[k]))
    for i in range(36):
        if (("v%d-" % i) + PAD.decode()) in values:
            fail("older values removed", "no v%d" % i, "v%d present" % i)
    ok("older values removed")
    eq("k0's values removed", [], [v for v in values if v == last["k0"]])
    eq("the young tombstone is kept", [40], [o for o, v in got if v == ""])

    # A read from an offset compacted away continues at the next record kept.
    # Offset 36 (k0's) begins a segment whose first record kept is 37.
    raw.roundtrip("seek to a removed offset", b"seek cmp group=h offset=36\r\n", b"OFFSETS 36\r\n")
    first = read_group(raw, b"h")[0][0]
    eq("the read starts at the next record kept", 37, first)

    # One record a `get`: never END before the end (a read claims records, not offsets).
    n = 0
    while c.get("cmp/group=one") is not None:
        n += 1
    eq("one record a get reads every record kept", len(got), n)

    wait_for(raw, "the tombstone expires", lambda s: int(s["log_compacted_records"]) >= 38, seconds=20.0)
    got = read_group(raw, b"b")
    eq("no tombstone left", [], [o for o, v in got if v == ""])
    with open(state, "w") as f:
        json.dump(got, f)
    c.close()
    print("COMPACTION CHECKS PASSED")


def restart(port, state):
    raw = Conn()
    with open(state) as f:
        want = [tuple(x) for x in json.load(f)]
    eq("after a restart a new group reads what compaction left", want, read_group(raw, b"r"))
    c = Client(("127.0.0.1", port), default_noreply=False)
    n = 0
    while c.get("cmp/group=one2") is not None:
        n += 1
    eq("after a restart one record a get reads them all", len(want), n)
    raw.roundtrip("keyless still refused", b"set cmp 0 0 1\r\nx\r\n",
                  b"CLIENT_ERROR compacted topic cannot accept a record without a key\r\n")
    print("COMPACTION RESTART CHECKS PASSED")


if __name__ == "__main__":
    port = int(sys.argv[1])
    rawconn.ADDRESS = ("127.0.0.1", port)
    {"compact": compact, "restart": restart}[sys.argv[2]](port, sys.argv[3])
