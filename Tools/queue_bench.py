#!/usr/bin/env python3
"""Queue throughput on the broker port, one client, pipelined (log_bench.py's shape for queues).

Sends N `set q 0 0 100` in pipelined windows of WINDOW requests (one sendall per window, then its
STORED lines read), then N `get q` the same way. Prints messages/s, the server's CPU per message
(utime+stime of PID) and `broker_fsyncs` over each phase (messages per fsync with --fsync=always).

Usage: queue_bench.py PORT PID N WINDOW
"""
import os, socket, sys, time
port, pid, n, window = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def cpu():
    with open("/proc/%d/stat" % pid) as f:
        x = f.read().rsplit(")", 1)[1].split()
    return (int(x[11]) + int(x[12])) / os.sysconf("SC_CLK_TCK")
def stat(name):
    c = socket.create_connection(("127.0.0.1", port)); c.sendall(b"stats\r\n"); b = b""
    while not b.endswith(b"END\r\n"): b += c.recv(65536)
    for l in b.decode().split("\r\n"):
        p = l.split(" ")
        if len(p) == 3 and p[1] == name: return int(p[2])
s = socket.create_connection(("127.0.0.1", port)); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
def phase(req, reply_end):
    f0, c0, t0 = stat("broker_fsyncs"), cpu(), time.perf_counter()
    done = 0
    while done < n:
        s.sendall(req * window); got = b""; seen = 0
        while seen < window:
            chunk = s.recv(1 << 20); got += chunk; seen = got.count(reply_end)
        done += window
    t1 = time.perf_counter()
    return n / (t1 - t0), (cpu() - c0) * 1e6 / n, stat("broker_fsyncs") - f0
r = phase(b"set q 0 0 100\r\n" + b"v" * 100 + b"\r\n", b"STORED\r\n")
print("queue set: %.0f msgs/s (server %.2f us/msg), %d fsyncs (%.1f msgs/fsync)" % (r[0], r[1], r[2], n / max(r[2], 1)))
r = phase(b"get q\r\n", b"END\r\n")
print("queue get: %.0f msgs/s (server %.2f us/msg), %d fsyncs (%.1f msgs/fsync)" % (r[0], r[1], r[2], n / max(r[2], 1)))
