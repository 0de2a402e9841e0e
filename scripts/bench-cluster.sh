#!/usr/bin/env bash
# Throughput and p99 of GetSecretValue / PutSecretValue: the SQLite single node (the reference)
# and 1, 2 and 3 nodes sharing one PostgreSQL database, in the same run, as ratios to the
# reference. Every Strongroom process is pinned to CPU 0 and the load generator to CPU 1
# (PostgreSQL is not pinned: it competes with both, as a database on the same machine would).
# On a 2-core machine the figures show what clustering costs per request (audit rows written to
# PostgreSQL before each answer, change announcements, the lease), not how it scales.
#
#   cargo build --release -p strongroom -p strongroom-bench
#   scripts/bench-cluster.sh            # OPS, CONC, SECS, PG (server URL without database)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/strongroom
BENCH=target/release/strongroom-bench
OPS=${OPS:-GetSecretValue,PutSecretValue}
CONC=${CONC:-64}
SECONDS_EACH=${SECS:-5}  # not SECONDS: bash sets that itself (seconds since start)
PG=${PG:-postgres://postgres@127.0.0.1:5432}
export STRONGROOM_ROOT_ACCESS_KEY_ID=AKIABENCHROOT0000001
export STRONGROOM_ROOT_SECRET_ACCESS_KEY=bench/secret/key/0123456789abcdefghijklmn
[ -x "$BIN" ] && [ -x "$BENCH" ] || { echo "build first: cargo build --release -p strongroom -p strongroom-bench" >&2; exit 2; }

pids=()
dirs=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for d in "${dirs[@]:-}"; do [ -n "$d" ] && rm -rf "$d"; done
  [ -n "${DB:-}" ] && psql -X -q "$PG/postgres" -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

node() { # data_dir port [store]
  local args=(server --data-dir "$1" --listen "127.0.0.1:$2")
  [ -n "${3:-}" ] && args+=(--store "$3")
  taskset -c 0 "$BIN" "${args[@]}" >"$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$2/health" >/dev/null && return; sleep 0.1; done
  echo "node on port $2 did not start: $(tail -5 "$1.log")" >&2; exit 1
}

measure() { # label endpoints
  echo "== $1"
  taskset -c 1 "$BENCH" --endpoint "$2" --operations "$OPS" --concurrency "$CONC" --seconds "$SECONDS_EACH" | grep '^| [A-Z]' | sed "s/^/$1 /"
}

stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}

base=$((19000 + RANDOM % 500))
d=$(mktemp -d); dirs+=("$d")
node "$d/sqlite" $base
measure "sqlite-1" "http://127.0.0.1:$base"
stop_all

for n in 1 2 3; do
  DB="sr_bench_$RANDOM$RANDOM"
  psql -X -q "$PG/postgres" -c "CREATE DATABASE \"$DB\"" >/dev/null
  eps=()
  for i in $(seq "$n"); do
    mkdir -p "$d/pg$n-$i"
    [ "$i" -gt 1 ] && cp "$d/pg$n-1/root.key" "$d/pg$n-$i/"
    node "$d/pg$n-$i" $((base + 10 * n + i)) "$PG/$DB"
    eps+=("http://127.0.0.1:$((base + 10 * n + i))")
  done
  measure "postgres-$n" "$(IFS=,; echo "${eps[*]}")"
  stop_all
  psql -X -q "$PG/postgres" -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null
  DB=
done
