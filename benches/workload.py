"""The keys and values of the W1/W2 workloads, as the Rust side makes them
(`benches/data`, crate `hamt-bench-data`): the one Python copy, imported by
`benches/compare_pyhamt.py` and `crates/hamt-py/bench/compare_pyhamt.py`."""

import struct


def chunk_key(i: int) -> str:
    """Key `i` as zarr v3 names a chunk of a 3-D array."""
    return f"temp/c/{i // 10_000}/{(i // 100) % 100}/{i % 100}"


def chunk_value(i: int) -> bytes:
    """Value `i`: its 4 little-endian bytes, 16 times (64 bytes)."""
    return struct.pack("<I", i) * 16
