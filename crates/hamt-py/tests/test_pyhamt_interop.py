"""Interop with py-hamt 3.6.0 (from PyPI, in the same venv): the same root
CID for the same data, and datasets written by either side read on the other,
plain and encrypted, in memory and through an IPFS daemon."""

from __future__ import annotations

import asyncio

import py_hamt
import pytest
import xarray as xr
from multiformats import CID

import hamt_rs
from hamt_rs import HAMT, ZarrHamtStore

from conftest import make_kubo_backend
from datasets import ENCODING, assert_exactly_equal, climate
from pyhamt_cas import MemoryCAS, backend_to_cas, cas_to_backend, kubo_cas

KEY = bytes(range(7, 39))
HEADER = b"interop-header"


def py_hamt_store(hamt, read_only: bool, encrypted: bool):
    if encrypted:
        return py_hamt.SimpleEncryptedZarrHAMTStore(hamt, read_only, KEY, HEADER)
    return py_hamt.ZarrHAMTStore(hamt, read_only=read_only)


def encryption(encrypted: bool) -> dict:
    return {"encryption_key": KEY, "header": HEADER} if encrypted else {}


async def write_with_py_hamt(cas, ds: xr.Dataset, encrypted: bool) -> str:
    hamt = await py_hamt.HAMT.build(cas=cas, values_are_bytes=True)
    ds.to_zarr(py_hamt_store(hamt, False, encrypted), mode="w", zarr_format=3,
               consolidated=False, encoding=ENCODING)
    await hamt.make_read_only()
    return str(hamt.root_node_id)


async def read_with_py_hamt(cas, root: str, encrypted: bool) -> xr.Dataset:
    hamt = await py_hamt.HAMT.build(cas=cas, root_node_id=CID.decode(root), read_only=True,
                                    values_are_bytes=True)
    return xr.open_zarr(py_hamt_store(hamt, True, encrypted), consolidated=False).load()


async def write_here(backend, ds: xr.Dataset, encrypted: bool) -> str:
    hamt = HAMT(backend)
    ds.to_zarr(ZarrHamtStore(hamt, **encryption(encrypted)), mode="w", zarr_format=3,
               consolidated=False, encoding=ENCODING)
    return await hamt.flush()


async def read_here(backend, root: str, encrypted: bool) -> xr.Dataset:
    store = await ZarrHamtStore.from_root(backend, root, **encryption(encrypted))
    return xr.open_zarr(store, consolidated=False).load()


async def test_map_same_root_as_py_hamt() -> None:
    items = [(f"temp/c/{i}/{i % 7}/0", bytes([i % 251]) * (i % 300)) for i in range(3000)]
    cas = MemoryCAS()
    theirs = await py_hamt.HAMT.build(cas=cas, values_are_bytes=True)
    for key, value in items:
        await theirs.set(key, value)
    for key, _ in items[::10]:
        await theirs.delete(key)
    await theirs.make_read_only()

    backend = hamt_rs.MemoryBackend()
    ours = HAMT(backend)
    await ours.set_many(items)
    for key, _ in items[::10]:
        await ours.delete(key)
    assert await ours.flush() == str(theirs.root_node_id)
    assert {str(c) for c in cas.blocks} == set(backend.cids())


async def test_same_root_cid_for_the_same_dataset() -> None:
    ds = climate()
    theirs = await write_with_py_hamt(MemoryCAS(), ds, encrypted=False)
    ours = await write_here(hamt_rs.MemoryBackend(), ds, encrypted=False)
    assert ours == theirs


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_py_hamt_writes_we_read(encrypted: bool) -> None:
    ds = climate()
    cas = MemoryCAS()
    root = await write_with_py_hamt(cas, ds, encrypted)
    backend = hamt_rs.MemoryBackend()
    cas_to_backend(cas, backend)
    assert_exactly_equal(ds, await read_here(backend, root, encrypted))


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_we_write_py_hamt_reads(encrypted: bool) -> None:
    ds = climate()
    backend = hamt_rs.MemoryBackend()
    root = await write_here(backend, ds, encrypted)
    cas = MemoryCAS()
    backend_to_cas(backend, cas)
    assert_exactly_equal(ds, await read_with_py_hamt(cas, root, encrypted))


async def test_encrypted_values_are_py_hamts_format() -> None:
    """Encrypted roots differ between any two writes (a fresh random nonce per
    value, on both sides), so the encrypted check is stronger than a root:
    each side decrypts exactly the other's stored bytes, and re-storing
    py-hamt's encrypted bytes verbatim here gives py-hamt's root CID."""
    ds = climate()
    cas = MemoryCAS()
    root = await write_with_py_hamt(cas, ds, encrypted=True)
    backend = hamt_rs.MemoryBackend()
    cas_to_backend(cas, backend)
    raw = await HAMT.open(backend, root)
    copy = HAMT(hamt_rs.MemoryBackend())
    keys = [k async for k in raw.keys()]
    await copy.set_many(zip(keys, await raw.get_many(keys), strict=True))
    assert await copy.flush() == root


# ---------------------------------------------------------------- through Kubo


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_through_kubo_both_ways(encrypted: bool) -> None:
    ds = climate(n_time=12)
    backend = make_kubo_backend(retries=1, retry_delay=0.05, timeout=30)
    async with kubo_cas() as cas:
        theirs = await write_with_py_hamt(cas, ds, encrypted)
        assert_exactly_equal(ds, await read_here(backend, theirs, encrypted))
        ours = await write_here(backend, ds, encrypted)
        if not encrypted:
            assert ours == theirs
        assert_exactly_equal(ds, await read_with_py_hamt(cas, ours, encrypted))
