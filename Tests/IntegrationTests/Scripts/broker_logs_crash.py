#!/usr/bin/env python3
"""Crash test of a topic: SIGKILL under a pipelined producer with --fsync=always, restart, read.

Starts swiftcached itself (`-p 0 -l 127.0.0.1 -U 0 --broker-port=PORT --data-dir=DIR
--fsync=always -t 2`, `-u nobody` as root), declares `log crashlog`, runs a producer that sends
`set crashlog 0 0 <n>` with sequence-numbered bodies in pipelined windows of 64 (the replies of a
window read before the next is sent; each STORED acknowledges the record on disk), SIGKILLs the
server once at least 3000 records were acknowledged (the producer still sending), restarts it on
the same directory and reads the topic with a new group (`gets crashlog/group=check/max=1000`):
  - the offsets are dense from 0 (offset i holds record i), the bodies intact and in order, no
    duplicates, nothing that was never sent;
  - every acknowledged record is there (records sent but unanswered at the kill may be too).
Bounded by a watchdog (55 s); every server it started is killed on every exit path.

Usage: broker_logs_crash.py --binary PATH --port PORT --data-dir DIR
"""

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import rawconn
from rawconn import Conn, fail, ok

AS_USER = ["-u", "nobody"] if os.geteuid() == 0 else []
SERVERS = []
WINDOW = 64
VALUE_RE = re.compile(rb"VALUE \S+ (\d+) (\d+) (\d+)")


def die_with_parent():
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except Exception:
        pass


def start_server(binary, port, data_dir, n):
    log = open(os.path.join(os.path.dirname(data_dir.rstrip("/")), "logs-server-%d.log" % n), "wb")
    args = [binary, "-p", "0", "-l", "127.0.0.1", "-U", "0", "--broker-port=%d" % port,
            "--data-dir=%s" % data_dir, "--fsync=always", "-t", "2"] + AS_USER
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            preexec_fn=die_with_parent)
    log.close()
    SERVERS.append(proc)
    deadline = time.monotonic() + 10
    while True:
        if proc.poll() is not None:
            fail("server #%d starts" % n, "listening", "exited with status %s" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            pass
        if time.monotonic() > deadline:
            fail("server #%d starts within 10 s" % n, "listening", "no listener")
        time.sleep(0.05)
    ok("server #%d started (pid %d)" % (n, proc.pid))
    return proc


def kill_all():
    for p in SERVERS:
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=10)


def body(seq):
    return b"seq=%08d;" % seq + b"x" * (seq % 50)


def producer(port, state):
    """Sends windows of sets until the server dies; state["acked"] counts STORED replies."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(10)
    seq = 0
    buf = b""
    try:
        while True:
            out = b"".join(b"set crashlog 0 0 %d\r\n%s\r\n" % (len(body(i)), body(i)) for i in range(seq, seq + WINDOW))
            s.sendall(out)
            state["sent"] = seq + WINDOW
            for _ in range(WINDOW):
                while b"\r\n" not in buf:
                    d = s.recv(65536)
                    if not d:
                        return
                    buf += d
                line, buf = buf.split(b"\r\n", 1)
                if line != b"STORED":
                    state["bad"] = line
                    return
                state["acked"] += 1
            seq += WINDOW
    except OSError:
        return


def read_all(port):
    c = Conn()
    records = []
    while True:
        c.send(b"gets crashlog/group=check/max=1000\r\n")
        n = 0
        while True:
            line = c.read_line()
            if line == b"END\r\n":
                break
            m = VALUE_RE.fullmatch(line[:-2])
            if not m:
                fail("a VALUE line", b"VALUE <key> <flags> <bytes> <offset>", line)
            size = int(m.group(2))
            blk = c.read_exact(size + 2)
            records.append((int(m.group(3)), blk[:-2]))
            n += 1
        if n == 0:
            return records


def run(a, data_dir):
    rawconn.ADDRESS = ("127.0.0.1", a.port)
    server = start_server(a.binary, a.port, data_dir, 1)
    Conn().roundtrip("declare the topic", b"log crashlog retention_ms=-1\r\n", b"OK\r\n")
    state = {"acked": 0, "sent": 0, "bad": None}
    t = threading.Thread(target=producer, args=(a.port, state), daemon=True)
    t.start()
    deadline = time.monotonic() + 30
    while state["acked"] < 3000 and time.monotonic() < deadline and state["bad"] is None:
        time.sleep(0.01)
    if state["bad"] is not None:
        fail("every set is STORED", b"STORED", state["bad"])
    if state["acked"] < 3000:
        fail("3000 records acknowledged within 30 s", 3000, state["acked"])
    server.send_signal(signal.SIGKILL)
    server.wait(timeout=10)
    t.join(timeout=10)
    acked, sent = state["acked"], state["sent"]
    ok("SIGKILL after %d records acknowledged (%d sent)" % (acked, sent))
    start_server(a.binary, a.port, data_dir, 2)
    records = read_all(a.port)
    for i, (offset, data) in enumerate(records):
        if offset != i:
            fail("offsets dense from 0", i, offset)
        if data != body(i):
            fail("record %d intact, in order, once" % i, body(i), data)
    ok("offsets dense from 0, bodies intact and in order, no duplicates (%d records)" % len(records))
    if len(records) < acked:
        fail("every acknowledged record is back", ">= %d" % acked, len(records))
    ok("every acknowledged record is back (%d acknowledged, %d back, %d sent)" % (acked, len(records), sent))
    if len(records) > sent:
        fail("nothing that was never sent", "<= %d" % sent, len(records))
    ok("nothing that was never sent")
    print("LOG CRASH CHECKS PASSED")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--data-dir", required=True)
    a = ap.parse_args()
    data_dir = os.path.abspath(a.data_dir)
    os.makedirs(data_dir, exist_ok=True)
    if AS_USER:
        import pwd
        nobody = pwd.getpwnam("nobody")
        os.chown(data_dir, nobody.pw_uid, nobody.pw_gid)

    def watchdog():
        print("FAIL: broker_logs_crash.py did not finish within 55 s (watchdog)")
        kill_all()
        sys.stdout.flush()
        os._exit(1)

    timer = threading.Timer(55, watchdog)
    timer.daemon = True
    timer.start()
    try:
        run(a, data_dir)
    finally:
        kill_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
