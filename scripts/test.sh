#!/usr/bin/env bash
# The one command that runs every test of Switchboard on a fresh Debian/Ubuntu machine.
# It installs what is missing (Debian packages, Python packages into a venv, npm packages
# from the lockfiles), then runs, in order:
#   1. cargo fmt --check and cargo clippy --all-targets -D warnings (the workspace)
#   2. the workspace tests (engine crates: protocol, router, store, server, cli,
#      integrations, mock-upstream) against SQLite and a private PostgreSQL and Redis
#      (scripts/services.sh); the network tests start pproxy from the venv; and
#      `cargo bench --no-run`
#   3. chaos in team mode (scripts/chaos.sh): three instances under load on a private
#      PostgreSQL and Redis while one is killed and both servers restart
#   4. the fuzz targets' build and their properties for a bounded time
#   5. end-to-end tests with the official OpenAI, Anthropic and Google SDKs
#   6. the dashboard: unit tests and browser end-to-end tests in headless Chromium
#   7. real AI tools (Qwen Code, Gemini CLI, pinned, from npm) answering through Switchboard
#   8. the desktop app: build, .deb, and end-to-end tests under Xvfb
# Each stage prints its result; the last line is "N passed, M failed".
#
# Env: CARGO_TARGET_DIR (default ~/.cache/switchboard-target/main, reused as a cache)
#      SB_DESKTOP_TARGET_DIR (default ~/.cache/switchboard-target/desktop)
#      SWITCHBOARD_VENV (default ~/.cache/switchboard-venv) for the SDK and network tests
#      SB_SKIP_DESKTOP=1 / SB_SKIP_UI=1 / SB_SKIP_SDK=1 / SB_SKIP_TOOLS=1 to leave a slow
#      stage out locally.

set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchboard-target/main}"
export CARGO_TERM_COLOR=never
export CARGO_INCREMENTAL=0
START=$(date +%s)
PASSED=0
FAILED=0
FAILED_STAGES=()

stage() {
    local name="$1"
    shift
    local t0
    t0=$(date +%s)
    echo
    echo "=== $name"
    if "$@"; then
        PASSED=$((PASSED + 1))
        echo "=== PASS $name ($(($(date +%s) - t0)) s)"
    else
        FAILED=$((FAILED + 1))
        FAILED_STAGES+=("$name")
        echo "=== FAIL $name ($(($(date +%s) - t0)) s)"
    fi
}

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi
}

# Debian packages the engine tests need: a C compiler (SQLite is compiled in), pkg-config,
# PostgreSQL and Redis (team mode; scripts/services.sh starts private instances),
# Python's venv module for the SDK tests.
install_base() {
    local need=()
    for p in build-essential pkg-config python3-venv python3-pip curl ca-certificates postgresql redis-server; do
        dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
    done
    if [ ${#need[@]} -gt 0 ]; then
        echo "installing: ${need[*]}"
        as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
    fi
    rustup component list --installed 2>/dev/null | grep -q rustfmt || rustup component add rustfmt clippy
    # The venv with the pinned Python packages: the workspace tests start its pproxy (the
    # real HTTP/SOCKS5 proxy of the network tests), the SDK stage its SDKs.
    bash tests/sdk/venv.sh
}

lint() {
    cargo fmt --all --check && cargo clippy --workspace --all-targets --locked -- -D warnings
}

# The workspace tests run beside a private PostgreSQL and Redis (scripts/services.sh starts
# them on free loopback ports, exports SWITCHBOARD_TEST_DATABASE_URL and
# SWITCHBOARD_TEST_REDIS_URL, and stops them when the tests end).
workspace_tests() {
    bash scripts/services.sh cargo test --workspace --locked --no-fail-fast &&
        cargo bench --workspace --locked --no-run
}

fuzz() {
    if [ -x scripts/fuzz.sh ]; then bash scripts/fuzz.sh; else echo "no fuzz targets yet"; fi
}

stage "install" install_base
stage "fmt + clippy" lint
stage "workspace tests" workspace_tests
stage "run.sh checks Node before building" bash scripts/run-check-test.sh
stage "team chaos" bash scripts/chaos.sh
[ -f fuzz/Cargo.toml ] && stage "fuzz targets" fuzz
if [ -z "${SB_SKIP_SDK:-}" ] && [ -x tests/sdk/run.sh ]; then stage "SDK end-to-end" bash tests/sdk/run.sh; fi
if [ -z "${SB_SKIP_UI:-}" ] && [ -x scripts/ui-test.sh ]; then stage "dashboard" bash scripts/ui-test.sh; fi
if [ -z "${SB_SKIP_TOOLS:-}" ] && [ -x scripts/tools-e2e.sh ]; then stage "AI tools end-to-end" bash scripts/tools-e2e.sh; fi
if [ -z "${SB_SKIP_DESKTOP:-}" ] && [ -x scripts/desktop-test.sh ]; then
    # The desktop app builds in its own target directory: Tauri's feature set would otherwise
    # rebuild the engine crates in this one.
    stage "desktop app" env CARGO_TARGET_DIR="${SB_DESKTOP_TARGET_DIR:-$HOME/.cache/switchboard-target/desktop}" bash scripts/desktop-test.sh
fi

echo
echo "Total time: $(($(date +%s) - START)) s"
[ ${#FAILED_STAGES[@]} -gt 0 ] && echo "Failed stages: ${FAILED_STAGES[*]}"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
