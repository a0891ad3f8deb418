"""The sharded layout's golden vectors (crates/hamt-sharded/tests/vectors,
replayed byte for byte by that crate's Rust tests) are what py-hamt 3.6.0
writes today: the generator, run again against the installed py-hamt (and
the IPFS node, for the vector through a real KuboCAS), gives the committed
files back exactly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import kubo_urls

VECTORS = Path(__file__).resolve().parents[2] / "hamt-sharded" / "tests" / "vectors"


def test_the_generator_reproduces_the_committed_vectors(tmp_path) -> None:
    urls = kubo_urls()
    if urls is None or urls[1] is None:
        pytest.skip("no IPFS daemon with a gateway (large_value goes through KuboCAS)")
    api, gateway = urls
    out = subprocess.run(
        [sys.executable, "-W", "ignore", str(VECTORS / "generate.py"), str(tmp_path), api, gateway],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr
    committed = sorted(p.name for p in VECTORS.glob("*.json"))
    assert sorted(p.name for p in tmp_path.glob("*.json")) == committed
    for name in committed:
        fresh = json.loads((tmp_path / name).read_text())
        assert fresh == json.loads((VECTORS / name).read_text()), f"{name} differs from py-hamt's output"
