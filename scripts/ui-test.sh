#!/usr/bin/env bash
# The dashboard's tests: installs Chromium if missing, builds the UI from its lockfile, runs
# the unit/component tests (Vitest), builds the router and the mock upstream, and runs the
# browser end-to-end tests in headless Chromium against a real `switchboard serve` (and, for
# team mode, three of them on a private PostgreSQL that scripts/services.sh starts).
# Screenshots of every page (light and dark) are saved to artifacts/screenshots/.
# Exits non-zero on any failure.
#
# Env: CARGO_TARGET_DIR (default ~/.cache/switchboard-target/main).

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchboard-target/main}"

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi
}

if [ ! -x /usr/bin/chromium ]; then
    echo "installing chromium"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
command -v npm >/dev/null || { echo "npm is required (Node 20.19+)"; exit 1; }

echo "--- npm ci"
npm --prefix ui ci --no-audit --no-fund
echo "--- npm run build"
npm --prefix ui run build
echo "--- npm test (vitest)"
npm --prefix ui test

echo "--- cargo build (switchboard, mock upstream)"
# The server decides at build time whether a built dashboard exists; make it look again now
# that `npm run build` has (re)written ui/dist, whatever an earlier build saw.
touch crates/server/build.rs
cargo build --locked -p switchboard-cli -p switchboard-mock-upstream

echo "--- browser end-to-end"
mkdir -p artifacts/screenshots
SWITCHBOARD_BIN="$CARGO_TARGET_DIR/debug/switchboard" \
MOCK_BIN="$CARGO_TARGET_DIR/debug/switchboard-mock-upstream" \
    bash scripts/services.sh npm --prefix ui run e2e
