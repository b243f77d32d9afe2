#!/usr/bin/env python3
"""Memory a client can pin through connections (issue 11).

idle:  RSS of the server with N idle connections (each sent one `version` and read the reply)
       minus its RSS with none, per connection.
noread: one connection pipelines gets of a stored value and never reads a reply; the server's
       RSS growth must stay bounded (it stops reading a connection whose output it cannot write).

Prints the figures; with --max-bytes-per-conn / --max-growth-mb checks them and prints a PASSED
line. Raises its own descriptor limit (RLIMIT_NOFILE) to fit the connections.
"""
import argparse
import resource
import socket
import sys
import time


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def settle_rss(pid, seconds=1.0):
    """RSS after the server has had time to finish what the clients sent."""
    time.sleep(seconds)
    return rss_kb(pid)


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def recv_until(s, suffix, limit=1 << 20):
    buf = b""
    while not buf.endswith(suffix):
        chunk = s.recv(65536)
        if not chunk:
            raise RuntimeError(f"connection closed after {buf!r}")
        buf += chunk
        if len(buf) > limit:
            raise RuntimeError("reply too long")
    return buf


def idle(args):
    have = raise_nofile(args.conns + 64)
    if have < args.conns + 16:
        sys.exit(f"cannot raise RLIMIT_NOFILE to {args.conns + 64} (have {have})")
    # One round trip first, so that lazily made per-thread state is not counted per connection.
    warm = socket.create_connection(("127.0.0.1", args.port), timeout=10)
    warm.sendall(b"version\r\n")
    recv_until(warm, b"\r\n")
    warm.close()
    before = settle_rss(args.pid)
    conns = []
    deadline = time.time() + args.seconds
    for i in range(args.conns):
        s = socket.create_connection(("127.0.0.1", args.port), timeout=10)
        s.sendall(b"version\r\n")
        conns.append(s)
        if len(conns) % 200 == 0:
            for c in conns[-200:]:
                reply = recv_until(c, b"\r\n")
                if not reply.startswith(b"VERSION "):
                    sys.exit(f"unexpected reply {reply!r}")
        if time.time() > deadline:
            sys.exit(f"only {len(conns)} connections opened in {args.seconds} s")
    for c in conns[len(conns) - len(conns) % 200:]:
        reply = recv_until(c, b"\r\n")
        if not reply.startswith(b"VERSION "):
            sys.exit(f"unexpected reply {reply!r}")
    after = settle_rss(args.pid)
    per_conn = (after - before) * 1024 / args.conns
    print(f"idle: {args.conns} connections, RSS {before} kB -> {after} kB, "
          f"{per_conn:.0f} bytes per connection")
    # Still serving with all of them open.
    conns[0].sendall(b"version\r\n")
    recv_until(conns[0], b"\r\n")
    for c in conns:
        c.close()
    if args.max_bytes_per_conn is not None:
        if per_conn > args.max_bytes_per_conn:
            sys.exit(f"FAIL: {per_conn:.0f} bytes per idle connection > {args.max_bytes_per_conn}")
        print("IDLE CONNECTIONS CHECK PASSED")


def noread(args):
    value = b"v" * args.value_size
    s = socket.create_connection(("127.0.0.1", args.port), timeout=10)
    s.sendall(b"set k 0 0 %d\r\n%s\r\n" % (len(value), value))
    if recv_until(s, b"\r\n") != b"STORED\r\n":
        sys.exit("set failed")
    s.close()
    before = settle_rss(args.pid, 0.5)
    victim = socket.create_connection(("127.0.0.1", args.port), timeout=10)
    victim.setblocking(False)
    request = b"get k\r\n" * 1000
    sent = 0
    peak = before
    deadline = time.time() + args.seconds
    stalled_since = None
    while time.time() < deadline:
        try:
            n = victim.send(request)
            sent += n
            stalled_since = None
        except BlockingIOError:
            # The server stopped reading: both socket buffers are full.
            if stalled_since is None:
                stalled_since = time.time()
            elif time.time() - stalled_since > 1.0:
                break
            time.sleep(0.01)
        peak = max(peak, rss_kb(args.pid))
    after = settle_rss(args.pid, 0.5)
    peak = max(peak, after)
    growth_mb = (peak - before) / 1024
    replies_mb = sent / 7 * (len(value) + 20) / (1 << 20)
    print(f"noread: sent {sent} bytes of gets ({replies_mb:.0f} MB of replies), "
          f"RSS {before} kB -> peak {peak} kB, growth {growth_mb:.1f} MB")
    # The server still answers others, and counts the stop (swiftcached's conn_output_stalls).
    other = socket.create_connection(("127.0.0.1", args.port), timeout=10)
    other.sendall(b"stats\r\n")
    stats = recv_until(other, b"END\r\n").decode()
    other.close()
    victim.close()
    stalls = [l.split()[2] for l in stats.split("\r\n") if l.startswith("STAT conn_output_stalls ")]
    print(f"noread: conn_output_stalls {stalls[0] if stalls else 'n/a'}")
    if args.max_growth_mb is not None and (not stalls or int(stalls[0]) < 1):
        sys.exit("FAIL: conn_output_stalls did not count the stopped reads")
    if args.max_growth_mb is not None:
        if growth_mb > args.max_growth_mb:
            sys.exit(f"FAIL: RSS grew {growth_mb:.1f} MB > {args.max_growth_mb} MB")
        if replies_mb < 4 * args.max_growth_mb:
            sys.exit(f"FAIL: only {replies_mb:.0f} MB of replies requested, too few to show a bound")
        print("NOREAD CHECK PASSED")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["idle", "noread"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--conns", type=int, default=2000)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--value-size", type=int, default=4096)
    p.add_argument("--max-bytes-per-conn", type=float)
    p.add_argument("--max-growth-mb", type=float)
    args = p.parse_args()
    idle(args) if args.mode == "idle" else noread(args)


if __name__ == "__main__":
    main()
