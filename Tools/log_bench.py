#!/usr/bin/env python3
"""Append and read throughput of a topic on the broker port, one client, pipelined.

Appends N records of SIZE bytes with `set <topic> 0 0 SIZE` in pipelined windows of WINDOW
requests (one sendall per window, then its WINDOW `STORED` lines read), then reads them back
with one group: `get <topic>/group=bench/max=MAX` until END alone. Prints records/s for both.
The client is Python: its own cost is in the figures (it bounds them from below).

Usage: log_bench.py PORT [--records 500000] [--size 100] [--window 1000] [--max 1000] [--topic bench]
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
one = b"set %s 0 0 %d\r\n%s\r\n" % (a.topic.encode(), a.size, value)
window = one * a.window
reply = b"STORED\r\n" * a.window
t0 = time.perf_counter()
c0 = cpu()
sent = 0
while sent < a.records:
    s.sendall(window)
    want = len(reply)
    got = 0
    while got < want:
        chunk = s.recv(1 << 20)
        got += len(chunk)
    sent += a.window
t1 = time.perf_counter()
print("append: %d records of %d bytes in %.3f s = %.0f records/s%s" % (sent, a.size, t1 - t0, sent / (t1 - t0), cost(c0, sent)))

request = b"get %s/group=bench/max=%d\r\n" % (a.topic.encode(), a.max)
read = 0
buf = b""
t0 = time.perf_counter()
c0 = cpu()
while True:
    s.sendall(request)
    while not buf.endswith(b"END\r\n"):
        buf += s.recv(1 << 20)
    n = buf.count(b"\r\nVALUE ") + (1 if buf.startswith(b"VALUE ") else 0)
    buf = b""
    if n == 0:
        break
    read += n
t1 = time.perf_counter()
print("read: %d records in %.3f s = %.0f records/s%s" % (read, t1 - t0, read / (t1 - t0), cost(c0, read)))
