#!/usr/bin/env python3
"""kill -9 during log compaction (issue 15): a `cleanup=compact` topic with --data-dir and
--fsync=always, many 1 KB segments so that the once-a-second compaction rewrites hundreds of them
(each swap fsyncs), a pipelined producer of keyed records, and SIGKILL at a random moment, six
rounds on the same directory, then a last restart. After each restart:
  - no temporary file of a compaction or an index (`.cleaned`, `.swap`, `.tmp`) and no index
    file without its segment is left in the partition's directory;
  - a new group reads the topic (`gets`, the offset in the CAS field): offsets rise, none twice,
    every value one that was sent;
  - every key's newest acknowledged record is there (or a newer one of that key that was sent).
The server's start-up notes of an interrupted compaction ("completed", "removed") are counted and
printed (how many kills landed mid-compaction). Bounded by a watchdog (80 s); every server it
started is killed on every exit path.

Usage: broker_log_compaction_crash.py --binary PATH --port PORT --data-dir DIR
"""

import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

# ---- helpers (self-contained: servers, a raw connection, reads) ----

SERVERS = []
AS_USER = ["-u", "nobody"] if os.geteuid() == 0 else []


def fail(name, expected, got):
    print("FAIL %s\n  expected: %r\n  got:      %r" % (name, expected, got))
    sys.stdout.flush()
    kill_all()
    os._exit(1)


def ok(name):
    print("ok   %s" % name)
    sys.stdout.flush()


def die_with_parent():
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except Exception:
        pass


def start_server(binary, port, data_dir, n):
    log_path = os.path.join(os.path.dirname(data_dir.rstrip("/")), "compaction-crash-server-%d.log" % n)
    log = open(log_path, "wb")
    args = [binary, "-p", "0", "-l", "127.0.0.1", "-U", "0", "--broker-port=%d" % port,
            "--data-dir=%s" % data_dir, "--fsync=always", "-t", "2"] + AS_USER
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            preexec_fn=die_with_parent)
    log.close()
    SERVERS.append(proc)
    deadline = time.monotonic() + 20
    while True:
        if proc.poll() is not None:
            fail("server #%d starts" % n, "listening", "exited with status %s" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            pass
        if time.monotonic() > deadline:
            fail("server #%d starts within 20 s" % n, "listening", "no listener")
        time.sleep(0.02)
    return proc, log_path


def kill_all():
    for p in SERVERS:
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=10)


class Raw:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out = bytes(self.buf[:i + 2])
                del self.buf[:i + 2]
                return out
            d = self.sock.recv(1 << 20)
            if not d:
                raise EOFError
            self.buf += d

    def exact(self, n):
        while len(self.buf) < n:
            d = self.sock.recv(1 << 20)
            if not d:
                raise EOFError
            self.buf += d
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


def read_all(port, group):
    """Every record a new group reads: [(offset, value)]."""
    c = Raw(port)
    out = []
    while True:
        c.sock.sendall(b"gets cc/group=%s/max=1000\r\n" % group)
        n = 0
        while True:
            l = c.line()
            if l == b"END\r\n":
                break
            parts = l.split()
            v = c.exact(int(parts[3]) + 2)[:-2]
            out.append((int(parts[4]), v))
            n += 1
        if n == 0:
            return out


KEYS = 40


def value(key, seq):
    return b"k%02d:s%08d:" % (key, seq) + b"v" * 30

# ---- the test ----


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--data-dir", required=True)
    a = ap.parse_args()
    watchdog = threading.Timer(80, lambda: (print("FAIL watchdog: 80 s passed"), kill_all(), os._exit(2)))
    watchdog.daemon = True
    watchdog.start()
    rng = random.Random(15)
    part = os.path.join(a.data_dir, "logs", "cc", "0")
    sent = set()
    newest_acked = {}  # key -> seq
    seq = [0]
    notes = {"completed": 0, "removed": 0}
    try:
        for rnd in range(7):
            proc, log_path = start_server(a.binary, a.port, a.data_dir, rnd)
            if rnd == 0:
                c = Raw(a.port)
                c.sock.sendall(b"log cc cleanup=compact segment_bytes=1024\r\n")
                if c.line() != b"OK\r\n":
                    fail("declare", b"OK", "another reply")
            else:
                with open(log_path, "rb") as f:
                    text = f.read()
                notes["completed"] += text.count(b"completed")
                notes["removed"] += text.count(b"unfinished compaction")
                names = set(os.listdir(part))
                left = [n for n in names if n.endswith((".cleaned", ".swap", ".tmp"))]
                # An index without its segment is a file left behind too.
                left += [n for n in names if n.endswith((".index", ".timeindex"))
                         and n.rsplit(".", 1)[0] + ".log" not in names]
                if left:
                    fail("round %d: no temporary file left after the restart" % rnd, [], left)
                got = read_all(a.port, b"check%d" % rnd)
                offsets = [o for o, _ in got]
                if any(x >= y for x, y in zip(offsets, offsets[1:])):
                    fail("round %d: offsets rise, none twice" % rnd, "rising", offsets[:20])
                unknown = [v for _, v in got if v not in sent]
                if unknown:
                    fail("round %d: every value read was sent" % rnd, [], unknown[:3])
                last = {}
                for _, v in got:
                    last[int(v[1:3])] = int(v[5:13])
                missing = [k for k, s in newest_acked.items() if last.get(k, -1) < s]
                if missing:
                    fail("round %d: every key's newest acknowledged record is there" % rnd, [],
                         [(k, newest_acked[k], last.get(k)) for k in missing[:5]])
                ok("round %d: %d records read, offsets rising, %d keys' newest records there, no temporary file"
                   % (rnd, len(got), len(newest_acked)))
                if rnd == 6:
                    break
            # Produce (pipelined windows of 32, each acknowledged once on disk) until the kill.
            c = Raw(a.port)
            stop = [False]

            def produce():
                try:
                    while not stop[0]:
                        window = []
                        for _ in range(32):
                            k = rng.randrange(KEYS)
                            v = value(k, seq[0])
                            seq[0] += 1
                            sent.add(v)
                            window.append((k, int(v[5:13])))
                            c.sock.sendall(b"set cc/key=k%02d 0 0 %d\r\n%s\r\n" % (k, len(v), v))
                        for k, s in window:
                            if c.line() != b"STORED\r\n":
                                return
                            newest_acked[k] = max(newest_acked.get(k, -1), s)
                except (EOFError, OSError):
                    return

            t = threading.Thread(target=produce)
            t.start()
            time.sleep(rng.uniform(1.2, 3.0))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            stop[0] = True
            t.join(timeout=10)
            ok("round %d: SIGKILL after %d records sent" % (rnd, seq[0]))
        print("interrupted compactions found at start-up: %d completed, %d removed"
              % (notes["completed"], notes["removed"]))
        print("LOG COMPACTION CRASH CHECKS PASSED")
    finally:
        kill_all()
    os._exit(0)


if __name__ == "__main__":
    main()
