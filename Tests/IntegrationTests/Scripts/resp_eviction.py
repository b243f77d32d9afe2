#!/usr/bin/env python3
"""Eviction policies through the Redis port (issue 14).

--transcript: the replies redis 7.0 gives about policies (CONFIG SET/GET maxmemory-policy,
lfu-log-factor, lfu-decay-time, maxmemory-samples, OBJECT FREQ / IDLETIME under each kind of
policy), one line each, for comparison with redis-server's.

--load: against swiftcached only (memory is slab pages there, so figures differ from redis's):
for each policy, a zipf-ish load that writes about 10x the memory limit through redis-py, then
prints one JSON line of facts: used memory against maxmemory (INFO and the memcached port's stats),
evicted_keys, -OOM replies, keys without a TTL still present under volatile-*, and the hit ratio
of the hot keys (cache-aside: a GET that misses is followed by a SET).
"""
import argparse
import json
import random
import socket
import sys
import time

import redis

POLICIES = ["noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
            "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"]


def show(label, f):
    try:
        r = f()
    except redis.ResponseError as e:
        r = "ERR:" + str(e)
    print(f"{label}: {r!r}")


def transcript(r):
    r.flushall()
    show("get policy", lambda: r.config_get("maxmemory-policy"))
    show("bad policy", lambda: r.config_set("maxmemory-policy", "allkeys-mru"))
    for p in POLICIES + ["ALLKEYS-LFU"]:
        show(f"set {p}", lambda: r.config_set("maxmemory-policy", p))
        show(f"get {p}", lambda: r.config_get("maxmemory-policy"))
    show("lfu-log-factor", lambda: r.config_get("lfu-log-factor"))
    show("lfu-decay-time", lambda: r.config_get("lfu-decay-time"))
    show("lfu-log-factor -1", lambda: r.config_set("lfu-log-factor", "-1"))
    show("lfu-decay-time x", lambda: r.config_set("lfu-decay-time", "x"))
    show("maxmemory-samples 0", lambda: r.config_set("maxmemory-samples", "0"))
    show("maxmemory-samples 7", lambda: r.config_set("maxmemory-samples", "7"))
    show("get samples", lambda: r.config_get("maxmemory-samples"))
    show("lfu-log-factor 0", lambda: r.config_set("lfu-log-factor", "0"))
    r.set("k", "v")
    show("freq under lfu", lambda: r.object("freq", "k"))
    show("idletime under lfu", lambda: r.object("idletime", "k"))
    show("freq missing", lambda: r.object("freq", "nokey"))
    r.get("k")
    r.get("k")
    show("freq after 2 reads (factor 0)", lambda: r.object("freq", "k"))
    r.set("k", "w")
    show("freq after overwrite", lambda: r.object("freq", "k"))
    show("back to allkeys-lru", lambda: r.config_set("maxmemory-policy", "allkeys-lru"))
    show("freq under lru", lambda: r.object("freq", "k"))
    # (IDLETIME itself is not compared: redis reads the LFU bits as an LRU clock right after a switch.)
    show("idletime under lru is a number", lambda: isinstance(r.object("idletime", "k"), int))
    r.rpush("l", "a")
    show("freq of list under lru", lambda: r.object("freq", "l"))
    show("info policy", lambda: r.info("memory")["maxmemory_policy"])
    r.config_set("lfu-log-factor", "10")
    r.config_set("maxmemory-samples", "5")
    r.flushall()
    print("EVICTION TRANSCRIPT DONE")


def zipf_keys(n, s, count, rng):
    weights = [1.0 / (i + 1) ** s for i in range(n)]
    return rng.choices(range(n), weights=weights, k=count)


def mc_stats(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"stats\r\n")
        buf = b""
        while not buf.endswith(b"END\r\n"):
            buf += s.recv(65536)
    out = {}
    for line in buf.decode().split("\r\n"):
        parts = line.split(" ")
        if len(parts) == 3 and parts[0] == "STAT":
            out[parts[1]] = parts[2]
    return out


def mc_set(port, key, size):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"set %s 0 0 %d\r\n%s\r\n" % (key.encode(), size, b"m" * size))
        buf = b""
        while not buf.endswith(b"\r\n"):
            buf += s.recv(4096)
    return buf.decode().strip()


def load(r, policy, limit, value_size, mc_port):
    rng = random.Random(1234)
    r.flushall()
    evicted_before = r.info("stats")["evicted_keys"]
    # One policy also counts the keyspace events `evicted` (class e) a subscriber receives.
    ps = None
    if policy == "allkeys-random":
        r.config_set("notify-keyspace-events", "Ee")
        ps = r.pubsub()
        ps.subscribe("__keyevent@0__:evicted")
        ps.get_message(timeout=2)  # the subscribe confirmation
    mc_evicted_before = int(mc_stats(mc_port)["evictions"]) if mc_port else 0
    r.config_set("maxmemory-policy", policy)
    value = b"x" * value_size
    volatile = policy.startswith("volatile")
    facts = {"policy": policy}
    # Keys without a TTL first (a quarter of memory): volatile-* must never take them.
    fixed = max(1, limit // 4 // value_size)
    p = r.pipeline(transaction=False)
    for i in range(fixed):
        p.set(f"fixed:{i}", value)
    oom = 0
    for x in p.execute(raise_on_error=False):
        if isinstance(x, redis.ResponseError) and str(x).startswith("command not allowed"):
            oom += 1
    # Cold writes (10x memory, each key written once, never read), with a TTL under volatile-*,
    # interleaved with zipf reads of hot keys (cache-aside).
    hot_n = max(1, limit // 8 // value_size)
    writes = 10 * limit // value_size
    batch = 200
    hot_hits = hot_reads = 0
    hot_seq = zipf_keys(hot_n, 0.99, writes, rng)
    for start in range(0, writes, batch):
        p = r.pipeline(transaction=False)
        for i in range(start, min(writes, start + batch)):
            if volatile:
                p.set(f"cold:{i}", value, ex=3600)
            else:
                p.set(f"cold:{i}", value)
            p.get(f"hot:{hot_seq[i]}")
        results = p.execute(raise_on_error=False)
        misses = []
        for j, x in enumerate(results):
            if isinstance(x, redis.ResponseError):
                if str(x).startswith("command not allowed when used memory"):
                    oom += 1
                else:
                    raise x
            elif j % 2 == 1:
                hot_reads += 1
                if x is None:
                    misses.append(hot_seq[start + j // 2])
                else:
                    hot_hits += 1
        if misses:
            p = r.pipeline(transaction=False)
            for k in misses:
                if volatile:
                    p.set(f"hot:{k}", value, ex=3600)
                else:
                    p.set(f"hot:{k}", value)
            for x in p.execute(raise_on_error=False):
                if isinstance(x, redis.ResponseError):
                    oom += 1
    info_mem = r.info("memory")
    info_stats = r.info("stats")
    facts["used_memory"] = info_mem["used_memory"]
    facts["maxmemory"] = info_mem["maxmemory"]
    facts["evicted_keys"] = info_stats["evicted_keys"] - evicted_before
    facts["oom"] = oom
    facts["hot_hit_ratio"] = round(hot_hits / max(1, hot_reads), 4)
    if ps is not None:
        events = 0
        deadline = time.monotonic() + 10
        while events < facts["evicted_keys"] and time.monotonic() < deadline:
            m = ps.get_message(timeout=1)
            if m and m["type"] == "message":
                events += 1
        facts["evicted_events"] = events
        ps.close()
        r.config_set("notify-keyspace-events", "")
    p = r.pipeline(transaction=False)
    for i in range(fixed):
        p.exists(f"fixed:{i}")
    facts["fixed_written"] = fixed
    facts["fixed_present"] = sum(p.execute())
    if mc_port:
        st = mc_stats(mc_port)
        facts["mc_bytes"] = int(st["bytes"])
        facts["mc_total_malloced"] = int(st.get("total_malloced", 0))
        facts["mc_limit_maxbytes"] = int(st["limit_maxbytes"])
        facts["mc_evictions"] = int(st["evictions"]) - mc_evicted_before
    if policy == "noeviction" and mc_port:
        facts["mc_set_reply"] = mc_set(mc_port, "mckey", value_size)
        try:
            r.set("one-more", value)
            facts["resp_set_reply"] = "OK"
        except redis.ResponseError as e:
            facts["resp_set_reply"] = "-" + str(e)
        try:
            facts["resp_get_reply"] = "hit" if r.get("fixed:0") is not None else "miss"
        except redis.ResponseError as e:
            facts["resp_get_reply"] = "-" + str(e)
        # Inside MULTI even a read is refused (redis queues nothing while over maxmemory).
        try:
            p = r.pipeline(transaction=True)
            p.get("fixed:0")
            p.execute()
            facts["multi_get"] = "ran"
        except redis.exceptions.ExecAbortError as e:
            facts["multi_get"] = "-" + str(e)
        except redis.ResponseError as e:
            facts["multi_get"] = "-" + str(e)
        # Memory back (one key deleted): writes are taken again until it is used up.
        r.delete("fixed:0")
        try:
            r.set("fixed:0", value)
            facts["after_delete_set"] = "OK"
        except redis.ResponseError as e:
            facts["after_delete_set"] = "-" + str(e)
    if volatile:
        # Every volatile key gone, no-TTL writes must end in -OOM.
        got_oom = False
        for i in range(2 * limit // value_size):
            try:
                r.set(f"late:{i}", value)
            except redis.ResponseError as e:
                got_oom = str(e).startswith("command not allowed when used memory")
                break
        facts["volatile_exhausted_oom"] = got_oom
        p = r.pipeline(transaction=False)
        for i in range(fixed):
            p.exists(f"fixed:{i}")
        facts["fixed_present_after"] = sum(p.execute())
    return facts


class MC:
    """A plain memcached text-protocol connection."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise RuntimeError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode()

    def set_many(self, keys, size, exptime):
        self.s.sendall(b"".join(b"set %s 0 %d %d\r\n%s\r\n" % (k.encode(), exptime, size, b"m" * size) for k in keys))
        return [self.line() for _ in keys]

    def hits(self, keys):
        self.s.sendall(("get " + " ".join(keys) + "\r\n").encode())
        n = 0
        while True:
            l = self.line()
            if l == "END":
                return n
            if l.startswith("VALUE "):
                n += 1
                size = int(l.split(" ")[3])
                while len(self.buf) < size + 2:
                    self.buf += self.s.recv(65536)
                self.buf = self.buf[size + 2:]

    def stats(self, group=""):
        self.s.sendall(("stats %s\r\n" % group).encode() if group else b"stats\r\n")
        out = {}
        while True:
            l = self.line()
            if l == "END":
                return out
            parts = l.split(" ", 2)
            out[parts[1]] = parts[2]


def mc_volatile(port, value_size):
    """-o eviction=volatile-lru through the memcached port: items without an exptime stay,
    those with one are evicted, then a store with none left fails in memcached's words."""
    mc = MC(port)
    facts = {"eviction_setting": mc.stats("settings").get("eviction")}
    limit = int(mc.stats()["limit_maxbytes"])
    fixed = [f"fixed:{i}" for i in range(limit // 4 // value_size)]
    facts["fixed_replies"] = sorted(set(mc.set_many(fixed, value_size, 0)))
    ttl_replies = set()
    n = 10 * limit // value_size
    for start in range(0, n, 500):
        ttl_replies |= set(mc.set_many([f"ttl:{i}" for i in range(start, min(n, start + 500))], value_size, 3600))
    facts["ttl_replies"] = sorted(ttl_replies)
    facts["fixed_written"] = len(fixed)
    facts["fixed_present"] = sum(mc.hits(fixed[i:i + 100]) for i in range(0, len(fixed), 100))
    facts["evictions"] = int(mc.stats()["evictions"])
    late = set()
    for start in range(0, 2 * limit // value_size, 500):
        late |= set(mc.set_many([f"late:{i}" for i in range(start, start + 500)], value_size, 0))
        if "SERVER_ERROR out of memory storing object" in late:
            break
    facts["late_replies"] = sorted(late)
    return facts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--memcached-port", type=int, default=0)
    ap.add_argument("--transcript", action="store_true")
    ap.add_argument("--load", action="store_true")
    ap.add_argument("--mc-volatile", action="store_true", help="the memcached port (--port) under -o eviction=volatile-lru")
    ap.add_argument("--value-size", type=int, default=8000)
    ap.add_argument("--policies", default=",".join(POLICIES))
    args = ap.parse_args()
    if args.mc_volatile:
        print(json.dumps(mc_volatile(args.port, args.value_size)))
        return
    r = redis.Redis(port=args.port, socket_timeout=30)
    if args.transcript:
        transcript(r)
    if args.load:
        limit = int(r.config_get("maxmemory")["maxmemory"])
        for policy in args.policies.split(","):
            started = time.monotonic()
            facts = load(r, policy, limit, args.value_size, args.memcached_port)
            facts["seconds"] = round(time.monotonic() - started, 2)
            print(json.dumps(facts))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
