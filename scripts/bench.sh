#!/usr/bin/env bash
# Measures what Switchboard costs, side by side with calling the mock upstream directly, in
# one run, and writes docs/benchmarks.md (machine, date, numbers, ratios, budget pass/fail).
#
#   scripts/bench.sh            # a few minutes
#   scripts/bench.sh --long     # adds a 5-minute run checking that RSS does not grow
#   scripts/bench.sh --quick    # shorter load runs, for trying the script out
#   scripts/bench.sh --no-criterion   # skip the criterion micro-benchmarks
#   scripts/bench.sh --no-quota       # skip the quota simulation (2 × 30 s)
#   scripts/bench.sh --team     # only team mode: one instance on SQLite vs one on PostgreSQL + Redis
#                               # (added latency), and 1 vs 3 instances behind HAProxy; writes
#                               # docs/benchmarks-team.md (PostgreSQL, Redis from scripts/services.sh)
#
# Needs: a Rust toolchain, python3, curl, and a load generator: `wrk` (installed with apt-get
# when missing and possible) or `oha` (installed with `cargo install oha --locked` into
# ~/.cache/switchboard-tools otherwise).
#
# Environment: BENCH_DURATION (seconds per load run, default 5), BENCH_OUT (default
# docs/benchmarks.md), CARGO_TARGET_DIR (default ~/.cache/switchboard-target/bench),
# QUOTA_SIM_SECS (seconds per quota simulation run, default 30; 5 with --quick).
#
# CPU per request is the router's and the mock's user + system time (/proc/<pid>/stat) over
# each load run, divided by the requests it completed. With `perf` (and `inferno`, installed
# with `cargo install inferno --locked` into ~/.cache/switchboard-tools when missing), a
# flamegraph of the pass-through path is written next to the report
# (docs/flamegraph-passthrough.svg); BENCH_FLAMEGRAPH=0 skips it.
#
# Profiling a miss: BENCH_WRAP="valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p"
# (or "perf record -g -o /tmp/perf.data") runs the router under that command; the numbers
# of such a run are for finding the cause, not for the table.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

LONG=0
TEAM=0
QUICK=0
CRITERION=1
QUOTA=1
for arg in "$@"; do
    case "$arg" in
        --long) LONG=1 ;;
        --quick) QUICK=1 ;;
        --no-criterion) CRITERION=0 ;;
        --no-quota) QUOTA=0 ;;
        --team) TEAM=1 ;;
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        *) echo "unknown option $arg" >&2; exit 2 ;;
    esac
done

# Team mode needs PostgreSQL and Redis: private ones, started for this run.
if [ "$TEAM" = 1 ] && [ -z "${SWITCHBOARD_TEST_DATABASE_URL:-}" ]; then
    exec bash "$ROOT/scripts/services.sh" bash "$0" "$@"
fi

DUR=${BENCH_DURATION:-5}
[ "$QUICK" = 1 ] && DUR=${BENCH_DURATION:-2}
OUT=${BENCH_OUT:-$ROOT/docs/benchmarks.md}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/switchboard-target/bench}
TOOLS=$HOME/.cache/switchboard-tools
WRAP=${BENCH_WRAP:-}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-bench.XXXXXX")
RESULTS=$WORK/results.txt
: >"$RESULTS"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

log() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }
result() { echo "$1 $2" >>"$RESULTS"; }

# 1,000 open streams need ~3,000 sockets across the three processes.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---------------------------------------------------------------------------------------
log "load generator"
LOADGEN=""
if command -v wrk >/dev/null; then
    LOADGEN=wrk
elif command -v apt-get >/dev/null && { [ "$(id -u)" = 0 ] || command -v sudo >/dev/null; }; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    if $SUDO apt-get install -y wrk >/dev/null 2>&1 || { $SUDO apt-get update >/dev/null 2>&1 && $SUDO apt-get install -y wrk >/dev/null 2>&1; }; then
        LOADGEN=wrk
    fi
fi
if [ -z "$LOADGEN" ]; then
    export PATH="$TOOLS/bin:$PATH"
    command -v oha >/dev/null || cargo install oha --locked --root "$TOOLS"
    LOADGEN=oha
fi
echo "using $LOADGEN" >&2

log "release build"
# The router measured is the shipped artifact: stripped, debug info beside it (perf reads it).
"$ROOT/scripts/dist.sh" "$WORK/dist"
cargo build --release --locked -q -p switchboard-mock-upstream
cargo build --release --locked -q -p switchboard-server --example stream_load
BIN=$CARGO_TARGET_DIR/release
SB=$WORK/dist/switchboard
MOCK=$BIN/switchboard-mock-upstream
LOAD=$BIN/examples/stream_load

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# CPU µs per item from two tick counts and a count.
per_item() { awk -v t="$(( $2 - $1 ))" -v n="$3" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", (n > 0 ? t * 1e6 / hz / n : 0) }'; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# ---------------------------------------------------------------------------------------
log "mock upstream"
"$MOCK" --port 0 >"$WORK/mock.out" 2>"$WORK/mock.err" &
MOCK_PID=$!
PIDS+=("$MOCK_PID")
for _ in $(seq 100); do [ -s "$WORK/mock.out" ] && break; sleep 0.05; done
MOCK_ADDR=$(head -n1 "$WORK/mock.out")
DIRECT=http://$MOCK_ADDR
echo "mock at $DIRECT" >&2

ACCESS=sk-sb-bench-access-key-0123456789
ADMIN=sbadm-bench-admin-token-0123456789
PORT=$(free_port)
ROUTER=http://127.0.0.1:$PORT
cat >"$WORK/switchboard.toml" <<EOF
[[providers]]
name = "mock"
kind = "openai_chat"
base_url = "$DIRECT/v1"
keys = ["sk-bench-upstream-key-0001"]

[[routes]]
alias = "bench"
targets = [{ provider = "mock", model = "mock" }]

[[routes]]
alias = "bench-1"
targets = [{ provider = "mock", model = "mock@chunks=1" }]

[[routes]]
alias = "bench-20"
targets = [{ provider = "mock", model = "mock@chunks=20" }]

[[routes]]
alias = "bench-200"
targets = [{ provider = "mock", model = "mock@chunks=200" }]

[[routes]]
alias = "bench-paced"
targets = [{ provider = "mock", model = "mock@chunks=20,chunk_delay_ms=5" }]

[[routes]]
alias = "bench-hold"
targets = [{ provider = "mock", model = "mock@chunks=100,chunk_delay_ms=500" }]
EOF

start_router() {
    # Sets ROUTER_PID and STARTUP_MS (launch → /health answers).
    local t0 t1
    t0=$(date +%s%N)
    SWITCHBOARD_ACCESS_KEY=$ACCESS SWITCHBOARD_ADMIN_TOKEN=$ADMIN \
        SWITCHBOARD_MASTER_KEY=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef \
        $WRAP "$SB" serve --port "$PORT" --data-dir "$WORK/data" --config "$WORK/switchboard.toml" \
        --log-level warn >"$WORK/router.out" 2>>"$WORK/router.err" &
    ROUTER_PID=$!
    PIDS+=("$ROUTER_PID")
    for _ in $(seq 2000); do
        curl -fs -o /dev/null "$ROUTER/health" && break
        sleep 0.002
    done
    t1=$(date +%s%N)
    STARTUP_MS=$(( (t1 - t0) / 1000000 ))
}
stop_router() {
    kill -TERM "$ROUTER_PID" 2>/dev/null || true
    wait "$ROUTER_PID" 2>/dev/null || true
}

log "router start-up"
start_router   # creates the database
result startup_first_ms "$STARTUP_MS"
stop_router
start_router   # the usual case: an existing data directory
result startup_ms "$STARTUP_MS"
echo "router at $ROUTER (pid $ROUTER_PID)" >&2
sleep 1
result rss_idle_kb "$(rss_kb "$ROUTER_PID")"
result binary_bytes "$(stat -c %s "$SB")"

# ---------------------------------------------------------------------------------------
# Non-streaming load. Prints "rps p50_us p99_us errors".
cat >"$WORK/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("BENCH_KEY")
if key ~= nil and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
  wrk.headers["x-api-key"] = key
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %.1f %d %d %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), e.connect + e.read + e.write + e.timeout + e.status,
    summary.requests))
end
EOF
# Prints "rps p50_us p99_us errors requests".
load() { # url body key concurrency
    local url=$1 body=$2 key=$3 c=$4 threads=2
    [ "$c" -lt 2 ] && threads=1
    if [ "$LOADGEN" = wrk ]; then
        BENCH_BODY=$body BENCH_KEY=$key wrk -t"$threads" -c"$c" -d"${DUR}s" -s "$WORK/post.lua" "$url" \
            | awk '/^RESULT/ {print $2, $3, $4, $5, $6}'
    else
        local auth=()
        [ -n "$key" ] && auth=(-H "Authorization: Bearer $key" -H "x-api-key: $key")
        oha -z "${DUR}s" -c "$c" --no-tui --output-format json -m POST -T application/json \
            "${auth[@]}" -d "$body" "$url" | python3 -c '
import json, sys
d = json.load(sys.stdin)
s, p = d["summary"], d["latencyPercentiles"]
bad = sum(v for k, v in d.get("statusCodeDistribution", {}).items() if not k.startswith("2"))
print("%.1f %d %d %d %d" % (s["requestsPerSec"], p["p50"] * 1e6, p["p99"] * 1e6, bad + len(d.get("errorDistribution", {})), s["requestsPerSec"] * s["total"]))'
    fi
}

# A load run recorded as NAME "rps p50_us p99_us errors" and NAME_cpu "router_us mock_us":
# each process's CPU time per request over the run.
measure() { # name url body key concurrency
    local name=$1 r0 m0 r1 m1 out
    r0=$(cpu_ticks "$ROUTER_PID"); m0=$(cpu_ticks "$MOCK_PID")
    out=$(load "$2" "$3" "$4" "$5")
    r1=$(cpu_ticks "$ROUTER_PID"); m1=$(cpu_ticks "$MOCK_PID")
    read -r rps p50 p99 errors requests <<<"$out"
    result "$name" "$rps $p50 $p99 $errors"
    result "${name}_cpu" "$(per_item "$r0" "$r1" "$requests") $(per_item "$m0" "$m1" "$requests")"
}

CHAT='{"model":"%s","messages":[{"role":"user","content":"hi"}]}'
ANTH='{"model":"%s","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}'
# Responses requests say `store: false`: a stored one is kept for `previous_response_id` (the
# conversation store, bounded by its own byte budget, 64 MiB by default), which would count in
# the RSS measured with 1,000 open streams below instead of the streams themselves.
RESP='{"model":"%s","input":"hi","store":false}'
CHAT_S='{"model":"%s","stream":true,"messages":[{"role":"user","content":"hi"}]}'
ANTH_S='{"model":"%s","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
RESP_S='{"model":"%s","input":"hi","stream":true,"store":false}'
body() { printf "$1" "$2"; }

# ---------------------------------------------------------------------------------------
# Team mode: what PostgreSQL (shared configuration and request log) adds to one instance, and
# what three instances behind a load balancer give against one.
if [ "$TEAM" = 1 ]; then
    if ! command -v haproxy >/dev/null; then
        if [ "$(id -u)" = 0 ]; then apt-get install -y -qq haproxy >/dev/null; else sudo apt-get install -y -qq haproxy >/dev/null; fi
    fi
    DB_URL=$SWITCHBOARD_TEST_DATABASE_URL
    TEAM_PIDS=()
    start_team() { # port instance-id
        SWITCHBOARD_ACCESS_KEY=$ACCESS SWITCHBOARD_ADMIN_TOKEN=$ADMIN SWITCHBOARD_INSTANCE_ID=$2 \
            SWITCHBOARD_MASTER_KEY=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef \
            "$SB" serve --port "$1" --data-dir "$WORK/team-$2" --database "$DB_URL" \
            --redis "$SWITCHBOARD_TEST_REDIS_URL" \
            --config "$WORK/switchboard.toml" --log-level warn >"$WORK/team-$2.out" 2>"$WORK/team-$2.err" &
        TEAM_PIDS+=($!)
        PIDS+=($!)
        for _ in $(seq 3000); do curl -fs -o /dev/null "http://127.0.0.1:$1/health" && return 0; sleep 0.01; done
        echo "team instance $2 did not start:" >&2
        cat "$WORK/team-$2.err" >&2
        exit 1
    }
    T1=$(free_port); T2=$(free_port); T3=$(free_port)
    start_team "$T1" bench-1
    BODY=$(body "$CHAT" bench)
    SQLITE_PID=$ROUTER_PID
    log "one instance: SQLite vs PostgreSQL + Redis"
    measure team_sqlite_c1 "$ROUTER/v1/chat/completions" "$BODY" "$ACCESS" 1
    measure team_sqlite_c64 "$ROUTER/v1/chat/completions" "$BODY" "$ACCESS" 64
    ROUTER_PID=${TEAM_PIDS[0]}
    measure team_pg_c1 "http://127.0.0.1:$T1/v1/chat/completions" "$BODY" "$ACCESS" 1
    measure team_pg_c64 "http://127.0.0.1:$T1/v1/chat/completions" "$BODY" "$ACCESS" 64
    kill "$SQLITE_PID" 2>/dev/null || true
    start_team "$T2" bench-2
    start_team "$T3" bench-3
    LB1=$(free_port); LB3=$(free_port)
    cat >"$WORK/haproxy.cfg" <<EOF
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend one
    bind 127.0.0.1:$LB1
    default_backend one
frontend three
    bind 127.0.0.1:$LB3
    default_backend three
backend one
    server i1 127.0.0.1:$T1
backend three
    balance leastconn
    server i1 127.0.0.1:$T1
    server i2 127.0.0.1:$T2
    server i3 127.0.0.1:$T3
EOF
    haproxy -f "$WORK/haproxy.cfg" -db >"$WORK/haproxy.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 300); do curl -fs -o /dev/null "http://127.0.0.1:$LB3/health" && break; sleep 0.01; done
    log "behind HAProxy: 1 vs 3 instances"
    measure team_lb1_c64 "http://127.0.0.1:$LB1/v1/chat/completions" "$BODY" "$ACCESS" 64
    measure team_lb3_c64 "http://127.0.0.1:$LB3/v1/chat/completions" "$BODY" "$ACCESS" 64
    python3 "$ROOT/scripts/bench_team_report.py" "$RESULTS" "${BENCH_OUT_TEAM:-$ROOT/docs/benchmarks-team.md}"
    exit 0
fi

log "non-streaming chat, direct vs router"
for c in 1 16 64 256; do
    measure "chat_c${c}_direct" "$DIRECT/v1/chat/completions" "$(body "$CHAT" mock)" "" "$c"
    measure "chat_c${c}_router" "$ROUTER/v1/chat/completions" "$(body "$CHAT" bench)" "$ACCESS" "$c"
done

log "non-streaming translation"
for c in 1 64; do
    measure "anth_c${c}_direct" "$DIRECT/v1/messages" "$(body "$ANTH" mock)" "" "$c"
    measure "anth_c${c}_router" "$ROUTER/v1/messages" "$(body "$ANTH" bench)" "$ACCESS" "$c"
    measure "resp_c${c}_direct" "$DIRECT/v1/responses" "$(body "$RESP" mock)" "" "$c"
    measure "resp_c${c}_router" "$ROUTER/v1/responses" "$(body "$RESP" bench)" "$ACCESS" "$c"
done

# ---------------------------------------------------------------------------------------
log "streaming: time to first byte, total, chunk timing"
N=200
[ "$QUICK" = 1 ] && N=50
timing() { "$LOAD" timing "$1" "$2" --key "$ACCESS" --n "$3"; }
for chunks in 20 200; do
    result "stream${chunks}_direct" "$(timing "$DIRECT/v1/chat/completions" "$(body "$CHAT_S" "mock@chunks=$chunks")" "$N")"
    result "stream${chunks}_router" "$(timing "$ROUTER/v1/chat/completions" "$(body "$CHAT_S" "bench-$chunks")" "$N")"
done
result "paced_direct" "$(timing "$DIRECT/v1/chat/completions" "$(body "$CHAT_S" "mock@chunks=20,chunk_delay_ms=5")" 20)"
result "paced_router" "$(timing "$ROUTER/v1/chat/completions" "$(body "$CHAT_S" bench-paced)" 20)"
result "anth_stream20_direct" "$(timing "$DIRECT/v1/messages" "$(body "$ANTH_S" "mock@chunks=20")" "$N")"
result "anth_stream20_router" "$(timing "$ROUTER/v1/messages" "$(body "$ANTH_S" bench-20)" "$N")"
result "resp_stream20_direct" "$(timing "$DIRECT/v1/responses" "$(body "$RESP_S" "mock@chunks=20")" "$N")"
result "resp_stream20_router" "$(timing "$ROUTER/v1/responses" "$(body "$RESP_S" bench-20)" "$N")"

# CPU per streamed event: streams of one chunk and of 200 chunks under concurrent load; the
# difference in CPU per request over the difference in events per request is what one more
# event costs (the request's own cost cancels out). Recorded as NAME "requests events
# router_us_per_request mock_us_per_request".
stream_cpu() { # name url body
    local r0 m0 r1 m1 out requests events
    r0=$(cpu_ticks "$ROUTER_PID"); m0=$(cpu_ticks "$MOCK_PID")
    out=$("$LOAD" load "$2" "$3" --key "$ACCESS" --n 16 --secs "$DUR")
    r1=$(cpu_ticks "$ROUTER_PID"); m1=$(cpu_ticks "$MOCK_PID")
    # {"requests":N,"events":E}
    read -r requests events <<<"$(tr -c '0-9' ' ' <<<"$out")"
    result "$1" "$requests $events $(per_item "$r0" "$r1" "$requests") $(per_item "$m0" "$m1" "$requests")"
}
log "streaming: CPU per event"
for chunks in 1 200; do
    stream_cpu "stream_cpu${chunks}_direct" "$DIRECT/v1/chat/completions" "$(body "$CHAT_S" "mock@chunks=$chunks")"
    stream_cpu "stream_cpu${chunks}_router" "$ROUTER/v1/chat/completions" "$(body "$CHAT_S" "bench-$chunks")"
done

# ---------------------------------------------------------------------------------------
if [ "${BENCH_FLAMEGRAPH:-1}" = 1 ]; then
    log "flamegraph of the pass-through path"
    SVG=$(dirname "$OUT")/flamegraph-passthrough.svg
    export PATH="$TOOLS/bin:$PATH"
    if ! command -v perf >/dev/null || ! perf record -q -o "$WORK/probe.data" -- true >/dev/null 2>&1; then
        echo "no usable perf: flamegraph skipped" >&2
    else
        command -v inferno-flamegraph >/dev/null || cargo install inferno --locked --root "$TOOLS"
        ( BENCH_BODY=$(body "$CHAT" bench) BENCH_KEY=$ACCESS wrk -t2 -c16 -d"$(( DUR + 2 ))s" \
            -s "$WORK/post.lua" "$ROUTER/v1/chat/completions" >/dev/null 2>&1 || true ) &
        FLAME_LOAD=$!
        sleep 1
        perf record -q -F 499 --call-graph dwarf,32768 -p "$ROUTER_PID" -o "$WORK/perf.data" \
            -- sleep "$DUR" >/dev/null 2>&1 || true
        wait "$FLAME_LOAD" || true
        perf script --no-inline -i "$WORK/perf.data" 2>/dev/null | inferno-collapse-perf \
            | inferno-flamegraph --title "Switchboard pass-through, OpenAI Chat, concurrency 16" >"$SVG"
        echo "wrote $SVG" >&2
        export FLAMEGRAPH=$(basename "$SVG")
    fi
fi

# ---------------------------------------------------------------------------------------
log "1,000 concurrent open streams"
"$LOAD" hold "$ROUTER/v1/chat/completions" "$(body "$CHAT_S" bench-hold)" --key "$ACCESS" --n 1000 --secs 12 \
    >"$WORK/hold.out" 2>"$WORK/hold.err" &
HOLD_PID=$!
PIDS+=("$HOLD_PID")
for _ in $(seq 600); do grep -q '^open' "$WORK/hold.out" 2>/dev/null && break; sleep 0.05; done
sleep 1
result streams_open "$(awk '/^open/ {print $2}' "$WORK/hold.out")"
result rss_streams_kb "$(rss_kb "$ROUTER_PID")"
wait "$HOLD_PID" || true
sleep 2
result rss_after_streams_kb "$(rss_kb "$ROUTER_PID")"

# ---------------------------------------------------------------------------------------
if [ "$LONG" = 1 ]; then
    log "5-minute run: RSS over time"
    samples=()
    (
        BENCH_BODY=$(body "$CHAT" bench) BENCH_KEY=$ACCESS wrk -t2 -c64 -d300s -s "$WORK/post.lua" \
            "$ROUTER/v1/chat/completions" >/dev/null 2>&1 || true
    ) &
    LONG_PID=$!
    for i in $(seq 30); do
        sleep 10
        samples+=("$(rss_kb "$ROUTER_PID")")
        # A few streams each round too.
        timing "$ROUTER/v1/chat/completions" "$(body "$CHAT_S" bench-200)" 5 >/dev/null || true
    done
    wait "$LONG_PID" || true
    result rss_long_kb "${samples[*]}"
fi

# ---------------------------------------------------------------------------------------
if [ "$CRITERION" = 1 ]; then
    log "criterion micro-benchmarks"
    # The router is idle from here on; stop it so it does not share the cores.
    stop_router
    crit=(--warm-up-time 1 --measurement-time 3)
    [ "$QUICK" = 1 ] && crit=(--warm-up-time 0.5 --measurement-time 1)
    cargo bench --locked -q -p switchboard-protocol --bench stream -- "${crit[@]}" >"$WORK/crit-protocol.txt" 2>&1
    cargo bench --locked -q -p switchboard-router --bench route -- "${crit[@]}" >"$WORK/crit-router.txt" 2>&1
fi

# ---------------------------------------------------------------------------------------
if [ "$QUOTA" = 1 ]; then
    log "quota simulation: quota-aware vs reactive key choice"
    # Three keys with token-bucket limits (30 requests/s together) under closed-loop overload,
    # run in-process by the server's integration test `quota::quota_simulation_report`, once
    # with the quota ranking on and once off. Each mode prints one `quota_sim` line.
    stop_router
    QSECS=${QUOTA_SIM_SECS:-30}
    [ "$QUICK" = 1 ] && QSECS=${QUOTA_SIM_SECS:-5}
    QUOTA_SIM_SECS=$QSECS cargo test --release --locked -q -p switchboard-server --test it \
        quota::quota_simulation_report -- --ignored --nocapture >"$WORK/quota.out" 2>"$WORK/quota.err" || true
    for mode in aware reactive; do
        result "quota_sim_$mode" "$(awk -v m="mode=$mode" '$1 == "quota_sim" && $2 == m {
            for (i = 3; i <= NF; i++) { split($i, kv, "="); printf "%s ", kv[2] } }' "$WORK/quota.out")"
    done
fi

# ---------------------------------------------------------------------------------------
log "report"
mkdir -p "$(dirname "$OUT")"
MACHINE_CPU=$(lscpu 2>/dev/null | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}')
export MACHINE_CPU LOADGEN LONG DUR
export MACHINE_CORES=$(nproc)
export MACHINE_MEM=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
export MACHINE_KERNEL=$(uname -sr)
export MACHINE_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
export LOADGEN_VERSION=$( { wrk --version 2>&1 || oha --version 2>&1; } | head -n1 | cut -d' ' -f1-2)
export RUSTC_VERSION=$(rustc --version)
export CRITERION_DIR=$CARGO_TARGET_DIR/criterion
export CRITERION
python3 "$ROOT/scripts/bench_report.py" "$RESULTS" "$OUT" >"$WORK/report.md"
mv "$WORK/report.md" "$OUT"
echo "wrote $OUT" >&2
