#!/usr/bin/env python3
"""Keyspace event `expired` for keys no RESP command read: taken by background expiry (redis's
active expire cycle; swiftcached's crawler and LRU maintainer), or found expired by a lookup on
the memcached port (swiftcached only: one keyspace behind both ports).

--mode background: a key set with PX 50 is never read; the subscriber must receive its
`expired` within 6 s (swiftcached's crawler passes every 2 s). Prints a transcript that
redis-server 7.0's equals.
--mode memcached --memcached-port M: a key set on the memcached port with exptime 1 and read
there after it expired gives one `expired`; a flushed key read the same way gives none.

Usage: resp_notify_expiry.py --port P --mode background|memcached [--memcached-port M]
"""

import argparse
import socket
import sys
import time

from resp_common import Conn, parse


def event(sub, wait):
    """The next `channel key` message, or None after `wait` seconds without one."""
    sub.sock.settimeout(wait)
    try:
        v = parse(sub.reply())
    except (socket.timeout, TimeoutError):
        return None
    return (v[2] + b" " + v[3]).decode()


def memcached(port, line, expect):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(line)
    buf = b""
    while not buf.endswith(expect):
        d = s.recv(4096)
        if not d:
            break
        buf += d
    s.close()
    return buf


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mode", choices=["background", "memcached"], required=True)
    ap.add_argument("--memcached-port", type=int)
    args = ap.parse_args()
    c = Conn(args.port)
    print("config", c.command("CONFIG", "SET", "notify-keyspace-events", "Ex"))
    sub = Conn(args.port)
    print("psubscribe", parse(sub.command("PSUBSCRIBE", "__keyevent@*__:expired")))
    ok = True
    if args.mode == "background":
        print("set", c.command("SET", "kb:bg", "1", "PX", "50"))
        got = event(sub, 6.0)
        print("background:", got)
        ok = got == "__keyevent@0__:expired kb:bg"
        print("dbsize", c.command("DBSIZE"))
    else:
        m = args.memcached_port
        print("set", memcached(m, b"set kb:mc 0 1 1\r\nv\r\n", b"\r\n"))
        print("set", memcached(m, b"set kb:fl 0 0 1\r\nv\r\n", b"\r\n"))
        time.sleep(2.2)
        print("get", memcached(m, b"get kb:mc\r\n", b"END\r\n"))
        got = event(sub, 2.0)
        print("memcached get:", got)
        ok = got == "__keyevent@0__:expired kb:mc"
        print("flush_all", memcached(m, b"flush_all\r\n", b"\r\n"))
        print("get", memcached(m, b"get kb:fl\r\n", b"END\r\n"))
        got = event(sub, 1.0)
        print("flushed get:", got)
        ok = ok and got is None
    print("EXPIRY CHECKS PASSED" if ok else "EXPIRY CHECKS FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
