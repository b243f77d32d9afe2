#!/usr/bin/env bash
# Two swiftcached builds and the peer server, alternating, on the compare's loads: ops/s and the
# server's CPU ticks (1/100 s, utime+stime from /proc/PID/stat) around each run. Loopback only;
# every server started is stopped after its loads.
#   Tools/bench-ab.sh <base binary> <tip binary> [resp|memcache]
#   ROUNDS=3; LOADS="16:1 1:16" (pipeline:keys-per-get: the compare's p16 and mget16); D=4 seconds;
#   LOADTEST=.build/release/swiftcached-loadtest. resp compares with redis-server, memcache with
#   memcached; 100k keys of 100 bytes, 1:9 set:get, set once (--warm) before the loads.
set -u
BASE=$1; TIP=$2; PROTO=${3:-resp}
LT=${LOADTEST:-.build/release/swiftcached-loadtest}
ROUNDS=${ROUNDS:-3}; LOADS=${LOADS:-"16:1 1:16"}; D=${D:-4}
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
for r in $(seq "$ROUNDS"); do
    for s in base tip peer; do
        PORT=$((16650 + r * 4 + ${#s}))
        case "$s:$PROTO" in
        peer:resp) redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --maxmemory 1024mb \
                       --maxmemory-policy allkeys-lru >/dev/null 2>&1 & SP=$! ;;
        peer:memcache) memcached -u nobody -p "$PORT" -U 0 -l 127.0.0.1 -t 2 -m 1024 & SP=$! ;;
        *)  BIN=$BASE; [ "$s" = tip ] && BIN=$TIP
            if [ "$PROTO" = resp ]; then "$BIN" -u nobody -p 0 -U 0 -l 127.0.0.1 -t 2 -m 1024 --redis-port="$PORT" & SP=$!
            else "$BIN" -u nobody -p "$PORT" -U 0 -l 127.0.0.1 -t 2 -m 1024 & SP=$!; fi ;;
        esac
        sleep 1.2
        "$LT" run --server "127.0.0.1:$PORT" --protocol "$PROTO" --warm --duration 1 >/dev/null 2>&1
        for l in $LOADS; do
            P=${l%%:*}; M=${l##*:}
            b=$(cpu "$SP")
            o=$("$LT" run --server "127.0.0.1:$PORT" --protocol "$PROTO" --pipeline "$P" --multiget "$M" \
                --duration "$D" 2>&1 | grep "ops/s" | awk '{print $2}')
            a=$(cpu "$SP")
            echo "round $r $s pipeline $P keys-per-get $M ops/s $o cpu_ticks $((a - b))"
        done
        kill "$SP"; wait "$SP" 2>/dev/null
    done
done
