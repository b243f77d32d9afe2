#!/usr/bin/env python3
"""Append and read throughput of a topic on the broker port, one client, pipelined.

Appends N records of SIZE bytes with `set <topic> 0 0 SIZE` in pipelined windows of WINDOW
requests (one sendall per window, then its WINDOW `STORED` lines read), then reads them back
with one group: `get <topic>/group=bench/max=MAX` until END alone. Prints records/s for both.
The client is Python: its own cost is in the figures (it bounds them from below).

With --batch N the producer sends `produce <topic> 0 N <bytes>` batches of N records instead
(WINDOW batches per sendall, their `PRODUCED` lines read after), and --read-pipeline K keeps K
batch reads (`get .../max=MAX`) in flight. --pid PID adds the server's CPU time per record
(user + system, from /proc/PID/stat).

Usage: log_bench.py PORT [--records 500000] [--size 100] [--window 1000] [--max 1000] [--topic bench]
                    [--batch N] [--read-pipeline K] [--pid PID]
"""
import argparse
import os
import socket
import time

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("--records", type=int, default=500000)
ap.add_argument("--size", type=int, default=100)
ap.add_argument("--window", type=int, default=1000)
ap.add_argument("--max", type=int, default=1000)
ap.add_argument("--topic", default="bench")
ap.add_argument("--pid", type=int, help="the server's pid: also print its CPU time per record")
ap.add_argument("--batch", type=int, default=0, help="records per `produce` batch (0: one `set` per record)")
ap.add_argument("--read-pipeline", type=int, default=1, help="batch reads in flight")
a = ap.parse_args()


def cpu():
    """The server's user + system CPU seconds (0 without --pid)."""
    if not a.pid:
        return 0.0
    with open("/proc/%d/stat" % a.pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cost(c0, n):
    return " (server CPU %.2f us/record)" % ((cpu() - c0) * 1e6 / n) if a.pid and n else ""

s = socket.create_connection(("127.0.0.1", a.port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def command(line):
    s.sendall(line)
    buf = b""
    while not buf.endswith(b"\r\n"):
        buf += s.recv(4096)
    return buf


print(command(b"log %s partitions=1 retention_ms=-1\r\n" % a.topic.encode()).strip().decode())
value = b"v" * a.size
if a.batch:
    record = b"%d\r\n%s\r\n" % (a.size, value)
    block = record * a.batch
    one = b"produce %s 0 %d %d\r\n%s\r\n" % (a.topic.encode(), a.batch, len(block), block)
    per = a.batch
else:
    one = b"set %s 0 0 %d\r\n%s\r\n" % (a.topic.encode(), a.size, value)
    per = 1
window = one * a.window
t0 = time.perf_counter()
c0 = cpu()
sent = 0
buf = b""
while sent < a.records:
    s.sendall(window)
    lines = 0
    while lines < a.window:
        chunk = s.recv(1 << 20)
        if not chunk:
            raise SystemExit("server closed the connection")
        buf += chunk
        lines = buf.count(b"\r\n")
    if not (buf.startswith(b"STORED") or buf.startswith(b"PRODUCED")):
        raise SystemExit("unexpected reply: %r" % buf[:80])
    buf = b""
    sent += a.window * per
t1 = time.perf_counter()
print("append: %d records of %d bytes in %.3f s = %.0f records/s%s" % (sent, a.size, t1 - t0, sent / (t1 - t0), cost(c0, sent)))

request = b"get %s/group=bench/max=%d\r\n" % (a.topic.encode(), a.max)
read = 0
buf = b""
t0 = time.perf_counter()
c0 = cpu()
k = max(1, a.read_pipeline)
while True:
    s.sendall(request * k)
    ends = 0
    while ends < k:
        chunk = s.recv(1 << 22)
        if not chunk:
            raise SystemExit("server closed the connection")
        buf += chunk
        if buf.endswith(b"END\r\n"):
            ends = buf.count(b"END\r\n")
    n = buf.count(b"VALUE ")
    buf = b""
    if n == 0:
        break
    read += n
t1 = time.perf_counter()
print("read: %d records in %.3f s = %.0f records/s%s" % (read, t1 - t0, read / (t1 - t0), cost(c0, read)))
