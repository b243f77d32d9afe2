#!/usr/bin/env python3
"""Crash test of the broker journals: SIGKILL mid-run with --fsync=always, restart, drain.

Starts swiftcached itself (`-p 0 -l 127.0.0.1 -U 0 --broker-port=PORT --data-dir=DIR
--fsync=always -t 2`; -p 0 leaves the cache TCP listener off) and:

1. declares a priority queue, an exchange and a binding, and queues four prioritised
   messages (the declarations and their messages must survive the restarts);
2. runs a producer (`set crashq <flags> 0 <n>`, distinct sequence-numbered bodies, pipelined
   with 64 outstanding, at most 20k messages/s, its last 128 held until the kill, so that the
   kill lands mid-run) and two
   consumers on their own connections, both reading reliably (`gets crashq/t=200/close/open`):
   A first takes 1000 messages with plain gets, and stops after ~1 s holding one open read;
   B reads until the server dies;
3. once two group commits completed after A stopped (broker_fsyncs), and at least 0.3 s
   later, SIGKILLs the server, the producer still sending;
4. restarts it on the same data directory and drains the queue with `gets`, checking that
   - nothing that was not sent appears, bodies and flags are intact, no duplicates, and the
     messages come back in queue order;
   - every message that got STORED and was never delivered is there exactly once, not marked
     redelivered; messages sent but unanswered at the kill that survived continue the
     sequence without gaps (the journal is a prefix);
   - consumed messages whose confirm was surely committed (all of A's; B's older than two
     group commits) do not come back (B's last confirms may: at-least-once, reported);
   - A's open read is back, same id, marked `redelivered=1`;
   - the declarations work and the priority queue kept its order;
5. quiet crash: sets three messages (STORED after fsync), opens one with `gets crashq/open`,
   SIGKILLs right after the VALUE reply, restarts, and finds exactly those three, the open
   one marked `redelivered=1` (README: "reads that were open come back as ready and marked
   redelivered");
6. last, that B's read open at the first kill, if it came back, is marked redelivered.

Bounded: a watchdog ends the script (and its servers) after 55 s. Every server it started is
killed on every exit path. Prints one line per check; exits non-zero on the first failure
with expected vs got and the server logs.

Usage: broker_crash.py --binary PATH --port PORT [--data-dir DIR] [--messages 50000]
"""

import argparse
import collections
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import time

import broker_common
import rawconn
from broker_common import kill_all, kill_server, print_logs, read_value, start_server, stats
from rawconn import Conn, fail, ok

QUEUE = b"crashq"
WINDOW = 64
# The producer sends at most this many messages per second, so that on a fast machine 50k
# messages still take 2.5 s and the kill (at most ~1.9 s in) lands mid-run.
MAX_RATE = 20000.0
TAIL = 2 * WINDOW
WATCHDOG_SECONDS = 55.0


def body(seq):
    """Distinct, self-describing, variable-length (21..80 bytes) body of message `seq`."""
    head = b"seq=%07d;" % seq
    return head + (b"%07d" % (seq * 7919 % 10000000)) * (seq % 9) + b"#" * (seq % 5) + b";end"


def flags(seq):
    return seq * 37 % 65536


BODY_RE = re.compile(rb"seq=(\d{7});")


# --------------------------------------------------------------------------
# protocol helpers (rawconn.Conn, replies read with deadlines; read_value and stats: broker_common)

VALUE_RE = broker_common.VALUE_RE


def try_read_value(c, timeout=rawconn.IO_TIMEOUT):
    """Like read_value, for a connection whose server may die: ("ok", message-or-None),
    ("dead", partial bytes) on EOF or timeout mid-reply, ("bad", line) on a malformed reply."""
    line = c.read_line(timeout)
    if line == b"END\r\n":
        return "ok", None
    if not line.endswith(b"\r\n"):
        return "dead", line
    m = VALUE_RE.fullmatch(line[:-2])
    if not m:
        return "bad", line
    n = int(m.group(3))
    rest = c.read_exact(n + 7, timeout)
    if len(rest) != n + 7:
        return "dead", line + rest
    if rest[n:] != b"\r\nEND\r\n":
        return "bad", line + rest
    return "ok", {"key": m.group(1), "flags": int(m.group(2)), "data": rest[:n],
                  "id": int(m.group(4)) if m.group(4) else None, "redelivered": int(m.group(5) or 0),
                  "line": line}


def seq_of(data):
    m = BODY_RE.match(data)
    return int(m.group(1)) if m else None


def drain(c, key, name):
    """gets <key>/redelivery (the VALUE line then carries redelivered=N) in pipelined batches of
    256 until END; returns the parsed messages, their "key" without the option."""
    out = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        c.send((b"gets " + key + b"/redelivery\r\n") * 256)
        ended = False
        for _ in range(256):
            v = read_value(c, name)
            if v is None:
                ended = True
            elif ended:
                fail(name, "nothing after the first END", v["line"])
            else:
                if v["key"] == key + b"/redelivery":
                    v["key"] = key
                out.append(v)
        if ended:
            return out
    fail(name + " finishes within 20 s", "END", "%d messages so far" % len(out))


# --------------------------------------------------------------------------
# producer and consumer

class Producer(threading.Thread):
    def __init__(self, port, total):
        super().__init__(daemon=True)
        self.port = port
        self.total = total
        self.stored = []        # seqs answered STORED, in reply order
        self.attempted = 0      # seqs below this may have reached the server
        self.bad = None         # first reply that was not STORED
        self.ended_by = None
        self.finished = threading.Event()
        # The last TAIL messages wait for this (set right after the kill), so the kill lands
        # mid-run however slowly the consumers reach their marks on a loaded machine.
        self.release = threading.Event()

    def run(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            outstanding = collections.deque()
            buf = b""
            nxt = 0
            t0 = time.monotonic()
            while nxt < self.total or outstanding:
                may_send = nxt < self.total and (nxt < self.total - TAIL or self.release.is_set())
                if len(outstanding) <= WINDOW // 2 and may_send:
                    ahead = nxt / MAX_RATE - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(ahead)
                    n = min(WINDOW - len(outstanding), self.total - nxt)
                    chunk = b"".join(b"set %s %d 0 %d\r\n%s\r\n" % (QUEUE, flags(i), len(body(i)), body(i))
                                     for i in range(nxt, nxt + n))
                    self.attempted = nxt + n
                    s.sendall(chunk)
                    outstanding.extend(range(nxt, nxt + n))
                    nxt += n
                if not outstanding:
                    self.release.wait(0.01)
                    continue
                while b"\r\n" not in buf:
                    d = s.recv(65536)
                    if not d:
                        self.ended_by = "EOF"
                        return
                    buf += d
                while b"\r\n" in buf and outstanding:
                    line, buf = buf.split(b"\r\n", 1)
                    seq = outstanding.popleft()
                    if line != b"STORED":
                        if self.bad is None:
                            self.bad = (seq, line)
                        continue
                    self.stored.append(seq)
            self.ended_by = "done"
        except OSError as e:
            self.ended_by = "socket error %r" % (e,)
        finally:
            self.finished.set()


class Consumer(threading.Thread):
    """Takes the first `plain` messages with plain gets, then reads reliably
    (`gets crashq/t=200/close/open`). With idle_on_stop it stops when told and keeps its last
    read open until the server dies; otherwise it reads until the server dies."""

    def __init__(self, name, port, plain, idle_on_stop):
        super().__init__(daemon=True)
        self.name_ = name
        self.port = port
        self.plain = plain
        self.idle_on_stop = idle_on_stop
        self.plain_seqs = []
        self.confirmed = []     # (seq, time the /close that confirmed it was answered)
        self.open_msg = None    # (seq, id) of the read open when it stopped / the server died
        self.close_unanswered = False  # a /close/open was sent and never answered
        self.error = None
        self.stop = threading.Event()
        self.idle = threading.Event()

    def run(self):
        c = None
        try:
            c = Conn()
            deadline = time.monotonic() + 20
            while len(self.plain_seqs) < self.plain and time.monotonic() < deadline and not self.stop.is_set():
                c.send(b"get " + QUEUE + b"/t=200\r\n")
                v = read_value(c, "consumer %s plain get" % self.name_)
                if v is not None:
                    self.plain_seqs.append(seq_of(v["data"]))
            current = None
            while time.monotonic() < deadline and not (self.idle_on_stop and self.stop.is_set()):
                try:
                    c.send(b"gets " + QUEUE + b"/t=200/close/open\r\n")
                except OSError:
                    self.close_unanswered = current is not None
                    break
                status, v = try_read_value(c)
                if status == "dead":  # the server died before the whole reply arrived
                    self.close_unanswered = current is not None
                    break
                if status != "ok":
                    raise RuntimeError("consumer %s: bad reply %r" % (self.name_, v))
                if current is not None:
                    self.confirmed.append((current[0], time.monotonic()))
                current = None
                if v is not None:
                    current = (seq_of(v["data"]), v["id"])
            self.open_msg = current
            self.idle.set()
            if self.idle_on_stop:
                # keep the connection (and its open read) until the server dies
                c.sock.settimeout(30)
                try:
                    while c.sock.recv(4096):
                        pass
                except OSError:
                    pass
        except BaseException as e:  # fail() raises SystemExit here; reported by the main thread
            self.error = "%s: %s" % (type(e).__name__, e)
            self.idle.set()
        finally:
            if c is not None:
                c.close()


class FsyncMonitor(threading.Thread):
    """Samples broker_fsyncs (completed group commits) every 20 ms: a record appended at time t
    is surely in the journal file once two more commits completed after t."""

    def __init__(self):
        super().__init__(daemon=True)
        self.samples = []  # (time, fsyncs)
        self.stop = threading.Event()

    def run(self):
        try:
            c = Conn()
            while not self.stop.is_set():
                t = time.monotonic()
                # The server is killed under this thread: it stops at the first broken reply.
                self.samples.append((t, int(stats(c, quiet=True)["broker_fsyncs"])))
                time.sleep(0.02)
        except BaseException:
            pass

    def count_after(self, t):
        for ts, n in self.samples:
            if ts >= t:
                return n
        return None

    def written_by_now(self, t):
        """True if a record appended at time t must have been written by the last sample."""
        first = self.count_after(t)
        return first is not None and self.samples[-1][1] >= first + 2


# --------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--data-dir", default=None, help="created if missing; default: a fresh temp dir")
    ap.add_argument("--messages", type=int, default=50000)
    a = ap.parse_args()
    if not os.access(a.binary, os.X_OK):
        print("FAIL: %s is not executable" % a.binary)
        return 2
    own_tmp = None
    if a.data_dir is None:
        own_tmp = tempfile.mkdtemp(prefix="swiftcached-crash-")
        data_dir = os.path.join(own_tmp, "data")
    else:
        data_dir = os.path.abspath(a.data_dir)
        if os.path.exists(data_dir) and os.listdir(data_dir):
            print("FAIL: data dir %s is not empty" % data_dir)
            return 2
    data_dir = broker_common.own_data_dir(data_dir)
    rawconn.ADDRESS = ("127.0.0.1", a.port)
    timer = broker_common.start_watchdog("broker_crash.py", WATCHDOG_SECONDS)
    t0 = time.monotonic()
    try:
        run(a, data_dir)
    except SystemExit as e:
        if e.code:
            print_logs()
        raise
    except Exception as e:
        import traceback
        traceback.print_exc()
        print("FAIL: unexpected exception %s: %s" % (type(e).__name__, e))
        print_logs()
        return 1
    finally:
        timer.cancel()
        kill_all()
        if own_tmp:
            shutil.rmtree(own_tmp, ignore_errors=True)
    print("ALL %d BROKER CRASH CHECKS PASSED (%.1f s)" % (rawconn.CHECKS, time.monotonic() - t0))
    return 0


def run(a, data_dir):
    port = a.port
    total = a.messages
    srv = start_server(a.binary, port, data_dir, 1)

    # declarations and a few prioritised messages that must survive both kills
    c = Conn()
    c.roundtrip("queue crashprio max_priority=5 -> OK", b"queue crashprio max_priority=5\r\n", b"OK\r\n")
    c.roundtrip("exchange crashx direct -> OK", b"exchange crashx direct\r\n", b"OK\r\n")
    c.roundtrip("bind crashx crashprio k -> OK", b"bind crashx crashprio k\r\n", b"OK\r\n")
    for data, prio in ((b"p1", 1), (b"p5", 5), (b"p3", 3)):
        c.roundtrip("set crashprio/priority=%d -> STORED" % prio,
                    b"set crashprio/priority=%d 0 0 2\r\n%s\r\n" % (prio, data), b"STORED\r\n")
    c.roundtrip("publish crashx k (priority=4) -> ROUTED 1", b"publish crashx k 9 0 2 priority=4\r\npx\r\n",
                b"ROUTED 1\r\n")
    c.close()

    # The run: a producer; consumer A (1000 plain gets, then reliable reads, then it stops
    # holding one open read); consumer B (reliable reads until the server dies).
    monitor = FsyncMonitor()
    monitor.start()
    producer = Producer(port, total)
    ca = Consumer("A", port, 1000, idle_on_stop=True)
    cb = Consumer("B", port, 0, idle_on_stop=False)
    t_start = time.monotonic()
    producer.start()
    ca.start()
    cb.start()
    # With --fsync=always every read waits for its record's fsync: A may need more than 1.2 s
    # for its 1000 plain gets.
    while ((time.monotonic() - t_start < 1.2 and len(producer.stored) < total // 5)
           or len(ca.plain_seqs) < 1000) and time.monotonic() - t_start < 10 and not producer.finished.is_set():
        time.sleep(0.01)
    ca.stop.set()
    if not ca.idle.wait(10):
        fail("consumer A stops within 10 s", "idle", "still reading")
    if ca.error:
        fail("consumer A ran without errors", None, ca.error)
    t_idle = time.monotonic()
    # A's last records (its open and confirms) are in the journal file once two more group
    # commits completed (the producer forces one per window).
    deadline = time.monotonic() + 10
    while not (time.monotonic() - t_idle >= 0.3 and monitor.written_by_now(t_idle)):
        if time.monotonic() > deadline:
            fail("two group commits complete after consumer A stopped", ">= 2 commits within 10 s",
                 monitor.samples[-3:])
        time.sleep(0.01)
    stored_at_kill = len(producer.stored)
    mid_run = not producer.finished.is_set()
    t_kill = time.monotonic()
    kill_server(srv, "SIGKILL server #1 after %.2f s (%d STORED, %d sent, producer %s)"
                % (t_kill - t_start, stored_at_kill, producer.attempted,
                   "still running" if mid_run else "already finished"))
    producer.release.set()
    monitor.stop.set()
    producer.finished.wait(10)
    cb.join(10)
    if cb.is_alive() or cb.error:
        fail("consumer B ends with the server, without errors", None, cb.error or "still running")
    if producer.bad is not None:
        fail("every reply to set was STORED", b"STORED", producer.bad)
    ok("every reply the producer got was STORED (%d)" % len(producer.stored))
    if producer.stored != list(range(len(producer.stored))):
        fail("STORED replies came in send order", "0..%d" % (len(producer.stored) - 1), producer.stored[:20])
    ok("STORED replies in send order")
    if not mid_run:
        fail("the kill happened while the producer was still sending", "producer running",
             "it had finished all %d messages" % total)
    ok("the kill interrupted the producer (%d of %d STORED)" % (len(producer.stored), total))
    if len(ca.plain_seqs) != 1000:
        fail("consumer A took 1000 messages with plain gets", 1000, len(ca.plain_seqs))
    ok("consumer A took 1000 messages with plain gets")
    a_conf = [x for x, _ in ca.confirmed]
    b_conf = [x for x, _ in cb.confirmed]
    for name, got in (("A plain gets", ca.plain_seqs), ("A reliable reads", a_conf), ("B reliable reads", b_conf)):
        if got != sorted(got):
            fail("%s saw messages in queue order" % name, "increasing", got[:20])
    allseen = ca.plain_seqs + a_conf + b_conf + [m[0] for m in (ca.open_msg, cb.open_msg) if m]
    if len(allseen) != len(set(allseen)):
        fail("no message was delivered to two consumers", [],
             sorted(s for s, n in collections.Counter(allseen).items() if n > 1)[:10])
    ok("consumers: A %d plain + %d confirmed, B %d confirmed; each message delivered once, in order"
       % (len(ca.plain_seqs), len(a_conf), len(b_conf)))
    if ca.open_msg is None:
        fail("consumer A holds an open read at the kill", "(seq, id)", None)
    ok("consumer A held message %d open (id %d), idle since %.2f s before the kill"
       % (ca.open_msg[0], ca.open_msg[1], t_kill - t_idle))
    ok("consumer B held message %s open at the kill%s" % (cb.open_msg and cb.open_msg[0],
       " (its next /close/open went unanswered)" if cb.close_unanswered else ""))
    stored = len(producer.stored)
    attempted = producer.attempted
    # consumed messages whose confirm record must be on disk: all of A's; B's confirmed more
    # than two group commits before the kill
    surely_gone = set(ca.plain_seqs) | set(a_conf) | {x for x, t in cb.confirmed if monitor.written_by_now(t)}
    consumed = set(ca.plain_seqs) | set(a_conf) | set(b_conf)
    a_open = ca.open_msg[0]
    b_open = cb.open_msg[0] if cb.open_msg else None
    opens = {a_open} | ({b_open} if b_open is not None else set())

    # restart and inspect
    srv = start_server(a.binary, port, data_dir, 2)
    c = Conn()
    st = stats(c)
    items = int(st.get("queue_crashq_items", "-1"))
    ok("after restart: queue_crashq_items %d, open_transactions %s" % (items, st.get("queue_crashq_open_transactions")))
    if st.get("queue_crashq_open_transactions") != "0":
        fail("no open reads right after restart", "0", st.get("queue_crashq_open_transactions"))
    msgs = drain(c, QUEUE, "drain crashq after the crash")
    if len(msgs) != items:
        fail("drained as many messages as stats reported", items, len(msgs))
    ok("drained %d messages (= queue_crashq_items)" % len(msgs))

    seqs = []
    for v in msgs:
        s = seq_of(v["data"])
        if s is None or v["data"] != body(s) or v["flags"] != flags(s) or v["key"] != QUEUE:
            fail("every message is one that was sent, body and flags intact",
                 "body(seq), flags(seq)", v["line"] + v["data"][:100])
        seqs.append(s)
    by_seq = {seq_of(v["data"]): v for v in msgs}
    ok("every drained message is intact (body and flags of its sequence number)")
    if max(seqs, default=-1) >= attempted:
        fail("nothing that was not sent appears", "seq < %d" % attempted, max(seqs))
    ok("nothing that was not sent appears (max seq %d < %d sent)" % (max(seqs, default=-1), attempted))
    dup = [s for s, n in collections.Counter(seqs).items() if n > 1]
    if dup:
        fail("no message appears twice", [], sorted(dup)[:20])
    ok("no message appears twice")
    if seqs != sorted(seqs):
        fail("messages come back in queue order", "increasing",
             [(seqs[i], x) for i, x in enumerate(seqs[1:]) if x < seqs[i]][:10])
    ok("messages come back in queue order")
    back = sorted(set(seqs) & surely_gone)
    if back:
        fail("consumed messages whose confirm had been committed do not come back", [],
             "%d back, e.g. %r" % (len(back), [by_seq[x]["line"] for x in back[:5]]))
    ok("no consumed message came back (all %d of A's, %d of B's %d)"
       % (len(ca.plain_seqs) + len(a_conf), len(surely_gone) - len(ca.plain_seqs) - len(a_conf), len(b_conf)))
    recent = sorted(set(seqs) & (consumed - surely_gone))
    ok("note: %d of B's last confirmed reads came back (confirms not yet committed at the kill): %r"
       % (len(recent), [by_seq[x]["line"].strip() for x in recent[:5]]))
    fresh = [s for s in seqs if s not in consumed and s not in opens]
    marked = [by_seq[s]["line"] for s in fresh if by_seq[s]["redelivered"]]
    # With --fsync=always an open read is answered only once its record is on disk; a consumer
    # whose answer was still held at the kill had its read opened on disk without seeing it.
    # RabbitMQ's redelivered flag means "may have been delivered": at most one such message per
    # consumer with a read in flight may come back marked.
    in_flight = sum(1 for c in (ca, cb) if c.close_unanswered or c.open_msg is None)
    if len(marked) > in_flight:
        fail("messages never delivered are not marked redelivered (beyond one per read in flight at the kill)",
             "at most %d" % in_flight, marked[:5])
    ok("no never-delivered message is marked redelivered")
    want = [s for s in range(stored) if s not in consumed and s not in opens]
    missing = sorted(set(want) - set(fresh))
    if missing:
        fail("every STORED, never delivered message is back", [], "%d missing, e.g. %r" % (len(missing), missing[:10]))
    ok("all %d STORED and never delivered messages are back exactly once" % len(want))
    extra = [s for s in fresh if s >= stored]
    cand = [s for s in range(stored, attempted) if s not in consumed and s not in opens]
    if extra != cand[:len(extra)]:
        fail("sent-but-unanswered messages that survived continue without gaps", cand[:10], extra[:10])
    ok("%d sent-but-unanswered messages survived too, without gaps (journal prefix)" % len(extra))
    va = by_seq.get(a_open)
    if va is None or va["redelivered"] != 1 or va["id"] != ca.open_msg[1]:
        fail("consumer A's open read (idle before the kill) comes back marked redelivered=1, same id",
             b"VALUE crashq/redelivery %d %d %d redelivered=1" % (flags(a_open), len(body(a_open)), ca.open_msg[1]),
             va and va["line"])
    ok("consumer A's open read is back, same id, %r" % va["line"].strip())
    if b_open is not None and b_open not in by_seq and not cb.close_unanswered:
        fail("consumer B's open read at the kill comes back", b_open, "missing")
    ok("consumer B's open read is %s" % ("back: %r" % by_seq[b_open]["line"].strip() if b_open in by_seq
                                        else "gone (its /close was processed, reply lost)"))
    c.roundtrip("queue empty after the drain", b"get crashq\r\n", b"END\r\n")
    st = stats(c)
    if (st.get("queue_crashq_items"), st.get("queue_crashq_open_transactions")) != ("0", "0"):
        fail("stats after the drain: items 0, open 0", ("0", "0"),
             (st.get("queue_crashq_items"), st.get("queue_crashq_open_transactions")))
    ok("stats after the drain: items 0, open_transactions 0")
    # declarations survived the crash
    c.roundtrip("publish crashx k after the crash -> ROUTED 1 (exchange and binding recovered)",
                b"publish crashx k 0 0 2 priority=2\r\npy\r\n", b"ROUTED 1\r\n")
    c.roundtrip("queue crashprio: priority order kept across the crash (p5 first)",
                b"get crashprio\r\n", b"VALUE crashprio 0 2\r\np5\r\nEND\r\n")

    # Quiet crash: three messages STORED (after fsync), one of them read open, then SIGKILL at once.
    for i in range(3):
        c.roundtrip("set crashq after-%d -> STORED (fsync=always)" % i,
                    b"set crashq 5 0 7\r\nafter-%d\r\n" % i, b"STORED\r\n")
    o = Conn()
    o.send(b"gets crashq/open\r\n")
    v = read_value(o, "gets crashq/open")
    if v is None or v["data"] != b"after-0":
        fail("gets crashq/open -> after-0", b"after-0", v)
    open_id = v["id"]
    ok("opened after-0 (id %d)" % open_id)
    kill_server(srv, "SIGKILL server #2 right after the VALUE reply of the open read")
    c.close()
    o.close()
    srv = start_server(a.binary, port, data_dir, 3)
    c = Conn()
    msgs = drain(c, QUEUE, "drain crashq after the second crash")
    got = [v["data"] for v in msgs]
    if got != [b"after-0", b"after-1", b"after-2"]:
        fail("after the second crash: exactly the three STORED messages, in order (the drain stuck)",
             [b"after-0", b"after-1", b"after-2"], got[:10])
    ok("after the second crash: exactly the three messages STORED before it, nothing drained earlier")
    plain = [(v["flags"], v["redelivered"]) for v in msgs[1:]]
    if plain != [(5, 0), (5, 0)]:
        fail("after-1, after-2: flags 5, not redelivered", [(5, 0), (5, 0)], [v["line"] for v in msgs[1:]])
    ok("after-1, after-2: flags 5, not marked redelivered")
    gotp = []
    for _ in range(5):
        c.send(b"get crashprio\r\n")
        v2 = read_value(c, "drain crashprio")
        if v2 is None:
            break
        gotp.append((v2["data"], v2["flags"]))
    wantp = [(b"px", 9), (b"p3", 0), (b"py", 0), (b"p1", 0)]
    if gotp != wantp:
        fail("crashprio after two crashes: px(4) p3(3) py(2) p1(1) with flags", wantp, gotp)
    ok("crashprio after two crashes: remaining messages in priority order, flags kept")
    c.close()
    # The open read whose VALUE reply the client got must come back marked (README: "reads that
    # were open come back as ready and marked redelivered").
    first = msgs[0]
    if first["redelivered"] != 1 or first["id"] != open_id:
        fail("a read open at the kill (VALUE sent, no other traffic) comes back marked redelivered=1, same id",
             b"VALUE crashq/redelivery 5 7 %d redelivered=1" % open_id, first["line"])
    ok("the read open at the second kill is back marked: %r" % first["line"].strip())
    # Consumer B was reading at full speed when server #1 died: its open read must be marked too.
    if b_open in by_seq and (by_seq[b_open]["redelivered"] < 1 or by_seq[b_open]["id"] != cb.open_msg[1]):
        fail("consumer B's read open at the first kill (mid-run) comes back marked redelivered",
             b"VALUE crashq/redelivery %d %d %d redelivered=1" % (flags(b_open), len(body(b_open)), cb.open_msg[1]),
             by_seq[b_open]["line"])
    ok("consumer B's open read at the first kill %s" % ("came back marked" if b_open in by_seq else "did not come back"))


if __name__ == "__main__":
    sys.exit(main())
