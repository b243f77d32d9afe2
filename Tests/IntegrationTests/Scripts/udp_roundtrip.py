#!/usr/bin/env python3
"""memcached's UDP transport (-U): 8-byte frame headers, replies split into datagrams of at most
1400 payload bytes and reassembled by sequence number.

Usage: udp_roundtrip.py --port P --tcp-port T [--host 127.0.0.1]
"""
import argparse
import socket
import struct
import sys
import time

from rawconn import fail, ok

ARGS = None


def request(sock, rid, payload, total=1, timeout=3.0):
    sock.sendto(struct.pack(">HHHH", rid, 0, total, 0) + payload, (ARGS.host, ARGS.port))
    parts = {}
    count = None
    deadline = time.monotonic() + timeout
    while count is None or len(parts) < count:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            data, _ = sock.recvfrom(70000)
        except socket.timeout:
            fail("reply to request %d within %.0f s" % (rid, timeout), "datagrams", "%d of %s" % (len(parts), count))
        r, seq, n, reserved = struct.unpack(">HHHH", data[:8])
        if r != rid:
            continue  # a late datagram of an earlier request
        if len(data) - 8 > 1400:
            fail("datagram payload at most 1400 bytes", 1400, len(data) - 8)
        count = n
        parts[seq] = data[8:]
    if sorted(parts) != list(range(count)):
        fail("sequence numbers 0..n-1", list(range(count)), sorted(parts))
    return b"".join(parts[i] for i in range(count)), count


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--tcp-port", type=int, required=True)
    ARGS = ap.parse_args()
    start = time.monotonic()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    reply, n = request(s, 1, b"set foo 5 0 3\r\nbar\r\n")
    if reply != b"STORED\r\n" or n != 1:
        fail("set over UDP", b"STORED\r\n", reply)
    ok("set over UDP -> STORED in one datagram")
    reply, n = request(s, 2, b"get foo\r\n")
    if reply != b"VALUE foo 5 3\r\nbar\r\nEND\r\n":
        fail("get over UDP", b"VALUE foo 5 3\r\nbar\r\nEND\r\n", reply)
    ok("get over UDP")
    big = bytes((i * 7) % 251 for i in range(5000)).replace(b"\r", b"x").replace(b"\n", b"y")
    reply, n = request(s, 3, b"set big 0 0 5000\r\n" + big + b"\r\n")
    if reply != b"STORED\r\n":
        fail("set of 5000 bytes in one datagram", b"STORED\r\n", reply)
    reply, n = request(s, 4, b"get big\r\n")
    want = b"VALUE big 0 5000\r\n" + big + b"\r\nEND\r\n"
    if reply != want or n != (len(want) + 1399) // 1400:
        fail("a 5000-byte value comes back in %d datagrams" % ((len(want) + 1399) // 1400), len(want), (len(reply), n))
    ok("a 5000-byte value comes back split into %d datagrams, reassembled byte for byte" % n)
    reply, _ = request(s, 5, b"set q 0 0 1 noreply\r\n1\r\nget q\r\n")
    if reply != b"VALUE q 0 1\r\n1\r\nEND\r\n":
        fail("noreply set then get in one datagram", b"VALUE q 0 1\r\n1\r\nEND\r\n", reply)
    ok("noreply set then get in one datagram")
    # A reply longer than 65,535 datagrams cannot be framed: refused, not built.
    tcp = socket.create_connection((ARGS.host, ARGS.tcp_port))
    tcp.sendall(b"set huge 0 0 1000000\r\n" + b"h" * 1000000 + b"\r\n")
    got = b""
    while not got.endswith(b"\r\n"):
        got += tcp.recv(100)
    tcp.close()
    if got != b"STORED\r\n":
        fail("1 MB value stored over TCP", b"STORED\r\n", got)
    reply, _ = request(s, 7, b"get" + b" huge" * 100 + b"\r\n")
    if reply != b"SERVER_ERROR out of memory writing get response\r\n":
        fail("a 100 MB UDP reply is refused", b"SERVER_ERROR out of memory writing get response\r\n", reply[:80])
    ok("a reply too long for the UDP frame (100 MB) is refused")
    reply, _ = request(s, 6, b"version\r\n", total=2)
    if reply != b"SERVER_ERROR multi-packet request not supported\r\n":
        fail("a multi-datagram request is refused", b"SERVER_ERROR multi-packet request not supported\r\n", reply)
    ok("a multi-datagram request is refused")
    print("ALL UDP CHECKS PASSED (%.1f s)" % (time.monotonic() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
