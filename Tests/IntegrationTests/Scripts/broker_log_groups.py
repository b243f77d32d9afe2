#!/usr/bin/env python3
"""Consumer groups, reliable reads and batch appends on a topic, through pymemcache 4.0.0 and raw
sockets, and committed offsets across kill -9 with --fsync=always.

Starts swiftcached itself (`--broker-port=PORT --data-dir=DIR --fsync=always
--visibility-timeout=1500 -t 2`, `-u nobody` as root) and checks:
  - `produce` appends a batch to one partition (`PRODUCED <p> <first offset> <count>`); a block
    that does not match its count is refused and appends nothing;
  - membership: consumer a (pymemcache) joins alone and owns the four partitions; b joins
    (another connection) and the range assignor splits them (a: 0,1; b: 2,3); an anonymous read
    is refused while the group has members; b's connection closes and a owns all four again and
    reads b's partitions; `stats logs` shows members, generation, owners, committed and lag;
  - reliable reads: `/open` keeps the committed offset, `/abort` and a disconnect make the group
    read the records again, a visibility timeout too, `/close` commits; a second `/open` before
    closing is refused;
  - kill -9: a group's plain reads and a `/close` are committed before their replies; after
    SIGKILL and a restart the group resumes at the committed offset (its unclosed open read is
    read again), and so does stats' committed.
Bounded by a watchdog (55 s); every server it started is killed on every exit path.

Usage: broker_log_groups.py --binary PATH --port PORT --data-dir DIR
"""

import os
import sys
import time

import broker_common
from broker_common import eq, kill_server, records, start_server, stats, stats_logs
from rawconn import Conn, fail, ok

Client = broker_common.import_pymemcache()
T = b"grp"
GROUP_SERVER = ["--visibility-timeout=1500"]


def value(p, i):
    return b"p%d-r%02d" % (p, i)


def produce_to(c, topic, values):
    block = b"".join(b"%d\r\n%s\r\n" % (len(v), v) for v in values)
    c.send(b"produce %s 0 %d %d\r\n%s\r\n" % (topic, len(values), len(block), block))
    return c.read_line()


def produce(c, p, values):
    return produce_to(c, b"%s/partition=%d" % (T, p), values)


def run(a, data_dir):
    server = start_server(a.binary, a.port, data_dir, 1, GROUP_SERVER, "groups-")
    admin = Conn()
    admin.roundtrip("declare a four-partition topic", b"log grp partitions=4 retention_ms=-1\r\n", b"OK\r\n")

    # produce: batches of ten to each partition.
    for p in range(4):
        eq("produce 10 records to partition %d" % p, b"PRODUCED %d 0 10\r\n" % p,
           produce(admin, p, [value(p, i) for i in range(10)]))
    admin.send(b"produce grp 0 3 7\r\n2\r\nab\r\n\r\n")
    eq("a block holding fewer records than announced is refused", b"CLIENT_ERROR bad batch format\r\n", admin.read_line())
    admin.roundtrip("produce on a name that is no topic", b"produce nosuch 0 1 6\r\n1\r\nx\r\n\r\n", b"NOT_FOUND\r\n")
    eq("nothing appended by the refused batch", "10", stats_logs(admin)["grp:0:log_end_offset"])

    # membership through pymemcache.
    ca = Client(("127.0.0.1", a.port), timeout=5, no_delay=True)
    eq("consumer a alone reads partition 0 first", value(0, 0), ca.get("grp/group=g/consumer=a"))
    s = stats_logs(admin)
    eq("a owns every partition", "0,1,2,3", s["grp:group:g:member:a:partitions"])
    cb = Client(("127.0.0.1", a.port), timeout=5, no_delay=True)
    eq("consumer b joins and reads its first partition (2)", value(2, 0), cb.get("grp/group=g/consumer=b"))
    s = stats_logs(admin)
    eq("range assignment: a 0,1", "0,1", s["grp:group:g:member:a:partitions"])
    eq("range assignment: b 2,3", "2,3", s["grp:group:g:member:b:partitions"])
    eq("two members", "2", s["grp:group:g:members"])
    eq("partition 3's owner is b", "b", s["grp:3:group:g:owner"])
    admin.roundtrip("an anonymous read while the group has members is refused", b"get grp/group=g\r\n",
                    b"CLIENT_ERROR group has members; read with /consumer=<name>\r\n")
    admin.roundtrip("a partition of another member is refused", b"get grp/group=g/consumer=a/partition=2\r\n",
                    b"CLIENT_ERROR partition not assigned to this consumer\r\n")
    gen = int(s["grp:group:g:generation"])
    cb.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        s = stats_logs(admin)
        if s.get("grp:group:g:members") == "1":
            break
        time.sleep(0.05)
    eq("b's disconnect leaves a alone", "1", s.get("grp:group:g:members"))
    eq("a owns every partition again", "0,1,2,3", s["grp:group:g:member:a:partitions"])
    eq("the rebalance bumped the generation", gen + 1, int(s["grp:group:g:generation"]))
    got = ca.get_many(["grp/group=g/consumer=a/partition=2"])
    eq("a reads b's partition from its committed offset", {"grp/group=g/consumer=a/partition=2": value(2, 1)}, got)
    eq("committed offset of partition 2", "2", stats_logs(admin)["grp:2:group:g:committed"])
    eq("lag of partition 2", "8", stats_logs(admin)["grp:2:group:g:lag"])
    ca.close()

    # reliable reads (group r, partition 0).
    x, y = Conn(), Conn()
    eq("open reads 3", [(0, value(0, 0)), (1, value(0, 1)), (2, value(0, 2))], records(x, b"grp/group=r/partition=0/open/max=3"))
    s = stats_logs(admin)
    eq("an open read is not committed", "0", s["grp:0:group:r:committed"])
    eq("stats shows it open", "3", s["grp:0:group:r:open"])
    x.roundtrip("a second open before closing is refused", b"get grp/group=r/partition=0/open\r\n",
                b"CLIENT_ERROR close or abort the open read first\r\n")
    x.roundtrip("abort", b"get grp/group=r/partition=0/abort\r\n", b"END\r\n")
    eq("another reader gets the aborted records again", [(0, value(0, 0)), (1, value(0, 1))],
       records(y, b"grp/group=r/partition=0/open/max=2"))
    eq("close and open the next in one request", [(2, value(0, 2))], records(y, b"grp/group=r/partition=0/close/open"))
    eq("the close committed", "2", stats_logs(admin)["grp:0:group:r:committed"])
    y.roundtrip("close", b"get grp/group=r/partition=0/close\r\n", b"END\r\n")
    eq("committed after close", "3", stats_logs(admin)["grp:0:group:r:committed"])
    eq("x opens 3..5", [3, 4, 5], [o for o, _ in records(x, b"grp/group=r/partition=0/open/max=3")])
    x.close()
    # The server sees the hang-up when its worker next reads the socket: wait for the open read
    # to be sent back (stats stops showing it) before reading.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "grp:0:group:r:open" in stats_logs(admin):
        time.sleep(0.02)
    eq("x's disconnect sent its open read back", None, stats_logs(admin).get("grp:0:group:r:open"))
    got = records(y, b"grp/group=r/partition=0/open/max=3")
    eq("x's disconnect: the group reads 3..5 again", [3, 4, 5], [o for o, _ in got])
    y.roundtrip("close them", b"get grp/group=r/partition=0/close\r\n", b"END\r\n")
    eq("y opens 6", [6], [o for o, _ in records(y, b"grp/group=r/partition=0/open")])
    z = Conn()
    eq("before the visibility timeout nobody else gets 6", [7], [o for o, _ in records(z, b"grp/group=r/partition=0")])
    time.sleep(2.0)
    eq("after the visibility timeout (1.5 s) 6 is read again", [6], [o for o, _ in records(z, b"grp/group=r/partition=0")])
    eq("a confirmation of a timed-out read confirms nothing", b"END\r\n",
       (y.send(b"get grp/group=r/partition=0/close\r\n"), y.read_line())[1])
    s = stats_logs(admin)
    if int(s["log_open_redelivered"]) < 6 or int(s["log_open_visibility_timeouts"]) < 1:
        fail("redelivery counters", ">= 6 and >= 1", (s["log_open_redelivered"], s["log_open_visibility_timeouts"]))
    ok("log_open_redelivered %s, log_open_visibility_timeouts %s" % (s["log_open_redelivered"], s["log_open_visibility_timeouts"]))

    # kill -9 keeps committed offsets (group k, partition 1).
    k = Conn()
    eq("k reads 4 (committed before the reply)", [0, 1, 2, 3], [o for o, _ in records(k, b"grp/group=k/partition=1/max=4")])
    eq("k opens 3", [4, 5, 6], [o for o, _ in records(k, b"grp/group=k/partition=1/open/max=3")])
    eq("k closes them and opens 2 more", [7, 8], [o for o, _ in records(k, b"grp/group=k/partition=1/close/open/max=2")])
    kill_server(server, "SIGKILL")
    start_server(a.binary, a.port, data_dir, 2, GROUP_SERVER, "groups-")
    admin = Conn()
    eq("after the restart k's committed offset is 7", "7", stats_logs(admin)["grp:1:group:k:committed"])
    eq("k resumes at 7: the unclosed open read comes again", [7, 8, 9],
       [o for o, _ in records(admin, b"grp/group=k/partition=1/max=100")])
    eq("group r's commits are back too", [8, 9], [o for o, _ in records(admin, b"grp/group=r/partition=0/max=100")])

    # The held-reply cap: 100 pipelined 10 KB reads under --fsync=always. Each commits, so its
    # reply waits for an fsync; the connection goes on executing the pipeline with the -R budget
    # (20) waived while under 256 KB is held, and is stopped at the check after 40 reads (400 KB).
    admin.roundtrip("declare capt", b"log capt\r\n", b"OK\r\n")
    for _ in range(4):
        eq("produce 250 records of 1000 bytes", b"PRODUCED 0",
           produce_to(admin, b"capt", [b"x" * 1000] * 250)[:10])
    c = Conn()
    c.send(b"gets capt/group=c/max=10\r\n" * 100)
    got = [o for _ in range(100) for o, _ in records(c, None, send=False)]
    eq("100 pipelined reads of 10 records answered in order", list(range(1000)), got)
    general = stats(c)
    if int(general.get("broker_held_reply_cap", "0")) < 1:
        fail("the held-reply cap acted and was counted", ">= 1", general.get("broker_held_reply_cap"))
    ok("broker_held_reply_cap %s" % general["broker_held_reply_cap"])

    # Topic deletion: the topic, its files and its commits go; the name is free for a queue.
    admin.roundtrip("delete a topic", b"delete capt\r\n", b"DELETED\r\n")
    s = stats_logs(admin)
    eq("the topic is gone from stats logs", None, s.get("capt:partitions"))
    eq("log_topics_deleted", "1", s["log_topics_deleted"])
    if os.path.exists(os.path.join(data_dir, "logs", "capt")):
        fail("the topic's directory is removed", "absent", "present")
    ok("the topic's directory is removed")
    admin.roundtrip("the name now makes a queue", b"set capt 0 0 1\r\nq\r\n", b"STORED\r\n")
    admin.roundtrip("a topic cannot take a queue's name", b"log capt\r\n", b"CLIENT_ERROR capt is a queue\r\n")
    admin.roundtrip("delete the queue", b"delete capt\r\n", b"DELETED\r\n")
    admin.roundtrip("declare the topic again", b"log capt\r\n", b"OK\r\n")
    s = stats_logs(admin)
    eq("a new topic under the name: no records", "0", s.get("capt:0:log_end_offset"))
    eq("a new topic under the name: no old commits", None, s.get("capt:0:group:c:committed"))
    admin.roundtrip("delete of nothing", b"delete nothing-here\r\n", b"NOT_FOUND\r\n")
    print("LOG GROUP CHECKS PASSED")


if __name__ == "__main__":
    sys.exit(broker_common.main_with_servers("broker_log_groups.py", run))
