#!/usr/bin/env bash
# Creates (once) the project's Python venv with py-hamt 3.6.0 from PyPI, for
# interop tests and side-by-side benchmarks, plus what building and testing
# the Python package (crates/hamt-py) needs, and prints its python path.
# Needs Python >= 3.12: $HAMT_PYTHON, else python3.12 on PATH, else pyenv's.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${HAMT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/hamt-rs/py-venv}"
STAMP="$VENV/.installed-v1"
if [ ! -f "$STAMP" ]; then
  PY="${HAMT_PYTHON:-}"
  new_enough() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; }
  if [ -z "$PY" ]; then
    for cand in "$HOME"/.pyenv/versions/3.12*/bin/python3 python3.12 python3.13 python3; do
      if new_enough "$cand"; then PY="$cand"; break; fi
    done
  fi
  if [ -z "$PY" ] || ! new_enough "$PY"; then
    echo "python-env.sh: Python >= 3.12 not found (set HAMT_PYTHON); py-hamt 3.6.0 needs it" >&2
    exit 1
  fi
  "$PY" -m venv "$VENV" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "py-hamt==3.6.0" "zarr>=3.0.9" "xarray" "numpy" "numcodecs" >&2
  touch "$STAMP"
fi
# The Python package's build and test tools (added later: their own stamp, so
# an existing venv gains them). `python -m pip`: it works in a moved venv too.
PKG_STAMP="$VENV/.installed-hamt-py-v1"
if [ ! -f "$PKG_STAMP" ]; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "maturin>=1.9,<2" "pytest>=8" "pytest-asyncio>=1" "pytest-timeout>=2" >&2
  touch "$PKG_STAMP"
fi
echo "$VENV/bin/python"
