#!/usr/bin/env python3
"""The tray driven for real, and start-up and memory measured.

Run by scripts/desktop-test.sh under Xvfb inside `dbus-run-session` (a private session bus),
with an isolated HOME and XDG dirs. On Linux the app's tray is a StatusNotifierItem
(libayatana-appindicator) whose menu is exported over D-Bus as `com.canonical.dbusmenu`. This
test is the panel: it owns `org.kde.StatusNotifierWatcher` on the private bus, so the app
registers its item there, reads the item's properties and menu, and clicks menu entries with
dbusmenu `Event(id, "clicked")`.

    tray.py tray      routing toggled from the tray (the listener stops and starts, the icon
                      and the menu's status line change), the icon per health state (healthy,
                      a key cooling, an alias without a usable key: mock-upstream faults chosen
                      by key and model name), open dashboard, the webview freed while hidden
                      and the dashboard opened again, copy endpoint (read back with xclip),
                      quit (exit status 0, the request log flushed)
    tray.py measure   cold and warm start to the tray icon registered, RSS with the window
                      never opened, with the dashboard open and after the webview was freed;
                      the figures go to $SB_MEASURE_OUT (JSON)
    tray.py report MEASURE.json DOC.md [key=value…]
                      writes the figures (and package sizes) into DOC.md

Env: SB_DESKTOP_BIN (the app), SB_MOCK_BIN (mock upstream, `tray` only), SB_WORK.
Each check prints `PASS name` or `FAIL name: why`; the exit code is the number of failures.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

from common import (free_port, health, memory, port_closed, start_mock, wait_for,  # noqa: E402
                    x11_request_close, x11_windows)

BIN = os.environ.get("SB_DESKTOP_BIN", "")
MOCK_BIN = os.environ.get("SB_MOCK_BIN", "")
WORK = Path(os.environ.get("SB_WORK", "."))

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


# ---------------------------------------------------------------------------------------------
# The panel side of StatusNotifierItem

WATCHER_XML = """
<node>
  <interface name="org.kde.StatusNotifierWatcher">
    <method name="RegisterStatusNotifierItem"><arg name="service" type="s" direction="in"/></method>
    <method name="RegisterStatusNotifierHost"><arg name="service" type="s" direction="in"/></method>
    <property name="RegisteredStatusNotifierItems" type="as" access="read"/>
    <property name="IsStatusNotifierHostRegistered" type="b" access="read"/>
    <property name="ProtocolVersion" type="i" access="read"/>
    <signal name="StatusNotifierItemRegistered"><arg name="service" type="s"/></signal>
    <signal name="StatusNotifierItemUnregistered"><arg name="service" type="s"/></signal>
    <signal name="StatusNotifierHostRegistered"/>
  </interface>
</node>
"""
WATCHER_NAME = "org.kde.StatusNotifierWatcher"
WATCHER_PATH = "/StatusNotifierWatcher"
SNI = "org.kde.StatusNotifierItem"
DBUSMENU = "com.canonical.dbusmenu"


class Watcher:
    """org.kde.StatusNotifierWatcher on the session bus, with a host registered; records
    every item that registers (monotonic time, unique bus name, object path)."""

    def __init__(self):
        self.conn = Gio.bus_get_sync(Gio.BusType.SESSION, None)
        self.items = []
        self.lock = threading.Lock()
        info = Gio.DBusNodeInfo.new_for_xml(WATCHER_XML).interfaces[0]
        self.reg = self.conn.register_object(WATCHER_PATH, info, self._method, self._property, None)
        self.loop = GLib.MainLoop()
        self.thread = threading.Thread(target=self.loop.run, daemon=True)
        self.thread.start()
        # DBUS_NAME_FLAG_DO_NOT_QUEUE; 1 = primary owner.
        (reply,) = self.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                             "RequestName", GLib.Variant("(su)", (WATCHER_NAME, 4))).unpack()
        if reply != 1:
            raise RuntimeError(f"could not own {WATCHER_NAME}: {reply}")

    def call(self, name, path, iface, method, args=None, timeout_ms=10000):
        return self.conn.call_sync(name, path, iface, method, args, None, Gio.DBusCallFlags.NONE,
                                   timeout_ms, None)

    def _method(self, conn, sender, path, iface, method, params, invocation):
        if method == "RegisterStatusNotifierItem":
            (service,) = params.unpack()
            # libappindicator passes its object path; others pass a bus name.
            obj = service if service.startswith("/") else "/StatusNotifierItem"
            name = sender if service.startswith("/") else service
            with self.lock:
                self.items.append((time.monotonic(), name, obj))
            conn.emit_signal(None, WATCHER_PATH, WATCHER_NAME, "StatusNotifierItemRegistered",
                             GLib.Variant("(s)", (name + obj,)))
        invocation.return_value(None)

    def _property(self, conn, sender, path, iface, prop):
        if prop == "RegisteredStatusNotifierItems":
            with self.lock:
                return GLib.Variant("as", [n + o for _, n, o in self.items])
        if prop == "IsStatusNotifierHostRegistered":
            return GLib.Variant("b", True)
        if prop == "ProtocolVersion":
            return GLib.Variant("i", 0)
        return None

    def registered_since(self, t0):
        with self.lock:
            return next(((t, n, o) for t, n, o in self.items if t >= t0), None)

    def stop(self):
        self.conn.unregister_object(self.reg)
        self.loop.quit()


class Item:
    """One registered StatusNotifierItem and its dbusmenu."""

    def __init__(self, watcher, name, path):
        self.w = watcher
        self.name = name
        self.path = path

    def props(self):
        (props,) = self.w.call(self.name, self.path, "org.freedesktop.DBus.Properties", "GetAll",
                               GLib.Variant("(s)", (SNI,))).unpack()
        return props

    def menu(self):
        """The menu's entries: [{id, label, enabled, toggle-state, …}] (separators left out)."""
        menu_path = self.props()["Menu"]
        _, layout = self.w.call(self.name, menu_path, DBUSMENU, "GetLayout",
                                GLib.Variant("(iias)", (0, -1, []))).unpack()
        out = []

        def walk(node):
            item_id, props, children = node
            if item_id != 0 and props.get("type") != "separator":
                out.append(dict(props, id=item_id))
            for c in children:
                walk(c)

        walk(layout)
        return out

    def entry(self, label):
        return next((e for e in self.menu() if e.get("label") == label), None)

    def status_line(self):
        """The menu's first entry: the state in words (the tooltip's first line; tray-icon
        cannot set a tooltip on Linux, so the menu carries it)."""
        entries = self.menu()
        return entries[0].get("label", "") if entries else ""

    def click(self, label):
        e = self.entry(label)
        if e is None:
            raise RuntimeError(f"no menu entry {label!r}: {[m.get('label') for m in self.menu()]}")
        menu_path = self.props()["Menu"]
        self.w.call(self.name, menu_path, DBUSMENU, "Event",
                    GLib.Variant("(isvu)", (e["id"], "clicked", GLib.Variant("s", ""), 0)))

    def icon_name(self):
        return self.props().get("IconName", "")


def icon_state(icon_name):
    """The state directory the icon was written to (…/switchboard-tray/<state>/….png)."""
    p = Path(icon_name)
    return p.parent.name if p.parent.parent.name == "switchboard-tray" else ""


def dot_rgb(icon_name):
    """The colour in the status dot of the icon file (lower right, see src-tauri/src/tray.rs)."""
    out = subprocess.run(["convert", icon_name, "-format", "%[pixel:p{25,25}]", "info:"],
                         capture_output=True, text=True, timeout=30).stdout.strip()
    return out


DOT = {  # tray::dot_color, as ImageMagick prints it
    "routing-off": "srgba(154,154,154,1)",
    "healthy": "srgba(46,194,90,1)",
    "cooling": "srgba(245,166,35,1)",
    "down": "srgba(229,57,53,1)",
}


# ---------------------------------------------------------------------------------------------
# The app


class Desktop:
    """The app started directly (no WebDriver), in the tray (`--hidden`)."""

    def __init__(self, env, log_name):
        self.env = env
        self.log_path = WORK / log_name
        self.proc = None

    def start(self, *args):
        self.log = open(self.log_path, "w")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen([BIN, *args], env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        return self.proc

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def profile_env(name, port, settings, extra=None):
    """An isolated HOME with the app's data dir holding `settings` (desktop.json)."""
    home = WORK / f"{name}-home"
    for d in (".config", ".local/share/switchboard", ".cache", "run"):
        (home / d).mkdir(parents=True, exist_ok=True)
    os.chmod(home / "run", 0o700)
    os.chmod(home / ".local/share/switchboard", 0o700)
    (home / ".local/share/switchboard/desktop.json").write_text(json.dumps(settings))
    env = dict(os.environ)
    env.update({
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_RUNTIME_DIR": str(home / "run"),
        "SWITCHBOARD_PORT": str(port),
        # No update check against the real release channel.
        "SWITCHBOARD_UPDATE_ENDPOINT": "http://127.0.0.1:9/latest.json",
        "SWITCHBOARD_UPDATER_ALLOW_HTTP": "1",
    })
    env.update(extra or {})
    return env, home


def wait_registered(watcher, app, timeout=60):
    reg = wait_for(lambda: watcher.registered_since(app.t0), timeout, step=0.01)
    return (Item(watcher, reg[1], reg[2]), reg[0] - app.t0) if reg else (None, None)


def window_viewable():
    return any(v for _, v in x11_windows("Switchboard"))


def window_exists():
    return bool(x11_windows("Switchboard"))


def close_window():
    mapped = [w for w, viewable in x11_windows("Switchboard") if viewable]
    return bool(mapped) and all(x11_request_close(w) for w in mapped)


def chat(port, access_key, model):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        data=json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]}).encode(),
        headers={"Authorization": f"Bearer {access_key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def write_config(mock_port):
    """Two providers with one key each. `steady` tries `one` (its key always answers 429 for
    ten minutes: cooling) then `three`; `doomed` asks `three` for a model whose name makes the
    mock answer 401 (the key is down). After `steady`: some keys cooling. After `doomed` too:
    no key healthy and no alias servable."""
    cfg = WORK / "tray-switchboard.toml"
    cfg.write_text(f"""[[providers]]
name = "one"
kind = "openai_chat"
base_url = "http://127.0.0.1:{mock_port}/v1"
keys = ["sk-one@fault=429,retry_after=600"]
retry = {{ max_retries = 0 }}

[[providers]]
name = "three"
kind = "openai_chat"
base_url = "http://127.0.0.1:{mock_port}/v1"
keys = ["sk-three"]
retry = {{ max_retries = 0 }}

[[routes]]
alias = "steady"
targets = [{{ provider = "one", model = "mock-small" }}, {{ provider = "three", model = "mock-small" }}]

[[routes]]
alias = "doomed"
targets = [{{ provider = "three", model = "mock-small@fault=401" }}]
""")
    return cfg


def icon_shows(item, state, timeout=20):
    return wait_for(lambda: icon_state(item.icon_name()) == state, timeout)


def main_tray():
    mock, mock_port = start_mock(MOCK_BIN, WORK / "tray-mock-upstream.log")
    port = free_port()
    access_key = "sk-sb-tray-" + os.urandom(8).hex()
    env, home = profile_env("tray", port, {"onboarded": True, "free_webview_after_secs": 3}, {
        "SWITCHBOARD_CONFIG": str(write_config(mock_port)),
        "SWITCHBOARD_ACCESS_KEY": access_key,
    })
    watcher = Watcher()
    app = Desktop(env, "tray-app.log")
    try:
        app.start("--hidden")
        item, took = wait_registered(watcher, app)
        if not check("the app registers a StatusNotifierItem on the session bus", item is not None,
                     "no RegisterStatusNotifierItem call"):
            return
        up = wait_for(lambda: health(port), 60)
        check("started with --hidden: the router answers, no window is shown",
              up and not window_viewable(), f"health={up} windows={x11_windows('Switchboard')}")
        props = item.props()
        check("the item exports a dbusmenu and is active",
              props.get("Menu", "/") != "/" and props.get("Status") == "Active", repr(props))
        labels = [e.get("label") for e in item.menu()]
        check("the menu lists routing, open dashboard, copy endpoint and quit",
              all(x in labels for x in ("Routing on", "Open dashboard", "Copy endpoint URL", "Quit Switchboard")),
              repr(labels))

        icons = {}
        check("healthy: icon, dot and status line", icon_shows(item, "healthy")
              and dot_rgb(item.icon_name()) == DOT["healthy"]
              and wait_for(lambda: item.status_line() == "Switchboard — all keys healthy", 10),
              f"icon={item.icon_name()} status={item.status_line()!r}")
        icons["healthy"] = item.icon_name()

        item.click("Routing on")
        off = wait_for(lambda: port_closed(port), 20)
        check("tray: Routing off stops the listener (port closed), the check mark clears",
              off and wait_for(lambda: item.entry("Routing on").get("toggle-state") == 0, 10),
              f"port closed={off} entry={item.entry('Routing on')}")
        check("routing off: grey icon and status line", icon_shows(item, "routing-off")
              and dot_rgb(item.icon_name()) == DOT["routing-off"]
              and wait_for(lambda: item.status_line() == "Switchboard — routing off", 10),
              f"icon={item.icon_name()} status={item.status_line()!r}")
        icons["routing-off"] = item.icon_name()
        item.click("Routing on")
        check("tray: Routing on restarts the listener (/health answers), the check mark is back",
              wait_for(lambda: health(port), 20)
              and wait_for(lambda: item.entry("Routing on").get("toggle-state") == 1, 10),
              f"entry={item.entry('Routing on')}")
        check("routing on again: the icon is back to healthy", icon_shows(item, "healthy"), item.icon_name())

        status = chat(port, access_key, "steady")
        check("cooling: the first key answers 429, the request is served by the second", status == 200, str(status))
        check("cooling: amber icon and status line", icon_shows(item, "cooling")
              and dot_rgb(item.icon_name()) == DOT["cooling"]
              and wait_for(lambda: item.status_line() == "Switchboard — some keys cooling", 10),
              f"icon={item.icon_name()} status={item.status_line()!r}")
        icons["cooling"] = item.icon_name()

        status = chat(port, access_key, "doomed")
        check("all down: the last healthy key is refused (401)", status >= 400, str(status))
        check("all down: red icon and status line", icon_shows(item, "down")
              and dot_rgb(item.icon_name()) == DOT["down"]
              and wait_for(lambda: item.status_line() == "Switchboard — no usable key", 10),
              f"icon={item.icon_name()} status={item.status_line()!r}")
        icons["down"] = item.icon_name()
        check("each state has its own icon name", len(set(icons.values())) == 4, repr(icons))

        item.click("Open dashboard")
        check("tray: Open dashboard shows the window", wait_for(window_viewable, 30), str(x11_windows("Switchboard")))
        time.sleep(2)
        sent = close_window()
        check("closing the window hides it; the router keeps answering",
              sent and wait_for(lambda: not window_viewable(), 10) and health(port), str(x11_windows("Switchboard")))
        check("hidden for free_webview_after_secs (3 s): the webview and its window are freed",
              wait_for(lambda: not window_exists(), 30), str(x11_windows("Switchboard")))
        item.click("Open dashboard")
        check("after the webview was freed, Open dashboard shows the window again",
              wait_for(window_viewable, 30), str(x11_windows("Switchboard")))

        item.click("Copy endpoint URL")
        want = f"http://127.0.0.1:{port}/v1"
        got = wait_for(lambda: (c := subprocess.run(["xclip", "-o", "-selection", "clipboard"],
                                                     capture_output=True, text=True, timeout=10).stdout) == want and c, 15)
        check("tray: Copy endpoint URL puts the base URL on the clipboard", got == want, repr(got))

        before = chat(port, access_key, "steady")
        item.click("Quit Switchboard")
        try:
            rc = app.proc.wait(60)
        except subprocess.TimeoutExpired:
            rc = None
        check("tray: Quit ends the process with status 0", rc == 0, f"rc={rc}")
        check("quit: the listener is closed", port_closed(port), "port still open")
        db = home / ".local/share/switchboard/switchboard.db"
        rows = []
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
                rows = c.execute("SELECT alias, status FROM request_log ORDER BY started_at_ms").fetchall()
        except sqlite3.Error as e:
            rows = [("error", str(e))]
        check("quit: the request log was flushed (the last request before Quit is in it)",
              len(rows) == 3 and rows[-1] == ("steady", before), repr(rows))
        log = app.log_path.read_text(errors="replace")
        check("quit: no panic in the app's log", "panicked" not in log, log[-2000:])
    finally:
        app.stop()
        watcher.stop()
        if mock.poll() is None:
            os.killpg(mock.pid, signal.SIGTERM)


def quit_via_tray(item, app):
    item.click("Quit Switchboard")
    try:
        return app.proc.wait(60)
    except subprocess.TimeoutExpired:
        return None


def settle_memory(pid, quiet=3.0, timeout=60):
    """RSS once the tree's total stops moving by more than 1 MiB over `quiet` seconds."""
    end = time.monotonic() + timeout
    last = memory(pid)
    while time.monotonic() < end:
        time.sleep(quiet)
        now = memory(pid)
        if abs(now["rss_tree_mib"] - last["rss_tree_mib"]) <= 1.0:
            return now
        last = now
    return last


def main_measure():
    out_path = Path(os.environ["SB_MEASURE_OUT"])
    release_after = 5
    port = free_port()
    env, _ = profile_env("measure", port, {
        "onboarded": True,
        "free_webview_after_secs": release_after,
        # Release builds ignore the endpoint override: a closed local port instead of the network.
        "update_endpoint": "https://127.0.0.1:9/latest.json",
    })
    watcher = Watcher()
    result = {"binary": BIN, "free_webview_after_secs": release_after}
    starts = []
    try:
        # Cold: a fresh profile (the database is created and migrated).
        app = Desktop(env, "measure-cold.log")
        app.start("--hidden")
        item, took = wait_registered(watcher, app)
        if not check("installed app: launched under Xvfb, the tray item is registered", item is not None,
                     app.log_path.read_text(errors="replace")[-2000:]):
            return
        starts.append(took)
        up = wait_for(lambda: health(port), 60, step=0.02)
        result["cold_start_to_health_s"] = round(time.monotonic() - app.t0, 3) if up else None
        check("installed app: the router answers /health", up, f"port {port}")
        pid = app.proc.pid
        result["hidden_never_opened"] = settle_memory(pid)

        item.click("Open dashboard")
        shown = wait_for(window_viewable, 30)
        check("installed app: Open dashboard shows the window", shown, str(x11_windows("Switchboard")))
        # The dashboard's first load: its web process appears and its memory settles.
        wait_for(lambda: any("WebKitWebProces" in p for p in memory(pid)["processes"]), 30)
        time.sleep(5)
        result["dashboard_open"] = settle_memory(pid)

        close_window()
        wait_for(lambda: not window_viewable(), 10)
        freed = wait_for(lambda: not window_exists(), release_after + 30)
        check("installed app: the hidden window's webview is freed after the delay", freed,
              str(x11_windows("Switchboard")))
        wait_for(lambda: not any("WebKitWebProces" in p for p in memory(pid)["processes"]), 30)
        result["hidden_after_release"] = settle_memory(pid)

        item.click("Open dashboard")
        check("installed app: the dashboard opens again after the release", wait_for(window_viewable, 30),
              str(x11_windows("Switchboard")))
        result["dashboard_reopened"] = settle_memory(pid)
        rc = quit_via_tray(item, app)
        check("installed app: Quit from the tray exits with status 0", rc == 0, f"rc={rc}")

        # Warm: the same profile again, twice.
        for n in range(2):
            app = Desktop(env, f"measure-warm-{n}.log")
            app.start("--hidden")
            item, took = wait_registered(watcher, app)
            if item is None:
                check(f"warm start {n + 1}: the tray item is registered", False, "not registered")
                app.stop()
                return
            starts.append(took)
            wait_for(lambda: health(port), 60)
            quit_via_tray(item, app)
        result["start_to_tray_s"] = {"cold": round(starts[0], 3), "warm": [round(s, 3) for s in starts[1:]]}

        # For comparison: a GL driver is loaded when the app starts, even with no window (GTK
        # probes GLX when it opens the display); under Xvfb that is Mesa's llvmpipe with
        # libLLVM. With WebKit's DMA-BUF renderer off it is not.
        no_gl_env = dict(env, WEBKIT_DISABLE_DMABUF_RENDERER="1")
        app = Desktop(no_gl_env, "measure-no-gl.log")
        app.start("--hidden")
        item, _ = wait_registered(watcher, app)
        if item is not None:
            wait_for(lambda: health(port), 60)
            result["hidden_never_opened_no_dmabuf"] = settle_memory(app.proc.pid)
            quit_via_tray(item, app)
    finally:
        app.stop()
        watcher.stop()
        out_path.write_text(json.dumps(result, indent=2))


BEGIN = "<!-- measured:begin (written by scripts/desktop-test.sh; do not edit by hand) -->"
END = "<!-- measured:end -->"


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    mem = kb = 0
    try:
        with open("/proc/meminfo") as f:
            kb = int(next(line.split()[1] for line in f if line.startswith("MemTotal:")))
        mem = round(kb / 1024 / 1024)
    except (OSError, StopIteration, ValueError):
        pass
    return f"{os.cpu_count()} cores ({cpu}), {mem} GiB RAM, load average {os.getloadavg()[0]:.1f}"


def report(result_path, doc_path, extras):
    """Writes the measured figures into docs/desktop.md between BEGIN and END."""
    r = json.loads(Path(result_path).read_text())
    x = dict(kv.split("=", 1) for kv in extras)
    mib = lambda b: f"{int(b) / 1048576:.1f} MiB"  # noqa: E731
    starts = r.get("start_to_tray_s", {})
    cold = starts.get("cold")
    warm = starts.get("warm", [])
    never, opened, freed = r.get("hidden_never_opened", {}), r.get("dashboard_open", {}), r.get("hidden_after_release", {})

    def verdict(value, goal):
        return "—" if value is None else ("met" if value <= goal else "**missed**")

    def mem(m):
        if not m:
            return "not measured"
        return (f"{m['rss_tree_mib']} MiB RSS ({m['pss_tree_mib']} MiB PSS) in {len(m['processes'])} "
                f"process(es): app {m['rss_app_mib']} MiB"
                + ("" if len(m["processes"]) == 1 else f" + {', '.join(p for p in m['processes'] if p.startswith('WebKit'))}"))

    idle = freed.get("rss_tree_mib")
    to_health = r.get("cold_start_to_health_s")
    rows = [
        ("Cold start to the tray icon registered (fresh profile: the database is created)", "≤ 1 s",
         f"{cold:.2f} s" if cold is not None else "not measured", verdict(cold, 1.0)),
        ("Cold start to the router answering `/health` (the tray comes first, grey until then)", "—",
         f"{to_health:.2f} s" if to_health is not None else "not measured", "—"),
        ("Warm start to the tray icon registered (same profile)", "≤ 1 s",
         ", ".join(f"{w:.2f} s" for w in warm) or "not measured", verdict(max(warm) if warm else None, 1.0)),
        ("Idle, window never opened (started with `--hidden`, as autostart does)", "≤ 60 MB",
         mem(never), verdict(never.get("rss_tree_mib"), 60)),
        (f"Idle, window hidden and its webview freed (after `free_webview_after_secs` = "
         f"{r.get('free_webview_after_secs')} s)", "≤ 60 MB", mem(freed), verdict(idle, 60)),
        ("Dashboard open", "—", mem(opened), "—"),
    ]
    no_gl = r.get("hidden_never_opened_no_dmabuf")
    if no_gl:
        rows.insert(4, ("Idle, window never opened, with `WEBKIT_DISABLE_DMABUF_RENDERER=1` (for comparison: "
                        "then no GL driver — here Mesa's llvmpipe with libLLVM — is loaded at start)", "≤ 60 MB",
                        mem(no_gl), verdict(no_gl.get("rss_tree_mib"), 60)))
    lines = [
        BEGIN,
        f"Run of {time.strftime('%Y-%m-%d', time.gmtime())} (UTC) by `scripts/desktop-test.sh` "
        f"(`tests/desktop/tray.py measure`): the release `.deb` installed with `dpkg -i`, "
        f"`{r.get('binary')}` started under Xvfb with a private D-Bus session; {machine()}. "
        "Start-up is from `exec` to the app's `RegisterStatusNotifierItem` call on the session bus; "
        "memory is VmRSS summed over the app and its WebKit child processes once it has settled "
        "(shared pages count in each process; PSS shares them out).",
        "",
        "| Measure | Goal | Measured | |",
        "|---|---|---|---|",
        *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows),
        "",
        "Packages: "
        + ", ".join(part for part in (
            f".deb {mib(x['deb_bytes'])}" if "deb_bytes" in x else "",
            f".rpm {mib(x['rpm_bytes'])}" if "rpm_bytes" in x else "",
            f"installed {int(x['installed_kib']) / 1024:.1f} MiB" if "installed_kib" in x else "",
            f"binary (stripped) {mib(x['binary_bytes'])}" if "binary_bytes" in x else "",
        ) if part) + ".",
        END,
    ]
    doc = Path(doc_path)
    text = doc.read_text()
    block = "\n".join(lines)
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Start-up and memory, measured\n\n" + block + "\n"
    doc.write_text(text)
    print(block)


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "tray"
    if mode == "report":
        report(sys.argv[2], sys.argv[3], sys.argv[4:])
        sys.exit(0)
    try:
        (main_tray if mode == "tray" else main_measure)()
    except Exception as e:  # noqa: BLE001
        check(f"tray ({mode}) ran to the end", False, repr(e))
    print(f"tray {mode}: {passes} passed, {failures} failed", flush=True)
    sys.exit(min(failures, 100))
