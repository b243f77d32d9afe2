#!/usr/bin/env python3
"""Topics (Kafka-style logs) on the broker port through pymemcache 4.0.0 and raw sockets.

Phase "produce" (a fresh server with --data-dir):
  declares a two-partition topic and checks the declaration replies (redeclared alike: OK;
  another partition count, a queue's name, `queue` on the topic's name: CLIENT_ERROR), produces
  20 keyed and 10 unkeyed records with pymemcache `set`, checks that each keyed record is in the
  partition Kafka's murmur2 gives its key (the script's own murmur2), reads the topic with two
  groups independently (`get`, `gets` with the offset as CAS), replays group A with `seek ...
  offset=earliest`, a partition seek and a time seek, checks `stats logs`, and leaves group A
  having read 5 records; a topic whose records retention all deleted keeps its end.
Phase "restart" (the same data directory, server restarted):
  the records and the committed offsets are back: A reads the others, B nothing, a new group all;
  the emptied topic's end is back and its next record gets it;
  a parked read (`/timeout=`) answers END when it passes and is woken by an append on another
  connection; a topic deleted under a parked read answers it at once as a read of a missing topic.

Usage: broker_logs.py PORT produce|restart
"""

import sys
import time

import broker_common
import rawconn
from broker_common import eq, stats_logs
from rawconn import Conn, fail, ok

Client = broker_common.import_pymemcache()

TOPIC = "events"


def murmur2(data):
    """Kafka's Utils.murmur2, as an unsigned 32-bit value."""
    m = 0x5BD1E995
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = data[i] | data[i + 1] << 8 | data[i + 2] << 16 | data[i + 3] << 24
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    tail = length & ~3
    rest = length % 4
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def partition(key, n):
    return (murmur2(key) & 0x7FFFFFFF) % n


def read_all(c, key):
    out = []
    while True:
        v = c.get(key)
        if v is None:
            return out
        out.append(v)


def produce(port):
    raw = Conn()
    c = Client(("127.0.0.1", port), default_noreply=False)
    raw.roundtrip("declare", b"log %s partitions=2 retention_ms=-1\r\n" % TOPIC.encode(), b"OK\r\n")
    raw.roundtrip("declare again alike", b"log %s partitions=2 retention_ms=-1\r\n" % TOPIC.encode(), b"OK\r\n")
    raw.roundtrip("another partition count", b"log %s partitions=3\r\n" % TOPIC.encode(),
                  b"CLIENT_ERROR topic events has 2 partitions\r\n")
    raw.roundtrip("bad option", b"log other cleanup=shrink\r\n", b"CLIENT_ERROR bad log option\r\n")
    raw.roundtrip("queue on the topic's name", b"queue events\r\n", b"CLIENT_ERROR events is a topic\r\n")
    raw.roundtrip("a queue", b"set jobs 0 0 1\r\nx\r\n", b"STORED\r\n")
    raw.roundtrip("log on a queue's name", b"log jobs\r\n", b"CLIENT_ERROR jobs is a queue\r\n")

    values = []
    for i in range(20):
        v = b"keyed-%d" % i
        eq("set keyed %d" % i, True, c.set("%s/key=k%d" % (TOPIC, i % 7), v))
        values.append((b"k%d" % (i % 7), v))
    for i in range(10):
        v = b"plain-%d" % i
        eq("set unkeyed %d" % i, True, c.set(TOPIC, v))
        values.append((None, v))
    raw.roundtrip("set to a partition that does not exist", b"set events/partition=2 0 0 1\r\nx\r\n",
                  b"CLIENT_ERROR no such partition\r\n")
    raw.roundtrip("set to partition 1", b"set events/partition=1 5 0 3\r\nabc\r\n", b"STORED\r\n")
    values.append((None, b"abc"))
    raw.roundtrip("a read without a group", b"get events\r\n", b"CLIENT_ERROR a topic read needs /group=<name>\r\n")
    raw.roundtrip("two keys", b"get events/group=a other\r\n", b"CLIENT_ERROR a topic read names one topic\r\n")

    # Each keyed record in the partition Kafka's murmur2 picks.
    for p in range(2):
        got = read_all(c, "%s/group=probe/partition=%d" % (TOPIC, p))
        want = [v for k, v in values if k is not None and partition(k, 2) == p]
        eq("keyed records of partition %d where murmur2 puts them" % p, want, [v for v in got if v.startswith(b"keyed")])
    # gets: the offset in the CAS field, dense from 0 in each partition.
    raw.send(b"gets events/group=a/partition=1\r\n")
    line = raw.read_line()
    if not line.startswith(b"VALUE events/group=a/partition=1 ") or not line.endswith(b" 0\r\n"):
        fail("gets: offset 0 as the CAS", b"VALUE events/group=a/partition=1 <flags> <bytes> 0", line)
    ok("gets: offset 0 as the CAS")
    raw.read_line()
    raw.expect("gets END", b"END\r\n")
    raw.roundtrip("seek back", b"seek events group=a offset=earliest\r\n", b"OFFSETS 0 0\r\n")

    a = read_all(c, TOPIC + "/group=a")
    b = read_all(c, TOPIC + "/group=b")
    eq("group a reads every record", sorted(v for _, v in values), sorted(a))
    eq("group b reads them too, independently", sorted(v for _, v in values), sorted(b))
    eq("nothing more for a", None, c.get(TOPIC + "/group=a"))
    # max=n: several VALUE lines in one reply.
    raw.roundtrip("seek one partition", b"seek events group=c partition=0 offset=2\r\n", b"OFFSETS 2\r\n")
    raw.send(b"get events/group=c/partition=0/max=3\r\n")
    n = 0
    while True:
        line = raw.read_line()
        if line == b"END\r\n":
            break
        raw.read_line()
        n += 1
    eq("max=3 from offset 2 of partition 0", 3, n)
    raw.roundtrip("seek to a time before everything", b"seek events group=c time=0\r\n", b"OFFSETS 0 0\r\n")
    future = int(time.time() * 1000) + 3600_000
    raw.send(b"seek events group=c time=%d\r\n" % future)
    line = raw.read_line()
    st = stats_logs(raw)
    ends = [int(st["events:%d:log_end_offset" % p]) for p in range(2)]
    eq("a time after everything is the log end", b"OFFSETS %d %d\r\n" % (ends[0], ends[1]), line)
    eq("records in the log", len(values), sum(ends))
    eq("group a's lag", "0", st["events:0:group:a:lag"])
    eq("log_start_offset", "0", st["events:0:log_start_offset"])
    raw.roundtrip("seek on no topic", b"seek nothing group=a offset=earliest\r\n", b"NOT_FOUND\r\n")

    raw.roundtrip("replay a", b"seek events group=a offset=earliest\r\n", b"OFFSETS 0 0\r\n")
    five = [c.get(TOPIC + "/group=a/partition=0") for _ in range(5)]
    eq("a read five", 5, len([v for v in five if v is not None]))
    eq("stats: a committed 5 in partition 0", "5", stats_logs(raw)["events:0:group:a:committed"])

    # Retention that deletes every record leaves an empty segment at the log end: the start moves
    # up to the end, which stays (offsets are never reused; the restart phase checks it again).
    raw.roundtrip("declare a brief topic", b"log brief retention_ms=300 segment_bytes=1024\r\n", b"OK\r\n")
    for i in range(3):
        raw.roundtrip("set brief %d" % i, b"set brief 0 0 2\r\nb%d\r\n" % i, b"STORED\r\n")
    eq("group a reads brief", [b"b0", b"b1", b"b2"], read_all(c, "brief/group=a"))
    deadline = time.monotonic() + 10
    while stats_logs(raw)["brief:0:log_start_offset"] != "3" and time.monotonic() < deadline:
        time.sleep(0.2)
    st = stats_logs(raw)
    eq("retention took every record: log_start_offset", "3", st["brief:0:log_start_offset"])
    eq("...log_end_offset stays", "3", st["brief:0:log_end_offset"])
    eq("...one (empty) segment", "1", st["brief:0:segments"])
    print("LOG PRODUCE CHECKS PASSED total=%d" % len(values))


def restart(port):
    raw = Conn()
    c = Client(("127.0.0.1", port), default_noreply=False)
    st = stats_logs(raw)
    total = sum(int(st["events:%d:log_end_offset" % p]) for p in range(2))
    eq("records back after the restart", 31, total)
    eq("group a's committed offset back", "5", st["events:0:group:a:committed"])
    eq("group a reads the other records", total - 5, len(read_all(c, TOPIC + "/group=a")))
    eq("group b has read everything", None, c.get(TOPIC + "/group=b"))
    eq("a new group reads all", total, len(read_all(c, TOPIC + "/group=d")))
    eq("appends continue", True, c.set(TOPIC + "/partition=0", b"after"))
    eq("b gets the new one", b"after", c.get(TOPIC + "/group=b"))
    st = stats_logs(raw)
    eq("brief's end is back after the restart: log_end_offset", "3", st["brief:0:log_end_offset"])
    eq("...log_start_offset", "3", st["brief:0:log_start_offset"])
    eq("...group a's committed offset, not past it", "3", st["brief:0:group:a:committed"])
    raw.roundtrip("an append to brief", b"set brief 0 0 5\r\nlater\r\n", b"STORED\r\n")
    raw.roundtrip("gets: the next offset, not one handed out before", b"gets brief/group=a\r\n",
                  b"VALUE brief/group=a 0 5 3\r\nlater\r\nEND\r\n")

    # Parked reads: /timeout= waits for the next append (or answers END when it passes).
    st = stats_logs(raw)
    ends = [int(st["events:%d:log_end_offset" % p]) for p in range(2)]
    raw.roundtrip("seek w to the end", b"seek events group=w offset=latest\r\n", b"OFFSETS %d %d\r\n" % (ends[0], ends[1]))
    t0 = time.monotonic()
    raw.roundtrip("a parked read that times out answers END", b"get events/group=w/timeout=300\r\n", b"END\r\n")
    waited = time.monotonic() - t0
    if waited < 0.25:
        fail("it waited its timeout", ">= 0.25 s", "%.3f s" % waited)
    ok("it waited its timeout (%.3f s)" % waited)
    w = Conn()
    w.send(b"gets events/group=w/partition=1/timeout=5000\r\n")
    w.expect_silence("parked while the partition has nothing new", 0.2)
    raw.roundtrip("an append on another connection", b"set events/partition=1 3 0 4\r\nwake\r\n", b"STORED\r\n")
    w.expect("the parked read is woken with it", b"VALUE events/group=w/partition=1/timeout=5000 3 4 %d\r\nwake\r\nEND\r\n" % ends[1])
    w.usable("after the parked read")
    # A topic deleted under a parked read answers it at once, with a missing topic's reply.
    raw.roundtrip("declare a topic to delete", b"log doomed\r\n", b"OK\r\n")
    w.send(b"get doomed/group=w/timeout=5000\r\n")
    w.expect_silence("parked on the topic", 0.2)
    t0 = time.monotonic()
    raw.roundtrip("delete the topic under the parked read", b"delete doomed\r\n", b"DELETED\r\n")
    missing = b"CLIENT_ERROR bad command line format\r\n"
    w.expect("the parked read is answered as a read of a missing topic", missing)
    waited = time.monotonic() - t0
    if waited > 2.0:
        fail("answered at once, not at its timeout", "< 2 s", "%.3f s" % waited)
    ok("answered at once (%.3f s)" % waited)
    raw.roundtrip("...the reply a read of the missing topic gets", b"get doomed/group=w/timeout=5000\r\n", missing)
    w.usable("after the deleted topic's read")
    print("LOG RESTART CHECKS PASSED")


if __name__ == "__main__":
    port = int(sys.argv[1])
    rawconn.ADDRESS = ("127.0.0.1", port)
    {"produce": produce, "restart": restart}[sys.argv[2]](port)
