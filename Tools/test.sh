#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need, then `swift test`
# (unit tests, then black-box tests that start the built binary on free loopback ports), then the
# multi-threaded tests under ThreadSanitizer and AddressSanitizer (Tools/sanitize.sh), then the
# libFuzzer targets for a bounded time (Tools/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
Tools/deps.sh test
swift build --build-tests
swift test --skip-build "$@"
# The sanitizer builds and their tests (SWIFTCACHED_SANITIZE=0 skips them).
if [ "${SWIFTCACHED_SANITIZE:-1}" != 0 ]; then
    Tools/sanitize.sh
fi
# Then the fuzz targets, bounded (SWIFTCACHED_FUZZ_SECONDS each, 30 by default; 0 skips them).
if [ "${SWIFTCACHED_FUZZ_SECONDS:-30}" != 0 ]; then
    Tools/fuzz.sh "${SWIFTCACHED_FUZZ_SECONDS:-30}"
fi
