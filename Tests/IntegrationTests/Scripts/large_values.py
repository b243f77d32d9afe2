"""Values the connection reads straight into item memory: text set, meta set and binary set of
values from 1 byte to 3 MB (chunked items past 512 KB), sent whole, in odd-sized pieces with
pauses (so that reads land mid-chunk and mid-terminator), or glued to the next command; a bad
terminator after a directly-read value; every value read back byte for byte. Loopback only.
Usage: large_values.py --port N  (the server must run with -I 4m)."""

import argparse
import random
import socket
import struct
import sys
import time

CHECKS = 0


def check(name, cond, extra=""):
    global CHECKS
    if not cond:
        print("FAIL %s %s" % (name, extra))
        sys.exit(1)
    CHECKS += 1


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send_pieces(self, data, pieces):
        """Sends data cut at the given sizes, pausing between pieces so each arrives alone."""
        pos = 0
        for n in pieces:
            self.s.sendall(data[pos:pos + n])
            pos += n
            time.sleep(0.01)
        self.s.sendall(data[pos:])

    def read_exact(self, n):
        while len(self.buf) < n:
            d = self.s.recv(1 << 20)
            if not d:
                raise EOFError("connection closed")
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(1 << 20)
            if not d:
                raise EOFError("connection closed")
            self.buf += d
        i = self.buf.index(b"\r\n") + 2
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def get(self, key):
        self.s.sendall(b"get " + key + b"\r\n")
        line = self.read_line()
        if line == b"END\r\n":
            return None
        n = int(line.split()[3])
        value = self.read_exact(n + 2)[:-2]
        assert self.read_line() == b"END\r\n"
        return value


def value(n, seed):
    r = random.Random(seed)
    return bytes(r.getrandbits(8) for _ in range(min(n, 4096))) * (n // 4096) + bytes(r.getrandbits(8) for _ in range(n % 4096))


def pieces_for(n, seed):
    r = random.Random(seed)
    out, left = [], n
    while left > 0 and len(out) < 12:
        k = r.randint(1, max(1, left // 3))
        out.append(k)
        left -= k
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    port = ap.parse_args().port
    c = Conn(port)
    cb = Conn(port)  # a connection speaks the protocol of its first byte: binary on its own
    sizes = [1, 100, 16 * 1024 + 7, 100 * 1024, 512 * 1024 - 50, 512 * 1024 + 1, 600 * 1024, 1 << 20, 3 * (1 << 20) + 11]
    for i, n in enumerate(sizes):
        v = value(n, i)
        # text set, whole
        key = b"t%d" % i
        c.s.sendall(b"set " + key + b" 7 0 %d\r\n" % n + v + b"\r\n")
        check("set %d whole" % n, c.read_line() == b"STORED\r\n")
        check("get %d whole" % n, c.get(key) == v)
        # text set in pieces, the terminator split too
        req = b"set " + key + b" 8 0 %d\r\n" % n + v + b"\r\n"
        c.send_pieces(req, pieces_for(len(req) - 1, 100 + i))
        check("set %d pieces" % n, c.read_line() == b"STORED\r\n")
        check("get %d pieces" % n, c.get(key) == v)
        # meta set in pieces, glued to the next command
        mkey = b"m%d" % i
        req = b"ms " + mkey + b" %d T0 F3\r\n" % n + v + b"\r\nmg " + mkey + b" s f\r\n"
        c.send_pieces(req, pieces_for(len(req) - 5, 200 + i))
        check("ms %d" % n, c.read_line() == b"HD\r\n")
        check("mg after ms %d" % n, c.read_line() == b"HD s%d f3\r\n" % n)
        check("get ms %d" % n, c.get(mkey) == v)
        # binary set in pieces on the binary connection (no terminator: the store completes on the value's last byte)
        bkey = b"b%d" % i
        extras = struct.pack(">II", 5, 0)
        body = extras + bkey + v
        hdr = struct.pack(">BBHBBHIIQ", 0x80, 0x01, len(bkey), len(extras), 0, 0, len(body), 0xABCD, 0)
        cb.send_pieces(hdr + body, pieces_for(len(hdr) + len(body) - 1, 300 + i))
        resp = cb.read_exact(24)
        magic, op, _, _, _, status, blen, opaque, cas = struct.unpack(">BBHBBHIIQ", resp)
        cb.read_exact(blen)
        check("binary set %d" % n, magic == 0x81 and op == 0x01 and status == 0 and opaque == 0xABCD and cas != 0,
              repr(resp))
        check("get binary %d" % n, c.get(bkey) == v)
    # A bad terminator after a value read straight into the item.
    n = 600 * 1024
    v = value(n, 99)
    req = b"set bad 0 0 %d\r\n" % n + v + b"XY"
    c.send_pieces(req, [100, 300 * 1024])
    check("bad data chunk", c.read_line() == b"CLIENT_ERROR bad data chunk\r\n")
    check("bad not stored", c.get(b"bad") is None)
    print("LARGE VALUE CHECKS PASSED (%d checks)" % CHECKS)


if __name__ == "__main__":
    main()
