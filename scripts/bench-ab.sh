#!/usr/bin/env bash
# A/B: a base release binary (BASE_BIN, e.g. built from an older commit) vs this tree's, server pinned to CPU 0, bench to CPU 1, alternating.
set -u
# (pauses any running fuzz campaign meanwhile — libFuzzer's wall-clock -timeout then fires
# falsely when it resumes: do not benchmark during a campaign with a short -timeout)
pkill -STOP -f "x86_64-unknown-linux-gnu/release/" 2>/dev/null
for round in $(seq 1 ${ROUNDS:-2}); do
for which in base head; do
  bin=${BASE_BIN:?set BASE_BIN to the base release binary}; [ $which = head ] && bin=$(dirname "$0")/../target/release/strongroom
  d=$(mktemp -d); port=$((18900 + RANDOM % 50))
  STRONGROOM_ROOT_ACCESS_KEY_ID=AKIABENCHROOT0000001 STRONGROOM_ROOT_SECRET_ACCESS_KEY=bench/secret/key/0123456789abcdefghijklmn \
    taskset -c 0 $bin server --data-dir $d --listen 127.0.0.1:$port > /dev/null 2>&1 &
  pid=$!; sleep 1.5
  echo "== $which round $round"
  taskset -c 1 "$(dirname "$0")"/../target/release/strongroom-bench --endpoint http://127.0.0.1:$port --operations "${OPS:-GetSecretValue}" --concurrency ${CONC:-16,64} --seconds 5 2>&1 | grep -E "GetSecretValue" 
  kill $pid; wait $pid 2>/dev/null; rm -rf $d
done
done
pkill -CONT -f "x86_64-unknown-linux-gnu/release/" 2>/dev/null
