#!/bin/bash
# Log throughput runs for BENCHMARKS.md: three runs of Tools/log_bench.py, each against a fresh
# release server and data directory (`--fsync=MODE`), the server's broker_fsyncs printed after.
# Run it under the shared build lock so no build competes:
#   flock /tmp/swift-build.lock Tools/bench-log.sh never|always [log_bench.py args...]
# e.g. --records 2000000 --batch 1000 --window 10 --max 1000 --read-pipeline 16
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${BIN:-$HERE/../.build/release/swiftcached}
MODE=$1; shift
for run in 1 2 3; do
  D=$(mktemp -d /tmp/g15bench.XXXX)
  P=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  $BIN -p 0 -U 0 -l 127.0.0.1 $( [ "$(id -u)" = 0 ] && echo -u root ) --broker-port=$P -m 1024 --broker-memory=512 -t 2 --data-dir=$D --fsync=$MODE > $D.log 2>&1 &
  SP=$!
  for i in $(seq 50); do (echo > /dev/tcp/127.0.0.1/$P) 2>/dev/null && break; sleep 0.1; done
  echo "== fsync=$MODE run $run: $*"
  timeout 120 python3 $HERE/log_bench.py $P --topic t$run --pid $SP "$@"
  python3 -c "
import socket,sys
s=socket.create_connection(('127.0.0.1',$P));s.sendall(b'stats\\r\\n');b=b''
while not b.endswith(b'END\\r\\n'): b+=s.recv(65536)
print([l for l in b.decode().split('\\r\\n') if 'broker_fsyncs' in l])" 
  kill $SP; wait $SP 2>/dev/null
  rm -rf $D $D.log
done
