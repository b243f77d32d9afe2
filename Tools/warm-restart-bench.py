#!/usr/bin/env python3
"""Measures a warm restart (-e): fill N small items, SIGUSR1, start again on the same memory
file, and time until the port answers and until `stats` shows curr_items == N. Works for
swiftcached and for memcached 1.5.18+ (same flags), so both can be measured on the same data.

  Tools/warm-restart-bench.py --binary .build/release/swiftcached --items 1000000
  Tools/warm-restart-bench.py --binary /usr/bin/memcached --items 1000000

Every server it starts is stopped; the memory file and its .meta are removed at the end.
Only 127.0.0.1; bounded waits everywhere.
"""
import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start(binary, port, memfile, mb, log):
    args = [binary, "-p", str(port), "-U", "0", "-l", "127.0.0.1", "-m", str(mb), "-e", memfile, "-t", "2"]
    if os.geteuid() == 0:
        args += ["-u", "nobody"]
    return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)


def wait_port(port, proc, limit=60.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if proc.poll() is not None:
            raise SystemExit("server exited during start-up")
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
            s.settimeout(10)
            return s
        except OSError:
            time.sleep(0.001)
    raise SystemExit("port did not answer")


def stat(sock, name):
    sock.sendall(b"stats\r\n")
    buf = b""
    while not buf.endswith(b"END\r\n"):
        chunk = sock.recv(1 << 16)
        if not chunk:
            raise SystemExit("closed")
        buf += chunk
    for line in buf.split(b"\r\n"):
        parts = line.split(b" ")
        if len(parts) == 3 and parts[1] == name.encode():
            return int(parts[2])
    return None


def key(i):
    return b"bench:%d" % i


def value(i):
    return b"%032d" % i


def fill(sock, n):
    batch = 10000
    for base in range(0, n, batch):
        cmds = b"".join(b"set %s %d %d 32 noreply\r\n%s\r\n" % (key(i), i % 65536, 0 if i % 2 else 86400, value(i))
                        for i in range(base, min(n, base + batch)))
        sock.sendall(cmds)
    return stat(sock, "curr_items")


def spot_check(sock, n, count=2000):
    rnd = random.Random(7)
    for _ in range(count // 100):
        idx = [rnd.randrange(n) for _ in range(100)]
        sock.sendall(b"get " + b" ".join(key(i) for i in idx) + b"\r\n")
        buf = b""
        while not buf.endswith(b"END\r\n"):
            buf += sock.recv(1 << 16)
        for i in idx:
            if (b"VALUE %s %d 32\r\n%s\r\n" % (key(i), i % 65536, value(i))) not in buf:
                raise SystemExit("%s wrong or missing after restart" % key(i))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--memory", type=int, default=1024, help="-m in MB")
    ap.add_argument("--memfile", default=None)
    args = ap.parse_args()
    memfile = args.memfile or "/dev/shm/warm-bench-%d.mem" % os.getpid()
    logpath = memfile + ".log"
    log = open(logpath, "w")
    procs = []
    try:
        port = free_port()
        p = start(args.binary, port, memfile, args.memory, log)
        procs.append(p)
        sock = wait_port(port, p)
        t0 = time.monotonic()
        items = fill(sock, args.items)
        fill_s = time.monotonic() - t0
        if items != args.items:
            raise SystemExit("curr_items %s after filling %d (raise --memory?)" % (items, args.items))
        sock.close()
        t0 = time.monotonic()
        p.send_signal(signal.SIGUSR1)
        rc = p.wait(timeout=120)
        stop_s = time.monotonic() - t0
        # memcached 1.6.18 refuses a restart within the same second as the stop ("restart
        # incompatible due to setting for [stop_time]"): wait past it, for both servers. The
        # restart is timed from the exec.
        time.sleep(1.1)
        port = free_port()
        t0 = time.monotonic()
        p = start(args.binary, port, memfile, args.memory, log)
        procs.append(p)
        sock = wait_port(port, p)
        answered_s = time.monotonic() - t0
        while True:
            n = stat(sock, "curr_items")
            if n == args.items:
                break
            if time.monotonic() - t0 > 300:
                raise SystemExit("curr_items %s after 300 s" % n)
            time.sleep(0.001)
        restored_s = time.monotonic() - t0
        spot_check(sock, args.items)
        print("%s: %d items (fill %.2f s); SIGUSR1 stop %.3f s (exit %d); restart: port answers after %.3f s, "
              "curr_items == %d after %.3f s; 2000 random values checked"
              % (os.path.basename(args.binary), args.items, fill_s, stop_s, rc, answered_s, args.items, restored_s))
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        log.close()
        with open(logpath) as f:
            sys.stderr.write(f.read())
        for path in (memfile, memfile + ".meta", logpath):
            try:
                os.unlink(path)
            except OSError:
                pass


if __name__ == "__main__":
    main()
