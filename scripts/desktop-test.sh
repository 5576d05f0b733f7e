#!/usr/bin/env bash
# Desktop app tests (src-tauri): lint, unit tests, the OS keychain backend against a real
# Secret Service and without one, a debug build of the app + its .deb, and the end-to-end
# tests under Xvfb and a private D-Bus session (tests/desktop/e2e.py): launch, /health,
# dashboard screenshot, routing switch through WebDriver, autostart entry, one coalesced
# notification for a 429 burst, signed updates (good / flipped byte / foreign signature),
# single instance, close-to-tray; then the encrypted-file fallback without a Secret Service.
#
# Usage: scripts/desktop-test.sh            (needs root or the apt packages below installed)
# Env:   CARGO_TARGET_DIR (default ~/.cache/switchboard-target/desktop)
#        SB_DESKTOP_SKIP_APT=1  do not try to install apt packages
#        SB_TOOLS_DIR (default ~/.cache/switchboard-tools: the cached tauri-driver)
#
# Prints PASS/FAIL per check and ends with "N passed, M failed"; exits non-zero on failure.

set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchboard-target/desktop}"
export CARGO_PROFILE_DEV_DEBUG=0
export CARGO_TERM_COLOR=never
TOOLS="${SB_TOOLS_DIR:-$HOME/.cache/switchboard-tools}"
ART="$ROOT/artifacts/desktop"
LOGS="$ART/logs"
mkdir -p "$LOGS"
START=$(date +%s)
PASSED=0
FAILED=0

pass() { PASSED=$((PASSED + 1)); echo "PASS $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $1"; }
# step NAME CMD...: runs CMD with output to a log; PASS/FAIL; the log tail on failure.
step() {
  local name="$1"; shift
  local log="$LOGS/$(echo "$name" | tr -c 'a-zA-Z0-9' '_' | cut -c1-60).log"
  local t0=$(date +%s)
  if "$@" >"$log" 2>&1; then
    pass "$name ($(( $(date +%s) - t0 ))s)"
    return 0
  else
    fail "$name ($(( $(date +%s) - t0 ))s) — log: $log"
    tail -n 40 "$log" | sed 's/^/    /'
    return 1
  fi
}
finish() {
  echo "desktop tests took $(( $(date +%s) - START ))s"
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
  exit $?
}

BUILD_PKGS="build-essential pkg-config file libssl-dev libxdo-dev libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev libdbus-1-dev"
TEST_PKGS="xvfb xauth dbus dbus-x11 at-spi2-core webkit2gtk-driver imagemagick x11-apps dunst gnome-keyring keyutils python3-selenium iproute2 x11-utils minisign"

apt_packages() {
  local missing=()
  for p in $BUILD_PKGS $TEST_PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}"
  [ "${SB_DESKTOP_SKIP_APT:-0}" = 1 ] && { echo "SB_DESKTOP_SKIP_APT=1 and packages are missing"; return 1; }
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
}

tauri_driver() {
  [ -x "$TOOLS/bin/tauri-driver" ] && return 0
  cargo install tauri-driver --locked --root "$TOOLS"
}

step "apt packages present" apt_packages || finish
step "npm deps from the lockfile (Tauri CLI)" npm ci --prefix src-tauri --no-audit --no-fund || finish
step "tauri-driver available" tauri_driver || finish

# Static checks.
step "cargo fmt (src-tauri)" cargo fmt --manifest-path src-tauri/Cargo.toml --check
step "cargo clippy (src-tauri)" cargo clippy --manifest-path src-tauri/Cargo.toml --all-targets --features custom-protocol -- -D warnings
step "cargo clippy (store, feature keychain)" cargo clippy -p switchboard-store --features keychain --all-targets -- -D warnings

# Pure modules and the GUI-free shell core (starts real engines on free ports).
step "cargo test (src-tauri: coalescing, tray, health view, settings, updater policy, shell)" \
  cargo test --manifest-path src-tauri/Cargo.toml --features custom-protocol

# The keychain backend against a real Secret Service, and without one.
keychain_present() {
  dbus-run-session -- bash -c '
    eval "$(echo -n e2e-pw | gnome-keyring-daemon --unlock --components=secrets)" >/dev/null
    SWITCHBOARD_TEST_KEYCHAIN=present cargo test -p switchboard-store --features keychain --lib -- secrets::keychain --nocapture'
}
keychain_no_bus() {
  DBUS_SESSION_BUS_ADDRESS="unix:path=/nonexistent/bus" SWITCHBOARD_TEST_KEYCHAIN=absent \
    cargo test -p switchboard-store --features keychain --lib -- secrets::keychain --nocapture
}
keychain_no_service() {
  dbus-run-session -- env SWITCHBOARD_TEST_KEYCHAIN=absent \
    cargo test -p switchboard-store --features keychain --lib -- secrets::keychain --nocapture
}
step "keychain: real Secret Service (gnome-keyring) round trip, cache, migration, not the mock" keychain_present
step "keychain: no session bus → keychain_unavailable, encrypted file" keychain_no_bus
step "keychain: bus without Secret Service → keychain_unavailable, encrypted file" keychain_no_service

# Build the app (debug profile, production frontend) and its .deb in one go; the mock
# upstream for the notification test.
build_app() (
  cd "$ROOT/src-tauri" && npx --no-install tauri build --debug --bundles deb \
    --config '{"bundle":{"createUpdaterArtifacts":false}}'
)
step "build app + .deb (tauri build --debug --bundles deb)" build_app || finish
step "build mock upstream" cargo build --manifest-path "$ROOT/Cargo.toml" -p switchboard-mock-upstream --bin switchboard-mock-upstream || finish
BIN="$CARGO_TARGET_DIR/debug/switchboard-desktop"
MOCK_BIN="$CARGO_TARGET_DIR/debug/switchboard-mock-upstream"

# .deb contents.
DEB="$(ls -t "$CARGO_TARGET_DIR"/debug/bundle/deb/*.deb 2>/dev/null | head -n1)"
inspect_deb() {
  [ -n "$DEB" ] || { echo "no .deb built"; return 1; }
  local list; list="$(dpkg-deb -c "$DEB")"; echo "$list"
  echo "$list" | grep -Eq ' (\./)?usr/bin/switchboard-desktop$' &&
    echo "$list" | grep -Eq ' (\./)?usr/share/applications/Switchboard\.desktop$' &&
    echo "$list" | grep -Eq ' (\./)?usr/share/icons/hicolor/128x128/apps/switchboard-desktop\.png$' &&
    echo "$list" | grep -Eq ' (\./)?usr/share/icons/hicolor/32x32/apps/switchboard-desktop\.png$' &&
    dpkg-deb -f "$DEB" Package Version Depends
}
step ".deb contains the binary, the desktop entry and the icons" inspect_deb && cp "$DEB" "$ART/" 2>/dev/null

# No private key in what ships (T10).
no_private_key() {
  ! grep -a -q "UNTRUSTED COMMENT\|rsign encrypted secret key\|TAURI_SIGNING_PRIVATE_KEY=" "$BIN" "$DEB"
}
step "the binary and the .deb hold no signing key" no_private_key

# Updater fixtures: a test key pair, a dummy artifact signed for 9.9.9, a flipped copy and a
# signature by a foreign key.
WORK="$(mktemp -d /tmp/sb-desktop-e2e.XXXXXX)"
chmod 700 "$WORK"
UPD="$WORK/updates"
mkdir -p "$UPD"
updater_fixtures() (
  cd "$ROOT/src-tauri" || exit 1
  npx --no-install tauri signer generate --ci -p '' -w "$UPD/test.key" -f &&
    npx --no-install tauri signer generate --ci -p '' -w "$UPD/foreign.key" -f &&
    head -c 200000 /dev/urandom > "$UPD/artifact.good" &&
    npx --no-install tauri signer sign -f "$UPD/test.key" -p '' --app-version 9.9.9 "$UPD/artifact.good" &&
    cp "$UPD/artifact.good" "$UPD/artifact.flipped" &&
    printf '\x5a' | dd of="$UPD/artifact.flipped" bs=1 seek=1000 conv=notrunc status=none &&
    cp "$UPD/artifact.good" "$UPD/artifact.foreign" &&
    npx --no-install tauri signer sign -f "$UPD/foreign.key" -p '' --app-version 9.9.9 "$UPD/artifact.foreign" &&
    mv "$UPD/artifact.foreign.sig" "$UPD/artifact.foreign.sig.tmp" && rm -f "$UPD/artifact.foreign" &&
    mv "$UPD/artifact.foreign.sig.tmp" "$UPD/artifact.foreign.sig" &&
    ! cmp -s "$UPD/artifact.good" "$UPD/artifact.flipped"
)
step "updater fixtures (test key, signed artifact, flipped byte, foreign signature)" updater_fixtures

# The release guard (scripts/check-updater-key.sh, run by release.yml before building):
# accepts the private key of the public key, refuses any other.
key_guard() {
  TAURI_SIGNING_PRIVATE_KEY="$UPD/test.key" TAURI_SIGNING_PRIVATE_KEY_PASSWORD='' \
    bash "$ROOT/scripts/check-updater-key.sh" "$UPD/test.key.pub" &&
    ! TAURI_SIGNING_PRIVATE_KEY="$UPD/foreign.key" TAURI_SIGNING_PRIVATE_KEY_PASSWORD='' \
      bash "$ROOT/scripts/check-updater-key.sh" "$UPD/test.key.pub"
}
step "release guard: the signing key must belong to the updater public key" key_guard

# One isolated desktop session: Xvfb, HOME and XDG dirs, a private D-Bus session.
session_env() {
  local name="$1"
  local home="$WORK/$name-home"
  mkdir -p "$home/.config" "$home/.local/share" "$home/.cache" "$home/run"
  chmod 700 "$home/run"
  echo "HOME=$home XDG_CONFIG_HOME=$home/.config XDG_DATA_HOME=$home/.local/share XDG_CACHE_HOME=$home/.cache XDG_RUNTIME_DIR=$home/run"
}
DISPLAY_NUM=$(( 90 + RANDOM % 100 ))
while [ -e "/tmp/.X11-unix/X$DISPLAY_NUM" ] || [ -e "/tmp/.X$DISPLAY_NUM-lock" ]; do DISPLAY_NUM=$((DISPLAY_NUM + 1)); done
Xvfb ":$DISPLAY_NUM" -screen 0 1280x800x24 -nolisten tcp >"$LOGS/xvfb.log" 2>&1 &
XVFB_PID=$!
cleanup() {
  kill "$XVFB_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
sleep 1

e2e() {
  local mode="$1" with_keyring="$2"
  # shellcheck disable=SC2046
  env $(session_env "$mode") DISPLAY=":$DISPLAY_NUM" \
    SB_DESKTOP_BIN="$BIN" SB_MOCK_BIN="$MOCK_BIN" SB_TAURI_DRIVER="$TOOLS/bin/tauri-driver" \
    SB_ARTIFACTS="$ART" SB_WORK="$WORK" SB_UPDATES="$UPD" SB_WITH_KEYRING="$with_keyring" \
    SB_E2E_MODE="$mode" SWITCHBOARD_LOG=info \
    dbus-run-session -- bash -c '
      if [ "$SB_WITH_KEYRING" = 1 ]; then
        eval "$(echo -n e2e-pw | gnome-keyring-daemon --unlock --components=secrets)" >/dev/null
      fi
      dunst >"$SB_WORK/dunst-$SB_E2E_MODE.log" 2>&1 &
      DUNST=$!
      /usr/bin/python3 "'"$ROOT"'/tests/desktop/e2e.py" "$SB_E2E_MODE"
      rc=$?
      kill $DUNST 2>/dev/null
      exit $rc'
}
run_e2e() {
  local mode="$1" with_keyring="$2" out
  out="$(e2e "$mode" "$with_keyring" 2>"$LOGS/e2e-$mode.stderr.log")"
  echo "$out" > "$LOGS/e2e-$mode.log"
  while IFS= read -r line; do
    case "$line" in
      "PASS "*) pass "e2e: ${line#PASS }" ;;
      "FAIL "*) fail "e2e: ${line#FAIL }" ;;
    esac
  done <<< "$out"
  grep -q "^e2e $mode:" <<< "$out" || fail "e2e $mode did not finish (see $LOGS/e2e-$mode.stderr.log)"
}
run_e2e keychain 1
run_e2e nokeychain 0

finish
