#!/usr/bin/env bash
# Creates or reuses the Python venv with the pinned requirements (the official SDKs for the
# end-to-end tests, and pproxy, the HTTP/SOCKS5 proxy the engine's network tests start).
# Reinstalls only when the pins changed since the last successful install.
#
#   SWITCHBOARD_VENV   venv location (default ~/.cache/switchboard-venv)
#   PYTHON             interpreter that creates the venv (default python3)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${SWITCHBOARD_VENV:-$HOME/.cache/switchboard-venv}"
python="${PYTHON:-python3}"

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

stamp="$venv/.switchboard-requirements"
if ! cmp -s "$here/requirements.txt" "$stamp"; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$stamp"
fi
