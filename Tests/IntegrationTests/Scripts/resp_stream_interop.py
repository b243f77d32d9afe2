#!/usr/bin/env python3
"""A Redis stream is a topic of the broker port: entries XADDed on the RESP port (database 0) are
read by a consumer group on the broker port (`get <stream>/group=<g>/max=<n>`), each as a record
whose key is the entry's 16-byte ID, flags 88 and value the fields as a RESP array; a stream made
in another database is not a topic; DEL of the stream takes the topic away (`stats logs`). And the
other way: a one-partition topic declared on the broker port (`log`) is a stream XLEN, XRANGE and
XREADGROUP read (its records' fields `value`, and `key` first when keyed; IDs given in order), an
XADD to it is a record the broker's groups read, and DEL of the key leaves the topic.

Usage: resp_stream_interop.py --redis-port R --broker-port B   (prints facts as JSON, last line)
"""

import argparse
import json
import socket
import struct
import time

from resp_common import Conn, broker_request, mb, parse


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
    stats = broker_request(b, b"stats logs\r\n")
    got = broker_request(b, b"get xi_s/group=g/max=10\r\n")
    records = []
    rest = got
    while rest.startswith(b"VALUE "):
        head, rest = rest.split(b"\r\n", 1)
        n = int(head.split()[-1])
        flags = int(head.split()[2])
        records.append((flags, rest[:n]))
        rest = rest[n + 2:]
    expected = [b"*4\r\n$5\r\nfield\r\n$6\r\nvalue%d\r\n$1\r\nn\r\n$1\r\n%d\r\n" % (i, i) for i in range(3)]
    again = broker_request(b, b"get xi_s/group=g/max=10\r\n")
    # The broker port cannot delete a stream's topic under it: the key's DEL does.
    refused = broker_request(b, b"delete xi_s\r\n", end=b"\r\n")
    # Nor re-declare it: a retention set there would remove entries behind the stream's length.
    redeclared = broker_request(b, b"log xi_s retention_ms=1\r\n", end=b"\r\n")
    time.sleep(0.3)
    still = int(r.command("XLEN", "xi_s")[1:-2])
    still_read = len(parse(r.command("XRANGE", "xi_s", "-", "+")))
    r.command("DEL", "xi_s")
    after = broker_request(b, b"stats logs\r\n")
    # The other way round: a topic declared on the broker port.
    broker_request(b, b"log xi_t\r\n", end=b"OK\r\n")
    broker_request(b, b"set xi_t 0 0 5\r\nhello\r\nset xi_t/key=k1 0 0 3\r\nabc\r\n", end=b"STORED\r\nSTORED\r\n")
    xlen = int(r.command("XLEN", "xi_t")[1:-2])
    xtype = r.command("TYPE", "xi_t")
    rng = parse(r.command("XRANGE", "xi_t", "-", "+"))
    ids_in_order = [e[0] for e in rng] == sorted((e[0] for e in rng), key=lambda i: tuple(int(x) for x in i.split(b"-")))
    fields = [e[1] for e in rng]
    added = parse(r.command("XADD", "xi_t", "*", "f", "v"))
    broker_request(b, b"set xi_t 0 0 5\r\nworld\r\n", end=b"STORED\r\n")
    rng2 = parse(r.command("XRANGE", "xi_t", "-", "+"))
    # Backward: the broker's records (fields made when read) and XADD's (the broker's format).
    rev2 = parse(r.command("XREVRANGE", "xi_t", "+", "-"))
    rev2c = parse(r.command("XREVRANGE", "xi_t", "+", "-", "COUNT", 3))
    r.command("XGROUP", "CREATE", "xi_t", "g", "0")
    grp = parse(r.command("XREADGROUP", "GROUP", "g", "c", "STREAMS", "xi_t", ">"))
    topic_read = broker_request(b, b"get xi_t/group=bg/max=10\r\n")
    adopted_refused = broker_request(b, b"delete xi_t\r\n", end=b"\r\n")
    r.command("DEL", "xi_t")
    stats_after = broker_request(b, b"stats logs\r\n")
    adopted_freed = broker_request(b, b"delete xi_t\r\n", end=b"\r\n")
    facts = {
        "topic_stream_len": xlen,
        "topic_stream_type": xtype.decode().strip(),
        "topic_fields": fields == [[b"value", b"hello"], [b"key", b"k1", b"value", b"abc"]],
        "topic_ids_in_order": ids_in_order and len(rng) == 2,
        "topic_revrange": len(rng2) == 4 and rev2 == rng2[::-1] and rev2c == rng2[::-1][:3],
        "topic_after_xadd_and_set": [e[1] for e in rng2] == fields + [[b"f", b"v"], [b"value", b"world"]] and rng2[2][0] == added,
        "topic_group_read": len(grp[0][1]) if grp else 0,
        "topic_broker_sees_xadd": b" 88 18\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n" in topic_read and topic_read.count(b"VALUE ") == 4,
        "topic_stays_after_del": b"xi_t:partitions 1" in stats_after,
        "delete_refused": refused.decode() + adopted_refused.decode(),
        "stream_kept": still,
        "stream_kept_read": still_read,
        "redeclare_refused": redeclared.decode(),
        "adopted_deleted_after_del": adopted_freed.decode(),
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
