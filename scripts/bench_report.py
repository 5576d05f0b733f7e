#!/usr/bin/env python3
"""Turns the raw results of scripts/bench.sh into docs/benchmarks.md (markdown on stdout).

Input: a file of `name value…` lines written by bench.sh; machine facts in the environment;
criterion estimates under $CRITERION_DIR. A hand-written `## Analysis` section in the previous
report (argv[2]) is carried over to the end of the new one.
"""

import datetime
import json
import os
import sys


def load(path):
    raw = {}
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split(" ", 1)
            if len(parts) == 2:
                raw[parts[0]] = parts[1]
    return raw


RAW = load(sys.argv[1])
ROWS = []  # (check, measured, budget, ok)


def check(what, measured, budget, ok):
    ROWS.append((what, measured, budget, ok))


def wrk(name):
    """rps, p50 µs, p99 µs, errors — or None."""
    v = RAW.get(name, "").split()
    if len(v) != 4:
        return None
    return float(v[0]), float(v[1]), float(v[2]), int(v[3])


def cpu(name):
    """Router and mock CPU µs per request over a load run — or (None, None)."""
    v = RAW.get(name + "_cpu", "").split()
    if len(v) != 2:
        return None, None
    return float(v[0]), float(v[1])


def js(name):
    try:
        return json.loads(RAW[name])
    except (KeyError, ValueError):
        return None


def us(x):
    if x is None:
        return "–"
    if abs(x) >= 10000:
        return "%.1f ms" % (x / 1000)
    if abs(x) < 10:
        return "%.2f µs" % x
    return "%.0f µs" % x


def mb(kb):
    return "%.1f MB" % (int(kb) / 1024)


def verdict(ok):
    return "✅ pass" if ok else "❌ miss"


out = []
w = out.append
env = os.environ.get
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
w("# Benchmarks")
w("")
w("What Switchboard adds to a request, measured by `scripts/bench.sh` in one run, side by side")
w("with calling the mock upstream (`crates/mock-upstream`) directly. Ratios and differences")
w("measured in the same run are what the budget is about; absolute numbers depend on the machine.")
w("")
w("| | |")
w("|---|---|")
w("| Date | %s |" % now)
w("| CPU | %s, %s cores |" % (env("MACHINE_CPU", "?"), env("MACHINE_CORES", "?")))
w("| Memory | %s |" % env("MACHINE_MEM", "?"))
w("| Kernel | %s |" % env("MACHINE_KERNEL", "?"))
w("| Toolchain | %s |" % env("RUSTC_VERSION", "?"))
w("| Load generator | %s (%s s per run); streams: `crates/server/examples/stream_load.rs` |"
  % (env("LOADGEN_VERSION", env("LOADGEN", "?")), env("DUR", "?")))
w("| Load average at the end | %s |" % env("MACHINE_LOAD", "?"))
w("")
w("Load generator, mock and router share the same cores, so at high concurrency the router")
w("competes with its own load for CPU: the throughput ratio is a floor, not the router's limit.")
w("")

# ------------------------------------------------------------------------------------------
w("## Non-streaming chat (OpenAI Chat client → OpenAI Chat upstream, bytes passed through)")
w("")
w("*CPU per request*: user + system time of each process over the load run, divided by the")
w("requests completed. *Mock* is the mock's own cost per request in the direct run (one HTTP")
w("server side); a proxy does one server side and one client side, so about twice that is the")
w("floor for the router.")
w("")
w("| Concurrency | Direct req/s | Router req/s | Ratio | Router CPU/req | Mock CPU/req | Direct p50 | Router p50 | Added p50 | Direct p99 | Router p99 | Added p99 | Errors |")
w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for c in (1, 16, 64, 256):
    d, r = wrk("chat_c%d_direct" % c), wrk("chat_c%d_router" % c)
    if not d or not r:
        w("| %d | – | – | – | – | – | – | – | – | – | – | – | not run |" % c)
        continue
    router_cpu, _ = cpu("chat_c%d_router" % c)
    _, mock_cpu = cpu("chat_c%d_direct" % c)
    w("| %d | %.0f | %.0f | %.2f× | %s | %s | %s | %s | %s | %s | %s | %s | %d / %d |" % (
        c, d[0], r[0], r[0] / d[0], us(router_cpu), us(mock_cpu), us(d[1]), us(r[1]), us(r[1] - d[1]),
        us(d[2]), us(r[2]), us(r[2] - d[2]), d[3], r[3]))
    if c in (16, 64) and router_cpu is not None:
        check("Router CPU per request, pass-through, concurrency %d" % c, us(router_cpu), "≤ 20 µs",
              router_cpu <= 20)
    if c == 1:
        check("Added latency at concurrency 1 (p50)", us(r[1] - d[1]), "≤ 60 µs", r[1] - d[1] <= 60)
    if c == 64:
        check("Throughput at concurrency 64, router / direct", "%.2f×" % (r[0] / d[0]), "≥ 0.4×", r[0] / d[0] >= 0.4)
        check("Added p99 at concurrency 64", us(r[2] - d[2]), "≤ 2 ms", r[2] - d[2] <= 2000)
    if r[3]:
        check("Errors through the router at concurrency %d" % c, str(r[3]), "0", False)
w("")
if env("FLAMEGRAPH"):
    w("Where the router's CPU goes on this path (perf samples of the router at concurrency 16):")
    w("[%s](%s)." % (env("FLAMEGRAPH"), env("FLAMEGRAPH")))
    w("")

w("## Non-streaming translation")
w("")
w("Direct: the mock answering the client's own dialect. Router: the client's dialect translated")
w("to an OpenAI Chat upstream and the answer translated back. Responses requests say")
w("`store: false`, so the conversation store (its own byte budget) does not fill during the run")
w("and count in the memory measured with 1,000 open streams.")
w("")
w("| Client → upstream | Concurrency | Direct req/s | Router req/s | Ratio | Router CPU/req | Mock CPU/req | Direct p50 | Router p50 | Added p50 | Added p99 |")
w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for key, label in (("anth", "Anthropic → OpenAI Chat"), ("resp", "Responses → OpenAI Chat")):
    for c in (1, 64):
        d, r = wrk("%s_c%d_direct" % (key, c)), wrk("%s_c%d_router" % (key, c))
        if not d or not r:
            continue
        router_cpu, _ = cpu("%s_c%d_router" % (key, c))
        _, mock_cpu = cpu("%s_c%d_direct" % (key, c))
        w("| %s | %d | %.0f | %.0f | %.2f× | %s | %s | %s | %s | %s | %s |" % (
            label, c, d[0], r[0], r[0] / d[0], us(router_cpu), us(mock_cpu), us(d[1]), us(r[1]),
            us(r[1] - d[1]), us(r[2] - d[2])))
        if key == "anth" and c == 64 and router_cpu is not None:
            check("Router CPU per request, Anthropic → Chat, concurrency 64", us(router_cpu), "≤ 30 µs",
                  router_cpu <= 30)
w("")

# ------------------------------------------------------------------------------------------
w("## Streaming")
w("")
w("Sequential streamed requests (concurrency 1); medians over the run. *First content*: when the")
w("first event carrying text reaches the client (a Chat stream opens with a role-only chunk, an")
w("Anthropic one with `message_start` and `content_block_start`, a Responses one with four")
w("envelope events). The router reads ahead to the first content event before it commits, so an")
w("empty or failing stream can still fail over; the envelope events then reach the client together")
w("with the first content, which is why first *bytes* arrive later through the router while")
w("first *content* arrives within the budget. The mock splits its short reply into at most one")
w("character per event, so a \"200 chunks\" request yields about 30 events.")
w("")
w("| Stream | Direct first content | Router first content | Added | Direct first bytes | Router first bytes | Direct total | Router total | Added total |")
w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
# Index of the first content event in each stream the mock sends.
STREAMS = (("stream20", "Chat, 20 chunks", 1), ("stream200", "Chat, 200 chunks", 1),
           ("paced", "Chat, 20 chunks 5 ms apart", 1),
           ("anth_stream20", "Anthropic → Chat, 20 chunks", 2),
           ("resp_stream20", "Responses → Chat, 20 chunks", 4))
for key, label, first in STREAMS:
    d, r = js(key + "_direct"), js(key + "_router")
    if not d or not r or len(d["events_p50_us"]) <= first or len(r["events_p50_us"]) <= first:
        continue
    dc, rc = d["events_p50_us"][first], r["events_p50_us"][first]
    w("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        label, us(dc), us(rc), us(rc - dc), us(d["ttfb_p50_us"]), us(r["ttfb_p50_us"]),
        us(d["total_p50_us"]), us(r["total_p50_us"]), us(r["total_p50_us"] - d["total_p50_us"])))
    if key != "paced":
        check("Added time to first content, %s (p50)" % label, us(rc - dc), "≤ 300 µs", rc - dc <= 300)
d, r = js("paced_direct"), js("paced_router")
if d and r:
    de, re_ = d["events_p50_us"], r["events_p50_us"]
    n = min(len(de), len(re_))
    if n > 2:
        # How much later each content event arrives through the router than directly.
        lag = max(re_[i] - de[i] for i in range(1, n))
        gaps_d = [de[i] - de[i - 1] for i in range(2, n)]
        gaps_r = [re_[i] - re_[i - 1] for i in range(2, n)]
        w("")
        w("Chunk timing, events sent 5 ms apart: each content event reaches the client through the")
        w("router at most **%s** later than directly (median over requests, worst of %d events);" % (us(lag), n - 1))
        w("mean gap between events %s through the router, %s directly — chunks are forwarded as" % (
            us(sum(gaps_r) / len(gaps_r)), us(sum(gaps_d) / len(gaps_d))))
        w("they arrive, not buffered.")
        check("Chunk timing through the router vs direct (no per-chunk buffering)", us(lag), "within 1 ms", lag <= 1000)
w("")


def stream_cpu(name):
    """requests, events, router µs/request, mock µs/request — or None."""
    v = RAW.get(name, "").split()
    if len(v) != 4 or int(v[0]) == 0:
        return None
    return int(v[0]), int(v[1]), float(v[2]), float(v[3])


one, many = stream_cpu("stream_cpu1_router"), stream_cpu("stream_cpu200_router")
one_d, many_d = stream_cpu("stream_cpu1_direct"), stream_cpu("stream_cpu200_direct")
if one and many and one_d and many_d:
    def per_event(a, b, i):
        """CPU of one more event: the difference per request over the difference in events."""
        extra = b[1] / b[0] - a[1] / a[0]
        return (b[i] - a[i]) / extra if extra > 0 else None

    w("CPU per streamed event (16 concurrent streamed Chat requests for %s s, one-chunk streams" % env("DUR", "?"))
    w("against 200-chunk ones; the difference in CPU per request over the difference in events per")
    w("request, so the request's own cost cancels out):")
    w("")
    w("| | Events per request | Router CPU/request | Mock CPU/request (direct) |")
    w("|---|---:|---:|---:|")
    w("| One chunk | %.1f | %s | %s |" % (one[1] / one[0], us(one[2]), us(one_d[3])))
    w("| 200 chunks | %.1f | %s | %s |" % (many[1] / many[0], us(many[2]), us(many_d[3])))
    r_ev, m_ev = per_event(one, many, 2), per_event(one_d, many_d, 3)
    w("| **Per event** | | **%s** | **%s** |" % (us(r_ev), us(m_ev)))
    if r_ev is not None:
        check("Router CPU per streamed event", us(r_ev), "≤ 2 µs", r_ev <= 2)

    w("")

# ------------------------------------------------------------------------------------------
w("## Memory, start-up and size")
w("")
w("| | Measured |")
w("|---|---:|")
if "binary_bytes" in RAW:
    size = int(RAW["binary_bytes"]) / 1048576
    w("| Release binary (stripped; debug info split beside it) | %.1f MB |" % size)
    check("Release binary size", "%.1f MB" % size, "≤ 20 MB", size <= 20)
if "startup_ms" in RAW:
    w("| Start-up, existing data directory (launch → `/health` answers) | %s ms |" % RAW["startup_ms"])
    w("| Start-up, first run (creates the database) | %s ms |" % RAW.get("startup_first_ms", "–"))
if "rss_idle_kb" in RAW:
    w("| RSS idle | %s |" % mb(RAW["rss_idle_kb"]))
    check("RSS idle", mb(RAW["rss_idle_kb"]), "≤ 20 MB", int(RAW["rss_idle_kb"]) <= 20 * 1024)
if "rss_streams_kb" in RAW:
    opened = RAW.get("streams_open", "0")
    w("| RSS with %s concurrent open streams | %s |" % (opened, mb(RAW["rss_streams_kb"])))
    w("| RSS after those streams ended | %s |" % mb(RAW.get("rss_after_streams_kb", "0")))
    check("RSS with 1,000 open streams (%s opened)" % opened, mb(RAW["rss_streams_kb"]), "≤ 80 MB",
          int(RAW["rss_streams_kb"]) <= 80 * 1024 and opened == "1000")
if "rss_long_kb" in RAW:
    s = [int(x) for x in RAW["rss_long_kb"].split()]
    w("| RSS every 10 s over 5 minutes at concurrency 64, MB | %s |" % ", ".join("%.0f" % (x / 1024) for x in s))
    # Growth after warm-up: the last minute against the second.
    first, last = max(s[6:12]), max(s[-6:])
    check("RSS growth over a 5-minute run (last minute vs second minute)",
          "%+.1f MB" % ((last - first) / 1024), "none (≤ +5%)", last <= first * 1.05)
else:
    check("RSS growth over a 5-minute run", "not run (use `--long`)", "none", None)
w("")

# ------------------------------------------------------------------------------------------
def quota_sim(mode):
    """secs, requests, ok, failed, upstream, upstream_429, share_429, served/s — or None."""
    v = RAW.get("quota_sim_" + mode, "").split()
    if len(v) != 8:
        return None
    return [float(x) for x in v]


aware, reactive = quota_sim("aware"), quota_sim("reactive")
if aware or reactive:
    w("## Quota-aware key choice")
    w("")
    w("Three keys with token-bucket limits (5 requests per 500 ms each: 30 requests/s together,")
    w("announced in OpenAI's `x-ratelimit-*` headers by the mock), eight clients sending back to")
    w("back (far above capacity), `max_wait_ms` 3 s. *Aware*: keys whose announced quota cannot")
    w("cover a request are skipped and waited for; *reactive* (`quota_aware = false`): a key is")
    w("skipped only once a 429 has cooled it. Same run, same load")
    w("(`crates/server/tests/it/quota.rs`).")
    w("")
    w("| Choice | Seconds | Client requests | Served | Failed | Upstream attempts | Upstream 429s | 429 share | Served/s |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, r in (("aware", aware), ("reactive", reactive)):
        if r:
            w("| %s | %.0f | %d | %d | %d | %d | %d | %.2f %% | %.1f |" % (
                label, r[0], r[1], r[2], r[3], r[4], r[5], r[6] * 100, r[7]))
    w("")
    if aware:
        check("Quota simulation: upstream 429s with quota-aware choice", "%.2f %%" % (aware[6] * 100),
              "≤ 1 %", aware[6] <= 0.01)
        check("Quota simulation: failed client requests with quota-aware choice", "%d" % aware[3],
              "0", aware[3] == 0)

# ------------------------------------------------------------------------------------------
crit_dir = env("CRITERION_DIR", "")


def estimate(group, bench):
    """Mean time per iteration in ns, or None."""
    path = os.path.join(crit_dir, group, bench, "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["mean"]["point_estimate"]
    except (OSError, ValueError, KeyError):
        return None


def elements(group, bench):
    path = os.path.join(crit_dir, group, bench, "new", "benchmark.json")
    try:
        with open(path) as f:
            t = json.load(f).get("throughput") or {}
            return t.get("Elements")
    except (OSError, ValueError):
        return None


if env("CRITERION") == "1" and crit_dir:
    w("## Micro-benchmarks (criterion, one core)")
    w("")
    w("| Benchmark | Time per iteration | Events/s |")
    w("|---|---:|---:|")
    dialects = ["openai_chat", "openai_responses", "anthropic", "gemini"]
    rows = [("sse", "%s/%s" % (op, d)) for op in ("decode", "decode_whole", "encode") for d in ("openai_chat", "anthropic")]
    rows += [("translate", "%s_to_%s" % (a, b)) for a in dialects for b in dialects if a != b]
    for group, bench in rows:
        t = estimate(group, bench.replace("/", os.sep))
        n = elements(group, bench.replace("/", os.sep))
        if t is None:
            continue
        rate = (n / (t / 1e9)) if n else None
        w("| %s/%s | %s | %s |" % (group, bench, us(t / 1000), "{:,.0f}".format(rate) if rate else "–"))
        if group == "translate" and bench in ("anthropic_to_openai_chat", "openai_chat_to_anthropic") and rate:
            check("Translation %s (events/s, one core)" % bench.replace("_to_", " → "),
                  "{:,.0f}".format(rate), "≥ 200,000", rate >= 200000)
    sel = {}
    health_names = {"healthy": "all keys healthy", "cooling10": "every tenth key cooling"}
    for health, label in health_names.items():
        for n in (10, 100, 1000):
            t = estimate("route_key_" + health, str(n))
            if t is not None:
                sel[(health, n)] = t
                w("| route + key selection, %s keys, %s | %s | – |" % (n, label, us(t / 1000)))
    for health, label in health_names.items():
        if (health, 10) in sel and (health, 1000) in sel:
            ratio = sel[(health, 1000)] / sel[(health, 10)]
            check("Key selection 1,000 vs 10 keys (%s)" % label, "%.2f×" % ratio, "≤ 2×", ratio <= 2)
    w("")

# ------------------------------------------------------------------------------------------
summary = ["## Budget", "", "| Check | Measured | Budget | Result |", "|---|---:|---:|---|"]
for what, measured, budget, ok in ROWS:
    summary.append("| %s | %s | %s | %s |" % (what, measured, budget, "– not run" if ok is None else verdict(ok)))
summary.append("")
# The budget goes first, after the machine table.
at = out.index("## Non-streaming chat (OpenAI Chat client → OpenAI Chat upstream, bytes passed through)")
out[at:at] = summary
# Keep the hand-written analysis of the previous report.
if len(sys.argv) > 2 and os.path.exists(sys.argv[2]):
    with open(sys.argv[2]) as f:
        previous = f.read()
    at = previous.find("\n## Analysis")
    if at >= 0:
        out.append(previous[at + 1:].rstrip("\n"))
print("\n".join(out))
