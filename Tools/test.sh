#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need, then `swift test`
# (unit tests, then black-box tests that start the built binary on free loopback ports).
set -euo pipefail
cd "$(dirname "$0")/.."
Tools/deps.sh test
swift build --build-tests
swift test --skip-build "$@"
