#!/usr/bin/env bash
# W1/W2 side by side in one run: py-hamt 3.6.0 (Python, in-memory CAS), then
# this HAMT, fvm_ipld_hamt and the floor (Rust, in-memory stores), printing
# each workload's time and its ratios to the others.
#
#   bash benches/compare_pyhamt.sh [N=100000] [REPEATS=5]
#
# py-hamt runs once (it takes minutes at N=100,000); the Rust side takes the
# best of REPEATS runs. Machine load skews both: note `uptime` with results.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${1:-100000}"
REPEATS="${2:-5}"
PY="$(bash "$ROOT/scripts/python-env.sh")"

echo "load: $(uptime)"
echo "py-hamt 3.6.0: W1 and W2 with N=$N ..."
PY_JSON="$(cd /tmp && "$PY" -W ignore "$ROOT/benches/compare_pyhamt.py" "$N")"
echo "$PY_JSON"
read -r PY_W1 PY_W2 < <("$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["w1_s"], d["w2_s"])' "$PY_JSON")

cd "$ROOT"
cargo run --release --quiet -p hamt-benches --example compare -- "$N" "$REPEATS" "$PY_W1" "$PY_W2"
echo "load: $(uptime)"
