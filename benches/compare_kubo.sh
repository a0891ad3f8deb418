#!/usr/bin/env bash
# Block put/get throughput on one IPFS daemon, side by side in one run:
# py-hamt 3.6.0's KuboCAS, then this project's KuboStore, each with 1 and 32
# requests in flight, raw blocks of ~200 B and ~64 KiB.
#
#   bash benches/compare_kubo.sh
#
# Uses the daemon at IPFS_API_URL / IPFS_GATEWAY_URL (a real Kubo), or
# starts the test node from ../shared/ipfs-node and stops it after.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$(bash "$ROOT/scripts/python-env.sh")"

if [ -z "${IPFS_API_URL:-}" ]; then
  NODE_ENV="$(bash "$ROOT/../shared/ipfs-node/start-ipfs-node.sh" --api-port 0 --gw-port 0)"
  eval "$(echo "$NODE_ENV" | grep -E '^(IPFS_API_URL|IPFS_GATEWAY_URL|IPFS_PATH)=' | sed 's/^/export /')"
  trap 'bash "$ROOT/../shared/ipfs-node/start-ipfs-node.sh" stop --repo "$IPFS_PATH" >/dev/null 2>&1 || true' EXIT
fi

echo "load: $(uptime)"
echo "daemon: RPC $IPFS_API_URL gateway $IPFS_GATEWAY_URL"
echo "py-hamt 3.6.0 KuboCAS:"
PY_LINES="$(cd /tmp && "$PY" -W ignore "$ROOT/benches/compare_kubo.py" 2>&1 >/dev/null | grep -E '^concurrency')"
echo "$PY_LINES"
echo "hamt-kubo KuboStore (release):"
cd "$ROOT"
RS_LINES="$(cargo test --release --quiet -p hamt-kubo --test daemon -- --ignored --nocapture --exact throughput 2>&1 |
  grep -E '^concurrency')"
echo "$RS_LINES"
echo "ratios (KuboStore / KuboCAS, higher is faster):"
"$PY" - "$PY_LINES" "$RS_LINES" <<'PYEOF'
import re, sys
pat = re.compile(r"concurrency\s+(\d+), (\d+) blocks of ~(\d+) B: put\s+(\d+)/s .*get\s+(\d+)/s")
def rates(text):
    return {m.group(1, 3): (float(m.group(4)), float(m.group(5))) for m in map(pat.search, text.splitlines()) if m}
py, rs = rates(sys.argv[1]), rates(sys.argv[2])
for key in sorted(py, key=lambda k: (int(k[0]), int(k[1]))):
    if key in rs:
        (pp, pg), (rp, rg) = py[key], rs[key]
        print(f"  {key[0]:>2} in flight, ~{key[1]} B blocks: put {rp / pp:5.1f}x, get {rg / pg:5.1f}x")
PYEOF
echo "load: $(uptime)"
