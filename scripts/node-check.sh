#!/usr/bin/env bash
# Whether this machine's Node.js can build the dashboard (Vite needs Node 20.19 or newer).
# Silent with exit 0 when it can; otherwise one line on stderr naming what to install, exit 1.
# Sourced by run.sh; tested by run-check-test.sh.
NODE_MIN_MAJOR=20
NODE_MIN_MINOR=19

node_check() {
    local want="Node.js ${NODE_MIN_MAJOR}.${NODE_MIN_MINOR} or newer (with npm)"
    local how="install it from https://nodejs.org or with nvm (nvm install 22), then run this again"
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        echo "The dashboard is built with ${want}, which is not installed: ${how}." >&2
        return 1
    fi
    local v
    v="$(node --version 2>/dev/null)"
    if [[ ! "$v" =~ ^v([0-9]+)\.([0-9]+) ]]; then
        echo "The dashboard is built with ${want}; \`node --version\` said \"${v}\": ${how}." >&2
        return 1
    fi
    local major="${BASH_REMATCH[1]}" minor="${BASH_REMATCH[2]}"
    if ((major < NODE_MIN_MAJOR || (major == NODE_MIN_MAJOR && minor < NODE_MIN_MINOR))); then
        echo "The dashboard is built with ${want}, this machine has Node.js ${v}: ${how}." >&2
        return 1
    fi
}
