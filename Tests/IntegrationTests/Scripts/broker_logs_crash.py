#!/usr/bin/env python3
"""Crash test of a topic: SIGKILL under a pipelined producer with --fsync=always, restart, read.

Starts swiftcached itself (`-p 0 -l 127.0.0.1 -U 0 --broker-port=PORT --data-dir=DIR
--fsync=always -t 2`, `-u nobody` as root), declares `log crashlog`, runs a producer that sends
`set crashlog 0 0 <n>` with sequence-numbered bodies in pipelined windows of 64 (the replies of a
window read before the next is sent; each STORED acknowledges the record on disk), SIGKILLs the
server once at least 3000 records were acknowledged (the producer still sending), restarts it on
the same directory and reads the topic with a new group (`gets crashlog/group=check/max=1000`):
  - the offsets are dense from 0 (offset i holds record i), the bodies intact and in order, no
    duplicates, nothing that was never sent;
  - every acknowledged record is there (records sent but unanswered at the kill may be too).
Bounded by a watchdog (55 s); every server it started is killed on every exit path.

Usage: broker_logs_crash.py --binary PATH --port PORT --data-dir DIR
"""

import socket
import sys
import threading
import time

import broker_common
from broker_common import all_records, kill_server, start_server
from rawconn import Conn, fail, ok

WINDOW = 64


def body(seq):
    return b"seq=%08d;" % seq + b"x" * (seq % 50)


def producer(port, state):
    """Sends windows of sets until the server dies; state["acked"] counts STORED replies."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(10)
    seq = 0
    buf = b""
    try:
        while True:
            out = b"".join(b"set crashlog 0 0 %d\r\n%s\r\n" % (len(body(i)), body(i)) for i in range(seq, seq + WINDOW))
            s.sendall(out)
            state["sent"] = seq + WINDOW
            for _ in range(WINDOW):
                while b"\r\n" not in buf:
                    d = s.recv(65536)
                    if not d:
                        return
                    buf += d
                line, buf = buf.split(b"\r\n", 1)
                if line != b"STORED":
                    state["bad"] = line
                    return
                state["acked"] += 1
            seq += WINDOW
    except OSError:
        return


def run(a, data_dir):
    server = start_server(a.binary, a.port, data_dir, 1, log_prefix="logs-")
    Conn().roundtrip("declare the topic", b"log crashlog retention_ms=-1\r\n", b"OK\r\n")
    state = {"acked": 0, "sent": 0, "bad": None}
    t = threading.Thread(target=producer, args=(a.port, state), daemon=True)
    t.start()
    deadline = time.monotonic() + 30
    while state["acked"] < 3000 and time.monotonic() < deadline and state["bad"] is None:
        time.sleep(0.01)
    if state["bad"] is not None:
        fail("every set is STORED", b"STORED", state["bad"])
    if state["acked"] < 3000:
        fail("3000 records acknowledged within 30 s", 3000, state["acked"])
    kill_server(server, "SIGKILL under the producer")
    t.join(timeout=10)
    acked, sent = state["acked"], state["sent"]
    ok("SIGKILL after %d records acknowledged (%d sent)" % (acked, sent))
    start_server(a.binary, a.port, data_dir, 2, log_prefix="logs-")
    records = all_records(Conn(), b"crashlog/group=check/max=1000")
    for i, (offset, data) in enumerate(records):
        if offset != i:
            fail("offsets dense from 0", i, offset)
        if data != body(i):
            fail("record %d intact, in order, once" % i, body(i), data)
    ok("offsets dense from 0, bodies intact and in order, no duplicates (%d records)" % len(records))
    if len(records) < acked:
        fail("every acknowledged record is back", ">= %d" % acked, len(records))
    ok("every acknowledged record is back (%d acknowledged, %d back, %d sent)" % (acked, len(records), sent))
    if len(records) > sent:
        fail("nothing that was never sent", "<= %d" % sent, len(records))
    ok("nothing that was never sent")
    print("LOG CRASH CHECKS PASSED")


if __name__ == "__main__":
    sys.exit(broker_common.main_with_servers("broker_logs_crash.py", run))
