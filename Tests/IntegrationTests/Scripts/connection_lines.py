#!/usr/bin/env python3
"""The connection lines of `stats` (curr_connections, total_connections, connection_structures)
as a fresh connection to each port sees them: first port, second port, first port again. Run
against swiftcached's cache and broker ports and against memcached listening on two ports; the
black-box test compares them (one server's listeners and connections, counted on every port).

Usage: connection_lines.py --first P1 --second P2
"""

import argparse
import socket
import time


def lines(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"stats\r\n")
    b = b""
    while not b.endswith(b"END\r\n"):
        d = s.recv(65536)
        if not d:
            break
        b += d
    s.close()
    keep = ("curr_connections", "total_connections", "connection_structures")
    return " ".join(l for l in b.decode().split("\r\n") if l.split(" ")[1:2] and l.split(" ")[1] in keep)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--first", type=int, required=True)
    ap.add_argument("--second", type=int, required=True)
    a = ap.parse_args()
    for name, port in (("first", a.first), ("second", a.second), ("first", a.first)):
        print(name, lines(port))
        # The server takes the closed connection out on its own worker: give it the time, so that
        # the next connection is not counted beside it (connection_structures is a high-water mark).
        time.sleep(0.3)


if __name__ == "__main__":
    main()
