#!/usr/bin/env bash
# Builds the release artifacts of the headless server: the `switchboard` binary stripped of
# symbols and debug info, and beside it `switchboard.debug` with both (line tables, for
# symbolising crash reports and profiles), which the binary names in `.gnu_debuglink` so
# debuggers and `perf` find it.
#
#   scripts/dist.sh [OUT_DIR]     # default: $CARGO_TARGET_DIR/dist
#
# Needs a Rust toolchain and binutils' objcopy. CARGO_TARGET_DIR defaults to ./target.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${1:-$TARGET/dist}

cargo build --release --locked -q -p switchboard-cli
mkdir -p "$OUT"
BIN=$TARGET/release/switchboard
# objcopy writes new files, so cargo's own output stays as it was built.
objcopy --only-keep-debug "$BIN" "$OUT/switchboard.debug"
objcopy --strip-all --add-gnu-debuglink="$OUT/switchboard.debug" "$BIN" "$OUT/switchboard"
echo "$OUT/switchboard ($(( $(stat -c %s "$OUT/switchboard") / 1048576 )) MB), debug info in $OUT/switchboard.debug" >&2
