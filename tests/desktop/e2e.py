#!/usr/bin/env python3
"""Desktop end-to-end test: drives the built app through tauri-driver + WebKitWebDriver.

Run by scripts/desktop-test.sh inside Xvfb and `dbus-run-session` (see that script for the
environment: isolated HOME and XDG dirs, a notification server, gnome-keyring or none).

    e2e.py keychain   launch, /health, dashboard screenshot, routing switch, autostart,
                      coalesced notification and its click, signed updates (and the dashboard's
                      "update available"), single instance, close → tray
    e2e.py nokeychain the encrypted-file fallback is used and reported (app page, dashboard)

Each check prints `PASS name` or `FAIL name: why`; the exit code is the number of failures.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import urllib3

from common import (alive, free_port, health, pid_on_port, port_closed, serve_directory, start_mock, wait_for,
                    x11_request_close, x11_windows)
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.options import ArgOptions

BIN = os.environ["SB_DESKTOP_BIN"]
MOCK_BIN = os.environ.get("SB_MOCK_BIN", "")
TAURI_DRIVER = os.environ["SB_TAURI_DRIVER"]
ART = Path(os.environ.get("SB_ARTIFACTS", "artifacts/desktop"))
WORK = Path(os.environ["SB_WORK"])
UPDATES = Path(os.environ.get("SB_UPDATES", WORK / "updates"))

failures = 0
passes = 0


def check(name, ok, why=""):
    global failures, passes
    if ok:
        passes += 1
        print(f"PASS {name}", flush=True)
    else:
        failures += 1
        print(f"FAIL {name}: {why}", flush=True)
    return ok


class App:
    """tauri-driver + a WebDriver session that launches the app."""

    def __init__(self, env):
        self.env = env
        self.driver_proc = None
        self.driver = None
        self.wd_port = self.native_port = None

    def start(self):
        # tauri-driver listens before the WebKitWebDriver it spawns does, and a session asked for
        # while that one starts can be dropped without an answer. Wait for both ports; if the
        # session is dropped anyway, end that driver (and whatever it launched) and start afresh.
        for attempt in range(3):
            self.wd_port, self.native_port = free_port(), free_port()
            log = open(WORK / f"tauri-driver-{self.wd_port}.log", "w")
            self.driver_proc = subprocess.Popen(
                [TAURI_DRIVER, "--port", str(self.wd_port), "--native-port", str(self.native_port)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
            wait_for(lambda: not port_closed(self.wd_port) and not port_closed(self.native_port), 20)
            opts = ArgOptions()
            opts.set_capability("browserName", "wry")
            opts.set_capability("tauri:options", {"application": BIN})
            try:
                self.driver = webdriver.Remote(command_executor=f"http://127.0.0.1:{self.wd_port}", options=opts)
            except (ConnectionError, urllib3.exceptions.ProtocolError):
                self.stop()
                if attempt == 2:
                    raise
                continue
            self.driver.set_page_load_timeout(30)
            return self.driver

    def stop(self):
        if self.driver is not None:
            try:
                self.driver.quit()
            except Exception:  # noqa: BLE001
                pass
        if self.driver_proc is not None and self.driver_proc.poll() is None:
            os.killpg(self.driver_proc.pid, signal.SIGTERM)
            try:
                self.driver_proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.driver_proc.pid, signal.SIGKILL)


def el(driver, css):
    return driver.find_element(By.CSS_SELECTOR, css)


def text_of(driver, css):
    try:
        return el(driver, css).text
    except Exception:  # noqa: BLE001
        return ""


def attr(driver, css, name):
    try:
        return el(driver, css).get_attribute(name)
    except Exception:  # noqa: BLE001
        return None


def on_app_page(driver):
    return driver.current_url.startswith(("tauri://localhost", "http://tauri.localhost"))


def to_app_page(driver):
    if on_app_page(driver):
        return True
    try:
        driver.back()
    except Exception:  # noqa: BLE001
        pass
    if not wait_for(lambda: on_app_page(driver) and el(driver, "#routing-toggle"), 10):
        driver.get("tauri://localhost/index.html")
    return bool(wait_for(lambda: on_app_page(driver) and el(driver, "#routing-toggle"), 20))


def write_config(mock_port):
    cfg = WORK / "switchboard.toml"
    keys = "\n".join(
        f'[[providers.keys]]\nlabel = "{name}"\nsecret = "sk-{name}@fault=429,retry_after=60"\n'
        for name in ("alpha", "bravo", "charlie")
    )
    cfg.write_text(
        f"""[[providers]]
name = "mock"
kind = "openai_chat"
base_url = "http://127.0.0.1:{mock_port}/v1"

{keys}
[[routes]]
alias = "gpt-e2e"
targets = [{{ provider = "mock", model = "mock-small" }}]
"""
    )
    return cfg


def serve_manifest(variant, update_port):
    """variant: good | flipped (artifact byte flipped) | foreign (signed with another key)."""
    art = UPDATES / "switchboard-9.9.9.tar.gz"
    source = {"good": "artifact.good", "flipped": "artifact.flipped", "foreign": "artifact.good"}[variant]
    shutil.copyfile(UPDATES / source, art)
    sig_file = {"good": "artifact.good.sig", "flipped": "artifact.good.sig", "foreign": "artifact.foreign.sig"}[variant]
    sig = (UPDATES / sig_file).read_text().strip()
    entry = {"url": f"http://127.0.0.1:{update_port}/switchboard-9.9.9.tar.gz", "signature": sig}
    manifest = {
        "version": "9.9.9",
        "notes": "e2e test release",
        "pub_date": "2026-01-01T00:00:00Z",
        "platforms": {
            "linux-x86_64": entry,
            "linux-x86_64-deb": entry,
            "linux-x86_64-appimage": entry,
        },
    }
    (UPDATES / "latest.json").write_text(json.dumps(manifest))


def run_update_check(driver):
    el(driver, "#update-check").click()
    state = wait_for(lambda: (s := attr(driver, "#update-status", "data-state")) in ("available", "error", "up_to_date") and s, 60)
    return state, text_of(driver, "#update-status")


def main_keychain():
    mock, mock_port = start_mock(MOCK_BIN, WORK / "mock-upstream.log")
    port = free_port()
    updates, update_port = serve_directory(UPDATES, WORK / "update-server.log")
    serve_manifest("good", update_port)
    access_key = "sk-sb-e2e-" + os.urandom(8).hex()
    env = dict(os.environ)
    env.update({
        "SWITCHBOARD_PORT": str(port),
        "SWITCHBOARD_CONFIG": str(write_config(mock_port)),
        "SWITCHBOARD_ACCESS_KEY": access_key,
        "SWITCHBOARD_UPDATE_ENDPOINT": f"http://127.0.0.1:{update_port}/latest.json",
        "SWITCHBOARD_UPDATER_ALLOW_HTTP": "1",
        "SWITCHBOARD_UPDATER_PUBKEY": (UPDATES / "test.key.pub").read_text().strip(),
    })
    monitor_log = WORK / "notifications.dbus.log"
    monitor = subprocess.Popen(
        ["dbus-monitor", "--session", "type='method_call',interface='org.freedesktop.Notifications',member='Notify'"],
        stdout=open(monitor_log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
    app = App(env)
    try:
        driver = app.start()
        check("app launches and the router answers /health on its port", wait_for(lambda: health(port), 60),
              f"no answer on {port}")
        app_pid = pid_on_port(port)

        check("window shows the app page (first start: onboarding)",
              wait_for(lambda: on_app_page(driver) and el(driver, "#onboarding").is_displayed(), 30),
              driver.current_url)
        secrets = wait_for(lambda: text_of(driver, "#secrets"), 10) or ""
        check("keychain: the active store is the OS keychain (Secret Service), not the mock",
              "in the OS keychain (Secret Service)" in secrets and attr(driver, "#secrets", "data-code") == "",
              secrets)

        el(driver, "#onboarding-done").click()
        on_dash = wait_for(lambda: driver.current_url.startswith(f"http://127.0.0.1:{port}/"), 20)
        time.sleep(1.5)
        ART.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ART / "dashboard-webdriver.png"))
        subprocess.run(["import", "-window", "root", str(ART / "dashboard-screen.png")], check=False)
        body = driver.find_element(By.TAG_NAME, "body").text if on_dash else ""
        check("window shows the dashboard served by the router (screenshot saved)",
              on_dash and (ART / "dashboard-screen.png").exists() and "#token=" not in driver.current_url,
              f"url={driver.current_url} body={body[:200]!r}")

        check("back to the app page", to_app_page(driver), driver.current_url)
        wait_for(lambda: attr(driver, "#routing-toggle", "aria-checked") == "true", 10)
        el(driver, "#routing-toggle").click()
        off = wait_for(lambda: attr(driver, "#routing-toggle", "aria-checked") == "false", 15)
        check("routing switch (WebDriver) stops the listener", off and wait_for(lambda: port_closed(port), 10),
              "port still open" if off else "switch did not turn off")
        el(driver, "#routing-toggle").click()
        on = wait_for(lambda: attr(driver, "#routing-toggle", "aria-checked") == "true", 15)
        check("routing switch (WebDriver) restarts the listener", on and wait_for(lambda: health(port), 15),
              "no /health after switching on")

        autostart = Path(env["XDG_CONFIG_HOME"]) / "autostart" / "Switchboard.desktop"
        box = el(driver, "#autostart-toggle")
        if box.is_selected():
            box.click()
            wait_for(lambda: not autostart.exists(), 10)
        el(driver, "#autostart-toggle").click()
        written = wait_for(lambda: autostart.exists(), 10)
        content = autostart.read_text() if written else ""
        check("autostart: enabling writes the XDG autostart entry",
              written and "--autostart" in content and "switchboard-desktop" in content, content[:300])
        el(driver, "#autostart-toggle").click()
        check("autostart: disabling removes it", wait_for(lambda: not autostart.exists(), 10), str(autostart))

        # The app's own update check (10 s after start) shows "9.9.9 is available". Wait for
        # it and close it, so that the one notification on screen is the one clicked below
        # (`dunstctl action` picks by position, not by id).
        announced = wait_for(lambda: "9.9.9 is available" in monitor_log.read_text(), 90)
        subprocess.run(["dunstctl", "close-all"], capture_output=True, timeout=10)
        shown = wait_for(lambda: subprocess.run(["dunstctl", "count", "displayed"], capture_output=True,
                                                text=True, timeout=10).stdout.strip() == "0", 10)
        check("notifications: the startup update check announced 9.9.9 (then closed)",
              announced and shown, f"announced={announced} closed={shown}")

        # Three keys, every one answering 429: one request walks them all (or a few do).
        for _ in range(3):
            try:
                req = urllib.request.Request(
                    f"http://127.0.0.1:{port}/v1/chat/completions",
                    data=json.dumps({"model": "gpt-e2e", "messages": [{"role": "user", "content": "hi"}]}).encode(),
                    headers={"Authorization": f"Bearer {access_key}", "Content-Type": "application/json"})
                urllib.request.urlopen(req, timeout=10)
            except urllib.error.HTTPError:
                pass
        time.sleep(5)
        monitor.send_signal(signal.SIGTERM)
        monitor.wait(5)
        calls = re.split(r"\n(?=method call )", monitor_log.read_text())
        health_notes = [c for c in calls if "member=Notify" in c and ("alpha" in c or "bravo" in c or "charlie" in c)]
        one = health_notes[0] if health_notes else ""
        check("notifications: a 429 burst on three keys is exactly one notification naming them",
              len(health_notes) == 1 and all(f"mock/{k}" in one for k in ("alpha", "bravo", "charlie")),
              f"{len(health_notes)} notifications: {one[:400]!r}")

        # Click it: the notification server reports the default action; the app opens the
        # dashboard on the three keys.
        clicked = subprocess.run(["dunstctl", "action", "0"], capture_output=True, text=True, timeout=10)
        on_keys = wait_for(lambda: "/providers?focus=" in driver.current_url, 20)
        focused = wait_for(lambda: sorted(
            e.get_attribute("data-key-label")
            for e in driver.find_elements(By.CSS_SELECTOR, 'tr[data-focused="true"]')) or None, 15) or []
        check("notifications: clicking one opens the dashboard on the keys it names",
              on_keys and focused == ["alpha", "bravo", "charlie"] and "#token=" not in driver.current_url,
              f"dunstctl rc={clicked.returncode} {clicked.stderr.strip()!r} url={driver.current_url} focused={focused}")
        driver.save_screenshot(str(ART / "dashboard-notification-click.png"))
        check("back to the app page after the click", to_app_page(driver), driver.current_url)

        state, text = run_update_check(driver)
        check("updater: a newer version signed with the test key is detected and verified",
              state == "available" and "9.9.9" in text, f"{state}: {text}")
        el(driver, "#open-dashboard").click()
        banner = wait_for(lambda: driver.current_url.startswith(f"http://127.0.0.1:{port}/")
                          and text_of(driver, '[data-testid="update-banner"]'), 20) or ""
        check("updater: the dashboard shows the verified update with an install button",
              "Switchboard 9.9.9 is available" in banner and "Install and restart" in banner,
              f"url={driver.current_url} banner={banner!r}")
        driver.save_screenshot(str(ART / "dashboard-update-available.png"))
        check("back to the app page after the dashboard", to_app_page(driver), driver.current_url)
        serve_manifest("flipped", update_port)
        state, text = run_update_check(driver)
        check("updater: an artifact with a flipped byte is refused",
              state == "error" and "9.9.9 refused" in text, f"{state}: {text}")
        serve_manifest("foreign", update_port)
        state, text = run_update_check(driver)
        check("updater: a foreign signature is refused",
              state == "error" and "9.9.9 refused" in text, f"{state}: {text}")
        check("updater: the app keeps running after refusals",
              app_pid is not None and alive(app_pid) and health(port), f"pid={app_pid}")

        second = subprocess.run([BIN], env=env, capture_output=True, timeout=60)
        check("single instance: a second launch hands over and exits",
              second.returncode == 0 and alive(app_pid) and pid_on_port(port) == app_pid,
              f"rc={second.returncode}")

        windows = x11_windows("Switchboard")
        mapped = [w for w, viewable in windows if viewable]
        sent = bool(mapped) and all(x11_request_close(w) for w in mapped)
        hidden = wait_for(lambda: not any(v for _, v in x11_windows("Switchboard")), 10)
        time.sleep(1)
        check("closing the window (WM_DELETE_WINDOW) hides it; the process and the router stay alive",
              sent and hidden and alive(app_pid) and health(port),
              f"windows={windows} sent={sent} hidden={hidden} pid={app_pid} alive={alive(app_pid)}")
        subprocess.run([BIN], env=env, capture_output=True, timeout=60)
        check("launching again brings the hidden window back",
              wait_for(lambda: any(v for _, v in x11_windows("Switchboard")), 15), str(x11_windows("Switchboard")))
    finally:
        app.stop()
        updates.shutdown()
        for p in (mock, monitor):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)


def main_nokeychain():
    port = free_port()
    env = dict(os.environ)
    env["SWITCHBOARD_PORT"] = str(port)
    app = App(env)
    try:
        driver = app.start()
        wait_for(lambda: health(port), 60)
        code = wait_for(lambda: attr(driver, "#secrets", "data-code"), 30)
        text = text_of(driver, "#secrets")
        data_dir = Path(env["XDG_DATA_HOME"]) / "switchboard"
        check("keychain: without a Secret Service the encrypted-file store is used and reported",
              code == "keychain_unavailable" and "encrypted file" in text and (data_dir / "secrets.enc").exists(),
              f"code={code} text={text!r}")
        el(driver, "#onboarding-done").click()
        note = wait_for(lambda: driver.current_url.startswith(f"http://127.0.0.1:{port}/")
                        and text_of(driver, '[data-testid="secret-store-note"]'), 20) or ""
        check("keychain: the dashboard says the keys are in the encrypted file, and why",
              "encrypted file" in note and "Secret Service unavailable" in note, f"note={note!r}")
    finally:
        app.stop()


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "keychain"
    try:
        (main_keychain if mode == "keychain" else main_nokeychain)()
    except Exception as e:  # noqa: BLE001
        check(f"e2e ({mode}) ran to the end", False, repr(e))
    print(f"e2e {mode}: {passes} passed, {failures} failed", flush=True)
    sys.exit(min(failures, 100))
