#!/usr/bin/env bash
# Builds swiftcached in release mode and runs it with the given memcached-style flags
# (default: port 11211, 4 threads, 64 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
Tools/deps.sh server
swift build -c release --product swiftcached
exec .build/release/swiftcached "$@"
