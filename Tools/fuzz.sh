#!/usr/bin/env bash
# The libFuzzer targets (Tools/Fuzz: the cache port's handler with text, meta and binary
# requests, and the Redis port's handler), built with -sanitize=fuzzer,address into .build-fuzz and
# run for SECONDS each (default 30) from the seeds in Tools/Fuzz/corpus (the corpus grown by a run
# stays in .build-fuzz/corpus). Exits non-zero on a crash or a sanitizer report; the input that
# caused it is left in .build-fuzz/artifacts.
#   Tools/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
targets=(FuzzMemcache:memcache FuzzRESP:resp)

for t in "${targets[@]}"; do
    product=${t%%:*}
    # The linker warns once per ASan helper symbol; those lines say nothing.
    set +o pipefail
    SWIFTCACHED_FUZZ=1 swift build --build-path .build-fuzz --product "$product" \
        -Xswiftc -sanitize=fuzzer,address 2>&1 | grep -v "Cannot export local symbol"
    status=${PIPESTATUS[0]}
    set -o pipefail
    [ "$status" = 0 ] || { echo "fuzz.sh: building $product failed"; exit "$status"; }
done

mkdir -p .build-fuzz/artifacts
for t in "${targets[@]}"; do
    product=${t%%:*}
    seeds=Tools/Fuzz/corpus/${t##*:}
    corpus=.build-fuzz/corpus/$product
    mkdir -p "$corpus"
    echo "fuzz.sh: $product for ${seconds}s"
    if ! timeout $((seconds + 120)) ".build-fuzz/debug/$product" "$corpus" "$seeds" \
        -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix=".build-fuzz/artifacts/$product-" > ".build-fuzz/$product.log" 2>&1; then
        tail -60 ".build-fuzz/$product.log"
        echo "fuzz.sh: $product found a crash (input in .build-fuzz/artifacts)"
        exit 1
    fi
    grep -E "^stat::number_of_executed_units|^Done " ".build-fuzz/$product.log" | tail -2
done
echo "fuzz.sh: no crash"
