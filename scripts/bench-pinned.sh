#!/usr/bin/env bash
# Per-core figures as ratios (issue 13): every server pinned to CPU 0, the load generator
# (strongroom-bench) to CPU 1, and a minimal reference server — hyper + the project's SigV4
# verifier + one AES-GCM open per request (strongroom-reference) — measured in the same run,
# so each figure is a ratio to what any server doing the unavoidable work reaches here.
#
#   cargo build --release -p strongroom -p strongroom-bench
#   scripts/bench-pinned.sh             # CONC (64), SECS (5 per figure), ROUNDS (1)
#   HALT_POLL_NS=200000 scripts/bench-pinned.sh   # idle vCPUs poll (see below)
#
# Rows: reference; Strongroom unaudited (--bench-unaudited); Strongroom as shipped (durable
# audit) — GetSecretValue as root and as an IAM user with 10 policies, PutSecretValue.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/strongroom}  # BIN=...: another build of the server (A/B)
BENCH=target/release/strongroom-bench
REF=target/release/strongroom-reference
CONC=${CONC:-64}
SECONDS_EACH=${SECS:-5}  # not SECONDS: bash sets that itself (seconds since start)
ROUNDS=${ROUNDS:-1}
export STRONGROOM_ROOT_ACCESS_KEY_ID=AKIABENCHROOT0000001
export STRONGROOM_ROOT_SECRET_ACCESS_KEY=bench/secret/key/0123456789abcdefghijklmn
export STRONGROOM_LOG=warn
for b in "$BIN" "$BENCH" "$REF"; do
  [ -x "$b" ] || { echo "build first: cargo build --release -p strongroom -p strongroom-bench" >&2; exit 2; }
done

pid=
dir=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [ -n "$dir" ] && rm -rf "$dir"
  return 0
}
# HALT_POLL_NS: on a KVM guest with the haltpoll cpuidle driver (these Firecracker VMs boot it
# with polling off), how long an idle vCPU polls before it halts. A halted generator vCPU must
# be woken by an inter-processor interrupt at every response, paid on the server's core
# (`sock_def_readable`, 10% of its samples) and the more the slower the server, whose
# generator idles more: an artifact of a loopback benchmark in a VM, biased against the
# slower server. Set, it is in force for the run (root) and restored at exit; the value in
# force is printed either way.
HALT_POLL=/sys/module/haltpoll/parameters/guest_halt_poll_ns
halt_poll_was=
restore_halt_poll() {
  [ -n "$halt_poll_was" ] && echo "$halt_poll_was" > "$HALT_POLL"
  return 0
}
trap 'cleanup; restore_halt_poll' EXIT
if [ -n "${HALT_POLL_NS:-}" ]; then
  [ -w "$HALT_POLL" ] || { echo "HALT_POLL_NS needs a writable $HALT_POLL (root, haltpoll cpuidle driver)" >&2; exit 2; }
  halt_poll_was=$(cat "$HALT_POLL")
  echo "$HALT_POLL_NS" > "$HALT_POLL"
fi
echo "guest_halt_poll_ns: $(cat "$HALT_POLL" 2>/dev/null || echo 'n/a (no haltpoll cpuidle driver)')"

wait_up() { # port
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2; exit 1
}

results=$(mktemp)
measure() { # label port operations
  taskset -c 1 "$BENCH" --endpoint "http://127.0.0.1:$2" --operations "$3" \
    --concurrency "$CONC" --seconds "$SECONDS_EACH" | grep '^| [A-Z]' | sed "s/^/$1 /" | tee -a "$results"
}

for round in $(seq "$ROUNDS"); do
  echo "== round $round"
  port=$((19200 + RANDOM % 500))
  taskset -c 0 "$REF" --listen "127.0.0.1:$port" & pid=$!
  wait_up "$port"
  measure reference "$port" GetSecretValue
  cleanup; pid=

  for mode in unaudited durable; do
    port=$((port + 1))
    dir=$(mktemp -d)
    args=(server --data-dir "$dir" --listen "127.0.0.1:$port")
    [ "$mode" = unaudited ] && args+=(--bench-unaudited)
    taskset -c 0 "$BIN" "${args[@]}" >"$dir.log" 2>&1 & pid=$!
    wait_up "$port"
    # Root and the IAM user interleaved (root, user, user, root; rows averaged below): this
    # VM drifts within a run by as much as the user's extra cost, so a sequential pair would
    # charge the drift to whichever ran second.
    ops="GetSecretValue,GetSecretValue(user),GetSecretValue(user),GetSecretValue"
    [ "$mode" = durable ] && ops+=",PutSecretValue"
    measure "$mode" "$port" "$ops"
    cleanup; pid=; rm -f "$dir.log"; dir=
  done
done

# Ratios to the reference (each row: the mean of its measurements over rounds and repeats).
echo
echo "| server (CPU 0) | operation | requests/s | ratio to reference | p99 |"
echo "|---|---|---:|---:|---:|"
awk -F'|' '
  { gsub(/ /, "", $1); label=$1; op=$2; gsub(/^ +| +$/, "", op); rps=$4+0; p99=$6; gsub(/^ +| +$/, "", p99)
    key=label "|" op; if (!(key in sum)) keys[++k]=key; sum[key]+=rps; n[key]++; last99[key]=p99 }
  END {
    ref = sum["reference|GetSecretValue"] / n["reference|GetSecretValue"]
    for (i = 1; i <= k; i++) { key = keys[i]; split(key, p, "|"); avg = sum[key] / n[key]
      printf "| %s | %s | %.0f | %.2f | %s |\n", p[1], p[2], avg, avg / ref, last99[key] }
  }' "$results"
rm -f "$results"
