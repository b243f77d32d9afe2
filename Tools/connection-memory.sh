#!/usr/bin/env bash
# Memory a client can pin through connections, for one server binary (swiftcached or memcached):
# RSS per idle connection (N connections that each sent `version` and read the reply, minus the
# RSS with none), then the RSS growth while one connection pipelines gets it never reads. Starts
# the server on a free loopback port with -c 6000 -t 4 (as nobody when run as root) and stops it.
#   Tools/connection-memory.sh BINARY [LABEL]        N=5000 by default (N=2000 Tools/...)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$1
label=${2:-$(basename "$bin")}
n=${N:-5000}
script=Tests/IntegrationTests/Scripts/idle_connections.py
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
ulimit -n $((n + 2000))
user=()
if [ "$(id -u)" = 0 ]; then user=(-u nobody); fi
"$bin" -p "$port" -l 127.0.0.1 -U 0 "${user[@]}" -c 6000 -t 4 >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
timeout 90 python3 "$script" idle --port "$port" --pid "$pid" --conns "$n" --seconds 60 | sed "s/^/$label /"
timeout 60 python3 "$script" noread --port "$port" --pid "$pid" --seconds 10 | sed "s/^/$label /"
