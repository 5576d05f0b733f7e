#!/usr/bin/env bash
# SECURITY.md T15: the full soak. 200 requests per second for 60 s against a router in front
# of a mock upstream with the injected fault mix (10% 429 with reset hints, 3% 500, 1% hang,
# 1% reset mid-stream, half of the requests streaming, one key that never fails), and the
# pass criteria checked by the test itself:
#   - zero router-caused failures (every request answered 200 with a complete body, except
#     streams the upstream cut after content reached the client, which must end in an
#     error event and number no more than the resets injected);
#   - the router's and the upstream's in-flight counters back to 0 at the end;
#   - open file descriptors and RSS flat (no growth from the first half of the run to the
#     second; descriptors back near the baseline once clients disconnect).
# The test command runs the same test for 10 s. Env: SOAK_SECS (default 60), SOAK_RPS
# (default 200), SOAK_RELEASE=1 to build optimised.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchboard-target/main}"
export SOAK_SECS="${SOAK_SECS:-60}" SOAK_RPS="${SOAK_RPS:-200}"
profile=()
[ -n "${SOAK_RELEASE:-}" ] && profile=(--release)
exec cargo test "${profile[@]}" -p switchboard-server --test it -- --exact \
    security::t15_faults_under_load_cause_no_router_failures --nocapture
