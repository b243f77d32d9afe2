#!/usr/bin/env bash
# Installs what swiftcached needs on a fresh Debian 12 machine with Swift 6.3.
#   Tools/deps.sh server   libevent, OpenSSL (to build and run the server)
#   Tools/deps.sh test     + memcached, libmemcached-tools (memccapable, memcaslap), redis-server, redis-tools, openssl,
#                          pymemcache, redis-py,
#                          nutcracker (twemproxy: the scale-out test runs three instances behind it),
#                          and the client matrix's clients (ClientMatrixTests): pylibmc, python-memcached,
#                          php-memcached, Cache::Memcached::Fast, Cache::Memcached, Dalli
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
    want nutcracker          # NutcrackerTests: three instances behind twemproxy
    # The client matrix (Tests/IntegrationTests/Scripts/clients): php-memcached, Perl's
    # Cache::Memcached::Fast and Cache::Memcached, Ruby's Dalli (ruby-dalli does not pull in ruby itself).
    want php-cli
    want php-memcached
    want libcache-memcached-fast-perl
    want libcache-memcached-perl
    want ruby
    want ruby-dalli
fi

if [ ${#need[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    # Debian starts the packaged daemons; tests and benchmarks start their own on free ports.
    $SUDO service memcached stop >/dev/null 2>&1 || true
    $SUDO service redis-server stop >/dev/null 2>&1 || true
    $SUDO service nutcracker stop >/dev/null 2>&1 || true
fi

# PyPI packages for the system python3, each only when it cannot be imported yet.
pip_want() {  # <module> <package==version>
    python3 -c "import $1" >/dev/null 2>&1 && return 0
    python3 -m pip install -q "$2" 2>/dev/null \
        || python3 -m pip install -q --break-system-packages "$2"
}
if [ "$mode" = test ] || [ "$mode" = bench ]; then
    pip_want pymemcache pymemcache==4.0.0
    pip_want memcache python-memcached==1.62
    pip_want redis 'redis>=4.3'      # redis-py: Redis-mode tests (TLS with ssl=True)
fi
