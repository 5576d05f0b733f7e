"""One mock upstream and one router for the whole test session.

The router gets four providers, one per upstream kind, all pointing at the same mock, and one
alias per provider (`via-chat`, `via-responses`, `via-anthropic`, `via-gemini`). Every SDK test
is parametrised over those aliases, so each client dialect is exercised against each upstream
dialect (same-dialect pairs pass through; the others are translated).

Binaries come from `SWITCHBOARD_BIN` and `MOCK_BIN` (run.sh builds them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from upstream_check import CheckingProxy

ACCESS_KEY = "sk-sb-sdk-tests-access"
ADMIN_TOKEN = "sdk-tests-admin-token"

# alias -> (provider kind, upstream model). The mock's answers name the upstream model, so a
# reply proves which provider served it.
UPSTREAMS = {
    "via-chat": ("openai_chat", "mock-chat"),
    "via-responses": ("openai_responses", "mock-responses"),
    "via-anthropic": ("anthropic", "mock-anthropic"),
    "via-gemini": ("gemini", "mock-gemini"),
}
ALIASES = list(UPSTREAMS)
# The same upstreams with the mock's `reasoning` directive: reasoning comes before the answer
# (Chat `reasoning_content`, Anthropic signed thinking, a Responses reasoning item, Gemini
# thought parts).
THINKING = {
    alias.replace("via-", "think-"): (kind, f"{model}@reasoning")
    for alias, (kind, model) in UPSTREAMS.items()
}
THINKING_ALIASES = list(THINKING)
# Upstreams that fail with a chosen status (mock directive in the model name): the client must
# get the error in its own dialect's shape, with the right status.
FAILING = {
    alias.replace("via-", f"err{status}-"): (kind, f"{model}@fault={status}{extra}")
    for alias, (kind, model) in UPSTREAMS.items()
    for status, extra in ((400, ""), (429, ",retry_after=7"))
}

# Media upstreams, one provider per test with two keys each, the first always rate-limited
# (the mock's key directive): every media test shows a failover. alias -> (kind, model).
MEDIA = {
    "media-emb": ("openai_chat", "text-embedding-3-small"),
    "media-stt": ("openai_chat", "whisper-1"),
    "media-tts": ("openai_chat", "tts-1"),
    "media-img": ("openai_chat", "gpt-image-1"),
    "media-gemb": ("gemini", "gemini-embedding-001"),
    "media-gcount": ("gemini", "gemini-2.5-flash"),
}

START_TIMEOUT = 30.0


def hello(alias: str) -> str:
    """The mock's plain answer for the upstream model behind `alias`."""
    model = {**UPSTREAMS, **THINKING}[alias][1].split("@")[0]
    return f"Hello from mock model {model}."


def thought(alias: str) -> str:
    """The mock's reasoning text for the upstream model behind a `think-` alias."""
    model = THINKING[alias][1].split("@")[0]
    return f"Mock model {model} considers the request step by step."


@dataclass
class Router:
    root: str  # http://127.0.0.1:PORT
    access_key: str
    mock_root: str
    upstream_check: CheckingProxy

    @property
    def v1(self) -> str:
        return f"{self.root}/v1"


class _Proc:
    """A child process whose output is collected, so a failure can show its log."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str]):
        self.name = name
        self.lines: list[str] = []
        self._first: list[str] = []
        self._ready = threading.Event()
        self.proc = subprocess.Popen(
            argv,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
        self._ready.set()

    def wait_line(self, pred, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if pred(line):
                    return line
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError(f"{self.name} did not start:\n" + "\n".join(self.lines[-40:]))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _binary(var: str) -> str:
    path = os.environ.get(var)
    if not path:
        pytest.exit(f"{var} is not set (run tests/sdk/run.sh, which builds the binaries)", 2)
    if not Path(path).is_file():
        pytest.exit(f"{var}={path} does not exist", 2)
    return path


def _config(mock_host: str) -> str:
    base = f"http://{mock_host}"
    lines = ["[server]", f'access_keys = ["{ACCESS_KEY}"]', ""]
    # Upstream keys share no 8-byte run with the bodies: the router masks any echoed piece of
    # a key, and a key spelling `responses` would mask that word in every Responses event.
    for i, (alias, (kind, _)) in enumerate(UPSTREAMS.items()):
        root = "v1beta" if kind == "gemini" else "v1"
        lines += [
            "[[providers]]",
            f'name = "mock-{kind}"',
            f'kind = "{kind}"',
            f'base_url = "{base}/{root}"',
            f'keys = ["sk-q7x9z{i}k2wv4b8"]',
            "",
        ]
    for i, (alias, (kind, model)) in enumerate(MEDIA.items()):
        root = "v1beta" if kind == "gemini" else "v1"
        lines += [
            "[[providers]]",
            f'name = "{alias}"',
            f'kind = "{kind}"',
            f'base_url = "{base}/{root}"',
            f'keys = ["sk-w{i}r8j5px3n@fault=429,retry_after=60", "sk-v{i}m3h6tq7c"]',
            "",
            "[[routes]]",
            f'alias = "{alias}"',
            f'targets = [{{ provider = "{alias}", model = "{model}" }}]',
            "",
        ]
    for alias, (kind, model) in {**UPSTREAMS, **THINKING, **FAILING}.items():
        lines += [
            "[[routes]]",
            f'alias = "{alias}"',
            f'targets = [{{ provider = "mock-{kind}", model = "{model}" }}]',
            "",
        ]
    return "\n".join(lines)


@pytest.fixture(scope="session")
def router():
    switchboard = _binary("SWITCHBOARD_BIN")
    mock_bin = _binary("MOCK_BIN")
    tmp = Path(tempfile.mkdtemp(prefix="switchboard-sdk-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env.update(
        {
            "HOME": str(tmp / "home"),
            "XDG_CONFIG_HOME": str(tmp / "home" / ".config"),
            "SWITCHBOARD_ACCESS_KEY": ACCESS_KEY,
            "SWITCHBOARD_ADMIN_TOKEN": ADMIN_TOKEN,
            "SWITCHBOARD_MASTER_KEY": "sdk-tests-master-passphrase",
            "RUST_LOG": os.environ.get("RUST_LOG", "warn"),
        }
    )
    (tmp / "home").mkdir()
    procs: list[_Proc] = []
    proxy = None
    try:
        mock = _Proc("mock upstream", [mock_bin, "--port", "0"], env)
        procs.append(mock)
        mock_host = mock.wait_line(lambda l: l.startswith("127.0.0.1:"), START_TIMEOUT).strip()
        # The router talks to the mock through a proxy that holds each request to the real
        # APIs' rules (see upstream_check.py).
        proxy = CheckingProxy(f"http://{mock_host}")

        config = tmp / "switchboard.toml"
        config.write_text(_config(f"127.0.0.1:{proxy.port}"))
        sb = _Proc(
            "switchboard",
            [
                switchboard,
                "serve",
                "--port",
                "0",
                "--data-dir",
                str(tmp / "data"),
                "--config",
                str(config),
            ],
            env,
        )
        procs.append(sb)
        line = sb.wait_line(lambda l: "Endpoint:" in l, START_TIMEOUT)
        root = line.split("Endpoint:", 1)[1].strip().removesuffix("/v1")
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if httpx.get(f"{root}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or sb.proc.poll() is not None:
                raise RuntimeError("router not healthy:\n" + "\n".join(sb.lines[-40:]))
            time.sleep(0.05)
        yield Router(
            root=root,
            access_key=ACCESS_KEY,
            mock_root=f"http://{mock_host}",
            upstream_check=proxy,
        )
    finally:
        for p in reversed(procs):
            p.stop()
        if proxy is not None:
            proxy.stop()
        if os.environ.get("SWITCHBOARD_SDK_KEEP_LOGS"):
            for p in procs:
                print(f"--- {p.name} log ---\n" + "\n".join(p.lines))
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(params=ALIASES)
def alias(request) -> str:
    return request.param


@pytest.fixture(params=THINKING_ALIASES)
def think_alias(request) -> str:
    return request.param


@pytest.fixture(autouse=True)
def upstream_requests_are_valid(request):
    """Fails a test whose requests reached the upstream in a shape the real API rejects."""
    if "router" not in request.fixturenames:
        yield
        return
    router = request.getfixturevalue("router")
    router.upstream_check.take()
    yield
    problems = router.upstream_check.take()
    assert not problems, "requests the real upstream would reject:\n" + "\n".join(problems)
