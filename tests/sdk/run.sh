#!/usr/bin/env bash
# End-to-end tests with the official Python SDKs (openai, anthropic, google-genai) against the
# router and the mock upstream. Builds both binaries, creates or reuses a venv with the pinned
# requirements, runs pytest. Extra arguments go to pytest (e.g. `-k anthropic -x`).
#
#   SWITCHBOARD_VENV   venv location (default ~/.cache/switchboard-venv)
#   CARGO_TARGET_DIR   cargo's target dir, if not ./target
#   PYTHON             interpreter that creates the venv (default python3)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${SWITCHBOARD_VENV:-$HOME/.cache/switchboard-venv}"

cd "$root"
cargo build --quiet -p switchboard-cli -p switchboard-mock-upstream
target="${CARGO_TARGET_DIR:-$root/target}"
export SWITCHBOARD_BIN="$target/debug/switchboard"
export MOCK_BIN="$target/debug/switchboard-mock-upstream"

bash "$here/venv.sh"

cd "$here"
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
