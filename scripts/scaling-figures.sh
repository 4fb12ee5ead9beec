#!/usr/bin/env bash
# The figures of SCALING.md's capacity model, measured on this machine: what one delivery costs
# PostgreSQL (CPU, WAL, rows, bytes kept), what one event costs the producer, and what
# retention costs. A throwaway durable cluster (fsync and synchronous_commit on) from the local
# binaries, removed afterwards; Herald runs as `herald run --bench-engine-only` (every send
# answered 204 inside Herald: the database's work is the real one, the network's is left out).
#
# Usage: scripts/scaling-figures.sh [EVENTS [WEBHOOKS]]   (default 5000 events x 4 webhooks)
# Prints one line per figure. CPU seconds are summed from /proc over every process of the
# cluster (postmaster, backends, WAL writer, checkpointer, autovacuum) and of Herald.
set -euo pipefail
cd "$(dirname "$0")/.."

EVENTS=${1:-5000}
WEBHOOKS=${2:-4}
PG_BIN=${PG_BIN:-$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}
# HERALD_BIN: an already built binary (default: build this checkout with --release).
if [ -n "${HERALD_BIN:-}" ]; then
    HERALD=$HERALD_BIN
else
    cargo build --release --quiet
    HERALD=$PWD/target/release/herald
fi

ROOT=$(mktemp -d /tmp/herald-scaling-XXXXXX)
run_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
[ "$(id -u)" != 0 ] || chown postgres: "$ROOT"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
herald_pid=""
cleanup() {
    [ -z "$herald_pid" ] || kill -TERM "$herald_pid" 2>/dev/null || true
    run_pg "$PG_BIN/pg_ctl" -D "$ROOT/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$ROOT"
}
trap cleanup EXIT
run_pg "$PG_BIN/initdb" -D "$ROOT/data" -U postgres -A trust >/dev/null
run_pg "$PG_BIN/pg_ctl" -D "$ROOT/data" -l "$ROOT/server.log" -w \
    -o "-p $PORT -k $ROOT -c listen_addresses=127.0.0.1 -c shared_buffers=256MB -c max_wal_size=4GB" start >/dev/null
export DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/postgres"
sql() { "$PG_BIN/psql" -X -qAt "$DATABASE_URL" -c "$1"; }
"$HERALD" migrate >/dev/null

# CPU ticks (user + system) of every process of the cluster: the postmaster's own and its
# reaped children's (backends that exited), plus those of the children still alive.
pg_cpu() {
    local pm total p
    pm=$(head -1 "$ROOT/data/postmaster.pid")
    total=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat")
    for p in $(pgrep -P "$pm" || true); do
        [ -r "/proc/$p/stat" ] && total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    echo "$total"
}
proc_cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tick=$(getconf CLK_TCK)
wal() { sql "select pg_current_wal_lsn()"; }
wal_bytes() { sql "select pg_wal_lsn_diff('$2', '$1')::bigint"; }
per() { python3 -c "print(f'{$1 / $2:.$3f}')"; }
now() { date +%s.%N; }

user=6a2f41a3-c54c-4b4c-8a38-b5c8ab8e3f8e
sql "insert into herald.event_types (name, scope) values ('order.created', 'own')"
for i in $(seq "$WEBHOOKS"); do
    sql "insert into herald.user_webhooks (user_id, url, secret)
         values ('$user', 'http://127.0.0.1:9/h/$i', 'whsec_' || encode(sha256(random()::text::bytea), 'base64'))"
done
DELIVERIES=$((EVENTS * WEBHOOKS))
echo "scaling: $EVENTS events x $WEBHOOKS webhooks = $DELIVERIES deliveries; durable cluster; $(nproc) cores, shared machine"

# The producer: one event per transaction (herald.emit), 4 clients, Herald not running.
cat > "$ROOT/emit.sql" <<EOF
select herald.emit('order.created', '$user', null, '{"total": 42}'::jsonb);
EOF
w0=$(wal); c0=$(pg_cpu); t0=$(now)
"$PG_BIN/pgbench" -n -c 4 -j 2 -t $((EVENTS / 4)) -f "$ROOT/emit.sql" "$DATABASE_URL" > "$ROOT/pgbench.out" 2>&1
t1=$(now); c1=$(pg_cpu); w1=$(wal)
tps=$(grep -oE 'tps = [0-9.]+' "$ROOT/pgbench.out" | head -1 | cut -d' ' -f3)
echo "producer: $tps events/s with 4 clients (herald.emit, one event and $WEBHOOKS deliveries per transaction)"
echo "producer: database CPU per event $(per "($c1 - $c0) * 1000000 / $tick" "$EVENTS" 0) us; WAL per event $(per "$(wal_bytes "$w0" "$w1")" "$EVENTS" 0) bytes"

# The drain: Herald claims, "sends" (engine only) and records every delivery.
w0=$(wal); c0=$(pg_cpu); t0=$(now)
HERALD_ALLOW_PRIVATE_TARGETS=true HERALD_ALLOW_HTTP=true HERALD_LISTEN=127.0.0.1:0 \
    HERALD_ADMIN_TOKEN=scaling-figures-token-0123 RUST_LOG=warn \
    "$HERALD" run --bench-engine-only > "$ROOT/herald.log" 2>&1 &
herald_pid=$!
while [ "$(sql "select count(*) from herald.queue")" != 0 ]; do sleep 0.05; done
t1=$(now); c1=$(pg_cpu); w1=$(wal); h=$(proc_cpu "$herald_pid")
kill -TERM "$herald_pid"; wait "$herald_pid" || true; herald_pid=""
secs=$(per "$t1 - $t0" 1 2)
echo "drain: $DELIVERIES deliveries in $secs s = $(per "$DELIVERIES" "($t1 - $t0)" 0) deliveries/s (engine only, default settings)"
echo "drain: database CPU per delivery $(per "($c1 - $c0) * 1000000 / $tick" "$DELIVERIES" 0) us; Herald CPU per delivery $(per "$h * 1000000 / $tick" "$DELIVERIES" 0) us; WAL per delivery $(per "$(wal_bytes "$w0" "$w1")" "$DELIVERIES" 0) bytes"
sql "vacuum analyze"
echo "kept: rows per delivery: $(sql "select round((select count(*) from herald.deliveries) * 1.0 / $DELIVERIES, 2)") delivery, $(sql "select round((select count(*) from herald.delivery_attempts) * 1.0 / $DELIVERIES, 2)") attempt, $(sql "select round((select count(*) from herald.events) * 1.0 / $DELIVERIES, 2)") event"
for t in deliveries delivery_attempts events; do
    echo "kept: herald.$t $(sql "select pg_total_relation_size('herald.$t') / $DELIVERIES") bytes per delivery (table, indexes, TOAST)"
done

# Retention: the leader deletes what is older than HERALD_RETENTION.
sleep 1.2
w0=$(wal); c0=$(pg_cpu); t0=$(now)
HERALD_RETENTION=1s HERALD_LISTEN=127.0.0.1:0 HERALD_ADMIN_TOKEN=scaling-figures-token-0123 RUST_LOG=warn \
    "$HERALD" run > "$ROOT/herald-retention.log" 2>&1 &
herald_pid=$!
while [ "$(sql "select count(*) from herald.deliveries")" != 0 ]; do sleep 0.1; done
t1=$(now); c1=$(pg_cpu); w1=$(wal)
kill -TERM "$herald_pid"; wait "$herald_pid" || true; herald_pid=""
echo "retention: $DELIVERIES deliveries deleted in $(per "$t1 - $t0" 1 2) s; database CPU per delivery $(per "($c1 - $c0) * 1000000 / $tick" "$DELIVERIES" 0) us; WAL per delivery $(per "$(wal_bytes "$w0" "$w1")" "$DELIVERIES" 0) bytes"
