#!/usr/bin/env python3
"""TLS clients against a server started with -Z (swiftcached or memcached 1.6.18).

  tls_clients.py clients --port P --ca CERT [--redis-port R]
      pymemcache with tls_context: set/get, a 1.5 MB value (start the server with -I 2m),
      get_many of 200 keys, 3000 pipelined set+get in one write; redis-py ssl=True SET/GET.
  tls_clients.py stall --port P --ca CERT --pid PID
      a client that asks for 30 MB of replies and reads none for 2 s, and one stuck half-way through
      its handshake: the server (PID) must not spin meanwhile (at most 0.3 s of CPU), then every
      byte arrives and conn_output_stalls counts the stall (start the server with -I 2m).
  tls_clients.py ask --port P --ca CERT --request R [--request R ...]
      sends each request over one TLS connection and prints the replies (up to END\\r\\n).

Every socket has a timeout; exits non-zero with a message on the first failure.
"""
import argparse
import os
import socket
import ssl
import sys


def context(ca):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False  # the test certificate names localhost, the tests dial 127.0.0.1
    return ctx


def fail(message):
    print("FAIL " + message)
    sys.exit(1)


def tls_socket(ctx, port):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="localhost")
    s.settimeout(10)
    return s


def read_until(s, total):
    buf = bytearray()
    while len(buf) < total:
        d = s.recv(1 << 20)
        if not d:
            break
        buf += d
    return bytes(buf)


def clients(args):
    from pymemcache.client.base import Client
    ctx = context(args.ca)
    c = Client(("127.0.0.1", args.port), tls_context=ctx, timeout=10, connect_timeout=10)
    c.set("tls-key", b"tls-value")
    got = c.get("tls-key")
    if got != b"tls-value":
        fail("pymemcache get: %r" % (got,))
    print("ok pymemcache set/get")
    big = os.urandom(1500000)
    c.set("tls-big", big)
    if c.get("tls-big") != big:
        fail("pymemcache 1.5 MB value differs")
    print("ok pymemcache 1.5 MB value")
    for i in range(200):
        c.set("k%d" % i, b"v%d" % i * 10)
    many = c.get_many(["k%d" % i for i in range(200)])
    if len(many) != 200 or many["k7"] != b"v7" * 10:
        fail("pymemcache get_many: %d keys" % len(many))
    print("ok pymemcache get_many 200")
    s = tls_socket(ctx, args.port)
    s.sendall(b"".join(b"set p%d 0 0 3\r\nabc\r\nget p%d\r\n" % (i, i) for i in range(3000)))
    want = b"".join(b"STORED\r\nVALUE p%d 0 3\r\nabc\r\nEND\r\n" % i for i in range(3000))
    got = read_until(s, len(want))
    if got != want:
        fail("pipelined replies: %d bytes of %d, first difference at %d" % (
            len(got), len(want), next((i for i in range(min(len(got), len(want))) if got[i] != want[i]), -1)))
    print("ok 3000 pipelined set+get in one write")
    s.close()
    if args.redis_port:
        import redis
        r = redis.Redis(host="127.0.0.1", port=args.redis_port, ssl=True, ssl_ca_certs=args.ca,
                        ssl_check_hostname=False, socket_timeout=10, socket_connect_timeout=10)
        if r.set("tls-redis", "v1") is not True:
            fail("redis SET")
        if r.get("tls-redis") != b"v1":
            fail("redis GET")
        if r.get("tls-key") != b"tls-value":
            fail("redis GET of the memcached port's key")
        print("ok redis-py ssl=True SET/GET")
    print("TLS CLIENTS PASSED")


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def stall(args):
    from pymemcache.client.base import Client
    ctx = context(args.ca)
    c = Client(("127.0.0.1", args.port), tls_context=ctx, timeout=10, connect_timeout=10)
    big = os.urandom(1500000)
    c.set("stall-big", big, noreply=False)  # stored before another connection asks for it
    s = tls_socket(ctx, args.port)
    s.sendall(b"get stall-big\r\n" * 20)
    half = socket.create_connection(("127.0.0.1", args.port), timeout=10)
    half.sendall(b"\x16\x03\x01\x02\x00\x01")  # the first bytes of a ClientHello, no more
    import time
    time.sleep(0.5)
    before = cpu_ticks(args.pid)
    time.sleep(2)
    used = cpu_ticks(args.pid) - before
    ticks = os.sysconf("SC_CLK_TCK")
    if used > 0.3 * ticks:
        fail("the server used %d clock ticks in 2 s with a stalled reader and a stuck handshake" % used)
    print("ok %d clock ticks of server CPU in 2 s while stalled" % used)
    reply = b"VALUE stall-big 0 1500000\r\n" + big + b"\r\nEND\r\n"
    got = read_until(s, 20 * len(reply))
    if got != reply * 20:
        fail("stalled reader got %d bytes of %d, or different ones" % (len(got), 20 * len(reply)))
    print("ok 20 replies of 1.5 MB once read")
    half.close()
    s.sendall(b"stats\r\n")
    buf = b""
    while not buf.endswith(b"END\r\n"):
        d = s.recv(65536)
        if not d:
            fail("closed before stats")
        buf += d
    stalls = [l for l in buf.split(b"\r\n") if l.startswith(b"STAT conn_output_stalls ")]
    if not stalls or int(stalls[0].split()[2]) < 1:
        fail("conn_output_stalls: %r" % stalls)
    print("ok %s" % stalls[0].decode())
    print("TLS STALL PASSED")


def ask(args):
    s = tls_socket(context(args.ca), args.port)
    for request in args.requests:
        s.sendall(request.encode().replace(b"\\r\\n", b"\r\n"))
        buf = b""
        while not buf.endswith(b"END\r\n"):
            d = s.recv(65536)
            if not d:
                fail("closed after %r" % buf[-200:])
            buf += d
        sys.stdout.write(buf.decode())
    s.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["clients", "stall", "ask"])
    p.add_argument("--pid", type=int, default=0)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--redis-port", type=int, default=0)
    p.add_argument("--ca", required=True)
    p.add_argument("--request", dest="requests", action="append", default=[])
    args = p.parse_args()
    {"clients": clients, "stall": stall, "ask": ask}[args.mode](args)


if __name__ == "__main__":
    main()
