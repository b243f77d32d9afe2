#!/usr/bin/env python3
"""Start-up time of the broker with a large topic on disk (issue 15: recovery from the indexes).

Writes a topic of --gb GB (one partition, --record-size-byte records in `produce` batches of
--batch, --fsync=never) with the first binary, stops it cleanly (SIGTERM: every index written),
then, for each binary given, starts it --runs times on that data directory and measures the time
from exec until the broker port accepts a connection (start-up recovery runs before the listeners
are bound), checking `stats logs` finds every record. With --killed the active segment's index
files are removed first (the state a kill -9 leaves: that segment is then read whole).
The page cache is warm (the log was just written and the box's memory holds it).

With --compact the topic is `cleanup=compact` (segments of --segment-mb MB), one record per
`produce`, each with a key drawn at random among as many keys as records (so compaction keeps
about 63 % of the records, with gaps everywhere); after the fill the broker waits for compaction
to catch up before it is stopped. With --no-runs every segment's runs file (`*.runs`) is removed
before each start: the start-up then reads every segment of the compacted partition whole, as
before the runs files existed.

Usage: log-startup-bench.py --binary NAME=PATH [--binary NAME=PATH ...] [--gb 3] [--runs 3]
                            [--record-size 1000] [--batch 1000] [--killed] [--keep DIR]
                            [--compact [--segment-mb 64]] [--no-runs]
"""
import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start(binary, data, port):
    args = [binary, "-p", "0", "-U", "0", "-l", "127.0.0.1", "--broker-port=%d" % port, "-m", "1024",
            "--broker-memory=512", "-t", "2", "--data-dir=" + data, "--fsync=never"]
    if os.getuid() == 0:
        args[1:1] = ["-u", "root"]
    t0 = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
            return proc, time.monotonic() - t0, s
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("server exited: %s" % proc.stderr.read().decode(errors="replace"))
            time.sleep(0.002)


def stats_logs(s):
    s.sendall(b"stats logs\r\n")
    b = b""
    while not b.endswith(b"END\r\n"):
        b += s.recv(1 << 16)
    return dict(l.split()[1:3] for l in b.decode().split("\r\n") if l.startswith("STAT "))


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)


def fill_compacted(s, gb, size, segment_mb):
    s.sendall(b"log big retention_ms=-1 cleanup=compact segment_bytes=%d\r\n" % (segment_mb << 20))
    assert s.recv(100) == b"OK\r\n"
    n = int(gb * (1 << 30)) // (size + 40)
    rng = random.Random(15)
    rec = b"x" * size
    window = 512
    t0 = time.monotonic()
    i = 0
    while i < n:
        reqs = []
        for _ in range(min(window, n - i)):
            reqs.append(b"produce big/key=k%d 0 1 %d\r\n%d\r\n%s\r\n\r\n" % (rng.randrange(n), size + 2 + len(str(size)) + 2,
                                                                               size, rec))
            i += 1
        s.sendall(b"".join(reqs))
        buf = b""
        while buf.count(b"\r\n") < len(reqs):
            buf += s.recv(1 << 16)
        assert buf.startswith(b"PRODUCED"), buf[:100]
    # Compaction (once a second on the timer) catches up with the closed segments.
    last = None
    while True:
        time.sleep(2)
        st = stats_logs(s)
        if st["log_compactions"] == last:
            break
        last = st["log_compactions"]
    print("compactions %s, records removed %s, in %.1f s" % (st["log_compactions"], st["log_compacted_records"],
                                                             time.monotonic() - t0))


def fill(binary, data, gb, size, batch, compact=False, segment_mb=64):
    port = free_port()
    proc, _, s = start(binary, data, port)
    if compact:
        fill_compacted(s, gb, size, segment_mb)
        st = stats_logs(s)
        print("filled %.2f GB after compaction (log end %s, %s segments)" % (
            int(st["big:0:bytes"]) / (1 << 30), st["big:0:log_end_offset"], st["big:0:segments"]))
        stop(proc)
        return int(st["big:0:log_end_offset"])
    s.sendall(b"log big retention_ms=-1\r\n")
    assert s.recv(100) == b"OK\r\n"
    rec = b"x" * size
    block = b"".join(b"%d\r\n%s\r\n" % (size, rec) for _ in range(batch))
    req = b"produce big 0 %d %d\r\n%s\r\n" % (batch, len(block), block)
    total = 0
    target = int(gb * (1 << 30))
    window = 8
    t0 = time.monotonic()
    while total < target:
        s.sendall(req * window)
        got = 0
        buf = b""
        while got < window:
            buf += s.recv(1 << 16)
            got = buf.count(b"\r\n")
        total += window * batch * (size + 20)
    st = stats_logs(s)
    print("filled %.2f GB (%s records, %s segments) in %.1f s" % (
        int(st["big:0:bytes"]) / (1 << 30), st["big:0:log_end_offset"], st["big:0:segments"], time.monotonic() - t0))
    stop(proc)
    return int(st["big:0:log_end_offset"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", action="append", required=True, help="NAME=PATH")
    ap.add_argument("--gb", type=float, default=3)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--record-size", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--killed", action="store_true")
    ap.add_argument("--keep", help="reuse (or leave) the data directory here")
    ap.add_argument("--compact", action="store_true", help="a cleanup=compact topic, compacted")
    ap.add_argument("--segment-mb", type=int, default=64)
    ap.add_argument("--no-runs", action="store_true", help="remove the runs files before each start")
    a = ap.parse_args()
    binaries = [b.split("=", 1) for b in a.binary]
    data = a.keep or tempfile.mkdtemp(prefix="log-startup-")
    try:
        if not os.path.exists(os.path.join(data, "logs")):
            end = fill(binaries[-1][1], data, a.gb, a.record_size, a.batch, a.compact, a.segment_mb)
        else:
            end = None
        part = os.path.join(data, "logs", "big", "0")
        for name, path in binaries:
            times = []
            for _ in range(a.runs):
                if a.killed:
                    last = sorted(f for f in os.listdir(part) if f.endswith(".log"))[-1][:-4]
                    for ext in (".index", ".timeindex"):
                        try:
                            os.unlink(os.path.join(part, last + ext))
                        except FileNotFoundError:
                            pass
                if a.no_runs:
                    for f in os.listdir(part):
                        if f.endswith(".runs"):
                            os.unlink(os.path.join(part, f))
                port = free_port()
                proc, took, s = start(path, data, port)
                try:
                    st = stats_logs(s)
                    if "big:0:log_end_offset" not in st:
                        raise RuntimeError("%s: the topic was not loaded" % name)
                    if end is not None and int(st["big:0:log_end_offset"]) != end:
                        raise RuntimeError("%s: log end %s, expected %d" % (name, st["big:0:log_end_offset"], end))
                    end = int(st["big:0:log_end_offset"])
                    times.append(took)
                    scans = st.get("log_recovery_full_scans", "n/a")
                finally:
                    stop(proc)
            print("%s: start-up %s s (log_recovery_full_scans %s, %.2f GB, %d segments)" % (
                name, ", ".join("%.3f" % t for t in times), scans, int(st["big:0:bytes"]) / (1 << 30),
                int(st["big:0:segments"])))
    finally:
        if not a.keep:
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
