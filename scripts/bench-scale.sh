#!/usr/bin/env bash
# Scale figures (issue 13): the same measurements on a server holding 1,000 secrets and on one
# holding many (a data dir filled once by `strongroom-bench populate`), in one run, server pinned
# to CPU 0 and the load generator to CPU 1 as in scripts/bench-pinned.sh.
#
#   cargo build --release -p strongroom -p strongroom-bench
#   # once (resumable; ~17 min per million at ~1,000 creates/s):
#   target/release/strongroom server --data-dir /tmp/sr-scale --listen 127.0.0.1:8790 &
#   target/release/strongroom-bench populate --endpoint http://127.0.0.1:8790 \
#       --secrets 1000000 --parameters 1000000 --concurrency 64
#   kill %1
#   BIG=/tmp/sr-scale N=1000000 scripts/bench-scale.sh
#
# Per server: startup to ready (process start to GET /health 200), RSS after startup,
# GetSecretValue (64 connections) reading a random one of 1,000 secrets and of all N, the first
# page of ListSecrets / ListSecrets by a name prefix / DescribeParameters / GetParametersByPath
# (1 connection: latency; the name-prefix listings read the middle group of 1,000 names, which
# both stores hold), RSS after the load, and the data dir's size.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/strongroom
BENCH=target/release/strongroom-bench
BIG=${BIG:?the data dir populate filled}
N=${N:?how many secrets it holds}
CONC=${CONC:-64}
SECONDS_EACH=${SECS:-5}  # not SECONDS: bash sets that itself (seconds since start)
export STRONGROOM_ROOT_ACCESS_KEY_ID=AKIABENCHROOT0000001
export STRONGROOM_ROOT_SECRET_ACCESS_KEY=bench/secret/key/0123456789abcdefghijklmn
export STRONGROOM_LOG=warn

pid=
small=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [ -n "$small" ] && rm -rf "$small"
  return 0
}
trap cleanup EXIT

rss_mib() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

start() { # data dir, port → sets pid; prints startup-to-ready
  local t0 t1
  t0=$(date +%s.%N)
  taskset -c 0 "$BIN" server --data-dir "$1" --listen "127.0.0.1:$2" >"/tmp/bench-scale-$2.log" 2>&1 &
  pid=$!
  for _ in $(seq 600); do
    if curl -fs -o /dev/null "http://127.0.0.1:$2/health"; then
      t1=$(date +%s.%N)
      echo "startup to ready: $(echo "$t1 - $t0" | bc) s"
      return
    fi
    sleep 0.01
  done
  echo "not ready after 6 s" >&2; exit 1
}

bench() { # port, extra args...
  local port=$1; shift
  taskset -c 1 "$BENCH" --endpoint "http://127.0.0.1:$port" --seconds "$SECONDS_EACH" "$@" | grep '^| [A-Z]'
}

measure() { # label, data dir, secrets, port
  echo "== $1 ($3 secrets)"
  start "$2" "$4"
  sleep 1
  echo "RSS after startup: $(rss_mib "$pid") MiB"
  bench "$4" --operations GetSecretValue --concurrency "$CONC" --spread 1000 | sed 's/^/spread 1000 /'
  [ "$3" -gt 1000 ] && bench "$4" --operations GetSecretValue --concurrency "$CONC" --spread "$3" | sed "s/^/spread $3 /"
  # --spread: the name-prefix listings read the middle group of the store's names
  bench "$4" --operations "ListSecrets,ListSecrets(name),DescribeParameters,GetParametersByPath" --concurrency 1 --spread "$3"
  echo "RSS after load: $(rss_mib "$pid") MiB"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  echo "data dir: $(du -sb "$2" | cut -f1) bytes (store $(du -cb "$2"/strongroom.db* | tail -1 | cut -f1))"
}

small=$(mktemp -d)
start "$small" 19390 >/dev/null
"$BENCH" populate --endpoint http://127.0.0.1:19390 --secrets 1000 --parameters 1000 --concurrency 16 2>/dev/null | tail -1
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
measure small "$small" 1000 19391
measure big "$BIG" "$N" 19392
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
