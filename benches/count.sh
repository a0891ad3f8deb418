#!/usr/bin/env bash
# Instruction counts (valgrind callgrind, stable under machine load) of each
# workload, setup subtracted: bash benches/count.sh [N=20000] [WORKLOADS...]
set -euo pipefail
N="${1:-20000}"; shift || true
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cargo build --quiet --release -p hamt-benches --example workload --manifest-path "$ROOT/Cargo.toml"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/workload"
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" "$1" "$N" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
NONE=$(count none); SETUP=$(count setup)
for w in "${@:-w1 w1_bulk w2 fvm_w1 fvm_w2 floor_w1 floor_w2}"; do
  for one in $w; do
    case "$one" in w2|floor_w1|floor_w2) base=$SETUP ;; fvm_w2) base=$(( NONE + $(count fvm_w1) - NONE )) ;; *) base=$NONE ;; esac
    total=$(count "$one")
    printf '%-10s %14d instructions (%d per key)\n' "$one" $(( total - base )) $(( (total - base) / N ))
  done
done
