#!/usr/bin/env bash
# Queue throughput side by side: swiftcached's broker port (set q / get q/t=100) against
# redis-server lists (LPUSH q / BRPOP q 0.1), with the same harness, connections and message size,
# alternating A B A B A B. Durable variants: swiftcached --fsync=always with a data dir against
# redis-server appendonly yes + appendfsync always; and the non-durable pair (--fsync=never /
# redis without persistence). Reports medians, the ratio, and for swiftcached messages per fsync
# (from `stats`). Only loopback; every run is bounded by --duration.
#   Tools/bench-queue.sh [rounds=3] [seconds=8] [producers=4] [consumers=4] [pipeline=4]
#   SC_THREADS=1 Tools/bench-queue.sh ...   swiftcached's worker threads (default 2; redis has one)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
secs=${2:-8}
producers=${3:-4}
consumers=${4:-4}
pipeline=${5:-4}
Tools/deps.sh bench >/dev/null
swift build -c release --product swiftcached >/dev/null
swift build -c release --product swiftcached-loadtest >/dev/null
BIN=.build/release/swiftcached
# swiftcached, as memcached, refuses to run as root without -u.
AS_USER=$([ "$(id -u)" = 0 ] && echo "-u nobody" || true)
LT=.build/release/swiftcached-loadtest
SC_THREADS=${SC_THREADS:-2}
SC_PORT=${SC_PORT:-23421}
RD_PORT=${RD_PORT:-23422}
work=$(mktemp -d /tmp/bench-queue.XXXXXX)
# As root the server runs as nobody (-u), which creates its data directory in here.
[ "$(id -u)" = 0 ] && chmod 777 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM

cpu_ticks() { awk '{print $14 + $15}' /proc/$1/stat; }

# port protocol pid → "messages/s cpu_seconds"
run() {
    local before after out
    before=$(cpu_ticks $3)
    out=$($LT run --server 127.0.0.1:$1 --protocol $2 --producers $producers --consumers $consumers \
          --pipeline $pipeline --duration $secs --queue bench$RANDOM --json)
    after=$(cpu_ticks $3)
    python3 -c 'import json,sys; r=json.loads(sys.argv[1]); e=r["errors"]["total"]; print(r["messages_per_s"], e)' "$out" | {
        read -r rate errors
        if [ "$errors" != "0" ]; then echo "harness counted $errors errors on port $1" >&2; exit 1; fi
        echo "$rate $(awk "BEGIN {print ($after - $before) / $(getconf CLK_TCK)}")"
    }
}

stat_of() { # port name
    python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"stats\r\n")
buf = b""
while not buf.endswith(b"END\r\n"):
    buf += s.recv(65536)
for line in buf.decode().split("\r\n"):
    p = line.split(" ")
    if len(p) == 3 and p[1] == sys.argv[2]:
        print(p[2])
PY
}

median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

bench() { # label sc-flags redis-flags
    local label=$1 scflags=$2 rdflags=$3
    rm -rf "$work"/sc "$work"/rd; mkdir -p "$work"/sc "$work"/rd
    $BIN -p 0 -l 127.0.0.1 -U 0 -t $SC_THREADS -m 1024 --broker-port=$SC_PORT $scflags $AS_USER & pids+=($!)
    local scpid=$!
    (cd "$work"/rd && exec redis-server --port $RD_PORT --bind 127.0.0.1 --save "" --io-threads 1 $rdflags >/dev/null) & pids+=($!)
    local rdpid=$!
    sleep 1
    local sc=() rd=() scc=() rdc=()
    for r in $(seq 1 "$rounds"); do
        read -r a ac <<<"$(run $SC_PORT queue $scpid)"
        read -r b bc <<<"$(run $RD_PORT resp-queue $rdpid)"
        echo "  round $r: swiftcached $(printf %.0f $a) msg/s (server CPU ${ac}s), redis-server $(printf %.0f $b) msg/s (server CPU ${bc}s)"
        sc+=("$a"); rd+=("$b"); scc+=("$(awk "BEGIN {print $a*$secs/$ac}")"); rdc+=("$(awk "BEGIN {print $b*$secs/$bc}")")
    done
    local total fsyncs
    total=$(stat_of $SC_PORT broker_total_messages 2>/dev/null || true)
    fsyncs=$(stat_of $SC_PORT broker_fsyncs 2>/dev/null || true)
    kill $scpid $rdpid; wait $scpid $rdpid 2>/dev/null || true
    pids=()
    local msc mrd
    msc=$(median "${sc[@]}"); mrd=$(median "${rd[@]}")
    echo "$label: median msg/s swiftcached $(printf %.0f $msc), redis-server $(printf %.0f $mrd), ratio $(awk "BEGIN {printf \"%.2f\", $msc/$mrd}")"
    msc=$(median "${scc[@]}"); mrd=$(median "${rdc[@]}")
    echo "$label: median msg per server CPU-second swiftcached $(printf %.0f $msc), redis-server $(printf %.0f $mrd), ratio $(awk "BEGIN {printf \"%.2f\", $msc/$mrd}")"
    if [ -n "$fsyncs" ] && [ "$fsyncs" != "0" ]; then
        echo "$label: swiftcached enqueued $total messages with $fsyncs fsyncs ($(awk "BEGIN {printf \"%.1f\", $total/$fsyncs}") messages per fsync)"
    fi
}

echo "# queue flood: $producers producers + $consumers consumers (1 harness thread), pipeline $pipeline, 100-byte messages, ${secs}s x $rounds rounds"
echo "# servers: swiftcached -t $SC_THREADS -m 1024 --broker-port; redis-server $(redis-server --version | awk '{print $3}' | cut -d= -f2) --io-threads 1; $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(date -u +%F)"
bench "memory only (--fsync=never, no data dir | redis no persistence)" "" ""
bench "durable, fsync per write (--data-dir --fsync=always | appendonly yes, appendfsync always)" \
      "--data-dir=$work/sc --fsync=always" "--appendonly yes --appendfsync always --dir $work/rd"
