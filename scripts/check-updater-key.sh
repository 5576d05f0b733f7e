#!/usr/bin/env bash
# Checks that the updater signing key (TAURI_SIGNING_PRIVATE_KEY, with
# TAURI_SIGNING_PRIVATE_KEY_PASSWORD) belongs to the public key installed apps verify with
# (plugins.updater.pubkey in src-tauri/tauri.conf.json, or PUBKEY_FILE): it signs a probe
# file and verifies the signature with minisign. A release signed with any other key could
# never be installed by an update, so the release workflow runs this before building.
#
# Usage: scripts/check-updater-key.sh [PUBKEY_FILE]
#   PUBKEY_FILE: a `.pub` file as written by `tauri signer generate` (base64 text).
# Needs: minisign, and the Tauri CLI from src-tauri/package-lock.json (npm ci --prefix src-tauri).
# Exits 0 when the pair matches; non-zero (and says why) otherwise. Prints no key material.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
: "${TAURI_SIGNING_PRIVATE_KEY:?set TAURI_SIGNING_PRIVATE_KEY (the updater private key or its path)}"
export TAURI_SIGNING_PRIVATE_KEY_PASSWORD="${TAURI_SIGNING_PRIVATE_KEY_PASSWORD-}"
# The signer reads the key's content from the variable; accept a path as the bundler does.
if [ -f "$TAURI_SIGNING_PRIVATE_KEY" ]; then
  TAURI_SIGNING_PRIVATE_KEY="$(cat "$TAURI_SIGNING_PRIVATE_KEY")"
fi
export TAURI_SIGNING_PRIVATE_KEY
command -v minisign >/dev/null || { echo "minisign is required (apt-get install minisign)"; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [ $# -ge 1 ]; then
  pubkey_b64="$(tr -d '\n' < "$1")"
else
  pubkey_b64="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["plugins"]["updater"]["pubkey"])' \
    "$ROOT/src-tauri/tauri.conf.json")"
fi
printf '%s' "$pubkey_b64" | base64 -d > "$work/updater.pub" 2>/dev/null ||
  { echo "the public key is not base64"; exit 1; }

head -c 4096 /dev/urandom > "$work/probe"
(cd "$ROOT/src-tauri" && npx --no-install tauri signer sign "$work/probe" >/dev/null 2>&1) ||
  { echo "could not sign with TAURI_SIGNING_PRIVATE_KEY (wrong key or password?)"; exit 1; }
base64 -d < "$work/probe.sig" > "$work/probe.minisig"

if minisign -V -q -m "$work/probe" -p "$work/updater.pub" -x "$work/probe.minisig" >/dev/null 2>&1; then
  echo "updater key pair matches"
else
  echo "TAURI_SIGNING_PRIVATE_KEY does not belong to the updater public key: apps could not verify this release's updates"
  exit 1
fi
