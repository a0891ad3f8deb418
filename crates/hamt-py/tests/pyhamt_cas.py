"""py-hamt's side of the interop tests: its blocks in a dict (the project's
shared `scripts/pyhamt_blocks.py`), and moving them to and from a hamt_rs
backend."""

from __future__ import annotations

import sys
from pathlib import Path

from multiformats import CID

import hamt_rs

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))
from pyhamt_blocks import MemoryCAS, read_car, write_car  # noqa: E402

__all__ = ["MemoryCAS", "backend_to_cas", "cas_to_backend", "read_car", "write_car"]


def cas_to_backend(cas: MemoryCAS, backend: hamt_rs.MemoryBackend) -> None:
    for cid, data in cas.blocks.items():
        backend.put_block(str(cid), data)  # verified: the bytes must hash to the CID


def backend_to_cas(backend: hamt_rs.MemoryBackend, cas: MemoryCAS) -> None:
    for cid in backend.cids():
        cas.blocks[CID.decode(cid)] = backend.get_block(cid)
