#!/usr/bin/env bash
# Fuzz smoke for CI: each cargo-fuzz target of fuzz/ for FUZZ_SECS seconds (default 30) from a
# scratch copy of the seed corpus, on the stable toolchain (RUSTC_BOOTSTRAP=1, no sanitizer).
# Installs cargo-fuzz (and a C++ compiler for libFuzzer) when missing. Needs root: the
# request_path target confines itself in a mount namespace. Ends with "N passed, N failed";
# a crash, or an input that runs over 10 s (a hang), leaves its input in fuzz/artifacts/<target>/
# and fails the run.
#
#   FUZZ_SECS=N        seconds per target
#   FUZZ_TARGETS="…"   targets to run (default: decode virtqueue request_path p9_decode p9_request_path)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

secs=${FUZZ_SECS:-30}
targets=${FUZZ_TARGETS:-decode virtqueue request_path p9_decode p9_request_path}
export RUSTC_BOOTSTRAP=1

if ! command -v c++ >/dev/null; then
    apt-get update -qq && apt-get install -y -qq g++ >/dev/null
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --version 0.13.2 --locked
fi

cd fuzz
cargo fuzz build --sanitizer none
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
for t in $targets; do
    mkdir -p "$work/$t"
    cp corpus/"$t"/seed-* "$work/$t/"
    if cargo fuzz run --sanitizer none "$t" "$work/$t" -- \
        -max_total_time="$secs" -timeout=10 -print_final_stats=1 >"$work/$t.log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log")
        echo "fuzz $t: ${runs:-?} executions in ${secs} s, no crash"
        passed=$((passed + 1))
    else
        tail -n 40 "$work/$t.log"
        echo "fuzz $t: FAILED (input in fuzz/artifacts/$t/)"
        failed=$((failed + 1))
    fi
done
echo "fuzz-smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
