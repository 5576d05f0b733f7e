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
python="${PYTHON:-python3}"

cd "$root"
cargo build --quiet -p switchboard-cli -p switchboard-mock-upstream
target="${CARGO_TARGET_DIR:-$root/target}"
export SWITCHBOARD_BIN="$target/debug/switchboard"
export MOCK_BIN="$target/debug/switchboard-mock-upstream"

if [ ! -x "$venv/bin/python" ]; then
    if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
        echo "python3-venv is missing; installing it" >&2
        sudo_cmd=""
        [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
        $sudo_cmd apt-get update -qq
        $sudo_cmd apt-get install -y -qq python3-venv
    fi
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv"
fi

# Reinstall only when the pins changed since the last successful install.
stamp="$venv/.switchboard-requirements"
if ! cmp -s "$here/requirements.txt" "$stamp"; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$stamp"
fi

cd "$here"
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
