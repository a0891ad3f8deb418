#!/usr/bin/env bash
# W6, reads at internet latency, side by side in one run: a zarr array of
# STEPS x POINTS chunks (256 B each) as a HAMT on the IPFS test node, read
# cold through the latency proxy (DELAY_MS per request) in front of the
# node's gateway, with IN_FLIGHT requests at once:
#   - this project: hamt-zarr + zarrs over a gateway-only KuboStore
#     (benches/examples/remote_reads.rs);
#   - py-hamt 3.6.0: ZarrHAMTStore + zarr-python over KuboCAS
#     (benches/remote_reads.py).
# Each round runs both sides once (interleaved); medians are printed.
#
#   bash benches/compare_remote.sh [STEPS POINTS COUNT IN_FLIGHT ROUNDS DELAY_MS]
#   (defaults 1000 1000 1000 32 3 50: a million chunks, 1,000 random reads)
#
# The node's repo and the imported dataset are kept in $W6_DIR (default
# /var/tmp/hamt-w6) per size: the import (dag/import of a CAR) runs once;
# the js-ipfs test node stores ~1,400 blocks/s, so a million chunks take
# about 12 minutes the first time.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STEPS="${1:-1000}" POINTS="${2:-1000}" COUNT="${3:-1000}" IN_FLIGHT="${4:-32}"
ROUNDS="${5:-3}" DELAY_MS="${6:-50}"
PY="$(bash "$ROOT/scripts/python-env.sh")"
WORK="${W6_DIR:-/var/tmp/hamt-w6}/${STEPS}x${POINTS}"
mkdir -p "$WORK"

cd "$ROOT"
cargo build --release --quiet -p hamt-benches --example remote_reads --bin latency-proxy
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"

NODE_ENV="$(bash "$ROOT/../shared/ipfs-node/start-ipfs-node.sh" --repo "$WORK/node" --api-port 0 --gw-port 0)"
eval "$(echo "$NODE_ENV" | grep -E '^(IPFS_API_URL|IPFS_GATEWAY_URL|IPFS_PATH|IPFS_NODE_PID)=' | sed 's/^/export /')"
cleanup() {
  exec 3>&- 2>/dev/null || true
  bash "$ROOT/../shared/ipfs-node/start-ipfs-node.sh" stop --repo "$WORK/node" >/dev/null 2>&1 || true
}
trap cleanup EXIT

if [ ! -s "$WORK/root" ]; then
  echo "building ${STEPS}x${POINTS} chunks and importing them into the node (once)..." >&2
  "$BIN/examples/remote_reads" build "$STEPS" "$POINTS" "$WORK/dataset.car" > "$WORK/build.json"
  start=$(date +%s)
  # Not pinned: the test node's recursive pin of a million blocks runs out
  # of file handles (EMFILE); an offline node does not collect garbage.
  curl -sS --fail -X POST -F "file=@$WORK/dataset.car" \
    "$IPFS_API_URL/api/v0/dag/import?pin-roots=false" > "$WORK/import.out"
  "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["root"])' "$WORK/build.json" > "$WORK/root.tmp"
  curl -sS --fail -X POST "$IPFS_API_URL/api/v0/block/stat?arg=$(cat "$WORK/root.tmp")" > /dev/null
  mv "$WORK/root.tmp" "$WORK/root"
  rm -f "$WORK/dataset.car"
  echo "imported $(cat "$WORK/build.json") in $(( $(date +%s) - start )) s" >&2
fi
DATASET_ROOT="$(cat "$WORK/root")"

# The proxy lives while fd 3 is open.
exec 3> >("$BIN/latency-proxy" "$IPFS_GATEWAY_URL" --delay-ms "$DELAY_MS" > "$WORK/proxy.out")
for _ in $(seq 50); do grep -q LATENCY_PROXY_URL "$WORK/proxy.out" 2>/dev/null && break; sleep 0.1; done
PROXY="$(sed -n 's/^LATENCY_PROXY_URL=//p' "$WORK/proxy.out")"

echo "W6: ${STEPS}x${POINTS} chunks, root $DATASET_ROOT; $COUNT random reads, $IN_FLIGHT in flight, ${DELAY_MS} ms per request; $ROUNDS rounds"
echo "load before: $(cat /proc/loadavg)"
RESULTS="$WORK/results.jsonl"
: > "$RESULTS"
for round in $(seq "$ROUNDS"); do
  rs="$("$BIN/examples/remote_reads" read "$PROXY" "$DATASET_ROOT" "$COUNT" "$IN_FLIGHT")"
  echo "{\"side\": \"hamt-rs\", \"round\": $round, \"m\": $rs}" >> "$RESULTS"
  py="$(cd /tmp && "$PY" -W ignore "$ROOT/benches/remote_reads.py" "$PROXY" "$DATASET_ROOT" "$COUNT" "$IN_FLIGHT" 2>/dev/null)"
  echo "{\"side\": \"py-hamt\", \"round\": $round, \"m\": $py}" >> "$RESULTS"
  echo "round $round: hamt-rs $rs" >&2
  echo "round $round: py-hamt $py" >&2
done
echo "load after: $(cat /proc/loadavg)"
"$PY" - "$RESULTS" "$IN_FLIGHT" "$DELAY_MS" "$STEPS" <<'PYEOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
in_flight, delay, steps = int(sys.argv[2]), float(sys.argv[3]) / 1000, int(sys.argv[4])
med = lambda side, key: statistics.median(r["m"][key] for r in rows if r["side"] == side)
print(f"{'median of rounds':<28}{'hamt-rs':>12}{'py-hamt':>12}{'ratio':>8}")
for key, label in [("open_s", "open (s)"), ("one_chunk_s", "one cold chunk (s)"),
                   ("random_per_s", "random chunks/s, cold"),
                   ("warm_per_s", "random chunks/s, warm"), ("series_s", f"time series, {steps} chunks (s)")]:
    rs, py = med("hamt-rs", key), med("py-hamt", key)
    ratio = rs / py if key.endswith("per_s") else py / rs
    print(f"{label:<28}{rs:>12.3f}{py:>12.3f}{ratio:>7.1f}x")
print(f"one cold chunk in round trips: hamt-rs {med('hamt-rs', 'one_chunk_s') / delay:.1f}, "
      f"py-hamt {med('py-hamt', 'one_chunk_s') / delay:.1f} (time / delay)")
print(f"bound: {in_flight} requests in flight / {delay * 1000:.0f} ms = {in_flight / delay:.0f} requests/s; "
      f"a chunk needs its value and every node below the cached levels")
PYEOF
