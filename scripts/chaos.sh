#!/usr/bin/env bash
# Chaos test of team mode: three `switchboard serve` processes on one private PostgreSQL and
# Redis (scripts/services.sh starts them), a mock upstream with 10 % 429s (with reset hints) on
# two keys beside one always-healthy key, ~200 requests/s for 60 s spread over the instances,
# and during the run: kill -9 of one instance, a restart of Redis, a restart of PostgreSQL.
# Fails on any failed request (except those in flight on the killed instance), on a row lost
# by a surviving instance, or on growing memory. The driver is tests/chaos/driver.py (Python,
# in the venv of tests/sdk/venv.sh); it prints its numbers as JSON.
#
#   bash scripts/chaos.sh [--seconds S] [--rate R]
#
# Env: CARGO_TARGET_DIR (the debug binaries of switchboard-cli and the mock upstream are built
#      there), SWITCHBOARD_VENV (default ~/.cache/switchboard-venv).

set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/services.sh
. scripts/services.sh

TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
cargo build --locked -q -p switchboard-cli -p switchboard-mock-upstream --bins || exit 1
python="${SWITCHBOARD_VENV:-$HOME/.cache/switchboard-venv}/bin/python"
[ -x "$python" ] || bash tests/sdk/venv.sh || exit 1

trap services_stop EXIT
trap 'exit 130' INT TERM
services_start || {
    echo "chaos: could not start PostgreSQL and Redis" >&2
    exit 1
}
# What the driver's restarts (services_restart_pg / services_restart_redis) need.
export SERVICES_DIR SERVICES_PG_CTL SERVICES_PG_PORT SERVICES_REDIS_PORT
"$python" tests/chaos/driver.py --bin-dir "$TARGET/debug" "$@"
