"""py-hamt's side of the interop tests: its blocks in a dict (the project's
shared `scripts/pyhamt_blocks.py`), and moving them to and from a hamt_rs
backend."""

from __future__ import annotations

import sys
from pathlib import Path

import py_hamt
import pytest
from multiformats import CID

import hamt_rs
from conftest import kubo_urls

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))
from pyhamt_blocks import MemoryCAS, read_car, write_car  # noqa: E402

__all__ = [
    "MemoryCAS", "backend_to_cas", "cas_to_backend", "kubo_cas", "read_car", "write_car",
]


def cas_to_backend(cas: MemoryCAS, backend: hamt_rs.MemoryBackend) -> None:
    for cid, data in cas.blocks.items():
        backend.put_block(str(cid), data)  # verified: the bytes must hash to the CID


def backend_to_cas(backend: hamt_rs.MemoryBackend, cas: MemoryCAS) -> None:
    for cid in backend.cids():
        cas.blocks[CID.decode(cid)] = backend.get_block(cid)


def kubo_cas() -> py_hamt.KuboCAS:
    """py-hamt's ``KuboCAS`` on the test daemon (the test is skipped without one)."""
    urls = kubo_urls()
    if urls is None:
        pytest.skip("no IPFS daemon: set IPFS_API_URL (cargo xtask test starts one)")
    api, gateway = urls
    # Ask for the block itself, as a trustless gateway serves it: Kubo's
    # gateway answers a plain GET of a dag-cbor CID with the block too, the
    # test node (js-ipfs) only with this header.
    return py_hamt.KuboCAS(rpc_base_url=api, gateway_base_url=gateway or api,
                           headers={"Accept": "application/vnd.ipld.raw"})
