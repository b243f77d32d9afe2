#!/usr/bin/env python3
"""XREADGROUP + XACK throughput on swiftcached's Redis port and redis-server side by side.

Per server: a stream of N entries (XADD s * f v, pipelined), a group g at 0, then one client
loops: a pipeline of DEPTH requests `XREADGROUP GROUP g c COUNT K STREAMS s >`, the IDs of the
replies parsed, one `XACK s g <ids...>`, until the stream is consumed. Prints entries read and
acked per second over the loop, the server's CPU ticks (1/100 s, utime+stime of PID) over it,
and the PEL left (0 when every XACK landed). One Python client on raw sockets: the client is a
large part of the time, so the ratio between the servers says more than the absolute rates.
It starts nothing: run both servers first (see BENCHMARKS.md), e.g.
  Tools/bench-stream-groups.py 16501:PID 16502:PID [entries] [count] [depth]
"""
import re
import socket
import sys
import time

ID = re.compile(rb"\*2\r\n\$\d+\r\n(\d+-\d+)\r\n")


def mb(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.sock.recv(1 << 20)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        """One whole reply's bytes (arrays, bulks, integers, nulls)."""
        line = self._line()
        out = [line, b"\r\n"]
        if line[:1] == b"$" and int(line[1:]) >= 0:
            n = int(line[1:]) + 2
            while len(self.buf) < n:
                self.buf += self.sock.recv(1 << 20)
            out.append(self.buf[:n])
            self.buf = self.buf[n:]
        elif line[:1] in (b"*", b"%") and int(line[1:]) > 0:
            for _ in range(int(line[1:]) * (2 if line[:1] == b"%" else 1)):
                out.append(self.reply())
        return b"".join(out)


def cpu(pid):
    if not pid:
        return 0
    f = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def main():
    targets = [t.split(":") for t in sys.argv[1:3]]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 200_000
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    depth = int(sys.argv[5]) if len(sys.argv) > 5 else 16
    for name, (port, pid) in zip(["swiftcached", "redis-server"], targets):
        c = Conn(int(port))
        c.send(mb("DEL", "s"))
        c.reply()
        for start in range(0, n, 10_000):
            k = min(10_000, n - start)
            c.send(mb("XADD", "s", "*", "f", "v") * k)
            for _ in range(k):
                c.reply()
        c.send(mb("XGROUP", "CREATE", "s", "g", "0"))
        c.reply()
        read = mb("XREADGROUP", "GROUP", "g", "c", "COUNT", count, "STREAMS", "s", ">") * depth
        done = 0
        ticks = cpu(pid)
        t0 = time.perf_counter()
        while done < n:
            c.send(read)
            ids = []
            for _ in range(depth):
                ids += ID.findall(c.reply())
            if not ids:
                break
            c.send(mb("XACK", "s", "g", *ids))
            c.reply()
            done += len(ids)
        elapsed = time.perf_counter() - t0
        ticks = cpu(pid) - ticks
        c.send(mb("XPENDING", "s", "g"))
        pending = c.reply().split(b"\r\n")[1]
        print("%s: %d entries read+acked in %.2f s = %.0f entries/s (COUNT %d, %d reads per XACK), server cpu_ticks=%d, PEL left %s"
              % (name, done, elapsed, done / elapsed, count, depth, ticks, pending.decode()))
        c.send(mb("DEL", "s"))
        c.reply()


if __name__ == "__main__":
    main()
