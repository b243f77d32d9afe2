#!/usr/bin/env python3
"""A `set` on the broker port to a topic a Redis stream reads wakes the clients
blocked on that stream, as an XADD does: XREAD BLOCK and XREADGROUP BLOCK on an adopted
one-partition topic each get the broker's record well before their timeout. For Redis clients
it is an XADD in the other ways too: a WATCH of the key aborts the EXEC and the `xadd` keyspace
event is published. A set to an XADD-made stream's own topic is not one of the stream's entries:
no abort, no event.

Usage: resp_stream_broker_wake.py --redis-port R --broker-port B   (prints facts as JSON, last line)
"""

import argparse
import json
import socket
import time

from resp_common import Conn, broker_request, drain_events, mb, parse


def blocked_read(redis_port, request, wake):
    """Sends `request` (a blocking read) on a new connection, runs `wake` 0.3 s later and returns
    (seconds until the reply, parsed reply)."""
    c = Conn(redis_port)
    c.sock.settimeout(10)
    c.send(request)
    time.sleep(0.3)
    t0 = time.monotonic()
    wake()
    reply = c.reply()
    return time.monotonic() - t0, parse(reply)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--redis-port", type=int, required=True)
    ap.add_argument("--broker-port", type=int, required=True)
    args = ap.parse_args()
    b = socket.create_connection(("127.0.0.1", args.broker_port))
    facts = {}
    facts["declared"] = broker_request(b, b"log bw_t\r\n", end=b"\r\n").decode()
    r = Conn(args.redis_port)
    r.command("XLEN", "bw_t")  # adopts the topic

    # XREAD BLOCK on the adopted topic, woken by a broker-port set (5 s timeout).
    waited, got = blocked_read(args.redis_port, mb("XREAD", "BLOCK", 5000, "STREAMS", "bw_t", "$"),
                               lambda: facts.__setitem__("set_reply", broker_request(b, b"set bw_t 0 0 5\r\nhello\r\n", end=b"\r\n").decode()))
    facts["xread_waited_under_2s"] = waited < 2.0
    facts["xread_fields"] = [f.decode() for f in got[0][1][0][1]] if got else None

    # XREADGROUP BLOCK, woken by a keyed set.
    r.command("XGROUP", "CREATE", "bw_t", "g", "$")
    waited, got = blocked_read(args.redis_port, mb("XREADGROUP", "GROUP", "g", "c", "BLOCK", 5000, "STREAMS", "bw_t", ">"),
                               lambda: broker_request(b, b"set bw_t/key=k1 0 0 2\r\nv2\r\n", end=b"\r\n"))
    facts["xreadgroup_waited_under_2s"] = waited < 2.0
    facts["xreadgroup_fields"] = [f.decode() for f in got[0][1][0][1]] if got else None

    # WATCH and keyspace events: the adopted topic's set is an XADD to its key.
    sub = Conn(args.redis_port)
    sub.command("CONFIG", "SET", "notify-keyspace-events", "Et")
    sub.command("PSUBSCRIBE", "__keyevent@0__:*")
    w = Conn(args.redis_port)

    def watched_exec(key, between):
        w.command("WATCH", key)
        between()
        w.sock.sendall(mb("MULTI") + mb("XLEN", key) + mb("EXEC"))
        return b"".join(w.reply() for _ in range(3)).decode()

    facts["watch_unchanged"] = watched_exec("bw_t", lambda: None)
    facts["watch_after_set"] = watched_exec("bw_t", lambda: broker_request(b, b"set bw_t 0 0 3\r\nabc\r\n", end=b"\r\n"))
    facts["events_after_set"] = [e.decode() for e in drain_events(sub)]
    # An XADD-made stream's own topic: the broker's record is not the stream's entry.
    r.command("XADD", "bw_own", "1-0", "f", "v")
    drain_events(sub)
    facts["own_watch_after_set"] = watched_exec("bw_own", lambda: broker_request(b, b"set bw_own 0 0 3\r\nabc\r\n", end=b"\r\n"))
    facts["own_events_after_set"] = [e.decode() for e in drain_events(sub)]
    r.command("CONFIG", "SET", "notify-keyspace-events", "")
    r.command("DEL", "bw_own")

    # 20,000 broker appends to the topic, then a blocked reader woken by one more: each append
    # calls the Redis port's wake-up hook, and reading the hook once wrapped it in two more
    # thunks (the server's stack overflowed at about 13,000 appends).
    n = 20000
    b.sendall(b"".join(b"set bw_t 0 0 1\r\nx\r\n" for _ in range(n)))
    stored = 0
    buf = b""
    while stored < n:
        chunk = b.recv(65536)
        if not chunk:
            break
        buf += chunk
        stored = buf.count(b"STORED\r\n")
    facts["many_appends_stored"] = stored
    waited, got = blocked_read(args.redis_port, mb("XREAD", "BLOCK", 5000, "STREAMS", "bw_t", "$"),
                               lambda: broker_request(b, b"set bw_t 0 0 4\r\nlast\r\n", end=b"\r\n"))
    facts["after_many_woken_under_2s"] = waited < 2.0
    facts["after_many_xlen"] = r.command("XLEN", "bw_t").decode()

    print(json.dumps(facts))


if __name__ == "__main__":
    main()
