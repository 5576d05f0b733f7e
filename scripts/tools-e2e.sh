#!/usr/bin/env bash
# Real AI tools through Switchboard: installs the pinned Qwen Code and Gemini CLI from the npm
# registry into ~/.cache/switchboard-tools/<tool>@<version> (once; later runs reuse them),
# onboards each into a temp HOME with `switchboard onboard`, and has it answer one prompt in
# its non-interactive mode through a real `switchboard serve` against the mock provider
# (crates/cli/tests/tools_e2e.rs, ignored in the plain workspace run). Exits non-zero on any
# failure.
#
# Env: CARGO_TARGET_DIR (default ~/.cache/switchboard-target/main).

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchboard-target/main}"

command -v npm >/dev/null || { echo "npm is required (Node 20+)"; exit 1; }
cargo test -p switchboard-cli --locked --test tools_e2e -- --ignored --test-threads 1
