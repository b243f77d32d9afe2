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

import os
import random
import signal
import sys
import threading
import time

import broker_common
from broker_common import all_records, start_server
from rawconn import Conn, fail, ok

KEYS = 40


def value(key, seq):
    return b"k%02d:s%08d:" % (key, seq) + b"v" * 30

# ---- the test ----


def run(a, data_dir):
    rng = random.Random(15)
    part = os.path.join(data_dir, "logs", "cc", "0")
    sent = set()
    newest_acked = {}  # key -> seq
    seq = [0]
    notes = {"completed": 0, "removed": 0}
    for rnd in range(7):
        proc = start_server(a.binary, a.port, data_dir, rnd, log_prefix="compaction-crash-")
        log_path = broker_common.LOGS[-1]
        if rnd == 0:
            Conn().roundtrip("declare", b"log cc cleanup=compact segment_bytes=1024\r\n", b"OK\r\n")
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
            got = all_records(Conn(), b"cc/group=check%d/max=1000" % rnd)
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
        c = Conn()
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
                        c.send(b"set cc/key=k%02d 0 0 %d\r\n%s\r\n" % (k, len(v), v))
                    for k, s in window:
                        if c.read_line() != b"STORED\r\n":
                            return
                        newest_acked[k] = max(newest_acked.get(k, -1), s)
            except OSError:
                return

        t = threading.Thread(target=produce, daemon=True)
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


if __name__ == "__main__":
    sys.exit(broker_common.main_with_servers("broker_log_compaction_crash.py", run, seconds=80))
