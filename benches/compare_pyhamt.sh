#!/usr/bin/env bash
# W1/W2 side by side: py-hamt 3.6.0 (Python, in-memory CAS), this HAMT,
# fvm_ipld_hamt and the floor (Rust, in-memory stores), in ROUNDS
# interleaved rounds (py-hamt once, then each Rust workload once, per
# round), printing the median of each and the ratios between them.
#
#   bash benches/compare_pyhamt.sh [N=100000] [ROUNDS=5]
#
# Run it with nothing else running; it prints the load average before and after.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${1:-100000}"
ROUNDS="${2:-5}"
PY="$(bash "$ROOT/scripts/python-env.sh")"

cd "$ROOT"
cargo build --release --quiet -p hamt-benches --example compare
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/compare"
OUT="$(mktemp)"
trap 'rm -f "$OUT"' EXIT

echo "load before: $(cat /proc/loadavg)"
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round/$ROUNDS" >&2
  (cd /tmp && "$PY" -W ignore "$ROOT/benches/compare_pyhamt.py" "$N") | sed 's/^/py /' >>"$OUT"
  COMPARE_JSON=1 "$BIN" "$N" 1 | sed 's/^/rs /' >>"$OUT"
done
echo "load after: $(cat /proc/loadavg)"

"$PY" - "$OUT" "$N" "$ROUNDS" <<'PYEOF'
import json, statistics, sys
path, n, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
py, rs = [], []
for line in open(path):
    kind, _, body = line.partition(" ")
    (py if kind == "py" else rs).append(json.loads(body))
med = lambda rows, key: statistics.median(r[key] for r in rows)
p_w1, p_w2 = med(py, "w1_s") * 1e3, med(py, "w2_s") * 1e3
t = {k: med(rs, k) for k in rs[0] if k.endswith("_ms")}
print(f"N = {n} keys, 64-byte values; medians of {rounds} interleaved rounds (ms)")
print(f"{'workload':<22} {'ours':>9} {'fvm':>9} {'py-hamt':>9} {'floor':>8} {'x fvm':>7} {'x py-hamt':>10} {'x floor':>8}")
for name, ours, fvm, pyv, floor in [
    ("W1 insert+flush", t["w1_ms"], t["fvm_w1_ms"], p_w1, t["floor_w1_ms"]),
    ("W1 insert_many+flush", t["w1_bulk_ms"], t["fvm_w1_ms"], p_w1, t["floor_w1_ms"]),
    ("W2 get all (fresh)", t["w2_ms"], t["fvm_w2_ms"], p_w2, t["floor_w2_ms"]),
]:
    print(f"{name:<22} {ours:>9.2f} {fvm:>9.2f} {pyv:>9.0f} {floor:>8.2f} {fvm/ours:>6.2f}x {pyv/ours:>9.0f}x {ours/floor:>7.2f}x")
print("(x fvm, x py-hamt: how many times faster than them; x floor: how many times the floor)")
PYEOF
