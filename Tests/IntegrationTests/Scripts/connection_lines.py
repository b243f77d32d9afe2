#!/usr/bin/env python3
"""The connection lines of `stats` (curr_connections, total_connections, connection_structures)
as a fresh connection to each port sees them: first port, second port, first port again. Run
against swiftcached's cache and broker ports and against memcached listening on two ports; the
black-box test compares them (one server's listeners and connections, counted on every port).

Usage: connection_lines.py --first P1 --second P2
"""

import argparse
import time

import rawconn


def lines(port):
    keep = ("curr_connections", "total_connections", "connection_structures")
    st = rawconn.stats_dict(port)
    return " ".join("STAT %s %s" % (k, st[k]) for k in keep if k in st)


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
