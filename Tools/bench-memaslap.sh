#!/usr/bin/env bash
# Side-by-side throughput with memaslap (libmemcached-tools' memcaslap) until the load harness
# exists: swiftcached and Debian's memcached with the same flags, alternating A B A B A B, then the
# median TPS of each and the ratio. Also bytes of memory per item for 1M items (10-byte keys,
# 100-byte values). Only loopback; every run is bounded by -t.
#   Tools/bench-memaslap.sh [rounds=3] [seconds=10]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
secs=${2:-10}
Tools/deps.sh test >/dev/null
swift build -c release --product swiftcached >/dev/null
BIN=.build/release/swiftcached
# swiftcached, as memcached, refuses to run as root without -u.
AS_USER=$([ "$(id -u)" = 0 ] && echo "-u nobody" || true)
SC_PORT=${SC_PORT:-23411}
MC_PORT=${MC_PORT:-23412}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

start_servers() {
    # memaslap's keys begin with control bytes, which protocol.txt forbids and swiftcached refuses by
    # default; memcached accepts them, and so does swiftcached with this option.
    $BIN -p $SC_PORT -l 127.0.0.1 -U 0 -t 2 -m "$1" -o allow_key_control_chars $AS_USER & pids+=($!)
    memcached -p $MC_PORT -l 127.0.0.1 -U 0 -t 2 -m "$1" -u nobody & pids+=($!)
    sleep 1
}
stop_servers() { cleanup; wait 2>/dev/null || true; pids=(); }

cpu_ticks() { awk '{print $14 + $15}' /proc/$1/stat; }

tps() { # port pid → "TPS cpu_seconds" of one memaslap run; any error line from memaslap fails the benchmark
    local out before after
    before=$(cpu_ticks $2)
    out=$(memcaslap -s 127.0.0.1:$1 -T 1 -c 50 -t ${secs}s -X 100 2>&1)
    if grep -q "ERROR" <<<"$out"; then echo "memaslap saw errors from port $1:" >&2; grep -m3 ERROR <<<"$out" >&2; exit 1; fi
    after=$(cpu_ticks $2)
    echo "$(awk '/^Run time:/ {for (i=1;i<=NF;i++) if ($i=="TPS:") print $(i+1)}' <<<"$out" | tail -1) $(awk "BEGIN {print ($after - $before) / $(getconf CLK_TCK)}")"
}

echo "# memaslap -s 127.0.0.1:PORT -T 1 -c 50 -t ${secs}s -X 100; servers -t 2 -m 256; $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(date -u +%F)"
start_servers 256
sc=(); mc=(); scc=(); mcc=()
for r in $(seq 1 "$rounds"); do
    read -r a ac <<<"$(tps $SC_PORT ${pids[0]})"
    read -r b bc <<<"$(tps $MC_PORT ${pids[1]})"
    echo "round $r: swiftcached $a TPS (server CPU ${ac}s, $(awk "BEGIN {printf \"%.0f\", $a*$secs/$ac}") ops/CPU-s), memcached $b TPS (server CPU ${bc}s, $(awk "BEGIN {printf \"%.0f\", $b*$secs/$bc}") ops/CPU-s)"
    sc+=("$a"); mc+=("$b"); scc+=("$(awk "BEGIN {print $a*$secs/$ac}")"); mcc+=("$(awk "BEGIN {print $b*$secs/$bc}")")
done
stop_servers
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
msc=$(median "${sc[@]}"); mmc=$(median "${mc[@]}")
echo "median TPS: swiftcached $msc, memcached $mmc, ratio $(awk "BEGIN {printf \"%.2f\", $msc/$mmc}")"
msc=$(median "${scc[@]}"); mmc=$(median "${mcc[@]}")
echo "median ops per server CPU-second: swiftcached $(printf %.0f $msc), memcached $(printf %.0f $mmc), ratio $(awk "BEGIN {printf \"%.2f\", $msc/$mmc}")"

echo "# memory per item: 1,000,000 sets of 10-byte keys and 100-byte values, -m 1024"
start_servers 1024
for port in $SC_PORT $MC_PORT; do
    python3 - "$port" <<'PY'
import socket, sys
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port))
value = b"v" * 100
batch = []
for i in range(1_000_000):
    batch.append(b"set k%09d 0 0 100 noreply\r\n%s\r\n" % (i, value))
    if len(batch) == 2000:
        s.sendall(b"".join(batch)); batch = []
s.sendall(b"".join(batch) + b"stats\r\nstats slabs\r\n")
buf = b""
while buf.count(b"END\r\n") < 2:
    buf += s.recv(65536)
stats = dict(l.split(" ")[1:3] for l in buf.decode().split("\r\n") if l.startswith("STAT "))
n = int(stats["curr_items"])
name = "swiftcached" if "swiftcached" in stats["version"] else "memcached"
used = sum(int(v) * int(stats[k.replace("used_chunks", "chunk_size")])
           for k, v in stats.items() if k.endswith(":used_chunks"))
print(f"{name}: curr_items {n}, bytes {stats['bytes']} ({int(stats['bytes'])/n:.1f}/item), "
      f"chunk bytes in use {used} ({used/n:.1f}/item), "
      f"total_malloced {stats['total_malloced']} ({int(stats['total_malloced'])/n:.1f}/item), "
      f"hash_bytes {stats['hash_bytes']} ({int(stats['hash_bytes'])/n:.1f}/item)")
PY
done
stop_servers
