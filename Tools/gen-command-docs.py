#!/usr/bin/env python3
"""Generates Sources/RESP/RESPCommandDocs.swift from a running redis-server 7.0.

For every command in swiftcached's Redis command table (read from Sources/RESP/*.swift) it asks
redis for COMMAND INFO and COMMAND DOCS in RESP3 and keeps, as RESP3 text, what the table itself
does not declare: the ACL categories, the tips and the key specifications of COMMAND INFO, the
whole entry of each implemented subcommand, and the COMMAND DOCS map (subcommands limited to the
implemented ones). Name, arity, flags and key positions come from the table (RESPCommand).

Usage: gen-command-docs.py --port P [--root DIR]   (writes the file, prints a summary)
"""
import argparse, os, re, socket

# The subcommands swiftcached implements, per container command.
SUBCOMMANDS = {
    "client": ["id", "getname", "setname", "list", "info", "kill", "reply", "no-evict", "unblock", "getredir",
               "trackinginfo", "caching", "help"],
    "command": ["count", "list", "info", "docs", "getkeys", "help"],
    "config": ["get", "set", "resetstat", "rewrite", "help"],
    "object": ["encoding", "refcount", "idletime", "freq", "help"],
    "memory": ["usage", "doctor", "malloc-stats", "purge", "stats", "help"],
    "slowlog": ["get", "len", "reset", "help"],
    "pubsub": ["channels", "numsub", "numpat", "shardchannels", "shardnumsub", "help"],
    "function": ["flush", "list", "help"],
    "xgroup": ["create", "setid", "destroy", "createconsumer", "delconsumer", "help"],
    "xinfo": ["consumers", "groups", "stream", "help"],
}


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.f = self.s.makefile("rb")

    def call(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        return self.read()

    def read(self):
        line = self.f.readline()
        t, rest = line[:1], line[1:-2]
        if t in (b"$", b"="):
            n = int(rest)
            if n < 0:
                return ("null",)
            d = self.f.read(n + 2)[:-2]
            return ("bulk", d)
        if t == b"+":
            return ("simple", rest)
        if t == b"-":
            return ("error", rest)
        if t == b":":
            return ("int", int(rest))
        if t == b"_":
            return ("null",)
        if t in (b"*", b"~", b">"):
            n = int(rest)
            kind = {b"*": "arr", b"~": "set", b">": "push"}[t]
            return (kind, [self.read() for _ in range(n)])
        if t == b"%":
            n = int(rest)
            return ("map", [(self.read(), self.read()) for _ in range(n)])
        raise ValueError(line)


def enc(v):
    k = v[0]
    if k == "bulk":
        return b"$%d\r\n%s\r\n" % (len(v[1]), v[1])
    if k == "simple":
        return b"+%s\r\n" % v[1]
    if k == "int":
        return b":%d\r\n" % v[1]
    if k == "null":
        return b"_\r\n"
    if k in ("arr", "set"):
        return (b"*" if k == "arr" else b"~") + b"%d\r\n" % len(v[1]) + b"".join(enc(x) for x in v[1])
    if k == "map":
        return b"%%%d\r\n" % len(v[1]) + b"".join(enc(a) + enc(b) for a, b in v[1])
    raise ValueError(v)


def swift_literal(b):
    s = b.decode("utf-8")
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 0x20:
            out.append("\\u{%x}" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    args = ap.parse_args()
    src = os.path.join(args.root, "Sources", "RESP")
    names = []
    for fn in sorted(os.listdir(src)):
        if fn.endswith(".swift"):
            for m in re.finditer(r'RESPCommand\("([a-z0-9_-]+)"', open(os.path.join(src, fn)).read()):
                if m.group(1) not in names:
                    names.append(m.group(1))
    c = Conn(args.port)
    c.call("HELLO", "3")
    rows = []
    for name in names:
        info = c.call("COMMAND", "INFO", name)[1][0]
        assert info[0] == "arr", (name, info)
        e = info[1]
        cats = [x[1].decode() for x in e[6][1]]
        subs = []
        wanted = SUBCOMMANDS.get(name, [])
        for sub in e[9][1]:
            sname = sub[1][0][1].decode().split("|", 1)[1]
            if sname in wanted:
                subs.append((wanted.index(sname), sub))
        subs = [s for _, s in sorted(subs, key=lambda x: x[0])]
        missing = set(wanted) - {s[1][0][1].decode().split("|", 1)[1] for s in subs}
        assert not missing, (name, missing)
        # ACL categories, tips, key specs: elements 7, 8, 9.
        rest = enc(e[6]) + enc(e[7]) + enc(e[8])
        docs = c.call("COMMAND", "DOCS", name)
        assert docs[0] == "map" and len(docs[1]) == 1, (name, docs)
        dmap = docs[1][0][1]
        items = []
        subdocs = []
        for k, v in dmap[1]:
            if k[1] == b"subcommands":
                v = ("map", [(sk, sv) for sk, sv in v[1] if sk[1].decode().split("|", 1)[1] in wanted])
                v = ("map", sorted(v[1], key=lambda kv: wanted.index(kv[0][1].decode().split("|", 1)[1])))
                subdocs = [enc(sv) for _, sv in v[1]]
            items.append((k, v))
        subcats = [" ".join(x[1].decode() for x in s[1][6][1]) for s in subs]
        assert len(subdocs) == len(subs), name
        rows.append((name, " ".join(cats), rest, [enc(s) for s in subs], subcats, subdocs, enc(("map", items))))
    out = []
    out.append("// Generated by Tools/gen-command-docs.py from redis-server 7.0.15's COMMAND INFO and COMMAND DOCS")
    out.append("// (RESP3 text): what COMMAND reports beyond the table's own name, arity, flags and key positions.")
    out.append("// Regenerate after adding a command to the table; RESPCommandInfoTests checks every command has a row.")
    out.append("")
    out.append("extension RESPCommandDocs {")
    out.append("    static let rows: [Row] = [")
    for name, cats, rest, subs, subcats, subdocs, docs in rows:
        out.append("        Row(name: %s," % swift_literal(name.encode()))
        out.append("            categories: %s," % swift_literal(cats.encode()))
        out.append("            info: %s," % swift_literal(rest))
        out.append("            subcommands: [%s]," % ", ".join(swift_literal(s) for s in subs))
        out.append("            subcommandCategories: [%s]," % ", ".join(swift_literal(s.encode()) for s in subcats))
        out.append("            subcommandDocs: [%s]," % ", ".join(swift_literal(d) for d in subdocs))
        out.append("            docs: %s)," % swift_literal(docs))
    out.append("    ]")
    out.append("}")
    path = os.path.join(src, "RESPCommandDocs+Generated.swift")
    open(path, "w").write("\n".join(out) + "\n")
    print("wrote %d commands to %s" % (len(rows), path))
    # The flags redis reports, for the table's declarations.
    for name in names:
        info = c.call("COMMAND", "INFO", name)[1][0][1]
        print(name, info[1][1], [x[1].decode() for x in info[2][1]], info[3][1], info[4][1], info[5][1])


if __name__ == "__main__":
    main()
