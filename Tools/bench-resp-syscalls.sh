#!/usr/bin/env bash
# Per-request server cost at pipeline 1 on the RESP port, redis-server and one or more swiftcached
# binaries side by side: each server is started once and warmed, then ROUNDS rounds in turn of
# the same fixed-size load under `perf stat -p` (needs perf and perf_event_paranoid <= 2). Prints
# per request: server CPU from /proc/PID/stat (user, system, total, in ns), context switches,
# wake-ups the server made (sched:sched_waking), and read, write, writev, epoll_wait and
# epoll_ctl calls, and reads that returned EAGAIN. Requests = INFO's total_commands_processed
# delta (both servers count the same). Loopback only; every server is stopped at the end.
#   Tools/bench-resp-syscalls.sh BINARY [BINARY...]
#   ROUNDS=3 THREADS=2 (swiftcached -t) REQUESTS=300000 CLIENT=loadtest|redis-benchmark
#   LOADTEST=.build/release/swiftcached-loadtest
set -u
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
REQUESTS=${REQUESTS:-300000}
CLIENT=${CLIENT:-loadtest}
LOADTEST=${LOADTEST:-.build/release/swiftcached-loadtest}
[ $# -ge 1 ] || { echo "usage: $0 BINARY [BINARY...]" >&2; exit 64; }
OUT=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; rm -rf "$OUT"' EXIT
ops_of() { redis-cli -p "$1" info stats | tr -d '\r' | awk -F: '/^total_commands_processed/{print $2}'; }
load() {  # port [requests]
    if [ "$CLIENT" = redis-benchmark ]; then
        redis-benchmark -p "$1" -t set,get -n $(( ${2:-$REQUESTS} / 2 )) -c 50 -P 1 -q >/dev/null 2>&1
    else
        "$LOADTEST" run --protocol resp --server "127.0.0.1:$1" --conns 50 --requests "${2:-$REQUESTS}" >/dev/null 2>&1
    fi
}
NAMES=(redis-server) PORTS=(16621)
redis-server --port 16621 --bind 127.0.0.1 --save '' --appendonly no --daemonize no >/dev/null 2>&1 &
PIDS+=($!)
port=16622
for bin in "$@"; do
    "$bin" -u nobody -p 0 -U 0 -l 127.0.0.1 -t "$THREADS" -m 1024 --redis-port=$port >/dev/null 2>&1 &
    PIDS+=($!) NAMES+=("$bin") PORTS+=($port)
    port=$((port + 1))
done
sleep 1.5
for port in "${PORTS[@]}"; do
    "$LOADTEST" run --protocol resp --server "127.0.0.1:$port" --conns 50 --requests 100000 --warm >/dev/null 2>&1
done
printf '%-40s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s\n' server user sys cpu ctxsw wakes read write writev ep_wait ep_ctl EAGAIN
for round in $(seq 1 "$ROUNDS"); do
    for i in "${!PORTS[@]}"; do
        port=${PORTS[$i]} pid=${PIDS[$i]}
        kill -0 "$pid" 2>/dev/null || { echo "${NAMES[$i]} (pid $pid) is not running" >&2; exit 1; }
        ops0=$(ops_of "$port")
        perf stat -x, -o "$OUT/perf.csv" -p "$pid" -e context-switches,sched:sched_waking \
            -e syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_writev \
            -e syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_ctl \
            -e syscalls:sys_exit_read --filter 'ret == -11' & pp=$!
        sleep 0.7
        read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
        load "$port"
        read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
        kill -INT $pp; wait $pp
        ops=$(( $(ops_of "$port") - ops0 - 1 ))
        [ "$ops" -gt 0 ] || { echo "${NAMES[$i]}: no requests counted on port $port" >&2; exit 1; }
        tick=$(( 1000000000 / $(getconf CLK_TCK) ))
        printf '%-40s %6d %6d %6d' "${NAMES[$i]}" $(( (u1-u0)*tick/ops )) $(( (s1-s0)*tick/ops )) $(( (u1-u0+s1-s0)*tick/ops ))
        awk -F, -v ops=$ops '/^#/ || NF < 3 { next } { printf " %6.3f", $1 / ops }' "$OUT/perf.csv"
        echo
    done
done
