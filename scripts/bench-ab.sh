#!/usr/bin/env bash
# A/B, alternating rounds: a base release binary (BASE_BIN, e.g. built from an older commit) vs
# this tree's, or one binary under two environments (ENV_A / ENV_B, e.g. an allocator option).
# Server pinned to CPU 0, bench to CPU 1. Each line: rate, p50, p99 of the first operation, and
# the server's CPU time per request (utime+stime over the measured seconds / requests) with its
# CPU share and CPU 0's steal — on a shared VM the rate drifts more than the CPU per request.
#
#   BASE_BIN=/tmp/strongroom-base scripts/bench-ab.sh
#   ENV_A=X=1 ENV_B=MIMALLOC_ALLOW_THP=0 scripts/bench-ab.sh
#   knobs: OPS (GetSecretValue), CONC (64), SECS (6), ROUNDS (3), SARGS (extra server args)
set -u
cd "$(dirname "$0")/.."
export STRONGROOM_ROOT_ACCESS_KEY_ID=AKIABENCHROOT0000001
export STRONGROOM_ROOT_SECRET_ACCESS_KEY=bench/secret/key/0123456789abcdefghijklmn
export STRONGROOM_LOG=warn
HEAD_BIN=target/release/strongroom
BIN_A=${BASE_BIN:-$HEAD_BIN}
BIN_B=$HEAD_BIN
S=${SECS:-6}
[ "$S" -ge 4 ] || { echo "SECS must be at least 4 (2 s of warm-up are not measured)" >&2; exit 2; }
out=$(mktemp)
# (pauses any running fuzz campaign meanwhile — libFuzzer's wall-clock -timeout then fires
# falsely when it resumes: do not benchmark during a campaign with a short -timeout)
pkill -STOP -f "x86_64-unknown-linux-gnu/release/" 2>/dev/null
trap 'pkill -CONT -f "x86_64-unknown-linux-gnu/release/" 2>/dev/null; rm -f "$out"' EXIT
for round in $(seq 1 "${ROUNDS:-3}"); do
  for which in A B; do
    if [ $which = A ]; then e=${ENV_A:-STRONGROOM_AB=A}; b=$BIN_A; else e=${ENV_B:-STRONGROOM_AB=B}; b=$BIN_B; fi
    d=$(mktemp -d); port=$((18900 + RANDOM % 50))
    # shellcheck disable=SC2086 # ENV_* and SARGS are word lists
    env $e taskset -c 0 "$b" server --data-dir "$d" --listen "127.0.0.1:$port" ${SARGS:-} >/dev/null 2>&1 &
    pid=$!
    sleep 1.5
    taskset -c 1 target/release/strongroom-bench --endpoint "http://127.0.0.1:$port" \
      --operations "${OPS:-GetSecretValue}" --concurrency "${CONC:-64}" --seconds "$S" >"$out" 2>&1 &
    bench=$!
    sleep 2 # the bench's setup and warm-up
    t0=$(awk '{print $14+$15}' "/proc/$pid/stat"); st0=$(awk '/^cpu0 /{print $9}' /proc/stat); w0=$(date +%s%N)
    sleep $((S - 2))
    t1=$(awk '{print $14+$15}' "/proc/$pid/stat"); st1=$(awk '/^cpu0 /{print $9}' /proc/stat); w1=$(date +%s%N)
    wait $bench
    line=$(grep -E '^\| [A-Z]' "$out" | head -1)
    rps=$(echo "$line" | awk -F'|' '{print $4+0}')
    tick_ms=$((1000 / $(getconf CLK_TCK)))
    cpu_ms=$(((t1 - t0) * tick_ms)); wall_ms=$(((w1 - w0) / 1000000))
    printf '%s round %s %s cpu/request %s steal %s%%\n' "$which" "$round" \
      "$(echo "$line" | awk -F'|' '{printf "%s %7d/s p50 %s p99 %s", $2, $4, $5, $6}')" \
      "$(awk -v c="$cpu_ms" -v w="$wall_ms" -v r="$rps" 'BEGIN{ if (r > 0) printf "%.1f us (server CPU %.0f%%)", c*1000/(r*w/1000), 100*c/w; else print "-" }')" \
      $(((st1 - st0) * tick_ms * 100 / wall_ms))
    kill $pid; wait $pid 2>/dev/null; rm -rf "$d"
  done
done
