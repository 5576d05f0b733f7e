"""Helpers shared by the desktop end-to-end tests (e2e.py, tray.py): ports, polling, the
router's /health, processes, and X11 windows under Xvfb (there is no window manager)."""

import http.server
import os
import re
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path


def start_mock(mock_bin, log_path):
    """Starts the mock upstream on a port the kernel picks (a port chosen first and bound later
    can be taken in between, by any socket on the machine); returns (process, port)."""
    log = open(log_path, "w")
    proc = subprocess.Popen([mock_bin, "--port", "0"], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    # Its first line on stdout is the address it listens on.
    addr = wait_for(lambda: Path(log_path).read_text().partition("\n")[0].strip() or None, 20)
    if not addr:
        raise RuntimeError(f"the mock upstream did not start (see {log_path})")
    return proc, int(addr.rsplit(":", 1)[1])


def serve_directory(directory, log_path):
    """Serves `directory` over HTTP on 127.0.0.1, on a port the kernel picks, from a thread
    of this process; returns (server, port). `server.shutdown()` stops it."""
    log = open(log_path, "w")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(directory), **kwargs)

        def log_message(self, fmt, *args):
            log.write("%s %s\n" % (self.address_string(), fmt % args))
            log.flush()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=30.0, step=0.25):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        try:
            last = pred()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - polling through transient errors
            last = e
        time.sleep(step)
    return None


def http_get(url, headers=None, timeout=3):
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read().decode("utf-8", "replace")


def health(port):
    try:
        status, body = http_get(f"http://127.0.0.1:{port}/health")
        return status == 200 and '"ok"' in body
    except Exception:  # noqa: BLE001
        return False


def port_closed(port):
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) != 0


def pid_on_port(port):
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
    m = re.search(r"pid=(\d+)", out)
    return int(m.group(1)) if m else None


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def x11_windows(title):
    """Top-level X11 windows named `title`, as (id, mapped)."""
    out = subprocess.run(["xwininfo", "-root", "-children"], capture_output=True, text=True).stdout
    ids = [int(m.group(1), 16) for m in re.finditer(r"^\s+(0x[0-9a-f]+) \"" + re.escape(title) + r"\"", out, re.M)]
    result = []
    for wid in ids:
        info = subprocess.run(["xwininfo", "-id", hex(wid)], capture_output=True, text=True).stdout
        result.append((wid, "IsViewable" in info))
    return result


def x11_request_close(wid):
    """What a window manager sends when the user clicks the close button: a WM_DELETE_WINDOW
    client message (there is no window manager under Xvfb, so the test sends it itself)."""
    import ctypes
    import ctypes.util

    x = ctypes.cdll.LoadLibrary(ctypes.util.find_library("X11") or "libX11.so.6")
    x.XOpenDisplay.restype = ctypes.c_void_p
    x.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x.XInternAtom.restype = ctypes.c_ulong
    x.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    x.XFlush.argtypes = [ctypes.c_void_p]
    x.XCloseDisplay.argtypes = [ctypes.c_void_p]

    class ClientMessage(ctypes.Structure):
        _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                    ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                    ("format", ctypes.c_int), ("data", ctypes.c_long * 5), ("pad", ctypes.c_long * 16)]

    dpy = x.XOpenDisplay(None)
    if not dpy:
        return False
    ev = ClientMessage()
    ev.type = 33  # ClientMessage
    ev.display = dpy
    ev.window = wid
    ev.message_type = x.XInternAtom(dpy, b"WM_PROTOCOLS", 0)
    ev.format = 32
    ev.data[0] = x.XInternAtom(dpy, b"WM_DELETE_WINDOW", 0)
    ev.data[1] = 0  # CurrentTime
    ok = x.XSendEvent(dpy, wid, 0, 0, ctypes.byref(ev)) != 0
    x.XFlush(dpy)
    x.XCloseDisplay(dpy)
    return ok


def descendants(pid):
    """`pid` and every process below it (WebKit's web and network processes are children of
    the app)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def kb_field(pid, field, file="status"):
    """A kB field of /proc/PID/status (VmRSS) or smaps_rollup (Pss); 0 when the process is
    gone."""
    try:
        with open(f"/proc/{pid}/{file}") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def memory(pid):
    """RSS of the app and of its whole process tree (RSS counts shared pages in each process;
    PSS shares them out), in MiB, and the processes counted."""
    tree = descendants(pid)
    return {
        "rss_app_mib": round(kb_field(pid, "VmRSS") / 1024, 1),
        "rss_tree_mib": round(sum(kb_field(p, "VmRSS") for p in tree) / 1024, 1),
        "pss_tree_mib": round(sum(kb_field(p, "Pss", "smaps_rollup") for p in tree) / 1024, 1),
        "processes": sorted(comm(p) for p in tree),
    }
