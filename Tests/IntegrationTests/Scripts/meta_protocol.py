#!/usr/bin/env python3
"""Raw-socket checks of the memcached META protocol (mg, ms, md, ma, mn, me).

Every expectation below was taken from what memcached 1.6.18 (Debian build,
started with `-U 0`, default -I 1m) answers.  Values that legitimately differ
between servers are not compared exactly:
  * CAS values are only compared with each other (mg c / ms c / ma c / gets /
    me cas=), never with a fixed number;
  * TTLs (t flag) allow +-1 s, the l flag allows +-1 s around the sleep;
  * `me` output: exp= and la= are checked for format only, cls= must be a
    positive integer, size= an integer.
Features 1.6.18 does not have (mg E, md x, ms S, lower-case ms/ma mode
letters, ...) are not tested at all, neither accepted nor rejected.

The script prints one line per check and exits non-zero on the first failure,
printing expected vs got.

Usage: meta_protocol.py --port P [--host 127.0.0.1]
"""

import base64
import re
import sys
import time

from rawconn import Conn, fail, ok, run

RUN_ID = "%x" % (int(time.time() * 1000) & 0xFFFFFFF)






def key(name):
    return ("mp_%s_%s" % (RUN_ID, name)).encode()


def braw(name):
    """A binary (non-printable) key, unique per run."""
    return b"\x00mp\xff" + RUN_ID.encode() + b"\x01" + name.encode()


def b64(raw):
    return base64.b64encode(raw)


def ttl_near(name, got, want, slack=1):
    if abs(int(got) - want) > slack:
        fail(name, "%d (+-%d)" % (want, slack), int(got))
    ok(name)


def get_cas(c, name, k):
    """mg <k> c -> the cas value (int)."""
    m = c.line(name, b"mg " + k + b" c\r\n", rb"HD c(\d+)", report=False)
    return int(m.group(1))


GETS_RE = rb"VALUE (\S+) (\d+) (\d+) (\d+)"


def gets_cas(c, name, k, data):
    m = c.line(name, b"gets " + k + b"\r\n", GETS_RE, body=data, report=False)
    c.expect(name + " (END)", b"END\r\n")
    return int(m.group(4))


def value_reply(k, data, flags=0):
    return b"VALUE %s %d %d\r\n%s\r\nEND\r\n" % (k, flags, len(data), data)


# --------------------------------------------------------------------------
def t_mn_basic_mg():
    c = Conn()
    k = key("basic")
    c.roundtrip("mn -> MN", b"mn\r\n", b"MN\r\n")
    c.roundtrip("mg miss -> EN", b"mg " + k + b"\r\n", b"EN\r\n")
    c.roundtrip("mg miss with v -> EN", b"mg " + k + b" v\r\n", b"EN\r\n")
    c.roundtrip("mg miss with v s t c f -> plain EN", b"mg " + k + b" v s t c f\r\n", b"EN\r\n")
    c.roundtrip("mg miss with k O1 -> EN k<key> O1 (k and O are echoed on a miss)",
                b"mg " + k + b" k O1\r\n", b"EN k" + k + b" O1\r\n")
    c.roundtrip("mg miss with O1 k -> EN O1 k<key> (request order)",
                b"mg " + k + b" O1 k\r\n", b"EN O1 k" + k + b"\r\n")
    c.roundtrip("ms k 2 -> HD", b"ms " + k + b" 2\r\nhi\r\n", b"HD\r\n")
    c.roundtrip("mg hit, no flags -> HD", b"mg " + k + b"\r\n", b"HD\r\n")
    c.roundtrip("mg hit v -> VA 2 + data", b"mg " + k + b" v\r\n", b"VA 2\r\nhi\r\n")
    c.roundtrip("mg hit bare-LF terminated -> VA 2", b"mg " + k + b" v\n", b"VA 2\r\nhi\r\n")
    c.roundtrip("mg hit O123 -> HD O123", b"mg " + k + b" O123\r\n", b"HD O123\r\n")
    c.roundtrip("mg hit empty opaque O -> HD O", b"mg " + k + b" O\r\n", b"HD O\r\n")
    c.roundtrip("mg hit k -> HD k<key>", b"mg " + k + b" k\r\n", b"HD k" + k + b"\r\n")
    c.roundtrip("mg hit s f t -> HD s2 f0 t-1", b"mg " + k + b" s f t\r\n", b"HD s2 f0 t-1\r\n")
    c.roundtrip("mg k, two spaces before flag still parsed", b"mg " + k + b"  v\r\n", b"VA 2\r\nhi\r\n")
    c.roundtrip("ms zero-length value -> HD, mg v s -> VA 0 s0 + empty block",
                b"ms " + k + b"z 0\r\n\r\nmg " + k + b"z v s\r\n", b"HD\r\nVA 0 s0\r\n\r\n")
    c.close()


def t_mg_flags_order():
    c = Conn()
    k = key("order")
    c.roundtrip("ms k 5 F33 -> HD", b"ms " + k + b" 5 F33\r\nhello\r\n", b"HD\r\n")
    m = c.line("mg k v s t f c h l O9 (first fetch) -> VA 5 k.. s5 t-1 f33 c<cas> h0 l<n> O9 in request order",
               b"mg " + k + b" k v s t f c h l O9\r\n",
               rb"VA 5 k" + re.escape(k) + rb" s5 t-1 f33 c(\d+) h0 l(\d+) O9", body=b"hello")
    cas = int(m.group(1))
    m = c.line("reversed request order O9 l h c f t s v k -> flags returned reversed, h1 now",
               b"mg " + k + b" O9 l h c f t s v k\r\n",
               rb"VA 5 O9 l(\d+) h1 c(\d+) f33 t-1 s5 k" + re.escape(k), body=b"hello")
    if int(m.group(2)) != cas:
        fail("cas stable across mg", cas, int(m.group(2)))
    ok("mg c returns the same cas on both fetches")
    gcas = gets_cas(c, "gets after mg", k, b"hello")
    if gcas != cas:
        fail("mg c equals gets cas", cas, gcas)
    ok("mg c value equals the classic gets cas unique")
    c.roundtrip("mg without v: HD with flags only", b"mg " + k + b" s f\r\n", b"HD s5 f33\r\n")
    o31 = b"O" + b"x" * 31
    c.roundtrip("opaque token of 32 bytes (O + 31) is echoed", b"mg " + k + b" " + o31 + b"\r\n",
                b"HD " + o31 + b"\r\n")
    c.close()


def t_mg_errors():
    c = Conn()
    k = key("err")
    c.roundtrip("ms k -> HD", b"ms " + k + b" 2\r\nhi\r\n", b"HD\r\n")
    c.roundtrip("mg with no key -> ERROR", b"mg\r\n", b"ERROR\r\n")
    c.roundtrip("mg with only a space -> ERROR", b"mg \r\n", b"ERROR\r\n")
    c.roundtrip("MG (upper case) -> ERROR", b"MG " + k + b"\r\n", b"ERROR\r\n")
    c.roundtrip("mg invalid flag z -> CLIENT_ERROR invalid flag",
                b"mg " + k + b" z\r\n", b"CLIENT_ERROR invalid flag\r\n")
    c.roundtrip("mg invalid flag Z -> CLIENT_ERROR invalid flag",
                b"mg " + k + b" v Z\r\n", b"CLIENT_ERROR invalid flag\r\n")
    c.roundtrip("mg invalid flag '1' -> CLIENT_ERROR invalid flag",
                b"mg " + k + b" 1\r\n", b"CLIENT_ERROR invalid flag\r\n")
    c.roundtrip("mg invalid flag on a miss -> CLIENT_ERROR invalid flag",
                b"mg " + key("err_miss") + b" z\r\n", b"CLIENT_ERROR invalid flag\r\n")
    c.roundtrip("mg duplicate flag v v -> CLIENT_ERROR duplicate flag",
                b"mg " + k + b" v v\r\n", b"CLIENT_ERROR duplicate flag\r\n")
    c.roundtrip("mg duplicate O1 O2 -> CLIENT_ERROR duplicate flag",
                b"mg " + k + b" k O1 O2\r\n", b"CLIENT_ERROR duplicate flag\r\n")
    for tok in (b"T", b"Tabc", b"N", b"Nx", b"R", b"R1a"):
        c.roundtrip("mg flag %r -> CLIENT_ERROR bad token in command line format" % tok,
                    b"mg " + k + b" " + tok + b"\r\n",
                    b"CLIENT_ERROR bad token in command line format\r\n")
    o32 = b"O" + b"x" * 32
    c.roundtrip("mg opaque token of 33 bytes -> CLIENT_ERROR opaque token too long",
                b"mg " + k + b" " + o32 + b"\r\n", b"CLIENT_ERROR opaque token too long\r\n")
    c.roundtrip("mg opaque too long on a miss -> same CLIENT_ERROR",
                b"mg " + key("err_miss") + b" " + o32 + b"\r\n", b"CLIENT_ERROR opaque token too long\r\n")
    flags17 = b" ".join(b"z%d" % i for i in range(1, 18))
    c.roundtrip("mg with 17 flag tokens is parsed (-> invalid flag)",
                b"mg " + k + b" " + flags17 + b"\r\n", b"CLIENT_ERROR invalid flag\r\n")
    c.roundtrip("mg with 18 flag tokens -> CLIENT_ERROR options flags are too long",
                b"mg " + k + b" " + flags17 + b" z18\r\n", b"CLIENT_ERROR options flags are too long\r\n")
    c.roundtrip("mg with 18 flag tokens, all valid -> CLIENT_ERROR options flags are too long",
                b"mg " + k + b" v s t f c h l k O1 u q P L N30 R30 T30 b z\r\n",
                b"CLIENT_ERROR options flags are too long\r\n")
    k250 = (key("k250") + b"x" * 250)[:250]
    k251 = (key("k251") + b"y" * 251)[:251]
    c.roundtrip("ms key of 250 bytes -> HD", b"ms " + k250 + b" 1\r\nx\r\n", b"HD\r\n")
    c.roundtrip("mg key of 250 bytes -> VA 1", b"mg " + k250 + b" v\r\n", b"VA 1\r\nx\r\n")
    c.roundtrip("mg key of 251 bytes -> CLIENT_ERROR bad command line format",
                b"mg " + k251 + b" v\r\n", b"CLIENT_ERROR bad command line format\r\n")
    c.roundtrip("mg key of 251 bytes, no flags -> CLIENT_ERROR bad command line format",
                b"mg " + k251 + b"\r\n", b"CLIENT_ERROR bad command line format\r\n")
    c.roundtrip("connection in sync after mg errors", b"mg " + k + b" v\r\nmn\r\n", b"VA 2\r\nhi\r\nMN\r\n")
    c.close()


def t_mg_quiet():
    c = Conn()
    k1, k2, km = key("q1"), key("q2"), key("qmiss")
    c.roundtrip("ms q: HD suppressed, mn -> MN",
                b"ms " + k1 + b" 1 q\r\nx\r\nms " + k2 + b" 1 q\r\ny\r\nmn\r\n", b"MN\r\n")
    c.roundtrip("mg miss with q -> nothing (mn -> MN)", b"mg " + km + b" q\r\nmn\r\n", b"MN\r\n")
    c.roundtrip("mg miss with q k O1 -> nothing (mn -> MN)", b"mg " + km + b" q k O1\r\nmn\r\n", b"MN\r\n")
    c.roundtrip("mg hit with q and no v -> HD is still sent", b"mg " + k1 + b" q\r\nmn\r\n", b"HD\r\nMN\r\n")
    c.roundtrip("mg hit with q v -> VA is sent", b"mg " + k1 + b" q v\r\nmn\r\n", b"VA 1\r\nx\r\nMN\r\n")
    c.roundtrip("pipeline mg q (hit, miss, hit) + mn -> only hits, then MN",
                b"mg " + k1 + b" q v O1\r\nmg " + km + b" q v O2\r\nmg " + k2 + b" q k O3\r\nmn\r\n",
                b"VA 1 O1\r\nx\r\nHD k" + k2 + b" O3\r\nMN\r\n")
    c.roundtrip("errors are not suppressed by q", b"mg " + k1 + b" q z\r\nmn\r\n",
                b"CLIENT_ERROR invalid flag\r\nMN\r\n")
    c.close()


def t_mg_base64():
    c = Conn()
    raw = braw("bin")
    bk = b64(raw)
    c.roundtrip("ms <b64> 3 b -> HD", b"ms " + bk + b" 3 b\r\nabc\r\n", b"HD\r\n")
    c.roundtrip("mg <b64> b k v -> VA 3 k<b64> b (b follows k)",
                b"mg " + bk + b" b k v\r\n", b"VA 3 k" + bk + b" b\r\nabc\r\n")
    c.roundtrip("mg <b64> k b v (k before b) -> same VA 3 k<b64> b",
                b"mg " + bk + b" k b v\r\n", b"VA 3 k" + bk + b" b\r\nabc\r\n")
    c.roundtrip("mg <b64> b O1 k s -> HD O1 k<b64> b s3",
                b"mg " + bk + b" b O1 k s\r\n", b"HD O1 k" + bk + b" b s3\r\n")
    c.roundtrip("mg <b64> b s (no k) -> HD s3, no b flag returned",
                b"mg " + bk + b" b s\r\n", b"HD s3\r\n")
    c.roundtrip("mg <b64> without b -> EN (the base64 text is another key)",
                b"mg " + bk + b" v\r\n", b"EN\r\n")
    mk = b64(braw("binmiss"))
    c.roundtrip("mg <b64> miss with b k O2 -> EN k<b64> b O2",
                b"mg " + mk + b" b k O2\r\n", b"EN k" + mk + b" b O2\r\n")
    # A base64 key that decodes to printable text is the same item as the
    # plain key.
    plain = key("b64plain")
    c.roundtrip("ms via b64 of printable key", b"ms " + b64(plain) + b" 1 b\r\nZ\r\n", b"HD\r\n")
    c.roundtrip("  ... readable by mg with the plain key", b"mg " + plain + b" v\r\n", b"VA 1\r\nZ\r\n")
    c.roundtrip("  ... and by classic get", b"get " + plain + b"\r\n", value_reply(plain, b"Z"))
    c.roundtrip("  ... mg b k returns the base64 key", b"mg " + b64(plain) + b" b k\r\n",
                b"HD k" + b64(plain) + b" b\r\n")
    # (memcached's decoder only fails when nothing decodes, so only keys that
    # decode to zero bytes are used here.)
    for bad in (b"!!!!", b"a=", b"YQ"):
        c.roundtrip("mg %r b -> CLIENT_ERROR error decoding key" % bad,
                    b"mg " + bad + b" b\r\n", b"CLIENT_ERROR error decoding key\r\n")
    c.close()


def t_mg_nobump():
    c = Conn()
    k = key("nobump")
    c.roundtrip("ms k -> HD", b"ms " + k + b" 1\r\nx\r\n", b"HD\r\n")
    c.line("me right after ms: fetch=no", b"me " + k + b"\r\n",
           rb"ME " + re.escape(k) + rb" exp=-?\d+ la=\d+ cas=\d+ fetch=no cls=[1-9]\d* size=\d+")
    c.roundtrip("mg u h -> h0", b"mg " + k + b" u h\r\n", b"HD h0\r\n")
    c.roundtrip("mg u h v again -> still h0 (u does not mark fetched)", b"mg " + k + b" u h v\r\n",
                b"VA 1 h0\r\nx\r\n")
    c.line("me after mg u: fetch=no", b"me " + k + b"\r\n",
           rb"ME " + re.escape(k) + rb" exp=-?\d+ la=\d+ cas=\d+ fetch=no cls=[1-9]\d* size=\d+")
    c.roundtrip("mg h (no u) -> h0 (value before this fetch)", b"mg " + k + b" h\r\n", b"HD h0\r\n")
    c.roundtrip("mg h again -> h1", b"mg " + k + b" h\r\n", b"HD h1\r\n")
    c.line("me after mg: fetch=yes", b"me " + k + b"\r\n",
           rb"ME " + re.escape(k) + rb" exp=-?\d+ la=\d+ cas=\d+ fetch=yes cls=[1-9]\d* size=\d+")
    k2 = key("gethit")
    c.roundtrip("classic get marks fetched: ms, get, mg h -> h1",
                b"ms " + k2 + b" 1\r\nx\r\nget " + k2 + b"\r\nmg " + k2 + b" h\r\n",
                b"HD\r\n" + value_reply(k2, b"x") + b"HD h1\r\n")
    # l: seconds since last access.
    k3 = key("lastacc")
    c.roundtrip("ms k (for l)", b"ms " + k3 + b" 1\r\nx\r\n", b"HD\r\n")
    time.sleep(2.2)
    m = c.line("mg u l after 2.2 s -> l<n>", b"mg " + k3 + b" u l\r\n", rb"HD l(\d+)", report=False)
    ttl_near("mg l after 2.2 s idle is 2 (+-1)", m.group(1), 2)
    c.close()


def t_mg_touch():
    c = Conn()
    k = key("touch")
    c.roundtrip("ms k T0 -> HD", b"ms " + k + b" 1 T0\r\nx\r\n", b"HD\r\n")
    c.roundtrip("mg t on item without TTL -> t-1", b"mg " + k + b" t\r\n", b"HD t-1\r\n")
    m = c.line("mg T30 t v -> VA 1 t30", b"mg " + k + b" T30 t v\r\n", rb"VA 1 t(\d+)", body=b"x",
               report=False)
    ttl_near("mg T30 t: t is the new TTL (30 +-1)", m.group(1), 30)
    m = c.line("mg t after T30", b"mg " + k + b" t\r\n", rb"HD t(\d+)", report=False)
    ttl_near("TTL kept after mg T30 (30 +-1)", m.group(1), 30)
    m = c.line("mg T100 t", b"mg " + k + b" T100 t\r\n", rb"HD t(\d+)", report=False)
    ttl_near("mg T100 t -> t100 (+-1)", m.group(1), 100)
    c.roundtrip("mg T0 t -> t-1 (TTL removed)", b"mg " + k + b" T0 t\r\n", b"HD t-1\r\n")
    c.roundtrip("mg T30 on a miss -> EN", b"mg " + key("touchmiss") + b" T30 v\r\n", b"EN\r\n")
    c.line("ms T100", b"ms " + k + b" 1 T100\r\nx\r\nmg " + k + b" t\r\n", rb"HD", report=False)
    m = c.line("mg t after ms T100", b"", rb"HD t(\d+)", report=False)
    ttl_near("ms T100 -> mg t100 (+-1)", m.group(1), 100)
    c.roundtrip("mg T-1 expires the item: next mg -> EN",
                b"mg " + k + b" T-1\r\nmg " + k + b" v\r\n", b"HD\r\nEN\r\n")
    c.roundtrip("ms T-1 -> HD but immediately invisible",
                b"ms " + k + b" 1 T-1\r\nx\r\nmg " + k + b" v\r\n", b"HD\r\nEN\r\n")
    c.close()


def t_mg_vivify():
    c = Conn()
    k = key("viv")
    m = c.line("mg N30 v s t c on a miss -> VA 0 s0 t30 c<cas> W (vivified, caller won)",
               b"mg " + k + b" N30 v s t c\r\n", rb"VA 0 s0 t(\d+) c(\d+) W", body=b"")
    ttl_near("  vivified item has TTL 30 (+-1)", m.group(1), 30)
    cas = int(m.group(2))
    m = c.line("second mg N30 v s t c -> VA 0 s0 t30 c<same> Z (already won)",
               b"mg " + k + b" N30 v s t c\r\n", rb"VA 0 s0 t(\d+) c(\d+) Z", body=b"")
    if int(m.group(2)) != cas:
        fail("vivified cas stable", cas, int(m.group(2)))
    ok("  cas unchanged for the second caller")
    c.roundtrip("plain mg v on the vivified item -> VA 0 Z", b"mg " + k + b" v\r\n", b"VA 0 Z\r\n\r\n")
    c.roundtrip("plain mg on the vivified item -> HD Z", b"mg " + k + b"\r\n", b"HD Z\r\n")
    c.roundtrip("mg N30 q on the vivified item -> HD Z (not suppressed)", b"mg " + k + b" N30 q\r\nmn\r\n",
                b"HD Z\r\nMN\r\n")
    c.roundtrip("classic get of vivified item -> empty value", b"get " + k + b"\r\n", value_reply(k, b""))
    c.roundtrip("winner stores with ms C<cas> -> HD", b"ms " + k + b" 3 C%d\r\nnew\r\n" % cas, b"HD\r\n")
    c.roundtrip("mg N30 v after the recache -> VA 3, no W/Z", b"mg " + k + b" N30 v\r\n", b"VA 3\r\nnew\r\n")
    k2 = key("viv2")
    c.roundtrip("mg N30 q k O5 on a miss -> HD k<key> O5 W (q does not hide it)",
                b"mg " + k2 + b" k N30 O5 q\r\nmn\r\n", b"HD k" + k2 + b" O5 W\r\nMN\r\n")
    k3 = key("viv3")
    c.roundtrip("mg N0 t v on a miss -> VA 0 t-1 W", b"mg " + k3 + b" N0 t v\r\n", b"VA 0 t-1 W\r\n\r\n")
    c.roundtrip("second -> VA 0 t-1 Z", b"mg " + k3 + b" t v\r\n", b"VA 0 t-1 Z\r\n\r\n")
    k4 = key("viv4")
    c.roundtrip("mg s on a miss -> EN", b"mg " + k4 + b" s\r\n", b"EN\r\n")
    c.roundtrip("mg N30 s f -> HD s0 f0 W", b"mg " + k4 + b" N30 s f\r\n", b"HD s0 f0 W\r\n")
    c.roundtrip("mg N30 on an existing ordinary item -> no W",
                b"ms " + k4 + b"x 1\r\nx\r\nmg " + k4 + b"x N30 v\r\n", b"HD\r\nVA 1\r\nx\r\n")
    c.close()


def t_mg_recache():
    c = Conn()
    k = key("rc")
    c.roundtrip("ms k T100 -> HD", b"ms " + k + b" 1 T100\r\nx\r\n", b"HD\r\n")
    m = c.line("mg R30 t (TTL 100 > 30) -> HD t100, no W", b"mg " + k + b" R30 t\r\n", rb"HD t(\d+)",
               report=False)
    ttl_near("mg R30 t -> no W, t100 (+-1)", m.group(1), 100)
    m = c.line("mg R200 t (TTL 100 < 200) -> W", b"mg " + k + b" R200 t\r\n", rb"HD t(\d+) W")
    m = c.line("mg R200 t again -> Z (token already sent)", b"mg " + k + b" R200 t\r\n", rb"HD t(\d+) Z")
    c.roundtrip("plain mg v -> VA 1 Z", b"mg " + k + b" v\r\n", b"VA 1 Z\r\nx\r\n")
    c.roundtrip("new ms resets the win token: mg R200 v -> VA 1 W",
                b"ms " + k + b" 1 T100\r\ny\r\nmg " + k + b" R200 v\r\n", b"HD\r\nVA 1 W\r\ny\r\n")
    k2 = key("rc2")
    c.roundtrip("mg R200 on an item without TTL -> no W",
                b"ms " + k2 + b" 1\r\nx\r\nmg " + k2 + b" R200 t\r\n", b"HD\r\nHD t-1\r\n")
    c.roundtrip("mg R200 on a miss -> EN", b"mg " + key("rcmiss") + b" R200 t\r\n", b"EN\r\n")
    c.close()


def t_stale():
    c = Conn()
    k = key("stale")
    c.roundtrip("ms k 3 T100 -> HD", b"ms " + k + b" 3 T100\r\nabc\r\n", b"HD\r\n")
    cas0 = get_cas(c, "cas before md I", k)
    c.roundtrip("md k I -> HD (marked stale, kept)", b"md " + k + b" I\r\n", b"HD\r\n")
    m = c.line("first mg c v t after md I -> VA 3 c<cas> t100 X W", b"mg " + k + b" c v t\r\n",
               rb"VA 3 c(\d+) t(\d+) X W", body=b"abc")
    cas1 = int(m.group(1))
    ttl_near("  stale item keeps its TTL (100 +-1)", m.group(2), 100)
    if cas1 == cas0:
        fail("md I bumps the cas", "!= %d" % cas0, cas1)
    ok("  md I gave the item a new cas (%d -> %d)" % (cas0, cas1))
    c.line("second mg c v -> VA 3 c<same> Z X (Z before X)", b"mg " + k + b" c v\r\n",
           rb"VA 3 c%d Z X" % cas1, body=b"abc")
    c.roundtrip("plain mg -> HD Z X", b"mg " + k + b"\r\n", b"HD Z X\r\n")
    c.roundtrip("classic get still returns the stale value", b"get " + k + b"\r\n", value_reply(k, b"abc"))
    g = gets_cas(c, "gets of stale item", k, b"abc")
    if g != cas1:
        fail("gets cas equals mg c of stale item", cas1, g)
    ok("  classic gets returns the bumped cas")
    m = c.line("me on the stale item (format)", b"me " + k + b"\r\n",
               rb"ME " + re.escape(k) + rb" exp=-?\d+ la=\d+ cas=(\d+) fetch=yes cls=[1-9]\d* size=\d+")
    if int(m.group(1)) != cas1:
        fail("me cas= equals mg c", cas1, int(m.group(1)))
    ok("  me cas= equals mg c")
    c.roundtrip("md k I T30 again -> HD", b"md " + k + b" I T30\r\n", b"HD\r\n")
    m = c.line("re-invalidated: mg t -> HD t30 X W (win token handed out again)", b"mg " + k + b" t\r\n",
               rb"HD t(\d+) X W", report=False)
    ttl_near("re-invalidated: mg t -> HD t30 X W (TTL from md T30, +-1)", m.group(1), 30)
    c.roundtrip("plain ms clears stale state: mg v -> VA 3, no flags",
                b"ms " + k + b" 3\r\nnew\r\nmg " + k + b" v\r\n", b"HD\r\nVA 3\r\nnew\r\n")
    c.roundtrip("md I on a miss -> NF", b"md " + key("stalemiss") + b" I\r\n", b"NF\r\n")
    c.close()


def t_ms_invalidate():
    c = Conn()
    k = key("msinv")
    c.roundtrip("ms k (1st)", b"ms " + k + b" 3\r\nold\r\n", b"HD\r\n")
    m = c.line("ms k c (2nd) -> HD c<cas>", b"ms " + k + b" 3 c\r\nold\r\n", rb"HD c(\d+)")
    cur = int(m.group(1))
    if cur <= 1:
        fail("cas large enough for a lower-cas test", "> 1", cur)
    m = c.line("ms C<cur-1> I c (stale cas + invalidate) -> HD c<new>",
               b"ms " + k + b" 3 C%d I c\r\nxyz\r\n" % (cur - 1), rb"HD c(\d+)")
    new = int(m.group(1))
    if new == cur:
        fail("ms I stores with a new cas", "!= %d" % cur, new)
    ok("  the invalidated store got a new cas (%d -> %d)" % (cur, new))
    c.line("mg c v -> VA 3 c<new> X W (stored, but stale)", b"mg " + k + b" c v\r\n",
           rb"VA 3 c%d X W" % new, body=b"xyz")
    c.line("mg c v again -> Z X", b"mg " + k + b" c v\r\n", rb"VA 3 c%d Z X" % new, body=b"xyz")
    m = c.line("recache with ms C<new> c -> HD c<newer>", b"ms " + k + b" 3 C%d c\r\nfin\r\n" % new,
               rb"HD c(\d+)")
    c.roundtrip("after recache mg v -> VA 3, not stale", b"mg " + k + b" v\r\n", b"VA 3\r\nfin\r\n")
    cur = int(m.group(1))
    c.line("ms C<cur+1000000> I c (cas from the future) -> EX c<n>",
           b"ms " + k + b" 3 C%d I c\r\nbad\r\n" % (cur + 1000000), rb"EX c\d+")
    c.roundtrip("  value unchanged", b"mg " + k + b" v\r\n", b"VA 3\r\nfin\r\n")
    c.roundtrip("ms C<cur> I (cas equal) -> HD, not stale",
                b"ms " + k + b" 3 C%d I\r\neql\r\nmg " % cur + k + b" v\r\n", b"HD\r\nVA 3\r\neql\r\n")
    c.roundtrip("ms I without C -> plain store", b"ms " + k + b" 3 I\r\nnoc\r\nmg " + k + b" v\r\n",
                b"HD\r\nVA 3\r\nnoc\r\n")
    c.roundtrip("ms C1 I on a miss -> NF", b"ms " + key("msinvmiss") + b" 1 C1 I\r\nx\r\n", b"NF\r\n")
    c.close()


def t_ms_flags():
    c = Conn()
    k = key("ms")
    m = c.line("ms T0 F5 c -> HD c<cas>", b"ms " + k + b" 3 T0 F5 c\r\nabc\r\n", rb"HD c(\d+)")
    cas = int(m.group(1))
    c.line("mg c f t v -> same cas, f5, t-1", b"mg " + k + b" c f t v\r\n", rb"VA 3 c%d f5 t-1" % cas,
           body=b"abc")
    c.line("ms C<wrong> c -> EX c<n> (memcached: c0)", b"ms " + k + b" 3 C%d c\r\nxyz\r\n" % (cas + 1000000),
           rb"EX c\d+")
    c.roundtrip("  value unchanged after EX", b"mg " + k + b" v\r\n", b"VA 3\r\nabc\r\n")
    m = c.line("ms C<cas> c -> HD c<new>", b"ms " + k + b" 3 C%d c\r\nxyz\r\n" % cas, rb"HD c(\d+)")
    if int(m.group(1)) == cas:
        fail("ms C stores with a new cas", "!= %d" % cas, int(m.group(1)))
    ok("  cas changed after ms C")
    c.roundtrip("ms C missing key -> NF", b"ms " + key("msmiss") + b" 1 C5\r\nx\r\n", b"NF\r\n")
    c.line("ms C missing key with c -> NF c<n>", b"ms " + key("msmiss") + b" 1 C5 c\r\nx\r\n", rb"NF c\d+")
    m = c.line("ms c k O9 -> HD c<cas> k<key> O9 (request order)", b"ms " + k + b" 3 c k O9\r\nabc\r\n",
               rb"HD c(\d+) k" + re.escape(k) + rb" O9")
    m = c.line("ms O9 k c -> HD O9 k<key> c<cas>", b"ms " + k + b" 3 O9 k c\r\nabc\r\n",
               rb"HD O9 k" + re.escape(k) + rb" c(\d+)")
    o31 = b"O" + b"x" * 31
    c.roundtrip("ms opaque of 32 bytes echoed", b"ms " + k + b" 1 " + o31 + b"\r\nx\r\n", b"HD " + o31 + b"\r\n")
    c.roundtrip("ms F4294967295 -> mg f4294967295",
                b"ms " + k + b" 1 F4294967295\r\nx\r\nmg " + k + b" f\r\n", b"HD\r\nHD f4294967295\r\n")
    c.line("ms T100", b"ms " + k + b" 1 T100\r\nx\r\nmg " + k + b" t\r\n", rb"HD", report=False)
    m = c.line("mg t after ms T100", b"", rb"HD t(\d+)", report=False)
    ttl_near("ms T100 -> mg t100 (+-1)", m.group(1), 100)
    c.roundtrip("ms without T clears the TTL -> t-1", b"ms " + k + b" 1\r\nx\r\nmg " + k + b" t f\r\n",
                b"HD\r\nHD t-1 f0\r\n")
    raw = braw("msb")
    bk = b64(raw)
    c.roundtrip("ms <b64> T100 F77 k O5 b -> HD k<b64> b O5",
                b"ms " + bk + b" 1 T100 F77 k O5 b\r\nx\r\n", b"HD k" + bk + b" b O5\r\n")
    m = c.line("mg <b64> b k f t v", b"mg " + bk + b" b k f t v\r\n",
               rb"VA 1 k" + re.escape(bk) + rb" b f77 t(\d+)", body=b"x")
    c.roundtrip("ms <b64> ME k O6 b (exists) -> NS k<b64> b O6",
                b"ms " + bk + b" 1 ME k O6 b\r\ny\r\n", b"NS k" + bk + b" b O6\r\n")
    c.close()


def t_ms_modes():
    c = Conn()
    k, k2, k3 = key("mode"), key("mode2"), key("mode3")
    c.roundtrip("ms MS -> HD", b"ms " + k + b" 1 MS\r\na\r\n", b"HD\r\n")
    c.roundtrip("ms ME (add) on existing -> NS", b"ms " + k + b" 1 ME\r\nb\r\n", b"NS\r\n")
    c.roundtrip("ms ME (add) on missing -> HD", b"ms " + k2 + b" 1 ME\r\nb\r\n", b"HD\r\n")
    c.roundtrip("ms MA (append) -> HD", b"ms " + k + b" 1 MA\r\nc\r\n", b"HD\r\n")
    c.roundtrip("ms MP (prepend) -> HD", b"ms " + k + b" 1 MP\r\nd\r\n", b"HD\r\n")
    c.roundtrip("  value is now 'dac'", b"mg " + k + b" v\r\n", b"VA 3\r\ndac\r\n")
    c.roundtrip("ms MA on missing -> NS", b"ms " + k3 + b" 1 MA\r\nc\r\n", b"NS\r\n")
    c.roundtrip("ms MP on missing -> NS", b"ms " + k3 + b" 1 MP\r\nc\r\n", b"NS\r\n")
    c.roundtrip("ms MR (replace) on missing -> NS", b"ms " + k3 + b" 1 MR\r\nc\r\n", b"NS\r\n")
    c.roundtrip("  still missing", b"mg " + k3 + b" v\r\n", b"EN\r\n")
    c.roundtrip("ms MR on existing -> HD", b"ms " + k + b" 1 MR\r\ne\r\nmg " + k + b" v\r\n",
                b"HD\r\nVA 1\r\ne\r\n")
    c.roundtrip("ms MR k O7 on missing -> NS k<key> O7", b"ms " + k3 + b" 1 MR k O7\r\ny\r\n",
                b"NS k" + k3 + b" O7\r\n")
    c.line("ms MR c on missing -> NS c<n>", b"ms " + k3 + b" 1 MR c\r\ny\r\n", rb"NS c\d+")
    # append/prepend keep flags and TTL of the existing item
    ka = key("append")
    c.roundtrip("ms F5 T100 'b'", b"ms " + ka + b" 1 F5 T100\r\nb\r\n", b"HD\r\n")
    c.roundtrip("ms MA F9 T0 'c' -> HD", b"ms " + ka + b" 1 MA F9 T0\r\nc\r\n", b"HD\r\n")
    c.roundtrip("ms MP F9 'a' -> HD", b"ms " + ka + b" 1 MP F9\r\na\r\n", b"HD\r\n")
    m = c.line("append/prepend keep original flags and TTL: VA 3 f5 t100", b"mg " + ka + b" f t v\r\n",
               rb"VA 3 f5 t(\d+)", body=b"abc", report=False)
    ttl_near("append/prepend keep original flags and TTL: VA 3 f5 t100 (+-1)", m.group(1), 100)
    c.roundtrip("ms MA C<wrong> -> EX", b"ms " + ka + b" 1 MA C1\r\nd\r\n", b"EX\r\n")
    cas = get_cas(c, "cas for MA C", ka)
    c.roundtrip("ms MA C<cas> -> HD", b"ms " + ka + b" 1 MA C%d\r\nd\r\nmg " % cas + ka + b" v\r\n",
                b"HD\r\nVA 4\r\nabcd\r\n")
    c.roundtrip("ms MR F3 (replace) sets new flags, clears TTL",
                b"ms " + ka + b" 1 MR F3\r\nz\r\nmg " + ka + b" f t v\r\n", b"HD\r\nVA 1 f3 t-1\r\nz\r\n")
    # q with modes: only HD is suppressed
    kq = key("modeq")
    c.roundtrip("ms MR q on missing -> NS still sent", b"ms " + kq + b" 1 MR q\r\ny\r\nmn\r\n", b"NS\r\nMN\r\n")
    c.roundtrip("ms ME q twice -> first silent (HD), second NS",
                b"ms " + kq + b" 1 ME q\r\ny\r\nms " + kq + b" 1 ME q\r\ny\r\nmn\r\n", b"NS\r\nMN\r\n")
    c.roundtrip("ms C<wrong> q -> EX still sent", b"ms " + kq + b" 1 C%d q\r\ny\r\nmn\r\n" % (cas + 1000000),
                b"EX\r\nMN\r\n")
    c.roundtrip("ms C q on missing -> NF k O still sent", b"ms " + key("modeqm") + b" 1 C5 k O7 q\r\ny\r\n",
                b"NF k" + key("modeqm") + b" O7\r\n")
    c.close()


def t_ms_errors():
    c = Conn()
    k = key("mserr")
    c.roundtrip("ms k 'keep' -> HD", b"ms " + k + b" 4\r\nkeep\r\n", b"HD\r\n")
    # Errors found in the flags: the data block is swallowed.
    swallowed = [
        (b"z", b"CLIENT_ERROR invalid flag"),
        (b"v v", b"CLIENT_ERROR duplicate flag"),
        (b"MS ME", b"CLIENT_ERROR duplicate flag"),
        (b"Tabc", b"CLIENT_ERROR bad token in command line format"),
        (b"T", b"CLIENT_ERROR bad token in command line format"),
        (b"Cabc", b"CLIENT_ERROR bad token in command line format"),
        (b"Fabc", b"CLIENT_ERROR bad command line format"),
        (b"F-1", b"CLIENT_ERROR bad command line format"),
        (b"M", b"CLIENT_ERROR incorrect length for M token"),
        (b"MSS", b"CLIENT_ERROR incorrect length for M token"),
        (b"MX", b"CLIENT_ERROR invalid mode for ms M token"),
        (b"MI", b"CLIENT_ERROR invalid mode for ms M token"),
        (b"O" + b"x" * 32, b"CLIENT_ERROR opaque token too long"),
        (b"q z", b"CLIENT_ERROR invalid flag"),
    ]
    for flags, err in swallowed:
        c.roundtrip("ms k 1 %s -> %s, data block swallowed" % (flags.decode()[:12], err.decode()),
                    b"ms " + k + b" 1 " + flags + b"\r\nx\r\nmn\r\n", err + b"\r\nMN\r\n")
    c.roundtrip("  value unchanged after flag errors", b"mg " + k + b" v\r\n", b"VA 4\r\nkeep\r\n")
    c.roundtrip("ms bad base64 key with b -> CLIENT_ERROR error decoding key, data swallowed",
                b"ms !!!! 1 b\r\nx\r\nmn\r\n", b"CLIENT_ERROR error decoding key\r\nMN\r\n")
    c.roundtrip("ms unpadded base64 key 'YQ' with b -> CLIENT_ERROR error decoding key, data swallowed",
                b"ms YQ 1 b\r\nx\r\nmn\r\n", b"CLIENT_ERROR error decoding key\r\nMN\r\n")
    # Errors in the data length: the data line is parsed as a command.
    for bad in (b"abc", b"-1", b"1x", b"2147483648"):
        c.roundtrip("ms datalen %r -> CLIENT_ERROR bad command line format, data line -> ERROR" % bad,
                    b"ms " + k + b" " + bad + b"\r\nab\r\nmn\r\n",
                    b"CLIENT_ERROR bad command line format\r\nERROR\r\nMN\r\n")
    c.roundtrip("ms without datalen -> CLIENT_ERROR bad command line format",
                b"ms " + k + b"\r\nmn\r\n", b"CLIENT_ERROR bad command line format\r\nMN\r\n")
    c.roundtrip("ms with no key -> ERROR", b"ms\r\nmn\r\n", b"ERROR\r\nMN\r\n")
    k251 = (key("msk251") + b"y" * 251)[:251]
    c.roundtrip("ms key of 251 bytes -> CLIENT_ERROR bad command line format, data line -> ERROR",
                b"ms " + k251 + b" 1\r\nx\r\nmn\r\n", b"CLIENT_ERROR bad command line format\r\nERROR\r\nMN\r\n")
    flags18 = b" ".join(b"z%d" % i for i in range(1, 19))
    c.roundtrip("ms with 18 flag tokens -> CLIENT_ERROR options flags too long, data line -> ERROR",
                b"ms " + k + b" 1 " + flags18 + b"\r\nx\r\nmn\r\n",
                b"CLIENT_ERROR options flags too long\r\nERROR\r\nMN\r\n")
    c.roundtrip("ms data block too long -> CLIENT_ERROR bad data chunk, rest -> ERROR",
                b"ms " + k + b" 3\r\nabcde\r\nmn\r\n", b"CLIENT_ERROR bad data chunk\r\nERROR\r\nMN\r\n")
    c.roundtrip("ms q data block ending in bare LF -> CLIENT_ERROR bad data chunk (q does not hide it)",
                b"ms " + k + b" 3 q\r\nabc\nX\r\nmn\r\n", b"CLIENT_ERROR bad data chunk\r\nERROR\r\nMN\r\n")
    c.roundtrip("  value unchanged after bad data chunk", b"mg " + k + b" v\r\n", b"VA 4\r\nkeep\r\n")
    c.roundtrip("ms command line with bare LF accepted", b"ms " + k + b"lf 1\nx\r\nmg " + k + b"lf v\r\n",
                b"HD\r\nVA 1\r\nx\r\n")
    c.close()


def t_ms_too_large():
    c = Conn()
    k = key("mslarge")
    n = 1024 * 1024 + 1
    c.roundtrip("ms small value", b"ms " + k + b" 1\r\na\r\n", b"HD\r\n")
    c.send(b"ms " + k + b" %d\r\n" % n + b"z" * n + b"\r\nmn\r\n")
    c.expect("ms 1 MiB + 1 -> SERVER_ERROR object too large for cache, data swallowed",
             b"SERVER_ERROR object too large for cache\r\nMN\r\n", timeout=15)
    c.roundtrip("  old value is gone", b"mg " + k + b" v\r\n", b"EN\r\n")
    c.roundtrip("ms small value again", b"ms " + k + b" 1\r\na\r\n", b"HD\r\n")
    c.send(b"ms " + k + b" %d q\r\n" % n + b"z" * n + b"\r\nmn\r\n")
    c.expect("ms 1 MiB + 1 with q -> SERVER_ERROR still sent",
             b"SERVER_ERROR object too large for cache\r\nMN\r\n", timeout=15)
    c.roundtrip("  old value is gone", b"mg " + k + b" v\r\n", b"EN\r\n")
    n = 1024 * 1024 - 512
    c.send(b"ms " + k + b" %d\r\n" % n + b"q" * n + b"\r\nmg " + k + b" s\r\n")
    c.expect("ms 1 MiB - 512 -> HD, mg s -> s%d" % n, b"HD\r\nHD s%d\r\n" % n, timeout=15)
    c.close()


def t_md():
    c = Conn()
    k = key("md")
    c.roundtrip("md miss -> NF", b"md " + k + b"\r\n", b"NF\r\n")
    c.roundtrip("md hit -> HD, then mg -> EN", b"ms " + k + b" 1\r\nx\r\nmd " + k + b"\r\nmg " + k + b" v\r\n",
                b"HD\r\nHD\r\nEN\r\n")
    c.roundtrip("md q hit -> nothing", b"ms " + k + b" 1\r\nx\r\nmd " + k + b" q\r\nmn\r\n", b"HD\r\nMN\r\n")
    c.roundtrip("  deleted", b"mg " + k + b" v\r\n", b"EN\r\n")
    c.roundtrip("md q miss -> NF still sent", b"md " + k + b" q\r\nmn\r\n", b"NF\r\nMN\r\n")
    c.roundtrip("md miss k O1 -> NF k<key> O1", b"md " + k + b" k O1\r\n", b"NF k" + k + b" O1\r\n")
    c.roundtrip("md miss O1 k q -> NF O1 k<key>", b"md " + k + b" O1 k q\r\nmn\r\n", b"NF O1 k" + k + b"\r\nMN\r\n")
    c.roundtrip("md hit k O3 -> HD k<key> O3", b"ms " + k + b" 1\r\nx\r\nmd " + k + b" k O3\r\n",
                b"HD\r\nHD k" + k + b" O3\r\n")
    m = c.line("ms c", b"ms " + k + b" 1 c\r\nx\r\n", rb"HD c(\d+)", report=False)
    cas = int(m.group(1))
    c.roundtrip("md C<wrong> -> EX", b"md " + k + b" C%d\r\n" % (cas + 1000000), b"EX\r\n")
    c.roundtrip("md C<wrong> q -> EX still sent", b"md " + k + b" C%d q\r\nmn\r\n" % (cas + 1000000),
                b"EX\r\nMN\r\n")
    c.roundtrip("  item still there after EX", b"mg " + k + b" v\r\n", b"VA 1\r\nx\r\n")
    c.roundtrip("md C<cas> -> HD, item gone", b"md " + k + b" C%d\r\nmg " % cas + k + b" v\r\n",
                b"HD\r\nEN\r\n")
    c.roundtrip("md T30 without I -> plain delete (HD, then EN)",
                b"ms " + k + b" 1\r\nx\r\nmd " + k + b" T30\r\nmg " + k + b" v\r\n", b"HD\r\nHD\r\nEN\r\n")
    # I with C
    m = c.line("ms c (for md I C)", b"ms " + k + b" 1 c T0\r\n5\r\n", rb"HD c(\d+)", report=False)
    cas = int(m.group(1))
    c.roundtrip("md I C<wrong> -> EX", b"md " + k + b" I C%d\r\n" % (cas + 1000000), b"EX\r\n")
    c.roundtrip("  not stale after EX", b"mg " + k + b" t v\r\n", b"VA 1 t-1\r\n5\r\n")
    c.roundtrip("md I C<cas> T40 -> HD", b"md " + k + b" I C%d T40\r\n" % cas, b"HD\r\n")
    m = c.line("mg t c v -> t40 c<bumped> X W", b"mg " + k + b" t c v\r\n", rb"VA 1 t(\d+) c(\d+) X W",
               body=b"5", report=False)
    ttl_near("md I C<cas> T40 -> mg t40 (+-1) X W", m.group(1), 40)
    if int(m.group(2)) == cas:
        fail("md I bumps cas", "!= %d" % cas, int(m.group(2)))
    ok("  md I changed the cas")
    c.roundtrip("md I q -> nothing; mg -> X W again",
                b"md " + k + b" I q\r\nmn\r\nmg " + k + b" v\r\n", b"MN\r\nVA 1 X W\r\n5\r\n")
    # base64
    bk = b64(braw("mdb"))
    c.roundtrip("md <b64> b k O3 hit -> HD k<b64> b O3",
                b"ms " + bk + b" 1 b\r\nx\r\nmd " + bk + b" b k O3\r\n", b"HD\r\nHD k" + bk + b" b O3\r\n")
    c.roundtrip("md <b64> b k O3 miss -> NF k<b64> b O3", b"md " + bk + b" b k O3\r\n",
                b"NF k" + bk + b" b O3\r\n")
    # errors
    c.roundtrip("ms k (for md errors)", b"ms " + k + b" 1\r\nx\r\n", b"HD\r\n")
    for flags in (b"z", b"q q", b"Tabc", b"Cabc", b"O" + b"x" * 32):
        err = b"CLIENT_ERROR opaque token too long" if flags.startswith(b"O") else \
            b"CLIENT_ERROR invalid or duplicate flag"
        c.roundtrip("md k %s -> %s" % (flags.decode()[:12], err.decode()), b"md " + k + b" " + flags + b"\r\n",
                    err + b"\r\n")
    c.roundtrip("  item not deleted by md errors", b"mg " + k + b" v\r\n", b"VA 1\r\nx\r\n")
    c.roundtrip("md bad base64 key with b -> CLIENT_ERROR invalid or duplicate flag",
                b"md !!!! b\r\n", b"CLIENT_ERROR invalid or duplicate flag\r\n")
    c.roundtrip("md with no key -> ERROR", b"md\r\n", b"ERROR\r\n")
    k251 = (key("mdk251") + b"y" * 251)[:251]
    c.roundtrip("md key of 251 bytes -> CLIENT_ERROR bad command line format", b"md " + k251 + b"\r\n",
                b"CLIENT_ERROR bad command line format\r\n")
    flags18 = b" ".join(b"z%d" % i for i in range(1, 19))
    c.roundtrip("md with 18 flag tokens -> CLIENT_ERROR options flags too long",
                b"md " + k + b" " + flags18 + b"\r\n", b"CLIENT_ERROR options flags too long\r\n")
    c.close()


def t_ma():
    c = Conn()
    k = key("ma")
    c.roundtrip("ms k '5'", b"ms " + k + b" 1\r\n5\r\n", b"HD\r\n")
    c.roundtrip("ma k (default incr by 1) -> HD", b"ma " + k + b"\r\n", b"HD\r\n")
    c.roundtrip("  value is 6", b"mg " + k + b" v\r\n", b"VA 1\r\n6\r\n")
    c.roundtrip("ma v -> VA 1 / 7", b"ma " + k + b" v\r\n", b"VA 1\r\n7\r\n")
    c.roundtrip("ma D10 v -> VA 2 / 17", b"ma " + k + b" D10 v\r\n", b"VA 2\r\n17\r\n")
    c.roundtrip("ma MD D3 v -> 14", b"ma " + k + b" MD D3 v\r\n", b"VA 2\r\n14\r\n")
    c.roundtrip("ma M- v -> 13", b"ma " + k + b" M- v\r\n", b"VA 2\r\n13\r\n")
    c.roundtrip("ma M+ v -> 14", b"ma " + k + b" M+ v\r\n", b"VA 2\r\n14\r\n")
    c.roundtrip("ma MI v -> 15", b"ma " + k + b" MI v\r\n", b"VA 2\r\n15\r\n")
    c.roundtrip("ma MD D1000 v -> 0 (floors at 0)", b"ma " + k + b" MD D1000 v\r\n", b"VA 1\r\n0\r\n")
    c.roundtrip("  shrunk value is space padded: mg v -> '0 '", b"mg " + k + b" v\r\n", b"VA 2\r\n0 \r\n")
    c.roundtrip("ma wraps at 2^64", b"ms " + k + b" 20\r\n18446744073709551615\r\nma " + k + b" v\r\n",
                b"HD\r\nVA 1\r\n0\r\n")
    c.roundtrip("ma D18446744073709551615 on 1 -> 0",
                b"ms " + k + b" 1\r\n1\r\nma " + k + b" D18446744073709551615 v\r\n", b"HD\r\nVA 1\r\n0\r\n")
    c.roundtrip("ma O1 k v -> VA 2 O1 k<key> (flags in request order)",
                b"ms " + k + b" 2\r\n10\r\nma " + k + b" O1 k v\r\n", b"HD\r\nVA 2 O1 k" + k + b"\r\n11\r\n")
    c.roundtrip("ma k O1 t -> HD k<key> O1 t-1", b"ma " + k + b" k O1 t\r\n", b"HD k" + k + b" O1 t-1\r\n")
    m = c.line("ma c -> HD c<cas>", b"ma " + k + b" c\r\n", rb"HD c(\d+)")
    cas = int(m.group(1))
    if get_cas(c, "mg c after ma c", k) != cas:
        fail("ma c equals following mg c", cas, "different")
    ok("  ma c returns the item's new cas")
    g = gets_cas(c, "gets after ma", k, b"13")
    if g != cas:
        fail("gets cas equals ma c", cas, g)
    ok("  classic gets agrees with ma c")
    # C compare
    c.roundtrip("ma C<wrong> v -> EX", b"ma " + k + b" C%d v\r\n" % (cas + 1000000), b"EX\r\n")
    c.roundtrip("ma C<wrong> q -> EX still sent", b"ma " + k + b" C%d q\r\nmn\r\n" % (cas + 1000000),
                b"EX\r\nMN\r\n")
    m = c.line("ma C<cas> v c -> VA 2 c<new> / 14", b"ma " + k + b" C%d v c\r\n" % cas, rb"VA 2 c(\d+)",
               body=b"14")
    if int(m.group(1)) == cas:
        fail("ma changes cas", "!= %d" % cas, int(m.group(1)))
    ok("  cas changed by ma")
    # q
    c.roundtrip("ma q -> HD suppressed", b"ma " + k + b" q\r\nmn\r\n", b"MN\r\n")
    c.roundtrip("ma q v -> VA suppressed too", b"ma " + k + b" q v\r\nmn\r\n", b"MN\r\n")
    c.roundtrip("  both applied: 16", b"mg " + k + b" v\r\n", b"VA 2\r\n16\r\n")
    # T / t: in-place update (same length), one command at a time
    kt = key("mat")
    c.roundtrip("ms kt '1' T0", b"ms " + kt + b" 1 T0\r\n1\r\n", b"HD\r\n")
    m = c.line("ma T70 t v -> VA 1 t70 / 2", b"ma " + kt + b" T70 t v\r\n", rb"VA 1 t(\d+)", body=b"2",
               report=False)
    ttl_near("ma T70 t v -> VA 1 t70 (+-1) / 2", m.group(1), 70)
    m = c.line("mg t after ma T70", b"mg " + kt + b" t\r\n", rb"HD t(\d+)", report=False)
    ttl_near("ma T70 updated the TTL: mg t70 (+-1)", m.group(1), 70)
    # misses
    km = key("mamiss")
    c.roundtrip("ma miss -> NF", b"ma " + km + b"\r\n", b"NF\r\n")
    c.roundtrip("ma miss v -> NF", b"ma " + km + b" v\r\n", b"NF\r\n")
    c.roundtrip("ma miss q -> NF still sent", b"ma " + km + b" q\r\nmn\r\n", b"NF\r\nMN\r\n")
    c.roundtrip("ma miss k O1 -> NF k<key> O1", b"ma " + km + b" k O1\r\n", b"NF k" + km + b" O1\r\n")
    c.roundtrip("ma miss J5 without N -> NF", b"ma " + km + b" J5 v\r\n", b"NF\r\n")
    # autovivify
    kn = key("maviv")
    c.roundtrip("ma N0 J10 v on a miss -> VA 2 / 10 (created with J, no delta)",
                b"ma " + kn + b" N0 J10 v\r\n", b"VA 2\r\n10\r\n")
    c.roundtrip("ma N0 J10 v again -> 11", b"ma " + kn + b" N0 J10 v\r\n", b"VA 2\r\n11\r\n")
    c.roundtrip("ma N0 v on a miss without J -> 0", b"ma " + kn + b"b N0 v\r\n", b"VA 1\r\n0\r\n")
    m = c.line("ma N30 J7 t v c on a miss -> VA 1 t30 c<cas> / 7", b"ma " + kn + b"c N30 J7 t v c\r\n",
               rb"VA 1 t(\d+) c(\d+)", body=b"7", report=False)
    ttl_near("ma N30 J7 t v c on a miss -> VA 1 t30 (+-1) c<cas> / 7", m.group(1), 30)
    c.line("  created item readable: mg t v", b"mg " + kn + b"c c v\r\n", rb"VA 1 c%s" % m.group(2), body=b"7")
    c.roundtrip("  classic get of the created item", b"get " + kn + b"c\r\n", value_reply(kn + b"c", b"7"))
    # base64
    bk = b64(braw("mab"))
    c.roundtrip("ma <b64> b k v -> VA 1 k<b64> b", b"ms " + bk + b" 1 b\r\n5\r\nma " + bk + b" b k v\r\n",
                b"HD\r\nVA 1 k" + bk + b" b\r\n6\r\n")
    c.roundtrip("ma <b64> b O2 k -> HD O2 k<b64> b", b"ma " + bk + b" b O2 k\r\n", b"HD O2 k" + bk + b" b\r\n")
    # non-numeric
    kx = key("manan")
    c.roundtrip("ma on non-numeric -> CLIENT_ERROR cannot increment or decrement non-numeric value",
                b"ms " + kx + b" 3\r\nabc\r\nma " + kx + b"\r\n",
                b"HD\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n")
    c.roundtrip("ma v on non-numeric -> same", b"ma " + kx + b" v\r\n",
                b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n")
    c.roundtrip("ma q on non-numeric -> error still sent", b"ma " + kx + b" q\r\nmn\r\n",
                b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\nMN\r\n")
    # errors
    for flags in (b"z", b"Dabc", b"D-1", b"D18446744073709551616", b"N0 Jabc", b"v v", b"Tabc", b"Cabc",
                  b"M", b"MDD"):
        c.roundtrip("ma k %s -> CLIENT_ERROR invalid or duplicate flag" % flags.decode(),
                    b"ma " + k + b" " + flags + b"\r\n", b"CLIENT_ERROR invalid or duplicate flag\r\n")
    for flags in (b"MX", b"M1"):
        c.roundtrip("ma k %s -> CLIENT_ERROR invalid mode for ma M token" % flags.decode(),
                    b"ma " + k + b" " + flags + b"\r\n", b"CLIENT_ERROR invalid mode for ma M token\r\n")
    c.roundtrip("  value untouched by errors", b"mg " + k + b" v\r\n", b"VA 2\r\n16\r\n")
    c.roundtrip("ma bad base64 key with b -> CLIENT_ERROR invalid or duplicate flag",
                b"ma !!!! b\r\n", b"CLIENT_ERROR invalid or duplicate flag\r\n")
    c.roundtrip("ma with no key -> ERROR", b"ma\r\n", b"ERROR\r\n")
    k251 = (key("mak251") + b"y" * 251)[:251]
    c.roundtrip("ma key of 251 bytes -> CLIENT_ERROR bad command line format", b"ma " + k251 + b"\r\n",
                b"CLIENT_ERROR bad command line format\r\n")
    flags18 = b" ".join(b"z%d" % i for i in range(1, 19))
    c.roundtrip("ma with 18 flag tokens -> CLIENT_ERROR options flags too long",
                b"ma " + k + b" " + flags18 + b"\r\n", b"CLIENT_ERROR options flags too long\r\n")
    c.close()


def t_me():
    c = Conn()
    k = key("me")
    c.roundtrip("me miss -> EN", b"me " + k + b"\r\n", b"EN\r\n")
    m = c.line("ms c (for me)", b"ms " + k + b" 3 c\r\nabc\r\n", rb"HD c(\d+)", report=False)
    cas = m.group(1)
    c.line("me hit -> ME <key> exp=-?N la=N cas=<cas> fetch=no cls=<pos int> size=N",
           b"me " + k + b"\r\n",
           rb"ME " + re.escape(k) + rb" exp=-?\d+ la=\d+ cas=" + cas + rb" fetch=no cls=[1-9]\d* size=[1-9]\d*")
    c.line("me does not mark the item fetched", b"me " + k + b"\r\n",
           rb"ME " + re.escape(k) + rb" exp=-?\d+ la=\d+ cas=" + cas + rb" fetch=no cls=[1-9]\d* size=[1-9]\d*")
    c.roundtrip("  mg h after me -> h0", b"mg " + k + b" h\r\n", b"HD h0\r\n")
    c.line("me after mg -> fetch=yes", b"me " + k + b"\r\n",
           rb"ME " + re.escape(k) + rb" exp=-?\d+ la=\d+ cas=" + cas + rb" fetch=yes cls=[1-9]\d* size=[1-9]\d*")
    c.line("me on item with TTL (exp format)", b"ms " + k + b"t 1 T100\r\nx\r\nme " + k + b"t\r\n", rb"HD",
           report=False)
    c.line("me on item with TTL -> ME ... exp=<int>", b"",
           rb"ME " + re.escape(k) + rb"t exp=-?\d+ la=\d+ cas=\d+ fetch=no cls=[1-9]\d* size=[1-9]\d*")
    bk = b64(braw("meb"))
    c.roundtrip("ms <b64> b", b"ms " + bk + b" 1 b\r\nx\r\n", b"HD\r\n")
    c.line("me <b64> b -> ME <b64> ...", b"me " + bk + b" b\r\n",
           rb"ME " + re.escape(bk) + rb" exp=-?\d+ la=\d+ cas=\d+ fetch=no cls=[1-9]\d* size=[1-9]\d*")
    c.roundtrip("me <b64> without b -> EN", b"me " + bk + b"\r\n", b"EN\r\n")
    c.roundtrip("me <b64 of missing> b -> EN", b"me " + b64(braw("mebmiss")) + b" b\r\n", b"EN\r\n")
    c.roundtrip("me bad base64 with b -> CLIENT_ERROR bad command line format", b"me !!!! b\r\n",
                b"CLIENT_ERROR bad command line format\r\n")
    c.roundtrip("me with no key -> CLIENT_ERROR bad command line format", b"me\r\n",
                b"CLIENT_ERROR bad command line format\r\n")
    k251 = (key("mek251") + b"y" * 251)[:251]
    c.roundtrip("me key of 251 bytes -> CLIENT_ERROR bad command line format", b"me " + k251 + b"\r\n",
                b"CLIENT_ERROR bad command line format\r\n")
    c.roundtrip("mn after me errors -> MN", b"mn\r\n", b"MN\r\n")
    c.close()


def t_mixed():
    c = Conn()
    k = key("mix1")
    m = c.line("ms F42 T0 c", b"ms " + k + b" 5 F42 T0 c\r\nhello\r\n", rb"HD c(\d+)")
    cas = int(m.group(1))
    c.roundtrip("classic get of a meta-set item -> VALUE k 42 5", b"get " + k + b"\r\n",
                value_reply(k, b"hello", 42))
    g = gets_cas(c, "gets of meta-set item", k, b"hello")
    if g != cas:
        fail("gets cas equals ms c", cas, g)
    ok("classic gets cas equals ms c")
    c.roundtrip("classic cas with the ms c value -> STORED", b"cas " + k + b" 7 0 2 %d\r\nhi\r\n" % cas,
                b"STORED\r\n")
    c.roundtrip("mg after classic cas -> f7", b"mg " + k + b" f v\r\n", b"VA 2 f7\r\nhi\r\n")
    k2 = key("mix2")
    c.roundtrip("classic set flags 9", b"set " + k2 + b" 9 0 3\r\nabc\r\n", b"STORED\r\n")
    g = gets_cas(c, "gets of classic item", k2, b"abc")
    c.line("mg f c s v k on a classic-set item -> VA 3 f9 c<gets cas> s3 k<key>",
           b"mg " + k2 + b" f c s v k\r\n", rb"VA 3 f9 c%d s3 k" % g + re.escape(k2), body=b"abc")
    c.roundtrip("md of a classic-set item -> HD, classic get -> END",
                b"md " + k2 + b"\r\nget " + k2 + b"\r\n", b"HD\r\nEND\r\n")
    k3 = key("mix3")
    c.roundtrip("classic incr on ms-set number, then ma v",
                b"ms " + k3 + b" 2\r\n10\r\nincr " + k3 + b" 5\r\nma " + k3 + b" v\r\n",
                b"HD\r\n15\r\nVA 2\r\n16\r\n")
    c.roundtrip("classic delete of ms item -> DELETED, mg -> EN",
                b"delete " + k3 + b"\r\nmg " + k3 + b" v\r\n", b"DELETED\r\nEN\r\n")
    c.roundtrip("classic touch then mg t", b"ms " + k3 + b" 1\r\nx\r\ntouch " + k3 + b" 100\r\n",
                b"HD\r\nTOUCHED\r\n")
    m = c.line("mg t after touch 100", b"mg " + k3 + b" t\r\n", rb"HD t(\d+)", report=False)
    ttl_near("mg t after classic touch 100 -> t100 (+-1)", m.group(1), 100)
    c.close()


TESTS = [t_mn_basic_mg, t_mg_flags_order, t_mg_errors, t_mg_quiet, t_mg_base64, t_mg_nobump, t_mg_touch,
         t_mg_vivify, t_mg_recache, t_stale, t_ms_invalidate, t_ms_flags, t_ms_modes, t_ms_errors,
         t_ms_too_large, t_md, t_ma, t_me, t_mixed]


def main():
    return run(TESTS, 'ALL %(checks)d META PROTOCOL CHECKS PASSED (%(seconds).1f s)')


if __name__ == "__main__":
    sys.exit(main())
