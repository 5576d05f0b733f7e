#!/usr/bin/env bash
# SECURITY.md T16: the fuzz targets in fuzz/ (cargo-fuzz layout), built and run for a bounded
# time. What runs where:
#   1. `cargo test --manifest-path fuzz/Cargo.toml`: every target's property (fuzz/src/lib.rs)
#      under proptest, on stable, from arbitrary bytes and mutated seeds (PROPTEST_CASES to
#      raise the case count).
#   2. Every target built with libFuzzer and coverage instrumentation (the flags `cargo fuzz`
#      uses, minus AddressSanitizer, which needs nightly and which safe Rust does not need),
#      then run for FUZZ_SECS seconds each (default 5) from a copy of fuzz/corpus/<target>.
#      A crash, a failed property or a timeout fails the script and leaves the input in
#      $FUZZ_ARTIFACTS (default target/fuzz-artifacts).
#   With nightly and cargo-fuzz installed, `cargo fuzz run <target>` works on the same crate
#   for long coverage-guided runs with AddressSanitizer.
# Env: FUZZ_SECS, FUZZ_TARGETS (space-separated subset), CARGO_TARGET_DIR.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchboard-target/main}"
SECS="${FUZZ_SECS:-5}"
HOST="$(rustc -vV | sed -n 's/^host: //p')"
TARGETS="${FUZZ_TARGETS:-sse_decoder stream_translation passthrough_scanner request_openai_chat request_openai_responses request_anthropic request_gemini response_openai_chat response_openai_responses response_anthropic response_gemini}"
ARTIFACTS="${FUZZ_ARTIFACTS:-$CARGO_TARGET_DIR/fuzz-artifacts}"

echo "--- fuzz properties under proptest (stable)"
cargo test --manifest-path fuzz/Cargo.toml --locked

echo "--- fuzz targets: instrumented build"
# A target dir of its own: the instrumentation flags would otherwise rebuild the shared cache.
FUZZ_TARGET_DIR="$CARGO_TARGET_DIR/fuzz-cov"
RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks" \
    CARGO_TARGET_DIR="$FUZZ_TARGET_DIR" \
    cargo build --manifest-path fuzz/Cargo.toml --locked --release --bins --target "$HOST"

mkdir -p "$ARTIFACTS"
failed=0
for t in $TARGETS; do
    corpus="$(mktemp -d)"
    cp fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
    log="$ARTIFACTS/$t.log"
    if "$FUZZ_TARGET_DIR/$HOST/release/$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$ARTIFACTS/$t-" -print_final_stats=1 "$corpus" >"$log" 2>&1; then
        echo "ok   $t: $(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') runs in ${SECS} s"
    else
        echo "FAIL $t (log: $log)"
        grep -E "panicked|assertion|left|right|ERROR" "$log" | head -20 || true
        failed=1
    fi
    rm -rf "$corpus"
done
exit "$failed"
