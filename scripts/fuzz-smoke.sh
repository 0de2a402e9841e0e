#!/usr/bin/env bash
# A short run of every fuzz target (fuzz/, cargo-fuzz + libFuzzer on the nightly toolchain):
# SECONDS per target (default 8), starting from the committed seed corpora. It fails loudly —
# never skips — when a target crashes, hangs, runs out of memory, or the tools are missing.
# Installs cargo-fuzz from crates.io if it is not there. The long campaigns (>= 10 million
# executions each) are run by hand: docs/reliability.md, "Fuzzing".
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECONDS_PER_TARGET=${1:-8}
rustup toolchain list | grep -q '^nightly' ||
  { echo "fuzz: the nightly toolchain is needed (rustup toolchain install nightly)" >&2; exit 1; }
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
cargo +nightly fuzz build -O
work=$(mktemp -d "${TMPDIR:-/tmp}/strongroom-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
failed=0
for target in $(cargo +nightly fuzz list); do
  mkdir -p "$work/$target"
  echo "fuzz: $target for ${SECONDS_PER_TARGET}s"
  if ! cargo +nightly fuzz run -O "$target" "$work/$target" "seeds/$target" -- \
      -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      2>"$work/$target.log"; then
    echo "fuzz: $target FAILED" >&2
    tail -40 "$work/$target.log" >&2
    failed=1
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$work/$target.log" | tr '\n' ' '
    echo
  fi
done
exit "$failed"
