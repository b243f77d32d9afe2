#!/usr/bin/env bash
# redis-benchmark against swiftcached's Redis port and redis-server side by side, alternating, two
# rounds; prints requests per second per command and the server's CPU ticks (1/100 s, utime+stime
# from /proc/PID/stat) over each run. Loopback only; both servers are stopped at the end.
#   Tools/bench-redis.sh [swiftcached binary] [requests]   (TESTS=set,get,... picks redis-benchmark's -t)
set -u
BIN=${1:-.build/release/swiftcached}
N=${2:-300000}
TESTS=${TESTS:-set,get,incr,lpush,lpop}
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
run() {  # name pid port pipeline
    local before after out
    before=$(cpu "$2")
    out=$(timeout 300 redis-benchmark -p "$3" -t "$TESTS" -n "$N" -c 50 -P "$4" -q 2>/dev/null | tr '\r' '\n' | grep "requests per second")
    after=$(cpu "$2")
    echo "$1 P$4 cpu_ticks=$((after - before)) :: $(echo "$out" | awk '{printf "%s %s ; ", $1, $2}')"
}
for round in 1 2; do
    "$BIN" -u nobody -p 0 -U 0 -l 127.0.0.1 -t 2 -m 256 --redis-port=16501 & SP=$!
    redis-server --port 16502 --bind 127.0.0.1 --save "" --appendonly no --maxmemory 256mb \
        --maxmemory-policy allkeys-lru >/dev/null 2>&1 & RP=$!
    trap 'kill $SP 2>/dev/null; kill -9 $RP 2>/dev/null' EXIT
    sleep 1.5
    for P in 1 16; do
        run swiftcached "$SP" 16501 "$P"
        run redis-server "$RP" 16502 "$P"
    done
    kill "$SP"; kill -9 "$RP"; wait 2>/dev/null
done
