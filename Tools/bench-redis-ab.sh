#!/usr/bin/env bash
# Two swiftcached builds and redis-server, alternating, on redis-benchmark's own tests: each test
# run alone (in the order given, on the same servers, so spop and zpopmin pop what sadd and zadd
# filled), requests per second and the server's CPU ticks (1/100 s, utime+stime from
# /proc/PID/stat) around each run; base runs before tip in odd rounds, after it in even ones.
# Fresh servers each round. Loopback only; every server started is stopped.
#   Tools/bench-redis-ab.sh <base binary> <tip binary> [requests]
#   TESTS=hset,sadd,spop,zadd,zpopmin; ROUNDS=3; RANDOM_KEYS=100000 (-r); P=16; CLIENTS=50.
#   Prints "<round> <test> base|tip|redis <req/s> <ticks>" lines.
set -u
BASE=$1; TIP=$2; N=${3:-300000}
TESTS=${TESTS:-hset,sadd,spop,zadd,zpopmin}; ROUNDS=${ROUNDS:-3}; RK=${RANDOM_KEYS:-100000}; P=${P:-16}; C=${CLIENTS:-50}
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
one() {  # name pid port test
    local b a out
    b=$(cpu "$2")
    out=$(timeout 300 redis-benchmark -p "$3" -t "$4" -n "$N" -c "$C" -P "$P" -r "$RK" -q 2>/dev/null | tr '\r' '\n' \
        | grep "requests per second" | sed -E 's/.*: ([0-9.]+) requests per second.*/\1/')
    a=$(cpu "$2")
    echo "$round $4 $1 $out $((a - b))"
}
for round in $(seq 1 "$ROUNDS"); do
    "$BASE" -u nobody -p 0 -U 0 -l 127.0.0.1 -t 2 -m 256 --redis-port=16511 & BP=$!
    "$TIP" -u nobody -p 0 -U 0 -l 127.0.0.1 -t 2 -m 256 --redis-port=16512 & TP=$!
    redis-server --port 16513 --bind 127.0.0.1 --save "" --appendonly no --maxmemory 256mb \
        --maxmemory-policy allkeys-lru >/dev/null 2>&1 & RP=$!
    trap 'kill $BP $TP 2>/dev/null; kill -9 $RP 2>/dev/null' EXIT
    sleep 1.5
    for t in ${TESTS//,/ }; do
        if [ $((round % 2)) = 1 ]; then one base $BP 16511 "$t"; one tip $TP 16512 "$t"
        else one tip $TP 16512 "$t"; one base $BP 16511 "$t"; fi
        one redis $RP 16513 "$t"
    done
    kill $BP $TP; kill -9 $RP; wait 2>/dev/null
done
