#!/usr/bin/env bash
# Installs what swiftcached needs on a fresh Debian 12 machine with Swift 6.3.
#   Tools/deps.sh server   libevent, OpenSSL (to build and run the server)
#   Tools/deps.sh test     + memcached, libmemcached-tools (memccapable, memcaslap), redis-server, redis-tools, openssl,
#                          redis-py, pymemcache
# Only what is missing is installed; apt-get needs root (or sudo).
set -euo pipefail
mode=${1:-server}

need=()
want() { dpkg -s "$1" >/dev/null 2>&1 || need+=("$1"); }
want libevent-dev
want libssl-dev              # TLS (-Z): the COpenSSL system library
want pkg-config
if [ "$mode" = test ] || [ "$mode" = bench ]; then
    want memcached
    want libmemcached-tools
    want python3-pip
    want python3-pylibmc     # pylibmc for the system python3 (the tests find whichever python has it)
    want redis-server        # the Redis-mode tests compare replies with redis-server's
    want redis-tools
    want openssl             # the TLS tests make a certificate and speak through s_client
fi

if [ ${#need[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    # Debian starts the packaged daemons; tests and benchmarks start their own on free ports.
    $SUDO service memcached stop >/dev/null 2>&1 || true
    $SUDO service redis-server stop >/dev/null 2>&1 || true
fi

if [ "$mode" = test ] || [ "$mode" = bench ]; then
    if ! python3 -c 'import pymemcache' >/dev/null 2>&1; then
        python3 -m pip install -q pymemcache==4.0.0 2>/dev/null \
            || python3 -m pip install -q --break-system-packages pymemcache==4.0.0
    fi
    # redis-py: the TLS test of the Redis port connects with ssl=True.
    if ! python3 -c 'import redis' >/dev/null 2>&1; then
        python3 -m pip install -q 'redis>=4.3' 2>/dev/null \
            || python3 -m pip install -q --break-system-packages 'redis>=4.3'
    fi
fi
