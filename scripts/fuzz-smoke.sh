#!/usr/bin/env bash
# A short run of every fuzz target (fuzz/, cargo-fuzz + libFuzzer on the nightly toolchain):
# SECONDS per target (default 8), starting from the committed seed corpora. It fails loudly —
# never skips — when a target crashes, hangs, runs out of memory, or the tools are missing.
# Installs cargo-fuzz from crates.io if it is not there. The long campaigns (>= 10 million
# executions each, optimized `-O` builds) are run by hand: docs/reliability.md, "Fuzzing".
#
#   scripts/fuzz-smoke.sh [SECONDS]               build, then run every target
#   scripts/fuzz-smoke.sh --build-only            install cargo-fuzz if needed and build
#   scripts/fuzz-smoke.sh --run-only [SECONDS]    run what --build-only built
#
# The smoke build is a dev build (`--dev`: debug assertions and overflow checks on, no
# optimization): it compiles in a fraction of an optimized build's time (the server's AWS SDK
# dependencies dominate either way), and seconds of seed replay and mutation need no speed.
# scripts/test builds it in the background while the other suites run (--build-only), then runs
# the targets (--run-only).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
build=1
run=1
case "${1:-}" in
  --build-only) run=0; shift ;;
  --run-only) build=0; shift ;;
esac
SECONDS_PER_TARGET=${1:-8}
rustup toolchain list | grep -q '^nightly' ||
  { echo "fuzz: the nightly toolchain is needed (rustup toolchain install nightly)" >&2; exit 1; }
if [ "$build" -eq 1 ]; then
  if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
  fi
  cargo +nightly fuzz build --dev
fi
[ "$run" -eq 1 ] || exit 0
cargo fuzz --version >/dev/null 2>&1 || { echo "fuzz: cargo-fuzz is not installed (run --build-only first)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/strongroom-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
failed=0
for target in $(cargo +nightly fuzz list); do
  mkdir -p "$work/$target"
  echo "fuzz: $target for ${SECONDS_PER_TARGET}s"
  if ! cargo +nightly fuzz run --dev "$target" "$work/$target" "seeds/$target" -- \
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
