#!/usr/bin/env bash
# W3 side by side in one run: a zarr round trip with thousands of small
# chunks (SIDE x SIDE float32 in 10 x 10 chunks, uncompressed), first with
# zarr-python + py-hamt 3.6.0 (in-memory CAS), then with zarrs + hamt-zarr
# (in-memory store), printing each side's write, read and total times and
# their ratios.
#
#   bash benches/compare_zarr.sh [SIDE=500] [REPEATS=5]
#
# py-hamt runs once; the Rust side takes the best of REPEATS runs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SIDE="${1:-500}"
REPEATS="${2:-5}"
PY="$(bash "$ROOT/scripts/python-env.sh")"

echo "load: $(uptime)"
echo "zarr-python + py-hamt 3.6.0: W3 with SIDE=$SIDE ..."
PY_JSON="$(cd /tmp && "$PY" -W ignore "$ROOT/benches/compare_zarr.py" "$SIDE")"
echo "$PY_JSON"
read -r PY_WRITE PY_READ < <("$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["write_s"], d["read_s"])' "$PY_JSON")

cd "$ROOT"
cargo run --release --quiet -p hamt-benches --example compare_zarr -- "$SIDE" "$REPEATS" "$PY_WRITE" "$PY_READ"
echo "load: $(uptime)"
