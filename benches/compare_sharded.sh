#!/usr/bin/env bash
# Sharded reads side by side in one run: hamt_rs.ShardedZarrStore,
# hamt_rs.ZarrHamtStore and py-hamt 3.6.0's ShardedZarrStore, each writing
# the same xarray dataset (float32 time x 180 x 360, chunks 1 x 18 x 36,
# 100 chunks per shard), then reading it back cold: the time series at one
# grid point (one chunk per shard) and the whole array. In memory, then
# through the IPFS node (a real Kubo at IPFS_API_URL / IPFS_GATEWAY_URL, or
# the test node from ../shared/ipfs-node, started and stopped here).
#
#   bash benches/compare_sharded.sh [T_MEMORY=365] [T_IPFS=60] [REPEATS=5]
#
# Then the same array through zarrs alone (benches/examples/compare_sharded.rs:
# ShardedZarrStore against ZarrHamtStore, no zarr-python in the way).
# Builds hamt_rs in release into the project's venv first. Run it alone:
# the load average is printed before and after.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
T_MEMORY="${1:-365}"
T_IPFS="${2:-60}"
REPEATS="${3:-5}"
PY="$(bash "$ROOT/scripts/python-env.sh")"
VENV="$(dirname "$(dirname "$PY")")"

(cd "$ROOT" && VIRTUAL_ENV="$VENV" PYO3_PYTHON="$PY" "$PY" -m maturin develop --release \
  --manifest-path crates/hamt-py/Cargo.toml >&2)

if [ -z "${IPFS_API_URL:-}" ]; then
  NODE_ENV="$(bash "$ROOT/../shared/ipfs-node/start-ipfs-node.sh" --api-port 0 --gw-port 0)"
  eval "$(echo "$NODE_ENV" | grep -E '^(IPFS_API_URL|IPFS_GATEWAY_URL|IPFS_PATH)=' | sed 's/^/export /')"
  trap 'bash "$ROOT/../shared/ipfs-node/start-ipfs-node.sh" stop --repo "$IPFS_PATH" >/dev/null 2>&1 || true' EXIT
fi

# The Rust side alone (zarrs, no zarr-python), built before anything is timed.
(cd "$ROOT" && cargo build --release --quiet -p hamt-benches --example compare_sharded)

echo "load: $(uptime)"
for run in "memory $T_MEMORY" "ipfs $T_IPFS"; do
  set -- $run
  JSON="$(cd /tmp && "$PY" -W ignore "$ROOT/benches/compare_sharded.py" "$1" "$2" "$REPEATS")"
  echo "$JSON"
  "$PY" - "$JSON" <<'PYEOF'
import json, sys
d = json.loads(sys.argv[1])
m = d["medians_s"]
base = m["py-hamt sharded"]
print(f"{d['backend']}: {d['chunks']} chunks of {d['chunk_bytes']} B, {d['chunks_per_shard']} per shard, "
      f"medians of {d['repeats']} (write: one run)")
print(f"  {'':16} {'write':>9} {'series':>9} {'whole':>9}   vs py-hamt sharded (x faster)")
for name, r in m.items():
    ratio = "  ".join(f"{base[k] / r[k]:5.1f}x" for k in ("write", "series", "whole"))
    print(f"  {name:16} {r['write']:8.3f}s {r['series']:8.3f}s {r['whole']:8.3f}s   {ratio}")
PYEOF
  (cd "$ROOT" && cargo run --release --quiet -p hamt-benches --example compare_sharded -- "$1" "$2" "$REPEATS")
done
echo "load: $(uptime)"
