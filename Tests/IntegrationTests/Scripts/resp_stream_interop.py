#!/usr/bin/env python3
"""A Redis stream is a topic of the broker port: entries XADDed on the RESP port (database 0) are
read by a consumer group on the broker port (`get <stream>/group=<g>/max=<n>`), each as a record
whose key is the entry's 16-byte ID, flags 88 and value the fields as a RESP array; a stream made
in another database is not a topic; DEL of the stream takes the topic away (`stats logs`).

Usage: resp_stream_interop.py --redis-port R --broker-port B   (prints facts as JSON, last line)
"""

import argparse
import json
import socket
import struct

from resp_common import Conn, mb, parse


def broker_lines(sock, request, end=b"END\r\n"):
    sock.sendall(request)
    data = b""
    while not data.endswith(end):
        d = sock.recv(1 << 16)
        if not d:
            break
        data += d
    return data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--redis-port", type=int, required=True)
    ap.add_argument("--broker-port", type=int, required=True)
    args = ap.parse_args()
    r = Conn(args.redis_port)
    ids = [parse(r.command("XADD", "xi_s", "*", "field", "value%d" % i, "n", str(i))) for i in range(3)]
    r.command("SELECT", 1)
    r.command("XADD", "xi_other", "*", "f", "v")
    r.command("SELECT", 0)
    b = socket.create_connection(("127.0.0.1", args.broker_port))
    stats = broker_lines(b, b"stats logs\r\n")
    got = broker_lines(b, b"get xi_s/group=g/max=10\r\n")
    records = []
    rest = got
    while rest.startswith(b"VALUE "):
        head, rest = rest.split(b"\r\n", 1)
        n = int(head.split()[-1])
        flags = int(head.split()[2])
        records.append((flags, rest[:n]))
        rest = rest[n + 2:]
    expected = [b"*4\r\n$5\r\nfield\r\n$6\r\nvalue%d\r\n$1\r\nn\r\n$1\r\n%d\r\n" % (i, i) for i in range(3)]
    again = broker_lines(b, b"get xi_s/group=g/max=10\r\n")
    r.command("DEL", "xi_s")
    after = broker_lines(b, b"stats logs\r\n")
    facts = {
        "ids": [i.decode() for i in ids],
        "topic_listed": b"STAT log_topics 1\r\n" in stats and b"xi_s:partitions 1" in stats,
        "other_db_not_topic": b"xi_other" not in stats,
        "records": len(records),
        "flags": sorted({f for f, _ in records}),
        "values_match": [v for _, v in records] == expected,
        "read_again_empty": again == b"END\r\n",
        "topic_gone_after_del": b"STAT log_topics 0\r\n" in after,
    }
    print(json.dumps(facts))


if __name__ == "__main__":
    main()
