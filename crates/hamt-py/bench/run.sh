#!/usr/bin/env bash
# hamt_rs against py-hamt 3.6.0 in one run (see compare_pyhamt.py):
#
#   bash crates/hamt-py/bench/run.sh [N=100000] [REPEATS=3]
#
# Builds a release wheel of the package (memory backend only: no RocksDB
# C++ to compile) into a scratch directory put first on PYTHONPATH, so the
# project venv's own (debug, test) install is left as it is.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
PY="$(bash "$ROOT/scripts/python-env.sh")"
OUT="${CARGO_TARGET_DIR:-$ROOT/target}/hamt-py-bench"
rm -rf "$OUT" && mkdir -p "$OUT/wheel" "$OUT/site"
(cd "$ROOT" && "$PY" -m maturin build --release --no-default-features \
  -m crates/hamt-py/Cargo.toml -i "$PY" -o "$OUT/wheel" >&2)
"$PY" -m pip install --quiet --disable-pip-version-check --no-deps \
  --target "$OUT/site" "$OUT"/wheel/*.whl
echo "load: $(uptime)"
PYTHONPATH="$OUT/site" "$PY" -W ignore "$ROOT/crates/hamt-py/bench/compare_pyhamt.py" "$@"
echo "load: $(uptime)"
