#!/usr/bin/env bash
# redis-benchmark against swiftcached's Redis port and redis-server side by side, alternating, two
# rounds; prints requests per second per command and the server's CPU ticks (1/100 s, utime+stime
# from /proc/PID/stat) over each run. Loopback only; both servers are stopped at the end.
#   Tools/bench-redis.sh [swiftcached binary] [requests]
#   TESTS=set,get,... picks redis-benchmark's -t; RANDOM_KEYS=N adds -r N (random key/member
#   space, e.g. 100000 for hset,sadd,zadd,spop,zpopmin); PIPELINES="1 16"; CLIENTS=50;
#   MAXMEMORY=256 (-m for swiftcached, --maxmemory for redis-server; 0 = redis without a limit).
#   COMMAND="XADD s * f v" runs that command instead of -t's tests (redis-benchmark's arbitrary
#   command form; the name printed is the command's first word).
set -u
BIN=${1:-.build/release/swiftcached}
N=${2:-300000}
TESTS=${TESTS:-set,get,incr,lpush,lpop}
COMMAND=${COMMAND:-}
RANDOM_KEYS=${RANDOM_KEYS:-}
PIPELINES=${PIPELINES:-1 16}
CLIENTS=${CLIENTS:-50}
MAXMEMORY=${MAXMEMORY:-256}
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
run() {  # name pid port pipeline
    local before after out
    before=$(cpu "$2")
    if [ -n "$COMMAND" ]; then
        # shellcheck disable=SC2086 # the command's words, as given (no globbing: `*` is an ID)
        out=$(set -f; timeout 300 redis-benchmark -p "$3" -n "$N" -c "$CLIENTS" -P "$4" \
            ${RANDOM_KEYS:+-r "$RANDOM_KEYS"} -q $COMMAND 2>/dev/null | tr '\r' '\n' | grep "requests per second")
    else
        out=$(timeout 300 redis-benchmark -p "$3" -t "$TESTS" -n "$N" -c "$CLIENTS" -P "$4" \
            ${RANDOM_KEYS:+-r "$RANDOM_KEYS"} -q 2>/dev/null | tr '\r' '\n' | grep "requests per second")
    fi
    after=$(cpu "$2")
    # "<name>: <rps> requests per second..." (an arbitrary command's name has blanks in it)
    echo "$1 P$4 cpu_ticks=$((after - before)) :: $(echo "$out" | sed -E 's/^(.*): ([0-9.]+) requests per second.*/\1: \2 ; /' | tr -d '\n')"
}
REDIS_MEM=()
if [ "$MAXMEMORY" != 0 ]; then REDIS_MEM=(--maxmemory "${MAXMEMORY}mb" --maxmemory-policy allkeys-lru); fi
for round in 1 2; do
    "$BIN" -u nobody -p 0 -U 0 -l 127.0.0.1 -t 2 -m "${MAXMEMORY/#0/256}" --redis-port=16501 & SP=$!
    redis-server --port 16502 --bind 127.0.0.1 --save "" --appendonly no "${REDIS_MEM[@]}" \
        >/dev/null 2>&1 & RP=$!
    trap 'kill $SP 2>/dev/null; kill -9 $RP 2>/dev/null' EXIT
    sleep 1.5
    for P in $PIPELINES; do
        run swiftcached "$SP" 16501 "$P"
        run redis-server "$RP" 16502 "$P"
        # each pipeline depth starts from empty keys on both servers
        redis-cli -p 16501 flushall >/dev/null; redis-cli -p 16502 flushall >/dev/null
    done
    kill "$SP"; kill -9 "$RP"; wait 2>/dev/null
done
