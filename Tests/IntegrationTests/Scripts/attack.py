#!/usr/bin/env python3
"""Attack tests (issue 11), black-box against a running swiftcached on 127.0.0.1, each bounded in
connections and time and each asserting its bound; prints the figures it measured.

  slowloris  N connections each trickle one byte of an unfinished request (half a get line, half
             a set's data block) every --interval seconds; a victim client does set/get in a loop,
             first alone (baseline) then under the attack: its p99 latency must stay under
             max(--max-factor x baseline p99, --floor-ms); stats show the attackers
             (curr_connections), and they are gone from it once closed.
  idle       on every port given (cache, broker, redis): --conns idle connections, each after one
             request answered; RSS growth per connection bounded; the server still answers on
             every port; curr_connections back to where it was after they close.
  noread     clients that never read, on every port given: the cache port (a pipeline of large
             gets, and multi-gets naming a large item 59,999 times), the broker port (pipelined
             peeks of large messages), the Redis port (a pipeline of GETs of a large value, and
             MGETs naming it 50,000 times): RSS growth bounded, the stall counted
             (conn_output_stalls; get_streamed_replies for the multi-gets), another client served
             meanwhile.
  churn      --cycles connect/send/close cycles from --threads threads (a third close after
             `quit`, a third close normally, a third reset): the server's descriptors
             (/proc/PID/fd) and curr_connections back to their baseline, total_connections counts
             every cycle, the server answers afterwards.
  journal    starts its own servers (--binary): --cases queues with --messages acknowledged
             messages each (--fsync=always), stops the server, damages every journal at a random
             offset (seeded; the seed is printed), restarts: the server runs, every message whose
             record was not touched is delivered in order and nothing else, the damaged records'
             bytes are in the `.corrupt-<n>` copies and counted in stats. --rounds restarts.

Prints "ATTACK <MODE> CHECK PASSED" on success; exits 1 with "FAIL ..." at the first failure."""

import argparse
import os
import random
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

HOST = "127.0.0.1"


def fail(msg):
    print("FAIL " + msg)
    sys.stdout.flush()
    sys.exit(1)


def note(msg):
    print(msg)
    sys.stdout.flush()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    fail("no VmRSS for pid %d" % pid)


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        target = need if hard == resource.RLIM_INFINITY or hard >= need else hard
        if os.geteuid() == 0 and hard != resource.RLIM_INFINITY and hard < need:
            hard = target = need
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    have = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if have < need:
        fail("cannot raise RLIMIT_NOFILE to %d (have %d)" % (need, have))


def connect(port, timeout=10, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect((HOST, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_until(s, suffix, limit=64 << 20):
    buf = b""
    while not buf.endswith(suffix):
        chunk = s.recv(1 << 20)
        if not chunk:
            fail("connection closed after %r" % buf[-200:])
        buf += chunk
        if len(buf) > limit:
            fail("reply too long")
    return buf


def stats(port):
    s = connect(port)
    s.sendall(b"stats\r\n")
    out = {}
    for line in recv_until(s, b"END\r\n").decode().split("\r\n"):
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[0] == "STAT":
            out[parts[1]] = parts[2]
    s.close()
    return out


def stat(port, name):
    v = stats(port).get(name)
    if v is None:
        fail("no stat %s" % name)
    return int(v)


def settled_connections(port):
    """curr_connections once the server has seen earlier connections close (the least of a few
    readings; each reading's own connection counts one)."""
    return min(stat(port, "curr_connections") for _ in range(5) if time.sleep(0.1) is None)


def wait_for(what, predicate, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    fail("%s within %.0f s" % (what, seconds))


def percentile(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p))]


# MARK: requests and replies per port

def ping(kind, port):
    """One request answered on a fresh connection of the port."""
    s = connect(port)
    if kind == "redis":
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        reply = recv_until(s, b"\r\n")
        ok = reply == b"+PONG\r\n"
    else:
        s.sendall(b"version\r\n")
        reply = recv_until(s, b"\r\n")
        ok = reply.startswith(b"VERSION ")
    s.close()
    if not ok:
        fail("%s port %d answers: got %r" % (kind, port, reply))


def first_request(kind):
    return b"*1\r\n$4\r\nPING\r\n" if kind == "redis" else b"version\r\n"


# MARK: slowloris

def victim_latencies(port, seconds, key):
    """Round trips (set then get) for `seconds`; the latency of each request in ms."""
    s = connect(port, timeout=10)
    value = b"v" * 100
    lat = []
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        s.sendall(b"set %s %d 0 %d\r\n%s\r\n" % (key, n, len(value), value))
        if recv_until(s, b"\r\n") != b"STORED\r\n":
            fail("victim set not stored")
        t1 = time.perf_counter()
        s.sendall(b"get %s\r\n" % key)
        reply = recv_until(s, b"END\r\n")
        t2 = time.perf_counter()
        if not reply.startswith(b"VALUE %s %d 100\r\n" % (key, n)):
            fail("victim get: %r" % reply[:80])
        lat.append((t1 - t0) * 1000)
        lat.append((t2 - t1) * 1000)
        n += 1
        # Paced (about 1,000 round trips a second): latency is what is measured, and a victim
        # spinning flat out would take a core from the other tests running beside this one.
        time.sleep(0.001)
    s.close()
    return lat


def slowloris(args):
    raise_nofile(args.conns + 256)
    ping("cache", args.port)
    base_conns = settled_connections(args.port)
    baseline = victim_latencies(args.port, args.seconds, b"victim")
    base_p99 = percentile(baseline, 0.99)
    note("slowloris: baseline %d requests, p50 %.3f ms, p99 %.3f ms" %
         (len(baseline), percentile(baseline, 0.5), base_p99))

    # The attackers run in a child process, so that their loop does not share the victim's
    # interpreter (its latency is the server's, not Python's).
    ready_r, ready_w = os.pipe()
    stop_r, stop_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(ready_r)
            os.close(stop_w)
            conns = []
            payloads = []
            for i in range(args.conns):
                s = connect(args.port)
                if i % 2 == 0:
                    # A get line that never ends.
                    payloads.append(b"get slowloris-" + b"k" * 1500)
                else:
                    # A set whose data block never all arrives.
                    s.sendall(b"set slowloris-%d 0 0 100000\r\n" % i)
                    payloads.append(b"d" * 100000)
                s.setblocking(False)
                conns.append(s)
            os.write(ready_w, b"r")
            sent = [0] * len(conns)
            # One byte per connection per interval, spread evenly over the interval.
            gap = args.interval / len(conns)
            next_at = time.monotonic()
            i = 0
            while True:
                if os.read(stop_r, 1) if select_readable(stop_r, 0) else False:
                    break
                c = conns[i]
                if sent[i] < len(payloads[i]):
                    try:
                        sent[i] += c.send(payloads[i][sent[i]:sent[i] + 1])
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        code = 3  # closed by the server: reported by the parent
                i = (i + 1) % len(conns)
                next_at += gap
                delay = next_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            for c in conns:
                c.close()
        except Exception as e:  # noqa: BLE001 - the child reports through its exit status
            print("attacker: %r" % e)
            code = 2
        os._exit(code)
    os.close(ready_w)
    os.close(stop_r)
    try:
        if not select_readable(ready_r, 30):
            fail("attackers not connected within 30 s")
        os.read(ready_r, 1)
        # Let every attacker send a few bytes first.
        time.sleep(min(2.0, args.interval * 3))
        during = stat(args.port, "curr_connections")
        attacked = victim_latencies(args.port, args.seconds, b"victim2")
        during_after = stat(args.port, "curr_connections")
    finally:
        os.write(stop_w, b"s")
        _, status = os.waitpid(pid, 0)
    att_p99 = percentile(attacked, 0.99)
    bound = max(args.max_factor * base_p99, args.floor_ms)
    note("slowloris: %d attackers, 1 byte each per %.2f s; curr_connections %d -> %d (still %d at the end)"
         % (args.conns, args.interval, base_conns, during, during_after))
    note("slowloris: under attack %d requests, p50 %.3f ms, p99 %.3f ms, max %.3f ms (bound %.1f ms)" %
         (len(attacked), percentile(attacked, 0.5), att_p99, max(attacked), bound))
    if os.WEXITSTATUS(status) != 0:
        fail("attacker process exited with %d (3: the server closed an attacker)" % os.WEXITSTATUS(status))
    # Each reading's own connection counts one.
    if during < args.conns + 1 or during_after < args.conns + 1:
        fail("curr_connections %d/%d does not count the %d attackers (baseline %d)"
             % (during, during_after, args.conns, base_conns))
    if att_p99 > bound:
        fail("victim p99 %.3f ms under attack > bound %.1f ms" % (att_p99, bound))
    wait_for("curr_connections back to %d" % base_conns,
             lambda: stat(args.port, "curr_connections") <= base_conns)
    ping("cache", args.port)
    note("ATTACK SLOWLORIS CHECK PASSED")


def select_readable(fd, timeout):
    import select
    r, _, _ = select.select([fd], [], [], timeout)
    return bool(r)


# MARK: idle connections

def ports_of(args):
    out = [("cache", args.port)]
    if args.broker_port:
        out.append(("broker", args.broker_port))
    if args.redis_port:
        out.append(("redis", args.redis_port))
    return out


def idle(args):
    ports = ports_of(args)
    raise_nofile(args.conns * len(ports) + 256)
    for kind, port in ports:
        ping(kind, port)
    base_conns = settled_connections(args.port)
    worst = 0.0
    # Every port's connections stay open while the next port's are added: each port's growth is
    # new memory, not memory the previous round gave back.
    held = []
    for kind, port in ports:
        time.sleep(0.5)
        before = rss_kb(args.pid)
        conns = []
        deadline = time.monotonic() + args.seconds
        request = first_request(kind)
        batch = 250
        for i in range(args.conns):
            s = connect(port)
            s.sendall(request)
            conns.append(s)
            if len(conns) % batch == 0 or i == args.conns - 1:
                for c in conns[(len(conns) - 1) // batch * batch:]:
                    recv_until(c, b"\r\n")
            if time.monotonic() > deadline:
                fail("%s: only %d connections opened in %.0f s" % (kind, len(conns), args.seconds))
        held += conns
        time.sleep(1.0)
        after = rss_kb(args.pid)
        per_conn = (after - before) * 1024 / args.conns
        worst = max(worst, per_conn)
        curr = stat(args.port, "curr_connections")
        note("idle %s: %d connections, RSS %d kB -> %d kB, %.0f bytes per connection; curr_connections %d"
             % (kind, args.conns, before, after, per_conn, curr))
        if curr < len(held) + 1:
            fail("curr_connections %d does not count the %d idle connections" % (curr, len(held)))
        # Still answering, on every port and on the idle connections themselves.
        for k, p in ports:
            ping(k, p)
        for c in (conns[0], conns[-1]):
            c.sendall(request)
            recv_until(c, b"\r\n")
        if per_conn > args.max_bytes_per_conn:
            fail("%s: %.0f bytes of RSS per idle connection > %d" % (kind, per_conn, args.max_bytes_per_conn))
    for c in held:
        c.close()
    wait_for("curr_connections back to %d" % base_conns,
             lambda: stat(args.port, "curr_connections") <= base_conns, 20)
    for kind, port in ports:
        ping(kind, port)
    note("idle: %d connections in all, worst %.0f bytes per connection (bound %d)"
         % (len(held), worst, args.max_bytes_per_conn))
    note("ATTACK IDLE CHECK PASSED")


# MARK: clients that never read

class NoReader:
    """A connection that sends `request` over and over and never reads: it stops once the
    server has stopped reading it (the socket's send buffer stays full for `stall` seconds)."""

    def __init__(self, port, request, total_limit):
        self.s = connect(port, rcvbuf=4096)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        self.s.setblocking(False)
        self.request = request
        self.sent = 0
        self.pos = 0
        self.limit = total_limit
        self.stalled_since = None
        self.done = False

    def pump(self, stall=1.0):
        if self.done:
            return
        if self.sent >= self.limit:
            self.done = True
            return
        try:
            n = self.s.send(self.request[self.pos:])
            self.sent += n
            self.pos = (self.pos + n) % len(self.request)
            self.stalled_since = None
        except BlockingIOError:
            now = time.monotonic()
            if self.stalled_since is None:
                self.stalled_since = now
            elif now - self.stalled_since > stall:
                self.done = True


def noread_round(args, name, port, make, count, replies_per_byte, served):
    """`count` never-reading clients from `make()`; RSS growth bounded; `served()` answers meanwhile."""
    time.sleep(0.5)
    before = rss_kb(args.pid)
    clients = [make() for _ in range(count)]
    peak = before
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline and not all(c.done for c in clients):
        for c in clients:
            c.pump()
        peak = max(peak, rss_kb(args.pid))
        time.sleep(0.002)
    # Others are still served while the never-readers hold their connections.
    t0 = time.perf_counter()
    served()
    served_ms = (time.perf_counter() - t0) * 1000
    time.sleep(0.5)
    peak = max(peak, rss_kb(args.pid))
    sent = sum(c.sent for c in clients)
    requested_mb = sent * replies_per_byte / (1 << 20)
    growth_mb = (peak - before) / 1024
    note("noread %s: %d clients sent %d bytes (%.0f MB of replies asked for), RSS %d kB -> peak %d kB "
         "(+%.1f MB); another client served in %.1f ms" % (name, count, sent, requested_mb, before, peak,
                                                           growth_mb, served_ms))
    for c in clients:
        c.s.close()
    if growth_mb > args.max_growth_mb:
        fail("%s: RSS grew %.1f MB > %.0f MB" % (name, growth_mb, args.max_growth_mb))
    if requested_mb < 4 * args.max_growth_mb:
        fail("%s: only %.0f MB of replies asked for, too few to show the bound" % (name, requested_mb))
    return growth_mb


def noread(args):
    value = b"v" * args.value_size
    big = b"B" * args.big_size
    s = connect(args.port)
    # One large item per never-reading client: the reference limit (60,000 per item) would
    # otherwise leave the later clients only misses.
    s.sendall(b"set k 0 0 %d\r\n%s\r\n" % (len(value), value)
              + b"".join(b"set big%d 0 0 %d\r\n%s\r\n" % (i, len(big), big) for i in range(args.clients)))
    if recv_until(s, b"STORED\r\n" * (args.clients + 1)) != b"STORED\r\n" * (args.clients + 1):
        fail("cache sets failed")
    s.close()

    def cache_served():
        c = connect(args.port)
        c.sendall(b"get k\r\n")
        if not recv_until(c, b"END\r\n").startswith(b"VALUE k 0 %d\r\n" % len(value)):
            fail("another cache client is not served")
        c.close()

    stalls0 = stat(args.port, "conn_output_stalls")
    get_line = b"get k\r\n"
    noread_round(args, "cache pipelined gets", args.port,
                 lambda: NoReader(args.port, get_line * 1000, 1 << 40), args.clients,
                 (len(value) + 20) / len(get_line), cache_served)
    stalls1 = stat(args.port, "conn_output_stalls")
    note("noread cache: conn_output_stalls %d -> %d" % (stalls0, stalls1))
    if stalls1 <= stalls0:
        fail("conn_output_stalls did not count the stopped reads")

    # One multi-get naming a large item 59,999 times per client (memcached's reference limit).
    streamed0 = stat(args.port, "get_streamed_replies")
    mgets = [b"get" + b" big%d" % i * 59999 + b"\r\n" for i in range(args.clients)]
    noread_round(args, "cache 59,999-key multi-gets", args.port,
                 lambda: (lambda r: NoReader(args.port, r, len(r)))(mgets.pop()), args.clients,
                 (len(big) + 20) / 5, cache_served)
    streamed1 = stat(args.port, "get_streamed_replies")
    note("noread cache: get_streamed_replies %d -> %d" % (streamed0, streamed1))
    if streamed1 <= streamed0:
        fail("get_streamed_replies did not count the streamed multi-gets")

    if args.broker_port:
        b = connect(args.broker_port)
        msgs = 50
        payload = b"".join(b"set nrq 0 0 %d\r\n%s\r\n" % (len(value), value) for _ in range(msgs))
        b.sendall(payload)
        recv_until(b, b"STORED\r\n" * msgs)
        b.close()

        def broker_served():
            c = connect(args.broker_port)
            c.sendall(b"set other 0 0 2\r\nhi\r\nget other\r\n")
            if recv_until(c, b"END\r\n") != b"STORED\r\nVALUE other 0 2\r\nhi\r\nEND\r\n":
                fail("another broker client is not served")
            c.close()

        stalls0 = stat(args.port, "conn_output_stalls")
        peek = b"get" + b" nrq/peek" * 16 + b"\r\n"
        noread_round(args, "broker pipelined peeks", args.broker_port,
                     lambda: NoReader(args.broker_port, peek * 100, 1 << 40), args.clients,
                     16 * (len(value) + 20) / len(peek), broker_served)
        stalls1 = stat(args.port, "conn_output_stalls")
        note("noread broker: conn_output_stalls %d -> %d" % (stalls0, stalls1))
        if stalls1 <= stalls0:
            fail("conn_output_stalls did not count the broker's stopped reads")
        # Every message is still there (a peek takes nothing).
        c = connect(args.broker_port)
        c.sendall(b"stats\r\n")
        st = recv_until(c, b"END\r\n")
        c.close()
        if b"STAT queue_nrq_items %d\r\n" % msgs not in st:
            fail("queue nrq lost messages to peeks: %r" % [l for l in st.split(b"\r\n") if b"nrq" in l])

    if args.redis_port:
        r = connect(args.redis_port)
        r.sendall(b"*3\r\n$3\r\nSET\r\n$2\r\nrk\r\n$%d\r\n%s\r\n" % (len(value), value))
        for i in range(args.clients):
            r.sendall(b"*3\r\n$3\r\nSET\r\n$5\r\nrbig%d\r\n$%d\r\n%s\r\n" % (i, len(big), big))
        if recv_until(r, b"+OK\r\n" * (args.clients + 1)) != b"+OK\r\n" * (args.clients + 1):
            fail("redis sets failed")
        r.close()

        def redis_served():
            c = connect(args.redis_port)
            c.sendall(b"*2\r\n$3\r\nGET\r\n$2\r\nrk\r\n")
            if not recv_until(c, value + b"\r\n").startswith(b"$%d\r\n" % len(value)):
                fail("another redis client is not served")
            c.close()

        stalls0 = stat(args.port, "conn_output_stalls")
        rget = b"*2\r\n$3\r\nGET\r\n$2\r\nrk\r\n"
        noread_round(args, "redis pipelined GETs", args.redis_port,
                     lambda: NoReader(args.redis_port, rget * 1000, 1 << 40), args.clients,
                     (len(value) + 10) / len(rget), redis_served)
        keys = 50000
        rmgets = [b"*%d\r\n$4\r\nMGET\r\n" % (keys + 1) + b"$5\r\nrbig%d\r\n" % i * keys
                  for i in range(args.clients)]
        noread_round(args, "redis 50,000-key MGETs", args.redis_port,
                     lambda: (lambda r: NoReader(args.redis_port, r, len(r)))(rmgets.pop()), args.clients,
                     (len(big) + 10) / 11, redis_served)
        stalls1 = stat(args.port, "conn_output_stalls")
        note("noread redis: conn_output_stalls %d -> %d" % (stalls0, stalls1))
        if stalls1 <= stalls0:
            fail("conn_output_stalls did not count the Redis port's stopped reads")
    if not os.path.exists("/proc/%d" % args.pid):
        fail("server gone")
    note("ATTACK NOREAD CHECK PASSED")


# MARK: churn

def churn(args):
    ping("cache", args.port)
    base_conns = settled_connections(args.port)
    base_fds = fd_count(args.pid)
    base_total = stat(args.port, "total_connections")
    errors = []
    per_thread = args.cycles // args.threads
    linger = struct.pack("ii", 1, 0)

    # Paced to --rate cycles a second in all: the churn is the point, not taking both cores from
    # the tests running beside this one.
    interval = args.threads / args.rate

    def worker(t):
        try:
            start = time.monotonic()
            for i in range(per_thread):
                ahead = start + i * interval - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.settimeout(10)
                s.connect((HOST, args.port))
                way = (t + i) % 3
                if way == 0:
                    s.sendall(b"version\r\nquit\r\n")
                    data = b""
                    while True:
                        d = s.recv(4096)
                        if not d:
                            break
                        data += d
                    if not data.startswith(b"VERSION "):
                        raise RuntimeError("quit cycle got %r" % data)
                elif way == 1:
                    s.sendall(b"get churn-%d\r\n" % i)
                    if recv_until(s, b"END\r\n") != b"END\r\n":
                        raise RuntimeError("get cycle")
                else:
                    # A request cut short, then a reset (no FIN).
                    s.sendall(b"set churn 0 0 10\r\nabc")
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                s.close()
        except Exception as e:  # noqa: BLE001 - collected and reported
            errors.append("thread %d: %r" % (t, e))

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(t,)) for t in range(args.threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(args.seconds)
    elapsed = time.monotonic() - t0
    if any(th.is_alive() for th in threads):
        fail("churn did not finish within %.0f s" % args.seconds)
    if errors:
        fail("churn errors: %s" % errors[:5])
    cycles = per_thread * args.threads
    wait_for("curr_connections back to %d" % base_conns,
             lambda: stat(args.port, "curr_connections") <= base_conns, 20)
    fds = wait_for("server descriptors back to %d" % base_fds,
                   lambda: fd_count(args.pid) if fd_count(args.pid) <= base_fds else 0, 20)
    total = stat(args.port, "total_connections")
    note("churn: %d cycles from %d threads in %.1f s (%.0f/s); fds %d -> %d; curr_connections %d; "
         "total_connections %d -> %d" % (cycles, args.threads, elapsed, cycles / elapsed, base_fds, fds,
                                         stat(args.port, "curr_connections"), base_total, total))
    # The stats connections themselves count too: at least one per cycle.
    if total - base_total < cycles:
        fail("total_connections grew by %d < %d cycles" % (total - base_total, cycles))
    ping("cache", args.port)
    note("ATTACK CHURN CHECK PASSED")


# MARK: corrupted journals

AS_USER = ["-u", "nobody"] if os.geteuid() == 0 else []
SERVERS = []


def die_with_parent():
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort; the caller kills its servers anyway
        pass


def free_port():
    s = socket.socket()
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_server(binary, data_dir, log_path):
    for _ in range(3):
        port, bport = free_port(), free_port()
        log = open(log_path, "ab")
        args = [binary, "-p", str(port), "-l", HOST, "-U", "0", "--broker-port=%d" % bport,
                "--data-dir=%s" % data_dir, "--fsync=always", "-t", "2"] + AS_USER
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=die_with_parent)
        log.close()
        SERVERS.append(proc)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                socket.create_connection((HOST, bport), timeout=1).close()
                return proc, bport
            except OSError:
                time.sleep(0.05)
        stop_server(proc)
    fail("server does not start: %s" % open(log_path, "rb").read()[-2000:])


def stop_server(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


def frames(data):
    """Record start offsets, and the file size last."""
    offsets = [0]
    while offsets[-1] + 8 <= len(data):
        length = struct.unpack_from("<I", data, offsets[-1])[0]
        offsets.append(offsets[-1] + 8 + length)
    return offsets


def body_of(queue, i):
    return b"%s-message-%03d-" % (queue.encode(), i) + b"p" * ((i * 7) % 50)


def journal(args):
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    note("journal: seed %d (rerun with --seed %d)" % (seed, seed))
    rng = random.Random(seed)
    work = args.work_dir
    log_path = os.path.join(work, "server.log")
    per_round = (args.cases + args.rounds - 1) // args.rounds
    case = 0
    lost_total = 0
    t_start = time.monotonic()
    try:
        for rnd in range(args.rounds):
            data_dir = os.path.join(work, "data-%d" % rnd)
            os.mkdir(data_dir)
            if os.geteuid() == 0:
                import pwd
                nobody = pwd.getpwnam("nobody")
                os.chown(data_dir, nobody.pw_uid, nobody.pw_gid)
            queues = ["jq%03d" % (case + i) for i in range(min(per_round, args.cases - case))]
            case += len(queues)
            proc, bport = start_server(args.binary, data_dir, log_path)
            c = connect(bport)
            for q in queues:
                payload = b"".join(b"set %s 0 0 %d\r\n%s\r\n" % (q.encode(), len(body_of(q, i)), body_of(q, i))
                                   for i in range(args.messages))
                c.sendall(payload)
                if recv_until(c, b"STORED\r\n" * args.messages) != b"STORED\r\n" * args.messages:
                    fail("round %d: queue %s not all acknowledged" % (rnd, q))
            c.close()
            if stop_server(proc) != 0:
                fail("round %d: the first server did not stop cleanly" % rnd)
            expected = {}
            touched_records = 0
            for q in queues:
                path = os.path.join(data_dir, q + ".journal")
                data = bytearray(open(path, "rb").read())
                offs = frames(data)
                if len(offs) != args.messages + 1 or offs[-1] != len(data):
                    fail("journal %s is not %d add records: %r" % (q, args.messages, offs[:5]))
                # One damage per journal at a random offset: a flipped bit, random bytes, or zeros.
                # One in eight lands on the last record's length field (the end of a file is
                # where recovery tells a torn write from damage).
                kind = rng.choice(["bit", "bytes", "zeros", "bit", "bytes", "zeros", "bit", "tail"])
                at = rng.randrange(len(data))
                if kind == "tail":
                    n = 1
                    at = offs[-2] + rng.randrange(4)
                    data[at] ^= 1 << rng.randrange(8)
                elif kind == "bit":
                    n = 1
                    data[at] ^= 1 << rng.randrange(8)
                else:
                    n = min(rng.randint(1, 24), len(data) - at)
                    for k in range(n):
                        old = data[at + k]
                        data[at + k] = 0 if kind == "zeros" else rng.randrange(256)
                        if data[at + k] == old and kind == "bytes":
                            data[at + k] ^= 0xFF
                changed = [at + k for k in range(n) if data[at + k] != open(path, "rb").read()[at + k]]
                open(path, "wb").write(data)
                hit = set()
                for idx in range(args.messages):
                    if any(offs[idx] <= p < offs[idx + 1] for p in changed):
                        hit.add(idx)
                touched_records += len(hit)
                expected[q] = (hit, [body_of(q, i) for i in range(args.messages)], kind, at, n, bytes(data), offs)
            proc, bport = start_server(args.binary, data_dir, log_path)
            st = {}
            c = connect(bport)
            c.sendall(b"stats\r\n")
            for line in recv_until(c, b"END\r\n").decode().split("\r\n"):
                parts = line.split(" ", 2)
                if len(parts) == 3:
                    st[parts[1]] = parts[2]
            lost_round = 0
            for q in queues:
                hit, bodies, kind, at, n, damaged, offs = expected[q]
                got = []
                while True:
                    c.sendall(b"get %s\r\n" % q.encode())
                    reply = recv_until(c, b"END\r\n")
                    if reply == b"END\r\n":
                        break
                    header, _, rest = reply.partition(b"\r\n")
                    if not header.startswith(b"VALUE %s 0 " % q.encode()):
                        fail("queue %s: reply %r" % (q, reply[:100]))
                    got.append(rest[:-len(b"\r\nEND\r\n")])
                    if len(got) > args.messages:
                        fail("queue %s: more messages than were stored" % q)
                want = [b for i, b in enumerate(bodies) if i not in hit]
                kept = [b for b in got if b in bodies]
                if kept != got or len(set(got)) != len(got):
                    fail("queue %s: delivered a message never stored or twice" % q)
                missing = [bodies.index(b) for b in want if b not in got]
                if missing or [b for b in got if b in want] != want:
                    fail("queue %s (%s damage of %d bytes at %d, records %s hit): untouched messages %s "
                         "lost or out of order" % (q, kind, n, at, sorted(hit), missing))
                lost = [i for i in sorted(hit) if bodies[i] not in got]
                lost_round += len(lost)
                # Every lost record's bytes are in a damage copy beside the journal.
                path = os.path.join(data_dir, q + ".journal")
                copies = b"".join(open(os.path.join(data_dir, f), "rb").read()
                                  for f in sorted(os.listdir(data_dir)) if f.startswith(q + ".journal.corrupt-"))
                for i in lost:
                    record = damaged[offs[i]:offs[i + 1]]
                    if record not in copies:
                        fail("queue %s (%s damage of %d bytes at %d): lost record %d (bytes %d..%d) is in no "
                             "damage copy (copies: %d bytes)" % (q, kind, n, at, i, offs[i], offs[i + 1], len(copies)))
            c.close()
            copy_bytes = sum(os.path.getsize(os.path.join(data_dir, f)) for f in os.listdir(data_dir)
                             if ".journal.corrupt-" in f)
            counted = int(st.get("broker_recovery_corrupt_bytes", "-1"))
            records = int(st.get("broker_recovery_corrupt_records", "-1"))
            torn = int(st.get("broker_recovery_torn_bytes", "-1"))
            note("journal round %d: %d journals damaged (%d records touched), %d messages lost, "
                 "broker_recovery_corrupt_records %d, _corrupt_bytes %d, _torn_bytes %d, damage copies %d bytes"
                 % (rnd, len(queues), touched_records, lost_round, records, counted, torn, copy_bytes))
            if counted != copy_bytes:
                fail("broker_recovery_corrupt_bytes %d != %d bytes in the damage copies" % (counted, copy_bytes))
            if lost_round > 0 and records < 1:
                fail("messages lost but broker_recovery_corrupt_records is %d" % records)
            if proc.poll() is not None:
                fail("server died after recovery")
            if stop_server(proc) != 0:
                fail("round %d: the recovered server did not stop cleanly" % rnd)
            lost_total += lost_round
            shutil.rmtree(data_dir, ignore_errors=True)
    finally:
        for p in SERVERS:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
    note("journal: %d cases in %d restarts, %.1f s, %d messages lost (all in damaged records)"
         % (case, args.rounds, time.monotonic() - t_start, lost_total))
    note("ATTACK JOURNAL CHECK PASSED")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["slowloris", "idle", "noread", "churn", "journal"])
    p.add_argument("--port", type=int)
    p.add_argument("--broker-port", type=int)
    p.add_argument("--redis-port", type=int)
    p.add_argument("--pid", type=int)
    p.add_argument("--conns", type=int, default=500)
    p.add_argument("--interval", type=float, default=0.3)
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--max-factor", type=float, default=10)
    p.add_argument("--floor-ms", type=float, default=50)
    p.add_argument("--max-bytes-per-conn", type=int, default=4096)
    p.add_argument("--clients", type=int, default=5)
    p.add_argument("--value-size", type=int, default=100_000)
    p.add_argument("--big-size", type=int, default=512 * 1024)
    p.add_argument("--max-growth-mb", type=float, default=32)
    p.add_argument("--cycles", type=int, default=20000)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--rate", type=float, default=4000)
    p.add_argument("--binary")
    p.add_argument("--work-dir")
    p.add_argument("--cases", type=int, default=100)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--messages", type=int, default=20)
    p.add_argument("--seed", type=int)
    args = p.parse_args()
    {"slowloris": slowloris, "idle": idle, "noread": noread, "churn": churn, "journal": journal}[args.mode](args)


if __name__ == "__main__":
    main()
