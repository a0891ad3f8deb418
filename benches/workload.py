"""The data of the workloads, as the Rust side makes them (`benches/data`,
crate `hamt-bench-data`, and `benches/src/w3.rs`): the one Python copy,
imported by `benches/compare_pyhamt.py`, `benches/compare_zarr.py` and
`crates/hamt-py/bench/compare_pyhamt.py`."""

import struct

#: W3: rows and columns of one chunk.
W3_CHUNK = 10


def chunk_key(i: int) -> str:
    """Key `i` as zarr v3 names a chunk of a 3-D array."""
    return f"temp/c/{i // 10_000}/{(i // 100) % 100}/{i % 100}"


def chunk_value(i: int) -> bytes:
    """Value `i`: its 4 little-endian bytes, 16 times (64 bytes)."""
    return struct.pack("<I", i) * 16


def w3_cells(side: int):
    """W3's array, row-major: cell `i` holds `i * 0.5` (float32)."""
    import numpy as np

    return (np.arange(side * side, dtype=np.float32) * np.float32(0.5)).reshape(side, side)
