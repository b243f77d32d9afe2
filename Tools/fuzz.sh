#!/usr/bin/env bash
# The libFuzzer targets (Tools/Fuzz): the cache port's handler with text, meta and binary requests
# (FuzzMemcache), the Redis port's handler (FuzzRESP), the broker port's handler on a broker in
# memory and on one with a data directory (FuzzBroker), broker recovery from arbitrary data
# directory files: broker.meta and journals (FuzzJournal), and the command-line parser with the
# `stats settings` of what it accepts (FuzzOptions). Built with -sanitize=fuzzer,address into
# .build-fuzz and run for SECONDS each (default 30) from the seeds in Tools/Fuzz/corpus/<name>
# (the corpus grown by a run stays in .build-fuzz/corpus). Exits non-zero on a crash or a
# sanitizer report; the input that caused it is left in .build-fuzz/artifacts.
# The targets are optimized (-O: 2.2 to 3 times the executions per second of -Onone, measured on
# 6 Dec 2026) and keep a debug build's checks: bounds, overflow, exclusivity, and assert()
# (-assert-config Debug).
#   Tools/fuzz.sh [SECONDS] [TARGET...]      e.g. Tools/fuzz.sh 60 FuzzBroker
#   FUZZ_BUILD=0 Tools/fuzz.sh ...           run what is already built
#   FUZZ_RUN=0 Tools/fuzz.sh ...             only build
#   FUZZ_RUNS=N Tools/fuzz.sh ...            also stop each target after N executions
#   FUZZ_CORPUS=DIR Tools/fuzz.sh ...        keep the grown corpus in DIR/<target> instead
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
all=(FuzzMemcache:memcache FuzzRESP:resp FuzzBroker:broker FuzzJournal:journal FuzzOptions:options)
targets=()
if [ $# = 0 ]; then
    targets=("${all[@]}")
else
    for want in "$@"; do
        for t in "${all[@]}"; do [ "${t%%:*}" = "$want" ] && targets+=("$t"); done
    done
    [ ${#targets[@]} = $# ] || { echo "fuzz.sh: targets are ${all[*]%%:*}"; exit 2; }
fi

# What a target needs besides the common flags: the option parser writes refusals to stderr and
# -h to stdout (closed, so the log shows libFuzzer's lines; reports still reach it).
extra_flags() {
    case "$1" in
        FuzzOptions) echo "-close_fd_mask=3" ;;
        *) echo "" ;;
    esac
}

if [ "${FUZZ_BUILD:-1}" != 0 ]; then
    for t in "${targets[@]}"; do
        product=${t%%:*}
        # The linker warns once per ASan helper symbol; those lines say nothing.
        set +o pipefail
        SWIFTCACHED_FUZZ=1 swift build --build-path .build-fuzz --product "$product" \
            -Xswiftc -sanitize=fuzzer,address -Xswiftc -O -Xswiftc -assert-config -Xswiftc Debug 2>&1 |
            grep -v "Cannot export local symbol"
        status=${PIPESTATUS[0]}
        set -o pipefail
        [ "$status" = 0 ] || { echo "fuzz.sh: building $product failed"; exit "$status"; }
    done
fi
[ "${FUZZ_RUN:-1}" = 0 ] && exit 0

mkdir -p .build-fuzz/artifacts
# A Swift runtime error (a trap) is libFuzzer's crash to report; Swift's own backtracer would read
# the stack first and AddressSanitizer would report its reads instead.
export SWIFT_BACKTRACE=enable=no
for t in "${targets[@]}"; do
    product=${t%%:*}
    seeds=Tools/Fuzz/corpus/${t##*:}
    corpus=${FUZZ_CORPUS:-.build-fuzz/corpus}/$product
    mkdir -p "$corpus"
    runs=""
    [ -n "${FUZZ_RUNS:-}" ] && runs="-runs=$FUZZ_RUNS"
    echo "fuzz.sh: $product for ${seconds}s${runs:+ or $FUZZ_RUNS executions}"
    # shellcheck disable=SC2046,SC2086
    if ! timeout $((seconds + 120)) ".build-fuzz/debug/$product" "$corpus" "$seeds" $runs \
        -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 $(extra_flags "$product") \
        -artifact_prefix=".build-fuzz/artifacts/$product-" > ".build-fuzz/$product.log" 2>&1; then
        tail -60 ".build-fuzz/$product.log"
        echo "fuzz.sh: $product found a crash (input in .build-fuzz/artifacts)"
        exit 1
    fi
    grep -E "^stat::number_of_executed_units|^Done " ".build-fuzz/$product.log" | tail -2
done
echo "fuzz.sh: no crash"
