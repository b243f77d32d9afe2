#!/usr/bin/env python3
"""Group members' session timeout and revocation on the broker port (issue 15):
  - `log sess partitions=2 session_timeout_ms=400` declares the timeout (Kafka's default 45000);
  - member a joins with a read and then only sends `version` every 100 ms for 1.5 s: any request
    is its heartbeat, it stays a member; silent for 1 s it leaves (`log_group_members_expired`)
    and `stats logs` shows no member;
  - a rebalance revokes open reads: a (alone) opens records of both partitions, b joins and reads
    at once the records of its partition that a held open (`log_open_revoked`), and a's `/close`
    then confirms only partition 0's;
  - a read parked with `/timeout=` 4 s keeps its member for 1.5 s (the poll is the heartbeat).

Usage: broker_log_sessions.py --port P   (prints `LOG SESSION CHECKS PASSED` at the end)
"""

import sys
import time

from broker_common import eq, stats_logs, values
from rawconn import Conn, run


def declare():
    admin = Conn()
    admin.roundtrip("declare with a session timeout", b"log sess partitions=2 session_timeout_ms=400\r\n", b"OK\r\n")
    admin.roundtrip("a bad session timeout", b"log other session_timeout_ms=0\r\n", b"CLIENT_ERROR bad log option\r\n")
    for p in range(2):
        for i in range(3):
            admin.roundtrip("set p%d r%d" % (p, i), b"set sess/partition=%d 0 0 4\r\np%dr%d\r\n" % (p, p, i),
                            b"STORED\r\n")


def heartbeats():
    """Requests keep a member that does not read."""
    admin, a = Conn(), Conn()
    eq("a joins", [b"p0r0"], values(a, b"sess/group=hb/consumer=a/partition=0"))
    for _ in range(15):
        time.sleep(0.1)
        a.line("a's version", b"version\r\n", rb"VERSION \S+")
    st = stats_logs(admin)
    eq("a is still a member after 1.5 s of requests without a read", "1", st.get("sess:group:hb:members"))
    time.sleep(1.0)
    st = stats_logs(admin)
    eq("a silent for 1 s (timeout 0.4 s) left", "0", st.get("sess:group:hb:members"))
    eq("counted as expired", True, int(st["log_group_members_expired"]) >= 1)


def parked():
    """A read parked with /timeout= longer than the session timeout keeps its member (the poll is
    the heartbeat), and is then answered by an append."""
    admin, a = Conn(), Conn()
    eq("a joins group pk and reads everything", 6, len(values(a, b"sess/group=pk/consumer=a/max=10")))
    generation = stats_logs(admin)["sess:group:pk:generation"]
    a.send(b"get sess/group=pk/consumer=a/timeout=4000\r\n")
    time.sleep(1.5)
    st = stats_logs(admin)
    eq("a, parked for 1.5 s (timeout 0.4 s), is still a member", "1", st.get("sess:group:pk:members"))
    # (an expiry would rebalance, and the woken read join again: two generations on)
    eq("...it never left: the group's generation is the same", generation, st["sess:group:pk:generation"])
    admin.roundtrip("an append", b"set sess/partition=1 0 0 4\r\npark\r\n", b"STORED\r\n")
    a.expect("answers the parked read", b"VALUE sess/group=pk/consumer=a/timeout=4000 0 4\r\npark\r\nEND\r\n")
    eq("...still one member", "1", stats_logs(admin).get("sess:group:pk:members"))


def revocation():
    """b's join takes partition 1 and a's open records there."""
    admin, a2, b = Conn(), Conn(), Conn()
    got = values(a2, b"sess/group=rv/consumer=a/open/max=4")
    eq("a alone opens records of both partitions", [b"p0r0", b"p0r1", b"p0r2", b"p1r0"], got)
    eq("b joins and reads a's revoked record of partition 1 first", [b"p1r0", b"p1r1", b"p1r2"],
       values(b, b"sess/group=rv/consumer=b/max=10"))
    st = stats_logs(admin)
    eq("log_open_revoked", "1", st["log_open_revoked"])
    eq("a's close confirms what it still holds", [], values(a2, b"sess/group=rv/consumer=a/close"))
    st = stats_logs(admin)
    eq("committed offsets", ("3", "3"), (st["sess:0:group:rv:committed"], st["sess:1:group:rv:committed"]))


if __name__ == "__main__":
    sys.exit(run([declare, heartbeats, revocation, parked], "LOG SESSION CHECKS PASSED"))
