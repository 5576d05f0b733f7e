#!/usr/bin/env bash
# Tests run.sh's Node.js check without building anything: run.sh and node-check.sh are copied
# into a scratch tree whose PATH holds only fake `cargo`, `cc`, `node` and `npm` (which record
# that they ran) next to the few tools the scripts use. Exits non-zero on any failure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "run-check-test: $*" >&2; exit 1; }

mkdir -p "$work/repo/scripts" "$work/repo/ui" "$work/bin"
cp "$ROOT/scripts/run.sh" "$ROOT/scripts/node-check.sh" "$work/repo/scripts/"
echo '{}' > "$work/repo/ui/package-lock.json"
for tool in bash dirname; do ln -s "$(command -v "$tool")" "$work/bin/$tool"; done
fake() { # fake NAME BODY: a tool that records its call in $work/calls
    printf '#!%s\necho "%s $*" >> "%s/calls"\n%s\n' "$(command -v bash)" "$1" "$work" "${2:-}" > "$work/bin/$1"
    chmod +x "$work/bin/$1"
}
fake cargo
fake cc
run() { # run: run.sh with the scratch PATH; stdout+stderr in $work/out, status in $status
    : > "$work/calls"
    set +e
    PATH="$work/bin" "$work/bin/bash" "$work/repo/scripts/run.sh" > "$work/out" 2> "$work/err"
    status=$?
    set -e
}
expect_refusal() { # expect_refusal WHAT
    [ "$status" -ne 0 ] || fail "$1: run.sh went on (exit 0)"
    [ "$(wc -l < "$work/err")" -eq 1 ] || fail "$1: not one line: $(cat "$work/err")"
    grep -q "Node.js 20.19 or newer" "$work/err" || fail "$1: does not name Node.js 20.19: $(cat "$work/err")"
    grep -q "nodejs.org" "$work/err" || fail "$1: does not say where to get it: $(cat "$work/err")"
    ! grep -q "^cargo\|^npm" "$work/calls" || fail "$1: built something: $(cat "$work/calls")"
}

# No Node at all.
run
expect_refusal "without node"

# Debian's Node 18.
fake node 'echo v18.19.0'
fake npm
run
expect_refusal "with node 18"
grep -q "v18.19.0" "$work/err" || fail "with node 18: does not say what it found: $(cat "$work/err")"

# Node 20.19: the dashboard is built, then the router started.
fake node 'echo v20.19.0'
run
[ "$status" -eq 0 ] || fail "with node 20.19: exit $status: $(cat "$work/err")"
grep -q "^npm --prefix ui ci" "$work/calls" || fail "with node 20.19: the dashboard was not built"
grep -q "^cargo run" "$work/calls" || fail "with node 20.19: the router was not started"

# A prebuilt dashboard is served without Node.
rm "$work/bin/node" "$work/bin/npm"
mkdir -p "$work/repo/ui/dist" && echo '<!doctype html>' > "$work/repo/ui/dist/index.html"
run
[ "$status" -eq 0 ] || fail "prebuilt, without node: exit $status: $(cat "$work/err")"
grep -q "^cargo run" "$work/calls" || fail "prebuilt, without node: the router was not started"
echo "run-check-test: ok"
