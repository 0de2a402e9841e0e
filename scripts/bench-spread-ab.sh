#!/usr/bin/env bash
# Reads spread over a big store, A/B (issue 13): two strongroom binaries alternate on one
# populated data dir (the order flips each round, so neither always meets a warmer OS cache),
# server pinned to CPU 0, strongroom-bench to CPU 1. Each line: the bench's row (rate, p50,
# p99) and the server's CPU time per request (utime+stime over the run / requests).
#
#   target/release/strongroom-bench populate --endpoint URL --secrets 200000 --parameters 0
#   scripts/bench-spread-ab.sh /tmp/strongroom-before target/release/strongroom /data/dir 200000
#   knobs: SECS (6), ROUNDS (3), OPS (GetSecretValue), SARGS (extra server args)
#
# The first run after a populate or a cold start reads from disk: leave it out of comparisons.
set -u
cd "$(dirname "$0")/.."
A=${1:?binary A}; B=${2:?binary B}; DIR=${3:?populated data dir}; N=${4:?secrets populated}
BENCH=target/release/strongroom-bench
S=${SECS:-6}
export STRONGROOM_ROOT_ACCESS_KEY_ID=AKIABENCHROOT0000001
export STRONGROOM_ROOT_SECRET_ACCESS_KEY=bench/secret/key/0123456789abcdefghijklmn
export STRONGROOM_LOG=warn
[ -x "$BENCH" ] || { echo "build first: cargo build --release -p strongroom-bench" >&2; exit 2; }

one() { # label binary
  local port=$((18700 + RANDOM % 100)) pid t0 t1 line rps
  # shellcheck disable=SC2086 # SARGS is a word list
  taskset -c 0 "$2" server --data-dir "$DIR" --listen "127.0.0.1:$port" ${SARGS:-} >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 200); do curl -fs -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.05; done
  t0=$(awk '{print $14+$15}' "/proc/$pid/stat")
  line=$(taskset -c 1 "$BENCH" --endpoint "http://127.0.0.1:$port" --operations "${OPS:-GetSecretValue}" \
    --concurrency 64 --seconds "$S" --spread "$N" | grep '^| [A-Z]' | head -1)
  t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
  kill "$pid"; wait "$pid" 2>/dev/null
  rps=$(echo "$line" | awk -F'|' '{print $4+0}')
  [ "${rps:-0}" -gt 0 ] || { echo "$1: no requests measured: $line" >&2; exit 1; }
  echo "$1 $line server CPU per request: $(echo "scale=1; ($t1 - $t0) * 10000 / ($rps * $S)" | bc) µs"
}

for r in $(seq "${ROUNDS:-3}"); do
  if [ $((r % 2)) = 1 ]; then one A "$A"; one B "$B"; else one B "$B"; one A "$A"; fi
done
