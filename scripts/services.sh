#!/usr/bin/env bash
# Private PostgreSQL and Redis for the tests of team mode: real servers, never mocks.
#
#   bash scripts/services.sh COMMAND [ARGS...]
#
# installs Debian's `postgresql` and `redis-server` if missing, starts a PostgreSQL (initdb in a
# temporary directory, run as a non-root user since PostgreSQL refuses root) and a Redis (no
# persistence), each on a free loopback port, exports
#   SWITCHBOARD_TEST_DATABASE_URL=postgres://switchboard@127.0.0.1:PORT/postgres
#   SWITCHBOARD_TEST_REDIS_URL=redis://127.0.0.1:PORT
# runs COMMAND with them, stops both servers and removes the directory whatever happens, and
# exits with COMMAND's status. Sourced instead, it only defines the functions: services_start
# and services_stop, and services_restart_pg/services_restart_redis (scripts/chaos.sh).

services_as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi
}

services_install() {
    local need=()
    for p in postgresql redis-server; do
        dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
    done
    if [ ${#need[@]} -gt 0 ]; then
        echo "installing: ${need[*]}"
        services_as_root apt-get update -qq &&
            services_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" || return 1
    fi
}

services_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Runs a PostgreSQL binary as the user that owns the data directory.
services_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

services_start() {
    services_install || return 1
    local bin
    bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
        echo "services: no PostgreSQL binaries under /usr/lib/postgresql" >&2
        return 1
    fi
    SERVICES_DIR="$(mktemp -d /tmp/switchboard-services.XXXXXX)"
    chmod 755 "$SERVICES_DIR"
    mkdir -p "$SERVICES_DIR/pg"
    [ "$(id -u)" = 0 ] && chown postgres: "$SERVICES_DIR/pg"
    SERVICES_PG_PORT="$(services_free_port)" || return 1
    SERVICES_REDIS_PORT="$(services_free_port)" || return 1

    services_pg "$bin/initdb" -D "$SERVICES_DIR/pg/data" -U switchboard --auth=trust -E UTF8 \
        --no-sync >"$SERVICES_DIR/initdb.log" 2>&1 || {
        cat "$SERVICES_DIR/initdb.log" >&2
        return 1
    }
    SERVICES_PG_CTL="$bin/pg_ctl"
    services_pg_up || return 1
    services_redis_up || return 1

    export SWITCHBOARD_TEST_DATABASE_URL="postgres://switchboard@127.0.0.1:$SERVICES_PG_PORT/postgres"
    export SWITCHBOARD_TEST_REDIS_URL="redis://127.0.0.1:$SERVICES_REDIS_PORT"
    echo "services: PostgreSQL on 127.0.0.1:$SERVICES_PG_PORT, Redis on 127.0.0.1:$SERVICES_REDIS_PORT"
}

# Starts the PostgreSQL server of services_start (again) on its data directory and port.
services_pg_up() {
    services_pg "$SERVICES_PG_CTL" -D "$SERVICES_DIR/pg/data" -l "$SERVICES_DIR/pg/server.log" -w -t 60 \
        -o "-h 127.0.0.1 -p $SERVICES_PG_PORT -k $SERVICES_DIR/pg -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
        start >/dev/null || {
        cat "$SERVICES_DIR/pg/server.log" >&2
        return 1
    }
}

# Starts the Redis server of services_start (again) on its port, and waits until it answers.
services_redis_up() {
    redis-server --port "$SERVICES_REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
        --pidfile "$SERVICES_DIR/redis.pid" --logfile "$SERVICES_DIR/redis.log" --dir "$SERVICES_DIR" || return 1
    local i
    for i in $(seq 1 100); do
        redis-cli -p "$SERVICES_REDIS_PORT" ping 2>/dev/null | grep -q PONG && return 0
        sleep 0.1
    done
    echo "services: Redis on port $SERVICES_REDIS_PORT does not answer" >&2
    return 1
}

# Stops PostgreSQL (`-m fast`: open transactions are aborted and every connection is cut, but
# what was committed is on disk — the servers run with synchronous_commit=off, so a crash
# could lose the last commits), leaves it down SECONDS (default 0), and starts it again on the
# same port and data.
services_restart_pg() {
    services_pg "$SERVICES_PG_CTL" -D "$SERVICES_DIR/pg/data" -m fast -w stop >/dev/null || return 1
    sleep "${1:-0}"
    services_pg_up
}

# Stops Redis (its data with it: it keeps none), leaves it down SECONDS (default 0), and
# starts it again on the same port.
services_restart_redis() {
    redis-cli -p "$SERVICES_REDIS_PORT" shutdown nosave >/dev/null 2>&1
    local i
    for i in $(seq 1 100); do
        redis-cli -p "$SERVICES_REDIS_PORT" ping >/dev/null 2>&1 || break
        sleep 0.1
    done
    sleep "${1:-0}"
    services_redis_up
}

services_stop() {
    [ -n "${SERVICES_DIR:-}" ] || return 0
    if [ -n "${SERVICES_PG_CTL:-}" ] && [ -d "$SERVICES_DIR/pg/data" ]; then
        services_pg "$SERVICES_PG_CTL" -D "$SERVICES_DIR/pg/data" -m immediate -w stop >/dev/null 2>&1
    fi
    if [ -n "${SERVICES_REDIS_PORT:-}" ]; then
        redis-cli -p "$SERVICES_REDIS_PORT" shutdown nosave >/dev/null 2>&1
    fi
    rm -rf "$SERVICES_DIR"
    SERVICES_DIR=""
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -uo pipefail
    if [ $# -eq 0 ]; then
        echo "usage: $0 COMMAND [ARGS...]" >&2
        exit 2
    fi
    trap services_stop EXIT
    trap 'exit 130' INT TERM
    services_start || {
        echo "services: could not start PostgreSQL and Redis" >&2
        exit 1
    }
    "$@"
    exit $?
fi
