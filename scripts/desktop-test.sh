#!/usr/bin/env bash
# Desktop app tests (src-tauri): lint, unit tests, the OS keychain backend against a real
# Secret Service and without one, a debug build of the app, and the end-to-end tests under
# Xvfb and a private D-Bus session:
#  - tests/desktop/e2e.py (WebDriver): launch, /health, dashboard screenshot, routing switch,
#    autostart entry, one coalesced notification for a 429 burst, signed updates (good /
#    flipped byte / foreign signature), single instance, close-to-tray; then the
#    encrypted-file fallback without a Secret Service;
#  - tests/desktop/tray.py tray: the tray menu driven over D-Bus (StatusNotifierItem +
#    dbusmenu): routing toggled, the icon per health state, open dashboard, the webview freed
#    and rebuilt, copy endpoint, quit.
# Then the release packages (release profile, stripped): .deb and .rpm built and inspected,
# the .deb installed with dpkg, launched once under Xvfb (tray.py measure: start-up time to
# the tray icon and memory, written to docs/desktop.md), and purged.
#
# Usage: scripts/desktop-test.sh            (needs root or the apt packages below installed;
#                                            installs and purges the `switchboard` package)
# Env:   CARGO_TARGET_DIR (default ~/.cache/switchboard-target/desktop; the release build
#        goes to its release/ directory, kept as a cache too)
#        SB_DESKTOP_SKIP_APT=1  do not try to install apt packages
#        SB_DESKTOP_SKIP_INSTALL=1  build and inspect the packages but do not dpkg -i them
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
TEST_PKGS="xvfb xauth dbus dbus-x11 at-spi2-core webkit2gtk-driver imagemagick x11-apps dunst gnome-keyring keyutils python3-selenium iproute2 x11-utils minisign python3-gi xclip rpm psmisc"

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

# Build the app (debug profile, production frontend) for the end-to-end tests; the mock
# upstream for the notification and tray tests. The packages are built from the release
# profile further down.
build_app() (
  cd "$ROOT/src-tauri" && npx --no-install tauri build --debug --no-bundle \
    --config '{"bundle":{"createUpdaterArtifacts":false}}'
)
step "build app (tauri build --debug)" build_app || finish
step "build mock upstream" cargo build --manifest-path "$ROOT/Cargo.toml" -p switchboard-mock-upstream --bin switchboard-mock-upstream || finish
BIN="$CARGO_TARGET_DIR/debug/switchboard-desktop"
MOCK_BIN="$CARGO_TARGET_DIR/debug/switchboard-mock-upstream"

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
    python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[1000] ^= 0xFF; open(sys.argv[1], "wb").write(b)' "$UPD/artifact.flipped" &&
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
# Xvfb picks a free display itself and says which once it is ready (other test runs may
# share this machine).
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$WORK/xvfb-display" >"$LOGS/xvfb.log" 2>&1 &
XVFB_PID=$!
cleanup() {
  kill "$XVFB_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 1 300); do [ -s "$WORK/xvfb-display" ] && break; sleep 0.1; done
DISPLAY_NUM="$(head -n1 "$WORK/xvfb-display")"
[ -n "$DISPLAY_NUM" ] || { fail "Xvfb did not start (see $LOGS/xvfb.log)"; finish; }

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

# The tray, driven over D-Bus: tray.py is the StatusNotifier host (with an unlocked
# gnome-keyring, as an unlocked session has: a locked one would prompt).
tray_session() {
  local mode="$1" bin="$2"
  # shellcheck disable=SC2046
  env $(session_env "tray-$mode") DISPLAY=":$DISPLAY_NUM" \
    SB_DESKTOP_BIN="$bin" SB_MOCK_BIN="$MOCK_BIN" SB_WORK="$WORK" SB_MEASURE_OUT="$WORK/measure.json" \
    SWITCHBOARD_LOG=info \
    dbus-run-session -- bash -c '
      eval "$(echo -n e2e-pw | gnome-keyring-daemon --unlock --components=secrets)" >/dev/null
      /usr/bin/python3 "'"$ROOT"'/tests/desktop/tray.py" "$0"' "$mode"
}
run_tray() {
  local mode="$1" bin="$2" out
  out="$(tray_session "$mode" "$bin" 2>"$LOGS/tray-$mode.stderr.log")"
  echo "$out" > "$LOGS/tray-$mode.log"
  while IFS= read -r line; do
    case "$line" in
      "PASS "*) pass "tray.py $mode: ${line#PASS }" ;;
      "FAIL "*) fail "tray.py $mode: ${line#FAIL }" ;;
    esac
  done <<< "$out"
  grep -q "^tray $mode:" <<< "$out" || fail "tray $mode did not finish (see $LOGS/tray-$mode.stderr.log)"
}
run_tray tray "$BIN"

# Release packages: the release profile (thin LTO, symbols stripped; see src-tauri/Cargo.toml)
# bundled as .deb and .rpm (both built offline; AppImage needs tools from GitHub and is built
# by the release workflow only).
build_release() (
  cd "$ROOT/src-tauri" && npx --no-install tauri build --bundles deb,rpm \
    --config '{"bundle":{"createUpdaterArtifacts":false}}'
)
step "release build + .deb + .rpm (tauri build --bundles deb,rpm)" build_release || finish
REL_BIN="$CARGO_TARGET_DIR/release/switchboard-desktop"
DEB="$(ls -t "$CARGO_TARGET_DIR"/release/bundle/deb/*.deb 2>/dev/null | head -n1)"
RPM="$(ls -t "$CARGO_TARGET_DIR"/release/bundle/rpm/*.rpm 2>/dev/null | head -n1)"
PKG_DIR="$WORK/packages"
mkdir -p "$PKG_DIR"
cp "$DEB" "$RPM" "$PKG_DIR/" 2>/dev/null
cp "$DEB" "$RPM" "$ART/" 2>/dev/null

# A dependency list ("a, b (>= 1), c") names each package once.
deps_once() {
  tr ',' '\n' | sed -E 's/^ +//; s/ *\(.*//; s/ +$//' | grep -v '^$' | sort | uniq -d | { ! grep .; }
}
inspect_deb() {
  [ -n "$DEB" ] || { echo "no .deb built"; return 1; }
  local list control depends tree="$PKG_DIR/deb-root"
  list="$(dpkg-deb -c "$DEB")" && echo "$list" || return 1
  control="$(dpkg-deb -f "$DEB")" && echo "$control" || return 1
  depends="$(dpkg-deb -f "$DEB" Depends)"
  rm -rf "$tree" && dpkg-deb -x "$DEB" "$tree" || return 1
  echo "--- desktop entry"; cat "$tree/usr/share/applications/Switchboard.desktop" || return 1
  echo "--- binary"; file "$tree/usr/bin/switchboard-desktop"
  echo "$list" | grep -Eq ' (\./)?usr/bin/switchboard-desktop$' &&
    echo "$list" | grep -Eq ' (\./)?usr/share/applications/Switchboard\.desktop$' &&
    for s in 32x32 64x64 128x128 512x512; do
      echo "$list" | grep -Eq " (\./)?usr/share/icons/hicolor/$s/apps/switchboard-desktop\.png$" || { echo "no $s icon"; return 1; }
    done &&
    ! echo "$list" | grep -q '@2/' &&
    grep -qx 'Exec=switchboard-desktop' "$tree/usr/share/applications/Switchboard.desktop" &&
    grep -qx 'Icon=switchboard-desktop' "$tree/usr/share/applications/Switchboard.desktop" &&
    file "$tree/usr/bin/switchboard-desktop" | grep -q ', stripped' &&
    grep -q '^License: MIT or Apache-2.0' "$tree/usr/share/doc/switchboard/copyright" &&
    [ "$(dpkg-deb -f "$DEB" Package)" = switchboard ] &&
    dpkg-deb -f "$DEB" Maintainer | grep -Eq '^[^<]+ <[^@> ]+@[^> ]+>$' &&
    for d in libwebkit2gtk-4.1-0 libgtk-3-0 libayatana-appindicator3-1; do
      echo "$depends" | tr ',' '\n' | grep -Eq "^ *$d( |\(|$)" || { echo "missing dependency $d"; return 1; }
    done &&
    deps_once <<< "$depends"
}
step ".deb: stripped binary, desktop entry, icons, copyright (license), maintainer, each dependency once" inspect_deb
inspect_rpm() {
  [ -n "$RPM" ] || { echo "no .rpm built"; return 1; }
  local info list requires
  info="$(rpm -qpi "$RPM" 2>/dev/null)" && echo "$info" || return 1
  list="$(rpm -qpl "$RPM" 2>/dev/null)" && echo "$list" || return 1
  requires="$(rpm -qpR "$RPM" 2>/dev/null | grep -v '^rpmlib(')" && echo "--- requires" && echo "$requires"
  echo "$list" | grep -qx '/usr/bin/switchboard-desktop' &&
    echo "$list" | grep -qx '/usr/share/applications/Switchboard.desktop' &&
    for s in 32x32 64x64 128x128 512x512; do
      echo "$list" | grep -qx "/usr/share/icons/hicolor/$s/apps/switchboard-desktop.png" || { echo "no $s icon"; return 1; }
    done &&
    echo "$info" | grep -Eq '^Name +: switchboard$' &&
    echo "$info" | grep -Eq '^License +: MIT OR Apache-2.0$' &&
    echo "$list" | grep -qx '/usr/share/licenses/switchboard/copyright' &&
    [ -n "$requires" ] &&
    tr '\n' ',' <<< "$requires" | deps_once
}
step ".rpm: binary, desktop entry, icons, license (tag and file), each dependency once" inspect_rpm

# No private key in what ships (T10).
no_private_key() {
  ! grep -a -q "UNTRUSTED COMMENT\|rsign encrypted secret key\|TAURI_SIGNING_PRIVATE_KEY=" "$BIN" "$REL_BIN" "$DEB" "$RPM"
}
step "the binaries and the packages hold no signing key" no_private_key

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
# dpkg waits for its lock rather than failing when another install runs.
dpkg_locked() {
  local i
  for i in $(seq 1 60); do
    as_root dpkg "$@" && return 0
    as_root fuser /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock >/dev/null 2>&1 || return 1
    sleep 2
  done
  return 1
}
install_deb() {
  dpkg_locked -i "$DEB" &&
    dpkg-query -W -f='${Status} ${Version}\n' switchboard | grep -q '^install ok installed' &&
    [ -x /usr/bin/switchboard-desktop ] && [ -f /usr/share/applications/Switchboard.desktop ] &&
    cmp -s /usr/bin/switchboard-desktop "$PKG_DIR/deb-root/usr/bin/switchboard-desktop"
}
purge_deb() {
  dpkg_locked --purge switchboard &&
    ! dpkg-query -W -f='${Status}' switchboard 2>/dev/null | grep -q 'ok installed' &&
    [ ! -e /usr/bin/switchboard-desktop ] && [ ! -e /usr/share/applications/Switchboard.desktop ] &&
    [ ! -e /usr/share/doc/switchboard ] && [ ! -e /usr/share/icons/hicolor/128x128/apps/switchboard-desktop.png ]
}
if [ "${SB_DESKTOP_SKIP_INSTALL:-0}" = 1 ]; then
  echo "SB_DESKTOP_SKIP_INSTALL=1: the .deb is not installed"
else
  if step ".deb installs with dpkg -i" install_deb; then
    # Launched once from the package, under Xvfb: the tray item is registered and the router
    # answers; start-up and memory are measured and written to docs/desktop.md.
    run_tray measure /usr/bin/switchboard-desktop
    write_measurements() {
      /usr/bin/python3 "$ROOT/tests/desktop/tray.py" report "$WORK/measure.json" "$ROOT/docs/desktop.md" \
        deb_bytes="$(stat -c %s "$DEB")" rpm_bytes="$(stat -c %s "$RPM")" \
        installed_kib="$(dpkg-deb -f "$DEB" Installed-Size)" \
        binary_bytes="$(stat -c %s "$PKG_DIR/deb-root/usr/bin/switchboard-desktop")"
    }
    step "measurements written to docs/desktop.md" write_measurements && cp "$WORK/measure.json" "$ART/"
  fi
  # Removed even when a check above failed, if it got installed.
  if dpkg-query -W -f='${Status}' switchboard 2>/dev/null | grep -q 'ok installed'; then
    step ".deb removes cleanly (dpkg --purge: no file left)" purge_deb
  fi
fi

finish
