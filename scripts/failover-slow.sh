#!/usr/bin/env bash
# A PostgreSQL failover in the middle of a drain (issue 15), on a real HA pair: pg_auto_failover
# (Debian's postgresql-15-auto-failover, installed when absent) with a monitor and two nodes on
# loopback ports, synchronous replication, run as the OS user `postgres`. Herald drains 20,000
# deliveries to 8 webhooks over a two-host DATABASE_URL
# (postgres://...@127.0.0.1:P1,127.0.0.1:P2/db?target_session_attrs=read-write), and mid-drain
#   (a) switchover: `pg_autoctl perform failover`;
#   (b) kill:       SIGKILL of the primary's postmaster.
# Each run prints the time from the failure to a primary taking writes and to the first
# delivery after it, the duplicates and the lost deliveries (must be 0); the test fails when
# deliveries do not resume within 15 s of the new primary taking writes, or when duplicates
# exceed HERALD_MAX_IN_FLIGHT + the deliveries of the last second. CI runs it after
# scripts/faults-slow.sh.
#
# Usage: scripts/failover-slow.sh [switchover|kill]...   (default: both, in that order)
# Internal: scripts/failover-slow.sh switch-now|kill-primary DIR   (the triggers of (a), (b))
set -euo pipefail
cd "$(dirname "$0")/.."

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"

as_postgres() {
    # pg_autoctl keeps its state under XDG folders: keep them in the run's own folder.
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- env PATH="$PG_BIN:$PATH" HOME="$ROOT" XDG_CONFIG_HOME="$ROOT/config" \
            XDG_DATA_HOME="$ROOT/data" XDG_RUNTIME_DIR="$ROOT/run" "$@"
    else
        env PATH="$PG_BIN:$PATH" HOME="$ROOT" XDG_CONFIG_HOME="$ROOT/config" \
            XDG_DATA_HOME="$ROOT/data" XDG_RUNTIME_DIR="$ROOT/run" "$@"
    fi
}

monitor_sql() {
    as_postgres psql -X -qAt -h 127.0.0.1 -p "$(cat "$ROOT/monitor.port")" -d pg_auto_failover -c "$1"
}

if [ "${1:-}" = switch-now ]; then
    ROOT="$2"
    cd /
    as_postgres pg_autoctl perform failover --pgdata "$ROOT/node1" >/dev/null 2>"$ROOT/switch.err" \
        || { cat "$ROOT/switch.err" >&2; exit 1; }
    exit 0
fi
if [ "${1:-}" = kill-primary ]; then
    ROOT="$2"
    port=$(monitor_sql "select nodeport from pgautofailover.node where reportedstate = 'primary' limit 1")
    for node in node1 node2; do
        if [ "$(cat "$ROOT/$node.port")" = "$port" ]; then
            pid=$(head -1 "$ROOT/$node/postmaster.pid")
            echo "failover: SIGKILL to the postmaster of $node (port $port, pid $pid)"
            kill -KILL "$pid"
            exit 0
        fi
    done
    echo "failover: no primary found" >&2
    exit 1
fi

kinds=("$@")
[ ${#kinds[@]} -gt 0 ] || kinds=(switchover kill)

if ! command -v pg_autoctl >/dev/null 2>&1; then
    echo "failover: installing postgresql-15-auto-failover (pg_autoctl)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq postgresql-15-auto-failover >/dev/null
fi

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

ROOT=$(mktemp -d /tmp/herald-failover-XXXXXX)
mkdir -p "$ROOT/config" "$ROOT/data" "$ROOT/run"
chmod 700 "$ROOT/run"
[ "$(id -u)" != 0 ] || chown -R postgres: "$ROOT"
pids=()
cleanup() {
    for node in node2 node1 monitor; do
        [ -d "$ROOT/$node" ] && as_postgres pg_autoctl stop --pgdata "$ROOT/$node" >/dev/null 2>&1 || true
    done
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    # A postmaster left behind by a killed keeper.
    for node in node1 node2 monitor; do
        [ -f "$ROOT/$node/postmaster.pid" ] && as_postgres pg_ctl -D "$ROOT/$node" -m immediate stop >/dev/null 2>&1 || true
    done
    rm -rf "$ROOT"
}
trap cleanup EXIT

started=$(date +%s)
for name in monitor node1 node2; do free_port > "$ROOT/$name.port"; done
[ "$(id -u)" != 0 ] || chown postgres: "$ROOT"/*.port
MONITOR_PORT=$(cat "$ROOT/monitor.port")
MONITOR="postgres://autoctl_node@127.0.0.1:$MONITOR_PORT/pg_auto_failover?sslmode=disable"

as_postgres pg_autoctl create monitor --pgdata "$ROOT/monitor" --pgport "$MONITOR_PORT" \
    --hostname 127.0.0.1 --auth trust --no-ssl --run >"$ROOT/monitor.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do
    monitor_sql "select 1" >/dev/null 2>&1 && break
    sleep 0.2
done

start_node() {
    local node=$1
    as_postgres pg_autoctl create postgres --pgdata "$ROOT/$node" --pgport "$(cat "$ROOT/$node.port")" \
        --hostname 127.0.0.1 --name "$node" --auth trust --no-ssl --dbname herald \
        --monitor "$MONITOR" --run >"$ROOT/$node.log" 2>&1 &
    pids+=($!)
}

# Waits until the pair is one primary and one secondary, both at their goal state.
wait_stable() {
    local what=$1
    for _ in $(seq 600); do
        local s
        s=$(monitor_sql "select string_agg(reportedstate::text || '/' || goalstate::text, ',' order by reportedstate)
                           from pgautofailover.node" 2>/dev/null || true)
        [ "$s" = "primary/primary,secondary/secondary" ] && return 0
        sleep 0.5
    done
    echo "failover: the pair is not stable ($what): $s" >&2
    tail -30 "$ROOT"/node*.log "$ROOT"/monitor.log >&2
    return 1
}

start_node node1
for _ in $(seq 600); do
    [ "$(monitor_sql "select count(*) from pgautofailover.node where reportedstate in ('single', 'primary')" 2>/dev/null)" = 1 ] && break
    sleep 0.5
done
start_node node2
wait_stable "after creating it"
echo "failover: pair ready in $(( $(date +%s) - started ))s (monitor :$MONITOR_PORT, nodes :$(cat "$ROOT/node1.port") :$(cat "$ROOT/node2.port"))"
monitor_sql "select nodename, nodeport, reportedstate, replicationquorum from pgautofailover.node order by nodeid"

echo "failover: building the tests (release)"
cargo test --release --test it --no-run >/dev/null 2>&1 || cargo test --release --test it --no-run

status=0
for kind in "${kinds[@]}"; do
    db="herald_$kind"
    hosts="127.0.0.1:$(cat "$ROOT/node1.port"),127.0.0.1:$(cat "$ROOT/node2.port")"
    as_postgres psql -X -q "postgres://postgres@$hosts/postgres?target_session_attrs=read-write" \
        -c "create database $db"
    url="postgres://postgres@$hosts/$db?target_session_attrs=read-write"
    DATABASE_URL="$url" cargo run --release --quiet -- migrate
    case "$kind" in
        switchover) trigger="bash '$PWD/scripts/failover-slow.sh' switch-now '$ROOT'" ;;
        kill) trigger="bash '$PWD/scripts/failover-slow.sh' kill-primary '$ROOT'" ;;
        *) echo "failover: unknown kind $kind (switchover, kill)" >&2; exit 2 ;;
    esac
    echo "failover: $kind"
    t0=$(date +%s)
    rc=0
    HERALD_FAILOVER_URL="$url" HERALD_FAILOVER_TRIGGER="$trigger" HERALD_FAILOVER_KIND="$kind" \
        cargo test --release --test it failover::failover_of_an_ha_pair -- --ignored --nocapture \
        --test-threads=1 >"$ROOT/$kind.out" 2>&1 || rc=$?
    if [ "$rc" = 0 ]; then
        grep -oE "failover \(.*" "$ROOT/$kind.out" || true
    else
        tail -60 "$ROOT/$kind.out"
    fi
    echo "failover: $kind took $(( $(date +%s) - t0 ))s (exit $rc)"
    [ "$rc" = 0 ] || status=$rc
    wait_stable "after the $kind" || status=1
done
echo "failover: finished in $(( $(date +%s) - started ))s with exit status $status"
exit "$status"
