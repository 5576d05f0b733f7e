"""Chaos test of team mode: three `switchboard serve` processes on one PostgreSQL and one
Redis (started by scripts/chaos.sh), a mock upstream whose flaky keys answer one request in
ten with 429 and a reset hint beside one always-healthy key, and a steady load spread over
the instances while one instance is killed (SIGKILL), Redis is restarted and PostgreSQL is
restarted.

It checks:
  * no request fails, except those in flight on the killed instance when it died (like a load
    balancer, the driver stops sending to an instance once it is gone);
  * no committed row is lost: every request a surviving instance answered is in PostgreSQL's
    request log once the instances have stopped gracefully (the killed instance's rows still
    in its memory die with it, and are reported);
  * the surviving instances' memory is flat: the largest RSS of the last 20 s is at most
    RSS_MARGIN above the largest of the first 20 s;
  * the flaky keys did answer 429s (the instances failed over from them).
It prints its numbers as JSON (latency is reported, not asserted: the box may be loaded).

Run by scripts/chaos.sh, which passes the binaries' directory and exports the servers' URLs
and what services.sh needs to restart them.
"""

import argparse
import asyncio
import faulthandler
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import httpx

ACCESS = "sk-sb-chaos-access-key-0123456789"
ADMIN = "sbadm-chaos-admin-token-0123456789"
MASTER = "chaos test master key, long enough to be a passphrase"
# Three providers on the mock, one key each, tried in turn: two flaky keys answer every tenth
# request they get with 429 and a reset hint (each in another format), one is always healthy.
PROVIDERS = {
    "flaky-a": "sk-chaos-flaky-a@fault=429,retry_after=1,every=10",
    "flaky-b": "sk-chaos-flaky-b@fault=429,retry_after_ms=1500,every=10",
    "steady": "sk-chaos-steady",
}
ALIAS = "chaos"
# The largest RSS of the last 20 s may exceed the first 20 s's by this much (bytes): the
# buffers a restart of PostgreSQL fills (request records held meanwhile) and allocator noise,
# well below what a leak at this rate (12 000 requests) would add.
RSS_MARGIN = 24 * 1024 * 1024
WINDOW = 20.0


# Keep-alive connections the load keeps to each instance (as a load balancer would).
CONNECTIONS = 12


class Conn:
    """One keep-alive HTTP/1.1 connection to an instance, for the load (plain asyncio
    streams: a client pool with thousands of waiters would cost more CPU than the instances)."""

    def __init__(self, port):
        self.port = port
        self.reader = None
        self.writer = None

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def post(self, path, payload):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(
            (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Authorization: Bearer {ACCESS}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\n\r\n"
            ).encode()
            + payload
        )
        await self.writer.drain()
        line = await self.reader.readline()
        if not line:
            raise ConnectionResetError("the connection closed before an answer")
        status = int(line.split()[1])
        length, chunked, close = 0, False, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                chunked = "chunked" in value
            elif name == "connection":
                close = value == "close"
        if chunked:
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        elif length:
            await self.reader.readexactly(length)
        if close:
            self.close()
        return status


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class Instance:
    def __init__(self, n, bin_dir, work, database, redis):
        self.id = f"chaos-{n}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(work, f"{self.id}.log")
        env = dict(os.environ)
        env.update(
            SWITCHBOARD_MASTER_KEY=MASTER,
            SWITCHBOARD_ACCESS_KEY=ACCESS,
            SWITCHBOARD_ADMIN_TOKEN=ADMIN,
            SWITCHBOARD_INSTANCE_ID=self.id,
        )
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [
                os.path.join(bin_dir, "switchboard"),
                "serve",
                "--port", str(self.port),
                "--data-dir", os.path.join(work, self.id),
                "--database", database,
                "--redis", redis,
                "--log-level", "info",
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.alive = True

    def tail(self, n=30):
        try:
            with open(self.log_path) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


async def wait_until(what, cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if await cond():
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


def restart(service, seconds_down):
    subprocess.run(
        ["bash", "-c", f". scripts/services.sh && services_restart_{service} {seconds_down}"],
        check=True,
    )


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=200.0)
    args = ap.parse_args()
    # A hang fails the run with every thread's stack instead of stalling the test command.
    faulthandler.dump_traceback_later(args.seconds + 180, exit=True)
    database = os.environ["SWITCHBOARD_TEST_DATABASE_URL"]
    redis = os.environ["SWITCHBOARD_TEST_REDIS_URL"]
    work = tempfile.mkdtemp(prefix="switchboard-chaos.")

    mock = subprocess.Popen(
        [os.path.join(args.bin_dir, "switchboard-mock-upstream"), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    mock_addr = mock.stdout.readline().strip()
    instances = []
    # For setting up and reading the status; the load has its own connections (Conn).
    http = httpx.AsyncClient(timeout=30.0)
    admin_headers = {"authorization": f"Bearer {ADMIN}"}
    try:
        # The first instance creates the tables; the others start on them.
        for n in (1, 2, 3):
            inst = Instance(n, args.bin_dir, work, database, redis)
            instances.append(inst)

            async def up(inst=inst):
                return (await http.get(f"{inst.url}/health")).status_code == 200

            await wait_until(f"{inst.id} to listen", up)
        first = instances[0]

        async def admin(method, path, body):
            r = await http.request(method, f"{first.url}{path}", json=body, headers=admin_headers)
            if r.status_code != 200:
                raise RuntimeError(f"{method} {path}: {r.status_code} {r.text}")

        for name, key in PROVIDERS.items():
            await admin("POST", "/api/v1/providers", {
                "name": name, "kind": "openai_chat", "base_url": f"http://{mock_addr}/v1",
            })
            await admin("POST", "/api/v1/keys", {"provider": name, "label": name, "secret": key})
        await admin("POST", "/api/v1/routes", {
            "alias": ALIAS, "targets": [{"provider": p, "model": "m"} for p in PROVIDERS],
        })
        body = {"model": ALIAS, "messages": [{"role": "user", "content": "hi"}]}
        headers = {"authorization": f"Bearer {ACCESS}"}
        # Requests answered 200 per instance, the route checks' included (they are logged too).
        answered = {i.id: 0 for i in instances}
        for inst in instances:
            async def serves(inst=inst):
                r = await http.post(f"{inst.url}/v1/chat/completions", json=body, headers=headers)
                if r.status_code == 200:
                    answered[inst.id] += 1
                return r.status_code == 200

            await wait_until(f"{inst.id} to serve the route", serves)

        results = []  # (instance, sent, done, status or error, latency from its due time)
        events = []
        killed = instances[2]
        killed_at = None
        rss_samples = {i.id: [] for i in instances[:2]}
        queues = {i.id: asyncio.Queue() for i in instances}
        start = time.monotonic()

        def dispatch(k, due):
            live = [i for i in instances if i.alive]
            queues[live[k % len(live)].id].put_nowait((k, due))

        async def worker(inst):
            conn = Conn(inst.port)
            while True:
                ticket = await queues[inst.id].get()
                if ticket is None:
                    conn.close()
                    return
                if not inst.alive:
                    # Gone before this request left: a load balancer sends it elsewhere.
                    dispatch(*ticket)
                    continue
                sent = time.monotonic()
                try:
                    # Each request its own conversation: the same prompt every time would
                    # pin every request to one provider (conversation affinity).
                    payload = json.dumps({
                        "model": ALIAS,
                        "messages": [{"role": "user", "content": f"request {ticket[0]}"}],
                    }).encode()
                    outcome = await asyncio.wait_for(conn.post("/v1/chat/completions", payload), 30)
                except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as e:
                    outcome = f"{type(e).__name__}: {e}"
                    conn.close()
                done = time.monotonic()
                results.append((inst.id, sent, done, outcome, done - ticket[1]))

        async def load():
            workers = [asyncio.create_task(worker(i)) for i in instances for _ in range(CONNECTIONS)]
            period = 1.0 / args.rate
            k = 0
            while k * period < args.seconds:
                due = start + k * period
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                dispatch(k, due)
                k += 1
            for q in queues.values():
                for _ in range(CONNECTIONS):
                    q.put_nowait(None)
            await asyncio.gather(*workers)

        async def chaos():
            nonlocal killed_at
            await asyncio.sleep(args.seconds * 0.2)
            # Out of the rotation first, as a load balancer's check would take it out.
            killed.alive = False
            killed_at = time.monotonic()
            killed.proc.send_signal(signal.SIGKILL)
            # Requests queued for it and not sent yet go to the others.
            q = queues[killed.id]
            while not q.empty():
                dispatch(*q.get_nowait())
            events.append((killed_at - start, f"kill -9 {killed.id}"))
            await asyncio.sleep(args.seconds * 0.25)
            events.append((time.monotonic() - start, "Redis stops (down 2 s)"))
            await asyncio.to_thread(restart, "redis", 2)
            events.append((time.monotonic() - start, "Redis is back"))
            await asyncio.sleep(args.seconds * 0.2)
            events.append((time.monotonic() - start, "PostgreSQL stops (down 3 s)"))
            await asyncio.to_thread(restart, "pg", 3)
            events.append((time.monotonic() - start, "PostgreSQL is back"))

        async def sample():
            while time.monotonic() - start < args.seconds:
                now = time.monotonic() - start
                for inst in instances[:2]:
                    v = rss(inst.proc.pid)
                    if v is not None:
                        rss_samples[inst.id].append((now, v))
                await asyncio.sleep(1.0)

        await asyncio.gather(load(), chaos(), sample())
        elapsed = time.monotonic() - start

        # Every surviving instance writes what it holds once PostgreSQL is back.
        statuses = {}
        for inst in instances[:2]:
            async def drained(inst=inst):
                r = await http.get(f"{inst.url}/api/v1/status", headers=admin_headers)
                s = r.json()
                statuses[inst.id] = s
                return s["database"] == "ok" and s["request_log_waiting"] == 0

            await wait_until(f"{inst.id} to write its held records", drained)
        # Upstream attempts by provider and outcome, as the survivors counted them.
        attempts = {}
        for inst in instances[:2]:
            text = (await http.get(f"{inst.url}/metrics", headers=admin_headers)).text
            for line in text.splitlines():
                if line.startswith("switchboard_attempts_total{"):
                    labels, value = line.rsplit(" ", 1)
                    provider = labels.split('provider="', 1)[1].split('"', 1)[0]
                    outcome = labels.split('outcome="', 1)[1].split('"', 1)[0]
                    per = attempts.setdefault(provider, {})
                    per[outcome] = per.get(outcome, 0) + int(float(value))
        rate_limited = sum(per.get("rate_limited", 0) for per in attempts.values())
        for inst in instances[:2]:
            inst.proc.send_signal(signal.SIGTERM)
        for inst in instances[:2]:
            inst.proc.wait(timeout=60)
            inst.alive = False

        stored = count_rows(database)
        failures = []
        in_flight_at_kill = 0
        for inst_id, sent, done, outcome, _ in results:
            if outcome == 200:
                answered[inst_id] += 1
                continue
            if inst_id == killed.id and sent <= killed_at <= done:
                in_flight_at_kill += 1
                continue
            failures.append((inst_id, round(sent - start, 3), outcome))

        latencies = sorted(r[4] for r in results if r[3] == 200)

        def pct(p):
            return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 1)

        report = {
            "seconds": round(elapsed, 1),
            "requests": len(results),
            "rate": round(len(results) / elapsed, 1),
            "answered_200": answered,
            "stored_rows": stored,
            "latency_ms_p50_p99_max": [pct(0.5), pct(0.99), pct(1.0)] if latencies else None,
            "slowest_ms_at_s": [
                (round(r[4] * 1000), round(r[1] - start, 1), r[0])
                for r in sorted(results, key=lambda r: r[4])[-5:]
            ],
            "failed": len(failures),
            "in_flight_on_killed_instance": in_flight_at_kill,
            "upstream_attempts_seen_by_survivors": attempts,
            "dropped": {k: v["request_log_dropped"] for k, v in statuses.items()},
            "events": [f"{t:.1f} s {what}" for t, what in events],
        }
        problems = []
        if failures:
            problems.append(f"{len(failures)} failed requests, first: {failures[:5]}")
        for inst in instances[:2]:
            if stored.get(inst.id, 0) != answered[inst.id]:
                problems.append(
                    f"{inst.id} answered {answered[inst.id]} requests but {stored.get(inst.id, 0)} rows are stored"
                )
            if statuses[inst.id]["request_log_dropped"] != 0:
                problems.append(f"{inst.id} dropped records")
        lost_on_kill = answered[killed.id] - stored.get(killed.id, 0)
        report["rows_lost_with_the_killed_process"] = lost_on_kill
        if lost_on_kill < 0:
            problems.append(f"{killed.id}: more rows than answered requests")
        if rate_limited == 0:
            problems.append("no upstream 429 was seen: the flaky keys did not take part")
        report["rss_mib"] = {}
        for inst_id, samples in rss_samples.items():
            early = [v for t, v in samples if t < WINDOW]
            late = [v for t, v in samples if t >= elapsed - WINDOW]
            if not early or not late:
                problems.append(f"{inst_id}: too few RSS samples")
                continue
            report["rss_mib"][inst_id] = {
                "first_20s_max": round(max(early) / 2**20, 1),
                "last_20s_max": round(max(late) / 2**20, 1),
            }
            if max(late) > max(early) + RSS_MARGIN:
                problems.append(
                    f"{inst_id}: RSS grew from {max(early) / 2**20:.1f} MiB to {max(late) / 2**20:.1f} MiB"
                )
        print(json.dumps(report, indent=2))
        with open(os.path.join(work, "results.jsonl"), "w") as f:
            for inst_id, sent, done, outcome, latency in results:
                f.write(json.dumps([inst_id, round(sent - start, 3), round(done - start, 3), outcome, round(latency, 3)]) + "\n")
        if problems:
            for p in problems:
                print(f"FAIL: {p}")
            for inst in instances:
                print(f"--- {inst.id} log (last lines)\n{inst.tail()}")
            print(f"logs and every request's outcome: {work}")
            return 1
        shutil.rmtree(work, ignore_errors=True)
        print("chaos: PASS")
        return 0
    finally:
        await http.aclose()
        for inst in instances:
            if inst.proc.poll() is None:
                inst.proc.kill()
                inst.proc.wait()
        mock.kill()
        mock.wait()


def count_rows(database):
    out = subprocess.run(
        ["psql", database, "-tAF", " ", "-c",
         f"SELECT instance, count(*) FROM request_log WHERE alias = '{ALIAS}' AND status = 200 GROUP BY instance"],
        check=True, capture_output=True, text=True,
    ).stdout
    counts = {}
    for line in out.splitlines():
        if line.strip():
            inst, n = line.split()
            counts[inst] = int(n)
    return counts


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
