"""What the broker black-box scripts share, on top of rawconn.py (the raw connection, fail, ok):
the servers a script starts itself (start_server: --broker-port, --data-dir, --fsync=always, -t 2,
`-u nobody` as root; killed with the script, on every exit path and by the watchdog), the main of
such a script (main_with_servers), reading replies (a queue's VALUE reply, a topic's records with
their offsets, a `stats` group as a dict), waiting for a port or a condition, and pymemcache's
import. broker_pymemcache.py, broker_binary.py, broker_crash.py, broker_logs.py,
broker_log_groups.py, broker_log_compaction.py, broker_logs_crash.py, broker_log_sessions.py,
broker_log_larger_than_memory.py and broker_log_compaction_crash.py import it (from their own
directory: python puts a script's directory first on sys.path), so that a change to how replies
are read or servers are run reaches them all.
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
from rawconn import fail, ok

# swiftcached refuses root without -u, as memcached: as root it runs as nobody, and the data
# directory is made nobody's (own_data_dir).
AS_USER = ["-u", "nobody"] if os.geteuid() == 0 else []
SERVERS = []  # every Popen started, killed in the end
LOGS = []     # their log files


def import_pymemcache():
    """pymemcache's Client class; exits 3 (a missing prerequisite) when it is not importable."""
    try:
        from pymemcache.client.base import Client
    except ImportError as e:  # pragma: no cover
        print("FAIL: pymemcache is not importable for %s: %s" % (sys.executable, e))
        sys.exit(3)
    return Client


def eq(name, expected, got):
    if expected != got:
        fail(name, expected, got)
    ok(name)


# --------------------------------------------------------------------------
# servers

def die_with_parent():
    """In the child before exec: SIGKILL it if this script dies (Linux PR_SET_PDEATHSIG), so a
    server never outlives a script that was itself killed."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except Exception:
        pass


def wait_for_port(port, name, proc=None, timeout=10.0):
    """Fails `name` unless 127.0.0.1:port accepts a connection within `timeout` seconds (or
    when `proc`, the server that should listen there, exits first)."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            fail(name, "listening on 127.0.0.1:%d" % port, "exited with status %s" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError as e:
            if time.monotonic() > deadline:
                fail(name + " within %.0f s" % timeout, "listening on 127.0.0.1:%d" % port, repr(e))
        time.sleep(0.05)


def start_server(binary, port, data_dir, n, extra=(), log_prefix=""):
    """Server #n on the broker port `port` and `data_dir` (the cache listeners off), its output in
    <prefix>server-<n>.log beside the data directory; returns once it listens."""
    log_path = os.path.join(os.path.dirname(data_dir.rstrip("/")), "%sserver-%d.log" % (log_prefix, n))
    log = open(log_path, "wb")
    LOGS.append(log_path)
    args = [binary, "-p", "0", "-l", "127.0.0.1", "-U", "0", "--broker-port=%d" % port,
            "--data-dir=%s" % data_dir, "--fsync=always"] + list(extra) + ["-t", "2"] + AS_USER
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            preexec_fn=die_with_parent)
    log.close()
    SERVERS.append(proc)
    wait_for_port(port, "server #%d starts (%s)" % (n, " ".join(args)), proc)
    ok("server #%d started (pid %d): %s" % (n, proc.pid, " ".join(args[1:])))
    return proc


def kill_server(proc, name):
    proc.send_signal(signal.SIGKILL)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        fail(name, "server gone after SIGKILL", "still running after 10 s")
    ok(name)


def kill_all():
    for p in SERVERS:
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGKILL)
                p.wait(timeout=10)
            except Exception:
                pass


def print_logs():
    for path in LOGS:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        print("----- %s (last 3000 bytes) -----" % os.path.basename(path))
        print(data[-3000:].decode("utf-8", "replace"))
    sys.stdout.flush()


def own_data_dir(path):
    """The data directory as an absolute path, made, and the server's user's."""
    data_dir = os.path.abspath(path)
    os.makedirs(data_dir, exist_ok=True)
    if AS_USER:
        import pwd
        nobody = pwd.getpwnam("nobody")
        os.chown(data_dir, nobody.pw_uid, nobody.pw_gid)
    return data_dir


def start_watchdog(script, seconds):
    """Ends the script (its servers killed, their logs printed) after `seconds`."""
    def watchdog():
        print("FAIL: %s did not finish within %.0f s (watchdog)" % (script, seconds))
        print_logs()
        kill_all()
        sys.stdout.flush()
        os._exit(1)

    timer = threading.Timer(seconds, watchdog)
    timer.daemon = True
    timer.start()
    return timer


def main_with_servers(script, run, seconds=55):
    """The main of a script that starts its own servers: `--binary PATH --port PORT --data-dir
    DIR`, then run(args, data_dir) under a watchdog; every server is killed on every exit path."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--data-dir", required=True)
    a = ap.parse_args()
    data_dir = own_data_dir(a.data_dir)
    rawconn.ADDRESS = ("127.0.0.1", a.port)
    timer = start_watchdog(script, seconds)
    try:
        run(a, data_dir)
    finally:
        timer.cancel()
        kill_all()
    return 0


# --------------------------------------------------------------------------
# replies

def wait_for(name, pred, timeout=3.0, step=0.02):
    """pred()'s first true value within `timeout` seconds; fails `name` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            fail(name, "condition within %.1f s" % timeout, "still false")
        time.sleep(step)


def stats(c, group=b"", quiet=False):
    """`stats [group]`'s lines as a dict; quiet: a dead server raises ConnectionError instead of
    failing."""
    c.send(b"stats" + (b" " + group if group else b"") + b"\r\n")
    out = {}
    deadline = time.monotonic() + rawconn.IO_TIMEOUT
    while True:
        line = c.read_line(max(0.1, deadline - time.monotonic()))
        if line == b"END\r\n":
            return out
        m = re.fullmatch(rb"STAT (\S+) (.*)\r\n", line)
        if not m:
            if quiet:
                raise ConnectionError("stats ended early: %r" % line)
            fail("stats line", b"STAT <name> <value>\\r\\n or END\\r\\n", line + c._more())
        out[m.group(1).decode()] = m.group(2).decode()


def stats_logs(c):
    return stats(c, b"logs")


# A queue's retrieval reply: the id (gets), redelivered=N (a key with /redelivery), and deaths=N
# reason=R (a dead-lettered message) when asked for.
VALUE_RE = re.compile(
    rb"VALUE (\S+) (\d+) (\d+)(?: (\d+))?(?: redelivered=(\d+))?(?: deaths=(\d+) reason=([a-z_]+))?")


def read_value(c, name, timeout=rawconn.IO_TIMEOUT):
    """Reads one retrieval reply of a queue: None for END, else a dict with key, flags, data, id,
    redelivered, deaths, reason (absent fields: None / 0) and the VALUE line."""
    line = c.read_line(timeout)
    if line == b"END\r\n":
        return None
    m = VALUE_RE.fullmatch(line[:-2]) if line.endswith(b"\r\n") else None
    if not m:
        fail(name, b"VALUE <key> <flags> <bytes>[ <id>[ redelivered=N][ deaths=N reason=R]]\\r\\n or END\\r\\n",
             line + c._more())
    n = int(m.group(3))
    blk = c.read_exact(n + 2, timeout)
    end = c.read_exact(5, timeout)
    if len(blk) != n + 2 or not blk.endswith(b"\r\n") or end != b"END\r\n":
        fail(name + " (data block + END)", b"<%d bytes>\\r\\nEND\\r\\n" % n, blk + end + c._more())
    return {
        "key": m.group(1), "flags": int(m.group(2)), "data": blk[:-2],
        "id": int(m.group(4)) if m.group(4) is not None else None,
        "redelivered": int(m.group(5) or 0),
        "deaths": int(m.group(6) or 0),
        "reason": m.group(7),
        "line": line,
    }


RECORD_RE = re.compile(rb"VALUE (\S+) (\d+) (\d+) (\d+)")


def records(c, key, send=True, check_key=False):
    """One `gets` of a topic on a raw connection (send=False: its reply only): [(offset, value)].
    check_key: every VALUE line names `key`."""
    if send:
        c.send(b"gets " + key + b"\r\n")
    out = []
    while True:
        line = c.read_line()
        if line == b"END\r\n":
            return out
        m = RECORD_RE.fullmatch(line[:-2])
        if not m or (check_key and m.group(1) != key):
            fail("a VALUE line for %r" % key, b"VALUE <key> <flags> <bytes> <offset>", line)
        blk = c.read_exact(int(m.group(3)) + 2)
        out.append((int(m.group(4)), blk[:-2]))


def all_records(c, key, check_key=False):
    """`gets key` repeated until a reply holds no record: every (offset, value) read."""
    out = []
    while True:
        got = records(c, key, check_key=check_key)
        if not got:
            return out
        out += got


# A `get` reply's VALUE line: key, flags, bytes, then whatever a topic's read adds.
GET_VALUE_RE = re.compile(rb"VALUE (\S+) (\d+) (\d+)(?: \S+)*")


def values(c, key, timeout=rawconn.IO_TIMEOUT):
    """One `get` of `key` (a topic read: group, consumer, open, max, timeout in the key): the
    values it answered with, in order (END alone: [])."""
    c.send(b"get " + key + b"\r\n")
    out = []
    while True:
        line = c.read_line(timeout)
        if line == b"END\r\n":
            return out
        m = GET_VALUE_RE.fullmatch(line[:-2]) if line.endswith(b"\r\n") else None
        if not m:
            fail("a VALUE line for %r" % key, b"VALUE <key> <flags> <bytes>...\\r\\n or END\\r\\n",
                 line + c._more())
        n = int(m.group(3))
        blk = c.read_exact(n + 2, timeout)
        if len(blk) != n + 2 or not blk.endswith(b"\r\n"):
            fail("the data block of %r" % key, b"<%d bytes>\\r\\n" % n, blk + c._more())
        out.append(blk[:-2])
