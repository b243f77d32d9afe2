#!/usr/bin/env bash
# The multi-threaded tests under ThreadSanitizer (.build-tsan) and AddressSanitizer (.build-asan):
# the black-box stress test (50 connections on a 4-worker server; the server binary is the
# sanitized one built beside the tests), the broker race test, the slab page-move tests (and the
# forced moves under concurrent XADDs and SETs, StreamMemoryTests), the
# waiter/push tests that hand values between threads, and the kept item-lock stripes (two workers
# pipelining on one key with transactions between). Any sanitizer report stops the process that
# made it (halt_on_error), so it fails the run: in the test process directly, in the server through
# the test's check that the server is still alive.
#   Tools/sanitize.sh [thread|address ...]   (default: both)
#   SANITIZE_BUILD=0 Tools/sanitize.sh       (run what is already built)
set -euo pipefail
cd "$(dirname "$0")/.."
sanitizers=("$@")
[ ${#sanitizers[@]} = 0 ] && sanitizers=(thread address)

tests='IntegrationTests\.BlackBoxTests/concurrentStress|BrokerRaceTests|SlabRebalanceTests|StreamMemoryTests|WaiterTests|PushQueueTests|WaitAndPushTests|StripeKeepingTests|ItemLockKeepingTests|KeyHintTests|LockedValueTests'

# Reports go to stderr and end the process with status 66. ThreadSanitizer: one report is enough
# to fail. AddressSanitizer: LeakSanitizer is off, because a test process ends with what the Swift
# runtime and Swift Testing keep on purpose (metadata caches, the runner's state) still allocated.
export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
export ASAN_OPTIONS="halt_on_error=1 exitcode=66 detect_leaks=0 ${ASAN_OPTIONS:-}"
# A Swift runtime error stays a plain crash: Swift's backtracer reads the stack of the crashed
# thread, which AddressSanitizer would report as a read of poisoned memory.
export SWIFT_BACKTRACE=enable=no

for s in "${sanitizers[@]}"; do
    case "$s" in
        thread) path=.build-tsan ;;
        address) path=.build-asan ;;
        *) echo "sanitize.sh: unknown sanitizer $s"; exit 2 ;;
    esac
    start=$SECONDS
    if [ "${SANITIZE_BUILD:-1}" != 0 ]; then
        # The linker warns once per sanitizer helper symbol; those lines say nothing.
        set +o pipefail
        swift build --build-tests --sanitize="$s" --build-path "$path" 2>&1 | grep -v "Cannot export local symbol"
        status=${PIPESTATUS[0]}
        set -o pipefail
        [ "$status" = 0 ] || { echo "sanitize.sh: the $s build failed"; exit "$status"; }
    fi
    built=$SECONDS
    echo "sanitize.sh: $s tests"
    if ! timeout 900 swift test --skip-build --sanitize="$s" --build-path "$path" --filter "$tests"; then
        echo "sanitize.sh: $s: a test failed or the sanitizer reported (see above)"
        exit 1
    fi
    echo "sanitize.sh: $s: build $((built - start)) s, tests $((SECONDS - built)) s, no report"
done
