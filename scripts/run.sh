#!/usr/bin/env bash
# Builds and starts `switchboard serve` on SQLite in the default data directory (no setup):
# prints the endpoint, the access key and the dashboard URL. Extra arguments go to `serve`.
# Needs Rust; building the dashboard needs Node.js 20.19+ (checked first, unless ui/dist is
# already built).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if ! command -v cargo >/dev/null; then
    echo "Rust is needed: https://rustup.rs (then run this again)" >&2
    exit 1
fi
if ! command -v cc >/dev/null; then
    echo "installing a C compiler (SQLite is compiled in)…"
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq build-essential pkg-config; else sudo apt-get update -qq && sudo apt-get install -y -qq build-essential pkg-config; fi
fi
# The dashboard is built once, with Node.js; a prebuilt one (ui/dist) is served as it is.
if [ -f ui/package-lock.json ] && [ ! -f ui/dist/index.html ]; then
    . scripts/node-check.sh
    node_check || exit 1
    echo "building the dashboard…"
    npm --prefix ui ci --silent && npm --prefix ui run build --silent
fi
exec cargo run --release --locked --quiet -p switchboard-cli -- serve "$@"
